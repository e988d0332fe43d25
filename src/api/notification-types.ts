// Notifications (deployer.dev/v1alpha1): where an object's transitions are announced, and the
// delivery ledger kept in its status. Generic over any object with spec.notifications and
// status.notifications (the Canary today, the Release next).
import type { DatadogSpec, ObjectMeta } from './types.js';

/** What is announced (the values of TRANSITIONS in notification-constants.ts). */
export type Transition = 'Started' | 'Promoted' | 'RolledBack' | 'Failed' | 'HeldForReview';
/** The kinds of sink (the values of SINK_KINDS). */
export type SinkKind = 'slack' | 'webhook' | 'datadogEvents';

/** A key of a Secret in the object's namespace (the operator's namespace for operator-wide sinks). */
export interface SecretKeyRef {
  name: string;
  /** Default: url for URLs, token for tokens, secret for signing keys. */
  key?: string;
}

export interface SlackSinkSpec {
  /** An incoming webhook URL. */
  webhookSecretRef?: SecretKeyRef;
  /** A bot token (xoxb-…), posting with chat.postMessage to channel; a run's messages share one thread. */
  tokenSecretRef?: SecretKeyRef;
  channel?: string;
}

export interface WebhookSinkSpec {
  urlSecretRef: SecretKeyRef;
  /** Signs the raw body with HMAC-SHA256 (header X-Deployer-Signature: sha256=<hex>). */
  signingSecretRef?: SecretKeyRef;
}

export interface DatadogEventsSinkSpec {
  /** A Secret with api-key (and site or url), as spec.datadog; default spec.datadog.secretRef. */
  secretRef?: { name: string };
  /** Extra tags, e.g. team:payments. */
  tags?: string[];
}

/** One sink: exactly one of slack, webhook or datadogEvents. */
export interface NotificationSpec {
  name: string;
  /**
   * The transitions announced; default Promoted, RolledBack, Failed. (Not `on`: kubectl reads an
   * unquoted YAML key `on` as the boolean true, YAML 1.1, and refuses the manifest.)
   */
  transitions?: Transition[];
  slack?: SlackSinkSpec;
  webhook?: WebhookSinkSpec;
  datadogEvents?: DatadogEventsSinkSpec;
}

/** The delivery of one ledger entry to one sink. */
export interface SinkDelivery {
  /** The entry's name in spec.notifications, or default/<name> for an operator-wide sink. */
  sink: string;
  attempts: number;
  /** The last failure, secret-free (URLs and tokens redacted). */
  lastError?: string;
  /** Set once the sink accepted it; never sent again. */
  sentAt?: string;
  /** When the next attempt is due (exponential backoff). */
  nextAttemptAt?: string;
  /** Set when the sink kept failing and attempts stopped. */
  gaveUpAt?: string;
  /** Slack: the ts of the message, the thread of the run it belongs to. */
  threadTs?: string;
}

/** One transition to announce, with its delivery to every sink that wants it. */
export interface NotificationRecord {
  /** Stable across restarts and replicas: <uid>:<revision or g<generation>>:<run>:<transition>. */
  id: string;
  transition: Transition;
  /** When the transition was recorded (RFC 3339). */
  at: string;
  /** Phase before and after. */
  from?: string;
  to?: string;
  reason: string;
  message: string;
  version?: string;
  revision?: string;
  previousVersion?: string;
  previousRevision?: string;
  /** The run (a canary of one revision) the transition belongs to: Slack threads follow it. */
  run?: string;
  /** A Release's transition: what it released, target by target (as status said at the transition). */
  release?: ReleaseNotificationDetails;
  sinks: SinkDelivery[];
}

/** What a Release's notification says besides the common fields. */
export interface ReleaseNotificationDetails {
  /** The Release's metadata.generation being released. */
  generation: number;
  /** spec.source: the commit the version was built from. */
  source?: { repository?: string; revision?: string; committedAt?: string; author?: string };
  /** Per target: its revisions (pod template hashes) and versions before and after, and the images pushed. */
  targets: Array<{
    deployment: string;
    phase?: string;
    revisionBefore?: string;
    revision?: string;
    versionBefore?: string;
    version?: string;
    images?: Record<string, string>;
  }>;
  /** The target whose failure ended the release. */
  failedTarget?: string;
  /** Why the release failed: the Canary's own explanation, or the check and value. */
  failureReason?: string;
}

/** What the notification machinery needs of an object (a Canary, a Release). */
export interface Notifiable {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec: { notifications?: NotificationSpec[]; datadog?: DatadogSpec };
  status?: { notifications?: NotificationRecord[] };
}

