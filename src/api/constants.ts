// Names the controller, the admission webhook and the CLI agree on.

export const FIELD_MANAGER = 'deployer';
/** The Release's writes to Deployments (images, reverts): not the operator's own manager, so the admission webhook holds them like a user's change. */
export const RELEASE_FIELD_MANAGER = 'deployer-release';
export const CONTROLLER_NAME = 'deployer.dev/canary-controller';
export const FINALIZER = 'deployer.dev/finalizer';

export const LABELS = {
  /** On a Deployment: the Canary (same namespace) that guards it. Selects it for the admission webhook. */
  canary: 'deployer.dev/canary',
  /** On canary ReplicaSets and pods: the Canary that owns them. */
  canaryOf: 'deployer.dev/canary-of',
  /** On canary ReplicaSets and pods: the revision under test. */
  revision: 'deployer.dev/revision',
  /** On canary pods: "canary". Keeps the Deployment's ReplicaSets from matching them. */
  role: 'deployer.dev/role',
  /** Datadog unified service tagging. */
  ddVersion: 'tags.datadoghq.com/version',
  /** Set by the Deployment controller; never copied to canary pods. */
  podTemplateHash: 'pod-template-hash',
} as const;

export const ANNOTATIONS = {
  /** On a Deployment: the revision (pod template hash) that has been verified and may roll out. */
  stableRevision: 'deployer.dev/stable-revision',
  /** On a Deployment: why the operator holds it (set with spec.paused). */
  heldReason: 'deployer.dev/held',
  promote: 'deployer.dev/promote',
  abort: 'deployer.dev/abort',
  retry: 'deployer.dev/retry',
  /** On canary ReplicaSets and pods: the full version under test (a label value holds at most 63 characters). */
  version: 'deployer.dev/version',
  /** On a Canary: "release/<name>" while a Release holds new revisions of its target until the target's group starts. */
  heldBy: 'deployer.dev/held-by',
  /** On a Canary: the Release (name) that drives its target's revisions; recorded in status.history. */
  release: 'deployer.dev/release',
  /** On a webhook configuration: a hash of what the operator last applied (a field it stopped setting must still be removed). */
  appliedConfiguration: 'deployer.dev/applied-configuration',
} as const;

export const CONDITIONS = {
  Ready: 'Ready',
  Progressing: 'Progressing',
  ChecksPassing: 'ChecksPassing',
  /** True while the controller's actions keep failing (the API refuses them, or they fail repeatedly). */
  Stalled: 'Stalled',
} as const;
export type ConditionType = (typeof CONDITIONS)[keyof typeof CONDITIONS];

/** Reasons for conditions and Events. Each says what happened. */
export const REASONS = {
  // configuration
  InvalidSpec: 'InvalidSpec',
  TargetNotFound: 'TargetNotFound',
  TargetAlreadyGuarded: 'TargetAlreadyGuarded',
  SecretNotFound: 'SecretNotFound',
  SecretInvalid: 'SecretInvalid',
  SecretUnreadable: 'SecretUnreadable',
  // lifecycle
  WaitingForRollout: 'WaitingForRollout',
  /** The guard label is being put on the Deployment; Ready once a pass sees it. */
  Adopting: 'Adopting',
  Adopted: 'Adopted',
  Idle: 'Idle',
  NewRevision: 'NewRevision',
  Superseded: 'Superseded',
  WaitingForCanaryPods: 'WaitingForCanaryPods',
  CanaryPodsReady: 'CanaryPodsReady',
  StepCompleted: 'StepCompleted',
  Analysing: 'Analysing',
  PausedBySpec: 'PausedBySpec',
  WaitingForPromote: 'WaitingForPromote',
  WaitingForChecks: 'WaitingForChecks',
  Promoting: 'Promoting',
  Promoted: 'Promoted',
  PromoteRequested: 'PromoteRequested',
  AbortRequested: 'AbortRequested',
  RetryRequested: 'RetryRequested',
  RevertedToStable: 'RevertedToStable',
  RolledBack: 'RolledBack',
  CheckFailed: 'CheckFailed',
  CheckErrors: 'CheckErrors',
  ChecksPassing: 'ChecksPassing',
  ChecksPending: 'ChecksPending',
  ChecksInconclusive: 'ChecksInconclusive',
  ProgressDeadlineExceeded: 'ProgressDeadlineExceeded',
  DeploymentHeld: 'DeploymentHeld',
  DeploymentReleased: 'DeploymentReleased',
  DeploymentLeftPaused: 'DeploymentLeftPaused',
  /** An action (a write to the Deployment, a canary ReplicaSet, the Canary) failed persistently. */
  ActionFailed: 'ActionFailed',
  /** The new template's version equals the stable one; canary pods report <version>-<revision>. */
  DistinctCanaryVersion: 'DistinctCanaryVersion',
  /** The target's strategy cannot run canary pods beside stable pods (Recreate). */
  UnsupportedStrategy: 'UnsupportedStrategy',
  /** The target has no replicas: nothing to compare a canary with; the revision is held. */
  ScaledToZero: 'ScaledToZero',
  /** A new template reached every pod without a canary (the webhook did not hold it). */
  UnverifiedRollout: 'UnverifiedRollout',
  /** The target Deployment was deleted and re-created (its uid changed); its template is not trusted. */
  TargetRecreated: 'TargetRecreated',
  /** The Deployment's stable-revision annotation named a revision that was not verified; it was put back. */
  StableAnnotationRestored: 'StableAnnotationRestored',
  // Release
  ReleaseStarted: 'ReleaseStarted',
  GroupStarted: 'GroupStarted',
  WaitingForTemplate: 'WaitingForTemplate',
  TargetPromoted: 'TargetPromoted',
  TargetFailed: 'TargetFailed',
  ReleaseVerifying: 'ReleaseVerifying',
  ReleaseSucceeded: 'ReleaseSucceeded',
  ReleaseRollingBack: 'ReleaseRollingBack',
  ReleaseRolledBack: 'ReleaseRolledBack',
  ReleaseSuperseded: 'ReleaseSuperseded',
  ReleaseHalted: 'ReleaseHalted',
  ReleaseFailed: 'ReleaseFailed',
  ReleaseHeld: 'ReleaseHeld',
  PostReleaseCheckFailed: 'PostReleaseCheckFailed',
  TargetClaimed: 'TargetClaimed',
  ContainerNotFound: 'ContainerNotFound',
  /** The template went back to a revision within spec.rollbackWindow: rolled out without a new canary. */
  RevertAccepted: 'RevertAccepted',
  /** A new revision waits: the Canary's deployer.dev/held-by annotation names a Release whose group has not started. */
  HeldByRelease: 'HeldByRelease',
  /** The API refused the Canary's status write (an admission policy, a permission): no action until it is accepted. */
  StatusWriteRefused: 'StatusWriteRefused',
} as const;
export type Reason = (typeof REASONS)[keyof typeof REASONS];

export const DEFAULTS = {
  interval: '1m',
  progressDeadline: '15m',
  failureLimit: 0,
  consecutiveErrorLimit: 3,
  monitorGroup: 'version:{{ version }}',
  /** Measurements kept per check in status. */
  measurementHistory: 10,
  /** Finished canaries kept in status.history. */
  historyLimit: 10,
  /** Earlier stable revisions trusted without a new canary. */
  rollbackWindowRevisions: 3,
  /** compare checks: points per series before judging, significance level, tolerated relative difference of medians. */
  compareMinPoints: 10,
  compareSignificance: 0.05,
  compareTolerance: 0.1,
  /** A webhook check's timeout. */
  webhookTimeout: '10s',
  /** The key of a tls.caSecretRef Secret holding the CA bundle. */
  caKey: 'ca.crt',
  /** Prometheus compare checks: the least default step of the range queries (a common scrape interval). */
  compareMinStep: '30s',
} as const;

/** Values of the deployer.dev/role label (and of the Datadog tag `role`) on pods the operator starts. */
export const ROLES = { canary: 'canary', baseline: 'baseline' } as const;
export type Role = (typeof ROLES)[keyof typeof ROLES];

/** Pod annotation the Datadog Agent reads extra tags from (JSON object), for every metric of the pod. */
export const DD_TAGS_ANNOTATION = 'ad.datadoghq.com/tags';

/** The value of an Inconclusive measurement that Datadog's rate limit prevented (never an error, never a pass). */
export const RATE_LIMITED_VALUE = 'rate limited';
