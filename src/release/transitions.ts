// The transitions of a Release worth announcing, derived from its status before and after a pass,
// never from the code path that made them. Pure.
//
// A release attempt starts when status.startedAt changes to a running phase (a new generation, or
// a retry of the same one); it ends when status.history gains its record (Succeeded, RolledBack,
// Halted or Failed): a record is written exactly once per attempt, even when one pass ends a
// rollback and starts the next generation at once, which the phase alone would not show.
import { REASONS } from '../api/constants.js';
import { TRANSITIONS } from '../api/notification-constants.js';
import type { ReleaseNotificationDetails, Transition } from '../api/notification-types.js';
import { RELEASE_PHASES, type Release, type ReleaseOutcome, type ReleaseRecord, type ReleaseStatus } from '../api/release-types.js';
import type { TransitionFact } from '../notify/ledger.js';

/** What each recorded outcome announces (Superseded announces nothing: the next release does). */
const ANNOUNCED: Record<ReleaseOutcome, { transition: Transition; reason: string } | undefined> = {
  Succeeded: { transition: TRANSITIONS.Promoted, reason: REASONS.ReleaseSucceeded },
  RolledBack: { transition: TRANSITIONS.RolledBack, reason: REASONS.ReleaseRolledBack },
  Halted: { transition: TRANSITIONS.Failed, reason: REASONS.ReleaseHalted },
  Failed: { transition: TRANSITIONS.Failed, reason: REASONS.ReleaseFailed },
  Superseded: undefined,
};

/**
 * old Release (its spec, generation and status before the pass) → the status the pass writes:
 * Started (an attempt of a generation started), Promoted (Succeeded), RolledBack, Failed (Failed
 * or Halted). HeldForReview does not apply: a Release has no manual gate of its own (its Canaries
 * announce theirs). The key is g<generation> and the run the attempt's start, so event ids are
 * stable per (uid, generation, attempt, transition).
 */
export function deriveReleaseTransitions(old: Pick<Release, 'metadata' | 'spec' | 'status'>, after: ReleaseStatus): TransitionFact[] {
  const b = old.status ?? {};
  const facts: TransitionFact[] = [];

  // Attempts that ended in this pass, oldest first.
  const seen = new Set((b.history ?? []).map(recordKey));
  const ended = (after.history ?? []).filter((r) => !seen.has(recordKey(r))).reverse();
  for (const rec of ended) {
    const announced = ANNOUNCED[rec.outcome];
    if (!announced) continue;
    const current = rec.startedAt === after.startedAt && rec.generation === after.releaseGeneration;
    const previous = previousSucceeded(after.history, rec.startedAt);
    facts.push({
      transition: announced.transition,
      reason: rec.reason ?? announced.reason,
      message: (current ? after.message : undefined) ?? rec.message ?? '',
      key: `g${rec.generation}`,
      run: runOf(rec.generation, rec.startedAt),
      ...(b.phase ? { from: b.phase } : {}),
      to: rec.outcome,
      version: rec.version,
      ...(previous ? { previousVersion: previous } : {}),
      release: detailsOf(old, rec, current ? after : undefined),
    });
  }

  // An attempt that started in this pass (and did not fail validation before changing anything).
  if (after.startedAt && after.releaseGeneration !== undefined && after.startedAt !== b.startedAt && after.phase !== RELEASE_PHASES.Failed) {
    const previous = previousSucceeded(after.history, after.startedAt);
    const started: TransitionFact = {
      transition: TRANSITIONS.Started,
      reason: REASONS.ReleaseStarted,
      message: `release of ${after.version ?? old.spec.version} (generation ${after.releaseGeneration}) started`,
      key: `g${after.releaseGeneration}`,
      run: runOf(after.releaseGeneration, after.startedAt),
      ...(b.phase ? { from: b.phase } : {}),
      ...(after.phase ? { to: after.phase } : {}),
      ...(after.version ? { version: after.version } : {}),
      ...(previous ? { previousVersion: previous } : {}),
      release: detailsOf(old, undefined, after),
    };
    // A release that started and ended in one pass (nothing to change) is announced in that order.
    const endedNow = facts.findIndex((f) => f.run === started.run);
    facts.splice(endedNow >= 0 ? endedNow : facts.length, 0, started);
  }
  return facts;
}

const recordKey = (r: ReleaseRecord): string => `${r.generation}|${r.startedAt}|${r.outcome}`;

/** An attempt: its generation and when it started (Slack threads follow it). */
function runOf(generation: number, startedAt: string): string {
  const t = Date.parse(startedAt);
  return `g${generation}@${Number.isNaN(t) ? startedAt : Math.floor(t / 1000).toString(36)}`;
}

/** The version of the last release that succeeded before the attempt that started at startedAt. */
function previousSucceeded(history: readonly ReleaseRecord[] | undefined, startedAt: string): string | undefined {
  return (history ?? []).find((r) => r.outcome === 'Succeeded' && r.startedAt !== startedAt && r.startedAt < startedAt)?.version;
}

/**
 * The generation, source, targets (revisions from the record, phases and versions from the status
 * of the same attempt, images from the spec of the same generation), failed target and reason.
 */
function detailsOf(old: Pick<Release, 'metadata' | 'spec'>, rec: ReleaseRecord | undefined, st: ReleaseStatus | undefined): ReleaseNotificationDetails {
  const generation = rec?.generation ?? st?.releaseGeneration ?? old.metadata.generation ?? 0;
  const sameSpec = generation === (old.metadata.generation ?? 0);
  const source = rec?.source ?? (sameSpec ? old.spec.source : undefined);
  const names = rec?.targets?.map((t) => t.deployment) ?? st?.targets?.map((t) => t.deployment) ?? old.spec.targets.map((t) => t.deployment);
  const targets = names.map((deployment) => {
    const r = rec?.targets?.find((t) => t.deployment === deployment);
    const s = st?.targets?.find((t) => t.deployment === deployment);
    const images = sameSpec ? old.spec.targets.find((t) => t.deployment === deployment)?.images : undefined;
    const revisionBefore = r?.revisionBefore ?? s?.revisionBefore;
    const revision = r?.revision ?? s?.revision;
    return {
      deployment,
      ...(s?.phase ? { phase: s.phase } : {}),
      ...(revisionBefore ? { revisionBefore } : {}),
      ...(revision ? { revision } : {}),
      ...(s?.versionBefore ? { versionBefore: s.versionBefore } : {}),
      ...(s?.version ? { version: s.version } : {}),
      ...(images && Object.keys(images).length ? { images: { ...images } } : {}),
    };
  });
  const failedTarget = rec ? rec.failedTarget : st?.failedTarget;
  const failureReason = rec && rec.outcome !== 'Succeeded' ? (st?.failureReason ?? rec.message) : undefined;
  return {
    generation,
    ...(source ? { source: pick(source) } : {}),
    targets,
    ...(failedTarget ? { failedTarget } : {}),
    ...(failureReason ? { failureReason } : {}),
  };
}

function pick(s: NonNullable<Release['spec']['source']>): NonNullable<ReleaseNotificationDetails['source']> {
  return {
    ...(s.repository ? { repository: s.repository } : {}),
    ...(s.revision ? { revision: s.revision } : {}),
    ...(s.committedAt ? { committedAt: s.committedAt } : {}),
    ...(s.author ? { author: s.author } : {}),
  };
}
