import { expect } from 'chai';
import type { NotificationSpec } from '../../src/api/notification-types.js';
import type { Release, ReleaseRecord, ReleaseStatus, TargetStatus } from '../../src/api/release-types.js';
import { withTransitions } from '../../src/notify/ledger.js';
import { buildPayload, headline, PAYLOAD_SCHEMA_VERSION } from '../../src/notify/payload.js';
import { deriveReleaseTransitions } from '../../src/release/transitions.js';

const T0 = Date.parse('2026-12-05T10:00:00.000Z');
const iso = (s: number): string => new Date(T0 + s * 1000).toISOString();
const hook: NotificationSpec = { name: 'ops', webhook: { urlSecretRef: { name: 'hook' } } };
const everything: NotificationSpec = { ...hook, name: 'all', transitions: ['Started', 'Promoted', 'RolledBack', 'Failed', 'HeldForReview'] };

const SOURCE = { repository: 'https://git.example.com/shop.git', revision: '9f1c2ab', committedAt: iso(-600), author: 'ana' };
function release(generation: number, status: ReleaseStatus | undefined, version = '1.1.0'): Release {
  return {
    apiVersion: 'deployer.dev/v1alpha1',
    kind: 'Release',
    metadata: { name: 'shop', namespace: 'demo', uid: 'u1', generation },
    spec: { version, source: SOURCE, targets: [{ deployment: 'checkout', images: { app: `example.com/checkout:${version}` } }, { deployment: 'worker' }], notifications: [hook] },
    ...(status ? { status } : {}),
  };
}

const target = (deployment: string, phase: TargetStatus['phase'], group: number): TargetStatus => ({ deployment, group, phase, revisionBefore: `${deployment}-r1`, versionBefore: '1.0.0', revision: `${deployment}-r2`, version: '1.1.0' });
const rec = (generation: number, outcome: ReleaseRecord['outcome'], startedAt: string, extra: Partial<ReleaseRecord> = {}): ReleaseRecord => ({
  generation,
  version: generation === 1 ? '1.0.0' : '1.1.0',
  startedAt,
  finishedAt: iso(200),
  outcome,
  targets: [
    { deployment: 'checkout', revisionBefore: 'checkout-r1', revision: 'checkout-r2' },
    { deployment: 'worker', revisionBefore: 'worker-r1', revision: 'worker-r2' },
  ],
  ...extra,
});

const g1Done = rec(1, 'Succeeded', iso(0), { source: { revision: '0aa0aa0' } });
const released1: ReleaseStatus = { phase: 'Succeeded', releaseGeneration: 1, version: '1.0.0', startedAt: iso(0), finishedAt: iso(50), history: [g1Done] };
const progressing: ReleaseStatus = {
  phase: 'Progressing',
  releaseGeneration: 2,
  version: '1.1.0',
  startedAt: iso(100),
  message: 'group 1/2: checkout in canary',
  targets: [target('checkout', 'Canary', 0), target('worker', 'Pending', 1)],
  history: [g1Done],
};
const verifying: ReleaseStatus = { ...progressing, phase: 'Verifying', targets: [target('checkout', 'Promoted', 0), target('worker', 'Promoted', 1)] };
const succeeded: ReleaseStatus = { ...verifying, phase: 'Succeeded', message: 'every target runs 1.1.0', finishedAt: iso(200), promotedAt: iso(180), history: [rec(2, 'Succeeded', iso(100), { source: SOURCE, promotedAt: iso(180) }), g1Done] };
const why = 'rolled back revision w2 (version 1.1.0): check errors failed 1 time(s) (limit 0): Fail Alert';
const rollingBack: ReleaseStatus = { ...progressing, phase: 'RollingBack', failedTarget: 'worker', failureReason: why, rollbackReason: 'RolledBack', targets: [target('checkout', 'Reverting', 0), target('worker', 'Failed', 1)] };
const rolledBack: ReleaseStatus = {
  ...rollingBack,
  phase: 'RolledBack',
  message: `rolled back: worker failed: ${why}`,
  failedGeneration: 2,
  targets: [target('checkout', 'Reverted', 0), target('worker', 'Reverted', 1)],
  history: [rec(2, 'RolledBack', iso(100), { source: SOURCE, failedTarget: 'worker', reason: 'RolledBack', message: why }), g1Done],
};
const halted: ReleaseStatus = { ...rolledBack, phase: 'Halted', message: `halted in place after worker failed: ${why}`, history: [rec(2, 'Halted', iso(100), { failedTarget: 'worker', reason: 'RolledBack', message: why }), g1Done] };
const invalid: ReleaseStatus = { ...released1, phase: 'Failed', releaseGeneration: 2, version: '1.1.0', startedAt: iso(100), message: 'Deployment worker not found', failureReason: 'Deployment worker not found', history: [rec(2, 'Failed', iso(100), { reason: 'InvalidSpec', message: 'Deployment worker not found' }), g1Done] };

describe('deriveReleaseTransitions: transitions from status, old → new', () => {
  const cases: Array<[string, number, ReleaseStatus | undefined, ReleaseStatus, string[]]> = [
    ['a first release starts', 1, undefined, { ...progressing, releaseGeneration: 1, history: [] }, ['Started']],
    ['a new generation starts', 2, released1, progressing, ['Started']],
    ['nothing changed', 2, progressing, progressing, []],
    ['every target promoted, post-release checks running', 2, progressing, verifying, []],
    ['the release succeeded', 2, verifying, succeeded, ['Promoted']],
    ['a pass after it succeeded', 2, succeeded, succeeded, []],
    ['a target failed: rolling back is not yet rolled back', 2, progressing, rollingBack, []],
    ['rolled back', 2, rollingBack, rolledBack, ['RolledBack']],
    ['still rolled back', 2, rolledBack, rolledBack, []],
    ['halted in place', 2, progressing, halted, ['Failed']],
    ['invalid before changing anything: Failed, never Started', 2, released1, invalid, ['Failed']],
    ['still invalid', 2, invalid, { ...invalid, message: 'Deployment worker not found' }, []],
    ['the invalid spec fixed: the release starts', 2, invalid, { ...progressing, startedAt: iso(150), history: invalid.history! }, ['Started']],
    ['started and succeeded in one pass (nothing to change)', 2, released1, { ...succeeded, startedAt: iso(100) }, ['Started', 'Promoted']],
    ['a rollback ends and the next generation starts in one pass', 3, rollingBack, { ...progressing, releaseGeneration: 3, version: '1.2.0', startedAt: iso(300), history: rolledBack.history! }, ['RolledBack', 'Started']],
    ['superseded by a newer generation: only the new start', 3, progressing, { ...progressing, releaseGeneration: 3, startedAt: iso(300), history: [rec(2, 'Superseded', iso(100)), g1Done] }, ['Started']],
    ['a retry of the rolled-back generation', 2, rolledBack, { ...progressing, startedAt: iso(400), history: rolledBack.history! }, ['Started']],
  ];
  for (const [name, generation, before, after, want] of cases) {
    it(name, () => {
      expect(deriveReleaseTransitions(release(generation, before), after).map((f) => f.transition)).to.deep.equal(want);
    });
  }

  it('keys every transition by generation and attempt: the same (uid, generation, attempt, transition) gives the same id, a retry a new one', () => {
    const ids = (generation: number, before: ReleaseStatus | undefined, after: ReleaseStatus): string[] =>
      withTransitions(release(generation, before), after, deriveReleaseTransitions(release(generation, before), after), [everything], T0).notifications?.map((e) => e.id) ?? [];
    const started = ids(2, released1, progressing);
    expect(started).to.deep.equal([`u1:g2:${Math.floor((T0 + 100_000) / 1000).toString(36)}:Started`]);
    expect(ids(2, released1, progressing), 'derived again (another replica, a restart)').to.deep.equal(started);
    const promoted = ids(2, verifying, succeeded);
    expect(promoted[0]).to.equal(started[0]!.replace(':Started', ':Promoted'));
    const retried = ids(2, rolledBack, { ...progressing, startedAt: iso(400), history: rolledBack.history! });
    expect(retried[0]).to.not.equal(started[0]);
    expect(retried[0]).to.match(/^u1:g2:\w+:Started$/);
  });

  it('operator-wide sinks get a Release\'s transitions too, beside its own', () => {
    const r = release(2, verifying);
    const out = withTransitions(r, succeeded, deriveReleaseTransitions(r, succeeded), [{ ...hook, name: 'team' }], T0);
    expect(out.notifications?.map((e) => [e.transition, e.sinks.map((d) => d.sink)])).to.deep.equal([['Promoted', ['ops', 'default/team']]]);
  });

  it('a sink wants Promoted, RolledBack and Failed by default: a start alone records nothing', () => {
    const r = release(2, released1);
    expect(withTransitions(r, progressing, deriveReleaseTransitions(r, progressing), [], T0)).to.equal(progressing);
  });
});

describe('the payload of a Release notification', () => {
  const entryFor = (generation: number, before: ReleaseStatus, after: ReleaseStatus) => {
    const r = release(generation, before);
    const out = withTransitions(r, after, deriveReleaseTransitions(r, after), [], T0 + 5_000);
    expect(out.notifications).to.have.length(1);
    return out.notifications![0]!;
  };

  it('a promotion: the Release, version and the one before it, source commit, per-target revisions and images', () => {
    const e = entryFor(2, verifying, succeeded);
    const p = buildPayload({ kind: 'Release', namespace: 'demo', name: 'shop', uid: 'u1', links: [] }, e);
    expect(p).to.deep.equal({
      schemaVersion: PAYLOAD_SCHEMA_VERSION,
      eventId: e.id,
      object: { kind: 'Release', namespace: 'demo', name: 'shop', uid: 'u1' },
      transition: { name: 'Promoted', from: 'Verifying', to: 'Succeeded', reason: 'ReleaseSucceeded', message: 'every target runs 1.1.0' },
      version: '1.1.0',
      previousVersion: '1.0.0',
      revisions: {},
      time: iso(5),
      links: [],
      release: {
        generation: 2,
        source: SOURCE,
        targets: [
          { deployment: 'checkout', phase: 'Promoted', revisionBefore: 'checkout-r1', revision: 'checkout-r2', versionBefore: '1.0.0', version: '1.1.0', images: { app: 'example.com/checkout:1.1.0' } },
          { deployment: 'worker', phase: 'Promoted', revisionBefore: 'worker-r1', revision: 'worker-r2', versionBefore: '1.0.0', version: '1.1.0' },
        ],
      },
    });
    expect(headline(p)).to.equal('Release demo/shop: version 1.1.0 promoted');
  });

  it('a rollback: the failed target and the reason, the rollback reason, the status message', () => {
    const e = entryFor(2, rollingBack, rolledBack);
    const p = buildPayload({ kind: 'Release', namespace: 'demo', name: 'shop', uid: 'u1' }, e);
    expect(p.transition).to.deep.equal({ name: 'RolledBack', from: 'RollingBack', to: 'RolledBack', reason: 'RolledBack', message: `rolled back: worker failed: ${why}` });
    expect(p.release).to.include({ generation: 2, failedTarget: 'worker', failureReason: why });
    expect(p.release?.targets.map((t) => [t.deployment, t.phase, t.revisionBefore, t.revision])).to.deep.equal([
      ['checkout', 'Reverted', 'checkout-r1', 'checkout-r2'],
      ['worker', 'Reverted', 'worker-r1', 'worker-r2'],
    ]);
    expect(headline(p)).to.equal('Release demo/shop: version 1.1.0 rolled back (RolledBack)');
  });

  it('a rollback ended in the pass that started the next generation: the record\'s own failure, not the new status', () => {
    const after: ReleaseStatus = { ...progressing, releaseGeneration: 3, version: '1.2.0', startedAt: iso(300), history: rolledBack.history! };
    const r = release(3, rollingBack, '1.2.0');
    const [rb] = deriveReleaseTransitions(r, after);
    expect(rb).to.include({ transition: 'RolledBack', version: '1.1.0', message: why, to: 'RolledBack' });
    expect(rb?.release).to.include({ generation: 2, failedTarget: 'worker', failureReason: why });
    expect(rb?.release?.source, 'the record\'s source').to.deep.equal(SOURCE);
    expect(rb?.release?.targets.every((t) => t.images === undefined), 'the images of generation 3 are not those of 2').to.equal(true);
  });

  it('an invalid Release: Failed with its reason', () => {
    const e = entryFor(2, released1, invalid);
    expect(e).to.include({ transition: 'Failed', reason: 'InvalidSpec', message: 'Deployment worker not found', to: 'Failed' });
    expect(e.release).to.include({ failureReason: 'Deployment worker not found' });
  });
});
