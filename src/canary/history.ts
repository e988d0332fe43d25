// status.history of a Canary and the rollback window it defines. Pure.
import { DEFAULTS } from '../api/constants.js';
import type { Canary, CanaryRecord } from '../api/types.js';

export function historyLimitOf(canary: Canary): number {
  return Math.max(0, canary.spec.historyLimit ?? DEFAULTS.historyLimit);
}

export function rollbackWindowOf(canary: Canary): number {
  return Math.max(0, canary.spec.rollbackWindow?.revisions ?? DEFAULTS.rollbackWindowRevisions);
}

/**
 * The history with `record` first, bounded by `limit`. A record equal to the newest one (same
 * revision, start and outcome: a pass repeated after a status write that did not land) is not
 * added twice.
 */
export function addRecord(history: readonly CanaryRecord[] | undefined, record: CanaryRecord, limit: number): CanaryRecord[] {
  const list = history ?? [];
  const newest = list[0];
  if (newest && newest.revision === record.revision && newest.startedAt === record.startedAt && newest.outcome === record.outcome) return [...list].slice(0, limit);
  return [record, ...list].slice(0, limit);
}

/** Why a revision may roll out again without a canary. */
export interface WindowMatch {
  /** The newest Promoted record of the revision; absent when it was only the stable revision before one. */
  promoted?: CanaryRecord;
  /** The record whose stableRevisionBefore it was (when it was stable until that promotion). */
  stableUntil?: CanaryRecord;
}

/**
 * Whether `revision` is one of the last `revisions` revisions that were stable before `current`
 * (the stable revision now): the revisions of Promoted records, and the revision each one
 * replaced, newest first, without `current` and without repeats.
 */
export function inRollbackWindow(history: readonly CanaryRecord[] | undefined, current: string | undefined, revision: string, revisions: number): WindowMatch | undefined {
  if (revisions <= 0 || revision === current) return undefined;
  const seen: string[] = [];
  const matches = new Map<string, WindowMatch>();
  const push = (rev: string | undefined, match: WindowMatch): void => {
    if (rev === undefined || rev === current || seen.includes(rev)) return;
    seen.push(rev);
    matches.set(rev, match);
  };
  for (const r of history ?? []) {
    if (r.outcome !== 'Promoted') continue;
    push(r.revision, { promoted: r });
    push(r.stableRevisionBefore, { stableUntil: r });
  }
  if (!seen.slice(0, revisions).includes(revision)) return undefined;
  const match = matches.get(revision)!;
  // The original verification of the revision, when history still holds it, dates the message.
  const verified = (history ?? []).find((r) => r.outcome === 'Promoted' && r.revision === revision && r.reason !== 'RevertAccepted');
  return verified ? { promoted: verified } : match;
}
