// Given/When/Then fixtures for scenarios against the real control plane: a namespace of its
// own, the real kubectl for what users do, the local Datadog stand-in, and the operator run
// in-process or as a separate process (to kill it).
import { KubeConfig } from '@kubernetes/client-node';
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { stringify } from 'yaml';
import type { Canary } from '../../src/api/types.js';
import { RawClient, paths, type KubeObject } from '../../src/kube/raw-client.js';
import { startOperator, type OperatorHandle, type OperatorOptions } from '../../src/operator.js';
import { createLogger } from '../../src/runtime/logger.js';
import { DatadogStandIn } from '../datadog/server.js';
import { eventually, kubectl, uniqueNamespace } from './cluster.js';

export const API_KEY = 'it-api-key-5b1c9e0d7a';
export const APP_KEY = 'it-app-key-3f8a2c6e1d';
const ROOT = new URL('../../', import.meta.url).pathname;
let crdsApplied: Promise<void> | undefined;

export interface Pod extends KubeObject {
  status?: { phase?: string; conditions?: Array<{ type: string; status: string }> };
}

export class World {
  readonly client: RawClient;
  op: OperatorHandle | undefined;
  proc: ChildProcess | undefined;

  private constructor(
    readonly ns: string,
    readonly kc: KubeConfig,
    readonly dd: DatadogStandIn,
  ) {
    this.client = new RawClient(kc);
  }

  static async create(prefix: string): Promise<World> {
    crdsApplied ??= kubectl(['apply', '--server-side', '--force-conflicts', '-f', `${ROOT}crds/`]).then((r) => {
      if (r.code !== 0) throw new Error(`kubectl apply -f crds/ failed: ${r.stderr}`);
    });
    await crdsApplied;
    const kc = new KubeConfig();
    kc.loadFromFile(process.env.KUBECONFIG!);
    const ns = await uniqueNamespace(prefix);
    const dd = await DatadogStandIn.start({ apiKey: API_KEY, appKey: APP_KEY });
    return new World(ns, kc, dd);
  }

  // ---------- the operator ----------

  async startOperator(over: Partial<OperatorOptions> = {}): Promise<OperatorHandle> {
    const verbose = process.env.DEPLOYER_TEST_LOG === '1';
    this.op = await startOperator({
      kubeconfig: this.kc,
      namespaces: [this.ns],
      webhook: { port: 0, target: { urlFromPort: '127.0.0.1' } },
      logger: createLogger({ level: verbose ? 'debug' : 'error', silent: !verbose }),
      resyncMs: 30_000,
      datadogTimeoutMs: 1_500,
      ...over,
    });
    return this.op;
  }

  /** The operator as its own process (npm start's entry), so a test can kill it. */
  startOperatorProcess(extraArgs: string[] = [], logName = 'operator'): ChildProcess {
    mkdirSync(`${ROOT}.cluster/logs`, { recursive: true });
    const log = createWriteStream(`${ROOT}.cluster/logs/${logName}-${this.ns}.log`, { flags: 'a' });
    const proc = spawn(
      `${ROOT}node_modules/.bin/node`,
      ['--import', 'tsx', `${ROOT}src/main.ts`, '--namespaces', this.ns, '--webhook-port', '0', '--health-port', '0', '--webhook-url', '127.0.0.1', '--log-level', 'debug', ...extraArgs],
      { cwd: ROOT, env: { ...process.env, PATH: `${ROOT}node_modules/.bin:${process.env.PATH ?? ''}` }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    proc.stdout?.pipe(log);
    proc.stderr?.pipe(log);
    this.proc = proc;
    return proc;
  }

  async killOperatorProcess(proc: ChildProcess | undefined = this.proc, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return; // already gone (exited or killed)
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill(signal);
    await exited;
  }

  async stopOperator(): Promise<void> {
    await this.op?.stop();
    this.op = undefined;
  }

  async teardown(): Promise<void> {
    await this.stopOperator();
    await this.killOperatorProcess();
    await this.dd.close();
    // Canaries keep a finalizer; without an operator, drop it so the namespace can go.
    for (const c of await this.canaries()) {
      await this.client.patch(paths.canary(this.ns, c.metadata.name), { metadata: { finalizers: null } }).catch(() => undefined);
    }
    await kubectl(['delete', 'namespace', this.ns, '--wait=false']);
  }

  // ---------- Given ----------

  async apply(obj: unknown): Promise<string> {
    const r = await kubectl(['apply', '-n', this.ns, '-f', '-'], { input: stringify(obj, { version: '1.1' }) });
    if (r.code !== 0) throw new Error(`kubectl apply failed: ${r.stderr}`);
    return r.stdout;
  }

  async datadogSecret(name = 'datadog', data?: Record<string, string>): Promise<void> {
    data ??= { 'api-key': API_KEY, 'app-key': APP_KEY, url: this.dd.url };
    await this.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name }, stringData: data });
  }

  deploymentManifest(name: string, image: string, opts: { replicas?: number; podLabels?: Record<string, string> } = {}): Record<string, unknown> {
    return {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name },
      spec: {
        replicas: opts.replicas ?? 3,
        selector: { matchLabels: { app: name } },
        template: { metadata: { labels: { app: name, ...opts.podLabels } }, spec: { containers: [{ name: 'app', image }] } },
      },
    };
  }

  async deployment(name: string, image: string, opts: { replicas?: number; podLabels?: Record<string, string> } = {}): Promise<void> {
    await this.apply(this.deploymentManifest(name, image, opts));
    const r = await kubectl(['rollout', 'status', `deployment/${name}`, '-n', this.ns, '--timeout=60s']);
    if (r.code !== 0) throw new Error(`rollout of ${name} did not finish: ${r.stderr}`);
  }

  async canary(name: string, spec: Partial<Canary['spec']>): Promise<void> {
    await this.apply({ apiVersion: 'deployer.dev/v1alpha1', kind: 'Canary', metadata: { name }, spec: { targetRef: { name }, ...spec } });
  }

  // ---------- When ----------

  async setImage(deployment: string, image: string): Promise<void> {
    const r = await kubectl(['set', 'image', `deployment/${deployment}`, `app=${image}`, '-n', this.ns]);
    if (r.code !== 0) throw new Error(`kubectl set image failed: ${r.stderr}`);
  }

  async annotate(canary: string, key: string, value: string): Promise<void> {
    const r = await kubectl(['annotate', 'canary', canary, `${key}=${value}`, '--overwrite', '-n', this.ns]);
    if (r.code !== 0) throw new Error(`kubectl annotate failed: ${r.stderr}`);
  }

  // ---------- Then ----------

  async get(name: string): Promise<Canary> {
    return this.client.get<Canary>(paths.canary(this.ns, name));
  }

  async canaries(): Promise<KubeObject[]> {
    return (await this.client.list<KubeObject>(paths.canaries(this.ns))).items;
  }

  async deploymentObject(name: string): Promise<KubeObject & { spec: { paused?: boolean; template: { spec: { containers: Array<{ image: string }> } } }; status?: Record<string, number> }> {
    return this.client.get(paths.deployment(this.ns, name));
  }

  async pods(selector: string): Promise<Pod[]> {
    return (await this.client.list<Pod>(`/api/v1/namespaces/${this.ns}/pods`, { labelSelector: selector })).items.filter((p) => !p.metadata.deletionTimestamp);
  }

  canaryPods(canary: string): Promise<Pod[]> {
    return this.pods(`deployer.dev/canary-of=${canary}`);
  }

  /**
   * Canary pods gone. The status is written first and the canary ReplicaSet deleted in the same
   * pass, and its pods go with the garbage collector, so they may outlive the status by moments.
   */
  async waitNoCanaryPods(canary: string, timeoutMs = 10_000): Promise<void> {
    await eventually(
      async () => {
        const pods = await this.canaryPods(canary);
        if (pods.length) throw new Error(`${pods.length} canary pod(s) of ${canary} still running: ${pods.map((p) => p.metadata.name).join(', ')}`);
      },
      { timeoutMs },
    );
  }

  async stablePodNames(app: string): Promise<string[]> {
    return (await this.pods(`app=${app},!deployer.dev/role`)).map((p) => p.metadata.name).sort();
  }

  async replicaSets(selector: string): Promise<KubeObject[]> {
    return (await this.client.list<KubeObject>(paths.replicaSets(this.ns), { labelSelector: selector })).items;
  }

  async events(name: string, kind = 'Canary'): Promise<Array<{ reason: string; message: string; type: string }>> {
    const list = await this.client.list<{ reason: string; message: string; type: string }>(paths.events(this.ns), {
      fieldSelector: `involvedObject.name=${name},involvedObject.kind=${kind}`,
    });
    return list.items;
  }

  /** Waits until Events with these reasons exist (Events are recorded right after the status write). */
  async waitForEvents(name: string, reasons: string[], kind = 'Canary', timeoutMs = 15_000): Promise<string[]> {
    let seen: string[] = [];
    await eventually(
      async () => {
        seen = (await this.events(name, kind)).map((e) => e.reason);
        const missing = reasons.filter((r) => !seen.includes(r));
        if (missing.length) throw new Error(`no ${missing.join(', ')} Event on ${kind} ${name} yet (seen: ${seen.join(', ')})`);
      },
      { timeoutMs, intervalMs: 200 },
    );
    return seen;
  }

  async waitForPodsGone(selector: string, timeoutMs = 30_000): Promise<void> {
    await eventually(
      async () => {
        const left = await this.pods(selector);
        if (left.length) throw new Error(`${left.length} pod(s) matching ${selector} left`);
      },
      { timeoutMs, intervalMs: 200 },
    );
  }

  async waitFor(name: string, pred: (c: Canary) => boolean, what: string, timeoutMs = 60_000): Promise<Canary> {
    let last: Canary | undefined;
    await eventually(
      async () => {
        last = await this.get(name);
        if (!pred(last)) throw new Error(`canary ${name} is not yet ${what}: phase=${last.status?.phase} message=${last.status?.message}`);
      },
      { timeoutMs, intervalMs: 150 },
    );
    return last!;
  }

  waitPhase(name: string, phase: string, timeoutMs = 60_000): Promise<Canary> {
    return this.waitFor(name, (c) => c.status?.phase === phase, phase, timeoutMs);
  }
}

/** A multi-alert monitor whose group for each version is OK unless told to alert. */
export function versionMonitor(id: number, service: string): Parameters<DatadogStandIn['upsertMonitor']>[0] {
  return { id, name: `${service} errors`, tags: [`service:${service}`, 'env:test'], query: `avg(last_5m):sum:trace.errors{service:${service}} by {version} > 5`, groupByVersion: true };
}
