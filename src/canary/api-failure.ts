// How a failed API call reaches a user: a typed error naming the action, a bounded, sanitised
// message for status and Events, and which failures are persistent (worth a condition).
import { CONDITIONS, REASONS } from '../api/constants.js';
import type { CanaryStatus } from '../api/types.js';
import { errorCode, errorMessage, isConflict, isForbidden, isInvalid } from '../kube/errors.js';
import { getCondition, setCondition } from './conditions.js';

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

/** A pass stopped before a write: this instance no longer leads (or its lease is near expiry). */
export class LeadershipLostError extends Error {
  constructor(what: string) {
    super(`did not ${what}: this instance no longer leads`);
    this.name = 'LeadershipLostError';
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
 * errors (5xx, timeouts) become persistent once they last (STALLED_AFTER_MS).
 */
export function isRefusal(err: unknown): boolean {
  if (isConflict(err)) return false;
  return isInvalid(err) || isForbidden(err) || errorCode(err) === 400;
}

/** How long failures of other kinds (5xx, timeouts) must last before they count as persistent. */
export const STALLED_AFTER_MS = 30_000;

/** The current streak of failed passes for a Canary, as the reconciler remembers it. */
export interface ActionFailure {
  /** For people: which action, on what, the API's words (bounded). */
  message: string;
  /** Consecutive passes whose actions failed. */
  count: number;
  /** The API refused the request (see isRefusal). */
  refused: boolean;
  /** When the first failure of the streak happened (ms since the epoch). */
  since: number;
}

/** The streak after one more failed pass: the first failure's time is kept until a pass succeeds. */
export function nextFailure(previous: ActionFailure | null | undefined, message: string, refused: boolean, now: number): ActionFailure {
  return { message, count: (previous?.count ?? 0) + 1, refused, since: previous?.since ?? now };
}

/**
 * The Stalled condition in the status about to be written: True while the last pass's actions
 * failed persistently (refused by the API, or failing for at least STALLED_AFTER_MS since the
 * first failure of the streak; a blip of a few seconds, retried with backoff, is not reported),
 * removed after a pass whose actions all succeeded (`null`), left as it is when this process has
 * not acted on the Canary yet (`undefined`, e.g. after a restart).
 */
export function withStalledCondition(status: CanaryStatus, failure: ActionFailure | null | undefined, nowIso: string, generation: number | undefined): CanaryStatus {
  if (failure === undefined) return status;
  if (failure === null) {
    if (!getCondition(status.conditions, CONDITIONS.Stalled)) return status;
    return { ...status, conditions: (status.conditions ?? []).filter((c) => c.type !== CONDITIONS.Stalled) };
  }
  if (!failure.refused && Date.parse(nowIso) - failure.since < STALLED_AFTER_MS) return status;
  return {
    ...status,
    conditions: setCondition(status.conditions, { type: CONDITIONS.Stalled, status: 'True', reason: REASONS.ActionFailed, message: failure.message }, nowIso, generation),
  };
}
