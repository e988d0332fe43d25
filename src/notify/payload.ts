// The one payload every sink renders from (the generic webhook sends it as is), and its
// HMAC-SHA256 signature. Versioned: receivers switch on schemaVersion.
import { createHmac } from 'node:crypto';
import type { NotificationRecord, ReleaseNotificationDetails, Transition } from '../api/notification-types.js';

export const PAYLOAD_SCHEMA_VERSION = 'deployer.dev/notification/v1';
export const EVENT_ID_HEADER = 'X-Deployer-Event-Id';
export const SIGNATURE_HEADER = 'X-Deployer-Signature';

export interface NotificationPayload {
  schemaVersion: typeof PAYLOAD_SCHEMA_VERSION;
  /** Stable per transition: the same on a rare duplicate delivery, so a receiver can drop it. */
  eventId: string;
  object: { kind: string; namespace: string; name: string; uid: string };
  /** The Deployment (Canary) the object verifies, when there is one. */
  target?: { kind: 'Deployment'; name: string };
  transition: { name: Transition; from?: string; to?: string; reason: string; message: string };
  /** The version announced (the canary's) and the one before it (stable). */
  version?: string;
  previousVersion?: string;
  revisions: { from?: string; to?: string };
  /** When the transition was recorded (RFC 3339). */
  time: string;
  /** Links for people: Datadog monitors and queries of the checks, when known. */
  links: Array<{ title: string; url: string }>;
  /** Releases only: the generation, source commit, per-target revisions and images, failedTarget and failureReason. */
  release?: ReleaseNotificationDetails;
}

export interface PayloadSubject {
  kind: string;
  namespace: string;
  name: string;
  uid: string;
  target?: string;
  links?: Array<{ title: string; url: string }>;
}

export function buildPayload(subject: PayloadSubject, e: NotificationRecord): NotificationPayload {
  return {
    schemaVersion: PAYLOAD_SCHEMA_VERSION,
    eventId: e.id,
    object: { kind: subject.kind, namespace: subject.namespace, name: subject.name, uid: subject.uid },
    ...(subject.target ? { target: { kind: 'Deployment' as const, name: subject.target } } : {}),
    transition: { name: e.transition, ...(e.from ? { from: e.from } : {}), ...(e.to ? { to: e.to } : {}), reason: e.reason, message: e.message },
    ...(e.version ? { version: e.version } : {}),
    ...(e.previousVersion ? { previousVersion: e.previousVersion } : {}),
    revisions: { ...(e.previousRevision ? { from: e.previousRevision } : {}), ...(e.revision ? { to: e.revision } : {}) },
    time: e.at,
    links: subject.links ?? [],
    ...(e.release ? { release: e.release } : {}),
  };
}

/** `sha256=<hex>` of HMAC-SHA256(key, raw body). */
export function signature(key: string, body: string | Buffer): string {
  return `sha256=${createHmac('sha256', key).update(body).digest('hex')}`;
}

/** One line for people (Slack text, Datadog title). */
export function headline(p: NotificationPayload): string {
  const what = `${p.object.kind} ${p.object.namespace}/${p.object.name}`;
  const version = p.version ? ` version ${p.version}` : '';
  switch (p.transition.name) {
    case 'Started':
      return p.release ? `${what}: release of${version || ` generation ${p.release.generation}`} started` : `${what}: canary of${version || ' a new revision'} started`;
    case 'Promoted':
      return `${what}:${version || ' revision'} promoted`;
    case 'RolledBack':
      return `${what}:${version || ' revision'} rolled back (${p.transition.reason})`;
    case 'Failed':
      return p.release?.failedTarget ? `${what}:${version} failed at ${p.release.failedTarget} (${p.transition.reason})` : `${what} failed (${p.transition.reason})`;
    case 'HeldForReview':
      return `${what}:${version || ' revision'} verified, waiting for promotion`;
    default: {
      const never: never = p.transition.name;
      return `${what}: ${String(never)}`;
    }
  }
}
