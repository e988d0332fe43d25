// The push endpoint's closed sets: what a Datadog notification may say, and how each request ended.

/** How each request to the push endpoint ended (the `result` label of deployer_push_requests_total). */
export const PUSH_RESULTS = {
  /** A hint was taken: the canaries whose checks select the monitor measure it again now. */
  accepted: 'accepted',
  /** Authenticated and well formed, but no running canary selects the monitor. */
  unmatched: 'unmatched',
  /** The monitor had a hint less than the minimum interval ago: no early poll. */
  throttled: 'throttled',
  /** The same notification (event id) was seen before: a replay or a retry, no early poll. */
  duplicate: 'duplicate',
  /** A transition that asks for nothing (e.g. Null): answered, no hint. */
  ignored: 'ignored',
  /** No token header. */
  unauthenticated: 'unauthenticated',
  /** A token that is not the configured one. */
  forbidden: 'forbidden',
  /** Not JSON, not an object, no monitor id, or no transition. */
  malformed: 'malformed',
  /** Body over the size limit. */
  tooLarge: 'too_large',
  /** Not a POST to the push path. */
  notFound: 'not_found',
  /** This replica does not lead (Datadog retries a 5xx answer; another try may reach the leader). */
  notLeader: 'not_leader',
  /** The token Secret could not be read: nothing can be authenticated. */
  unavailable: 'unavailable',
} as const;
export type PushResult = (typeof PUSH_RESULTS)[keyof typeof PUSH_RESULTS];

/**
 * Datadog's $ALERT_TRANSITION values. Every state a check can fail on asks for an early
 * measurement, and so does a recovery (the measurement decides; a hint is never a verdict).
 */
export const ALERT_TRANSITIONS = {
  Triggered: 'hint',
  'Re-Triggered': 'hint',
  Warn: 'hint',
  'Re-Warn': 'hint',
  'No Data': 'hint',
  'Re-No Data': 'hint',
  Renotify: 'hint',
  Recovered: 'hint',
  Null: 'ignore',
} as const;
export type AlertTransition = keyof typeof ALERT_TRANSITIONS;

export const PUSH_DEFAULTS = {
  path: '/datadog/webhook',
  /** The header Datadog sends the token in (a custom header of the webhook). */
  tokenHeader: 'x-deployer-token',
  /** The key of the token Secret. */
  tokenKey: 'token',
  /** At most one early measurement per monitor in this time. */
  minHintIntervalMs: 10_000,
  /** A notification body is a few hundred bytes; this leaves room for a long scope. */
  maxBodyBytes: 16 * 1024,
  /** Notification ids remembered against replays. */
  rememberedNotifications: 4096,
  rememberNotificationsMs: 60 * 60_000,
  /** A hint not acted on within this time is dropped. */
  hintTtlMs: 5 * 60_000,
} as const;
