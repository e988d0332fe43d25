// When a check's next measurement is due once a push has asked for it early: pure.
import type { CheckStatus } from '../api/types.js';

/**
 * The push hint that still stands for a check: one made during this analysis (at or after it
 * started) and not yet answered by a measurement taken at or after it.
 */
export function pendingHint(check: CheckStatus | undefined, analysisStartedAt: number, hintAt: number | undefined): number | undefined {
  if (hintAt === undefined || hintAt < analysisStartedAt) return undefined;
  const last = check?.measurements.at(-1);
  return last && Date.parse(last.time) >= hintAt ? undefined : hintAt;
}

/** The check's next measurement is due at its regular time, or at the hint if that is sooner. */
export function hintedDueAt(regularDueAt: number, check: CheckStatus | undefined, analysisStartedAt: number, hintAt: number | undefined): number {
  const hint = pendingHint(check, analysisStartedAt, hintAt);
  return hint === undefined ? regularDueAt : Math.min(regularDueAt, hint);
}

/** A measurement answers a pending hint only if taken at or after it (a cached older one does not). */
export function hintedNotBefore(regularNotBefore: number, check: CheckStatus | undefined, analysisStartedAt: number, hintAt: number | undefined): number {
  return pendingHint(check, analysisStartedAt, hintAt) ?? regularNotBefore;
}
