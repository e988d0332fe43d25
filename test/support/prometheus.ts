// Debian's real `prometheus`, run by the tests on 127.0.0.1 with a config and storage of its own
// (never the package's service). test/tools/prometheus.sh installs the package when missing.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { repoRoot, run } from './cluster.js';

export interface ScrapeTarget {
  job: string;
  /** host:port serving /metrics. */
  target: string;
  /** Extra labels on every series (e.g. namespace, as a Kubernetes service discovery would add). */
  labels?: Record<string, string>;
}

export interface QueryResult {
  resultType: string;
  result: Array<{ metric: Record<string, string>; value?: [number, string]; values?: Array<[number, string]> }>;
}

/** The answer of /api/v1/*: data on success, the error Prometheus gave otherwise. */
export type ApiAnswer<T> = { ok: true; data: T; warnings?: string[] } | { ok: false; error: string };

/** Installs the package if needed (the script is idempotent) and returns the binary's path. */
export async function ensurePrometheus(): Promise<{ bin: string; ms: number }> {
  const t0 = Date.now();
  const r = await run('bash', [join(repoRoot, 'test/tools/prometheus.sh')], { timeoutMs: 900_000, streamStderr: true });
  if (r.code !== 0) throw new Error(`test/tools/prometheus.sh failed (${r.code}): ${r.stderr}`);
  const bin = r.stdout.trim().split('\n').pop() ?? '';
  if (!bin) throw new Error('test/tools/prometheus.sh printed no path');
  return { bin, ms: Date.now() - t0 };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export class Prometheus {
  private constructor(
    readonly url: string,
    private readonly proc: ChildProcess,
    private readonly dir: string,
    /** Milliseconds from spawn to /-/ready. */
    readonly startMs: number,
  ) {}

  static async start(bin: string, targets: ScrapeTarget[], opts: { scrapeIntervalSec?: number } = {}): Promise<Prometheus> {
    const dir = mkdtempSync(join(tmpdir(), 'deployer-prometheus-'));
    const interval = `${opts.scrapeIntervalSec ?? 1}s`;
    const config = {
      global: { scrape_interval: interval, scrape_timeout: interval, evaluation_interval: interval },
      scrape_configs: targets.map((t) => ({ job_name: t.job, metrics_path: '/metrics', static_configs: [{ targets: [t.target], labels: t.labels ?? {} }] })),
    };
    writeFileSync(join(dir, 'prometheus.yml'), stringify(config));
    mkdirSync(join(repoRoot, '.cluster/logs'), { recursive: true });
    const port = await freePort();
    const log = createWriteStream(join(repoRoot, `.cluster/logs/prometheus-${port}.log`));
    const t0 = Date.now();
    const proc = spawn(
      bin,
      [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--storage.tsdb.retention.time=1h', '--log.level=warn'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    proc.stdout?.pipe(log);
    proc.stderr?.pipe(log);
    const url = `http://127.0.0.1:${port}`;
    const prom = new Prometheus(url, proc, dir, 0);
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (proc.exitCode !== null) {
        rmSync(dir, { recursive: true, force: true });
        throw new Error(`prometheus exited with ${proc.exitCode} before it was ready; see .cluster/logs/prometheus-${port}.log`);
      }
      const ready = await fetch(`${url}/-/ready`).then((r) => r.ok, () => false);
      if (ready) break;
      if (Date.now() > deadline) {
        await prom.stop();
        throw new Error(`prometheus not ready at ${url} after 60 s`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    return new Prometheus(url, proc, dir, Date.now() - t0);
  }

  private async api<T>(path: string, params: Record<string, string | string[]>): Promise<ApiAnswer<T>> {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) for (const one of Array.isArray(v) ? v : [v]) q.append(k, one);
    const res = await fetch(`${this.url}${path}?${q.toString()}`, { signal: AbortSignal.timeout(10_000) });
    const body = (await res.json()) as { status: string; data?: T; error?: string; errorType?: string; warnings?: string[] };
    if (body.status !== 'success' || body.data === undefined) return { ok: false, error: `${body.errorType ?? res.status}: ${body.error ?? 'no data'}` };
    return { ok: true, data: body.data, ...(body.warnings ? { warnings: body.warnings } : {}) };
  }

  /** An instant query through /api/v1/query, evaluated now. */
  query(expr: string): Promise<ApiAnswer<QueryResult>> {
    return this.api<QueryResult>('/api/v1/query', { query: expr, time: String(Date.now() / 1000) });
  }

  /** A range query through /api/v1/query_range over the last `seconds`, as a Grafana graph asks. */
  queryRange(expr: string, seconds: number, stepSec: number): Promise<ApiAnswer<QueryResult>> {
    const end = Date.now() / 1000;
    return this.api<QueryResult>('/api/v1/query_range', { query: expr, start: String(end - seconds), end: String(end), step: String(stepSec) });
  }

  /** The values of a label on the series matching a selector (what Grafana's label_values() asks). */
  labelValues(label: string, match: string): Promise<ApiAnswer<string[]>> {
    return this.api<string[]>(`/api/v1/label/${encodeURIComponent(label)}/values`, { 'match[]': match });
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (p.exitCode === null && p.signalCode === null) {
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      const timer = setTimeout(() => p.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
