// Where the operator's memory and idle CPU go, at N Canaries (not part of npm test):
//
//   npm run build && CLUSTER_DIR=/work/clusters/lean npx tsx test/bench/memory-profile.ts --n 1000 [--cpu-profile] [--heap-snapshot]
//
// On the control plane of CLUSTER_DIR (default .cluster; 1,000 kwok pods need one of its own with
// CLUSTER_NODES ≥ 5) it makes sure exactly N Deployments of 1 replica exist, each with a Canary
// (steps setWeight 20 + pause 1h, one Datadog monitor check against the local stand-in), spread
// over 10 namespaces memprof-0…9 (kept between runs: re-measuring is fast; --n 0 removes them).
// Then it starts the compiled operator (dist/, npm run build) on all namespaces, waits until every
// Canary has settled, and prints:
//   - RSS (anonymous / file-backed), V8 heap used/total, external, arrayBuffers (median of 5 samples);
//   - CPU used over an idle window (--idle-seconds, default 120, and each minute of it) from /proc/<pid>/stat, and how many
//     Canaries were written meanwhile (resourceVersion moved);
//   - with --cpu-profile: a CPU profile of a second idle window (inspector), self time by function and by package;
//   - with --heap-snapshot: a heap snapshot, self size by constructor (written to .bench/).
// --fresh creates the Canaries anew (the operator then adopts all N: the settling burst counts).
// The operator runs with the NODE_OPTIONS the image sets (the Dockerfile's ENV line) unless --bare.
// --entry runs another build of the operator (e.g. of an earlier commit, to compare).
// --operator-arg passes a flag to the operator (e.g. --no-leader-elect, to see what lease renewals cost).
// --env K=V passes an environment variable to the operator (e.g. MALLOC_ARENA_MAX=2), --node-flag a flag to node.
import { KubeConfig } from '@kubernetes/client-node';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { clusterDir, repoRoot, run } from '../support/cluster.js';
import { RawClient, paths, type KubeObject } from '../../src/kube/raw-client.js';
import { DatadogStandIn } from '../datadog/server.js';
import { quantile, sleep, waitUntil } from './stats.js';
import { imageNodeOptions } from './operator-process.js';

const API_KEY = 'memprof-api-key';
const APP_KEY = 'memprof-app-key';
const NAMESPACES = Array.from({ length: 10 }, (_, i) => `memprof-${i}`);
const HEALTH_PORT = 18_281;
const INSPECT_PORT = 19_281;
const AS_USER = { fieldManager: 'memprof-user' };

interface Args {
  n: number;
  idleSeconds: number;
  cpuProfile: boolean;
  heapSnapshot: boolean;
  env: Record<string, string>;
  nodeFlags: string[];
  label: string;
  entry: string;
  fresh: boolean;
  bare: boolean;
  operatorArgs: string[];
}

function parseArgs(argv: string[]): Args {
  const a: Args = { n: 0, idleSeconds: 120, cpuProfile: false, heapSnapshot: false, env: {}, nodeFlags: [], label: '', entry: join(repoRoot, 'dist/src/main.js'), fresh: false, bare: false, operatorArgs: [] };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i + 1] ?? '';
    switch (argv[i]) {
      case '--n': a.n = Number(v); i++; break;
      case '--idle-seconds': a.idleSeconds = Number(v); i++; break;
      case '--cpu-profile': a.cpuProfile = true; break;
      case '--heap-snapshot': a.heapSnapshot = true; break;
      case '--env': { const [k, ...rest] = v.split('='); a.env[k!] = rest.join('='); i++; break; }
      case '--node-flag': a.nodeFlags.push(v); i++; break;
      case '--label': a.label = v; i++; break;
      case '--entry': a.entry = v; i++; break;
      case '--fresh': a.fresh = true; break;
      case '--bare': a.bare = true; break;
      case '--operator-arg': a.operatorArgs.push(v); i++; break;
      default: throw new Error(`unknown argument ${argv[i]}`);
    }
  }
  if (!Number.isInteger(a.n) || a.n < 0) throw new Error('--n: a number of Canaries');
  return a;
}

const mib = (bytes: number): number => Math.round((bytes / 1024 / 1024) * 10) / 10;
const nsOf = (i: number): string => NAMESPACES[i % NAMESPACES.length]!;

/** Runs fn over items, at most `width` at a time. */
async function pool<T>(items: T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

const ignore = (codes: number[]) => (err: unknown): undefined => {
  if (codes.includes((err as { code?: number }).code ?? -1)) return undefined;
  throw err;
};

/** Exactly n Deployments svc-<i> with their Canaries in memprof-*, created or removed as needed. */
async function ensureObjects(client: RawClient, n: number, fresh: boolean, ddUrl: string): Promise<void> {
  for (const ns of NAMESPACES) {
    await client.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }).catch(ignore([409]));
    const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'datadog', namespace: ns }, stringData: { 'api-key': API_KEY, 'app-key': APP_KEY, url: ddUrl } };
    await client.create(paths.secrets(ns), secret).catch(ignore([409]));
    await client.update(paths.secret(ns, 'datadog'), secret);
  }
  // Remove what is beyond n (the operator is not running: its finalizer goes by hand).
  const canaries = (await Promise.all(NAMESPACES.map((ns) => client.list(paths.canaries(ns))))).flatMap((l) => l.items);
  const deployments = (await Promise.all(NAMESPACES.map((ns) => client.list(paths.deployments(ns))))).flatMap((l) => l.items);
  const index = (o: KubeObject): number => Number(/^svc-(\d+)$/.exec(o.metadata.name)?.[1] ?? -1);
  const extra = (o: KubeObject): boolean => index(o) < 0 || index(o) >= n;
  await pool(fresh ? canaries : canaries.filter(extra), 16, async (c) => {
    await client.patch(paths.canary(c.metadata.namespace!, c.metadata.name), { metadata: { finalizers: null } }).catch(ignore([404]));
    await client.delete(paths.canary(c.metadata.namespace!, c.metadata.name)).catch(ignore([404]));
  });
  await pool(deployments.filter(extra), 16, async (d) => {
    await client.delete(paths.deployment(d.metadata.namespace!, d.metadata.name), { propagationPolicy: 'Background' }).catch(ignore([404]));
  });
  const haveDeployments = new Set(deployments.map((d) => `${d.metadata.namespace}/${d.metadata.name}`));
  const haveCanaries = new Set((fresh ? [] : canaries).map((c) => `${c.metadata.namespace}/${c.metadata.name}`));
  const indices = Array.from({ length: n }, (_, i) => i);
  await pool(indices, 16, async (i) => {
    const ns = nsOf(i);
    const name = `svc-${i}`;
    if (!haveDeployments.has(`${ns}/${name}`)) {
      await client.create(paths.deployments(ns), {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name, namespace: ns },
        spec: { replicas: 1, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image: 'memprof/svc:1' }] } } },
      }, AS_USER).catch(ignore([409]));
    }
    if (!haveCanaries.has(`${ns}/${name}`)) {
      await client.create(paths.canaries(ns), {
        apiVersion: 'deployer.dev/v1alpha1',
        kind: 'Canary',
        metadata: { name, namespace: ns },
        spec: {
          targetRef: { name },
          steps: [{ setWeight: 20 }, { pause: { duration: '1h' } }],
          analysis: { interval: '1m', checks: [{ name: 'errors', datadogMonitor: { id: 7 } }] },
          datadog: { secretRef: { name: 'datadog' } },
        },
      }, AS_USER).catch(ignore([409]));
    }
  });
}

function startOperator(args: Args): ChildProcess {
  const entry = args.entry;
  if (!existsSync(entry)) throw new Error(`${entry} is missing: npm run build first`);
  mkdirSync(join(repoRoot, '.bench'), { recursive: true });
  const log = openSync(join(repoRoot, '.bench/memory-profile-operator.log'), 'w');
  const flags = [...args.nodeFlags, ...(args.cpuProfile || args.heapSnapshot ? [`--inspect=127.0.0.1:${INSPECT_PORT}`] : [])];
  const opArgs = [...flags, entry, '--webhook-port', '0', '--health-port', String(HEALTH_PORT), '--webhook-url', '127.0.0.1', '--log-level', 'warn', ...args.operatorArgs];
  return spawn(join(repoRoot, 'node_modules/.bin/node'), opArgs, { cwd: repoRoot, stdio: ['ignore', log, log], env: { ...process.env, NODE_OPTIONS: args.bare ? '' : imageNodeOptions(), ...args.env } });
}


interface Memory {
  rssMiB: number;
  rssAnonMiB: number;
  rssFileMiB: number;
  heapUsedMiB: number;
  heapTotalMiB: number;
  externalMiB: number;
  arrayBuffersMiB: number;
  /** Committed size of the V8 heap's spaces (new, old, code, large_object). */
  [space: `heap_${string}_committedMiB`]: number;
}

async function memory(pid: number): Promise<Memory> {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string): number => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN) * 1024;
  const text = await (await fetch(`http://127.0.0.1:${HEALTH_PORT}/metrics`)).text();
  const metric = (name: string): number => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  return {
    rssMiB: mib(kb('VmRSS')),
    rssAnonMiB: mib(kb('RssAnon')),
    rssFileMiB: mib(kb('RssFile')),
    heapUsedMiB: mib(metric('deployer_nodejs_heap_size_used_bytes')),
    heapTotalMiB: mib(metric('deployer_nodejs_heap_size_total_bytes')),
    externalMiB: mib(metric('deployer_nodejs_external_memory_bytes')),
    arrayBuffersMiB: mib(metric('deployer_nodejs_array_buffers_bytes')),
    ...Object.fromEntries(
      ['new', 'old', 'code', 'large_object'].map((space) => [`heap_${space}_committedMiB`, mib(Number(new RegExp(`^deployer_nodejs_heap_space_size_total_bytes\\{space="${space}"\\} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN))]),
    ),
  };
}

/** utime + stime of a process, in seconds. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After the command: state is field 3, utime 14 and stime 15 (1-based, of the whole line).
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** The resourceVersions of the Canaries (to count writes during a window). */
async function canaryVersions(client: RawClient): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const ns of NAMESPACES) for (const c of (await client.list(paths.canaries(ns))).items) out.set(`${ns}/${c.metadata.name}`, c.metadata.resourceVersion ?? '');
  return out;
}

/** A minimal Chrome DevTools Protocol session over the operator's inspector. */
class Inspector {
  private id = 0;
  private readonly pending = new Map<number, (v: unknown) => void>();
  private readonly listeners = new Map<string, (params: Record<string, unknown>) => void>();
  private constructor(private readonly ws: WebSocket) {
    ws.addEventListener('message', (e) => {
      const msg = JSON.parse(String(e.data)) as { id?: number; result?: unknown; method?: string; params?: Record<string, unknown> };
      if (msg.id !== undefined) this.pending.get(msg.id)?.(msg.result);
      else if (msg.method) this.listeners.get(msg.method)?.(msg.params ?? {});
    });
  }
  static async connect(): Promise<Inspector> {
    const targets = (await (await fetch(`http://127.0.0.1:${INSPECT_PORT}/json/list`)).json()) as Array<{ webSocketDebuggerUrl: string }>;
    const ws = new WebSocket(targets[0]!.webSocketDebuggerUrl);
    await new Promise((resolve, reject) => {
      ws.addEventListener('open', resolve);
      ws.addEventListener('error', reject);
    });
    return new Inspector(ws);
  }
  send<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = ++this.id;
    return new Promise<T>((resolve) => {
      this.pending.set(id, resolve as (v: unknown) => void);
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }
  on(method: string, fn: (params: Record<string, unknown>) => void): void {
    this.listeners.set(method, fn);
  }
  close(): void {
    this.ws.close();
  }
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

function packageOf(url: string): string {
  if (!url) return '(native/program)';
  if (url.startsWith('node:')) return 'node:internal';
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[1]!;
  const d = /\/(dist\/src\/[^/]+)/.exec(url);
  return d ? d[1]! : url;
}

async function cpuProfile(seconds: number): Promise<void> {
  const insp = await Inspector.connect();
  await insp.send('Profiler.enable');
  await insp.send('Profiler.setSamplingInterval', { interval: 1000 });
  await insp.send('Profiler.start');
  await sleep(seconds * 1000);
  const { profile } = await insp.send<{ profile: { nodes: ProfileNode[]; startTime: number; endTime: number; samples: number[] } }>('Profiler.stop');
  insp.close();
  writeFileSync(join(repoRoot, '.bench/memory-profile.cpuprofile'), JSON.stringify(profile));
  const msPerSample = (profile.endTime - profile.startTime) / 1000 / Math.max(1, profile.samples.length);
  const byFn = new Map<string, number>();
  const byPkg = new Map<string, number>();
  for (const n of profile.nodes) {
    const hits = n.hitCount ?? 0;
    if (!hits) continue;
    const f = `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/dist\//, 'dist/')}:${n.callFrame.lineNumber + 1}`;
    byFn.set(f, (byFn.get(f) ?? 0) + hits);
    const p = ['(idle)', '(program)', '(garbage collector)'].includes(n.callFrame.functionName) ? n.callFrame.functionName : packageOf(n.callFrame.url);
    byPkg.set(p, (byPkg.get(p) ?? 0) + hits);
  }
  const top = (m: Map<string, number>, k: number): string[] =>
    [...m].sort((a, b) => b[1] - a[1]).slice(0, k).map(([name, hits]) => `  ${(hits * msPerSample).toFixed(0).padStart(7)} ms  ${name}`);
  console.log(`CPU profile of ${seconds} s idle (self time; written to .bench/memory-profile.cpuprofile), by package:`);
  console.log(top(byPkg, 15).join('\n'));
  console.log('by function:');
  console.log(top(byFn, 25).filter((l) => !/\((idle|program)\)/.test(l)).join('\n'));
}

async function heapSnapshot(): Promise<void> {
  const insp = await Inspector.connect();
  const chunks: string[] = [];
  insp.on('HeapProfiler.addHeapSnapshotChunk', (p) => chunks.push(String(p.chunk)));
  await insp.send('HeapProfiler.enable');
  await insp.send('HeapProfiler.takeHeapSnapshot', { reportProgress: false });
  insp.close();
  const text = chunks.join('');
  writeFileSync(join(repoRoot, '.bench/memory-profile.heapsnapshot'), text);
  summariseSnapshot(JSON.parse(text) as HeapSnapshot);
}

interface HeapSnapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

/** Self size by constructor (objects) or by type (strings, code, arrays, …). */
export function summariseSnapshot(s: HeapSnapshot): void {
  const fields = s.snapshot.meta.node_fields;
  const width = fields.length;
  const fType = fields.indexOf('type');
  const fName = fields.indexOf('name');
  const fSize = fields.indexOf('self_size');
  const types = s.snapshot.meta.node_types[0];
  const by = new Map<string, { size: number; count: number }>();
  let total = 0;
  for (let i = 0; i < s.nodes.length; i += width) {
    const type = types[s.nodes[i + fType]!]!;
    const size = s.nodes[i + fSize]!;
    total += size;
    const key = type === 'object' || type === 'closure' || type === 'native' ? `${type}: ${s.strings[s.nodes[i + fName]!]}` : `(${type})`;
    const e = by.get(key) ?? { size: 0, count: 0 };
    e.size += size;
    e.count++;
    by.set(key, e);
  }
  console.log(`Heap snapshot (written to .bench/memory-profile.heapsnapshot): ${mib(total)} MiB in ${s.nodes.length / width} nodes; self size by constructor:`);
  for (const [k, v] of [...by].sort((a, b) => b[1].size - a[1].size).slice(0, 30)) console.log(`  ${String(mib(v.size)).padStart(7)} MiB ${String(v.count).padStart(8)}×  ${k.slice(0, 100)}`);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const kubeconfig = join(clusterDir, 'kubeconfig');
  if (!existsSync(kubeconfig)) throw new Error(`no control plane at ${clusterDir} (test/cluster/up.sh with CLUSTER_DIR)`);
  process.env.KUBECONFIG = kubeconfig;
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const client = new RawClient(kc);
  const kubectl = join(clusterDir, 'bin/kubectl');
  const applied = await run(existsSync(kubectl) ? kubectl : 'kubectl', ['apply', '--server-side', '--force-conflicts', '-f', join(repoRoot, 'crds/')]);
  if (applied.code !== 0) throw new Error(applied.stderr);
  await waitUntil(() => client.list(paths.canaries()).then(() => true, () => undefined), 60_000, 500); // the CRD is served
  // No operator is running: its webhook (failure policy Fail) must not block the set-up.
  const hooks = await client.list(paths.mutatingWebhooks());
  for (const h of hooks.items) if (h.metadata.name.startsWith('deployer')) await client.delete(paths.mutatingWebhook(h.metadata.name)).catch(ignore([404]));

  const dd = await DatadogStandIn.start({ apiKey: API_KEY, appKey: APP_KEY });
  dd.upsertMonitor({ id: 7, name: 'memprof errors', tags: ['service:memprof'], query: 'avg(last_5m):sum:errors{*} by {version} > 1', groupByVersion: true });
  const t0 = Date.now();
  await ensureObjects(client, args.n, args.fresh, dd.url);
  console.error(`objects ready for N=${args.n} in ${((Date.now() - t0) / 1000).toFixed(0)} s`);

  const op = startOperator(args);
  const pid = op.pid!;
  const exited = new Promise<never>((_, reject) => op.on('exit', (code) => reject(new Error(`the operator exited (${code}); see .bench/memory-profile-operator.log`))));
  const result: Record<string, unknown> = { label: args.label, n: args.n, fresh: args.fresh, env: args.env, nodeOptions: args.bare ? '' : imageNodeOptions(), nodeFlags: args.nodeFlags, operatorArgs: args.operatorArgs, date: new Date().toISOString() };
  try {
    const startedAt = Date.now();
    await Promise.race([exited, waitUntil(async () => {
      const r = await fetch(`http://127.0.0.1:${HEALTH_PORT}/readyz`).catch(() => undefined);
      return r?.status === 200 && (await r.text()).startsWith('ok: leader') ? true : undefined;
    }, 120_000, 200)]);
    result.readyAfterMs = Date.now() - startedAt;
    // Settled: every Canary has reached Waiting.
    await Promise.race([exited, waitUntil(async () => {
      const versions = await Promise.all(NAMESPACES.map((ns) => client.list<{ status?: { phase?: string } }>(paths.canaries(ns))));
      const phases = versions.flatMap((l) => l.items.map((c) => c.status?.phase));
      return phases.filter((p) => p === 'Waiting').length >= args.n ? true : undefined;
    }, 600_000, 1000)]);
    result.settledAfterMs = Date.now() - startedAt;
    await sleep(15_000);
    const samples: Memory[] = [];
    for (let i = 0; i < 5; i++) {
      samples.push(await memory(pid));
      await sleep(1000);
    }
    const med = (k: keyof Memory): number => quantile(samples.map((s) => s[k] ?? NaN), 0.5);
    result.memory = Object.fromEntries((Object.keys(samples[0]!) as Array<keyof Memory>).map((k) => [k, med(k)]));

    const before = await canaryVersions(client);
    // CPU per minute of the window (the first may still see the collector tidy up after the burst).
    const cpu0 = cpuSeconds(pid);
    const perMinute: number[] = [];
    let mark = cpu0;
    for (let left = args.idleSeconds; left > 0; left -= 60) {
      await sleep(Math.min(60, left) * 1000);
      const now = cpuSeconds(pid);
      perMinute.push(Math.round((now - mark) * 100) / 100);
      mark = now;
    }
    const cpu1 = mark;
    const after = await canaryVersions(client);
    const written = [...after].filter(([k, rv]) => before.get(k) !== rv).length;
    result.idle = { seconds: args.idleSeconds, cpuSeconds: Math.round((cpu1 - cpu0) * 100) / 100, cpuSecondsPerMinute: Math.round(((cpu1 - cpu0) * 60 * 100) / args.idleSeconds) / 100, cpuSecondsEachMinute: perMinute, canariesWritten: written };
    console.log(JSON.stringify(result, null, 2));
    if (args.cpuProfile) await cpuProfile(args.idleSeconds);
    if (args.heapSnapshot) await heapSnapshot();
  } finally {
    op.kill('SIGTERM');
    await Promise.race([new Promise((r) => op.on('exit', r)), sleep(10_000)]);
    await dd.close();
  }
  mkdirSync(join(repoRoot, '.bench'), { recursive: true });
  const file = join(repoRoot, '.bench/memory-profile.jsonl');
  writeFileSync(file, `${JSON.stringify(result)}\n`, { flag: 'a' });
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
