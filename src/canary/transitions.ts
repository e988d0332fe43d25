// The transitions of a Canary worth announcing, derived from its status before and after a pass
// (phase and condition changes), never from the code path that made them. Pure.
import { CONDITIONS, REASONS } from '../api/constants.js';
import { TRANSITIONS } from '../api/notification-constants.js';
import { PHASES, type CanaryStatus } from '../api/types.js';
import type { TransitionFact } from '../notify/ledger.js';
import { getCondition } from './conditions.js';

/**
 * old → new status: Started (a new canary run), Promoted (phase Succeeded for a run), RolledBack
 * (phase RolledBack for a revision), Failed (phase Failed, or its reason changed), HeldForReview
 * (verified, waiting for a promote request). A pass that writes nothing new derives nothing.
 */
export function deriveCanaryTransitions(before: CanaryStatus | undefined, after: CanaryStatus, generation: number | undefined): TransitionFact[] {
  const b = before ?? {};
  const facts: TransitionFact[] = [];
  const run = runOf(after);
  const common = {
    ...(b.phase ? { from: b.phase } : {}),
    ...(after.phase ? { to: after.phase } : {}),
    ...(after.canaryVersion ? { version: after.canaryVersion } : {}),
    ...(after.canaryRevision ? { revision: after.canaryRevision } : {}),
    ...previousOf(b, after),
    ...(run ? { run } : {}),
  };
  const progressing = getCondition(after.conditions, CONDITIONS.Progressing);
  const ready = getCondition(after.conditions, CONDITIONS.Ready);

  // A revert accepted within the rollback window rolls out without a canary: nothing started (its promotion is announced).
  const revert = ready?.status === 'False' && ready.reason === REASONS.RevertAccepted;
  if (after.startedAt && after.canaryRevision && after.startedAt !== b.startedAt && !revert) {
    facts.push({ transition: TRANSITIONS.Started, reason: REASONS.NewRevision, message: `canary of revision ${after.canaryRevision} (version ${after.canaryVersion ?? 'unknown'}) started`, key: after.canaryRevision, ...common });
  }
  const samePhaseRun = b.phase === after.phase && b.canaryRevision === after.canaryRevision && b.startedAt === after.startedAt;
  if (after.phase === PHASES.Succeeded && !samePhaseRun && after.canaryRevision) {
    facts.push({
      transition: TRANSITIONS.Promoted,
      reason: ready?.reason ?? REASONS.Promoted,
      message: after.message ?? '',
      key: after.canaryRevision,
      ...common,
    });
  }
  if (after.phase === PHASES.RolledBack && (b.phase !== PHASES.RolledBack || b.failedRevision !== after.failedRevision)) {
    facts.push({ transition: TRANSITIONS.RolledBack, reason: progressing?.reason ?? REASONS.RolledBack, message: after.message ?? '', key: after.failedRevision ?? after.canaryRevision ?? `g${generation ?? 0}`, ...common });
  }
  if (after.phase === PHASES.Failed && (b.phase !== PHASES.Failed || getCondition(b.conditions, CONDITIONS.Ready)?.reason !== ready?.reason)) {
    // Each failure its own announcement: another reason, or the same one again after a recovery
    // (the Ready condition's transition time), within one generation.
    const since = ready?.lastTransitionTime ? Date.parse(ready.lastTransitionTime) : NaN;
    const key = `g${generation ?? 0}:${ready?.reason ?? 'Failed'}${Number.isNaN(since) ? '' : `@${Math.floor(since / 1000).toString(36)}`}`;
    facts.push({ transition: TRANSITIONS.Failed, reason: ready?.reason ?? 'Failed', message: after.message ?? '', key, ...common });
  }
  const waiting = (s: CanaryStatus): boolean => {
    const p = getCondition(s.conditions, CONDITIONS.Progressing);
    return p?.status === 'True' && p.reason === REASONS.WaitingForPromote;
  };
  if (waiting(after) && (!waiting(b) || b.canaryRevision !== after.canaryRevision)) {
    facts.push({ transition: TRANSITIONS.HeldForReview, reason: REASONS.WaitingForPromote, message: progressing?.message ?? after.message ?? '', key: after.canaryRevision ?? `g${generation ?? 0}`, ...common });
  }
  return facts;
}

/** A canary run: its revision and when it started. */
function runOf(s: CanaryStatus): string | undefined {
  if (!s.canaryRevision || !s.startedAt) return undefined;
  const t = Date.parse(s.startedAt);
  return `${s.canaryRevision}@${Number.isNaN(t) ? s.startedAt : Math.floor(t / 1000).toString(36)}`;
}

/** The stable revision the run started from; at a promotion the status may already name the promoted one as stable. */
function previousOf(b: CanaryStatus, after: CanaryStatus): { previousVersion?: string; previousRevision?: string } {
  const src = after.stableRevision !== undefined && after.stableRevision === after.canaryRevision ? b : after;
  if (!src.stableRevision || src.stableRevision === after.canaryRevision) return {};
  return { previousRevision: src.stableRevision, ...(src.stableVersion ? { previousVersion: src.stableVersion } : {}) };
}
