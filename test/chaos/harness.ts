// Runs one fault of the catalogue on the real control plane: a namespace of its own, a fleet of
// Deployments each guarded by a Canary against the local Datadog stand-in, two operator replicas
// as processes with leader election (their kubeconfig points at a TCP proxy in front of the
// apiserver), and a driver that ships new revisions without end (seeded: some good, some bad), so
// that canaries are in every phase when the fault strikes. Then it heals the fault, stops shipping,
// waits for every canary to settle (bounded), and counts the four things that must stay at zero
// (test/chaos/counters.ts) from what its watches recorded.
import { KubeConfig, Watch } from '@kubernetes/client-node';
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { ANNOTATIONS, LABELS } from '../../src/api/constants.js';
import type { Canary } from '../../src/api/types.js';
import { revisionOf, versionOf, type PodTemplate } from '../../src/canary/revision.js';
import { webhookConfigurationName } from '../../src/webhook/configuration.js';
import { PATCH, RawClient, paths, type KubeObject } from '../../src/kube/raw-client.js';
import { DatadogStandIn } from '../datadog/server.js';
import { eventually, kubectlPath, run } from '../support/cluster.js';
import { countViolations, type CanaryObservation, type ChaosObservations, type Counters, type DeploymentObservation, type ReplicaSetObservation } from './counters.js';
import type { ChaosContext, Fault, OperatorFleet } from './fault.js';
import { FlakyProxy } from './proxy.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const API_KEY = 'chaos-api-key-7c1d';
const APP_KEY = 'chaos-app-key-2e9f';
const MONITOR_ID = 101;
/** The driver writes as a person would (its own field manager), never as the operator. */
const AS_USER = { fieldManager: 'chaos-user' };
const STEPS = [{ setWeight: 20 }, { pause: { duration: '2s' } }, { setWeight: 50 }, { pause: { duration: '2s' } }];
const ACTIVE = new Set(['Progressing', 'Paused', 'Promoting']);
const SETTLED = new Set(['Succeeded', 'RolledBack', 'Failed', 'Waiting']);

export interface HarnessOptions {
  kubeconfig: string;
  clusterDir: string;
  seed: number;
  log: (message: string) => void;
  /** Deployments in the fleet unless the fault asks for more (default 6). */
  fleet?: number;
  /** How long to wait for every canary to settle after healing (default 240 s). */
  settleTimeoutMs?: number;
  /** Shipping time before the fault strikes: between this and twice this, seeded (default 8 s). */
  warmupMs?: number;
  /** Where operator logs and the run's observations go. */
  outDir?: string;
}

export interface FaultRunResult {
  fault: string;
  seed: number;
  namespace: string;
  counters: Counters;
  /** Heal → every canary settled, in ms; undefined when it did not settle in time. */
  settleMs: number | undefined;
  /** Phases of Canaries at the moment of injection. */
  phasesAtInjection: Record<string, number>;
  revisionsShipped: number;
}

/** Mulberry32: a small seeded generator, so a failing run can be replayed with its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface DeploymentObject extends KubeObject {
  spec: { replicas?: number; paused?: boolean; template: PodTemplate };
  status?: { observedGeneration?: number; replicas?: number; updatedReplicas?: number; availableReplicas?: number; readyReplicas?: number };
}

function observeDeployment(d: DeploymentObject, time: number): DeploymentObservation {
  const want = d.spec.replicas ?? 1;
  const s = d.status ?? {};
  const rolledOut =
    (s.observedGeneration ?? 0) >= (d.metadata.generation ?? 0) && s.updatedReplicas === want && s.replicas === want && s.availableReplicas === want;
  const stable = d.metadata.annotations?.[ANNOTATIONS.stableRevision];
  return {
    time,
    deployment: d.metadata.name,
    revision: revisionOf(d.spec.template),
    version: versionOf(d.spec.template),
    paused: d.spec.paused === true,
    rolledOut,
    ...(stable ? { stableRevision: stable } : {}),
  };
}

function observeCanary(c: Canary, time: number): CanaryObservation {
  const s = c.status ?? {};
  const stalled = s.conditions?.find((x) => x.type === 'Stalled' && x.status === 'True');
  return {
    time,
    canary: c.metadata.name ?? '',
    ...(s.phase ? { phase: s.phase } : {}),
    ...(s.message ? { message: s.message } : {}),
    ...(s.canaryRevision ? { canaryRevision: s.canaryRevision } : {}),
    ...(s.canaryVersion ? { canaryVersion: s.canaryVersion } : {}),
    ...(s.stableRevision ? { stableRevision: s.stableRevision } : {}),
    ...(s.failedRevision ? { failedRevision: s.failedRevision } : {}),
    ...(stalled ? { stalled: stalled.message ?? stalled.reason ?? 'Stalled' } : {}),
  };
}

function observeReplicaSet(rs: KubeObject, time: number, deleted: boolean): ReplicaSetObservation {
  return {
    time,
    deployment: rs.metadata.labels?.[LABELS.canaryOf] ?? '',
    uid: rs.metadata.uid ?? rs.metadata.name,
    name: rs.metadata.name,
    revision: rs.metadata.labels?.[LABELS.revision] ?? '',
    live: !deleted && !rs.metadata.deletionTimestamp,
  };
}

/**
 * A list then a watch from its resourceVersion, listed again whenever the watch ends (an apiserver
 * restart, a dropped connection): a re-list reports every object it has and, as deleted, every
 * object it no longer has.
 */
class Recorder<T extends KubeObject> {
  private stopped = false;
  private abort: AbortController | undefined;
  private known = new Map<string, T>();
  relists = 0;

  constructor(
    private readonly kc: KubeConfig,
    private readonly client: RawClient,
    private readonly path: string,
    private readonly query: Record<string, string>,
    private readonly onObject: (obj: T, deleted: boolean) => void,
    private readonly log: (m: string) => void,
  ) {}

  latest(name: string): T | undefined {
    return this.known.get(name);
  }

  all(): T[] {
    return [...this.known.values()];
  }

  async start(): Promise<void> {
    await this.relist();
    if (!this.looping) void this.loop();
    this.looping = true;
  }
  private looping = false;

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
  }

  private async relist(): Promise<string> {
    const list = await this.client.list<T>(this.path, this.query);
    const names = new Set<string>();
    for (const o of list.items) {
      names.add(o.metadata.name);
      this.known.set(o.metadata.name, o);
      this.onObject(o, false);
    }
    for (const [name, o] of this.known) {
      if (!names.has(name)) {
        this.known.delete(name);
        this.onObject(o, true);
      }
    }
    return list.metadata?.resourceVersion ?? '';
  }

  private async loop(): Promise<void> {
    let rv = '';
    let needList = false;
    while (!this.stopped) {
      try {
        if (needList) {
          rv = await this.relist();
          this.relists++;
        } else if (!rv) {
          rv = (await this.client.list<T>(this.path, { ...this.query, limit: '1' })).metadata?.resourceVersion ?? '';
          // The first list's objects were reported by start(); catch up with one more list.
          rv = await this.relist();
        }
        needList = true;
        await new Promise<void>((resolve) => {
          void new Watch(this.kc)
            .watch(
              this.path,
              { ...this.query, resourceVersion: rv, allowWatchBookmarks: true },
              (type: string, obj: T) => {
                if (type === 'BOOKMARK' || type === 'ERROR') return;
                if (obj.metadata?.resourceVersion) rv = obj.metadata.resourceVersion;
                if (type === 'DELETED') this.known.delete(obj.metadata.name);
                else this.known.set(obj.metadata.name, obj);
                this.onObject(obj, type === 'DELETED');
              },
              () => resolve(),
            )
            .then((a) => (this.abort = a))
            .catch(() => resolve());
        });
      } catch (err) {
        if (!this.stopped) this.log(`watch ${this.path}: ${(err as Error).message}`);
      }
      if (!this.stopped) await sleep(300);
    }
  }
}

/** Two replicas of the operator as processes (like two pods of the Deployment in deploy/). */
class Operators implements OperatorFleet {
  private readonly procs: Array<ChildProcess | undefined> = [];
  private starts = 0;
  private readonly frozen = new Set<number>();

  constructor(
    private readonly o: { kubeconfig: string; namespace: string; logDir: string; client: RawClient; leaseName: string; log: (m: string) => void },
    readonly size: number,
  ) {}

  get running(): number[] {
    return this.procs.flatMap((p, i) => (p && p.exitCode === null && p.signalCode === null ? [i] : []));
  }

  async start(index: number): Promise<void> {
    if (this.running.includes(index)) return;
    const n = this.starts++;
    const log = createWriteStream(join(this.o.logDir, `operator-${index}.log`), { flags: 'a' });
    log.write(`--- start ${n} at ${new Date().toISOString()}\n`);
    const env: NodeJS.ProcessEnv = { ...process.env, KUBECONFIG: this.o.kubeconfig, PATH: `${ROOT}node_modules/.bin:${process.env.PATH ?? ''}` };
    delete env.POD_NAME;
    delete env.POD_NAMESPACE;
    const args = [
      '--import', 'tsx', `${ROOT}src/main.ts`,
      '--namespaces', this.o.namespace,
      '--webhook-port', '0', '--health-port', '0', '--webhook-url', '127.0.0.1',
      '--lease-namespace', this.o.namespace, '--lease-name', this.o.leaseName, '--lease-duration', '6s',
      '--log-level', process.env.CHAOS_OPERATOR_LOG_LEVEL ?? 'info',
    ];
    const proc = spawn(`${ROOT}node_modules/.bin/node`, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout?.pipe(log);
    proc.stderr?.pipe(log);
    this.procs[index] = proc;
    this.o.log(`operator ${index} started (pid ${proc.pid})`);
  }

  async kill(index?: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const i = index ?? (await this.leader());
    if (i === undefined) throw new Error('no leader to kill');
    const proc = this.procs[i];
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill(signal);
    await exited;
    this.o.log(`operator ${i} (pid ${proc.pid}) stopped with ${signal}`);
  }

  async leader(): Promise<number | undefined> {
    const lease = await this.o.client
      .get<{ spec?: { holderIdentity?: string; renewTime?: string; leaseDurationSeconds?: number } }>(paths.lease(this.o.namespace, this.o.leaseName))
      .catch(() => undefined);
    const holder = lease?.spec?.holderIdentity;
    if (!holder) return undefined;
    const i = this.procs.findIndex((p) => p && `${hostname()}-${p.pid}` === holder && p.exitCode === null && p.signalCode === null);
    return i >= 0 ? i : undefined;
  }

  async freeze(index?: number): Promise<number> {
    const i = index ?? (await this.leader());
    if (i === undefined) throw new Error('no leader to freeze');
    this.procs[i]?.kill('SIGSTOP');
    this.frozen.add(i);
    this.o.log(`operator ${i} (pid ${this.procs[i]?.pid}) frozen (SIGSTOP)`);
    return i;
  }

  async thaw(index: number): Promise<void> {
    this.procs[index]?.kill('SIGCONT');
    this.frozen.delete(index);
    this.o.log(`operator ${index} thawed (SIGCONT)`);
  }

  /** SIGTERM (a replica removes its webhook configuration on the way out), then SIGKILL. */
  async stopAll(): Promise<void> {
    for (const i of this.frozen) await this.thaw(i);
    await Promise.all(
      this.running.map(async (i) => {
        const proc = this.procs[i]!;
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(t);
      }),
    );
  }
}

/** Runs one fault once, in a namespace of its own, and returns the four counters. */
export async function runFault(fault: Fault, opts: HarnessOptions): Promise<FaultRunResult> {
  const random = seededRandom(opts.seed);
  const log = (m: string): void => opts.log(`[${fault.name} seed=${opts.seed}] ${m}`);
  const kc = new KubeConfig();
  kc.loadFromFile(opts.kubeconfig);
  const client = new RawClient(kc);
  const k = (args: string[], input?: string) => run(kubectlPath(), [`--kubeconfig=${opts.kubeconfig}`, ...args], input === undefined ? {} : { input });
  const crds = await k(['apply', '--server-side', '--force-conflicts', '-f', `${ROOT}crds/`]);
  if (crds.code !== 0) throw new Error(`kubectl apply -f crds/ failed: ${crds.stderr}`);
  const ns = `chaos-${Math.floor(random() * 36 ** 6).toString(36).padStart(6, '0')}-${Date.now().toString(36).slice(-4)}`;
  const created = await k(['create', 'namespace', ns]);
  if (created.code !== 0) throw new Error(`kubectl create namespace failed: ${created.stderr}`);
  await k(['label', 'namespace', ns, 'test.deployer.dev/namespace=true']);
  const outDir = join(opts.outDir ?? `${ROOT}.bench/chaos-runs`, ns);
  mkdirSync(outDir, { recursive: true });
  log(`namespace ${ns}, logs in ${outDir}`);

  const dd = await DatadogStandIn.start({ apiKey: API_KEY, appKey: APP_KEY });
  dd.upsertMonitor({ id: MONITOR_ID, name: 'chaos errors', tags: ['service:chaos'], query: 'avg(last_5m):sum:trace.errors{service:chaos} by {version} > 5', groupByVersion: true });
  const versions: string[] = [];
  const bad: string[] = [];

  // The operators reach the apiserver through the proxy.
  const server = new URL(kc.getCurrentCluster()!.server);
  const proxy = await FlakyProxy.start({ host: server.hostname, port: Number(server.port) }, random);
  const proxiedKubeconfig = join(outDir, 'kubeconfig');
  writeFileSync(proxiedKubeconfig, readFileSync(opts.kubeconfig, 'utf8').replace(/server: https:\/\/127\.0\.0\.1:\d+/, `server: https://127.0.0.1:${proxy.port}`), { mode: 0o600 });
  const leaseName = 'chaos-leader';
  const operators = new Operators({ kubeconfig: proxiedKubeconfig, namespace: ns, logDir: outDir, client, leaseName, log }, 2);

  const fleet = Math.max(fault.fleet ?? 0, opts.fleet ?? 6);
  const names = Array.from({ length: fleet }, (_, i) => `app-${i}`);
  const initialVersions: Record<string, string> = Object.fromEntries(names.map((n) => [n, '1.0.0']));
  const obs: ChaosObservations = { initialVersions, badVersions: bad, deployments: [], replicaSets: [], canaries: [], datadog: [], final: { deployments: [], canaries: [] } };
  const recorders: Array<Recorder<KubeObject>> = [];
  let driving = false;
  let shipped = 0;
  const drivers: Array<Promise<void>> = [];
  let healed = false;
  let ctx: ChaosContext | undefined;

  try {
    dd.setVersions(['1.0.0']);
    const deployments = names.map((name) => ({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: name } },
        template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image: `example.com/${name}:1.0.0` }] } },
      },
    }));
    const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'datadog' }, stringData: { 'api-key': API_KEY, 'app-key': APP_KEY, url: dd.url } };
    const applied = await k(['apply', '-n', ns, '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [secret, ...deployments] }));
    if (applied.code !== 0) throw new Error(`kubectl apply failed: ${applied.stderr}`);

    const recDeployments = new Recorder<DeploymentObject>(kc, client, paths.deployments(ns), {}, (d, deleted) => {
      if (!deleted) obs.deployments.push(observeDeployment(d, Date.now()));
    }, log);
    const recCanaries = new Recorder<Canary & KubeObject>(kc, client, paths.canaries(ns), {}, (c, deleted) => {
      if (!deleted) obs.canaries.push(observeCanary(c, Date.now()));
    }, log);
    const recReplicaSets = new Recorder<KubeObject>(kc, client, paths.replicaSets(ns), { labelSelector: LABELS.canaryOf }, (rs, deleted) => {
      obs.replicaSets.push(observeReplicaSet(rs, Date.now(), deleted));
    }, log);
    recorders.push(recDeployments as unknown as Recorder<KubeObject>, recCanaries as unknown as Recorder<KubeObject>, recReplicaSets);
    // A CRD just applied answers "storage is (re)initializing" for a moment.
    for (const r of recorders) await eventually(() => r.start(), { timeoutMs: 60_000, intervalMs: 1_000 });

    await eventually(() => {
      const notReady = names.filter((n) => !recDeployments.latest(n) || !observeDeployment(recDeployments.latest(n)!, 0).rolledOut);
      if (notReady.length) throw new Error(`Deployments not rolled out yet: ${notReady.join(', ')}`);
    }, { timeoutMs: 120_000, intervalMs: 500 });

    await operators.start(0);
    await operators.start(1);
    await eventually(async () => {
      if ((await operators.leader()) === undefined) throw new Error('no leader yet');
    }, { timeoutMs: 90_000, intervalMs: 500 });

    const canaries = names.map((name) => ({
      apiVersion: 'deployer.dev/v1alpha1',
      kind: 'Canary',
      metadata: { name },
      spec: {
        targetRef: { name },
        steps: STEPS,
        analysis: { interval: '1s', failureLimit: 0, checks: [{ name: 'errors', datadogMonitor: { id: MONITOR_ID } }] },
        datadog: { secretRef: { name: 'datadog' } },
        progressDeadline: '90s',
      },
    }));
    await eventually(async () => {
      const r = await k(['apply', '-n', ns, '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: canaries }));
      if (r.code !== 0) throw new Error(`kubectl apply of the Canaries failed: ${r.stderr}`);
    }, { timeoutMs: 60_000, intervalMs: 1_000 });
    await eventually(() => {
      const waiting = names.filter((n) => recCanaries.latest(n)?.status?.phase !== 'Waiting');
      if (waiting.length) throw new Error(`Canaries not adopted yet: ${waiting.join(', ')}`);
    }, { timeoutMs: 120_000, intervalMs: 500 });
    log(`${fleet} Canaries adopted; shipping revisions`);

    // ---- the driver: each Deployment gets new revisions, one after another ----
    const generation = new Map(names.map((n) => [n, 1]));
    const decided = (name: string): boolean => {
      const c = recCanaries.latest(name);
      const d = recDeployments.latest(name);
      if (!c?.status || !d) return false;
      const rev = revisionOf(d.spec.template);
      if (c.status.phase === 'RolledBack') return c.status.failedRevision === rev;
      if (c.status.phase === 'Succeeded' || c.status.phase === 'Waiting') return c.status.stableRevision === rev && observeDeployment(d, 0).rolledOut;
      return c.status.phase === 'Failed';
    };
    const ship = async (name: string): Promise<void> => {
      const g = generation.get(name)! + 1;
      generation.set(name, g);
      const version = `${g}.0.0-${name}`;
      const isBad = random() < 0.35;
      versions.push(version);
      if (isBad) bad.push(version);
      dd.setVersions(versions);
      dd.setAlertVersions(bad);
      try {
        await client.patch(paths.deployment(ns, name), [{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: `example.com/${name}:${version}` }], PATCH.json, AS_USER);
        shipped++;
      } catch (err) {
        log(`could not ship ${name} ${version} (${(err as Error).message.slice(0, 160)}); will try again`);
      }
    };
    driving = true;
    for (const name of names) {
      drivers.push(
        (async () => {
          await sleep(random() * 3_000);
          while (driving) {
            if (decided(name) || random() < 0.015) {
              await sleep(300 + random() * 2_500);
              if (driving) await ship(name);
              await sleep(1_500);
            }
            await sleep(400);
          }
        })(),
      );
    }

    // ---- the fault, at a seeded moment once canaries run ----
    ctx = {
      kubeconfig: opts.kubeconfig,
      clusterDir: opts.clusterDir,
      namespace: ns,
      client,
      datadog: dd,
      deployments: names,
      random,
      operators,
      log,
      proxy,
      badVersions: bad,
      waitForCanary: async (pred: (c: Canary) => boolean, what: string, timeoutMs = 120_000): Promise<string> => {
        let found: string | undefined;
        await eventually(() => {
          found = names.find((n) => {
            const c = recCanaries.latest(n);
            return c !== undefined && pred(c);
          });
          if (!found) throw new Error(`no Canary ${what} yet`);
        }, { timeoutMs, intervalMs: 50 });
        return found!;
      },
    };
    await sleep((opts.warmupMs ?? 8_000) + random() * (opts.warmupMs ?? 8_000));
    const phasesAtInjection: Record<string, number> = {};
    const snapshotPhases = (): void => {
      for (const c of recCanaries.all()) {
        const p = (c as Canary).status?.phase ?? '-';
        phasesAtInjection[p] = (phasesAtInjection[p] ?? 0) + 1;
      }
    };
    log('injecting');
    await fault.inject(ctx);
    snapshotPhases();
    log(`injected; phases then: ${JSON.stringify(phasesAtInjection)}`);
    await sleep(fault.durationMs ?? 4_000 + random() * 6_000);
    // No new revision from now on: the settle time measures the recovery alone.
    driving = false;
    log('healing');
    await fault.heal(ctx);
    healed = true;
    const healedAt = Date.now();
    await Promise.all(drivers);
    log(`stopped shipping (${shipped} revisions); settling`);

    const settleTimeoutMs = opts.settleTimeoutMs ?? 240_000;
    let settleMs: number | undefined;
    try {
      await eventually(() => {
        const open = names.filter((n) => !decided(n) || !SETTLED.has(recCanaries.latest(n)?.status?.phase ?? ''));
        if (open.length) throw new Error(`not settled: ${open.map((n) => `${n}=${recCanaries.latest(n)?.status?.phase}`).join(', ')}`);
      }, { timeoutMs: settleTimeoutMs, intervalMs: 500 });
      settleMs = Date.now() - healedAt;
    } catch (err) {
      log(`did not settle within ${settleTimeoutMs} ms: ${(err as Error).message}`);
    }
    // A last look, so a violation that shows only after the settle point is caught too.
    await sleep(3_000);

    const now = Date.now();
    obs.final.deployments = (await client.list<DeploymentObject>(paths.deployments(ns))).items.map((d) => observeDeployment(d, now));
    obs.final.canaries = (await client.list<Canary & KubeObject>(paths.canaries(ns))).items.map((c) => observeCanary(c, now));
    obs.datadog = dd.requests(`/api/v1/monitor/${MONITOR_ID}`).map((r) => ({ time: r.time, status: r.status, ...(r.fault ? { fault: true as const } : {}) }));
    const counters = countViolations(obs);
    for (const v of counters.violations) log(`VIOLATION ${v.counter} ${v.deployment}: ${v.detail}`);
    writeFileSync(join(outDir, 'observations.json'), JSON.stringify({ fault: fault.name, seed: opts.seed, counters, settleMs, obs }, null, 1));
    return { fault: fault.name, seed: opts.seed, namespace: ns, counters, settleMs, phasesAtInjection, revisionsShipped: shipped };
  } finally {
    driving = false;
    await Promise.all(drivers).catch(() => undefined);
    if (!healed && ctx) await fault.heal(ctx).catch((err: unknown) => log(`heal failed: ${(err as Error).message}`));
    for (const r of recorders) r.stop();
    await operators.stopAll().catch(() => undefined);
    await proxy.close().catch(() => undefined);
    await dd.close().catch(() => undefined);
    await cleanUp(client, k, ns, log);
  }
}

async function cleanUp(client: RawClient, k: (args: string[]) => Promise<{ code: number; stderr: string }>, ns: string, log: (m: string) => void): Promise<void> {
  // A replica killed last may have left its webhook configuration: remove it, then the namespace.
  const name = webhookConfigurationName({ url: 'https://127.0.0.1:1' }, [ns]);
  await k(['delete', 'mutatingwebhookconfiguration,validatingwebhookconfiguration', name, '--ignore-not-found']);
  const list = await client.list<KubeObject>(paths.canaries(ns)).catch(() => ({ items: [] as KubeObject[] }));
  for (const c of list.items) await client.patch(paths.canary(ns, c.metadata.name), { metadata: { finalizers: null } }).catch(() => undefined);
  const r = await k(['delete', 'namespace', ns, '--wait=false']);
  if (r.code !== 0) log(`could not delete namespace ${ns}: ${r.stderr}`);
}
