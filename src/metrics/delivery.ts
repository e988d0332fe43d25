// Delivery metrics, computed from the histories the Canary and the Release keep in their status.
// Pure: no I/O, no clock (now is an argument). The operator's /metrics, the Datadog DORA calls,
// the "Deploy finished" log line and `depctl metrics` all read these functions, so the figures
// agree everywhere. Definitions (also in the README, "Delivery metrics"):
//
// - A deploy is one finished record: a Release's status.history entry (an application), or a
//   Canary's status.history entry without `release` (a Deployment guarded by a Canary alone).
// - Promoted: the record has promotedAt (every target reached). Caught: stopped before that.
// - Change failure: a promoted deploy D that
//     1. was rolled back or halted after promotion (its own outcome says so), or
//     2. was followed by a promoted deploy that put back what ran before D (V1 → V2 → V1:
//        a Canary's revision equal to D's stableRevisionBefore, a Release's version equal to the
//        version promoted before D), or
//     3. was followed by a promoted deploy of a different version (revision, for a Canary) that
//        started less than the fix-forward window (default 1 h) after D's promotedAt (a fix forward).
// - Recovered at: for 1, when D's rollback finished (the previous good revision runs again);
//   otherwise the promotedAt of the first later promoted deploy that is not a change failure.
import type { Canary, CanaryRecord } from '../api/types.js';
import type { Release, ReleaseRecord } from '../api/release-types.js';
import {
  CHANGE_FAILURE_CAUSES,
  DEFAULT_FIX_FORWARD_WINDOW_MS,
  DEPLOY_KINDS,
  DEPLOY_OUTCOMES,
  type ChangeFailureCause,
  type DeployKind,
  type DeployOutcome,
} from '../api/delivery.js';

/** One finished deploy, normalized from a Canary or Release history record. Times in ms since the epoch. */
export interface Deploy {
  kind: DeployKind;
  namespace: string;
  name: string;
  uid: string;
  /** Identity within its object: the Release's generation, or the Canary's revision (pod template hash). */
  revision: string;
  version?: string;
  /** What ran before it: a Canary's stableRevisionBefore (Releases compare versions instead). */
  before?: string;
  outcome: DeployOutcome;
  startedAt: number;
  finishedAt: number;
  promotedAt?: number;
  reason?: string;
  commit?: string;
  repository?: string;
  committedAt?: number;
  linesChanged?: number;
}

/** A deploy with what later deploys tell about it. */
export interface AssessedDeploy extends Deploy {
  changeFailure?: ChangeFailureCause;
  /** When the failure was remediated (change failures only; absent while not recovered). */
  recoveredAt?: number;
  /** What remediated it: the deploy a rollback returned to, the one that put it back, or the fix forward. */
  remediatedBy?: Deploy;
}

export interface DeliveryOptions {
  /** Only deploys promoted (or caught) at or after it count. */
  since: number;
  now: number;
  /** Default 1 h; 0 turns fix-forward detection off. */
  fixForwardWindowMs?: number;
}

export interface Summary {
  count: number;
  median?: number;
  p90?: number;
}

export interface DeliveryFigures {
  kind: DeployKind;
  namespace: string;
  name: string;
  since: string;
  until: string;
  /** Promoted deploys in the window. */
  deploys: number;
  deploysPerWeek: number;
  /** Deploys stopped before reaching every target (not production failures). */
  canaryCatches: number;
  /** canaryCatches / (deploys + canaryCatches); absent without either. */
  canaryCatchRate?: number;
  changeFailures: number;
  /** changeFailures / deploys; absent without deploys. */
  changeFailureRate?: number;
  /** Start → every target promoted, seconds. */
  durationSeconds: Summary;
  /** Commit time → promoted, seconds (Releases with source.committedAt). */
  leadTimeSeconds: Summary;
  /** source.linesChanged of promoted deploys. */
  linesChanged: Summary;
  /** Promotion of a failed deploy → good revision running again, seconds. */
  timeToRecoverSeconds: Summary;
  /** Change failures in the window not recovered yet. */
  unrecovered: number;
  failures: Array<{ revision: string; version?: string; cause: ChangeFailureCause; promotedAt: string; recoveredAt?: string }>;
}

const time = (s: string | undefined): number | undefined => {
  if (!s) return undefined;
  const t = Date.parse(s);
  return Number.isNaN(t) ? undefined : t;
};

/** The Deployment-level deploys of a Canary: its history records not driven by a Release. */
export function deploysOfCanary(canary: Canary): Deploy[] {
  const { namespace, name, uid } = canary.metadata;
  const res: Deploy[] = [];
  for (const r of canary.status?.history ?? []) {
    if (r.release) continue;
    const d = canaryDeploy(r, { namespace, name, uid: uid ?? `${namespace}/${name}` });
    if (d) res.push(d);
  }
  return res;
}

function canaryDeploy(r: CanaryRecord, id: { namespace: string; name: string; uid: string }): Deploy | undefined {
  const startedAt = time(r.startedAt);
  const finishedAt = time(r.finishedAt);
  if (startedAt === undefined || finishedAt === undefined) return undefined;
  const promotedAt = time(r.promotedAt) ?? (r.outcome === 'Promoted' ? finishedAt : undefined);
  return {
    kind: DEPLOY_KINDS.Canary,
    ...id,
    revision: r.revision,
    ...(r.version ? { version: r.version } : {}),
    ...(r.stableRevisionBefore ? { before: r.stableRevisionBefore } : {}),
    outcome: canaryOutcome(r, promotedAt !== undefined),
    startedAt,
    finishedAt,
    ...(promotedAt !== undefined ? { promotedAt } : {}),
    ...(r.reason ? { reason: r.reason } : {}),
  };
}

function canaryOutcome(r: CanaryRecord, promoted: boolean): DeployOutcome {
  switch (r.outcome) {
    case 'Promoted':
      return DEPLOY_OUTCOMES.Promoted;
    case 'RolledBack':
      return promoted ? DEPLOY_OUTCOMES.RolledBack : DEPLOY_OUTCOMES.Caught;
    case 'Reverted':
      return promoted ? DEPLOY_OUTCOMES.RolledBack : DEPLOY_OUTCOMES.Abandoned;
    case 'Superseded':
      return promoted ? DEPLOY_OUTCOMES.Promoted : DEPLOY_OUTCOMES.Abandoned;
    default: {
      const never: never = r.outcome;
      return never;
    }
  }
}

/** The deploys of an application: its Release's history records. */
export function deploysOfRelease(release: Release): Deploy[] {
  const { namespace, name, uid } = release.metadata;
  const res: Deploy[] = [];
  for (const r of release.status?.history ?? []) {
    const d = releaseDeploy(r, { namespace, name, uid: uid ?? `${namespace}/${name}` });
    if (d) res.push(d);
  }
  return res;
}

function releaseDeploy(r: ReleaseRecord, id: { namespace: string; name: string; uid: string }): Deploy | undefined {
  const startedAt = time(r.startedAt);
  const finishedAt = time(r.finishedAt);
  if (startedAt === undefined || finishedAt === undefined) return undefined;
  const promotedAt = time(r.promotedAt);
  const committedAt = time(r.source?.committedAt);
  const lines = r.source?.linesChanged;
  return {
    kind: DEPLOY_KINDS.Release,
    ...id,
    revision: String(r.generation),
    version: r.version,
    outcome: releaseOutcome(r, promotedAt !== undefined),
    startedAt,
    finishedAt,
    ...(promotedAt !== undefined ? { promotedAt } : {}),
    ...(r.reason ? { reason: r.reason } : {}),
    ...(r.source?.revision ? { commit: r.source.revision } : {}),
    ...(r.source?.repository ? { repository: r.source.repository } : {}),
    ...(committedAt !== undefined ? { committedAt } : {}),
    ...(typeof lines === 'number' && Number.isFinite(lines) && lines >= 0 ? { linesChanged: lines } : {}),
  };
}

function releaseOutcome(r: ReleaseRecord, promoted: boolean): DeployOutcome {
  switch (r.outcome) {
    case 'Succeeded':
      return DEPLOY_OUTCOMES.Promoted;
    case 'Superseded':
      return promoted ? DEPLOY_OUTCOMES.Promoted : DEPLOY_OUTCOMES.Abandoned;
    case 'RolledBack':
    case 'Halted':
      return promoted ? DEPLOY_OUTCOMES.RolledBack : DEPLOY_OUTCOMES.Caught;
    case 'Failed':
      return promoted ? DEPLOY_OUTCOMES.RolledBack : DEPLOY_OUTCOMES.Failed;
    default: {
      const never: never = r.outcome;
      return never;
    }
  }
}

/** The key two deploys of one object are compared by (V1 → V2 → V1): a Release's version, a Canary's revision. */
const keyOf = (d: Deploy): string => (d.kind === DEPLOY_KINDS.Release ? (d.version ?? d.revision) : d.revision);

/**
 * Marks the change failures and recoveries among the deploys of ONE object (any order in; out in
 * order of start). Reads the whole history: the evidence of a failure comes after it.
 */
export function assessDeploys(deploys: readonly Deploy[], fixForwardWindowMs: number = DEFAULT_FIX_FORWARD_WINDOW_MS): AssessedDeploy[] {
  const all: AssessedDeploy[] = [...deploys].sort((a, b) => a.startedAt - b.startedAt || a.finishedAt - b.finishedAt).map((d) => ({ ...d }));
  const promoted = all.filter((d) => d.promotedAt !== undefined).sort((a, b) => (a.promotedAt ?? 0) - (b.promotedAt ?? 0));
  promoted.forEach((d, i) => {
    // What ran before it: the last earlier promoted deploy that was not rolled back.
    const prev = promoted.slice(0, i).reverse().find((p) => p.outcome !== DEPLOY_OUTCOMES.RolledBack);
    const next = promoted[i + 1];
    if (d.outcome === DEPLOY_OUTCOMES.RolledBack) {
      d.changeFailure = CHANGE_FAILURE_CAUSES.RolledBack;
      d.recoveredAt = d.finishedAt;
      // The rollback returned the targets to what ran before.
      if (prev) d.remediatedBy = prev;
      return;
    }
    // What replaced it: the next promoted deploy that was not rolled back itself.
    const replacement = promoted.slice(i + 1).find((p) => p.outcome !== DEPLOY_OUTCOMES.RolledBack);
    const before = (d.kind === DEPLOY_KINDS.Canary ? d.before : undefined) ?? (prev ? keyOf(prev) : undefined);
    if (replacement && before !== undefined && keyOf(replacement) === before && before !== keyOf(d)) {
      d.changeFailure = CHANGE_FAILURE_CAUSES.RedeployedPrevious;
      d.remediatedBy = replacement;
      return;
    }
    if (next && fixForwardWindowMs > 0 && next.startedAt - (d.promotedAt ?? 0) < fixForwardWindowMs && keyOf(next) !== keyOf(d)) {
      d.changeFailure = CHANGE_FAILURE_CAUSES.FixForward;
      d.remediatedBy = next;
    }
  });
  // Recovery of the failures that were not rolled back: the next promoted deploy that is not a failure.
  promoted.forEach((d, i) => {
    if (!d.changeFailure || d.recoveredAt !== undefined) return;
    const good = promoted.slice(i + 1).find((n) => !n.changeFailure);
    if (good?.promotedAt !== undefined) d.recoveredAt = good.promotedAt;
  });
  return all;
}

/** Lower median (the mean of the two middle values for an even count). */
export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid] : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

/** Nearest-rank percentile: the value at rank ceil(p/100 × n) of the sorted values. */
export function percentile(values: readonly number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const s = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * s.length));
  return s[rank - 1];
}

const summary = (values: number[], withP90 = false): Summary => {
  const m = median(values);
  const p = withP90 ? percentile(values, 90) : undefined;
  return { count: values.length, ...(m !== undefined ? { median: m } : {}), ...(p !== undefined ? { p90: p } : {}) };
};

const iso = (ms: number): string => new Date(ms).toISOString();

/** The figures of one object's deploys over [since, now]. */
export function calculateFigures(deploys: readonly Deploy[], o: DeliveryOptions): DeliveryFigures | undefined {
  const first = deploys[0];
  if (!first) return undefined;
  const assessed = assessDeploys(deploys, o.fixForwardWindowMs ?? DEFAULT_FIX_FORWARD_WINDOW_MS);
  const inWindow = (t: number | undefined): t is number => t !== undefined && t >= o.since && t <= o.now;
  const promoted = assessed.filter((d) => inWindow(d.promotedAt));
  const caught = assessed.filter((d) => d.outcome === DEPLOY_OUTCOMES.Caught && inWindow(d.finishedAt));
  const failures = promoted.filter((d) => d.changeFailure !== undefined);
  const seconds = (ms: number): number => ms / 1000;
  const weeks = Math.max(o.now - o.since, 1) / (7 * 24 * 3600_000);
  const recovered = failures.filter((d) => d.recoveredAt !== undefined && d.recoveredAt <= o.now);
  return {
    kind: first.kind,
    namespace: first.namespace,
    name: first.name,
    since: iso(o.since),
    until: iso(o.now),
    deploys: promoted.length,
    deploysPerWeek: promoted.length / weeks,
    canaryCatches: caught.length,
    ...(promoted.length + caught.length > 0 ? { canaryCatchRate: caught.length / (promoted.length + caught.length) } : {}),
    changeFailures: failures.length,
    ...(promoted.length > 0 ? { changeFailureRate: failures.length / promoted.length } : {}),
    durationSeconds: summary(
      promoted.map((d) => seconds((d.promotedAt ?? 0) - d.startedAt)),
      true,
    ),
    leadTimeSeconds: summary(promoted.flatMap((d) => (d.committedAt !== undefined && (d.promotedAt ?? 0) >= d.committedAt ? [seconds((d.promotedAt ?? 0) - d.committedAt)] : []))),
    linesChanged: summary(promoted.flatMap((d) => (d.linesChanged !== undefined ? [d.linesChanged] : []))),
    timeToRecoverSeconds: summary(recovered.map((d) => seconds((d.recoveredAt ?? 0) - (d.promotedAt ?? 0)))),
    unrecovered: failures.length - recovered.length,
    failures: failures.map((d) => ({
      revision: d.revision,
      ...(d.version ? { version: d.version } : {}),
      cause: d.changeFailure as ChangeFailureCause,
      promotedAt: iso(d.promotedAt ?? 0),
      ...(d.recoveredAt !== undefined && d.recoveredAt <= o.now ? { recoveredAt: iso(d.recoveredAt) } : {}),
    })),
  };
}

/** Figures per application (each Release) and per Deployment (each Canary with deploys not driven by a Release). */
export function calculateDelivery(objects: { releases: readonly Release[]; canaries: readonly Canary[] }, o: DeliveryOptions): DeliveryFigures[] {
  const res: DeliveryFigures[] = [];
  for (const r of objects.releases) {
    const f = calculateFigures(deploysOfRelease(r), o);
    if (f) res.push(f);
  }
  for (const c of objects.canaries) {
    const f = calculateFigures(deploysOfCanary(c), o);
    if (f) res.push(f);
  }
  return res.sort((a, b) => a.namespace.localeCompare(b.namespace) || a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name));
}
