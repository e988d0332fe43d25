// Notifications on the real control plane, with local receivers for Slack's Web API, a generic
// webhook and the Datadog stand-in: each transition announced once per sink with the
// documented payload, a receiver that fails for a while served once it recovers, only the
// leader of two replicas sending, and an operator killed around a send never losing one.
import { expect } from 'chai';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { NotificationRecord, NotificationSpec } from '../../src/api/notification-types.js';
import type { Canary } from '../../src/api/types.js';
import { startOperator, type OperatorHandle } from '../../src/operator.js';
import { createLogger } from '../../src/runtime/logger.js';
import { eventually, kubectl } from '../support/cluster.js';
import { Receiver, type Received } from '../support/receivers.js';
import { applyPolicy, denyPolicy } from '../support/policies.js';
import { World, versionMonitor } from '../support/world.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const SIGNING_KEY = 'whsec-it-7f3a9c2e1b';
const BOT_TOKEN = 'xoxb-it-4d2c8e6a0f';
const HOOK_PATH = '/hooks/deployer-it-secret-path';
const STEPS = [{ setWeight: 34 }, { pause: { duration: '1s' } }];
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Payload {
  schemaVersion: string;
  eventId: string;
  object: { kind: string; namespace: string; name: string; uid: string };
  transition: { name: string; from?: string; to?: string; reason: string; message: string };
  version?: string;
  previousVersion?: string;
  revisions: { from?: string; to?: string };
  time: string;
  links: unknown[];
}

async function secrets(w: World, rx: Receiver): Promise<void> {
  await w.datadogSecret();
  await w.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'hook' }, stringData: { url: `${rx.url}${HOOK_PATH}`, secret: SIGNING_KEY } });
  await w.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'slack-bot' }, stringData: { token: BOT_TOKEN } });
}

/**
 * The cluster is shared with other branches' tests, which apply their own copy of the Canary CRD;
 * without spec.notifications in it the apiserver prunes the field. Apply this branch's before each step.
 */
async function ourCrd(): Promise<void> {
  const r = await kubectl(['apply', '--server-side', '--force-conflicts', '-f', `${ROOT}crds/deployer.dev_canaries.yaml`]);
  if (r.code !== 0) throw new Error(r.stderr);
  await kubectl(['wait', '--for=condition=Established', 'crd/canaries.deployer.dev', '--timeout=10s']);
}

/** Applies the Canary, our CRD first (again when a foreign one replaced it in between). */
async function canaryWithOurCrd(w: World, spec: Canary['spec']): Promise<void> {
  for (let i = 0; ; i++) {
    await ourCrd();
    try {
      await w.canary('web', spec);
      return;
    } catch (err) {
      if (i >= 5 || !String(err).includes('unknown field "spec.notifications"')) throw err;
    }
  }
}

/** Our CRD, and the Canary's notifications put back if a foreign CRD pruned them meanwhile. */
async function keepNotifications(w: World): Promise<void> {
  await ourCrd();
  const c = await w.get('web');
  if (!c.spec.notifications?.length && lastNotifications.get(w.ns)) await canaryWithOurCrd(w, { ...c.spec, notifications: lastNotifications.get(w.ns)! });
}
const lastNotifications = new Map<string, NotificationSpec[]>();

async function given(w: World, notifications: NotificationSpec[]): Promise<void> {
  lastNotifications.set(w.ns, notifications);
  w.dd.upsertMonitor(versionMonitor(101, 'web'));
  w.dd.setVersions(['1.0.0', '1.1.0', '2.0.0']);
  await w.deployment('web', 'example.com/web:1.0.0', { podLabels: { 'tags.datadoghq.com/service': 'web', 'tags.datadoghq.com/env': 'it' } });
  await canaryWithOurCrd(w, {
    targetRef: { name: 'web' },
    steps: STEPS,
    analysis: { interval: '1s', checks: [{ name: 'errors', datadogMonitor: { id: 101 } }] },
    datadog: { secretRef: { name: 'datadog' } },
    progressDeadline: '60s',
    notifications,
  });
  await w.waitPhase('web', 'Waiting');
}

/** The webhook requests for a transition, each checked against its HMAC. */
function hooks(rx: Receiver, transition?: string): Array<{ r: Received; p: Payload }> {
  return rx
    .accepted(HOOK_PATH)
    .map((r) => ({ r, p: r.json as Payload }))
    .filter(({ p }) => transition === undefined || p.transition.name === transition);
}

function verifySignature(r: Received): void {
  expect(r.headers['x-deployer-signature']).to.equal(`sha256=${createHmac('sha256', SIGNING_KEY).update(r.body).digest('hex')}`);
}

/** A ValidatingAdmissionPolicy refusing Canary status writes that record a sent notification in NS; returns its removal. */
async function refuseRecordedSends(ns: string): Promise<() => Promise<void>> {
  const name = `no-sent-${ns}`;
  const rule = { apiGroups: ['deployer.dev'], apiVersions: ['v1alpha1'], operations: ['UPDATE'], resources: ['canaries/status'] };
  const remove = await applyPolicy(
    name,
    denyPolicy(name, ns, rule, '!has(object.status) || !has(object.status.notifications) || !object.status.notifications.exists(e, e.sinks.exists(s, has(s.sentAt)))', 'recording sent notifications is refused for this test'),
  );
  const probe = JSON.stringify({ status: { notifications: [{ id: 'probe', transition: 'Promoted', at: '2026-01-01T00:00:00Z', reason: 'x', message: 'x', sinks: [{ sink: 'x', attempts: 1, sentAt: '2026-01-01T00:00:00Z' }] }] } });
  await eventually(async () => {
    const r = await kubectl(['patch', 'canary', 'web', '-n', ns, '--subresource=status', '--type=merge', '-p', probe, '--dry-run=server']);
    if (r.code === 0) throw new Error('policy not in force yet');
  }, { timeoutMs: 20_000, intervalMs: 300 });
  return remove;
}

const ledgerOf = (c: Canary): NotificationRecord[] => c.status?.notifications ?? [];

/** Waits on the Canary's ledger; a timeout says what the ledger and the spec held. */
async function waitLedger(w: World, pred: (c: Canary) => boolean, what: string, timeoutMs = 60_000): Promise<Canary> {
  let last: Canary | undefined;
  await eventually(
    async () => {
      last = await w.get('web');
      if (!pred(last)) {
        const sinks = (last.spec.notifications ?? []).map((n) => n.name).join(',') || 'none (pruned by a foreign CRD?)';
        const ledger = ledgerOf(last).map((e) => `${e.transition}[${e.sinks.map((d) => `${d.sink}:${d.attempts}${d.sentAt ? ':sent' : ''}${d.lastError ? `:${d.lastError}` : ''}`).join(' ')}]`);
        throw new Error(`not yet ${what}: phase=${last.status?.phase} spec sinks=${sinks} ledger=${ledger.join(' ')}`);
      }
    },
    { timeoutMs, intervalMs: 150 },
  );
  return last!;
}
const allSent = (c: Canary, transition: string): boolean => {
  const e = ledgerOf(c).find((x) => x.transition === transition);
  return e !== undefined && e.sinks.every((s) => s.sentAt !== undefined);
};

describe('Notifications on the real control plane', function () {
  this.timeout(180_000);

  describe('two replicas, three sinks', () => {
    let w: World;
    let rx: Receiver;
    const ops: OperatorHandle[] = [];
    before(async () => {
      w = await World.create('notify');
      rx = await Receiver.start();
      await secrets(w, rx);
      const replica = (identity: string): Promise<OperatorHandle> =>
        startOperator({
          kubeconfig: w.kc,
          namespaces: [w.ns],
          webhook: { port: 0, target: { urlFromPort: '127.0.0.1' } },
          logger: createLogger({ level: 'error', silent: process.env.DEPLOYER_TEST_LOG !== '1' }),
          resyncMs: 30_000,
          datadogTimeoutMs: 1_500,
          leaderElection: { namespace: w.ns, name: 'deployer-notify', identity, leaseDurationMs: 4_000, renewDeadlineMs: 2_500, retryPeriodMs: 500 },
          notifications: { slackApiUrl: `${rx.url}/api`, backoff: { baseMs: 500, maxMs: 2_000, maxAttempts: 10 }, pollMs: 200 },
        });
      ops.push(await replica('replica-a'), await replica('replica-b'));
      await eventually(async () => {
        if (ops.filter((o) => o.isLeader()).length !== 1) throw new Error('no single leader yet');
      }, { timeoutMs: 20_000, intervalMs: 200 });
    });
    after(async () => {
      for (const o of ops) await o.stop();
      await rx.close();
      await w.teardown();
    });

    it('announces a promotion once per sink: signed webhook (after it failed for a while), Slack thread, Datadog deploy marker', async () => {
      await given(w, [
        { name: 'hook', webhook: { urlSecretRef: { name: 'hook' }, signingSecretRef: { name: 'hook' } } },
        { name: 'chat', transitions: ['Started', 'Promoted', 'RolledBack', 'Failed'], slack: { tokenSecretRef: { name: 'slack-bot' }, channel: 'C-DEPLOYS' } },
        { name: 'dd', datadogEvents: { tags: ['team:it'] } },
      ]);
      // The webhook receiver fails its first three requests.
      let failures = 0;
      rx.respond((r) => (r.path === HOOK_PATH && failures++ < 3 ? { status: 503, body: 'down for maintenance' } : undefined));
      const eventsBefore = w.dd.events().length;
      await w.setImage('web', 'example.com/web:1.1.0');
      await w.waitPhase('web', 'Succeeded');
      const done = await waitLedger(w, (c) => allSent(c, 'Promoted') && allSent(c, 'Started'), 'every sink sent');
      const canaryUid = done.metadata.uid!;

      // The ledger: one Promoted entry, every sink sent, the webhook after four attempts.
      const promoted = ledgerOf(done).filter((e) => e.transition === 'Promoted');
      expect(promoted).to.have.length(1);
      const entry = promoted[0]!;
      expect(entry.id.startsWith(`${canaryUid}:`)).to.equal(true);
      expect(entry).to.include({ version: '1.1.0', previousVersion: '1.0.0', from: 'Promoting', to: 'Succeeded' });
      const hookDelivery = entry.sinks.find((s) => s.sink === 'hook')!;
      expect(hookDelivery.attempts).to.equal(4);
      expect(hookDelivery.lastError).to.equal('HTTP 503: down for maintenance');
      expect(ledgerOf(done).find((e) => e.transition === 'Started')?.sinks.map((s) => s.sink), 'Started goes only to the sink that asked for it').to.deep.equal(['chat']);

      await sleep(2_000); // nothing more arrives
      // Webhook: exactly one Promoted, with the documented payload and a valid signature.
      const hp = hooks(rx, 'Promoted');
      expect(hp).to.have.length(1);
      const { r, p } = hp[0]!;
      verifySignature(r);
      expect(r.headers['x-deployer-event-id']).to.equal(entry.id);
      expect(p).to.deep.include({
        schemaVersion: 'deployer.dev/notification/v1',
        eventId: entry.id,
        object: { kind: 'Canary', namespace: w.ns, name: 'web', uid: canaryUid },
        version: '1.1.0',
        previousVersion: '1.0.0',
        revisions: { from: entry.previousRevision, to: entry.revision },
        time: entry.at,
      });
      expect(p.transition).to.include({ name: 'Promoted', from: 'Promoting', to: 'Succeeded', reason: 'Promoted' });
      expect(hooks(rx)).to.have.length(1);
      expect(rx.refused.filter((x) => x.path === HOOK_PATH)).to.have.length(3);

      // Slack: the run's first message starts the thread, the promotion replies in it.
      const slack = rx.accepted('/api/chat.postMessage').map((x) => x.json as { channel: string; text: string; thread_ts?: string });
      expect(slack.map((m) => m.text.split('\n')[0])).to.deep.equal([`Canary ${w.ns}/web: canary of version 1.1.0 started`, `Canary ${w.ns}/web: version 1.1.0 promoted`]);
      const rootTs = ledgerOf(done).find((e) => e.transition === 'Started')?.sinks[0]?.threadTs;
      expect(rootTs).to.be.a('string');
      expect(slack[0]?.thread_ts).to.equal(undefined);
      expect(slack[1]).to.include({ channel: 'C-DEPLOYS', thread_ts: rootTs });
      expect(entry.sinks.find((s) => s.sink === 'chat')?.threadTs).to.equal(rootTs);

      // Datadog: one info event, tagged with the Deployment's unified service tags.
      const dd = w.dd.events().slice(eventsBefore) as Array<Record<string, unknown>>;
      expect(dd).to.have.length(1);
      expect(dd[0]).to.include({ alert_type: 'info', aggregation_key: entry.id, source_type_name: 'deployer' });
      expect(dd[0]?.tags).to.include.members(['service:web', 'env:it', 'version:1.1.0', 'source:deployer', 'team:it']);

      // Metrics: only the leader sent; the webhook's failures show.
      const counts = await Promise.all(ops.map(async (o) => (await o.metrics.registry.getSingleMetricAsString('deployer_notifications_total'))));
      const leaderText = counts[ops.findIndex((o) => o.isLeader())]!;
      expect(leaderText).to.match(/deployer_notifications_total\{sink="webhook",result="sent"\} 1\b/);
      expect(leaderText).to.match(/deployer_notifications_total\{sink="webhook",result="failed"\} 3\b/);
      const standbyText = counts[ops.findIndex((o) => !o.isLeader())]!;
      expect(standbyText).to.match(/deployer_notifications_total\{sink="webhook",result="sent"\} 0\b/);
    });

    it('announces a rollback once per sink: webhook, a new Slack thread, a Datadog error event', async () => {
      rx.respond(undefined);
      await keepNotifications(w);
      const hooksBefore = hooks(rx).length;
      const slackBefore = rx.accepted('/api/chat.postMessage').length;
      const eventsBefore = w.dd.events().length;
      w.dd.setAlertVersions(['2.0.0']);
      await w.setImage('web', 'example.com/web:2.0.0');
      await w.waitPhase('web', 'RolledBack');
      const c = await waitLedger(w, (x) => allSent(x, 'RolledBack'), 'rollback announced');
      await sleep(2_000);
      const entry = ledgerOf(c).find((e) => e.transition === 'RolledBack')!;
      const hp = hooks(rx).slice(hooksBefore);
      expect(hp.map((h) => h.p.transition.name)).to.deep.equal(['RolledBack']);
      verifySignature(hp[0]!.r);
      expect(hp[0]!.p).to.deep.include({ eventId: entry.id, version: '2.0.0', previousVersion: '1.1.0' });
      expect(hp[0]!.p.transition.message).to.match(/rolled back revision .* check errors failed/);

      const slack = rx.accepted('/api/chat.postMessage').slice(slackBefore).map((x) => x.json as { text: string; thread_ts?: string });
      expect(slack.map((m) => m.text.split('\n')[0])).to.deep.equal([`Canary ${w.ns}/web: canary of version 2.0.0 started`, `Canary ${w.ns}/web: version 2.0.0 rolled back (RolledBack)`]);
      const newRoot = ledgerOf(c).filter((e) => e.transition === 'Started').at(-1)?.sinks[0]?.threadTs;
      expect(slack[0]?.thread_ts, 'a new run starts a new thread').to.equal(undefined);
      expect(slack[1]?.thread_ts).to.equal(newRoot);

      const dd = w.dd.events().slice(eventsBefore) as Array<Record<string, unknown>>;
      expect(dd.map((e) => e.alert_type)).to.deep.equal(['error']);
      expect(dd[0]).to.include({ aggregation_key: entry.id });
      expect(dd[0]?.tags).to.include.members(['service:web', 'env:it', 'version:2.0.0']);
    });

    it('announces a Canary that cannot work (a missing Secret) once: Failed, with its reason', async () => {
      await w.deployment('api', 'example.com/api:1.0.0', { replicas: 1 });
      const spec: Canary['spec'] = {
        targetRef: { name: 'api' },
        steps: STEPS,
        analysis: { interval: '1s', checks: [{ name: 'errors', datadogMonitor: { id: 101 } }] },
        datadog: { secretRef: { name: 'missing' } },
        notifications: [{ name: 'hook', webhook: { urlSecretRef: { name: 'hook' }, signingSecretRef: { name: 'hook' } } }],
      };
      for (let i = 0; ; i++) {
        await ourCrd();
        try {
          await w.apply({ apiVersion: 'deployer.dev/v1alpha1', kind: 'Canary', metadata: { name: 'api' }, spec });
          break;
        } catch (err) {
          if (i >= 5) throw err;
        }
      }
      await eventually(async () => {
        const c = await w.get('api');
        const e = ledgerOf(c).find((x) => x.transition === 'Failed');
        if (!e?.sinks.every((d) => d.sentAt)) throw new Error(`Failed not yet announced: phase=${c.status?.phase} ledger=${JSON.stringify(ledgerOf(c))}`);
      }, { timeoutMs: 60_000, intervalMs: 200 });
      await sleep(2_000);
      const failed = hooks(rx, 'Failed').filter((h) => h.p.object.name === 'api');
      expect(failed).to.have.length(1);
      verifySignature(failed[0]!.r);
      expect(failed[0]!.p.transition).to.include({ name: 'Failed', to: 'Failed', reason: 'SecretNotFound' });
      expect(failed[0]!.p.transition.message).to.contain('missing');
    });

    it('keeps every URL, token and key out of status and Events, also when a sink fails', async () => {
      // A sink pointing at a Secret whose URL refuses: its failures are recorded, redacted.
      await w.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'bad-hook' }, stringData: { url: `http://127.0.0.1:9/${HOOK_PATH}?token=${BOT_TOKEN}` } });
      const current = await w.get('web');
      await canaryWithOurCrd(w, { ...current.spec, notifications: [...(current.spec.notifications ?? []), { name: 'bad', transitions: ['Failed', 'Started'], webhook: { urlSecretRef: { name: 'bad-hook' } } }] });
      w.dd.setAlertVersions([]);
      await w.annotate('web', 'deployer.dev/retry', 'retry-1');
      const c = await waitLedger(w, (x) => ledgerOf(x).some((e) => e.sinks.some((s) => s.sink === 'bad' && s.attempts >= 2)), 'the bad sink failing');
      const bad = ledgerOf(c).flatMap((e) => e.sinks).find((s) => s.sink === 'bad')!;
      expect(bad.lastError).to.be.a('string');
      const everything = JSON.stringify(c) + JSON.stringify(await w.events('web')) + JSON.stringify(await w.events('web', 'Deployment'));
      for (const secret of [SIGNING_KEY, BOT_TOKEN, HOOK_PATH, rx.url]) expect(everything, `${secret} leaked`).to.not.contain(secret);
    });
  });

  describe('operator-wide sinks (--notifications-config)', () => {
    let w: World;
    let rx: Receiver;
    before(async () => {
      w = await World.create('notify-defaults');
      rx = await Receiver.start();
      await secrets(w, rx);
      const list = `- name: everything\n  transitions: [Started, Promoted]\n  webhook: { urlSecretRef: { name: hook }, signingSecretRef: { name: hook } }\n`;
      await w.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'deployer-notifications' }, stringData: { 'notifications.yaml': list } });
      await w.startOperator({ notifications: { configSecret: 'deployer-notifications', namespace: w.ns, backoff: { baseMs: 500, maxMs: 2_000, maxAttempts: 10 }, pollMs: 200 } });
    });
    after(async () => {
      await rx.close();
      await w.teardown();
    });

    it('announce every Canary, also one without notifications of its own', async () => {
      w.dd.upsertMonitor(versionMonitor(101, 'web'));
      w.dd.setVersions(['1.0.0', '1.1.0']);
      await w.deployment('web', 'example.com/web:1.0.0');
      await w.canary('web', { steps: STEPS, analysis: { interval: '1s', checks: [{ name: 'errors', datadogMonitor: { id: 101 } }] }, datadog: { secretRef: { name: 'datadog' } } });
      await w.waitPhase('web', 'Waiting');
      await w.setImage('web', 'example.com/web:1.1.0');
      const c = await waitLedger(w, (x) => allSent(x, 'Promoted') && allSent(x, 'Started'), 'announced to the operator-wide sink');
      expect(ledgerOf(c).map((e) => [e.transition, e.sinks.map((d) => d.sink)])).to.deep.equal([
        ['Started', ['default/everything']],
        ['Promoted', ['default/everything']],
      ]);
      await sleep(1_000);
      expect(hooks(rx).map((h) => h.p.transition.name)).to.deep.equal(['Started', 'Promoted']);
      for (const h of hooks(rx)) verifySignature(h.r);
    });
  });

  describe('a status write that records the send is refused for a while', () => {
    let w: World;
    let rx: Receiver;
    let removePolicy: (() => Promise<void>) | undefined;
    before(async () => {
      w = await World.create('notify-record');
      rx = await Receiver.start();
      await secrets(w, rx);
      await w.startOperator({ notifications: { backoff: { baseMs: 500, maxMs: 2_000, maxAttempts: 10 }, pollMs: 200 } });
    });
    after(async () => {
      await removePolicy?.();
      await rx.close();
      await w.teardown();
    });

    it('sends once and records the result once the API accepts it again', async () => {
      await given(w, [{ name: 'hook', webhook: { urlSecretRef: { name: 'hook' }, signingSecretRef: { name: 'hook' } } }]);
      removePolicy = await refuseRecordedSends(w.ns);
      await w.setImage('web', 'example.com/web:1.1.0');
      await w.waitPhase('web', 'Succeeded');
      await eventually(async () => {
        if (!hooks(rx, 'Promoted').length) throw new Error('not sent yet');
      }, { timeoutMs: 30_000, intervalMs: 100 });
      await sleep(3_000); // many scans while the result cannot be recorded
      expect(hooks(rx, 'Promoted'), 'not sent again while its result cannot be recorded').to.have.length(1);
      expect(ledgerOf(await w.get('web')).find((e) => e.transition === 'Promoted')?.sinks[0]?.sentAt).to.equal(undefined);
      await removePolicy();
      removePolicy = undefined;
      await waitLedger(w, (c) => allSent(c, 'Promoted'), 'recorded once the API accepts it');
      expect(hooks(rx, 'Promoted')).to.have.length(1);
    });
  });

  describe('an operator killed around a send', () => {
    let w: World;
    let rx: Receiver;
    before(async () => {
      w = await World.create('notify-crash');
      rx = await Receiver.start();
      await secrets(w, rx);
    });
    after(async () => {
      await rx.close();
      await w.teardown();
    });
    const args = ['--no-leader-elect', '--notifications-retry', '1s'];

    it('killed after the transition and before a send landed: the next operator delivers it once', async () => {
      // The first request kills the operator before it is answered (and refuses it).
      let killed = false;
      rx.respond(async (r) => {
        if (r.path !== HOOK_PATH || killed) return undefined;
        killed = true;
        await w.killOperatorProcess(w.proc, 'SIGKILL');
        return { status: 503, body: 'unavailable' };
      });
      w.startOperatorProcess(args, 'notify-a');
      await given(w, [{ name: 'hook', webhook: { urlSecretRef: { name: 'hook' }, signingSecretRef: { name: 'hook' } } }]);
      await w.setImage('web', 'example.com/web:1.1.0');
      await waitLedger(w, () => killed, 'sent (the receiver kills the operator)');
      const between = await w.get('web');
      expect(ledgerOf(between).find((e) => e.transition === 'Promoted')?.sinks[0]?.sentAt, 'not sent before the kill').to.equal(undefined);
      w.startOperatorProcess(args, 'notify-b');
      const c = await waitLedger(w, (x) => allSent(x, 'Promoted'), 'delivered by the next operator');
      await sleep(2_000);
      const hp = hooks(rx, 'Promoted');
      expect(hp, 'delivered once').to.have.length(1);
      verifySignature(hp[0]!.r);
      expect(hp[0]!.p.eventId).to.equal(ledgerOf(c).find((e) => e.transition === 'Promoted')?.id);
    });

    it('killed after a send landed and before it was recorded: the receiver gets the same event id twice, never zero times', async () => {
      let killed = false;
      rx.respond(async (r) => {
        if (r.path !== HOOK_PATH || killed || (r.json as Payload).transition.name !== 'RolledBack') return undefined;
        killed = true;
        await w.killOperatorProcess(w.proc, 'SIGKILL');
        return { status: 200, body: 'accepted' }; // accepted, but nobody hears it
      });
      await keepNotifications(w);
      w.dd.setAlertVersions(['2.0.0']);
      await w.setImage('web', 'example.com/web:2.0.0');
      await waitLedger(w, () => killed, 'sent (the receiver kills the operator)');
      expect(ledgerOf(await w.get('web')).find((e) => e.transition === 'RolledBack')?.sinks[0]?.sentAt, 'the kill came before the record').to.equal(undefined);
      w.startOperatorProcess(args, 'notify-c');
      const c = await waitLedger(w, (x) => allSent(x, 'RolledBack'), 'recorded by the next operator');
      await sleep(2_000);
      const hp = hooks(rx, 'RolledBack');
      const id = ledgerOf(c).find((e) => e.transition === 'RolledBack')?.id;
      expect(hp.map((h) => h.p.eventId), 'the same event id twice: a receiver drops the second').to.deep.equal([id, id]);
      for (const h of hp) verifySignature(h.r);
      // The operator's logs never hold a secret.
      for (const name of ['notify-a', 'notify-b', 'notify-c']) {
        const log = readFileSync(`${ROOT}.cluster/logs/${name}-${w.ns}.log`, 'utf8');
        for (const secret of [SIGNING_KEY, BOT_TOKEN, HOOK_PATH]) expect(log, `${secret} in the log of ${name}`).to.not.contain(secret);
      }
    });
  });
});
