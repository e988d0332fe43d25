// The Release resource (deployer.dev/v1alpha1): one version of an application across its
// Deployments, verified target by target and rolled back all-or-nothing. The CRD schema in
// crds/deployer.dev_releases.yaml is the source of truth for what the apiserver accepts;
// these types mirror it.
import type { API_VERSION, CheckSpec, Condition, DatadogSpec, DoraSpec, ObjectMeta, RequestRecord } from './types.js';
import type { NotificationRecord, NotificationSpec } from './notification-types.js';

export const RELEASE_KIND = 'Release';
export const RELEASE_PLURAL = 'releases';

export interface Release {
  apiVersion: typeof API_VERSION;
  kind: typeof RELEASE_KIND;
  metadata: ObjectMeta;
  spec: ReleaseSpec;
  status?: ReleaseStatus;
}

export interface ReleaseSpec {
  /** The application's version; every change of the spec (a new generation) is one release. */
  version: string;
  /** Where the version was built from; `depctl release --from-git` fills it. */
  source?: ReleaseSource;
  targets: ReleaseTarget[];
  /** Groups of target Deployment names, run one after the other; default one group of every target. */
  order?: string[][];
  /** Default RollbackAll. */
  failurePolicy?: FailurePolicy;
  postRelease?: PostRelease;
  /** Go-style duration per group (each target's rollout or canary must finish within it); default 30m. */
  progressDeadline?: string;
  /** Releases kept in status.history; default 20. */
  historyLimit?: number;
  /** Credentials for postRelease checks and DORA reporting (as on a Canary). */
  datadog?: DatadogSpec;
  /** Report promoted releases to Datadog DORA Metrics. */
  dora?: DoraSpec;
  /** Where this Release's transitions are announced (Started, Promoted, RolledBack, Failed). */
  notifications?: NotificationSpec[];
}

export interface ReleaseSource {
  repository?: string;
  /** The commit. */
  revision?: string;
  /** RFC 3339 time of the commit (lead time counts from here). */
  committedAt?: string;
  /** Lines added + deleted since the previously released commit. */
  linesChanged?: number;
  /** Who made the change. */
  author?: string;
}

export interface ReleaseTarget {
  /** A Deployment in the Release's namespace. */
  deployment: string;
  /** Container name → image, set by the operator (server-side apply, field manager deployer-release). Absent: release the template the Deployment holds. */
  images?: Record<string, string>;
}

export const FAILURE_POLICIES = { RollbackAll: 'RollbackAll', HaltInPlace: 'HaltInPlace' } as const;
export type FailurePolicy = (typeof FAILURE_POLICIES)[keyof typeof FAILURE_POLICIES];

export interface PostRelease {
  /** Go-style duration the checks keep running after the last group is promoted. */
  duration: string;
  /** Go-style duration between measurements; default 1m. */
  interval?: string;
  failureLimit?: number;
  consecutiveErrorLimit?: number;
  checks: CheckSpec[];
}

// ---- status ----

export const RELEASE_PHASES = {
  Pending: 'Pending',
  Progressing: 'Progressing',
  /** Every target promoted; post-release checks running. */
  Verifying: 'Verifying',
  Succeeded: 'Succeeded',
  /** Returning the changed targets to their previous templates. */
  RollingBack: 'RollingBack',
  RolledBack: 'RolledBack',
  /** Stopped where it was (HaltInPlace), or invalid configuration found before anything changed. */
  Halted: 'Halted',
  Failed: 'Failed',
  Superseded: 'Superseded',
} as const;
export type ReleasePhase = (typeof RELEASE_PHASES)[keyof typeof RELEASE_PHASES];

export const TARGET_PHASES = {
  /** Its group has not started. */
  Pending: 'Pending',
  /** Waiting for the Deployment to carry the release's template (GitOps: the sync has not applied it yet). */
  WaitingForTemplate: 'WaitingForTemplate',
  /** Its Canary is verifying the release's revision. */
  Canary: 'Canary',
  /** No Canary: the Deployment's rolling update is running. */
  RollingOut: 'RollingOut',
  Promoted: 'Promoted',
  /** The template did not change in this release. */
  Unchanged: 'Unchanged',
  Failed: 'Failed',
  /** Being returned to revisionBefore. */
  Reverting: 'Reverting',
  Reverted: 'Reverted',
  /** Never started because the release failed first. */
  Skipped: 'Skipped',
  Halted: 'Halted',
} as const;
export type TargetPhase = (typeof TARGET_PHASES)[keyof typeof TARGET_PHASES];

export interface TargetStatus {
  deployment: string;
  /** Index of its group in order. */
  group: number;
  phase: TargetPhase;
  /** The Canary guarding it, if any. */
  canary?: string;
  /** Pod template hash it ran before the release (what a rollback returns to). */
  revisionBefore?: string;
  versionBefore?: string;
  /** Pod template hash this release runs. */
  revision?: string;
  version?: string;
  /** The Canary's lastResult for this revision, verbatim. */
  canaryResult?: string;
  /** The retry request this attempt owes the Canary (it had rolled the revision back before): sent until handled. */
  retryRequest?: string;
  message?: string;
  startedAt?: string;
  finishedAt?: string;
}

export type ReleaseOutcome = 'Succeeded' | 'RolledBack' | 'Halted' | 'Failed' | 'Superseded';

export interface ReleaseRecord {
  generation: number;
  version: string;
  source?: ReleaseSource;
  startedAt: string;
  finishedAt?: string;
  /** When the last group was promoted (a rollback after it counts as a change failure). */
  promotedAt?: string;
  outcome: ReleaseOutcome;
  failedTarget?: string;
  reason?: string;
  message?: string;
  /** Per target: revisions before and after. */
  targets?: Array<{ deployment: string; revisionBefore?: string; revision?: string }>;
}

export interface ReleaseStatus {
  observedGeneration?: number;
  phase?: ReleasePhase;
  message?: string;
  /** The generation being released (or last released). */
  releaseGeneration?: number;
  version?: string;
  /** Index of the group in progress. */
  currentGroup?: number;
  /** For people and printer columns: "2/3". */
  targetsDone?: string;
  targets?: TargetStatus[];
  startedAt?: string;
  finishedAt?: string;
  /** When every target was promoted (post-release checks start here). */
  promotedAt?: string;
  failedTarget?: string;
  /** Why the release failed: the Canary's own explanation, or the check and value. */
  failureReason?: string;
  /** When the rollback in progress started (it ends after progressDeadline at the latest). */
  rollingBackSince?: string;
  /** The reason (an Event reason) of the rollback in progress. */
  rollbackReason?: string;
  /** A version that was rolled back: held until the spec changes or a retry is requested. */
  failedGeneration?: number;
  /** Post-release check state, same shape as a Canary's. */
  checks?: import('./types.js').CheckStatus[];
  requests?: { promote?: RequestRecord; abort?: RequestRecord; retry?: RequestRecord };
  conditions?: Condition[];
  /** Last releases, newest first, bounded by spec.historyLimit. */
  history?: ReleaseRecord[];
  /** The notification delivery ledger (see notification-types.ts). */
  notifications?: NotificationRecord[];
}
