// The compiled operator as a benchmark runs it (npm run build first): one process, its log in
// .cluster/logs (or $CLUSTER_DIR/logs), and what the benchmarks read from it: RSS and CPU from
// /proc (process-usage.ts), and its own /metrics on the health port.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer, type AddressInfo } from 'node:net';
import { clusterDir } from '../support/cluster.js';
import { waitUntil } from './stats.js';
import { rssMiB } from './process-usage.js';

export { cpuSeconds } from './process-usage.js';

export const ROOT = new URL('../../', import.meta.url).pathname;

export interface OperatorProcessOptions {
  healthPort: number;
  /** Watch only these namespaces (default: all). */
  namespaces?: string[];
  /** File name under <cluster dir>/logs. */
  logName: string;
  logLevel?: string;
  /** More flags for the operator, e.g. --no-leader-elect. */
  extraArgs?: string[];
}

/** The operator as it runs in production: compiled JavaScript (dist/, from npm run build), else src/main.ts with tsx. */
export function startOperatorProcess(o: OperatorProcessOptions): ChildProcess {
  const logs = join(clusterDir, 'logs');
  mkdirSync(logs, { recursive: true });
  const entry = operatorEntry() === 'compiled' ? [`${ROOT}dist/src/main.js`] : ['--import', 'tsx', `${ROOT}src/main.ts`];
  const scope = o.namespaces ? ['--namespaces', o.namespaces.join(',')] : [];
  const args = [...entry, ...scope, '--webhook-port', '0', '--health-port', String(o.healthPort), '--webhook-url', '127.0.0.1', '--log-level', o.logLevel ?? process.env.BENCH_LOG_LEVEL ?? 'warn', ...(o.extraArgs ?? [])];
  const log = openSync(join(logs, o.logName), 'w');
  // As the image runs it: with the environment its Dockerfile sets (NODE_OPTIONS: a capped young generation).
  const child = spawn(`${ROOT}node_modules/.bin/node`, args, { cwd: ROOT, stdio: ['ignore', log, log], env: { ...process.env, ...imageEnv() } });
  running.add(child);
  child.once('exit', () => running.delete(child));
  stopOnInterrupt();
  return child;
}

const running = new Set<ChildProcess>();
let interruptHooked = false;

/** An interrupted benchmark (Ctrl-C, SIGTERM) stops the operators it started instead of leaving them running. */
function stopOnInterrupt(): void {
  if (interruptHooked) return;
  interruptHooked = true;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      for (const child of running) child.kill('SIGTERM');
      process.exit(130);
    });
  }
}

export function operatorEntry(): 'compiled' | 'tsx' {
  return existsSync(`${ROOT}dist/src/main.js`) ? 'compiled' : 'tsx';
}

/** Until /readyz says the informers synced and this instance leads (a standby would not reconcile). */
export async function waitOperatorReady(healthPort: number, timeoutMs = 120_000, op?: ChildProcess): Promise<void> {
  await waitUntil(async () => {
    if (op && (op.exitCode !== null || op.signalCode !== null)) throw new Error(`the operator exited (${op.exitCode ?? op.signalCode}); see its log`);
    const r = await fetch(`http://127.0.0.1:${healthPort}/readyz`).catch(() => undefined);
    const body = r ? await r.text() : '';
    return r?.status === 200 && body.startsWith('ok: leader') ? true : undefined;
  }, timeoutMs, 200);
}

/** A TCP port free on 127.0.0.1 right now (for the operator's health port). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** SIGTERM, then SIGKILL after graceMs; resolves when the process has exited. */
export async function stopOperatorProcess(op: ChildProcess, graceMs = 10_000): Promise<void> {
  if (op.exitCode !== null || op.signalCode !== null) return;
  const exited = new Promise<void>((r) => op.once('exit', () => r()));
  op.kill('SIGTERM');
  const timer = setTimeout(() => op.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** One sample of a Prometheus text exposition: metric name with its labels → value. */
export interface MetricSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export function parseMetrics(text: string): MetricSample[] {
  const out: MetricSample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

export async function scrapeMetrics(healthPort: number): Promise<MetricSample[]> {
  const res = await fetch(`http://127.0.0.1:${healthPort}/metrics`, { signal: AbortSignal.timeout(10_000) });
  return parseMetrics(await res.text());
}

/** Sum of the samples of a metric whose labels include `match`. */
export function metricSum(samples: MetricSample[], name: string, match: Record<string, string> = {}): number {
  return samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v)).reduce((a, s) => a + s.value, 0);
}

/** RSS (from /proc); V8 heap in use and committed, external and arrayBuffers (from the operator's own /metrics), in MiB. */
export async function memory(pid: number, healthPort: number): Promise<{ rssMb: number; heapUsedMb: number; heapTotalMb: number; externalMb: number; arrayBuffersMb: number }> {
  const samples = await scrapeMetrics(healthPort);
  const mb = (name: string): number => Math.round((metricSum(samples, name) / 1024 / 1024) * 10) / 10;
  return { rssMb: rssMiB(pid), heapUsedMb: mb('deployer_nodejs_heap_size_used_bytes'), heapTotalMb: mb('deployer_nodejs_heap_size_total_bytes'), externalMb: mb('deployer_nodejs_external_memory_bytes'), arrayBuffersMb: mb('deployer_nodejs_array_buffers_bytes') };
}

/** The environment of the operator's image (the Dockerfile's ENV K=V lines), to run it as it runs there. */
export function imageEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const m of readFileSync(join(ROOT, 'Dockerfile'), 'utf8').matchAll(/^ENV ([A-Z_][A-Z0-9_]*)=(.*)$/gm)) env[m[1]!] = m[2]!.replace(/^"|"$/g, '');
  return env;
}

/** The NODE_OPTIONS of the operator's image. */
export function imageNodeOptions(): string {
  return imageEnv()['NODE_OPTIONS'] ?? '';
}
