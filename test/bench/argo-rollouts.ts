// Argo Rollouts (ARGO_ROLLOUTS_VERSION in versions.env), the usual alternative, run the way the
// scale benchmark runs the operator, so the two can be printed side by side:
//   build once      ensureArgoRollouts()           (test/tools/build-argo-rollouts.sh, cached by version)
//   install         installArgoCrds(crdsDir)       (its CRDs, from the same module source)
//   run             startArgo(kubeconfig, opts)    (one process outside the cluster, no leader election)
//   workloads       createArgoWorkloads(client, o) (N Rollouts of one replica over the namespaces,
//                                                   canary setWeight 20 + pause, background analysis
//                                                   with a Datadog AnalysisTemplate)
//   settle          waitArgoHealthy(client, w)
//   idle            measureIdle(pid)               (process-usage.ts: RSS and CPU per minute)
//   burst           burstArgo(client, w, o)        (new pod template on 10% at once → every canary
//                                                   ReplicaSet exists)
//   back to idle    revertArgoBurst(client, w, b)  (the old template again: Argo aborts to stable)
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { clusterDir, repoRoot, run, kubectl } from '../support/cluster.js';
import { PATCH, type KubeObject, type RawClient } from '../../src/kube/raw-client.js';
import { KubeApiError } from '../../src/kube/errors.js';
import { sleep, waitUntil } from './stats.js';

export { measureIdle, rssMiB, cpuSeconds, type IdleUsage } from './process-usage.js';

export const ARGO_GROUP_VERSION = 'argoproj.io/v1alpha1';
/** Label on everything createArgoWorkloads makes (value: the workloads' prefix), pod templates included. */
export const ARGO_SUITE_LABEL = 'bench.deployer.dev/suite';
/** Label naming the workload (the Rollout's name), on its pod template and so on its ReplicaSets. */
export const ARGO_WORKLOAD_LABEL = 'bench.deployer.dev/workload';
/** The metric every AnalysisTemplate queries, one series per monitor id: see argoMetricQuery(). */
export const ARGO_METRIC = 'bench.errors';
/** The AnalysisTemplate created in each namespace. */
export const ARGO_TEMPLATE = 'bench-datadog';

/** The Datadog metric query a Rollout checking monitorId runs (program the Datadog stand-in with it). */
export function argoMetricQuery(monitorId: number | string): string {
  return `avg:${ARGO_METRIC}{monitor:${monitorId}}`;
}

const apiPath = {
  rollouts: (ns?: string): string => (ns ? `/apis/argoproj.io/v1alpha1/namespaces/${ns}/rollouts` : '/apis/argoproj.io/v1alpha1/rollouts'),
  rollout: (ns: string, name: string): string => `/apis/argoproj.io/v1alpha1/namespaces/${ns}/rollouts/${name}`,
  templates: (ns: string): string => `/apis/argoproj.io/v1alpha1/namespaces/${ns}/analysistemplates`,
  replicaSets: (ns: string): string => `/apis/apps/v1/namespaces/${ns}/replicasets`,
  namespaces: (): string => '/api/v1/namespaces',
  secrets: (ns: string): string => `/api/v1/namespaces/${ns}/secrets`,
  secret: (ns: string, name: string): string => `/api/v1/namespaces/${ns}/secrets/${name}`,
};

// ---- build and install ----

export interface ArgoBuild {
  version: string;
  /** The rollouts-controller binary. */
  bin: string;
  /** rollout-crd.yaml, analysis-template-crd.yaml, … of the same module version. */
  crdsDir: string;
}

/**
 * Builds Argo Rollouts from its Go module once (cached by version outside the repository; a warm
 * cache answers at once) and returns its binary and CRDs.
 */
export async function ensureArgoRollouts(): Promise<ArgoBuild> {
  const r = await run('bash', [join(repoRoot, 'test', 'tools', 'build-argo-rollouts.sh')], { timeoutMs: 0, streamStderr: true });
  const dir = r.stdout.trim().split('\n').pop()?.trim();
  if (r.code !== 0 || !dir) throw new Error(`test/tools/build-argo-rollouts.sh failed (exit ${r.code}); see its output above`);
  return { version: dir.split('/').pop() ?? '', bin: join(dir, 'bin', 'rollouts-controller'), crdsDir: join(dir, 'crds') };
}

/** Applies Argo's CRDs (server-side: the Rollout CRD is too large for client-side apply) and waits until they are served. */
export async function installArgoCrds(crdsDir: string): Promise<void> {
  const applied = await kubectl(['apply', '--server-side', '--force-conflicts', '-f', crdsDir], { timeoutMs: 120_000 });
  if (applied.code !== 0) throw new Error(`kubectl apply of Argo's CRDs failed: ${applied.stderr.trim()}`);
  const crds = ['rollouts', 'analysistemplates', 'clusteranalysistemplates', 'analysisruns', 'experiments'].map((p) => `crd/${p}.argoproj.io`);
  // Just after creation a CRD may have no conditions yet, which `kubectl wait` reports as an error: ask again.
  let last = '';
  const established = await waitUntil(async () => {
    const ready = await kubectl(['wait', '--for=condition=Established', '--timeout=30s', ...crds], { timeoutMs: 60_000 });
    last = ready.stderr.trim();
    return ready.code === 0 ? true : undefined;
  }, 60_000, 500).catch(() => false);
  if (!established) throw new Error(`Argo's CRDs are not Established: ${last}`);
}

// ---- the controller process ----

export interface StartArgoOptions {
  /** The binary (default: ensureArgoRollouts()'s). */
  bin?: string;
  /** Namespace the controller believes it runs in (POD_NAMESPACE): where it reads the Secret "datadog". Default argo-rollouts. */
  controllerNamespace?: string;
  /** Default 18290 and 18280 (Argo's own defaults, 8090 and 8080, are often taken). */
  metricsPort?: number;
  healthzPort?: number;
  /** debug|info|warn|error; default warn. */
  logLevel?: string;
  /** Where its output goes; default logs/argo-rollouts.log of the control plane's folder (CLUSTER_DIR). */
  logFile?: string;
  /** More flags, e.g. ["--rollout-threads", "10"]. */
  extraArgs?: string[];
}

export interface ControllerProcess {
  name: string;
  pid: number;
  process: ChildProcess;
  logFile: string;
  /** Resolves with the exit code (or the signal's name) when the process ends. */
  exited: Promise<number | string | null>;
  /** SIGTERM, then SIGKILL after 10 s. */
  stop(): Promise<void>;
  /**
   * Requests the controller has made to the Kubernetes API so far, by verb (its own counter,
   * controller_clientset_k8s_request_total), e.g. { Get: 12, List: 9, Update: 40, … }.
   */
  apiRequests(): Promise<Record<string, number>>;
}

/**
 * Runs the controller outside the cluster against the kubeconfig, as one process (leader election
 * off, all namespaces), and resolves once its health endpoint answers.
 */
export async function startArgo(kubeconfig: string, opts: StartArgoOptions = {}): Promise<ControllerProcess> {
  const bin = opts.bin ?? (await ensureArgoRollouts()).bin;
  const healthzPort = opts.healthzPort ?? 18_280;
  const metricsPort = opts.metricsPort ?? 18_290;
  const logFile = opts.logFile ?? join(clusterDir, 'logs', 'argo-rollouts.log');
  mkdirSync(join(logFile, '..'), { recursive: true });
  const fd = openSync(logFile, 'w');
  const args = [
    '--kubeconfig',
    kubeconfig,
    '--leader-elect=false',
    '--loglevel',
    opts.logLevel ?? 'warn',
    '--metricsport',
    String(metricsPort),
    '--healthzPort',
    String(healthzPort),
    ...(opts.extraArgs ?? []),
  ];
  const child = spawn(bin, args, {
    stdio: ['ignore', fd, fd],
    env: { ...process.env, POD_NAMESPACE: opts.controllerNamespace ?? 'argo-rollouts' },
  });
  closeSync(fd);
  const exited = new Promise<number | string | null>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  if (child.pid === undefined) throw new Error(`could not start ${bin}`);
  const handle: ControllerProcess = {
    apiRequests: () => Promise.resolve({}),
    name: 'argo-rollouts',
    pid: child.pid,
    process: child,
    logFile,
    exited,
    async stop(): Promise<void> {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const done = await Promise.race([exited.then(() => true), sleep(10_000).then(() => false)]);
      if (!done) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
  handle.apiRequests = async (): Promise<Record<string, number>> => {
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
    const byVerb: Record<string, number> = {};
    for (const m of text.matchAll(/^controller_clientset_k8s_request_total\{([^}]*)\} (\S+)$/gm)) {
      const verb = /verb="([^"]*)"/.exec(m[1] ?? '')?.[1] ?? 'Unknown';
      byVerb[verb] = (byVerb[verb] ?? 0) + Number(m[2]);
    }
    return byVerb;
  };
  let gone: number | string | null | undefined;
  void exited.then((c) => (gone = c));
  try {
    await waitUntil(async () => {
      if (gone !== undefined) throw new Error(`argo-rollouts exited (${gone}) before it was healthy; see ${logFile}`);
      const r = await fetch(`http://127.0.0.1:${healthzPort}/healthz`, { signal: AbortSignal.timeout(1_000) }).catch(() => undefined);
      return r?.status === 200 ? true : undefined;
    }, 60_000, 100);
  } catch (err) {
    await handle.stop();
    throw err;
  }
  return handle;
}

/**
 * Waits until the controller has made no Kubernetes API request for quietMs (it flushes Events
 * and status writes for a while after its Rollouts are Healthy); resolves with the time it took
 * (ms), or rejects after maxMs.
 */
export async function waitArgoQuiet(argo: ControllerProcess, quietMs = 10_000, maxMs = 300_000): Promise<number> {
  const t0 = performance.now();
  const total = async (): Promise<number> => Object.values(await argo.apiRequests()).reduce((a, b) => a + b, 0);
  let last = await total();
  let since = performance.now();
  for (;;) {
    await sleep(1_000);
    const now = await total();
    if (now !== last) {
      last = now;
      since = performance.now();
    } else if (performance.now() - since >= quietMs) {
      return Math.round(performance.now() - t0);
    }
    if (performance.now() - t0 > maxMs) throw new Error(`argo-rollouts still calls the API after ${maxMs} ms`);
  }
}

// ---- workloads ----

export interface ArgoWorkloadOptions {
  /** Namespaces to spread the Rollouts over (created when missing), e.g. 10 of them. */
  namespaces: string[];
  /** Rollouts per namespace; N = namespaces.length × perNamespace. Calling again with more adds the missing ones. */
  perNamespace: number;
  /** Rollout i checks monitorIds[i mod length] (its query: argoMetricQuery(id)). */
  monitorIds: number[];
  /** The Datadog API base URL (the stand-in's url). */
  datadogAddress: string;
  apiKey: string;
  appKey: string;
  /** Where the controller reads the Secret "datadog" (its POD_NAMESPACE); default argo-rollouts. */
  controllerNamespace?: string;
  /** Name prefix and value of ARGO_SUITE_LABEL; default "svc". */
  prefix?: string;
  /** Image of the first revision; default bench/svc:0. */
  image?: string;
  /** How often a measurement is taken during a canary; default 1m. */
  analysisInterval?: string;
  /**
   * Argo's Datadog API: v2 (POST /api/v2/query/scalar, the one Argo recommends) or v1 (GET
   * /api/v1/query, the CRD's default, which logs a deprecation warning at every measurement). Default v2.
   */
  datadogApiVersion?: 'v1' | 'v2';
  /** Requests in flight while creating; default 16. */
  concurrency?: number;
}

export interface ArgoWorkloads {
  prefix: string;
  image: string;
  namespaces: string[];
  /** Every Rollout, in creation order (index i is the i-th workload). */
  rollouts: Array<{ namespace: string; name: string; monitorId: number }>;
}

/** Rollout i lives in namespaces[i mod namespaces.length]: the Rollouts of a namespace are i, i+k, i+2k, … */
function placement(opts: ArgoWorkloadOptions, prefix: string): ArgoWorkloads['rollouts'] {
  const out: ArgoWorkloads['rollouts'] = [];
  const n = opts.namespaces.length * opts.perNamespace;
  for (let i = 0; i < n; i++) {
    const namespace = opts.namespaces[i % opts.namespaces.length]!;
    out.push({ namespace, name: `${prefix}-${i}`, monitorId: opts.monitorIds[i % opts.monitorIds.length]! });
  }
  return out;
}

async function createIfMissing(client: RawClient, path: string, body: unknown): Promise<void> {
  try {
    await client.create(path, body, { fieldManager: 'bench' });
  } catch (err) {
    if (!(err instanceof KubeApiError && err.code === 409)) throw err;
  }
}

/** Runs fn over items with at most `limit` in flight. */
async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

function rolloutManifest(r: ArgoWorkloads['rollouts'][number], prefix: string, image: string): KubeObject {
  const labels = { app: r.name, [ARGO_WORKLOAD_LABEL]: r.name, [ARGO_SUITE_LABEL]: prefix };
  return {
    apiVersion: ARGO_GROUP_VERSION,
    kind: 'Rollout',
    metadata: { name: r.name, namespace: r.namespace, labels: { [ARGO_SUITE_LABEL]: prefix } },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: r.name } },
      template: { metadata: { labels }, spec: { containers: [{ name: 'app', image }] } },
      strategy: {
        canary: {
          steps: [{ setWeight: 20 }, { pause: {} }],
          analysis: { templates: [{ templateName: ARGO_TEMPLATE }], args: [{ name: 'monitor', value: String(r.monitorId) }] },
        },
      },
    },
  };
}

function templateManifest(namespace: string, prefix: string, opts: ArgoWorkloadOptions): KubeObject {
  return {
    apiVersion: ARGO_GROUP_VERSION,
    kind: 'AnalysisTemplate',
    metadata: { name: ARGO_TEMPLATE, namespace, labels: { [ARGO_SUITE_LABEL]: prefix } },
    spec: {
      args: [{ name: 'monitor' }],
      metrics: [
        {
          name: 'errors',
          interval: opts.analysisInterval ?? '1m',
          successCondition: 'result < 1',
          failureLimit: 1,
          provider: { datadog: { apiVersion: opts.datadogApiVersion ?? 'v2', interval: '5m', query: argoMetricQuery('{{args.monitor}}') } },
        },
      ],
    },
  };
}

/**
 * Creates (or completes) the namespaces, the Secret "datadog" Argo's provider reads in the
 * controller's namespace, one AnalysisTemplate per namespace, and the Rollouts. Existing objects are
 * left as they are, so a larger perNamespace grows the set.
 */
export async function createArgoWorkloads(client: RawClient, opts: ArgoWorkloadOptions): Promise<ArgoWorkloads> {
  const prefix = opts.prefix ?? 'svc';
  const image = opts.image ?? 'bench/svc:0';
  if (opts.monitorIds.length === 0) throw new Error('createArgoWorkloads needs at least one monitor id');
  const controllerNs = opts.controllerNamespace ?? 'argo-rollouts';
  for (const ns of new Set([controllerNs, ...opts.namespaces])) {
    await createIfMissing(client, apiPath.namespaces(), { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { [ARGO_SUITE_LABEL]: prefix } } });
  }
  const secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'datadog', namespace: controllerNs },
    stringData: { address: opts.datadogAddress, 'api-key': opts.apiKey, 'app-key': opts.appKey },
  };
  try {
    await client.create(apiPath.secrets(controllerNs), secret, { fieldManager: 'bench' });
  } catch (err) {
    if (!(err instanceof KubeApiError && err.code === 409)) throw err;
    await client.update(apiPath.secret(controllerNs, 'datadog'), secret);
  }
  for (const ns of opts.namespaces) await createIfMissing(client, apiPath.templates(ns), templateManifest(ns, prefix, opts));
  const rollouts = placement(opts, prefix);
  await pool(rollouts, opts.concurrency ?? 16, (r) => createIfMissing(client, apiPath.rollouts(r.namespace), rolloutManifest(r, prefix, image)));
  return { prefix, image, namespaces: [...opts.namespaces], rollouts };
}

interface RolloutStatusView {
  metadata: { name: string; namespace?: string; generation?: number };
  spec?: { template?: { spec?: { containers?: Array<{ image?: string }> } } };
  status?: { phase?: string; observedGeneration?: string; currentPodHash?: string; stableRS?: string };
}

/** How many of the workloads' Rollouts are Healthy (fully rolled out, observed at their current generation). */
export async function countArgoHealthy(client: RawClient, w: ArgoWorkloads): Promise<number> {
  const wanted = new Set(w.rollouts.map((r) => `${r.namespace}/${r.name}`));
  let healthy = 0;
  for (const ns of w.namespaces) {
    const list = await client.list<RolloutStatusView>(apiPath.rollouts(ns), { labelSelector: `${ARGO_SUITE_LABEL}=${w.prefix}` });
    for (const r of list.items) {
      if (!wanted.has(`${ns}/${r.metadata.name}`)) continue;
      const observed = r.status?.observedGeneration === String(r.metadata.generation);
      if (observed && r.status?.phase === 'Healthy' && r.status.currentPodHash === r.status.stableRS) healthy++;
    }
  }
  return healthy;
}

/** Waits until every Rollout of the workloads is Healthy; resolves with the time it took (ms). */
export async function waitArgoHealthy(client: RawClient, w: ArgoWorkloads, timeoutMs = 600_000): Promise<number> {
  const t0 = performance.now();
  await waitUntil(async () => ((await countArgoHealthy(client, w)) >= w.rollouts.length ? true : undefined), timeoutMs, 1_000);
  return Math.round(performance.now() - t0);
}

// ---- burst of new revisions ----

export interface BurstOptions {
  /** Share of the Rollouts to change at once; default 0.1. */
  fraction?: number;
  /** Or an exact number (wins over fraction). */
  count?: number;
  /** Image tag of the new revision; default a fresh one. */
  tag?: string;
  timeoutMs?: number;
}

export interface BurstResult {
  /** The Rollouts changed, each with the pod-template hash of its canary ReplicaSet. */
  changed: Array<{ namespace: string; name: string; canaryHash: string }>;
  image: string;
  /** From the first write to every canary ReplicaSet existing (ms). */
  allCanaryReplicaSetsMs: number;
  /** The writes alone (all sent at once; ms until the last was acknowledged). */
  writesMs: number;
  /** From the last acknowledged write to every canary ReplicaSet existing (ms). */
  afterWritesMs: number;
}

/** The Rollouts to change: spread evenly over the set (every k-th), so every namespace takes its share. */
function pick(w: ArgoWorkloads, n: number): ArgoWorkloads['rollouts'] {
  const step = w.rollouts.length / n;
  return Array.from({ length: n }, (_, i) => w.rollouts[Math.floor(i * step)]!);
}

/**
 * Gives 10% of the Rollouts (or opts.count) a new pod template at once and measures the time until
 * each has a ReplicaSet of the new template (the canary's). Leaves them in their canary: call
 * revertArgoBurst() to go back to idle.
 */
export async function burstArgo(client: RawClient, w: ArgoWorkloads, opts: BurstOptions = {}): Promise<BurstResult> {
  const n = Math.max(1, Math.min(w.rollouts.length, opts.count ?? Math.round(w.rollouts.length * (opts.fraction ?? 0.1))));
  const changed = pick(w, n);
  const image = `${w.image.replace(/:[^:/]*$/, '')}:${opts.tag ?? `b${Date.now().toString(36)}`}`;
  const byNs = new Map<string, Set<string>>();
  for (const r of changed) byNs.set(r.namespace, (byNs.get(r.namespace) ?? new Set()).add(r.name));
  const t0 = performance.now();
  await Promise.all(
    changed.map((r) =>
      client.patch(apiPath.rollout(r.namespace, r.name), [{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: image }], PATCH.json, {
        fieldManager: 'bench',
      }),
    ),
  );
  const written = performance.now();
  const hashes = await waitForReplicaSets(client, byNs, image, opts.timeoutMs ?? 120_000);
  const done = performance.now();
  return {
    changed: changed.map(({ namespace, name }) => ({ namespace, name, canaryHash: hashes.get(`${namespace}/${name}`) ?? '' })),
    image,
    allCanaryReplicaSetsMs: Math.round(done - t0),
    writesMs: Math.round(written - t0),
    afterWritesMs: Math.round(done - written),
  };
}

/**
 * Polls each namespace with a pending Rollout until every one has a ReplicaSet whose template runs
 * image; resolves with their pod-template hashes by namespace/name.
 */
async function waitForReplicaSets(client: RawClient, pending: Map<string, Set<string>>, image: string, timeoutMs: number): Promise<Map<string, string>> {
  const left = new Map([...pending].map(([ns, names]) => [ns, new Set(names)]));
  const hashes = new Map<string, string>();
  const deadline = Date.now() + timeoutMs;
  while (left.size > 0) {
    await Promise.all(
      [...left].map(async ([ns, names]) => {
        const list = await client.list<KubeObject & { spec?: { template?: { spec?: { containers?: Array<{ image?: string }> } } } }>(apiPath.replicaSets(ns), {
          labelSelector: `${ARGO_WORKLOAD_LABEL} in (${[...names].join(',')})`,
        });
        for (const rs of list.items) {
          const owner = rs.metadata.labels?.[ARGO_WORKLOAD_LABEL];
          if (owner && names.has(owner) && rs.spec?.template?.spec?.containers?.[0]?.image === image) {
            names.delete(owner);
            hashes.set(`${ns}/${owner}`, rs.metadata.labels?.['rollouts-pod-template-hash'] ?? '');
          }
        }
        if (names.size === 0) left.delete(ns);
      }),
    );
    if (left.size === 0) return hashes;
    if (Date.now() > deadline) {
      const missing = [...left].flatMap(([ns, names]) => [...names].map((n) => `${ns}/${n}`));
      throw new Error(`no canary ReplicaSet after ${timeoutMs} ms for ${missing.length} Rollouts: ${missing.slice(0, 5).join(', ')}…`);
    }
    await sleep(20);
  }
  return hashes;
}

interface AnalysisRunView {
  metadata: { labels?: Record<string, string>; ownerReferences?: Array<{ kind?: string; name?: string }> };
  status?: { phase?: string; metricResults?: Array<{ successful?: number; error?: number; failed?: number }> };
}

/**
 * Waits until the analysis of every Rollout of the burst has measured through the Datadog provider
 * (an AnalysisRun it owns, for its canary's pod-template hash, with a successful measurement);
 * resolves with the time it took (ms).
 * Throws, naming a failing run's phase, when a run failed or errored.
 */
export async function waitArgoAnalysesMeasured(client: RawClient, burst: BurstResult, timeoutMs = 60_000): Promise<number> {
  const t0 = performance.now();
  const namespaces = [...new Set(burst.changed.map((c) => c.namespace))];
  // Earlier bursts leave AnalysisRuns of older revisions: only the canary's own count.
  const wanted = new Set(burst.changed.map((c) => `${c.namespace}/${c.name}/${c.canaryHash}`));
  await waitUntil(async () => {
    const measured = new Set<string>();
    for (const ns of namespaces) {
      const runs = await client.list<AnalysisRunView>(`/apis/argoproj.io/v1alpha1/namespaces/${ns}/analysisruns`);
      for (const run of runs.items) {
        const owner = run.metadata.ownerReferences?.find((o) => o.kind === 'Rollout')?.name;
        if (!owner || !wanted.has(`${ns}/${owner}/${run.metadata.labels?.['rollouts-pod-template-hash']}`)) continue;
        const result = run.status?.metricResults?.[0];
        if (run.status?.phase === 'Failed' || run.status?.phase === 'Error') throw new Error(`AnalysisRun of ${ns}/${owner} is ${run.status.phase}: ${JSON.stringify(run.status)}`);
        if ((result?.successful ?? 0) >= 1) measured.add(`${ns}/${owner}`);
      }
    }
    return burst.changed.every((c) => measured.has(`${c.namespace}/${c.name}`)) ? true : undefined;
  }, timeoutMs, 250);
  return Math.round(performance.now() - t0);
}

/**
 * Puts the burst's Rollouts back on their previous template: Argo goes back to the stable
 * ReplicaSet at once (no steps), ends their analysis and scales the canaries down. Resolves once
 * every Rollout of the workloads is Healthy again (ms).
 */
export async function revertArgoBurst(client: RawClient, w: ArgoWorkloads, burst: BurstResult, timeoutMs = 300_000): Promise<number> {
  const t0 = performance.now();
  await Promise.all(
    burst.changed.map((r) =>
      client.patch(apiPath.rollout(r.namespace, r.name), [{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: w.image }], PATCH.json, {
        fieldManager: 'bench',
      }),
    ),
  );
  await waitArgoHealthy(client, w, timeoutMs);
  return Math.round(performance.now() - t0);
}

/** Deletes the workloads' namespaces (and so their Rollouts, templates and ReplicaSets) without waiting. */
export async function deleteArgoWorkloads(w: ArgoWorkloads): Promise<void> {
  for (const ns of w.namespaces) await kubectl(['delete', 'namespace', ns, '--wait=false', '--ignore-not-found']);
}
