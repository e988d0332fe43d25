// Checks, credentials and the small interfaces between the controller and metric providers.
import type { AssignableVerdict, Measurement, MonitorState } from '../api/types.js';

/** Datadog credentials read from the Canary's Secret. Never logged or written to status. */
export interface DatadogCredentials {
  apiKey: string;
  appKey: string;
  /** A Datadog site such as datadoghq.com or datadoghq.eu; default datadoghq.com. */
  site?: string;
  /** A full base URL (e.g. a proxy); wins over site. */
  url?: string;
}

/** A check with its templates rendered and its defaults applied. */
export type ResolvedCheck = ResolvedMonitorCheck | ResolvedQueryCheck | ResolvedCompareCheck;

export interface ResolvedMonitorCheck {
  kind: 'datadogMonitor';
  name: string;
  /** Exactly one selector is set. */
  monitor: { id?: number; tags?: string[]; query?: string };
  /** The canary's group in a multi-alert monitor, e.g. "version:1.4.2". */
  group: string;
  verdicts: Record<MonitorState, AssignableVerdict>;
  intervalMs: number;
}

export interface ResolvedQueryCheck {
  kind: 'datadogQuery';
  name: string;
  query: string;
  min?: number;
  max?: number;
  windowMs: number;
  noData: AssignableVerdict;
  intervalMs: number;
}

/** Canary against baseline: one query per role, compared by a Mann-Whitney U test (analysis/compare.ts). */
export interface ResolvedCompareCheck {
  kind: 'compare';
  name: string;
  /** The query rendered with {{ role }} = canary and = baseline. */
  queries: { canary: string; baseline: string };
  higherIsWorse: boolean;
  minPoints: number;
  significance: number;
  tolerance: number;
  windowMs: number;
  intervalMs: number;
}

/** One state seen for one monitor (the canary's group if it is multi-alert). */
export interface MonitorObservation {
  id: number;
  name: string;
  /** Overall state of the monitor. */
  overallState: string;
  /** Group name -> state, for multi-alert monitors (empty when the monitor is simple). */
  groups: Record<string, string>;
}

/** The raw result of one remote call; shared by every check that makes the same call. */
export type Observation =
  | { kind: 'monitors'; takenAt: number; monitors: MonitorObservation[]; url: string }
  | { kind: 'series'; takenAt: number; fromMs: number; toMs: number; points: Array<[number, number | null]>; bucketMs?: number; url: string }
  /** The canary's and the baseline's series of a compare check, read over the same window. */
  | {
      kind: 'seriesPair';
      takenAt: number;
      fromMs: number;
      toMs: number;
      canary: { points: Array<[number, number | null]>; bucketMs?: number };
      baseline: { points: Array<[number, number | null]>; bucketMs?: number };
      url: string;
    }
  | { kind: 'error'; takenAt: number; message: string; status?: number; url?: string }
  /** Datadog kept answering 429: no measurement, and not an error of the check either. */
  | { kind: 'rateLimited'; takenAt: number; until: number; retries: number; url?: string };

/** Everything a fresh measurement needs; a result taken at or after notBefore is fresh. */
export interface MeasurementRequest {
  /** namespace/name of the Canary to wake when the result is in. */
  canaryKey: string;
  check: ResolvedCheck;
  credentials: DatadogCredentials;
  notBefore: number;
}

/** Runs measurements off the work queue and shares identical calls between Canaries. */
export interface MeasurementSource {
  /** A fresh measurement for the request if one is ready. Never blocks, never throws. */
  peek(req: MeasurementRequest): Measurement | undefined;
  /** Starts or joins the call; wakes req.canaryKey when the result is in. Never throws. */
  request(req: MeasurementRequest): void;
}
