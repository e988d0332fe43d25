// How a failed API call reaches a user: a typed error naming the action, a bounded, sanitised
// message for status and Events, and which failures are persistent (worth a condition).
import { errorCode, errorMessage, isConflict, isForbidden, isInvalid } from '../kube/errors.js';

/** An action of a decision failed; `code` is the API's HTTP status (0 when unreachable). */
export class ActionError extends Error {
  readonly code: number | undefined;
  readonly action: string;
  /** What the action was about, for people: "canary ReplicaSet web-canary-1a2b3c4d5e". */
  readonly target: string;
  constructor(action: string, target: string, cause: unknown) {
    super(`${action} (${target}): ${errorMessage(cause)}`, { cause });
    this.name = 'ActionError';
    this.action = action;
    this.target = target;
    this.code = errorCode(cause);
  }

  /** The API's own message, without the action. */
  get apiMessage(): string {
    return errorMessage(this.cause);
  }
}

export const MESSAGE_MAX = 300;

/** A message fit for status and Events: no control characters, one line, at most `max` characters. */
export function boundedMessage(text: string, max = MESSAGE_MAX): string {
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ').replace(/\s+/g, ' ').trim();
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
}

/**
 * Failures that will not go away by retrying the same request: the API refused it (400, 403,
 * 422, e.g. an admission policy or an invalid field). A 409 never is: it is routine. Other
 * errors (5xx, timeouts) become persistent once they repeat.
 */
export function isRefusal(err: unknown): boolean {
  if (isConflict(err)) return false;
  return isInvalid(err) || isForbidden(err) || errorCode(err) === 400;
}

/** Consecutive failures of other kinds after which they count as persistent. */
export const TRANSIENT_FAILURES_TOLERATED = 3;
