// Prometheus metrics of the operator (prom-client). One registry per operator instance so
// tests can run several in one process.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import perfHooks, { type ELDHistogram } from 'node:perf_hooks';
import { REASONS } from '../api/constants.js';

/**
 * How often the event-loop lag histogram samples (prom-client's eventLoopMonitoringPrecision). Each
 * sample wakes the idle process: every 100 ms cost 0.03 s of CPU a minute, every second 0.004 s. A
 * stall still delays the next sample by its whole length, so stalls of a second or more are all seen.
 */
export const EVENT_LOOP_SAMPLE_MS = 1000;

export class OperatorMetrics {
  readonly registry = new Registry();
  readonly reconciles = new Counter({ name: 'deployer_reconcile_total', help: 'Reconcile passes by result (ok, error, conflict, cancelled: leadership went during the pass).', labelNames: ['controller', 'result'] as const, registers: [this.registry] });
  readonly reconcileDuration = new Histogram({
    name: 'deployer_reconcile_duration_seconds',
    help: 'Duration of reconcile passes.',
    labelNames: ['controller'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({ name: 'deployer_workqueue_depth', help: 'Keys waiting in the work queue.', labelNames: ['controller'] as const, registers: [this.registry] });
  readonly watchRestarts = new Counter({ name: 'deployer_watch_restarts_total', help: 'Informer restarts after watch errors.', labelNames: ['resource'] as const, registers: [this.registry] });
  readonly watchStarted = new Gauge({ name: 'deployer_informer_watch_started_timestamp_seconds', help: 'When the latest watch of a resource started (the server answered); after an apiserver restart, every resource past the restart means the watches are back.', labelNames: ['resource'] as const, registers: [this.registry] });
  readonly kubeRequests = new Counter({ name: 'deployer_kube_requests_total', help: 'Requests to the Kubernetes API by verb and resource (e.g. canaries/status), watches excepted.', labelNames: ['verb', 'resource'] as const, registers: [this.registry] });
  readonly arrayBuffers = new Gauge({
    name: 'deployer_nodejs_array_buffers_bytes',
    help: 'Memory of ArrayBuffers and SharedArrayBuffers, Buffers included (process.memoryUsage().arrayBuffers; part of nodejs_external_memory_bytes).',
    registers: [this.registry],
    collect: () => {
      this.arrayBuffers.set(process.memoryUsage().arrayBuffers);
    },
  });
  readonly datadogCalls = new Counter({ name: 'deployer_datadog_calls_total', help: 'Calls to the Datadog API by result (ok, error, rate_limited).', labelNames: ['result'] as const, registers: [this.registry] });
  readonly memoryCompactions = new Counter({ name: 'deployer_memory_compactions_total', help: 'Memory-reducing collections run after a burst of work (the heap compacted and its freed pages given back).', registers: [this.registry] });
  readonly memoryCompactionSeconds = new Counter({ name: 'deployer_memory_compaction_seconds_total', help: 'Time spent in memory-reducing collections (the event loop waits meanwhile).', registers: [this.registry] });
  readonly leader = new Gauge({ name: 'deployer_leader', help: '1 while this instance holds the leader lease.', registers: [this.registry] });
  readonly transitions = new Counter({ name: 'deployer_canary_transitions_total', help: 'Canary events by reason (NewRevision, Promoted, CheckFailed, …); a rollback counts under its cause (CheckFailed, CheckErrors, ProgressDeadlineExceeded, AbortRequested).', labelNames: ['reason'] as const, registers: [this.registry] });
  readonly webhookRequests = new Counter({ name: 'deployer_webhook_requests_total', help: 'Admission requests by outcome (held, allowed, error).', labelNames: ['outcome'] as const, registers: [this.registry] });

  readonly informerObjects = new Gauge({
    name: 'deployer_informer_objects',
    help: 'Objects held in the informer cache, by resource.',
    labelNames: ['resource'] as const,
    registers: [this.registry],
    collect: () => {
      for (const { resource, objects } of this.informerSizes()) this.informerObjects.set({ resource }, objects);
    },
  });
  private informerSizes: () => Array<{ resource: string; objects: number }> = () => [];

  /** Memory of ArrayBuffers and Buffers (part of external; prom-client's default metrics leave it out). */
  /** Where deployer_informer_objects reads the cache sizes from. */
  observeInformers(sizes: () => Array<{ resource: string; objects: number }>): void {
    this.informerSizes = sizes;
  }

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    // The event-loop lag histogram samples once a second, not prom-client's default 10 ms: at 10 ms its
    // timer wakes the idle operator 6,000 times a minute (0.1 s of CPU per minute on its own).
    if (opts.defaultMetrics) {
      // Node's histogram records the time between two of its ticks, the resolution included, and
      // prom-client reports it as it is: an idle operator would show a lag of a whole second.
      // prom-client is given a histogram that reports the delay beyond the resolution.
      const original = perfHooks.monitorEventLoopDelay;
      perfHooks.monitorEventLoopDelay = (o) => lagBeyondResolution(original(o), o?.resolution ?? 10);
      try {
        collectDefaultMetrics({ register: this.registry, prefix: 'deployer_', eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
      } finally {
        perfHooks.monitorEventLoopDelay = original;
      }
    }
    // Every reason starts at 0, so increase() and rate() count a reason's first event too (a
    // series that first appears at 1 reads as no increase). A rollback is counted under its cause.
    for (const reason of Object.values(REASONS)) this.transitions.inc({ reason }, 0);
  }
}

/**
 * The event-loop delay of a histogram of tick intervals: each reading less the resolution (never
 * below 0). What a pass or an admission request waits beyond the timer's own period.
 */
export function lagBeyondResolution(h: ELDHistogram, resolutionMs: number): ELDHistogram {
  const period = resolutionMs * 1e6;
  const less = (ns: number): number => (Number.isFinite(ns) ? Math.max(0, ns - period) : ns);
  return new Proxy(h, {
    get(target, prop) {
      if (prop === 'min' || prop === 'max' || prop === 'mean') return less(target[prop]);
      const value = Reflect.get(target, prop, target) as unknown;
      if (prop === 'percentile') return (p: number) => less(target.percentile(p));
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}
