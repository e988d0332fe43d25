// The delivery metrics on /metrics, the "Deploy finished" log line and the feed of the Datadog
// DORA sender, all driven by the Canaries and Releases in the informer cache. Each finished
// history record is observed once (keyed by object uid, revision and finishedAt), so after a
// restart the histograms and counters are rebuilt from the histories the objects keep.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { DEPLOY_KINDS, DEPLOY_OUTCOMES, GAUGE_WINDOW_MS, type DeployKind } from '../api/delivery.js';
import type { Release } from '../api/release-types.js';
import type { Canary } from '../api/types.js';
import type { Logger } from '../runtime/logger.js';
import { assessDeploys, calculateDelivery, deploysOfCanary, deploysOfRelease, type AssessedDeploy } from './delivery.js';

const MIN = 60;
const HOUR = 3600;
const DAY = 24 * HOUR;
export const DURATION_BUCKETS = [30, MIN, 2 * MIN, 5 * MIN, 10 * MIN, 15 * MIN, 30 * MIN, HOUR, 2 * HOUR, 4 * HOUR, 8 * HOUR, DAY];
export const LEAD_TIME_BUCKETS = [5 * MIN, 15 * MIN, 30 * MIN, HOUR, 2 * HOUR, 4 * HOUR, 8 * HOUR, DAY, 2 * DAY, 4 * DAY, 7 * DAY, 14 * DAY, 30 * DAY];
export const RECOVERY_BUCKETS = [MIN, 5 * MIN, 10 * MIN, 30 * MIN, HOUR, 2 * HOUR, 4 * HOUR, 8 * HOUR, DAY, 2 * DAY, 7 * DAY];
export const LINES_BUCKETS = [1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

/** The object a deploy belongs to, as the DORA sender needs it. */
export type DeliveryObject = { kind: 'Canary'; object: Canary } | { kind: 'Release'; object: Release };

/** What the exporter tells its listeners (the DORA sender): each once per operator process. */
export type DeliveryEvent =
  | { type: 'Finished'; deploy: AssessedDeploy; source: DeliveryObject }
  /** A promoted deploy is now known to be a change failure. */
  | { type: 'ChangeFailure'; deploy: AssessedDeploy; source: DeliveryObject };

export interface DeliveryExporterOptions {
  registry: Registry;
  logger: Logger;
  now?: () => number;
  /** Deploys finished before it are not logged (they were logged before a restart); default: start − 10 min. */
  logFinishedAfter?: number;
  listeners?: Array<(e: DeliveryEvent) => void>;
}

const labels = (d: { kind: DeployKind; namespace: string; name: string }): { kind: string; namespace: string; name: string } => ({ kind: d.kind, namespace: d.namespace, name: d.name });

export class DeliveryExporter {
  readonly deploys: Counter<'kind' | 'namespace' | 'name' | 'outcome'>;
  readonly changeFailures: Counter<'kind' | 'namespace' | 'name' | 'cause'>;
  readonly duration: Histogram<'kind' | 'namespace' | 'name'>;
  readonly leadTime: Histogram<'kind' | 'namespace' | 'name'>;
  readonly timeToRecover: Histogram<'kind' | 'namespace' | 'name'>;
  readonly lines: Histogram<'kind' | 'namespace' | 'name'>;
  readonly changeFailureRate: Gauge<'kind' | 'namespace' | 'name'>;
  readonly deploysPerWeek: Gauge<'kind' | 'namespace' | 'name'>;

  /** Keys observed, per object (namespace/kind/name); pruned to the records the object still holds. */
  private readonly seen = new Map<string, Set<string>>();
  private readonly objects = new Map<string, DeliveryObject>();
  private readonly now: () => number;
  private readonly logAfter: number;
  private readonly listeners: Array<(e: DeliveryEvent) => void>;

  constructor(private readonly o: DeliveryExporterOptions) {
    this.now = o.now ?? Date.now;
    this.logAfter = o.logFinishedAfter ?? this.now() - 10 * 60_000;
    this.listeners = [...(o.listeners ?? [])];
    const registers = [o.registry];
    const labelNames = ['kind', 'namespace', 'name'] as const;
    this.deploys = new Counter({
      name: 'deployer_deploys_total',
      help: 'Finished deploys by outcome: promoted, rolled_back (after promotion: a change failure), caught (stopped before every target), abandoned, failed.',
      labelNames: [...labelNames, 'outcome'] as const,
      registers,
    });
    this.changeFailures = new Counter({
      name: 'deployer_change_failures_total',
      help: 'Promoted deploys found to be change failures, by cause (rolled_back, redeployed_previous, fix_forward).',
      labelNames: [...labelNames, 'cause'] as const,
      registers,
    });
    this.duration = new Histogram({ name: 'deployer_deploy_duration_seconds', help: 'Deploy start to every target promoted.', labelNames, buckets: DURATION_BUCKETS, registers });
    this.leadTime = new Histogram({ name: 'deployer_lead_time_seconds', help: 'Commit time (source.committedAt) to promoted.', labelNames, buckets: LEAD_TIME_BUCKETS, registers });
    this.timeToRecover = new Histogram({
      name: 'deployer_time_to_recover_seconds',
      help: 'Promotion of a failed deploy to a good revision running again.',
      labelNames,
      buckets: RECOVERY_BUCKETS,
      registers,
    });
    this.lines = new Histogram({ name: 'deployer_lines_changed', help: 'Lines added + deleted per promoted deploy (source.linesChanged).', labelNames, buckets: LINES_BUCKETS, registers });
    this.changeFailureRate = new Gauge({
      name: 'deployer_change_failure_rate',
      help: 'Change failures / promoted deploys over the last 30 days.',
      labelNames,
      registers,
      collect: () => this.collectGauges(),
    });
    this.deploysPerWeek = new Gauge({ name: 'deployer_deploys_per_week', help: 'Promoted deploys per week over the last 30 days.', labelNames, registers, collect: () => this.collectGauges() });
  }

  /** Adds a consumer of Finished and ChangeFailure events (the DORA sender). */
  subscribe(listener: (e: DeliveryEvent) => void): void {
    this.listeners.push(listener);
  }

  /** Call on every change of a Canary (informer onChange). */
  observeCanary(canary: Canary): void {
    this.observe({ kind: DEPLOY_KINDS.Canary, object: canary });
  }

  /** Call on every change of a Release (informer onChange); the Release controller wires it. */
  observeRelease(release: Release): void {
    this.observe({ kind: DEPLOY_KINDS.Release, object: release });
  }

  /** Call when the object is deleted: its gauges go; counters and histograms keep what they counted. */
  forget(kind: DeployKind, namespace: string, name: string): void {
    this.seen.delete(`${namespace}/${kind}/${name}`);
    this.objects.delete(`${namespace}/${kind}/${name}`);
  }

  private observe(source: DeliveryObject): void {
    const { namespace, name } = source.object.metadata;
    const id = `${namespace}/${source.kind}/${name}`;
    this.objects.set(id, source);
    const deploys = source.kind === DEPLOY_KINDS.Canary ? deploysOfCanary(source.object) : deploysOfRelease(source.object);
    const before = this.seen.get(id);
    const seen = new Set<string>();
    if (!before) {
      const l = labels({ kind: source.kind, namespace, name });
      for (const outcome of Object.values(DEPLOY_OUTCOMES)) this.deploys.inc({ ...l, outcome }, 0);
    }
    for (const d of assessDeploys(deploys)) {
      const key = `${d.uid}/${d.revision}/${d.finishedAt}`;
      seen.add(key);
      if (!before?.has(key)) this.finished(d, source);
      if (d.changeFailure) {
        const failKey = `${key}/failure`;
        seen.add(failKey);
        if (!before?.has(failKey)) {
          this.changeFailures.inc({ ...labels(d), cause: d.changeFailure });
          this.emit({ type: 'ChangeFailure', deploy: d, source });
        }
      }
      if (d.changeFailure && d.recoveredAt !== undefined && d.promotedAt !== undefined) {
        const recoveredKey = `${key}/recovered`;
        seen.add(recoveredKey);
        if (!before?.has(recoveredKey)) this.timeToRecover.observe(labels(d), (d.recoveredAt - d.promotedAt) / 1000);
      }
    }
    this.seen.set(id, seen);
  }

  private finished(d: AssessedDeploy, source: DeliveryObject): void {
    const l = labels(d);
    this.deploys.inc({ ...l, outcome: d.outcome });
    const duration = d.promotedAt !== undefined ? (d.promotedAt - d.startedAt) / 1000 : undefined;
    const lead = d.promotedAt !== undefined && d.committedAt !== undefined && d.promotedAt >= d.committedAt ? (d.promotedAt - d.committedAt) / 1000 : undefined;
    if (duration !== undefined) this.duration.observe(l, duration);
    if (lead !== undefined) this.leadTime.observe(l, lead);
    if (d.promotedAt !== undefined && d.linesChanged !== undefined) this.lines.observe(l, d.linesChanged);
    if (d.finishedAt >= this.logAfter) {
      this.o.logger.info('Deploy finished', {
        kind: d.kind,
        namespace: d.namespace,
        name: d.name,
        version: d.version,
        revision: d.revision,
        outcome: d.outcome,
        ...(d.reason ? { reason: d.reason } : {}),
        startedAt: new Date(d.startedAt).toISOString(),
        finishedAt: new Date(d.finishedAt).toISOString(),
        ...(d.promotedAt !== undefined ? { promotedAt: new Date(d.promotedAt).toISOString() } : {}),
        durationSeconds: duration ?? (d.finishedAt - d.startedAt) / 1000,
        ...(lead !== undefined ? { leadTimeSeconds: lead } : {}),
        ...(d.linesChanged !== undefined ? { linesChanged: d.linesChanged } : {}),
        ...(d.commit ? { commit: d.commit } : {}),
      });
    }
    this.emit({ type: 'Finished', deploy: d, source });
  }

  private emit(e: DeliveryEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch (err) {
        this.o.logger.warn('Delivery listener failed', { error: (err as Error)?.message });
      }
    }
  }

  private collectGauges(): void {
    const now = this.now();
    const canaries: Canary[] = [];
    const releases: Release[] = [];
    for (const s of this.objects.values()) (s.kind === DEPLOY_KINDS.Canary ? canaries : releases).push(s.object as never);
    this.changeFailureRate.reset();
    this.deploysPerWeek.reset();
    for (const f of calculateDelivery({ canaries, releases }, { since: now - GAUGE_WINDOW_MS, now })) {
      this.deploysPerWeek.set(labels(f), f.deploysPerWeek);
      if (f.changeFailureRate !== undefined) this.changeFailureRate.set(labels(f), f.changeFailureRate);
    }
  }
}
