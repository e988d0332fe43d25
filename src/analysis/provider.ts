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
export type ResolvedCheck =
  | ResolvedMonitorCheck
  | ResolvedQueryCheck
  | ResolvedCompareCheck
  | ResolvedPrometheusCheck
  | ResolvedWebhookCheck
  | ResolvedPrometheusCompareCheck;

/** The checks judged through Datadog's API (its credentials, call budget and rate limits). */
export type DatadogCheck = ResolvedMonitorCheck | ResolvedQueryCheck | ResolvedCompareCheck;

/** A Secret a check reads (a name in the Canary's namespace, and for single values the key). */
export interface SecretKeyRef {
  name: string;
  key: string;
}

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

/**
 * Canary against baseline from Prometheus (a compare check with compare.prometheus): one range query
 * per role over the window, judged as ResolvedCompareCheck is (analysis/compare.ts).
 */
export interface ResolvedPrometheusCompareCheck {
  kind: 'prometheusCompare';
  name: string;
  /** Base URL of the Prometheus HTTP API (no trailing slash). */
  address: string;
  /** PromQL rendered with {{ role }} = canary and = baseline; each must return one series. */
  queries: { canary: string; baseline: string };
  /** Resolution of the range queries. */
  stepMs: number;
  higherIsWorse: boolean;
  minPoints: number;
  significance: number;
  tolerance: number;
  windowMs: number;
  /** Secret with `username` and `password` (basic) or `token` (bearer). */
  authSecret?: string;
  tls?: { insecureSkipVerify: boolean; ca?: SecretKeyRef };
  intervalMs: number;
}

export interface ResolvedPrometheusCheck {
  kind: 'prometheusQuery';
  name: string;
  /** Base URL of the Prometheus HTTP API, e.g. http://prometheus.monitoring:9090 (no trailing slash). */
  address: string;
  /** PromQL, templates rendered; an instant query that must return exactly one sample. */
  query: string;
  min?: number;
  max?: number;
  /** Verdict when the query returns no sample (an empty vector). */
  noData: AssignableVerdict;
  /** Secret with `username` and `password` (basic) or `token` (bearer). */
  authSecret?: string;
  tls?: { insecureSkipVerify: boolean; ca?: SecretKeyRef };
  intervalMs: number;
}

export interface ResolvedWebhookCheck {
  kind: 'webhook';
  name: string;
  url: string;
  method: string;
  /** The request body, templates rendered. */
  body?: string;
  /** Secret whose every key is a request header. */
  headersSecret?: string;
  timeoutMs: number;
  intervalMs: number;
}

/**
 * What a check's Secrets hold, read by observe() for one request. Never logged, never in status;
 * the runner keys shared calls by a hash of it.
 */
export interface CheckSecrets {
  /** The value of an Authorization header ("Basic …", "Bearer …"). */
  authorization?: string;
  /** A PEM bundle of CA certificates to trust. */
  ca?: string;
  /** Extra request headers. */
  headers?: Record<string, string>;
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
  | { kind: 'rateLimited'; takenAt: number; until: number; retries: number; url?: string }
  /** A Prometheus instant query's result: its type and samples (a scalar is one sample without labels). */
  | { kind: 'samples'; takenAt: number; resultType: string; samples: PrometheusSample[]; url: string }
  /** The canary's and the baseline's Prometheus range queries over the same window (every point of every series). */
  | {
      kind: 'samplesPair';
      takenAt: number;
      fromMs: number;
      toMs: number;
      stepMs: number;
      canary: { resultType: string; samples: PrometheusSample[] };
      baseline: { resultType: string; samples: PrometheusSample[] };
      url: string;
    }
  /** An HTTP answer (webhook checks): the status and the start of the body, cleaned for status. */
  | { kind: 'http'; takenAt: number; status: number; body: string; durationMs: number; url: string };

export interface PrometheusSample {
  metric: Record<string, string>;
  /** The value; NaN and ±Inf stay as Prometheus wrote them (judged as not a number). */
  value: number;
  /** Sample time in ms. */
  at: number;
}

/** Everything a fresh measurement needs; a result taken at or after notBefore is fresh. */
export interface MeasurementRequest {
  /** namespace/name of the Canary to wake when the result is in. */
  canaryKey: string;
  check: ResolvedCheck;
  /** Datadog credentials: required for Datadog checks, ignored by the others. */
  credentials?: DatadogCredentials;
  /** What the check's Secrets hold (Prometheus auth and CA, webhook headers). */
  secrets?: CheckSecrets;
  notBefore: number;
}

/** Options for one remote call of a provider. */
export interface CallContext {
  /** Aborts the call (the timeout is already in it). */
  signal: AbortSignal;
  /** The timeout in the signal, for messages. */
  timeoutMs: number;
  now: () => number;
}

/**
 * A check provider other than Datadog: one remote call per measurement, shared between requests
 * whose call keys are equal. Implementations live one per folder (prometheus/, webhook/) and are
 * chosen by checkProvider() (providers.ts) with an exhaustive switch.
 */
export interface CheckProvider<C extends ResolvedCheck = ResolvedCheck> {
  /** Equal for requests that make the same call: endpoint, request, and a hash of the secrets (never the secrets). */
  callKey(check: C, secrets: CheckSecrets | undefined): string;
  /** The call's own timeout; undefined: the runner's (operator flag, default 10 s). */
  timeoutMs(check: C): number | undefined;
  /** Makes the call. Never throws: a failure is an error observation. */
  fetch(check: C, secrets: CheckSecrets | undefined, ctx: CallContext): Promise<Observation>;
  /** Pure: the measurement an observation gives this check. */
  judge(check: C, obs: Observation): Measurement;
}

/** Runs measurements off the work queue and shares identical calls between Canaries. */
export interface MeasurementSource {
  /** A fresh measurement for the request if one is ready. Never blocks, never throws. */
  peek(req: MeasurementRequest): Measurement | undefined;
  /** Starts or joins the call; wakes req.canaryKey when the result is in. Never throws. */
  request(req: MeasurementRequest): void;
}
