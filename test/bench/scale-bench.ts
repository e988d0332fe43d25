// Scale benchmark (npm run bench:scale; not part of npm test). The compiled operator (dist/, one
// process, all namespaces) with N Deployments of one replica (kwok pods) over 10 namespaces, each
// with a Canary (setWeight 20, then a pause; one Datadog monitor check against the local stand-in,
// the checks spread over 50 monitors). For each N (default 0, 100, 300, 1000; --n 0,1000; --quick
// for 0,100), with a fresh operator process:
//  - memory: RSS (/proc), V8 heap used, external and arrayBuffers (the operator's /metrics)
//  - idle CPU per minute (utime + stime from /proc/<pid>/stat, each of 3 minutes with nothing
//    happening, starting 10 s after the settle; the figure is their median), and the Canary status
//    writes in those minutes (a watch on the Canaries: must be 0)
//  - the time for the N new Canaries to settle (all in their steady phase)
//  - a burst of new revisions on 10% at once: time until every canary ReplicaSet exists; while
//    they are in analysis, Datadog calls per analysis interval (from the stand-in's request log)
//    against the distinct (credentials, request) pairs; reconcile latency p50/p99 and the deepest
//    work queue (the operator's /metrics); the operator's API writes per canary lifecycle
//  - reaction to a single new revision (admission → canary ReplicaSet), p50/p99 of 20
//  - at the largest N: the kube-apiserver killed and restarted with the same command line; time
//    until it answers, until every informer's watch is back, and until a new revision is reacted to
// Prints a table and writes .bench/scale.json and .bench/scale.md. The control plane must have
// pod slots for the largest N: the bench adds kwok Nodes if it has too few.
import { KubeConfig, Watch } from '@kubernetes/client-node';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import { clusterDir, ensureCluster, kubeconfigPath, kubectl } from '../support/cluster.js';
import { ARGO_METRIC, burstArgo, createArgoWorkloads, deleteArgoWorkloads, ensureArgoRollouts, installArgoCrds, measureIdle, revertArgoBurst, startArgo, waitArgoAnalysesMeasured, waitArgoHealthy, type ArgoBuild, type ArgoWorkloads } from './argo-rollouts.js';
import { RawClient, PATCH, paths, type KubeObject } from '../../src/kube/raw-client.js';
import { DatadogStandIn } from '../datadog/server.js';
import { histogramQuantile, mapLimit, quantile, sleep, waitUntil } from './stats.js';
import { ROOT, cpuSeconds, freePort, memory, metricSum, operatorEntry, scrapeMetrics, startOperatorProcess, stopOperatorProcess, waitOperatorReady, type MetricSample } from './operator-process.js';

const API_KEY = 'scale-api-key';
const APP_KEY = 'scale-app-key';
const NAMESPACES = 10;
const MONITORS = 50;
let HEALTH_PORT = 0;
/** Analysis interval of every Canary, and the pause after setWeight 20 (long enough to count Datadog calls over 2 intervals). */
const INTERVAL_S = 15;
const PAUSE_S = 60;
const IDLE_MS = 60_000;
/** Idle minutes measured one after another (BENCH_IDLE_MINUTES; default 3): the figure is their median. */
const IDLE_MINUTES = Math.max(1, Number(process.env.BENCH_IDLE_MINUTES ?? 3));
/**
 * BENCH_OWN_NAMESPACE=1: the operator watches only the bench's 10 namespaces (its own lease), for a control
 * plane shared with another operator; by default it watches all namespaces, as the default install does.
 */
const OWN_NAMESPACES = process.env.BENCH_OWN_NAMESPACE === '1';
const REACTIONS = 20;
/** The bench changes Deployments as a user would; the operator's own writes (field manager "deployer") skip the webhook. */
const AS_USER = { fieldManager: 'bench-user' };
const WRITE_VERBS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const STEADY = new Set(['Waiting', 'Succeeded']);
const SETTLED_REASONS = new Set(['Idle', 'Promoted']);

interface CanaryStatusView {
  phase?: string;
  conditions?: Array<{ type: string; status: string; reason?: string }>;
}

interface Args {
  ns: number[];
  restart: boolean;
  compareArgo: boolean;
  /** Run the operator without leader election, as the Argo Rollouts column runs Argo. */
  noLeaderElect: boolean;
}

function parseArgs(argv: string[]): Args {
  let ns = [0, 100, 300, 1000];
  let restart = true;
  let compareArgo = false;
  let noLeaderElect = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--quick') ns = [0, 100];
    else if (a === '--n') ns = (argv[++i] ?? '').split(',').map((s) => Number(s.trim()));
    else if (a.startsWith('--n=')) ns = a.slice(4).split(',').map((s) => Number(s.trim()));
    else if (a === '--no-apiserver-restart') restart = false;
    else if (a === '--compare-argo') compareArgo = true;
    else if (a === '--no-leader-elect') noLeaderElect = true;
    else throw new Error(`unknown argument ${a} (use --n 0,100,1000, --quick, --no-apiserver-restart, --compare-argo, --no-leader-elect)`);
  }
  if (ns.some((n) => !Number.isInteger(n) || n < 0)) throw new Error('--n takes a comma-separated list of whole numbers, e.g. --n 0,100,1000');
  return { ns: [...new Set(ns)].sort((a, b) => a - b), restart, compareArgo, noLeaderElect };
}

export interface ScaleRow {
  n: number;
  rssMb: number;
  heapUsedMb: number;
  /** V8 heap committed (used + free space V8 keeps, the young generation's semi-spaces included). */
  heapTotalMb: number;
  externalMb: number;
  arrayBuffersMb: number;
  /** CPU per minute while idle: the median of the idle minutes (each in idleCpuEachMinute). */
  idleCpuSecondsPerMin: number;
  idleCpuEachMinute: number[];
  /** Canary status writes during the idle minute (resourceVersion changes seen by a watch), and what they changed. */
  idleCanaryWrites: number;
  idleCanaryWriteFields: Record<string, number>;
  /** All the operator's API writes during the idle minute, by verb and resource (leases included). */
  idleApiWrites: Record<string, number>;
  /** What else the operator did in the idle minute: its passes, its API reads, its memory compactions. */
  idleReconciles: number;
  idleApiReads: Record<string, number>;
  idleCompactions: number;
  settleMs: number;
  burst?: {
    size: number;
    allCanaryReplicaSetsMs: number;
    reconcileP50Ms: number;
    reconcileP99Ms: number;
    reconciles: number;
    maxQueueDepth: number;
    writesPerLifecycle: number;
    writesPerLifecycleByResource: Record<string, number>;
    lifecycleMs: number;
    datadog: { callsPerInterval: number; distinctPairs: number; canariesInAnalysis: number; intervals: number; intervalS: number };
  };
  reaction?: { p50Ms: number; p99Ms: number; maxMs: number; n: number };
  apiserverRestart?: { apiserverReadyMs: number; watchesBackMs: number; reactedMs: number; resources: string[] };
  /** The same N with Argo Rollouts (--compare-argo), run after the operator was stopped. */
  argo?: ArgoRow;
}

const round = (x: number): number => Math.round(x * 10) / 10;
const median = (xs: number[]): number => quantile(xs, 0.5);

class Bench {
  readonly run = Date.now().toString(36);
  readonly namespaces = Array.from({ length: NAMESPACES }, (_, k) => `scale-${this.run}-${k}`);
  readonly selector = `deployer-bench=scale-${this.run}`;
  revision = 0;

  constructor(readonly kc: KubeConfig, readonly client: RawClient, readonly dd: DatadogStandIn) {}

  nsOf(i: number): string {
    return this.namespaces[i % NAMESPACES]!;
  }

  deployment(i: number): KubeObject {
    const name = `app-${i}`;
    const labels = { app: name, 'deployer-bench': `scale-${this.run}` };
    return {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name, labels },
      spec: { replicas: 1, selector: { matchLabels: { app: name } }, template: { metadata: { labels }, spec: { containers: [{ name: 'app', image: 'bench/app:0' }] } } },
    };
  }

  canary(i: number): KubeObject {
    return {
      apiVersion: 'deployer.dev/v1alpha1',
      kind: 'Canary',
      metadata: { name: `app-${i}`, labels: { 'deployer-bench': `scale-${this.run}` } },
      spec: {
        targetRef: { name: `app-${i}` },
        steps: [{ setWeight: 20 }, { pause: { duration: `${PAUSE_S}s` } }],
        analysis: { interval: `${INTERVAL_S}s`, checks: [{ name: 'errors', datadogMonitor: { id: (i % MONITORS) + 1 } }] },
        datadog: { secretRef: { name: 'datadog' } },
      },
    };
  }

  async setUp(): Promise<void> {
    for (let id = 1; id <= MONITORS; id++) this.dd.upsertMonitor({ id, name: `scale monitor ${id}`, tags: ['service:scale'], overallState: 'OK' });
    for (const ns of this.namespaces) {
      await this.client.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { 'deployer-bench': `scale-${this.run}` } } });
      await this.client.create(paths.secrets(ns), { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'datadog' }, stringData: { 'api-key': API_KEY, 'app-key': APP_KEY, url: this.dd.url } });
    }
  }

  async listAll<T extends KubeObject>(path: string): Promise<T[]> {
    const items: T[] = [];
    let cont: string | undefined;
    do {
      const page = await this.client.list<T>(path, { labelSelector: this.selector, limit: 500, ...(cont ? { continue: cont } : {}) });
      items.push(...page.items);
      cont = page.metadata.continue || undefined;
    } while (cont);
    return items;
  }

  async canaryPhases(): Promise<Map<string, string>> {
    const list = await this.listAll<KubeObject & { status?: CanaryStatusView }>(paths.canaries());
    return new Map(list.map((c) => [`${c.metadata.namespace}/${c.metadata.name}`, c.status?.phase ?? '']));
  }

  /** Canaries at rest: Waiting or Succeeded, and Ready for the reason that says so (Idle or Promoted; Adopted still takes a pass). */
  async settledCanaries(): Promise<Set<string>> {
    const list = await this.listAll<KubeObject & { status?: CanaryStatusView }>(paths.canaries());
    const out = new Set<string>();
    for (const c of list) {
      const ready = c.status?.conditions?.find((x) => x.type === 'Ready');
      if (STEADY.has(c.status?.phase ?? '') && ready?.status === 'True' && SETTLED_REASONS.has(ready.reason ?? '')) out.add(`${c.metadata.namespace}/${c.metadata.name}`);
    }
    return out;
  }

  /** Canary ReplicaSets whose pod template has the given image, by "<namespace>/<target>". */
  async canaryReplicaSetsWithImage(image: string): Promise<Set<string>> {
    const out = new Set<string>();
    let cont: string | undefined;
    do {
      const page = await this.client.list<KubeObject & { spec?: { template?: { spec?: { containers?: Array<{ image?: string }> } } } }>(paths.replicaSets(), {
        labelSelector: 'deployer.dev/canary-of',
        limit: 500,
        ...(cont ? { continue: cont } : {}),
      });
      for (const rs of page.items) {
        if (rs.metadata.deletionTimestamp || !this.namespaces.includes(rs.metadata.namespace ?? '')) continue;
        if (rs.spec?.template?.spec?.containers?.[0]?.image === image) out.add(`${rs.metadata.namespace}/${rs.metadata.labels?.['deployer.dev/canary-of'] ?? ''}`);
      }
      cont = page.metadata.continue || undefined;
    } while (cont);
    return out;
  }

  async newRevision(i: number, image: string): Promise<void> {
    await this.client.patch(paths.deployment(this.nsOf(i), `app-${i}`), [{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: image }], PATCH.json, AS_USER);
  }

  /** Creates Deployments 0..n-1 and waits until each has its pod available. */
  async createDeployments(n: number): Promise<void> {
    await mapLimit(Array.from({ length: n }, (_, i) => i), 16, (i) => this.client.create(paths.deployments(this.nsOf(i)), this.deployment(i)));
    await waitUntil(async () => {
      const list = await this.listAll<KubeObject & { status?: { availableReplicas?: number } }>(paths.deployments());
      return list.filter((d) => (d.status?.availableReplicas ?? 0) >= 1).length >= n ? true : undefined;
    }, 30 * 60_000, 1000);
  }

  /** Deletes every Canary and Deployment of the run (the operator, still running, lets the Canaries go) and waits until they and their pods are gone. */
  async deleteAll(): Promise<void> {
    for (const ns of this.namespaces) {
      await this.client.request('DELETE', paths.canaries(ns), { query: { labelSelector: this.selector } });
      await this.client.request('DELETE', paths.deployments(ns), { query: { labelSelector: this.selector, propagationPolicy: 'Background' } });
    }
    await waitUntil(async () => ((await this.listAll(paths.canaries())).length === 0 ? true : undefined), 10 * 60_000, 1000);
    await waitUntil(async () => ((await this.listAll('/api/v1/pods')).length === 0 ? true : undefined), 10 * 60_000, 1000);
  }

  /** Counts Canary resourceVersion changes (status writes) while fn runs, and which status fields they changed. */
  async watchCanaryWrites<T>(fn: () => Promise<T>): Promise<{ result: T; writes: number; fields: Record<string, number> }> {
    const list = await this.client.list<KubeObject>(paths.canaries(), { labelSelector: this.selector });
    const last = new Map(list.items.map((c) => [`${c.metadata.namespace}/${c.metadata.name}`, c]));
    let writes = 0;
    const fields: Record<string, number> = {};
    const controller = await new Watch(this.kc).watch(
      paths.canaries(),
      { resourceVersion: list.metadata.resourceVersion, labelSelector: this.selector, allowWatchBookmarks: false },
      (type: string, obj: KubeObject) => {
        if (type !== 'MODIFIED') return;
        const key = `${obj.metadata.namespace}/${obj.metadata.name}`;
        writes++;
        const before = (last.get(key)?.['status'] ?? {}) as Record<string, unknown>;
        const after = (obj['status'] ?? {}) as Record<string, unknown>;
        for (const f of new Set([...Object.keys(before), ...Object.keys(after)])) {
          if (JSON.stringify(before[f]) !== JSON.stringify(after[f])) fields[`status.${f}`] = (fields[`status.${f}`] ?? 0) + 1;
        }
        if (JSON.stringify(last.get(key)?.['spec']) !== JSON.stringify(obj['spec'])) fields['spec'] = (fields['spec'] ?? 0) + 1;
        last.set(key, obj);
      },
      () => undefined,
    );
    try {
      const result = await fn();
      return { result, writes, fields };
    } finally {
      controller.abort();
    }
  }
}

function writesOf(before: MetricSample[], after: MetricSample[], exclude: string[] = [], writes = true): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of after) {
    if (s.name !== 'deployer_kube_requests_total' || WRITE_VERBS.has(s.labels['verb'] ?? '') !== writes) continue;
    if (exclude.includes(s.labels['resource'] ?? '')) continue;
    const prev = metricSum(before, s.name, { verb: s.labels['verb']!, resource: s.labels['resource']! });
    const d = s.value - prev;
    if (d > 0) out[`${s.labels['verb']} ${s.labels['resource']}`] = d;
  }
  return out;
}

function reconcileQuantiles(before: MetricSample[], after: MetricSample[], controller = 'canary'): { p50: number; p99: number; count: number } {
  const buckets = after
    .filter((s) => s.name === 'deployer_reconcile_duration_seconds_bucket' && s.labels['controller'] === controller)
    .map((s) => ({ le: s.labels['le'] === '+Inf' ? Infinity : Number(s.labels['le']), count: s.value - metricSum(before, s.name, { controller, le: s.labels['le']! }) }));
  const count = buckets.find((b) => b.le === Infinity)?.count ?? 0;
  return { p50: histogramQuantile(buckets, 0.5) * 1000, p99: histogramQuantile(buckets, 0.99) * 1000, count };
}

/** Adds kwok Nodes (as test/cluster/up.sh creates them) until the cluster has pod slots for `pods` more pods. */
export async function ensurePodSlots(client: RawClient, pods: number): Promise<number> {
  const nodes = await client.list<KubeObject & { status?: { allocatable?: { pods?: string } } }>('/api/v1/nodes');
  const used = (await client.list<KubeObject>('/api/v1/pods', { fieldSelector: 'status.phase!=Succeeded,status.phase!=Failed' })).items.length;
  const capacity = nodes.items.reduce((a, n) => a + Number(n.status?.allocatable?.pods ?? 0), 0);
  const missing = pods + used - capacity;
  if (missing <= 0) return 0;
  const per = 250;
  const add = Math.ceil(missing / per);
  const names = new Set(nodes.items.map((n) => n.metadata.name));
  let k = 0;
  const created: string[] = [];
  for (let j = 0; j < add; j++) {
    while (names.has(`kwok-node-${k}`)) k++;
    const name = `kwok-node-${k}`;
    names.add(name);
    const capacityOf = { cpu: '64', memory: '256Gi', pods: String(per), 'ephemeral-storage': '1Ti' };
    await client.create('/api/v1/nodes', {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name,
        annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
        labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64', 'node-role.kubernetes.io/agent': '', 'topology.kubernetes.io/zone': `zone-${k % 3}`, type: 'kwok' },
      },
      status: { capacity: capacityOf, allocatable: capacityOf },
    });
    await client.request('PATCH', `/api/v1/nodes/${name}/status`, { body: { status: { capacity: capacityOf, allocatable: capacityOf } }, contentType: PATCH.merge });
    created.push(name);
  }
  await waitUntil(async () => {
    const list = await client.list<KubeObject & { status?: { conditions?: Array<{ type: string; status: string }> } }>('/api/v1/nodes');
    return created.every((n) => list.items.find((x) => x.metadata.name === n)?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) ? true : undefined;
  }, 120_000, 500);
  return add;
}

/** Kills the control plane's kube-apiserver and starts it again with the same command line (its pid file updated for down.sh). */
async function restartApiserver(): Promise<number> {
  const pidFile = join(clusterDir, 'kube-apiserver.pid');
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  const port = Number(/--secure-port=(\d+)/.exec(argv.join(' '))?.[1]);
  const killedAt = Date.now();
  process.kill(pid, 'SIGKILL');
  // A killed process's threads may hold its listening socket a little after the pid turned zombie.
  await waitUntil(async () => (existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z') ? undefined : true), 30_000, 20);
  for (let attempt = 1; ; attempt++) {
    await waitUntil(async () => ((await portOpen(port)) ? undefined : true), 30_000, 50);
    const log = openSync(join(clusterDir, 'logs', 'kube-apiserver.log'), 'a');
    const child: ChildProcess = spawn('setsid', ['bash', '-c', 'echo $$ >"$0"; exec "$@"', pidFile, ...argv], { detached: true, stdio: ['ignore', log, log] });
    child.unref();
    closeSync(log);
    await sleep(2_000);
    const started = Number(readFileSync(pidFile, 'utf8').trim());
    if (started !== pid && existsSync(`/proc/${started}`)) return killedAt;
    if (attempt >= 10) throw new Error(`the kube-apiserver did not start again; see ${join(clusterDir, 'logs', 'kube-apiserver.log')}`);
  }
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function measureN(b: Bench, n: number, restart: boolean, extraArgs: string[] = []): Promise<ScaleRow> {
  const log = (m: string): void => console.error(`[scale N=${n}] ${m}`);
  log('creating Deployments');
  await b.createDeployments(n);
  log('starting the operator');
  const op = startOperatorProcess({ healthPort: HEALTH_PORT, logName: `scale-operator-${n}.log`, extraArgs, ...(OWN_NAMESPACES ? { namespaces: b.namespaces } : {}) });
  try {
    await waitOperatorReady(HEALTH_PORT, 120_000, op);
    const pid = op.pid!;

    // Settle: N new Canaries, until all are in their steady phase.
    const t0 = performance.now();
    await mapLimit(Array.from({ length: n }, (_, i) => i), 16, (i) => b.client.create(paths.canaries(b.nsOf(i)), b.canary(i)));
    await waitUntil(async () => ((await b.settledCanaries()).size >= n ? true : undefined), 30 * 60_000, 250);
    const settleMs = performance.now() - t0;
    log(`settled in ${Math.round(settleMs)} ms`);
    await sleep(10_000);

    // Idle minutes: CPU of each, Canary writes, API writes.
    const m0 = await scrapeMetrics(HEALTH_PORT);
    const idle = await b.watchCanaryWrites(async () => {
      const minutes: number[] = [];
      for (let k = 0; k < IDLE_MINUTES; k++) {
        const cpu0 = cpuSeconds(pid);
        await sleep(IDLE_MS);
        minutes.push(round(((cpuSeconds(pid) - cpu0) * 60_000 * 100) / IDLE_MS) / 100);
      }
      return minutes;
    });
    const m1 = await scrapeMetrics(HEALTH_PORT);
    const samples = [];
    for (let k = 0; k < 3; k++) {
      samples.push(await memory(pid, HEALTH_PORT));
      await sleep(1000);
    }
    const row: ScaleRow = {
      n,
      rssMb: median(samples.map((s) => s.rssMb)),
      heapUsedMb: median(samples.map((s) => s.heapUsedMb)),
      heapTotalMb: median(samples.map((s) => s.heapTotalMb)),
      externalMb: median(samples.map((s) => s.externalMb)),
      arrayBuffersMb: median(samples.map((s) => s.arrayBuffersMb)),
      idleCpuSecondsPerMin: median(idle.result),
      idleCpuEachMinute: idle.result,
      idleCanaryWrites: idle.writes,
      idleCanaryWriteFields: idle.fields,
      idleApiWrites: writesOf(m0, m1),
      idleReconciles: metricSum(m1, 'deployer_reconcile_total', {}) - metricSum(m0, 'deployer_reconcile_total', {}),
      idleApiReads: writesOf(m0, m1, [], false),
      idleCompactions: metricSum(m1, 'deployer_memory_compactions_total', {}) - metricSum(m0, 'deployer_memory_compactions_total', {}),
      settleMs: Math.round(settleMs),
    };
    log(`idle: ${row.idleCpuSecondsPerMin} s CPU/min (median; each minute ${row.idleCpuEachMinute.join(', ')} s), ${row.idleCanaryWrites} Canary writes, RSS ${row.rssMb} MiB`);
    log(`idle minute: ${row.idleReconciles} passes, ${row.idleCompactions} memory compactions, writes ${JSON.stringify(row.idleApiWrites)}, reads ${JSON.stringify(row.idleApiReads)}`);

    if (n >= 10) {
      // Burst: a new revision on 10% at once (Deployments REACTIONS.. so the reaction set stays apart).
      const size = Math.max(1, Math.round(n / 10));
      const burst = Array.from({ length: size }, (_, j) => (REACTIONS + j) % n);
      const image = `bench/app:burst-${++b.revision}`;
      const before = await scrapeMetrics(HEALTH_PORT);
      b.dd.clearRequests();
      let maxDepth = 0;
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          const s = await scrapeMetrics(HEALTH_PORT).catch(() => []);
          maxDepth = Math.max(maxDepth, metricSum(s, 'deployer_workqueue_depth', { controller: 'canary' }));
          await sleep(100);
        }
      })();
      const tb = performance.now();
      await Promise.all(burst.map((i) => b.newRevision(i, image)));
      const want = new Set(burst.map((i) => `${b.nsOf(i)}/app-${i}`));
      await waitUntil(async () => {
        const have = await b.canaryReplicaSetsWithImage(image);
        return [...want].every((k) => have.has(k)) ? true : undefined;
      }, 10 * 60_000, 50);
      const allCanaryReplicaSetsMs = performance.now() - tb;
      log(`burst of ${size}: all canary ReplicaSets in ${Math.round(allCanaryReplicaSetsMs)} ms`);
      // Datadog: count over 2 intervals once the canaries are analysing.
      await waitUntil(async () => {
        const phases = await b.canaryPhases();
        return [...want].every((k) => phases.get(k) === 'Paused' || phases.get(k) === 'Progressing') ? true : undefined;
      }, 5 * 60_000, 500);
      await sleep(INTERVAL_S * 1000);
      const w0 = Date.now();
      await sleep(2 * INTERVAL_S * 1000);
      const w1 = Date.now();
      const calls = b.dd.requests('/api/v1/monitor').filter((r) => r.time >= w0 && r.time < w1);
      const distinctPairs = new Set(calls.map((r) => `${r.apiKey} ${r.appKey} ${r.path} ${JSON.stringify(r.query)}`)).size;
      const datadog = { callsPerInterval: calls.length / 2, distinctPairs, canariesInAnalysis: size, intervals: 2, intervalS: INTERVAL_S };
      log(`Datadog: ${datadog.callsPerInterval} calls per ${INTERVAL_S} s interval, ${distinctPairs} distinct (credentials, request) pairs`);
      // Lifecycle: until every burst Canary is back in a steady phase.
      await waitUntil(async () => {
        const settled = await b.settledCanaries();
        return [...want].every((k) => settled.has(k)) ? true : undefined;
      }, 10 * 60_000, 500);
      const lifecycleMs = performance.now() - tb;
      sampling = false;
      await sampler;
      const after = await scrapeMetrics(HEALTH_PORT);
      const writes = writesOf(before, after, ['leases']);
      const total = Object.values(writes).reduce((a, x) => a + x, 0);
      const rq = reconcileQuantiles(before, after);
      row.burst = {
        size,
        allCanaryReplicaSetsMs: Math.round(allCanaryReplicaSetsMs),
        reconcileP50Ms: round(rq.p50),
        reconcileP99Ms: round(rq.p99),
        reconciles: rq.count,
        maxQueueDepth: maxDepth,
        writesPerLifecycle: round(total / size),
        writesPerLifecycleByResource: Object.fromEntries(Object.entries(writes).map(([k, v]) => [k, round(v / size)])),
        lifecycleMs: Math.round(lifecycleMs),
        datadog,
      };
      log(`lifecycle done in ${Math.round(lifecycleMs)} ms; ${row.burst.writesPerLifecycle} API writes per canary`);
    }

    if (n >= REACTIONS) {
      const times: number[] = [];
      for (let j = 0; j < REACTIONS; j++) {
        const image = `bench/app:single-${++b.revision}`;
        const key = `${b.nsOf(j)}/app-${j}`;
        await b.newRevision(j, image);
        const admitted = performance.now();
        await waitUntil(async () => ((await b.canaryReplicaSetsWithImage(image)).has(key) ? true : undefined), 60_000, 5);
        times.push(performance.now() - admitted);
        await sleep(300);
      }
      row.reaction = { p50Ms: round(median(times)), p99Ms: round(quantile(times, 0.99)), maxMs: round(Math.max(...times)), n: times.length };
      log(`single new revision: p50 ${row.reaction.p50Ms} ms, p99 ${row.reaction.p99Ms} ms`);
    }

    if (restart && n > 0) {
      const i = n - 1;
      const resources = [...new Set((await scrapeMetrics(HEALTH_PORT)).filter((s) => s.name === 'deployer_informer_watch_started_timestamp_seconds').map((s) => s.labels['resource']!))];
      log('restarting the kube-apiserver');
      const killedAt = await restartApiserver();
      await waitUntil(async () => ((await kubectl(['get', '--raw', '/readyz'], { timeoutMs: 5_000 })).code === 0 || undefined), 5 * 60_000, 100);
      const apiserverReadyMs = Date.now() - killedAt;
      await waitUntil(async () => {
        const s = await scrapeMetrics(HEALTH_PORT).catch(() => []);
        return resources.every((r) => metricSum(s, 'deployer_informer_watch_started_timestamp_seconds', { resource: r }) * 1000 > killedAt) ? true : undefined;
      }, 5 * 60_000, 100);
      const watchesBackMs = Date.now() - killedAt;
      const image = `bench/app:after-restart-${++b.revision}`;
      await waitUntil(async () => ((await b.newRevision(i, image).then(() => true).catch(() => false)) || undefined), 5 * 60_000, 200);
      await waitUntil(async () => ((await b.canaryReplicaSetsWithImage(image)).has(`${b.nsOf(i)}/app-${i}`) ? true : undefined), 5 * 60_000, 20);
      row.apiserverRestart = { apiserverReadyMs, watchesBackMs, reactedMs: Date.now() - killedAt, resources };
      log(`apiserver restart: up after ${apiserverReadyMs} ms, watches back after ${watchesBackMs} ms, new revision reacted to after ${row.apiserverRestart.reactedMs} ms`);
    }

    log('deleting the objects');
    await b.deleteAll();
    return row;
  } finally {
    await stopOperatorProcess(op);
  }
}

export interface ArgoRow {
  version: string;
  rssMb: number;
  idleCpuSecondsPerMin: number;
  settleMs: number;
  burst?: { size: number; allCanaryReplicaSetsMs: number; datadogCallsPerInterval: number };
}

/** Argo Rollouts alone on the control plane with the same N (test/bench/argo-rollouts.ts): a fresh controller process and fresh namespaces. */
async function measureArgoN(client: RawClient, dd: DatadogStandIn, build: ArgoBuild, run: string, n: number): Promise<ArgoRow> {
  const log = (m: string): void => console.error(`[argo N=${n}] ${m}`);
  const namespaces = Array.from({ length: NAMESPACES }, (_, k) => `argo-${run}-${n}-${k}`);
  const argo = await startArgo(kubeconfigPath, { bin: build.bin, healthzPort: await freePort(), metricsPort: await freePort(), logFile: join(clusterDir, 'logs', `scale-argo-${n}.log`) });
  let w: ArgoWorkloads | undefined;
  try {
    const t0 = performance.now();
    let settleMs = 0;
    if (n > 0) {
      w = await createArgoWorkloads(client, {
        namespaces,
        perNamespace: Math.ceil(n / NAMESPACES),
        monitorIds: Array.from({ length: MONITORS }, (_, i) => i + 1),
        datadogAddress: dd.url,
        apiKey: API_KEY,
        appKey: APP_KEY,
        analysisInterval: `${INTERVAL_S}s`,
        prefix: `argo-${run}-${n}`,
      });
      await waitArgoHealthy(client, w, 30 * 60_000);
      settleMs = Math.round(performance.now() - t0);
      log(`all Healthy in ${settleMs} ms`);
    }
    await sleep(10_000);
    const idle = await measureIdle(argo.pid, IDLE_MS);
    const row: ArgoRow = { version: build.version, rssMb: idle.rssMiB.last, idleCpuSecondsPerMin: idle.cpuSecondsPerMinute, settleMs };
    log(`idle: ${row.idleCpuSecondsPerMin} s CPU/min, RSS ${row.rssMb} MiB`);
    if (w && n >= 10) {
      dd.clearRequests();
      const burst = await burstArgo(client, w, { timeoutMs: 10 * 60_000 });
      log(`burst of ${burst.changed.length}: all canary ReplicaSets in ${burst.allCanaryReplicaSetsMs} ms`);
      await waitArgoAnalysesMeasured(client, burst, 5 * 60_000);
      const w0 = Date.now();
      await sleep(2 * INTERVAL_S * 1000);
      const calls = dd.requests('/api/').filter((r) => r.time >= w0 && r.time < w0 + 2 * INTERVAL_S * 1000).length;
      row.burst = { size: burst.changed.length, allCanaryReplicaSetsMs: burst.allCanaryReplicaSetsMs, datadogCallsPerInterval: calls / 2 };
      log(`Datadog: ${calls / 2} calls per ${INTERVAL_S} s interval`);
      await revertArgoBurst(client, w, burst, 10 * 60_000);
    }
    return row;
  } finally {
    await argo.stop();
    if (w) {
      await deleteArgoWorkloads(w);
      await waitUntil(async () => {
        const list = await client.list<KubeObject>('/api/v1/namespaces');
        return list.items.some((x) => namespaces.includes(x.metadata.name)) ? undefined : true;
      }, 15 * 60_000, 2000);
    }
  }
}

const fmt = (x: number | undefined, unit = ''): string => (x === undefined || Number.isNaN(x) ? '–' : `${x}${unit}`);

/** Deployer | Argo Rollouts, for the figures both have. */
export function compareTable(rows: ScaleRow[]): string {
  const head = ['N', 'RSS MiB, Deployer / Argo', 'idle CPU s/min, Deployer / Argo', 'settle N new, Deployer / Argo', 'burst 10%: all canary RS, Deployer / Argo', 'Datadog calls / interval in the burst, Deployer / Argo'];
  const lines = rows.map((r) => [
    String(r.n),
    `${fmt(r.rssMb)} / ${fmt(r.argo?.rssMb)}`,
    `${fmt(r.idleCpuSecondsPerMin)} / ${fmt(r.argo?.idleCpuSecondsPerMin)}`,
    `${r.settleMs} ms / ${r.argo ? `${r.argo.settleMs} ms` : '–'}`,
    `${r.burst ? `${r.burst.allCanaryReplicaSetsMs} ms` : '–'} / ${r.argo?.burst ? `${r.argo.burst.allCanaryReplicaSetsMs} ms` : '–'}`,
    `${r.burst ? r.burst.datadog.callsPerInterval : '–'} / ${r.argo?.burst ? r.argo.burst.datadogCallsPerInterval : '–'}`,
  ]);
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...lines.map((l) => `| ${l.join(' | ')} |`)].join('\n');
}

export function table(rows: ScaleRow[]): string {
  const head = ['N', 'RSS MiB', 'heap used / committed MiB', 'external MiB', 'arrayBuffers MiB', 'idle CPU s/min', 'Canary writes idle min', 'settle N new', 'burst 10%: all canary RS', 'reaction p50 / p99', 'reconcile p50 / p99', 'max queue', 'API writes / lifecycle', 'Datadog calls / interval (distinct pairs)', 'apiserver restart: up / watches / reacted'];
  const lines = rows.map((r) => [
    String(r.n),
    fmt(r.rssMb),
    `${fmt(r.heapUsedMb)} / ${fmt(r.heapTotalMb)}`,
    fmt(r.externalMb),
    fmt(r.arrayBuffersMb),
    fmt(r.idleCpuSecondsPerMin),
    String(r.idleCanaryWrites),
    `${r.settleMs} ms`,
    r.burst ? `${r.burst.allCanaryReplicaSetsMs} ms (${r.burst.size})` : '–',
    r.reaction ? `${r.reaction.p50Ms} / ${r.reaction.p99Ms} ms` : '–',
    r.burst ? `${r.burst.reconcileP50Ms} / ${r.burst.reconcileP99Ms} ms` : '–',
    r.burst ? String(r.burst.maxQueueDepth) : '–',
    r.burst ? String(r.burst.writesPerLifecycle) : '–',
    r.burst ? `${r.burst.datadog.callsPerInterval} (${r.burst.datadog.distinctPairs})` : '–',
    r.apiserverRestart ? `${r.apiserverRestart.apiserverReadyMs} / ${r.apiserverRestart.watchesBackMs} / ${r.apiserverRestart.reactedMs} ms` : '–',
  ]);
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...lines.map((l) => `| ${l.join(' | ')} |`)].join('\n');
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  HEALTH_PORT = Number(process.env.BENCH_HEALTH_PORT ?? (await freePort()));
  const { kubeconfig } = await ensureCluster();
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const client = new RawClient(kc);
  await kubectl(['apply', '-f', `${ROOT}crds/`]);
  const maxN = Math.max(...args.ns);
  const addedNodes = await ensurePodSlots(client, maxN + Math.ceil(maxN / 10) + REACTIONS + 50);
  if (addedNodes) console.error(`[scale] added ${addedNodes} kwok Node(s) for ${maxN} pods`);
  const dd = await DatadogStandIn.start({ apiKey: API_KEY, appKey: APP_KEY });
  const b = new Bench(kc, client, dd);
  const rows: ScaleRow[] = [];
  const started = new Date().toISOString();
  const conditions = {
    date: started,
    node: process.version,
    cpus: cpus().length,
    operator: `${operatorEntry() === 'compiled' ? 'dist/src/main.js (compiled)' : 'src/main.ts (tsx)'}, one process, ${OWN_NAMESPACES ? 'the bench\'s 10 namespaces' : 'all namespaces'}, leader election ${args.noLeaderElect ? 'off' : 'on'}`,
    canary: `setWeight 20, pause ${PAUSE_S}s; one Datadog monitor check every ${INTERVAL_S}s over ${MONITORS} monitors (local stand-in)`,
    namespaces: NAMESPACES,
    clusterDir,
  };
  // Written after each N, so a failure at a large N keeps the smaller ones.
  const write = (): string => {
    mkdirSync(`${ROOT}.bench`, { recursive: true });
    writeFileSync(`${ROOT}.bench/scale.json`, JSON.stringify({ conditions, rows }, null, 2));
    const md = [
      `# npm run bench:scale (${started})`,
      '',
      `Node ${process.version}, ${cpus().length} CPUs; ${conditions.operator}; ${conditions.canary}; ${NAMESPACES} namespaces.`,
      '',
      table(rows),
      '',
      ...(rows.some((r) => r.argo) ? [`Deployer | Argo Rollouts ${rows.find((r) => r.argo)?.argo?.version ?? ''} (one at a time on the same control plane; Argo: setWeight 20 + pause, a Datadog AnalysisTemplate every ${INTERVAL_S}s):`, '', compareTable(rows), ''] : []),
    ].join('\n');
    writeFileSync(`${ROOT}.bench/scale.md`, md);
    return md;
  };
  try {
    await b.setUp();
    for (const n of args.ns) {
      rows.push(await measureN(b, n, args.restart && n === maxN, args.noLeaderElect ? ['--no-leader-elect'] : []));
      write();
    }
    if (args.compareArgo) {
      // Argo Rollouts after the operator has stopped: never both at once.
      const build = await ensureArgoRollouts();
      await installArgoCrds(build.crdsDir);
      dd.setSeries(new RegExp(ARGO_METRIC.replace(/\./g, '\\.')), { value: 0 });
      for (const row of rows) {
        row.argo = await measureArgoN(client, dd, build, b.run, row.n);
        write();
      }
    }
  } finally {
    await dd.close();
    for (const ns of b.namespaces) await client.delete(`/api/v1/namespaces/${ns}`).catch(() => undefined);
    // Where Argo Rollouts read its Datadog Secret (createArgoWorkloads' default controller namespace).
    if (args.compareArgo) await client.delete('/api/v1/namespaces/argo-rollouts').catch(() => undefined);
    // Canaries left by a failed run keep their finalizer without an operator: clear it so the namespaces go.
    const left = await b.listAll(paths.canaries()).catch(() => [] as KubeObject[]);
    for (const c of left) await client.patch(paths.canary(c.metadata.namespace!, c.metadata.name), { metadata: { finalizers: null } }).catch(() => undefined);
  }
  console.log(write());
  console.log(JSON.stringify({ conditions, rows }, null, 2));
  console.log('written to .bench/scale.json and .bench/scale.md');
}

// Run as a script (npm run bench:scale); imported (ensurePodSlots), it does nothing.
if (process.argv[1] && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url))) void main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
