// Canary against baseline on the real control plane: baseline pods of the stable template start
// with the canary pods, a compare check pulls one series per role from the Datadog stand-in and
// judges them with a Mann-Whitney U test. Given / When / Then.
import { createHash } from 'node:crypto';
import { expect } from 'chai';
import type { CheckSpec } from '../../src/api/types.js';
import type { SeriesSource } from '../datadog/server.js';
import { kubectlOk } from '../support/cluster.js';
import { World } from '../support/world.js';

const STEPS = [{ setWeight: 34 }, { pause: { duration: '3s' } }, { setWeight: 50 }, { pause: { duration: '3s' } }];
const BUCKET_S = 5;
const latency: CheckSpec = { name: 'latency', compare: { query: 'avg:http.latency{service:web,role:{{ role }}}', window: '2m', minPoints: 10, tolerance: 0.02, significance: 0.05 } };

/** Noise in [−5, 5), fixed for a bucket: the same "random" value whoever asks. */
function noise(bucketMs: number): number {
  const h = createHash('sha256').update(String(bucketMs)).digest();
  return (h.readUInt32BE(0) / 2 ** 32) * 10 - 5;
}

/**
 * Latency around 100 ms for both roles, the canary `canaryShift` ms slower. The baseline's series is
 * the canary's noise one bucket later, so with no shift the two windows hold nearly the same values:
 * equally noisy, never significantly different.
 */
function latencySeries(canaryShift: number): (query: string, fromMs: number, toMs: number) => SeriesSource | undefined {
  return (query, fromMs, toMs) => {
    const role = /role:(canary|baseline)/.exec(query)?.[1];
    if (!query.includes('http.latency') || !role) return undefined;
    const iv = BUCKET_S * 1000;
    const points: Array<[number, number | null]> = [];
    for (let ts = Math.floor(fromMs / iv) * iv; ts <= toMs; ts += iv) {
      points.push([ts, role === 'canary' ? 100 + canaryShift + noise(ts) : 100 + noise(ts + iv)]);
    }
    return { points, intervalSec: BUCKET_S };
  };
}

/** This CRD (with baseline and compare) on the control plane, which other test runs may have replaced meanwhile. */
async function applyCrd(): Promise<void> {
  await kubectlOk(['apply', '--server-side', '--force-conflicts', '-f', new URL('../../crds/', import.meta.url).pathname]);
}

async function given(w: World): Promise<void> {
  await applyCrd();
  await w.datadogSecret('datadog');
  await w.deployment('web', 'example.com/web:1.0.0', { replicas: 2 });
  await w.canary('web', {
    steps: STEPS,
    analysis: { interval: '1s', failureLimit: 0, baseline: true, checks: [latency] },
    datadog: { secretRef: { name: 'datadog' } },
    progressDeadline: '60s',
  });
  await w.waitPhase('web', 'Waiting');
}

describe('compare: canary against baseline on the real control plane', function () {
  this.timeout(120_000);
  let w: World;
  before(async () => {
    w = await World.create('compare');
    await w.startOperator();
  });
  after(async () => w.teardown());

  it('rolls back a canary slightly but significantly slower than its baseline, and removes the baseline pods', async () => {
    await given(w);
    // Equal at first (the pods are looked at), then the canary turns 4% slower (tolerance 2%).
    w.dd.setSeriesFunction(latencySeries(0));
    await w.setImage('web', 'example.com/web:1.1.0');

    const during = await w.waitFor('web', (c) => (c.status?.baselineReadyReplicas ?? 0) > 0 && (c.status?.canaryReadyReplicas ?? 0) > 0, 'canary and baseline pods Ready', 60_000);
    expect(during.status?.baselineReplicas).to.equal(during.status?.canaryReplicas);
    const baselinePods = await w.pods('deployer.dev/role=baseline');
    expect(baselinePods.length).to.be.greaterThan(0);
    const pod = baselinePods[0]!;
    expect(pod.metadata.labels?.['tags.datadoghq.com/version'], 'the baseline keeps the stable version').to.equal('1.0.0');
    expect(pod.metadata.labels?.app, 'the Service selects baseline pods').to.equal('web');
    expect(pod.metadata.labels?.['pod-template-hash']).to.equal(undefined);
    expect(JSON.parse(pod.metadata.annotations?.['ad.datadoghq.com/tags'] ?? '{}')).to.deep.equal({ role: 'baseline' });
    const canaryPod = (await w.pods('deployer.dev/role=canary'))[0];
    expect(JSON.parse(canaryPod?.metadata.annotations?.['ad.datadoghq.com/tags'] ?? '{}')).to.deep.equal({ role: 'canary' });
    const rs = await w.replicaSets('deployer.dev/role=baseline');
    expect(rs.map((r) => r.metadata.name)).to.have.length(1);
    expect(rs[0]?.metadata.ownerReferences?.[0]).to.include({ kind: 'Canary', name: 'web', controller: true });

    w.dd.setSeriesFunction(latencySeries(4));

    const c = await w.waitPhase('web', 'RolledBack');
    expect(c.status?.message, c.status?.message).to.match(/check latency failed 1 time\(s\) \(limit 0\): Fail canary median 10\d(\.\d+)? vs baseline median (9\d|10\d)(\.\d+)? \(\+\d(\.\d+)?%\)/);
    const m = c.status?.checks?.[0]?.measurements.at(-1);
    expect(m?.verdict).to.equal('Fail');
    expect(m?.threshold).to.equal('worse (higher) by more than 2% at p < 0.05, with at least 10 points each');
    expect(m?.message).to.match(/canary median .* \(2\d points\), baseline median .* \(2\d points\), effect \+\d(\.\d+)?% \(higher is worse\), Mann-Whitney U \d+, one-sided p /);
    expect(m?.message).to.match(/queries "avg:http.latency\{service:web,role:canary\}" and "avg:http.latency\{service:web,role:baseline\}"/);
    expect(c.status?.baselineReplicas).to.equal(0);
    await w.waitForPodsGone('deployer.dev/role=baseline');
    await w.waitNoCanaryPods('web');
    expect(await w.replicaSets('deployer.dev/role=baseline')).to.have.length(0);
    // Both series were asked for, with the role rendered into the scope.
    const queries = w.dd.requests('/api/v1/query').map((r) => r.query.query);
    expect(queries).to.include.members(['avg:http.latency{service:web,role:canary}', 'avg:http.latency{service:web,role:baseline}']);
  });

  it('promotes a canary as noisy as its baseline, and removes the baseline pods', async () => {
    w.dd.setSeriesFunction(latencySeries(0));
    await applyCrd();
    await w.setImage('web', 'example.com/web:1.2.0');
    await w.waitFor('web', (c) => c.status?.canaryVersion === '1.2.0' && (c.status?.baselineReadyReplicas ?? 0) > 0, 'baseline pods of 1.2.0 Ready', 60_000);
    const base = await w.pods('deployer.dev/role=baseline');
    expect(base.every((p) => p.metadata.labels?.['tags.datadoghq.com/version'] === '1.0.0')).to.equal(true);

    const c = await w.waitPhase('web', 'Succeeded');
    const ms = c.status?.checks?.[0]?.measurements ?? [];
    expect(ms.length).to.be.greaterThan(0);
    expect(ms.every((m) => m.verdict === 'Pass'), JSON.stringify(ms.map((m) => m.message))).to.equal(true);
    expect(ms.at(-1)?.message).to.match(/no significant difference in the bad direction/);
    expect(c.status?.stableVersion).to.equal('1.2.0');
    await w.waitForPodsGone('deployer.dev/role=baseline');
    expect(await w.replicaSets('deployer.dev/role=baseline')).to.have.length(0);
  });
});
