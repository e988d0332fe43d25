// Release notifications on the real control plane: a two-target Release (a guarded checkout and a
// worker without a Canary) promoted, then a newer version rolled back when its canary fails; a
// local webhook receives exactly one Promoted and one RolledBack with the documented payload,
// each signed with HMAC-SHA256. And operator-wide sinks announcing a Release without sinks of its own.
import { expect } from 'chai';
import { createHmac } from 'node:crypto';
import type { NotificationPayload } from '../../src/notify/payload.js';
import type { Release, ReleaseSpec } from '../../src/api/release-types.js';
import { paths } from '../../src/kube/raw-client.js';
import { eventually } from '../support/cluster.js';
import { Receiver } from '../support/receivers.js';
import { World } from '../support/world.js';

const SIGNING_KEY = 'whsec-rel-it-5b7e1d';
const HOOK_PATH = '/hooks/release-it-secret-path';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('Release notifications on the real control plane', function () {
  this.timeout(240_000);
  let w: World;
  let rx: Receiver;

  before(async () => {
    w = await World.create('rel-notify');
    rx = await Receiver.start();
    await w.startOperator({ notifications: { backoff: { baseMs: 500, maxMs: 2_000, maxAttempts: 10 }, pollMs: 200 } });
    w.dd.setVersions(['1.0.0', '2.0.0', '2.0.1']);
    await w.datadogSecret('datadog');
    await w.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'hook' }, stringData: { url: `${rx.url}${HOOK_PATH}`, secret: SIGNING_KEY } });
    for (const d of ['checkout', 'worker']) await w.deployment(d, `example.com/${d}:1.0.0`);
    w.dd.upsertMonitor({ id: 201, name: 'checkout errors', tags: ['service:checkout'], query: 'avg(last_5m):sum:trace.errors{service:checkout} by {version} > 5', groupByVersion: true });
    await w.canary('checkout', {
      steps: [{ setWeight: 34 }, { pause: { duration: '2s' } }],
      analysis: { interval: '1s', failureLimit: 0, checks: [{ name: 'errors', datadogMonitor: { id: 201 } }] },
      datadog: { secretRef: { name: 'datadog' } },
      progressDeadline: '60s',
    });
    await w.waitFor('checkout', (c) => c.status?.phase === 'Waiting' || c.status?.phase === 'Succeeded', 'guarding');
  });
  after(async () => {
    await w.teardown();
    await rx.close();
  });

  const spec = (version: string, commit: string): ReleaseSpec => ({
    version,
    source: { repository: 'https://git.example.com/shop.git', revision: commit },
    targets: [
      { deployment: 'checkout', images: { app: `example.com/checkout:${version}` } },
      { deployment: 'worker', images: { app: `example.com/worker:${version}` } },
    ],
    order: [['checkout'], ['worker']],
    progressDeadline: '90s',
    notifications: [{ name: 'team-hook', webhook: { urlSecretRef: { name: 'hook' }, signingSecretRef: { name: 'hook' } } }],
  });
  const apply = (s: ReleaseSpec): Promise<string> => w.apply({ apiVersion: 'deployer.dev/v1alpha1', kind: 'Release', metadata: { name: 'shop' }, spec: s });
  const get = (): Promise<Release> => w.client.get<Release>(paths.release(w.ns, 'shop'));
  const waitPhase = async (phase: string, version: string): Promise<Release> => {
    let last: Release | undefined;
    await eventually(async () => {
      last = await get();
      if (last.status?.phase !== phase || last.status.version !== version) throw new Error(`release is ${last.status?.phase} ${last.status?.version}: ${last.status?.message}`);
    }, { timeoutMs: 150_000, intervalMs: 300 });
    return last!;
  };
  const received = (): Array<{ p: NotificationPayload; body: string; sig: string | undefined; id: string | undefined }> =>
    rx.accepted(HOOK_PATH).map((r) => ({ p: r.json as NotificationPayload, body: r.body, sig: r.headers['x-deployer-signature'], id: r.headers['x-deployer-event-id'] }));
  const waitReceived = async (n: number): Promise<void> => {
    await eventually(async () => {
      if (received().length < n) throw new Error(`received ${received().length} of ${n} notifications`);
    }, { timeoutMs: 30_000, intervalMs: 200 });
  };

  it('promoted, then a newer version rolled back: one Promoted and one RolledBack, signed, with the documented payload', async () => {
    await apply(spec('2.0.0', 'c0ffee1'));
    const promoted = await waitPhase('Succeeded', '2.0.0');
    await waitReceived(1);

    w.dd.setAlertVersions(['2.0.1']);
    await apply(spec('2.0.1', 'badbeef'));
    const rolledBack = await waitPhase('RolledBack', '2.0.1');
    await waitReceived(2);
    // Later scans and passes send nothing more.
    await sleep(3_000);

    const all = received();
    expect(all.map((x) => x.p.transition.name)).to.deep.equal(['Promoted', 'RolledBack']);
    for (const x of all) {
      expect(x.sig, 'HMAC-SHA256 of the raw body').to.equal(`sha256=${createHmac('sha256', SIGNING_KEY).update(x.body).digest('hex')}`);
      expect(x.id).to.equal(x.p.eventId);
      expect(x.p.schemaVersion).to.equal('deployer.dev/notification/v1');
      expect(x.p.object).to.deep.equal({ kind: 'Release', namespace: w.ns, name: 'shop', uid: promoted.metadata.uid });
    }

    const [p, rb] = all.map((x) => x.p) as [NotificationPayload, NotificationPayload];
    expect(p.eventId).to.match(new RegExp(`^${promoted.metadata.uid}:g1:\\w+:Promoted$`));
    expect(p.transition).to.include({ name: 'Promoted', to: 'Succeeded', reason: 'ReleaseSucceeded' });
    expect(p.version).to.equal('2.0.0');
    const t1 = Object.fromEntries((promoted.status?.targets ?? []).map((t) => [t.deployment, t]));
    expect(p.release).to.deep.include({ generation: 1, source: { repository: 'https://git.example.com/shop.git', revision: 'c0ffee1' } });
    expect(p.release?.failedTarget).to.equal(undefined);
    expect(p.release?.targets.map((t) => [t.deployment, t.revisionBefore, t.revision, t.images?.app])).to.deep.equal([
      ['checkout', t1.checkout?.revisionBefore, t1.checkout?.revision, 'example.com/checkout:2.0.0'],
      ['worker', t1.worker?.revisionBefore, t1.worker?.revision, 'example.com/worker:2.0.0'],
    ]);
    expect(t1.checkout?.revision).to.be.a('string').and.not.equal(t1.checkout?.revisionBefore);

    expect(rb.eventId).to.match(new RegExp(`^${promoted.metadata.uid}:g2:\\w+:RolledBack$`));
    expect(rb.transition).to.include({ name: 'RolledBack', to: 'RolledBack', message: rolledBack.status?.message });
    expect(rb.version).to.equal('2.0.1');
    expect(rb.previousVersion).to.equal('2.0.0');
    expect(rb.release).to.include({ generation: 2, failedTarget: 'checkout', failureReason: rolledBack.status?.failureReason });
    expect(rb.release?.failureReason).to.match(/check errors failed/);
    expect(rb.release?.source).to.deep.equal({ repository: 'https://git.example.com/shop.git', revision: 'badbeef' });
    expect(rb.release?.targets.map((t) => [t.deployment, t.phase, t.images?.app])).to.deep.equal([
      ['checkout', 'Reverted', 'example.com/checkout:2.0.1'],
      ['worker', 'Skipped', 'example.com/worker:2.0.1'],
    ]);

    // The ledger in status says both were sent, once.
    const ledger = (await get()).status?.notifications ?? [];
    expect(ledger.map((e) => [e.transition, e.sinks.map((s) => [s.sink, s.attempts, s.sentAt !== undefined])])).to.deep.equal([
      ['Promoted', [['team-hook', 1, true]]],
      ['RolledBack', [['team-hook', 1, true]]],
    ]);
  });
});

describe('Release notifications to operator-wide sinks (--notifications-config) on the real control plane', function () {
  this.timeout(180_000);
  let w: World;
  let rx: Receiver;

  before(async () => {
    w = await World.create('rel-notify-defaults');
    rx = await Receiver.start();
    await w.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'hook' }, stringData: { url: `${rx.url}${HOOK_PATH}`, secret: SIGNING_KEY } });
    const list = `- name: everything\n  transitions: [Started, Promoted]\n  webhook: { urlSecretRef: { name: hook }, signingSecretRef: { name: hook } }\n`;
    await w.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'deployer-notifications' }, stringData: { 'notifications.yaml': list } });
    await w.startOperator({ notifications: { configSecret: 'deployer-notifications', namespace: w.ns, backoff: { baseMs: 500, maxMs: 2_000, maxAttempts: 10 }, pollMs: 200 } });
    await w.deployment('worker', 'example.com/worker:1.0.0');
  });
  after(async () => {
    await w.teardown();
    await rx.close();
  });

  it('announce a Release without notifications of its own: Started, then Promoted, signed', async () => {
    await w.apply({ apiVersion: 'deployer.dev/v1alpha1', kind: 'Release', metadata: { name: 'jobs' }, spec: { version: '2.0.0', targets: [{ deployment: 'worker', images: { app: 'example.com/worker:2.0.0' } }], progressDeadline: '90s' } });
    await eventually(async () => {
      const names = rx.accepted(HOOK_PATH).map((r) => (r.json as NotificationPayload).transition.name);
      if (names.length < 2) throw new Error(`received ${names.join(', ') || 'nothing'}`);
    }, { timeoutMs: 120_000, intervalMs: 300 });
    await sleep(2_000);
    const got = rx.accepted(HOOK_PATH);
    expect(got.map((r) => [(r.json as NotificationPayload).object.kind, (r.json as NotificationPayload).transition.name, (r.json as NotificationPayload).version])).to.deep.equal([
      ['Release', 'Started', '2.0.0'],
      ['Release', 'Promoted', '2.0.0'],
    ]);
    for (const r of got) expect(r.headers['x-deployer-signature']).to.equal(`sha256=${createHmac('sha256', SIGNING_KEY).update(r.body).digest('hex')}`);
    const rel = await w.client.get<Release>(paths.release(w.ns, 'jobs'));
    expect(rel.status?.phase).to.equal('Succeeded');
    expect(rel.status?.notifications?.map((e) => [e.transition, e.sinks.map((d) => [d.sink, d.sentAt !== undefined])])).to.deep.equal([
      ['Started', [['default/everything', true]]],
      ['Promoted', [['default/everything', true]]],
    ]);
  });
});
