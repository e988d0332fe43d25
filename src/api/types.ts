// The Canary resource (deployer.dev/v1alpha1), as the controller reads and writes it.
// The CRD schema in crds/deployer.dev_canaries.yaml is the source of truth for what the
// apiserver accepts; these types mirror it.
import type { NotificationRecord, NotificationSpec } from './notification-types.js';

export const GROUP = 'deployer.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const CANARY_KIND = 'Canary';
export const CANARY_PLURAL = 'canaries';

export interface ObjectMeta {
  name: string;
  namespace: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  deletionTimestamp?: string;
  creationTimestamp?: string;
}

export interface Canary {
  apiVersion: typeof API_VERSION;
  kind: typeof CANARY_KIND;
  metadata: ObjectMeta;
  spec: CanarySpec;
  status?: CanaryStatus;
}

export interface CanarySpec {
  targetRef: { name: string };
  steps: Step[];
  analysis?: AnalysisSpec;
  datadog?: DatadogSpec;
  /** Go-style duration, default 15m. */
  progressDeadline?: string;
  /** Holds progress while true. */
  paused?: boolean;
  /** Report promotions (and change failures) to Datadog DORA Metrics. */
  dora?: DoraSpec;
  /** Finished canaries kept in status.history; default 10. */
  historyLimit?: number;
  /** Earlier stable revisions that roll out again without a canary; default { revisions: 3 }. */
  rollbackWindow?: { revisions?: number };
  /** Where transitions are announced (src/api/notification-types.ts). */
  notifications?: NotificationSpec[];
}

/** Datadog DORA Metrics reporting of a Canary or a Release. */
export interface DoraSpec {
  enabled: boolean;
  /** Service in Datadog; default the object's name. */
  service?: string;
  env?: string;
}

export type Step = { setWeight: number; pause?: never } | { pause: { duration?: string }; setWeight?: never };

export interface AnalysisSpec {
  /** Go-style duration, default 1m. */
  interval?: string;
  /** Failed measurements tolerated per check; one more rolls back. Default 0. */
  failureLimit?: number;
  /** Consecutive errors per check that roll back. Default 3. */
  consecutiveErrorLimit?: number;
  checks?: CheckSpec[];
  /**
   * Start baseline pods (the stable template, as many as the canary pods, at the same time,
   * labelled deployer.dev/role=baseline) for compare checks. Default false.
   */
  baseline?: boolean;
}

export const VERDICTS = { Pass: 'Pass', Fail: 'Fail', Inconclusive: 'Inconclusive', Error: 'Error' } as const;
export type Verdict = (typeof VERDICTS)[keyof typeof VERDICTS];
/** A verdict a user may assign to a monitor state or to no data. */
export type AssignableVerdict = Exclude<Verdict, 'Error'>;

export const MONITOR_STATES = ['OK', 'Alert', 'Warn', 'No Data', 'Skipped', 'Ignored', 'Unknown'] as const;
export type MonitorState = (typeof MONITOR_STATES)[number];

/** Per-state verdict overrides, keyed by camel-cased state name. */
export interface MonitorVerdicts {
  ok?: AssignableVerdict;
  alert?: AssignableVerdict;
  warn?: AssignableVerdict;
  noData?: AssignableVerdict;
  skipped?: AssignableVerdict;
  ignored?: AssignableVerdict;
  unknown?: AssignableVerdict;
}

export interface DatadogMonitorCheck {
  id?: number;
  tags?: string[];
  query?: string;
  /** Group of a multi-alert monitor that belongs to the canary. Default `version:{{ version }}`. */
  group?: string;
  verdicts?: MonitorVerdicts;
}

export interface DatadogQueryCheck {
  query: string;
  min?: number;
  max?: number;
  /** How far back to query, Go-style duration. Default 5 × the analysis interval, at least 1m. */
  window?: string;
  /** Verdict when the query returns no complete point. Default Inconclusive. */
  noData?: AssignableVerdict;
}

/**
 * Canary against baseline: a metric query rendered once per role ({{ role }} is "canary", then
 * "baseline"), the two series compared with a Mann-Whitney U test. Needs spec.analysis.baseline.
 */
export interface CompareCheck {
  /** A Datadog metric query with {{ role }} in its scope, e.g. avg:trace.http.request.duration{service:web,role:{{ role }}}. */
  query: string;
  /** Higher values are worse (latency, errors); false for throughput or success rates. Default true. */
  higherIsWorse?: boolean;
  /** Points each series needs before the test judges; fewer is Inconclusive. Default 10. */
  minPoints?: number;
  /** Significance level of the one-sided test. Default 0.05. */
  significance?: number;
  /** Relative difference of the medians tolerated in the bad direction (0.1 = 10%). Default 0.1. */
  tolerance?: number;
  /** How far back to query, Go-style duration. Default 10 × the analysis interval, at least 5m. */
  window?: string;
  /**
   * Where the series come from when they are in Prometheus: present, `query` is PromQL run as a
   * range query against this server (no Datadog involved); absent, `query` is a Datadog metric query.
   */
  prometheus?: PrometheusConnection;
  /** Prometheus only: the range query's resolution, Go-style duration. Default the analysis interval, at least 30s. */
  step?: string;
}

/** How to reach a Prometheus server: the connection fields of prometheusQuery. */
export interface PrometheusConnection {
  /** Base URL of the Prometheus HTTP API, e.g. http://prometheus.monitoring:9090. */
  address: string;
  /** A Secret with keys username and password (basic auth) or token (bearer). */
  auth?: { secretRef: { name: string } };
  tls?: { insecureSkipVerify?: boolean; caSecretRef?: { name: string; key?: string } };
}

export interface CheckSpec {
  name: string;
  datadogMonitor?: DatadogMonitorCheck;
  datadogQuery?: DatadogQueryCheck;
  compare?: CompareCheck;
  prometheusQuery?: PrometheusQueryCheck;
  webhook?: WebhookCheck;
}

export interface PrometheusQueryCheck {
  /** Base URL of the Prometheus HTTP API, e.g. http://prometheus.monitoring:9090. */
  address: string;
  /** PromQL instant query returning one sample; templates as in datadogQuery. */
  query: string;
  min?: number;
  max?: number;
  /** Verdict when the query returns no sample (or NaN). Default Inconclusive. */
  noData?: AssignableVerdict;
  /** A Secret with keys username and password (basic auth) or token (bearer). */
  auth?: { secretRef: { name: string } };
  tls?: { insecureSkipVerify?: boolean; caSecretRef?: { name: string; key?: string } };
}

export interface WebhookCheck {
  url: string;
  /** Default POST with a body, GET without. */
  method?: string;
  /** A Secret whose every key is a request header. */
  headersFrom?: { secretRef: { name: string } };
  /** Request body (a template); sent as application/json. */
  body?: string;
  /** Go-style duration, default 10s. */
  timeout?: string;
}

export interface DatadogSpec {
  secretRef: { name: string };
}

// ---- status ----

export const CONDITION_STATUS = { True: 'True', False: 'False', Unknown: 'Unknown' } as const;
export type ConditionStatus = (typeof CONDITION_STATUS)[keyof typeof CONDITION_STATUS];

export interface Condition {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

export interface Measurement {
  verdict: Verdict;
  /** The value seen: a number for a query, a monitor state for a monitor. */
  value?: string;
  /** What it was judged against, e.g. "<= 0.5" or "OK passes". */
  threshold?: string;
  /** When the value was read (RFC 3339). */
  time: string;
  /** Link to the monitor or query in Datadog. */
  url?: string;
  /** Why, in words (errors, which monitor, which group). */
  message?: string;
}

export interface CheckStatus {
  name: string;
  failures: number;
  errors: number;
  consecutiveErrors: number;
  inconclusive: number;
  passes: number;
  /** Latest measurements, newest last, bounded. */
  measurements: Measurement[];
}

export interface RequestRecord {
  id: string;
  handledAt: string;
}

export interface CanaryStatus {
  observedGeneration?: number;
  phase?: Phase;
  message?: string;
  stableRevision?: string;
  stableVersion?: string;
  canaryRevision?: string;
  canaryVersion?: string;
  /** A revision that was rolled back and is not tried again unless retried. */
  failedRevision?: string;
  currentStep?: number;
  /** For people: "2/4". */
  stepProgress?: string;
  canaryWeight?: number;
  canaryReplicas?: number;
  canaryReadyReplicas?: number;
  /** Baseline pods (spec.analysis.baseline): the stable template, started with the canary pods. */
  baselineReplicas?: number;
  baselineReadyReplicas?: number;
  startedAt?: string;
  finishedAt?: string;
  stepStartedAt?: string;
  analysisStartedAt?: string;
  promotionStartedAt?: string;
  checks?: CheckStatus[];
  /** Why the last canary ended (e.g. the check that failed and its value). */
  lastResult?: string;
  requests?: { promote?: RequestRecord; abort?: RequestRecord; retry?: RequestRecord };
  conditions?: Condition[];
  /** Since when the canary pods have not all been Ready (the readiness deadline counts from here). */
  canaryPodsWaitingSince?: string;
  /** When the pods of the last weight increase were Ready; promotion needs a Pass of every check measured after it. */
  weightReadyAt?: string;
  /** Since when progress is held (spec.paused, or the Deployment paused by someone else during a promotion); the clocks do not run meanwhile. */
  pausedSince?: string;
  /** metadata.uid of the guarded Deployment: a different uid means it was deleted and re-created. */
  targetUID?: string;
  /** Name of the Deployment targetUID belongs to. */
  targetName?: string;
  /** Since when the target Deployment has been missing; its canary pods are removed only after a grace period. */
  targetMissingSince?: string;
  /** Past canaries, newest first, bounded (spec.historyLimit, default 10). */
  history?: CanaryRecord[];
  /** The delivery ledger of notifications, oldest first, bounded. */
  notifications?: NotificationRecord[];
}

export type CanaryOutcome = 'Promoted' | 'RolledBack' | 'Superseded' | 'Reverted';

/** One finished canary: what the delivery metrics and the rollback window read. */
export interface CanaryRecord {
  revision: string;
  version?: string;
  /** Revision that was stable when this canary started. */
  stableRevisionBefore?: string;
  startedAt: string;
  finishedAt: string;
  /** When the promotion completed (all pods on the revision). */
  promotedAt?: string;
  outcome: CanaryOutcome;
  /** The Event reason that ended it (CheckFailed, AbortRequested, ProgressDeadlineExceeded, …). */
  reason?: string;
  /** The canary's lastResult, verbatim. */
  result?: string;
  /** The Release (name) that drove this revision, if any. */
  release?: string;
}

export const PHASES = {
  Initializing: 'Initializing',
  Waiting: 'Waiting',
  Progressing: 'Progressing',
  Paused: 'Paused',
  Promoting: 'Promoting',
  Succeeded: 'Succeeded',
  RolledBack: 'RolledBack',
  Failed: 'Failed',
} as const;
export type Phase = (typeof PHASES)[keyof typeof PHASES];
