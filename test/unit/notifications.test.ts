import { expect } from 'chai';
import { createHmac } from 'node:crypto';
import type { NotificationRecord, NotificationSpec } from '../../src/api/notification-types.js';
import type { CanaryStatus, Condition } from '../../src/api/types.js';
import { validateCanary } from '../../src/api/validate.js';
import { deriveCanaryTransitions } from '../../src/canary/transitions.js';
import { parseDefaultSinks } from '../../src/notify/defaults.js';
import { appendToLedger, applyResults, backoffMs, deliveryKey, dueDeliveries, eventId, nextDueAt, recordAttempt, sinksOf, threadOf, withTransitions, type TransitionFact } from '../../src/notify/ledger.js';
import { buildPayload, headline, PAYLOAD_SCHEMA_VERSION, signature } from '../../src/notify/payload.js';
import { datadogEvent } from '../../src/notify/sinks/datadog-events.js';
import { redact } from '../../src/notify/sinks/http.js';

const T0 = Date.parse('2026-12-05T10:00:00.000Z');
const iso = (s: number): string => new Date(T0 + s * 1000).toISOString();
const cond = (type: string, status: Condition['status'], reason: string, message = ''): Condition => ({ type, status, reason, message, lastTransitionTime: iso(0) });

const STABLE = 'aaaaaaaaaa';
const NEXT = 'bbbbbbbbbb';
const waiting: CanaryStatus = { phase: 'Waiting', stableRevision: STABLE, stableVersion: '1.0', conditions: [cond('Ready', 'True', 'Idle'), cond('Progressing', 'False', 'Idle')] };
const progressing: CanaryStatus = {
  ...waiting,
  phase: 'Progressing',
  canaryRevision: NEXT,
  canaryVersion: '1.1',
  startedAt: iso(10),
  conditions: [cond('Ready', 'True', 'Idle'), cond('Progressing', 'True', 'Analysing')],
};
const promoting: CanaryStatus = { ...progressing, phase: 'Promoting', conditions: [cond('Ready', 'True', 'Idle'), cond('Progressing', 'True', 'Promoting')] };
const promoted: CanaryStatus = {
  ...progressing,
  phase: 'Succeeded',
  message: 'promoted revision bbbbbbbbbb',
  stableRevision: NEXT,
  stableVersion: '1.1',
  finishedAt: iso(100),
  conditions: [cond('Ready', 'True', 'Promoted'), cond('Progressing', 'False', 'Promoted')],
};
const rolledBack: CanaryStatus = {
  ...progressing,
  phase: 'RolledBack',
  message: 'rolled back revision bbbbbbbbbb (version 1.1): check errors failed',
  failedRevision: NEXT,
  finishedAt: iso(50),
  conditions: [cond('Ready', 'False', 'RolledBack'), cond('Progressing', 'False', 'RolledBack')],
};
const failed: CanaryStatus = { ...waiting, phase: 'Failed', message: 'Secret "dd" not found', conditions: [cond('Ready', 'False', 'SecretNotFound')] };
const held: CanaryStatus = { ...progressing, phase: 'Paused', conditions: [cond('Ready', 'True', 'Idle'), cond('Progressing', 'True', 'WaitingForPromote', 'verified; waiting for promote')] };

describe('deriveCanaryTransitions: transitions from status, old → new', () => {
  const cases: Array<[string, CanaryStatus | undefined, CanaryStatus, string[]]> = [
    ['nothing changed', waiting, waiting, []],
    ['a canary starts', waiting, progressing, ['Started']],
    ['still progressing', progressing, progressing, []],
    ['promoting is not yet promoted', progressing, promoting, []],
    ['the promotion completes', promoting, promoted, ['Promoted']],
    ['a pass after the promotion', promoted, promoted, []],
    ['rolled back', progressing, rolledBack, ['RolledBack']],
    ['still rolled back', rolledBack, rolledBack, []],
    ['fails', waiting, failed, ['Failed']],
    ['fails for another reason', failed, { ...failed, conditions: [cond('Ready', 'False', 'InvalidSpec')] }, ['Failed']],
    ['a revert accepted within the rollback window starts no canary', promoted, { ...promoted, phase: 'Promoting', canaryRevision: STABLE, canaryVersion: '1.0', startedAt: iso(200), conditions: [cond('Ready', 'False', 'RevertAccepted'), cond('Progressing', 'True', 'Promoting')] }, []],
    ['its promotion is announced, with its reason', { ...promoted, phase: 'Promoting', canaryRevision: STABLE, canaryVersion: '1.0', startedAt: iso(200), conditions: [cond('Ready', 'False', 'RevertAccepted'), cond('Progressing', 'True', 'Promoting')] }, { ...promoted, canaryRevision: STABLE, canaryVersion: '1.0', stableRevision: STABLE, startedAt: iso(200), conditions: [cond('Ready', 'True', 'RevertAccepted'), cond('Progressing', 'False', 'RevertAccepted')] }, ['Promoted']],
    ['still failed, new message, same reason', failed, { ...failed, message: 'other words' }, []],
    ['verified, waiting for promote', progressing, held, ['HeldForReview']],
    ['still held', held, held, []],
    ['a first status that starts a canary', undefined, progressing, ['Started']],
    ['a new run of the same revision after a retry', rolledBack, { ...progressing, startedAt: iso(200), failedRevision: undefined }, ['Started']],
  ];
  for (const [name, before, after, want] of cases) {
    it(name, () => {
      expect(deriveCanaryTransitions(before, after, 3).map((f) => f.transition)).to.deep.equal(want);
    });
  }

  it('a promotion names the version before it, even when status already calls the new one stable', () => {
    const [f] = deriveCanaryTransitions(promoting, promoted, 3);
    expect(f).to.include({ transition: 'Promoted', version: '1.1', revision: NEXT, previousRevision: STABLE, previousVersion: '1.0', from: 'Promoting', to: 'Succeeded', reason: 'Promoted' });
    expect(f?.run).to.match(new RegExp(`^${NEXT}@`));
  });

  it('each failure of a generation has its own id: another reason, or the same reason again after a recovery', () => {
    const recovered: CanaryStatus = { ...waiting, conditions: [cond('Ready', 'True', 'Idle')] };
    const again: CanaryStatus = { ...failed, conditions: [{ ...cond('Ready', 'False', 'SecretNotFound'), lastTransitionTime: iso(300) }] };
    const keys = [
      deriveCanaryTransitions(waiting, failed, 3)[0]?.key,
      deriveCanaryTransitions(failed, { ...failed, conditions: [cond('Ready', 'False', 'InvalidSpec')] }, 3)[0]?.key,
      deriveCanaryTransitions(recovered, again, 3)[0]?.key,
    ];
    expect(keys.every((k) => typeof k === 'string')).to.equal(true);
    expect(new Set(keys).size, JSON.stringify(keys)).to.equal(3);
  });

  it('a rollback carries the reason of its Progressing condition and the status message', () => {
    const [f] = deriveCanaryTransitions(progressing, rolledBack, 3);
    expect(f).to.include({ transition: 'RolledBack', reason: 'RolledBack', key: NEXT, message: rolledBack.message });
  });
});

const sink = (name: string, transitions?: NotificationSpec['transitions']): NotificationSpec => ({ name, ...(transitions ? { transitions } : {}), webhook: { urlSecretRef: { name: 'hook' } } });
const fact = (transition: TransitionFact['transition'], key = NEXT, run = `${NEXT}@abc`): TransitionFact => ({ transition, key, run, reason: 'R', message: 'm' });

describe('the delivery ledger', () => {
  it('adds one entry per transition some sink wants, with a pending delivery per such sink (default: Promoted, RolledBack, Failed)', () => {
    const sinks = sinksOf([sink('ops'), sink('all', ['Started', 'Promoted'])], [sink('team')]);
    const ledger = appendToLedger({ ledger: undefined, facts: [fact('Started'), fact('Promoted'), fact('HeldForReview')], sinks, uid: 'u1', now: iso(0) });
    expect(ledger?.map((e) => [e.transition, e.sinks.map((s) => s.sink)])).to.deep.equal([
      ['Started', ['all']],
      ['Promoted', ['ops', 'all', 'default/team']],
    ]);
    expect(ledger?.[1]).to.include({ id: `u1:${NEXT}:abc:Promoted`, at: iso(0) });
    expect(ledger?.[1]?.sinks[0]).to.deep.equal({ sink: 'ops', attempts: 0 });
  });

  it('never adds an id twice, and returns the same ledger when nothing is added', () => {
    const sinks = sinksOf([sink('ops')], []);
    const once = appendToLedger({ ledger: undefined, facts: [fact('Promoted')], sinks, uid: 'u1', now: iso(0) });
    const twice = appendToLedger({ ledger: once, facts: [fact('Promoted')], sinks, uid: 'u1', now: iso(5) });
    expect(twice).to.equal(once);
    expect(twice).to.have.length(1);
  });

  it('the same transition of another run is a new entry', () => {
    expect(eventId('u1', fact('RolledBack', NEXT, `${NEXT}@a`))).to.not.equal(eventId('u1', fact('RolledBack', NEXT, `${NEXT}@b`)));
  });

  it('is bounded: the oldest delivered entries go first, pending ones only when nothing else can', () => {
    const sinks = sinksOf([sink('ops', ['Promoted'])], []);
    let ledger: NotificationRecord[] | undefined;
    for (let i = 0; i < 4; i++) ledger = appendToLedger({ ledger, facts: [fact('Promoted', `r${i}`)], sinks, uid: 'u1', now: iso(i), limit: 3 });
    expect(ledger?.map((e) => e.id.split(':')[1])).to.deep.equal(['r1', 'r2', 'r3']);
    // r1 delivered: it goes before r2 (pending) when r4 arrives.
    ledger = ledger!.map((e) => (e.id.includes(':r1:') ? { ...e, sinks: e.sinks.map((d) => ({ ...d, sentAt: iso(9) })) } : e));
    ledger = appendToLedger({ ledger, facts: [fact('Promoted', 'r4')], sinks, uid: 'u1', now: iso(10), limit: 3 });
    expect(ledger?.map((e) => e.id.split(':')[1])).to.deep.equal(['r2', 'r3', 'r4']);
  });

  it('what is due: pending deliveries whose backoff is over; sent and given-up ones never', () => {
    const ledger: NotificationRecord[] = [
      { id: 'a', transition: 'Promoted', at: iso(0), reason: 'R', message: 'm', sinks: [{ sink: 'x', attempts: 0 }, { sink: 'y', attempts: 1, sentAt: iso(1) }] },
      { id: 'b', transition: 'Failed', at: iso(0), reason: 'R', message: 'm', sinks: [{ sink: 'x', attempts: 2, nextAttemptAt: iso(30) }, { sink: 'y', attempts: 10, gaveUpAt: iso(2) }] },
    ];
    expect(dueDeliveries(ledger, T0 + 10_000)).to.deep.equal([{ id: 'a', sink: 'x' }]);
    expect(dueDeliveries(ledger, T0 + 30_000)).to.deep.equal([{ id: 'a', sink: 'x' }, { id: 'b', sink: 'x' }]);
    expect(nextDueAt(ledger)).to.equal(0);
    expect(nextDueAt([ledger[1]!])).to.equal(T0 + 30_000);
  });

  it('records attempts: sent, failed with backoff, given up after the last attempt', () => {
    const policy = { baseMs: 1000, maxMs: 8000, maxAttempts: 3 };
    const sent = recordAttempt({ sink: 'x', attempts: 1, lastError: 'HTTP 500', nextAttemptAt: iso(1) }, { ok: true, threadTs: '1.2' }, T0, policy);
    expect(sent).to.deep.equal({ sink: 'x', attempts: 2, lastError: 'HTTP 500', sentAt: iso(0), threadTs: '1.2' });
    const first = recordAttempt({ sink: 'x', attempts: 0 }, { ok: false, error: 'HTTP 503' }, T0, policy);
    expect(first).to.deep.equal({ sink: 'x', attempts: 1, lastError: 'HTTP 503', nextAttemptAt: iso(1) });
    const second = recordAttempt(first, { ok: false, error: 'timed out' }, T0, policy);
    expect(second.nextAttemptAt).to.equal(iso(2));
    const last = recordAttempt(second, { ok: false, error: 'timed out' }, T0, policy);
    expect(last).to.deep.equal({ sink: 'x', attempts: 3, lastError: 'timed out', gaveUpAt: iso(0) });
  });

  it('backoff doubles up to its cap; a longer Retry-After wins', () => {
    const policy = { baseMs: 1000, maxMs: 8000, maxAttempts: 10 };
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffMs(n, policy))).to.deep.equal([1000, 2000, 4000, 8000, 8000, 8000]);
    expect(backoffMs(1, policy, 5000)).to.equal(5000);
    expect(backoffMs(1, policy, 60_000)).to.equal(8000);
  });

  it('applies results by id and sink, and never undoes a delivery completed meanwhile', () => {
    const ledger: NotificationRecord[] = [{ id: 'a', transition: 'Promoted', at: iso(0), reason: 'R', message: 'm', sinks: [{ sink: 'x', attempts: 1, sentAt: iso(1) }, { sink: 'y', attempts: 0 }] }];
    const results = new Map([
      [deliveryKey('a', 'x'), { sink: 'x', attempts: 2, lastError: 'late failure', nextAttemptAt: iso(9) }],
      [deliveryKey('a', 'y'), { sink: 'y', attempts: 1, sentAt: iso(2) }],
      [deliveryKey('gone', 'y'), { sink: 'y', attempts: 1, sentAt: iso(2) }],
    ]);
    expect(applyResults(ledger, results)[0]?.sinks).to.deep.equal([{ sink: 'x', attempts: 1, sentAt: iso(1) }, { sink: 'y', attempts: 1, sentAt: iso(2) }]);
  });

  it('finds the Slack thread of a run, per sink', () => {
    const ledger: NotificationRecord[] = [
      { id: 'a', transition: 'Started', at: iso(0), reason: 'R', message: 'm', run: 'r@1', sinks: [{ sink: 'slack', attempts: 1, sentAt: iso(0), threadTs: '111.1' }] },
      { id: 'b', transition: 'Promoted', at: iso(1), reason: 'R', message: 'm', run: 'r@1', sinks: [{ sink: 'slack', attempts: 0 }] },
    ];
    expect(threadOf(ledger, 'r@1', 'slack')).to.equal('111.1');
    expect(threadOf(ledger, 'r@2', 'slack')).to.equal(undefined);
    expect(threadOf(ledger, 'r@1', 'other')).to.equal(undefined);
  });
});

describe('withTransitions: the ledger written with the status of a pass', () => {
  const obj = (notifications?: NotificationSpec[]) => ({ metadata: { uid: 'u1', namespace: 'shop', name: 'checkout' }, spec: { ...(notifications ? { notifications } : {}) } });
  it('leaves the status as it is without sinks, or without transitions', () => {
    const st: CanaryStatus = { ...promoted };
    expect(withTransitions(obj(), st, deriveCanaryTransitions(promoting, promoted, 1), [], T0)).to.equal(st);
    expect(withTransitions(obj([sink('ops')]), st, [], [], T0)).to.equal(st);
  });
  it('records the promotion a pass derived, for the Canary\'s sinks and the operator-wide ones', () => {
    const out = withTransitions(obj([sink('ops')]), { ...promoted }, deriveCanaryTransitions(promoting, promoted, 1), [sink('team')], T0 + 5_000);
    expect(out.notifications?.map((e) => [e.transition, e.at, e.sinks.map((d) => d.sink)])).to.deep.equal([['Promoted', iso(5), ['ops', 'default/team']]]);
    // The next pass, same status: nothing new.
    expect(withTransitions(obj([sink('ops')]), out, deriveCanaryTransitions(out, out, 1), [], T0 + 6_000)).to.equal(out);
  });
});

describe('the payload', () => {
  const entry: NotificationRecord = {
    id: 'u1:bbbbbbbbbb:abc:Promoted',
    transition: 'Promoted',
    at: iso(100),
    from: 'Promoting',
    to: 'Succeeded',
    reason: 'Promoted',
    message: 'promoted',
    version: '1.1',
    revision: NEXT,
    previousVersion: '1.0',
    previousRevision: STABLE,
    run: `${NEXT}@abc`,
    sinks: [],
  };
  it('is versioned and carries the event id, the object, the transition, versions, revisions, time and links', () => {
    const p = buildPayload({ kind: 'Canary', namespace: 'shop', name: 'checkout', uid: 'u1', target: 'checkout', links: [{ title: 'check errors', url: 'https://app.datadoghq.com/monitors/1' }] }, entry);
    expect(p).to.deep.equal({
      schemaVersion: PAYLOAD_SCHEMA_VERSION,
      eventId: 'u1:bbbbbbbbbb:abc:Promoted',
      object: { kind: 'Canary', namespace: 'shop', name: 'checkout', uid: 'u1' },
      target: { kind: 'Deployment', name: 'checkout' },
      transition: { name: 'Promoted', from: 'Promoting', to: 'Succeeded', reason: 'Promoted', message: 'promoted' },
      version: '1.1',
      previousVersion: '1.0',
      revisions: { from: STABLE, to: NEXT },
      time: iso(100),
      links: [{ title: 'check errors', url: 'https://app.datadoghq.com/monitors/1' }],
    });
    expect(headline(p)).to.equal('Canary shop/checkout: version 1.1 promoted');
  });

  it('is signed with HMAC-SHA256 over the raw body', () => {
    const body = '{"a":1}';
    expect(signature('k3y', body)).to.equal(`sha256=${createHmac('sha256', 'k3y').update(body).digest('hex')}`);
    expect(signature('k3y', body)).to.equal('sha256=' + createHmac('sha256', Buffer.from('k3y')).update(Buffer.from(body)).digest('hex'));
  });

  it('a Datadog event: promotion info, rollback error, unified service tags, aggregation_key = event id', () => {
    const p = buildPayload({ kind: 'Canary', namespace: 'shop', name: 'checkout', uid: 'u1' }, entry);
    const promo = datadogEvent({ payload: p, serviceTags: { service: 'checkout', env: 'prod', version: '1.0' } }, ['team:pay']);
    expect(promo).to.include({ alert_type: 'info', aggregation_key: entry.id, source_type_name: 'deployer' });
    expect(promo.tags).to.include.members(['service:checkout', 'env:prod', 'version:1.1', 'source:deployer', 'team:pay']);
    const rb = datadogEvent({ payload: buildPayload({ kind: 'Canary', namespace: 'shop', name: 'checkout', uid: 'u1' }, { ...entry, transition: 'RolledBack' }), serviceTags: {} }, []);
    expect(rb).to.include({ alert_type: 'error' });
  });
});

describe('secrets in error text', () => {
  it('redacts secret values and any URL', () => {
    const text = redact('POST https://hooks.slack.com/services/T0/B0/XyZ failed: token xoxb-123-secret rejected', ['xoxb-123-secret']);
    expect(text).to.equal('POST <url redacted> failed: token <redacted> rejected');
  });
});

describe('operator-wide sinks (--notifications-config)', () => {
  it('parses a YAML list of entries', () => {
    const r = parseDefaultSinks('- name: ops\n  webhook: { urlSecretRef: { name: hook } }\n- name: chat\n  transitions: [Failed]\n  slack: { webhookSecretRef: { name: slack } }\n');
    expect(r.ok && r.sinks.map((s) => s.name)).to.deep.equal(['ops', 'chat']);
  });
  for (const [text, want] of [
    ['name: x', 'must be a YAML list'],
    ['- name: x', 'exactly one of slack, webhook or datadogEvents'],
    ['- name: x\n  transitions: [Shipped]\n  webhook: { urlSecretRef: { name: h } }', 'unknown transitions Shipped'],
    ['- name: x\n  webhook: { urlSecretRef: { name: h } }\n- name: x\n  webhook: { urlSecretRef: { name: h } }', 'duplicate name x'],
  ] as const) {
    it(`refuses: ${want}`, () => {
      const r = parseDefaultSinks(text);
      expect(r.ok).to.equal(false);
      if (!r.ok) expect(r.message).to.contain(want);
    });
  }
});

describe('spec.notifications validation (schema and CEL, as the apiserver)', () => {
  const base = (notifications: unknown[], datadog = false): unknown => ({
    apiVersion: 'deployer.dev/v1alpha1',
    kind: 'Canary',
    metadata: { name: 'c', namespace: 'n' },
    spec: { targetRef: { name: 'c' }, steps: [{ setWeight: 10 }], notifications, ...(datadog ? { datadog: { secretRef: { name: 'dd' } } } : {}) },
  });
  it('accepts one sink of each kind', () => {
    expect(
      validateCanary(
        base(
          [
            { name: 'chat', slack: { tokenSecretRef: { name: 's' }, channel: 'C1' } },
            { name: 'hook', transitions: ['Started', 'Promoted'], webhook: { urlSecretRef: { name: 'h' }, signingSecretRef: { name: 'h', key: 'k' } } },
            { name: 'dd', datadogEvents: { tags: ['team:x'] } },
          ],
          true,
        ),
      ),
    ).to.deep.equal([]);
  });
  const bad: Array<[string, unknown[], string]> = [
    ['two kinds in one entry', [{ name: 'x', slack: { webhookSecretRef: { name: 's' } }, webhook: { urlSecretRef: { name: 'h' } } }], 'exactly one of slack, webhook or datadogEvents'],
    ['no kind', [{ name: 'x' }], 'exactly one of slack, webhook or datadogEvents'],
    ['slack with both', [{ name: 'x', slack: { webhookSecretRef: { name: 's' }, tokenSecretRef: { name: 't' }, channel: 'c' } }], 'exactly one of webhookSecretRef or tokenSecretRef'],
    ['a token without a channel', [{ name: 'x', slack: { tokenSecretRef: { name: 't' } } }], 'slack.channel goes with tokenSecretRef'],
    ['an unknown transition', [{ name: 'x', transitions: ['Shipped'], webhook: { urlSecretRef: { name: 'h' } } }], 'must be one of Started, Promoted, RolledBack, Failed, HeldForReview'],
    ['datadogEvents without any Secret', [{ name: 'x', datadogEvents: {} }], 'needs datadogEvents.secretRef or spec.datadog.secretRef'],
    ['a name with capitals', [{ name: 'Ops', webhook: { urlSecretRef: { name: 'h' } } }], 'lowercase letters'],
    ['a duplicate name', [{ name: 'x', webhook: { urlSecretRef: { name: 'h' } } }, { name: 'x', webhook: { urlSecretRef: { name: 'h' } } }], 'duplicate notification name'],
  ];
  for (const [name, list, want] of bad) {
    it(`refuses ${name}`, () => {
      const problems = validateCanary(base(list));
      expect(problems.map((p) => p.message).join('\n')).to.contain(want);
    });
  }
});
