// Shared setup for the adapter tests: a stand-in server and a runner that can be awaited.
import { createServer } from 'node:net';
import type { Measurement } from '../../src/api/types.js';
import { DEFAULT_MONITOR_VERDICTS } from '../../src/analysis/template.js';
import type { DatadogCredentials, MeasurementRequest, ResolvedMonitorCheck, ResolvedQueryCheck } from '../../src/analysis/provider.js';
import { MeasurementRunner, type MeasurementRunnerOptions } from '../../src/analysis/runner.js';

export const API_KEY = 'test-api-key-6f1d0c2a9b8e7f3d4c5b';
export const APP_KEY = 'test-app-key-0a9b8c7d6e5f4a3b2c1d0e9f';

export function monitorCheck(monitor: ResolvedMonitorCheck['monitor'], over: Partial<ResolvedMonitorCheck> = {}): ResolvedMonitorCheck {
  return { kind: 'datadogMonitor', name: 'monitor', monitor, group: 'version:2.0.0', verdicts: { ...DEFAULT_MONITOR_VERDICTS }, intervalMs: 60_000, ...over };
}

export function queryCheck(query: string, over: Partial<ResolvedQueryCheck> = {}): ResolvedQueryCheck {
  return { kind: 'datadogQuery', name: 'query', query, max: 0.5, windowMs: 300_000, noData: 'Inconclusive', intervalMs: 60_000, ...over };
}

/** A runner whose results can be awaited per Canary. */
export class TestRunner {
  readonly runner: MeasurementRunner;
  private waiters = new Map<string, Array<() => void>>();
  readonly woken: string[] = [];

  constructor(options: Omit<MeasurementRunnerOptions, 'onReady'> = {}) {
    this.runner = new MeasurementRunner({
      timeoutMs: 2000,
      ...options,
      onReady: (key) => {
        this.woken.push(key);
        const list = this.waiters.get(key) ?? [];
        this.waiters.delete(key);
        for (const resolve of list) resolve();
      },
    });
  }

  ready(canaryKey: string, timeoutMs = 15_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${canaryKey} was not woken within ${timeoutMs}ms`)), timeoutMs);
      const list = this.waiters.get(canaryKey) ?? [];
      list.push(() => {
        clearTimeout(timer);
        resolve();
      });
      this.waiters.set(canaryKey, list);
    });
  }

  /** Requests and waits for a measurement. */
  async measure(req: MeasurementRequest): Promise<Measurement> {
    const early = this.runner.peek(req);
    if (early) return early;
    const ready = this.ready(req.canaryKey);
    this.runner.request(req);
    await ready;
    const m = this.runner.peek(req);
    if (!m) throw new Error('woken without a fresh measurement');
    return m;
  }

  close(): void {
    this.runner.close();
  }
}

export function request(canaryKey: string, check: MeasurementRequest['check'], credentials: DatadogCredentials, notBefore = Date.now()): MeasurementRequest {
  return { canaryKey, check, credentials, notBefore };
}

/** A local port with nothing listening. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
