// Push from Datadog on the real control plane: the stand-in posts the Webhooks integration's
// notification when the canary's monitor group starts alerting, and the canary is rolled back
// within moments although its analysis interval is a minute, because the push made it measure
// the monitor again through the Datadog API. Forged, unauthenticated, replayed and malformed
// pushes are refused or harmless: a push is a hint, never a verdict.
// Given / When / Then.
import { expect } from 'chai';
import type { Canary } from '../../src/api/types.js';
import { eventually } from '../support/cluster.js';
import { World, versionMonitor } from '../support/world.js';

const TOKEN = 'it-push-token-8d2f1c6b0e9a4d7c';
/** The payload template the README tells users to paste into Datadog. */
export const PAYLOAD = '{"event_id": "$ID", "monitor_id": "$ALERT_ID", "transition": "$ALERT_TRANSITION", "scope": "$ALERT_SCOPE", "date": "$DATE"}';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Given: Deployment web at 1.0.0, the push endpoint on with its token Secret, a Canary checking monitor 101 every minute, and a canary of 1.1.0 held after its first Pass. */
async function givenCanaryUnderAnalysis(w: World, monitor: { id?: number; tags?: string[] } = { id: 101 }): Promise<Canary> {
  await w.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'deployer-push' }, stringData: { token: TOKEN } });
  const op = await w.startOperator({ push: { port: 0, host: '127.0.0.1', tokenSecret: { namespace: w.ns, name: 'deployer-push' } } });
  expect(op.pushPort).to.be.a('number');
  w.dd.setWebhook({ url: `https://127.0.0.1:${op.pushPort}/datadog/webhook`, headers: { 'X-Deployer-Token': TOKEN }, payload: PAYLOAD });
  w.dd.upsertMonitor(versionMonitor(101, 'web'));
  w.dd.setVersions(['1.0.0', '1.1.0']);
  await w.datadogSecret('datadog');
  await w.deployment('web', 'example.com/web:1.0.0');
  await w.canary('web', {
    steps: [{ setWeight: 34 }, { pause: {} }],
    analysis: { interval: '1m', failureLimit: 0, checks: [{ name: 'errors', datadogMonitor: monitor }] },
    datadog: { secretRef: { name: 'datadog' } },
  });
  await w.waitPhase('web', 'Waiting');
  await w.setImage('web', 'example.com/web:1.1.0');
  return w.waitFor('web', (c) => c.status?.phase === 'Paused' && (c.status.checks?.[0]?.passes ?? 0) >= 1, 'held after a first Pass', 60_000);
}

const monitorCalls = (w: World): number => w.dd.requests('/api/v1/monitor/101').length;

async function pushCounts(w: World): Promise<Record<string, number>> {
  const metric = await w.op!.metrics.registry.getSingleMetric('deployer_push_requests_total')?.get();
  return Object.fromEntries((metric?.values ?? []).filter((v) => v.value > 0).map((v) => [String(v.labels.result), v.value]));
}

describe('Push from Datadog on the real control plane', function () {
  this.timeout(180_000);
  let w: World;
  beforeEach(async () => {
    w = await World.create('push');
  });
  afterEach(async () => w.teardown());

  it('rolls back within moments of the notification, far under the one-minute interval, on the verdict of the Datadog API', async () => {
    const held = await givenCanaryUnderAnalysis(w);
    const lastMeasured = Date.parse(held.status!.checks![0]!.measurements.at(-1)!.time);
    w.dd.clearRequests();

    // When: the canary's group of monitor 101 starts alerting; the stand-in posts the notification.
    w.dd.setAlertVersions(['1.1.0']);
    const [delivery] = await w.dd.webhookDeliveries();
    expect(delivery?.transition).to.equal('Triggered');
    expect(delivery?.scope).to.equal('version:1.1.0');
    expect(delivery?.status, delivery?.error).to.equal(202);

    // Then: RolledBack and canary pods gone within a few seconds of the push.
    const rolled = await w.waitPhase('web', 'RolledBack', 10_000);
    await w.waitNoCanaryPods('web', 10_000);
    const elapsed = Date.now() - delivery!.sentAt;
    expect(elapsed, 'notification → pods gone').to.be.below(8_000);
    expect(Date.now() - lastMeasured, 'well before the next poll').to.be.below(45_000);
    expect(rolled.status?.message).to.contain('check errors failed');
    const fail = rolled.status?.checks?.[0]?.measurements.at(-1);
    expect(fail?.verdict).to.equal('Fail');
    expect(Date.parse(fail!.time)).to.be.at.least(delivery!.sentAt);
    // The verdict came from one call to the Datadog API, made because of the push.
    expect(monitorCalls(w)).to.equal(1);
    expect(await pushCounts(w)).to.deep.equal({ accepted: 1 });
  });

  it('forged, unauthenticated, malformed, replayed and stormy pushes are refused or harmless', async () => {
    const held = await givenCanaryUnderAnalysis(w);
    const passes = held.status!.checks![0]!.passes;
    w.dd.clearRequests();

    // When: pushes that must not count, while the monitor is OK.
    const forged = await w.dd.notify(101, 'Triggered', 'version:1.1.0', { headers: { 'X-Deployer-Token': 'it-push-token-forged-0000000000' } });
    const anonymous = await w.dd.notify(101, 'Triggered', 'version:1.1.0', { headers: {} });
    const malformed = await w.dd.notify(101, 'Triggered', 'version:1.1.0', { body: '{"monitor_id": "101", "transition": ' });
    const noMonitor = await w.dd.notify(101, 'Triggered', 'version:1.1.0', { body: '{"transition": "Triggered"}' });
    const oversized = await w.dd.notify(101, 'Triggered', 'version:1.1.0', { body: JSON.stringify({ monitor_id: 101, transition: 'Triggered', scope: 'x'.repeat(64 * 1024) }) });
    expect([forged.status, anonymous.status, malformed.status, noMonitor.status, oversized.status]).to.deep.equal([403, 401, 400, 400, 413]);
    await sleep(1_500);
    expect(monitorCalls(w), 'refused pushes make no Datadog call').to.equal(0);

    // A genuine-looking push while the monitor is OK: one early poll, which says OK.
    const valid = await w.dd.notify(101, 'Triggered', 'version:1.1.0', { eventId: 'evt-1' });
    expect(valid.status).to.equal(202);
    const replayed = await w.dd.notify(101, 'Triggered', 'version:1.1.0', { eventId: 'evt-1' });
    expect(replayed.status).to.equal(200);
    const storm = await Promise.all(Array.from({ length: 20 }, (_, i) => w.dd.notify(101, 'Triggered', 'version:1.1.0', { eventId: `storm-${i}` })));
    expect(storm.map((d) => d.status)).to.deep.equal(Array(20).fill(200));

    // Then: exactly one early measurement, a Pass; the canary stays held.
    const after = await w.waitFor('web', (c) => (c.status?.checks?.[0]?.passes ?? 0) === passes + 1, 'measured once more', 10_000);
    await sleep(2_000);
    const settled = await w.get('web');
    expect(settled.status?.phase).to.equal('Paused');
    expect(settled.status?.checks?.[0]?.passes).to.equal(passes + 1);
    expect(settled.status?.checks?.[0]?.failures).to.equal(0);
    expect(after.status?.checks?.[0]?.measurements.at(-1)?.value).to.equal('OK');
    expect(monitorCalls(w), 'one early poll in all').to.equal(1);
    expect(await w.canaryPods('web'), 'canary pods still run').to.have.length(held.status!.canaryReplicas!);
    expect(await pushCounts(w)).to.deep.equal({ forbidden: 1, unauthenticated: 1, malformed: 2, too_large: 1, accepted: 1, duplicate: 1, throttled: 20 });
  });

  it('reaches a check that selects monitors by tag, through the monitors its last answer listed', async () => {
    await givenCanaryUnderAnalysis(w, { tags: ['service:web'] });
    w.dd.clearRequests();
    w.dd.setAlertVersions(['1.1.0']);
    const [delivery] = await w.dd.webhookDeliveries();
    expect(delivery?.status, delivery?.answer ?? delivery?.error).to.equal(202);
    const rolled = await w.waitPhase('web', 'RolledBack', 10_000);
    await w.waitNoCanaryPods('web', 10_000);
    expect(rolled.status?.message).to.contain('check errors failed');
    expect(w.dd.requests('/api/v1/monitor').length, 'one tag selection call').to.equal(1);
  });

  it('a push for a monitor no check selects changes nothing', async () => {
    const held = await givenCanaryUnderAnalysis(w);
    w.dd.clearRequests();
    w.dd.upsertMonitor({ id: 909, name: 'unrelated', overallState: 'Alert' });
    const [d] = await w.dd.webhookDeliveries();
    expect([d?.monitorId, d?.status]).to.deep.equal([909, 200]);
    await sleep(1_500);
    expect(w.dd.requests('/api/v1/monitor').length).to.equal(0);
    await eventually(async () => {
      const c = await w.get('web');
      expect(c.status?.checks?.[0]?.passes).to.equal(held.status!.checks![0]!.passes);
      expect(c.status?.phase).to.equal('Paused');
    });
    expect(await pushCounts(w)).to.deep.equal({ unmatched: 1 });
  });
});
