// Benchmarks on the local control plane (npm run bench; not part of npm test). Prints the
// figures and writes them to .bench/results.json:
//  - admission of a new revision → canary ReplicaSet created (p50, p90), target p50 < 200 ms
//  - the Datadog poll that sees Alert → rollback complete (canary ReplicaSet gone, status RolledBack)
//  - operator memory (RSS) idle and with 100 Canaries
// The operator runs as its own process (node --import tsx src/main.ts), like npm start, and
// like the default install it watches all namespaces (so its caches hold what a real cluster
// would give it: guarded Deployments, canary ReplicaSets, every Canary). On a control plane
// shared with other work, BENCH_OWN_NAMESPACE=1 limits it to the bench's namespace.
import { KubeConfig } from '@kubernetes/client-node';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { ensureCluster, kubectl } from '../support/cluster.js';
import { RawClient, paths, type KubeObject } from '../../src/kube/raw-client.js';
import { DatadogStandIn } from '../datadog/server.js';
import { quantile, sleep, waitUntil } from './stats.js';
import { ROOT, memory as operatorMemory, operatorEntry, startOperatorProcess, waitOperatorReady } from './operator-process.js';

const API_KEY = 'bench-api-key';
const APP_KEY = 'bench-app-key';
/**
 * The bench changes Deployments as a user would, under a field manager of its own: the operator's
 * own writes (its user and field manager "deployer") skip the admission webhook.
 */
const AS_USER = { fieldManager: 'bench-user' };
const median = (xs: number[]): number => quantile(xs, 0.5);

const HEALTH_PORT = 18_181;

const OWN_NAMESPACE = process.env.BENCH_OWN_NAMESPACE === '1';

function startOperator(namespace: string): ChildProcess {
  return startOperatorProcess({ healthPort: HEALTH_PORT, logName: 'bench-operator.log', ...(OWN_NAMESPACE ? { namespaces: [namespace] } : {}) });
}

/** RSS (from /proc) and V8 heap in use (from the operator's own /metrics), in MiB. */
async function memory(pid: number): Promise<{ rssMb: number; heapUsedMb: number }> {
  const { rssMb, heapUsedMb } = await operatorMemory(pid, HEALTH_PORT);
  return { rssMb, heapUsedMb };
}

async function main(): Promise<void> {
  const { kubeconfig } = await ensureCluster();
  process.env.KUBECONFIG = kubeconfig;
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const client = new RawClient(kc);
  const ns = `bench-${Date.now().toString(36)}`;
  await kubectl(['apply', '-f', `${ROOT}crds/`]);
  await kubectl(['create', 'namespace', ns]);
  const dd = await DatadogStandIn.start({ apiKey: API_KEY, appKey: APP_KEY });
  dd.upsertMonitor({ id: 7, name: 'bench errors', tags: ['service:bench'], query: 'avg(last_5m):sum:errors{*} by {version} > 1', groupByVersion: true });
  const apply = async (obj: unknown) => {
    const r = await kubectl(['apply', '-n', ns, '-f', '-'], { input: JSON.stringify(obj) });
    if (r.code !== 0) throw new Error(r.stderr);
  };
  await apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'datadog' }, stringData: { 'api-key': API_KEY, 'app-key': APP_KEY, url: dd.url } });
  const deployment = (name: string, image: string, replicas = 3) => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: { replicas, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image }] } } },
  });

  const op = startOperator(ns);
  const results: Record<string, unknown> = { date: new Date().toISOString(), node: process.version, cpus: (await import('node:os')).cpus().length };
  try {
    // Ready: informers synced; then leading (a standby would not reconcile).
    await waitOperatorReady(HEALTH_PORT, 60_000);
    results.watching = OWN_NAMESPACE ? `namespace ${ns}` : 'all namespaces';
    results.operatorEntry = operatorEntry() === 'compiled' ? 'dist/src/main.js (compiled)' : 'src/main.ts (tsx)';
    results.memoryIdle = await memory(op.pid!);

    // 1. admission → canary ReplicaSet created
    await apply(deployment('web', 'bench/web:0'));
    await kubectl(['rollout', 'status', 'deployment/web', '-n', ns, '--timeout=60s']);
    await apply({ apiVersion: 'deployer.dev/v1alpha1', kind: 'Canary', metadata: { name: 'web' }, spec: { targetRef: { name: 'web' }, steps: [{ setWeight: 10 }, { pause: {} }] } });
    await waitUntil(async () => ((await client.get<{ status?: { phase?: string } }>(paths.canary(ns, 'web'))).status?.phase === 'Waiting' ? true : undefined));
    const admitToCanary: number[] = [];
    for (let i = 1; i <= 20; i++) {
      const t0 = performance.now();
      await client.patch(paths.deployment(ns, 'web'), [{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: `bench/web:${i}` }], 'application/json-patch+json', AS_USER);
      const admitted = performance.now();
      await waitUntil(async () => {
        const list = await client.list<KubeObject>(paths.replicaSets(ns), { labelSelector: 'deployer.dev/canary-of=web' });
        return list.items.some((rs) => rs.metadata.annotations?.['deployer.dev/target'] === 'web' && !rs.metadata.deletionTimestamp && JSON.stringify(rs).includes(`bench/web:${i}"`)) ? true : undefined;
      }, 30_000, 2);
      admitToCanary.push(performance.now() - admitted);
      void t0;
      await sleep(300);
    }
    results.admitToCanaryMs = { p50: round(median(admitToCanary)), p90: round(quantile(admitToCanary, 0.9)), max: round(Math.max(...admitToCanary)), n: admitToCanary.length, target: '< 200 ms p50' };

    // 2. the poll that sees Alert → rollback complete
    await apply(deployment('api', 'bench/api:0'));
    await kubectl(['rollout', 'status', 'deployment/api', '-n', ns, '--timeout=60s']);
    await apply({
      apiVersion: 'deployer.dev/v1alpha1',
      kind: 'Canary',
      metadata: { name: 'api' },
      spec: {
        targetRef: { name: 'api' },
        steps: [{ setWeight: 25 }, { pause: { duration: '1h' } }],
        analysis: { interval: '1s', checks: [{ name: 'errors', datadogMonitor: { id: 7 } }] },
        datadog: { secretRef: { name: 'datadog' } },
      },
    });
    await waitUntil(async () => ((await client.get<{ status?: { phase?: string } }>(paths.canary(ns, 'api'))).status?.phase === 'Waiting' ? true : undefined));
    const alertToRollback: number[] = [];
    for (let i = 1; i <= 10; i++) {
      const version = `${i}.0.0`;
      dd.setVersions([version]);
      await client.patch(paths.deployment(ns, 'api'), [{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: `bench/api:${version}` }], 'application/json-patch+json', AS_USER);
      await waitUntil(async () => {
        const c = await client.get<{ status?: { checks?: Array<{ passes: number }>; canaryVersion?: string } }>(paths.canary(ns, 'api'));
        return c.status?.canaryVersion === version && (c.status.checks?.[0]?.passes ?? 0) >= 1 ? true : undefined;
      }, 60_000, 20);
      dd.clearRequests();
      dd.setAlertVersions([version]);
      await waitUntil(async () => {
        const c = await client.get<{ status?: { phase?: string } }>(paths.canary(ns, 'api'));
        if (c.status?.phase !== 'RolledBack') return undefined;
        const rs = await client.list<KubeObject>(paths.replicaSets(ns), { labelSelector: 'deployer.dev/canary-of=api' });
        return rs.items.length === 0 ? true : undefined;
      }, 30_000, 2);
      const done = Date.now();
      const poll = dd.requests('/api/v1/monitor/7').find((r) => r.status === 200);
      if (poll) alertToRollback.push(done - poll.time);
      dd.setAlertVersions([]);
      await client.patch(paths.canary(ns, 'api'), { metadata: { annotations: { 'deployer.dev/retry': `r${i}` } } }, 'application/merge-patch+json', AS_USER);
      await sleep(200);
    }
    results.alertPollToRollbackMs = { p50: round(median(alertToRollback)), p90: round(quantile(alertToRollback, 0.9)), max: round(Math.max(...alertToRollback)), n: alertToRollback.length, target: '< 1000 ms' };

    // 3. memory with 100 Canaries
    for (let i = 0; i < 100; i++) {
      await apply(deployment(`svc-${i}`, 'bench/svc:1', 1));
      await apply({ apiVersion: 'deployer.dev/v1alpha1', kind: 'Canary', metadata: { name: `svc-${i}` }, spec: { targetRef: { name: `svc-${i}` }, steps: [{ setWeight: 50 }] } });
    }
    await waitUntil(async () => {
      const list = await client.list<{ status?: { phase?: string } }>(paths.canaries(ns));
      return list.items.filter((c) => c.status?.phase === 'Waiting').length >= 100 ? true : undefined;
    }, 180_000, 500);
    await sleep(3_000);
    const rss: number[] = [];
    const heap: number[] = [];
    for (let i = 0; i < 5; i++) {
      const m = await memory(op.pid!);
      rss.push(m.rssMb);
      heap.push(m.heapUsedMb);
      await sleep(1_000);
    }
    results.memoryWith100Canaries = { rssMb: median(rss), heapUsedMb: median(heap) };
  } finally {
    op.kill('SIGTERM');
    await dd.close();
    await kubectl(['delete', 'namespace', ns, '--wait=false']);
    // The operator is gone: clear the finalizers so the namespace can be deleted.
    const list = await client.list<KubeObject>(paths.canaries(ns)).catch(() => ({ items: [] as KubeObject[] }));
    for (const c of list.items) await client.patch(paths.canary(ns, c.metadata.name), { metadata: { finalizers: null } }).catch(() => undefined);
  }
  mkdirSync(`${ROOT}.bench`, { recursive: true });
  writeFileSync(`${ROOT}.bench/results.json`, JSON.stringify(results, null, 2));
  console.log(JSON.stringify(results, null, 2));
  console.log(`written to .bench/results.json`);
}

const round = (x: number): number => Math.round(x * 10) / 10;

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
