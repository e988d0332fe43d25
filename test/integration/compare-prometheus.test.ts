// Canary against baseline read from Debian's real Prometheus, on the real control plane. A small
// exporter on 127.0.0.1 serves one latency series per role (label role="canary" / "baseline") for as
// long as pods of that role exist in the namespace, as a Prometheus scraping the pods with their
// deployer.dev/role label relabelled to `role` would see them; the test sets each role's value.
// The Canaries have no spec.datadog: a compare check with compare.prometheus needs none.
// Given / When / Then.
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { expect } from 'chai';
import type { CheckSpec } from '../../src/api/types.js';
import { closedPort } from '../datadog/harness.js';
import { eventually } from '../support/cluster.js';
import { Prometheus, ensurePrometheus } from '../support/prometheus.js';
import { World } from '../support/world.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const STEPS = [{ setWeight: 50 }, { pause: { duration: '5s' } }];
const QUERY = 'max(app_latency_ms{namespace="{{ namespace }}",role="{{ role }}"})';

/** Noise in [−3, 3), fixed for a second: the same value whoever asks. */
function noise(second: number): number {
  const h = createHash('sha256').update(String(second)).digest();
  return (h.readUInt32BE(0) / 2 ** 32) * 6 - 3;
}

/**
 * /metrics with app_latency_ms{role} for every role that has pods: around 100 ms, the canary
 * `canaryShift` ms slower. The baseline's noise is the canary's one second later, so with no shift
 * both series hold nearly the same values: equally noisy.
 */
class Exporter {
  readonly roles = new Set<string>();
  /** The namespace label of the series (each scenario has its own, as Kubernetes service discovery labels them). */
  namespace = '';
  canaryShift = 0;
  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(): Promise<Exporter> {
    let self: Exporter | undefined;
    const server = createServer((req, res) => {
      if (!self || req.url !== '/metrics') return res.writeHead(404).end();
      const s = Math.floor(Date.now() / 1000);
      const lines = ['# HELP app_latency_ms Request latency.', '# TYPE app_latency_ms gauge'];
      for (const role of [...self.roles].sort()) {
        const v = role === 'canary' ? 100 + self.canaryShift + noise(s) : 100 + noise(s + 1);
        lines.push(`app_latency_ms{namespace="${self.namespace}",role="${role}"} ${v.toFixed(3)}`);
      }
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(`${lines.join('\n')}\n`);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const a = server.address();
    self = new Exporter(server, typeof a === 'object' && a ? a.port : 0);
    return self;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** Keeps exporter.roles equal to the roles of the pods in the namespace (deployer.dev/role), until stopped. */
function followPods(w: World, exporter: Exporter): () => void {
  let on = true;
  void (async () => {
    while (on) {
      const pods = await w.pods('deployer.dev/role').catch(() => undefined);
      if (pods) {
        const now = new Set(pods.map((p) => p.metadata.labels?.['deployer.dev/role'] ?? '').filter((r) => r !== ''));
        for (const r of [...exporter.roles]) if (!now.has(r)) exporter.roles.delete(r);
        for (const r of now) exporter.roles.add(r);
      }
      await sleep(200);
    }
  })();
  return () => void (on = false);
}

describe('compare on Prometheus: canary against baseline on the real control plane', function () {
  this.timeout(180_000);
  let exporter: Exporter;
  let prom: Prometheus;
  let w: World;
  let stopFollowing: () => void = () => undefined;

  const latency = (address = prom.url): CheckSpec => ({
    name: 'latency',
    compare: { query: QUERY, prometheus: { address }, window: '30s', step: '1s', minPoints: 10, tolerance: 0.05, significance: 0.05 },
  });

  /** Given: a Canary guarding "web" with baseline pods and this Prometheus compare check, and no spec.datadog. */
  async function given(check: CheckSpec): Promise<void> {
    await w.canary('web', { steps: STEPS, progressDeadline: '90s', analysis: { interval: '1s', failureLimit: 0, consecutiveErrorLimit: 2, baseline: true, checks: [check] } });
    await w.waitPhase('web', 'Waiting');
  }

  before(async function () {
    this.timeout(900_000); // the first run may install the Debian package
    const { bin } = await ensurePrometheus();
    exporter = await Exporter.start();
    prom = await Prometheus.start(bin, [{ job: 'app', target: `127.0.0.1:${exporter.port}` }]);
  });
  after(async () => {
    await prom?.stop();
    await exporter?.close();
  });
  /** A namespace of its own with the operator and a Deployment "web" at 1.0.0 with 2 pods. */
  async function setUp(): Promise<void> {
    exporter.roles.clear();
    exporter.canaryShift = 0;
    w = await World.create('promcompare');
    exporter.namespace = w.ns;
    await w.startOperator();
    stopFollowing = followPods(w, exporter);
    await w.deployment('web', 'example.com/web:1.0.0', { replicas: 2 });
  }
  async function tearDown(): Promise<void> {
    stopFollowing();
    await w.teardown();
  }

  beforeEach(setUp);
  afterEach(tearDown);

  it('rolls back a canary significantly slower than its baseline, and removes the baseline pods', async () => {
    await given(latency());
    exporter.canaryShift = 10; // 110 ms against 100 ms (±3); the tolerance is 5%
    await w.setImage('web', 'example.com/web:2.0.0');

    // The baseline pods run the stable version next to the canary pods, and Prometheus has both series.
    const during = await w.waitFor('web', (c) => (c.status?.baselineReadyReplicas ?? 0) > 0 && (c.status?.canaryReadyReplicas ?? 0) > 0, 'canary and baseline pods Ready', 60_000);
    expect(during.status?.baselineReplicas).to.equal(during.status?.canaryReplicas);
    const base = await w.pods('deployer.dev/role=baseline');
    expect(base.every((p) => p.metadata.labels?.['tags.datadoghq.com/version'] === '1.0.0')).to.equal(true);
    await eventually(async () => {
      const r = await prom.query(`count(app_latency_ms{namespace="${w.ns}"})`);
      if (!r.ok || r.data.result[0]?.value?.[1] !== '2') throw new Error(`Prometheus does not have both roles yet: ${JSON.stringify(r)}`);
    }, { timeoutMs: 30_000, intervalMs: 200 });

    const c = await w.waitPhase('web', 'RolledBack');
    expect(c.status?.message).to.match(/check latency failed 1 time\(s\) \(limit 0\): Fail canary median 1[01]\d(\.\d+)? vs baseline median (9\d|10\d)(\.\d+)? \(\+\d+(\.\d+)?%\)/);
    const m = c.status?.checks?.[0]?.measurements.at(-1);
    expect(m?.verdict).to.equal('Fail');
    expect(m?.threshold).to.equal('worse (higher) by more than 5% at p < 0.05, with at least 10 points each');
    expect(m?.message).to.match(/^the canary is significantly worse \(higher\) than the baseline, beyond the tolerance: canary median 1[01]\d(\.\d+)? \(\d+ points\), baseline median .* effect \+\d+(\.\d+)?% \(higher is worse\), Mann-Whitney U \d+, one-sided p /);
    expect(m?.message).to.contain(`queries "max(app_latency_ms{namespace="${w.ns}",role="canary"})" and "max(app_latency_ms{namespace="${w.ns}",role="baseline"})"`);
    expect(m?.message).to.match(/ every 1s$/);
    expect(m?.url).to.match(new RegExp(`^${prom.url.replace(/[.]/g, '\\.')}/graph\\?g0\\.expr=`));
    // Then: canary and baseline pods are gone, and so is the baseline ReplicaSet.
    await w.waitForPodsGone('deployer.dev/role=baseline');
    await w.waitNoCanaryPods('web');
    expect(await w.replicaSets('deployer.dev/role=baseline')).to.have.length(0);
    expect((await w.get('web')).status?.baselineReplicas).to.equal(0);
    await w.waitForEvents('web', ['CheckFailed']);
  });

  it('promotes a canary as noisy as its baseline, and removes the baseline pods', async () => {
    await given(latency());
    exporter.canaryShift = 0;
    await w.setImage('web', 'example.com/web:2.0.0');
    await w.waitFor('web', (c) => (c.status?.baselineReadyReplicas ?? 0) > 0, 'baseline pods Ready', 60_000);

    const c = await w.waitPhase('web', 'Succeeded');
    const ms = c.status?.checks?.[0]?.measurements ?? [];
    expect(ms.some((m) => m.verdict === 'Pass')).to.equal(true);
    expect(ms.every((m) => m.verdict === 'Pass' || m.verdict === 'Inconclusive'), JSON.stringify(ms.map((m) => m.message))).to.equal(true);
    expect(ms.at(-1)?.verdict).to.equal('Pass');
    expect(ms.at(-1)?.message).to.match(/canary median (9\d|10\d)(\.\d+)? \(\d+ points\), baseline median (9\d|10\d)(\.\d+)? \(\d+ points\)/);
    expect(c.status?.stableVersion).to.equal('2.0.0');
    await w.waitForPodsGone('deployer.dev/role=baseline');
    expect(await w.replicaSets('deployer.dev/role=baseline')).to.have.length(0);
    await w.waitForEvents('web', ['Promoted']);
  });

  it('rolls back after consecutiveErrorLimit errors when Prometheus is down, never promoting, and removes the baseline pods', async () => {
    const port = await closedPort();
    await given(latency(`http://127.0.0.1:${port}`));
    const phases = new Set<string>();
    let watching = true;
    void (async () => {
      while (watching) {
        const c = await w.get('web').catch(() => undefined);
        if (c?.status?.phase) phases.add(c.status.phase);
        await sleep(100);
      }
    })();
    await w.setImage('web', 'example.com/web:2.0.0');

    const c = await w.waitPhase('web', 'RolledBack');
    watching = false;
    expect([...phases]).to.not.include('Promoting');
    expect([...phases]).to.not.include('Succeeded');
    const cs = c.status?.checks?.[0];
    expect(cs?.consecutiveErrors).to.equal(2);
    expect(cs?.passes).to.equal(0);
    expect(cs?.measurements.every((m) => m.verdict === 'Error')).to.equal(true);
    expect(cs?.measurements[0]?.message).to.equal(`cannot reach Prometheus at 127.0.0.1:${port}: ECONNREFUSED`);
    await w.waitForPodsGone('deployer.dev/role=baseline');
    await w.waitNoCanaryPods('web');
    await w.waitForEvents('web', ['CheckErrors']);
  });
});
