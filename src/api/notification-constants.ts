// The closed sets and defaults of notifications (types in notification-types.ts, which the CLI
// compiles without loading this file; the assignments at the end keep the two in step).
import type { SinkKind, Transition } from './notification-types.js';

/** What is announced: transitions derived from status (old → new), never from code paths. */
export const TRANSITIONS = {
  /** A canary (or release) run started for a new revision. */
  Started: 'Started',
  /** The revision was promoted: every pod runs it. */
  Promoted: 'Promoted',
  /** The revision was rolled back (a check failed, an abort, a deadline). */
  RolledBack: 'RolledBack',
  /** The object cannot work as configured (invalid spec, missing Deployment or Secret). */
  Failed: 'Failed',
  /** Verified and waiting for a person to promote. */
  HeldForReview: 'HeldForReview',
} as const;

/** What a sink announces when its `on` is not given: failures, rollbacks and promotions. */
export const DEFAULT_TRANSITIONS: readonly Transition[] = [TRANSITIONS.Promoted, TRANSITIONS.RolledBack, TRANSITIONS.Failed];

export const SINK_KINDS = { slack: 'slack', webhook: 'webhook', datadogEvents: 'datadogEvents' } as const;

export const NOTIFICATION_DEFAULTS = {
  /** Ledger entries kept in status. */
  ledgerLimit: 20,
  /** Attempts per sink before giving up. */
  maxAttempts: 10,
  /** First retry delay; doubles up to maxBackoffMs. */
  baseBackoffMs: 5_000,
  maxBackoffMs: 10 * 60_000,
  /** Per request. */
  timeoutMs: 10_000,
} as const;

// Each type is exactly the values of its set (a compile error otherwise).
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const transitionsMatch: Same<Transition, (typeof TRANSITIONS)[keyof typeof TRANSITIONS]> = true;
const sinkKindsMatch: Same<SinkKind, (typeof SINK_KINDS)[keyof typeof SINK_KINDS]> = true;
void transitionsMatch;
void sinkKindsMatch;
