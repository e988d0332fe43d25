// Helpers for tests that run against the local control plane (test/cluster/up.sh):
// a real kube-apiserver, etcd, controller manager and scheduler, with kwok nodes.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';

export const repoRoot = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const clusterDir = resolve(process.env['CLUSTER_DIR'] ?? join(repoRoot, '.cluster'));
export const kubeconfigPath = join(clusterDir, 'kubeconfig');
const scripts = join(repoRoot, 'test', 'cluster');

/** Label that keeps a simulated pod Running but not Ready (see test/cluster/stages/pod-ready.yaml). */
export const NOT_READY_LABEL = 'sim.deployer.dev/ready';

export interface ClusterInfo {
  kubeconfig: string;
  /** True when this call started the control plane (false: it was already running). */
  startedHere: boolean;
  /** Folder with kubectl, kube-apiserver, … of the running control plane. */
  binDir: string;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

export interface RunOptions {
  /** Written to the process's stdin. */
  input?: string;
  /** Kill the process after this long (default 60 s). */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Copy stderr to this process's stderr as it comes (for long-running scripts). */
  streamStderr?: boolean;
}

/** Runs a program without a shell; never rejects on a non-zero exit (see `code`). */
export function run(file: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(file, args, {
      cwd: opts.cwd ?? repoRoot,
      env: opts.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => {
      err.push(b);
      if (opts.streamStderr) process.stderr.write(b);
    });
    const timeoutMs = opts.timeoutMs ?? 60_000;
    let timedOut = false;
    const timer =
      timeoutMs > 0
        ? setTimeout(() => {
            timedOut = true;
            child.kill('SIGKILL');
          }, timeoutMs)
        : undefined;
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      const stderr = Buffer.concat(err).toString('utf8');
      resolvePromise({
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: timedOut ? `${stderr}\n[killed after ${timeoutMs} ms]` : stderr,
        code: code ?? (signal ? 128 : 1),
      });
    });
    child.stdin.on('error', () => undefined); // the program may exit without reading stdin
    child.stdin.end(opts.input ?? '');
  });
}

/** The folder of the running control plane's binaries (`.cluster/bin`), or undefined when it isn't up. */
export function clusterBinDir(): string | undefined {
  const link = join(clusterDir, 'bin');
  return existsSync(link) ? realpathSync(link) : undefined;
}

let cachedBinDir: string | undefined;

/** The kubectl that matches the apiserver (built with it); falls back to kubectl on PATH. */
export function kubectlPath(): string {
  cachedBinDir ??= clusterBinDir();
  const k = cachedBinDir && join(cachedBinDir, 'kubectl');
  return k && existsSync(k) ? k : 'kubectl';
}

/**
 * Starts the control plane unless it is already up (test/cluster/up.sh, which builds the
 * binaries on a cold cache: allow a long timeout). Sets process.env.KUBECONFIG.
 */
export async function ensureCluster(): Promise<ClusterInfo> {
  const r = await run('bash', [join(scripts, 'up.sh')], {
    timeoutMs: 0,
    streamStderr: true,
    env: { ...process.env, CLUSTER_DIR: clusterDir },
  });
  if (r.code !== 0) {
    throw new Error(`test/cluster/up.sh failed (exit ${r.code}); see its output above`);
  }
  const status = /^status: (started|reused)$/m.exec(r.stdout)?.[1];
  const binDir = clusterBinDir();
  if (!status || !binDir) throw new Error(`test/cluster/up.sh gave no status:\n${r.stdout}`);
  cachedBinDir = binDir;
  process.env['KUBECONFIG'] = kubeconfigPath;
  return { kubeconfig: kubeconfigPath, startedHere: status === 'started', binDir };
}

/** Stops the control plane (test/cluster/down.sh) and removes its state. */
export async function stopCluster(): Promise<void> {
  const r = await run('bash', [join(scripts, 'down.sh')], {
    timeoutMs: 120_000,
    streamStderr: true,
    env: { ...process.env, CLUSTER_DIR: clusterDir },
  });
  if (r.code !== 0) throw new Error(`test/cluster/down.sh failed (exit ${r.code}): ${r.stderr}`);
  cachedBinDir = undefined;
}

export interface KubectlOptions extends Omit<RunOptions, 'cwd' | 'streamStderr'> {
  /** Adds `-n <namespace>`. */
  namespace?: string;
}

/**
 * Runs the matching kubectl against the local control plane (unless `args` name another
 * `--kubeconfig`). Never rejects on a non-zero exit.
 */
export function kubectl(args: string[], opts: KubectlOptions = {}): Promise<RunResult> {
  const ns = opts.namespace ? ['-n', opts.namespace] : [];
  const config = args.some((a) => a.startsWith('--kubeconfig')) ? [] : [`--kubeconfig=${kubeconfigPath}`];
  return run(kubectlPath(), [...config, ...ns, ...args], {
    ...opts,
    timeoutMs: opts.timeoutMs ?? 60_000,
  });
}

/** Like kubectl(), but rejects when kubectl fails; resolves to its stdout. */
export async function kubectlOk(args: string[], opts: KubectlOptions = {}): Promise<string> {
  const r = await kubectl(args, opts);
  if (r.code !== 0) {
    throw new Error(`kubectl ${args.join(' ')} failed (exit ${r.code}): ${r.stderr.trim()}`);
  }
  return r.stdout;
}

/** `kubectl get -o json`, parsed. */
export async function kubectlJson<T = Record<string, unknown>>(args: string[], opts: KubectlOptions = {}): Promise<T> {
  return JSON.parse(await kubectlOk([...args, '-o', 'json'], opts)) as T;
}

export interface EventuallyOptions {
  timeoutMs?: number;
  intervalMs?: number;
}

/**
 * Retries `fn` until it resolves without throwing (e.g. chai assertions pass), and returns
 * its value. After the timeout, rethrows the last error.
 */
export async function eventually<T>(fn: () => T | Promise<T>, opts: EventuallyOptions = {}): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const intervalMs = opts.intervalMs ?? 250;
  const deadline = Date.now() + timeoutMs;
  let attempts = 0;
  for (;;) {
    attempts++;
    try {
      return await fn();
    } catch (e) {
      if (Date.now() + intervalMs > deadline) {
        const err = e instanceof Error ? e : new Error(String(e));
        err.message = `still failing after ${timeoutMs} ms (${attempts} attempts): ${err.message}`;
        throw err;
      }
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Creates a namespace with a unique name (`<prefix>-<random>`) and returns its name. */
export async function uniqueNamespace(prefix: string, labels: Record<string, string> = {}): Promise<string> {
  const base = prefix.toLowerCase().replace(/[^a-z0-9-]/g, '-').replace(/^-+|-+$/g, '').slice(0, 50) || 'test';
  const name = `${base}-${randomBytes(4).toString('hex')}`;
  const manifest = {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name, labels: { 'test.deployer.dev/namespace': 'true', ...labels } },
  };
  await kubectlOk(['create', '-f', '-'], { input: JSON.stringify(manifest) });
  return name;
}

/** Deletes a namespace without waiting for its contents to go. */
export async function deleteNamespace(name: string): Promise<void> {
  await kubectl(['delete', 'namespace', name, '--wait=false', '--ignore-not-found']);
}

/** A KubeConfig for @kubernetes/client-node, loaded from the control plane's kubeconfig. */
export function loadKubeConfig(path: string = kubeconfigPath): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  return kc;
}

/** The control plane's CA certificate (PEM), e.g. to trust the apiserver from a test client. */
export function clusterCaPem(): string {
  return readFileSync(join(clusterDir, 'pki', 'ca.crt'), 'utf8');
}

/**
 * A kubeconfig for a ServiceAccount's token on the same apiserver as `admin`, for scenarios that
 * run the operator with exactly the permissions a Role or ClusterRole grants.
 */
export async function serviceAccountKubeConfig(admin: KubeConfig, namespace: string, serviceAccount: string, duration = '2h'): Promise<KubeConfig> {
  const token = await kubectl(['create', 'token', serviceAccount, '-n', namespace, `--duration=${duration}`]);
  if (token.code !== 0) throw new Error(`kubectl create token failed: ${token.stderr}`);
  const cluster = admin.getCurrentCluster();
  if (!cluster) throw new Error('the admin kubeconfig has no current cluster');
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'local', server: cluster.server, caData: cluster.caData, skipTLSVerify: false }],
    users: [{ name: serviceAccount, token: token.stdout.trim() }],
    contexts: [{ name: serviceAccount, cluster: 'local', user: serviceAccount }],
    currentContext: serviceAccount,
  });
  return kc;
}
