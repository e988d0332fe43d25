// The Release's state machine: pure, no I/O, no clock. Given the Release, what observe() saw of
// its targets (Deployments and the Canaries guarding them) and `now`, it returns the next status,
// the actions that bring the world there and the Events to record.
//
// Which revision of a target belongs to a generation (the revision rule):
//  - a target with images: its template with exactly those images (the operator applies them
//    when the target's group starts);
//  - a target without images whose template carries a version label (app.kubernetes.io/version
//    or tags.datadoghq.com/version): the template once that label equals spec.version (the
//    target waits for it, WaitingForTemplate, within the progress deadline), so the order in
//    which a sync applies the Release and its Deployments does not matter;
//  - otherwise the template the Deployment holds when the target's group starts.
// revisionBefore is what the target ran before: the guarding Canary's stableRevision, else the
// Deployment's revision before the change.
import { ANNOTATIONS, CONDITIONS, REASONS } from '../api/constants.js';
import type { CheckStatus, Condition, ConditionStatus, Measurement } from '../api/types.js';
import {
  FAILURE_POLICIES,
  RELEASE_PHASES,
  TARGET_PHASES,
  type Release,
  type ReleaseOutcome,
  type ReleasePhase,
  type ReleaseRecord,
  type ReleaseStatus,
  type TargetPhase,
  type TargetStatus,
} from '../api/release-types.js';
import { parseDuration } from '../analysis/duration.js';
import { emptyCheckStatus, recordMeasurement } from '../canary/decide.js';
import { setCondition } from '../canary/conditions.js';

export const RELEASE_DEFAULTS = {
  progressDeadline: '30m',
  historyLimit: 20,
  postReleaseInterval: '1m',
  failureLimit: 0,
  consecutiveErrorLimit: 3,
} as const;

/** How often a Release in progress looks again (rolling updates are not watched). */
export const POLL_MS = 2_000;

export interface ObservedCanary {
  name: string;
  /** The Canary's observedGeneration matches its generation. */
  stableRevision?: string;
  stableVersion?: string;
  failedRevision?: string;
  canaryRevision?: string;
  /** From the Canary's history: revisions it promoted, and over which stable revision. */
  promotions?: Array<{ revision: string; stableRevisionBefore?: string }>;
  phase?: string;
  ready: boolean;
  lastResult?: string;
  /** Annotations as they are now. */
  annotations: Record<string, string>;
  /** Request ids the Canary has handled. */
  handled: { promote?: string; abort?: string; retry?: string };
}

export interface ObservedTarget {
  deployment: string;
  exists: boolean;
  containers: string[];
  /** Revision (revisionOf) of the template the Deployment holds. */
  revision: string;
  version: string;
  /** app.kubernetes.io/version or tags.datadoghq.com/version of the template, if set. */
  versionLabel?: string;
  /** Revision of the template with spec images applied (equals revision when there are none). */
  revisionWithImages: string;
  versionWithImages: string;
  /** The newest revision among the Deployment's ReplicaSets other than the template's. */
  previousRevision?: string;
  previousVersion?: string;
  /** The previous revision's version label (as versionLabel). */
  previousVersionLabel?: string;
  /** The rolling update to the template is complete. */
  rolledOut: boolean;
  canary?: ObservedCanary;
  /** An older Release of the namespace that lists this Deployment. */
  claimedBy?: string;
}

export interface Observed {
  targets: Record<string, ObservedTarget>;
  /** Problems of the spec that the schema cannot catch (invalid durations, unresolvable checks). */
  specProblems: string[];
  /** Post-release: checks by name (resolved), with their fresh measurement if any. */
  checks: string[];
  measurements: Record<string, Measurement | undefined>;
  /** Post-release checks that cannot be measured, by name: why (a missing or invalid Secret). */
  checkProblems?: Record<string, string>;
  /** Canaries of the namespace that carry this Release's held-by annotation. */
  heldCanaries?: string[];
}

export type CanaryRequest = 'promote' | 'abort' | 'retry';

export type Action =
  | { type: 'ApplyImages'; deployment: string; images: Record<string, string> }
  | { type: 'RevertTemplate'; deployment: string; revision: string }
  | { type: 'AnnotateCanary'; canary: string; request: CanaryRequest; id: string }
  | { type: 'HoldCanary'; canary: string; holder: string }
  | { type: 'ReleaseCanary'; canary: string }
  | { type: 'Measure'; checks: string[] };

export interface EventSpec {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

export interface Decision {
  status: ReleaseStatus;
  actions: Action[];
  events: EventSpec[];
  requeueAfterMs?: number;
}

const iso = (ms: number): string => new Date(ms).toISOString();
const DONE: readonly TargetPhase[] = [TARGET_PHASES.Promoted, TARGET_PHASES.Unchanged];
const IN_FLIGHT: readonly TargetPhase[] = [TARGET_PHASES.WaitingForTemplate, TARGET_PHASES.Canary, TARGET_PHASES.RollingOut];
const ACTIVE: readonly ReleasePhase[] = [RELEASE_PHASES.Pending, RELEASE_PHASES.Progressing, RELEASE_PHASES.Verifying, RELEASE_PHASES.RollingBack];

/** The holder a Canary's held-by annotation names. */
export const holderOf = (release: Release): string => `release/${release.metadata.name}`;

/** The groups of spec.order, default one group of every target. */
export function groupsOf(release: Release): string[][] {
  const order = release.spec.order;
  if (order && order.length) return order;
  return [release.spec.targets.map((t) => t.deployment)];
}

/** Problems of a spec the schema rejects too (a Release applied before its CRD's rules, or edited around them). */
export function specProblemsOf(release: Release): string[] {
  const problems: string[] = [];
  const names = release.spec.targets.map((t) => t.deployment);
  const seen = new Set<string>();
  for (const n of names) {
    if (seen.has(n)) problems.push(`Deployment ${n} is listed twice in targets`);
    seen.add(n);
  }
  if (release.spec.order) {
    const inOrder = new Map<string, number>();
    release.spec.order.forEach((g, i) => {
      if (!g.length) problems.push(`order group ${i + 1} is empty`);
      for (const n of g) {
        if (!seen.has(n)) problems.push(`order names ${n}, which is not a target`);
        inOrder.set(n, (inOrder.get(n) ?? 0) + 1);
      }
    });
    for (const n of names) {
      if (!inOrder.has(n)) problems.push(`target ${n} is missing from order`);
      else if ((inOrder.get(n) ?? 0) > 1) problems.push(`target ${n} is in more than one group of order`);
    }
  }
  const policy = release.spec.failurePolicy;
  if (policy !== undefined && !Object.values(FAILURE_POLICIES).includes(policy)) problems.push(`failurePolicy ${String(policy)} is not RollbackAll or HaltInPlace`);
  for (const [field, value] of [['progressDeadline', release.spec.progressDeadline], ['postRelease.duration', release.spec.postRelease?.duration], ['postRelease.interval', release.spec.postRelease?.interval]] as const) {
    if (value !== undefined && !((parseDuration(value) ?? 0) > 0)) problems.push(`${field} "${value}" is not a positive duration such as "30m"`);
  }
  return problems;
}

/** The request ids the Release sends its Canaries: stable across passes, new for each attempt. */
export function canaryRequestId(release: Release, status: ReleaseStatus, request: CanaryRequest): string {
  return `${holderOf(release)}@${status.releaseGeneration ?? 0}/${request}/${status.startedAt ?? ''}`;
}

export function decide(release: Release, observed: Observed, now: number): Decision {
  return new Decider(release, observed, now).run();
}

class Decider {
  private readonly st: ReleaseStatus;
  private readonly actions: Action[] = [];
  private readonly events: EventSpec[] = [];
  private requeueAt: number | undefined;
  private readonly nowIso: string;
  private readonly generation: number;
  private readonly deadlineMs: number;

  constructor(
    private readonly release: Release,
    private readonly observed: Observed,
    private readonly now: number,
  ) {
    this.st = structuredClone(release.status ?? {});
    this.nowIso = iso(now);
    this.generation = release.metadata.generation ?? 1;
    this.deadlineMs = parseDuration(release.spec.progressDeadline ?? RELEASE_DEFAULTS.progressDeadline) ?? 30 * 60_000;
  }

  run(): Decision {
    const st = this.st;
    this.handleRequests();
    const newGeneration = st.releaseGeneration !== this.generation;
    if (newGeneration) {
      // A rollback is never interrupted (never roll back a rollback): the newer generation starts after it.
      if (st.phase === RELEASE_PHASES.RollingBack) {
        this.rollBack();
        if (this.st.phase === RELEASE_PHASES.RolledBack) this.start();
      } else {
        if (st.phase !== undefined && ACTIVE.includes(st.phase)) this.supersede();
        this.start();
      }
    } else if (st.phase === RELEASE_PHASES.Failed) {
      // A configuration problem may be fixed (the Deployment created, the other Release deleted).
      this.start();
    } else {
      this.advance();
    }
    this.finish();
    return {
      status: this.st,
      actions: this.actions,
      events: this.events,
      ...(this.requeueAt !== undefined ? { requeueAfterMs: Math.max(0, this.requeueAt - this.now) } : {}),
    };
  }

  // ---- requests (annotations on the Release) ----

  private pendingRequest(kind: CanaryRequest): string | undefined {
    const id = this.release.metadata.annotations?.[ANNOTATIONS[kind]];
    if (!id || this.st.requests?.[kind]?.id === id) return undefined;
    return id;
  }

  private markHandled(kind: CanaryRequest, id: string): void {
    this.st.requests = { ...this.st.requests, [kind]: { id, handledAt: this.nowIso } };
  }

  private handleRequests(): void {
    const st = this.st;
    const sameGeneration = st.releaseGeneration === this.generation;
    const retry = this.pendingRequest('retry');
    if (retry) {
      this.markHandled('retry', retry);
      const retriable: readonly (ReleasePhase | undefined)[] = [RELEASE_PHASES.RolledBack, RELEASE_PHASES.Halted];
      if (sameGeneration && retriable.includes(st.phase)) {
        this.event('Normal', REASONS.RetryRequested, `retry requested: releasing ${this.release.spec.version} again`);
        // Forget the generation: the next step starts it again.
        st.releaseGeneration = undefined;
        st.failedGeneration = undefined;
      }
    }
    const abort = this.pendingRequest('abort');
    if (abort) {
      this.markHandled('abort', abort);
      if (sameGeneration && (st.phase === RELEASE_PHASES.Progressing || st.phase === RELEASE_PHASES.Verifying)) {
        this.event('Warning', REASONS.AbortRequested, 'abort requested');
        this.fail(undefined, REASONS.AbortRequested, 'abort requested (annotation deployer.dev/abort)');
      }
    }
    const promote = this.pendingRequest('promote');
    if (promote) {
      this.markHandled('promote', promote);
      if (sameGeneration && st.phase === RELEASE_PHASES.Verifying) {
        this.event('Normal', REASONS.PromoteRequested, 'promote requested: post-release checks skipped');
        this.succeed('post-release checks skipped by a promote request');
      } else if (sameGeneration && st.phase === RELEASE_PHASES.Progressing) {
        this.event('Normal', REASONS.PromoteRequested, 'promote requested: the canaries of the release are promoted without further analysis');
      }
    }
  }

  /** A promote request handled during this attempt applies to every canary the release runs. */
  private promoteRequested(): boolean {
    const handled = this.st.requests?.promote?.handledAt;
    return handled !== undefined && this.st.startedAt !== undefined && handled >= this.st.startedAt;
  }

  // ---- lifecycle ----

  private supersede(): void {
    const st = this.st;
    const version = st.version ?? '';
    const firstGroup = groupsOf(this.release)[0] ?? [];
    // The newer generation pushes nothing if it cannot start (it fails on its configuration).
    const startsNow = this.problems().length === 0;
    for (const t of st.targets ?? []) {
      // A canary of the older version is aborted, unless the newer generation pushes a new template to
      // the target at once (its first group, with images): that template supersedes the canary, and an
      // abort handled after it arrived would abort the newer revision.
      const pushedNow = startsNow && firstGroup.includes(t.deployment) && Object.keys(this.release.spec.targets.find((x) => x.deployment === t.deployment)?.images ?? {}).length > 0;
      if (t.phase === TARGET_PHASES.Canary && !pushedNow) this.annotate(t, 'abort');
      if (t.phase === TARGET_PHASES.Pending || IN_FLIGHT.includes(t.phase)) t.phase = t.phase === TARGET_PHASES.Pending ? TARGET_PHASES.Skipped : TARGET_PHASES.Halted;
    }
    const message = `superseded by generation ${this.generation} (version ${this.release.spec.version})`;
    this.record('Superseded', { message });
    this.event('Normal', REASONS.ReleaseSuperseded, `release of ${version} (generation ${st.releaseGeneration ?? '?'}) ${message}`);
  }

  /** What keeps the current generation from starting: the spec, the checks, the targets. */
  private problems(): string[] {
    return [...specProblemsOf(this.release), ...this.observed.specProblems, ...this.targetProblems()];
  }

  /** Validates and starts the current generation; Failed (changing nothing) when it cannot. */
  private start(): void {
    const st = this.st;
    const problems = this.problems();
    const wasFailedSame = st.phase === RELEASE_PHASES.Failed && st.releaseGeneration === this.generation;
    if (problems.length) {
      const message = problems.join('; ');
      if (!wasFailedSame || st.message !== message) this.event('Warning', REASONS.ReleaseFailed, message);
      Object.assign(st, {
        phase: RELEASE_PHASES.Failed,
        message,
        releaseGeneration: this.generation,
        version: this.release.spec.version,
        failureReason: message,
        startedAt: wasFailedSame ? st.startedAt : this.nowIso,
        finishedAt: wasFailedSame ? st.finishedAt : this.nowIso,
      } satisfies ReleaseStatus);
      delete st.failedTarget;
      delete st.currentGroup;
      delete st.promotedAt;
      st.targets = this.release.spec.targets.map((t) => ({ deployment: t.deployment, group: this.groupIndexOf(t.deployment), phase: TARGET_PHASES.Pending }));
      if (!wasFailedSame) this.record('Failed', { reason: REASONS.InvalidSpec, message });
      // Holds this Release placed stay only while it runs.
      this.releaseHolds(() => true);
      this.requeueAt = this.now + 30_000;
      return;
    }
    const groups = groupsOf(this.release);
    st.releaseGeneration = this.generation;
    st.version = this.release.spec.version;
    st.phase = RELEASE_PHASES.Progressing;
    st.startedAt = this.nowIso;
    delete st.finishedAt;
    delete st.promotedAt;
    delete st.failedTarget;
    delete st.failureReason;
    delete st.checks;
    st.currentGroup = 0;
    st.targets = this.release.spec.targets.map((t) => {
      const obs = this.observed.targets[t.deployment];
      return {
        deployment: t.deployment,
        group: this.groupIndexOf(t.deployment),
        phase: TARGET_PHASES.Pending,
        ...(obs?.canary ? { canary: obs.canary.name } : {}),
      };
    });
    st.targets.sort((a, b) => a.group - b.group);
    this.event('Normal', REASONS.ReleaseStarted, `releasing ${this.release.spec.version} (generation ${this.generation}) to ${st.targets.length} target(s) in ${groups.length} group(s)`);
    this.startGroup(0);
    this.advance();
  }

  private groupIndexOf(deployment: string): number {
    const i = groupsOf(this.release).findIndex((g) => g.includes(deployment));
    return i < 0 ? 0 : i;
  }

  /** What makes a release impossible before anything is changed. */
  private targetProblems(): string[] {
    const problems: string[] = [];
    for (const t of this.release.spec.targets) {
      const obs = this.observed.targets[t.deployment];
      if (!obs || !obs.exists) {
        problems.push(`Deployment ${t.deployment} not found`);
        continue;
      }
      if (obs.claimedBy) problems.push(`Deployment ${t.deployment} is a target of Release ${obs.claimedBy}, which is older`);
      for (const c of Object.keys(t.images ?? {})) {
        if (!obs.containers.includes(c)) problems.push(`Deployment ${t.deployment} has no container ${c} (containers: ${obs.containers.join(', ') || 'none'})`);
      }
    }
    return problems;
  }

  private startGroup(g: number): void {
    const st = this.st;
    st.currentGroup = g;
    const names: string[] = [];
    for (const t of st.targets ?? []) {
      if (t.group !== g || t.phase !== TARGET_PHASES.Pending) continue;
      names.push(t.deployment);
      this.startTarget(t);
    }
    if (g > 0 || groupsOf(this.release).length > 1) this.event('Normal', REASONS.GroupStarted, `group ${g + 1}/${groupsOf(this.release).length} started: ${names.join(', ')}`);
  }

  private startTarget(t: TargetStatus): void {
    const obs = this.observed.targets[t.deployment];
    const spec = this.release.spec.targets.find((x) => x.deployment === t.deployment);
    if (!obs || !spec) return;
    t.startedAt = this.nowIso;
    delete t.finishedAt;
    delete t.canaryResult;
    delete t.message;
    if (obs.canary) t.canary = obs.canary.name;
    if (obs.canary) this.unhold(obs.canary);
    const images = spec.images && Object.keys(spec.images).length ? spec.images : undefined;
    if (images) {
      t.revision = obs.revisionWithImages;
      t.version = obs.versionWithImages;
      this.setBefore(t, obs, obs.revision !== obs.revisionWithImages);
      if (obs.revision !== obs.revisionWithImages) this.actions.push({ type: 'ApplyImages', deployment: t.deployment, images });
    } else if (obs.versionLabel !== undefined && obs.versionLabel !== this.release.spec.version) {
      this.setBefore(t, obs, true);
      t.phase = TARGET_PHASES.WaitingForTemplate;
      t.message = `waiting for the template of Deployment ${t.deployment} to carry version ${this.release.spec.version} (it has ${obs.versionLabel})`;
      return;
    } else {
      t.revision = obs.revision;
      t.version = obs.version;
      this.setBefore(t, obs, false);
    }
    this.beginVerification(t, obs);
  }

  /**
   * revisionBefore: what the target ran before this release. The Canary's stable revision, else the
   * Deployment's current revision while the release has not changed it. A template that already
   * belongs to the release when its group starts (a sync applied it first, its version label says
   * so) came from the revision before it: the one its Canary promoted it over (the Canary's
   * history), or the newest ReplicaSet of another version.
   */
  private setBefore(t: TargetStatus, obs: ObservedTarget, templateNotYetChanged: boolean): void {
    const belongs = !templateNotYetChanged && obs.versionLabel !== undefined && obs.versionLabel === this.release.spec.version;
    const c = obs.canary;
    if (c?.stableRevision) {
      const promotedOver = belongs && c.stableRevision === obs.revision ? c.promotions?.find((p) => p.revision === obs.revision)?.stableRevisionBefore : undefined;
      t.revisionBefore = promotedOver ?? c.stableRevision;
      if (!promotedOver && c.stableVersion) t.versionBefore = c.stableVersion;
      return;
    }
    const previous = (): void => {
      t.revisionBefore = obs.previousRevision;
      if (obs.previousVersion) t.versionBefore = obs.previousVersion;
    };
    if (templateNotYetChanged) {
      t.revisionBefore = obs.revision;
      t.versionBefore = obs.version;
    } else if (belongs && obs.previousRevision && obs.previousVersionLabel !== this.release.spec.version) previous();
    else if (obs.rolledOut || !obs.previousRevision) {
      // Already running everywhere when the release came, and nothing says it is new: unchanged.
      t.revisionBefore = obs.revision;
      t.versionBefore = obs.version;
    } else previous();
  }

  /**
   * A target of a later group whose template of this release a sync applied early (its version label
   * says so) may have been canaried before its hold arrived. All or nothing: a canary of it in flight
   * is aborted (the target stays held on that template, Skipped), and a template its Canary already
   * promoted goes back like any changed target (true: it is Reverting).
   */
  private earlyTemplateGoesBack(t: TargetStatus): boolean {
    const obs = this.observed.targets[t.deployment];
    const c = obs?.canary;
    const images = this.release.spec.targets.find((x) => x.deployment === t.deployment)?.images;
    if (!obs || !c || (images && Object.keys(images).length) || obs.versionLabel !== this.release.spec.version) return false;
    if (c.stableRevision === obs.revision) {
      t.revision = obs.revision;
      t.version = obs.version;
      this.setBefore(t, obs, false);
      if (t.revisionBefore === undefined || t.revisionBefore === t.revision) return false;
      t.phase = TARGET_PHASES.Reverting;
      t.message = `its Canary promoted revision ${t.revision} before its group started; returning to revision ${t.revisionBefore}`;
      return true;
    }
    if (c.canaryRevision === obs.revision && c.failedRevision !== obs.revision && ['Progressing', 'Paused', 'Promoting'].includes(c.phase ?? '')) this.annotate(t, 'abort');
    return false;
  }

  /** The target's revision is known: it is verified by its Canary or by its rolling update. */
  private beginVerification(t: TargetStatus, obs: ObservedTarget): void {
    if (obs.canary) {
      if (obs.canary.stableRevision === t.revision && t.revisionBefore === t.revision) {
        this.targetDone(t, TARGET_PHASES.Unchanged, `revision ${t.revision} already verified and running`);
        return;
      }
      t.phase = TARGET_PHASES.Canary;
      t.message = `Canary ${obs.canary.name} verifies revision ${t.revision}`;
      // A retried generation: the Canary must try the revision it rolled back before. The request
      // is recorded first and sent on every pass until the Canary has handled it.
      if (obs.canary.failedRevision === t.revision) {
        t.retryRequest = canaryRequestId(this.release, this.st, 'retry');
        this.annotate(t, 'retry');
      }
      return;
    }
    if (t.revisionBefore === t.revision && obs.rolledOut) {
      this.targetDone(t, TARGET_PHASES.Unchanged, `revision ${t.revision} already running`);
      return;
    }
    t.phase = TARGET_PHASES.RollingOut;
    t.message = `rolling update of Deployment ${t.deployment} to revision ${t.revision}`;
  }

  private targetDone(t: TargetStatus, phase: TargetPhase, message: string): void {
    t.phase = phase;
    t.message = message;
    t.finishedAt = this.nowIso;
    if (phase === TARGET_PHASES.Promoted) this.event('Normal', REASONS.TargetPromoted, `${t.deployment}: ${message}`);
  }

  /** One step of the release in progress. */
  private advance(): void {
    const st = this.st;
    switch (st.phase) {
      case RELEASE_PHASES.Progressing:
        this.progress();
        break;
      case RELEASE_PHASES.Verifying:
        this.verify();
        break;
      case RELEASE_PHASES.RollingBack:
        this.rollBack();
        break;
      case RELEASE_PHASES.Pending:
      case RELEASE_PHASES.Succeeded:
      case RELEASE_PHASES.RolledBack:
      case RELEASE_PHASES.Halted:
      case RELEASE_PHASES.Failed:
      case RELEASE_PHASES.Superseded:
      case undefined:
        break;
      default: {
        const never: never = st.phase;
        return never;
      }
    }
  }

  private progress(): void {
    const st = this.st;
    const groups = groupsOf(this.release);
    // Guarded targets of later groups wait for their group (a GitOps sync may change them early).
    for (const t of st.targets ?? []) {
      const canary = this.observed.targets[t.deployment]?.canary;
      if (t.phase === TARGET_PHASES.Pending && canary && canary.annotations[ANNOTATIONS.heldBy] !== holderOf(this.release)) {
        this.actions.push({ type: 'HoldCanary', canary: canary.name, holder: holderOf(this.release) });
      }
    }
    for (const t of st.targets ?? []) {
      if (!IN_FLIGHT.includes(t.phase)) continue;
      this.progressTarget(t);
      if (st.phase !== RELEASE_PHASES.Progressing) return;
    }
    const g = st.currentGroup ?? 0;
    const inGroup = (st.targets ?? []).filter((t) => t.group === g);
    if (!inGroup.every((t) => DONE.includes(t.phase))) {
      this.poll();
      return;
    }
    if (g + 1 < groups.length) {
      this.startGroup(g + 1);
      this.progress();
      return;
    }
    st.promotedAt = this.nowIso;
    const post = this.release.spec.postRelease;
    if (post && post.checks.length) {
      st.phase = RELEASE_PHASES.Verifying;
      st.checks = post.checks.map((c) => emptyCheckStatus(c.name));
      this.event('Normal', REASONS.ReleaseVerifying, `every target runs ${this.release.spec.version}; post-release checks run for ${post.duration}`);
      this.verify();
      return;
    }
    this.succeed(`every target runs ${this.release.spec.version}`);
  }

  private progressTarget(t: TargetStatus): void {
    const obs = this.observed.targets[t.deployment];
    const started = Date.parse(t.startedAt ?? this.nowIso);
    if (!obs || !obs.exists) {
      this.fail(t, REASONS.TargetNotFound, `Deployment ${t.deployment} was deleted during the release`);
      return;
    }
    if (t.phase === TARGET_PHASES.WaitingForTemplate) {
      if (obs.versionLabel === undefined || obs.versionLabel === this.release.spec.version) {
        t.revision = obs.revision;
        t.version = obs.version;
        this.beginVerification(t, obs);
        if (t.phase === TARGET_PHASES.WaitingForTemplate) return;
        if (DONE.includes(t.phase)) return;
      }
    }
    if (this.now >= started + this.deadlineMs) {
      const what =
        t.phase === TARGET_PHASES.WaitingForTemplate
          ? `the template of Deployment ${t.deployment} never carried version ${this.release.spec.version}`
          : t.phase === TARGET_PHASES.Canary
            ? `Canary ${t.canary ?? '?'} did not promote revision ${t.revision ?? '?'}`
            : `the rolling update of Deployment ${t.deployment} to revision ${t.revision ?? '?'} did not complete`;
      this.fail(t, REASONS.ProgressDeadlineExceeded, `${what} within the progress deadline (${this.release.spec.progressDeadline ?? RELEASE_DEFAULTS.progressDeadline})`);
      return;
    }
    this.requeueAt = Math.min(this.requeueAt ?? Infinity, started + this.deadlineMs);
    if (t.phase === TARGET_PHASES.WaitingForTemplate) return;
    if (t.phase === TARGET_PHASES.Canary) {
      const c = obs.canary;
      if (!c) {
        this.fail(t, REASONS.TargetNotFound, `Canary ${t.canary ?? '?'} of Deployment ${t.deployment} was deleted during the release`);
        return;
      }
      if (t.retryRequest !== undefined && c.handled.retry !== t.retryRequest) {
        // The retry owed to the Canary is not handled yet (a pass that stopped before sending it).
        this.annotate(t, 'retry');
        return;
      }
      if (c.failedRevision !== undefined && c.failedRevision === t.revision && !this.retryPending(t, c)) {
        t.canaryResult = c.lastResult;
        this.fail(t, REASONS.RolledBack, c.lastResult ?? `Canary ${c.name} rolled back revision ${t.revision}`);
        return;
      }
      if (c.stableRevision === t.revision && c.ready && (c.phase === 'Succeeded' || c.phase === 'Waiting')) {
        if (c.lastResult) t.canaryResult = c.lastResult;
        this.targetDone(t, TARGET_PHASES.Promoted, `Canary ${c.name} promoted revision ${t.revision}`);
        return;
      }
      if (this.promoteRequested()) this.annotate(t, 'promote');
      this.unhold(c);
      this.reapplyImages(t, obs);
      return;
    }
    if (t.phase === TARGET_PHASES.RollingOut) {
      if (obs.revision === t.revision && obs.rolledOut) this.targetDone(t, TARGET_PHASES.Promoted, `Deployment ${t.deployment} rolled out revision ${t.revision}`);
      else this.reapplyImages(t, obs);
    }
  }

  /** Images applied in a pass that stopped before the write (or undone by someone): applied again. */
  private reapplyImages(t: TargetStatus, obs: ObservedTarget): void {
    const images = this.release.spec.targets.find((x) => x.deployment === t.deployment)?.images;
    if (images && Object.keys(images).length && obs.revision === t.revisionBefore && t.revision !== t.revisionBefore) {
      this.actions.push({ type: 'ApplyImages', deployment: t.deployment, images });
    }
  }

  /** The Canary has not yet handled the retry this attempt sent it. */
  private retryPending(t: TargetStatus, c: ObservedCanary): boolean {
    const id = canaryRequestId(this.release, this.st, 'retry');
    const sending = this.actions.some((a) => a.type === 'AnnotateCanary' && a.canary === c.name && a.request === 'retry');
    return sending || (c.annotations[ANNOTATIONS.retry] === id && c.handled.retry !== id);
  }

  private verify(): void {
    const st = this.st;
    const post = this.release.spec.postRelease;
    if (!post) {
      this.succeed(`every target runs ${this.release.spec.version}`);
      return;
    }
    const promotedAt = Date.parse(st.promotedAt ?? this.nowIso);
    const durationMs = parseDuration(post.duration) ?? 0;
    const intervalMs = parseDuration(post.interval ?? RELEASE_DEFAULTS.postReleaseInterval) ?? 60_000;
    const failureLimit = post.failureLimit ?? RELEASE_DEFAULTS.failureLimit;
    const errorLimit = post.consecutiveErrorLimit ?? RELEASE_DEFAULTS.consecutiveErrorLimit;
    const byName = new Map((st.checks ?? []).map((c) => [c.name, c]));
    const need: string[] = [];
    for (const name of this.observed.checks) {
      let cs = byName.get(name) ?? emptyCheckStatus(name);
      const last = cs.measurements.at(-1);
      const due = last ? Date.parse(last.time) + intervalMs : promotedAt;
      if (this.now >= due) {
        const problem = this.observed.checkProblems?.[name];
        const m: Measurement | undefined = problem !== undefined ? { verdict: 'Error', time: this.nowIso, message: problem } : this.observed.measurements[name];
        if (m) {
          cs = recordMeasurement(cs, m);
          this.requeueAt = Math.min(this.requeueAt ?? Infinity, Date.parse(m.time) + intervalMs);
        } else {
          need.push(name);
          this.requeueAt = Math.min(this.requeueAt ?? Infinity, this.now + Math.min(intervalMs, 5_000));
        }
      } else this.requeueAt = Math.min(this.requeueAt ?? Infinity, due);
      byName.set(name, cs);
    }
    st.checks = this.observed.checks.map((n) => byName.get(n) ?? emptyCheckStatus(n));
    for (const cs of st.checks) {
      const failed = checkFailure(cs, failureLimit, errorLimit);
      if (failed) {
        this.event('Warning', REASONS.PostReleaseCheckFailed, failed);
        this.fail(undefined, REASONS.PostReleaseCheckFailed, failed);
        return;
      }
    }
    // The window ends with a verdict only when every check has been measured and none is due
    // unmeasured (an operator restarted across the deadline asks again first).
    const measured = st.checks.every((c) => c.measurements.length > 0);
    if (this.now >= promotedAt + durationMs && need.length === 0 && measured) {
      this.succeed(`every target runs ${this.release.spec.version}; post-release checks passed for ${post.duration}`);
      return;
    }
    if (need.length) this.actions.push({ type: 'Measure', checks: need });
    if (this.now >= promotedAt + durationMs) {
      const waiting = st.checks.filter((c) => c.measurements.length === 0 || need.includes(c.name)).map((c) => c.name);
      st.message = `post-release checks ended at ${iso(promotedAt + durationMs).replace(/\.\d{3}Z$/, 'Z')}; waiting for a measurement of ${waiting.join(', ')}`;
      return;
    }
    this.requeueAt = Math.min(this.requeueAt ?? Infinity, promotedAt + durationMs);
    st.message = `post-release checks until ${iso(promotedAt + durationMs).replace(/\.\d{3}Z$/, 'Z')}`;
  }

  private succeed(message: string): void {
    const st = this.st;
    st.phase = RELEASE_PHASES.Succeeded;
    st.message = message;
    st.finishedAt = this.nowIso;
    st.promotedAt ??= this.nowIso;
    this.record('Succeeded', { message });
    this.event('Normal', REASONS.ReleaseSucceeded, `released ${this.release.spec.version}: ${message}`);
  }

  /** A target (or the post-release checks, or an abort) failed: the failure policy decides. */
  private fail(t: TargetStatus | undefined, reason: string, why: string): void {
    const st = this.st;
    if (t) {
      t.phase = TARGET_PHASES.Failed;
      t.message = why;
      t.finishedAt = this.nowIso;
      st.failedTarget = t.deployment;
      this.event('Warning', REASONS.TargetFailed, `${t.deployment}: ${why}`);
    }
    st.failureReason = why;
    if ((this.release.spec.failurePolicy ?? FAILURE_POLICIES.RollbackAll) === FAILURE_POLICIES.HaltInPlace) {
      for (const x of st.targets ?? []) {
        if (IN_FLIGHT.includes(x.phase)) {
          x.phase = TARGET_PHASES.Halted;
          x.message = 'halted where it was (failurePolicy HaltInPlace)';
        }
      }
      st.phase = RELEASE_PHASES.Halted;
      st.finishedAt = this.nowIso;
      st.message = `halted in place${t ? ` after ${t.deployment} failed` : ''}: ${why}`;
      this.record('Halted', { reason, message: why });
      this.event('Warning', REASONS.ReleaseHalted, st.message);
      return;
    }
    st.phase = RELEASE_PHASES.RollingBack;
    st.rollingBackSince = this.nowIso;
    st.message = `rolling back${t ? ` after ${t.deployment} failed` : ''}: ${why}`;
    st.rollbackReason = reason;
    for (const x of st.targets ?? []) {
      if (x.phase === TARGET_PHASES.Pending || x.phase === TARGET_PHASES.WaitingForTemplate) {
        if (this.earlyTemplateGoesBack(x)) continue;
        x.phase = TARGET_PHASES.Skipped;
        x.message = 'not started: the release was rolled back first';
        continue;
      }
      if (x.phase === TARGET_PHASES.Unchanged) continue;
      if (x.phase === TARGET_PHASES.Canary) this.annotate(x, 'abort');
      if (x.revisionBefore !== undefined && (x.phase === TARGET_PHASES.Canary || x.phase === TARGET_PHASES.RollingOut || x.phase === TARGET_PHASES.Promoted || x.phase === TARGET_PHASES.Failed)) {
        x.phase = TARGET_PHASES.Reverting;
        x.message = `returning to revision ${x.revisionBefore}`;
        delete x.finishedAt;
      }
    }
    this.event('Warning', REASONS.ReleaseRollingBack, st.message);
    this.rollBack();
  }

  private rollBack(): void {
    const st = this.st;
    let waiting = false;
    for (const t of st.targets ?? []) {
      if (t.phase !== TARGET_PHASES.Reverting || t.revisionBefore === undefined) continue;
      const obs = this.observed.targets[t.deployment];
      if (!obs || !obs.exists) {
        t.phase = TARGET_PHASES.Reverted;
        t.message = `Deployment ${t.deployment} no longer exists`;
        t.finishedAt = this.nowIso;
        continue;
      }
      const c = obs.canary;
      const canaryAccepts = !c || c.stableRevision === t.revisionBefore;
      if (obs.revision === t.revisionBefore && obs.rolledOut && canaryAccepts) {
        t.phase = TARGET_PHASES.Reverted;
        t.message = `back on revision ${t.revisionBefore}`;
        t.finishedAt = this.nowIso;
        continue;
      }
      if (obs.revision !== t.revisionBefore) this.actions.push({ type: 'RevertTemplate', deployment: t.deployment, revision: t.revisionBefore });
      waiting = true;
    }
    // Never roll back a rollback, and never wait for one forever: after the deadline it ends, saying what is left.
    const rollbackStarted = Date.parse(st.rollingBackSince ?? this.nowIso);
    const overdue = this.now >= rollbackStarted + this.deadlineMs;
    if (waiting && !overdue) {
      this.requeueAt = Math.min(this.requeueAt ?? Infinity, rollbackStarted + this.deadlineMs);
      this.poll();
      return;
    }
    const left = (st.targets ?? []).filter((t) => t.phase === TARGET_PHASES.Reverting).map((t) => t.deployment);
    st.phase = RELEASE_PHASES.RolledBack;
    st.finishedAt = this.nowIso;
    const reason = st.rollbackReason ?? REASONS.RolledBack;
    delete st.rollingBackSince;
    delete st.rollbackReason;
    st.failedGeneration = st.releaseGeneration ?? this.generation;
    const failed = st.failedTarget ? `${st.failedTarget} failed: ` : '';
    st.message = `rolled back: ${failed}${st.failureReason ?? 'unknown reason'}${left.length ? ` (not yet back on their previous revision: ${left.join(', ')})` : ''}`;
    this.record('RolledBack', { reason, message: st.failureReason ?? '' });
    this.event('Warning', REASONS.ReleaseRolledBack, st.message);
  }

  // ---- helpers ----

  private annotate(t: TargetStatus, request: CanaryRequest): void {
    const c = this.observed.targets[t.deployment]?.canary;
    if (!c) return;
    const id = canaryRequestId(this.release, this.st, request);
    if (c.annotations[ANNOTATIONS[request]] === id || c.handled[request] === id) return;
    this.actions.push({ type: 'AnnotateCanary', canary: c.name, request, id });
  }

  /** The target's group runs: its Canary is no longer held (a hold queued in this pass is dropped). */
  private unhold(c: ObservedCanary): void {
    for (let i = this.actions.length - 1; i >= 0; i--) {
      const a = this.actions[i];
      if (a?.type === 'HoldCanary' && a.canary === c.name) this.actions.splice(i, 1);
    }
    if (c.annotations[ANNOTATIONS.heldBy] === holderOf(this.release)) this.actions.push({ type: 'ReleaseCanary', canary: c.name });
  }

  private releaseHolds(which: (t: ObservedTarget) => boolean): void {
    for (const obs of Object.values(this.observed.targets)) {
      if (obs.canary?.annotations[ANNOTATIONS.heldBy] === holderOf(this.release) && which(obs)) this.actions.push({ type: 'ReleaseCanary', canary: obs.canary.name });
    }
  }

  private poll(): void {
    this.requeueAt = Math.min(this.requeueAt ?? Infinity, this.now + POLL_MS);
  }

  private event(type: EventSpec['type'], reason: string, message: string): void {
    this.events.push({ type, reason, message });
  }

  private record(outcome: ReleaseOutcome, o: { reason?: string; message?: string }): void {
    const st = this.st;
    const rec: ReleaseRecord = {
      generation: st.releaseGeneration ?? this.generation,
      version: st.version ?? this.release.spec.version,
      ...(this.release.spec.source && st.releaseGeneration === this.generation ? { source: this.release.spec.source } : {}),
      startedAt: st.startedAt ?? this.nowIso,
      finishedAt: this.nowIso,
      ...(st.promotedAt ? { promotedAt: st.promotedAt } : {}),
      outcome,
      ...(st.failedTarget ? { failedTarget: st.failedTarget } : {}),
      ...(o.reason ? { reason: o.reason } : {}),
      ...(o.message ? { message: o.message } : {}),
      targets: (st.targets ?? []).map((t) => ({ deployment: t.deployment, ...(t.revisionBefore ? { revisionBefore: t.revisionBefore } : {}), ...(t.revision ? { revision: t.revision } : {}) })),
    };
    const limit = this.release.spec.historyLimit ?? RELEASE_DEFAULTS.historyLimit;
    st.history = [rec, ...(st.history ?? [])].slice(0, limit);
  }

  /** Derived fields: targetsDone, message of a release in progress, conditions, observedGeneration; releases holds when done. */
  private finish(): void {
    const st = this.st;
    const targets = st.targets ?? [];
    st.targetsDone = `${targets.filter((t) => DONE.includes(t.phase)).length}/${targets.length}`;
    st.observedGeneration = this.generation;
    if (st.phase === RELEASE_PHASES.Progressing) {
      const g = st.currentGroup ?? 0;
      const n = groupsOf(this.release).length;
      const active = targets.filter((t) => IN_FLIGHT.includes(t.phase)).map((t) => `${t.deployment} ${phaseWord(t.phase)}`);
      st.message = `group ${g + 1}/${n}: ${active.join(', ') || 'starting'}`;
    }
    const phase = st.phase;
    const running = phase !== undefined && ACTIVE.includes(phase);
    if (st.phase === RELEASE_PHASES.Succeeded || st.phase === RELEASE_PHASES.Superseded) this.releaseHolds(() => true);
    // After a rollback or a halt, a Canary stays held only while its Deployment holds a template of the
    // failed release (a sync applied it early): it is not canaried until a newer generation or a retry.
    if (st.phase === RELEASE_PHASES.RolledBack || st.phase === RELEASE_PHASES.Halted) this.releaseHolds((o) => o.canary?.stableRevision === o.revision);
    // A release that ended places no new hold.
    if (!running) for (let i = this.actions.length - 1; i >= 0; i--) if (this.actions[i]?.type === 'HoldCanary') this.actions.splice(i, 1);
    // A Canary this Release holds whose Deployment is no longer a target (the spec dropped it) is let go.
    const ofTargets = new Set(Object.values(this.observed.targets).flatMap((o) => (o.canary ? [o.canary.name] : [])));
    for (const name of this.observed.heldCanaries ?? []) {
      if (!ofTargets.has(name) && !this.actions.some((a) => a.type === 'ReleaseCanary' && a.canary === name)) this.actions.push({ type: 'ReleaseCanary', canary: name });
    }
    const current = st.releaseGeneration === this.generation;
    const ready: [ConditionStatus, string] =
      phase === RELEASE_PHASES.Succeeded && current ? ['True', REASONS.ReleaseSucceeded] : ['False', reasonOfPhase(phase)];
    let conds: Condition[] = st.conditions ?? [];
    conds = setCondition(conds, { type: CONDITIONS.Ready, status: ready[0], reason: ready[1], message: st.message ?? '' }, this.nowIso, this.generation);
    conds = setCondition(
      conds,
      { type: CONDITIONS.Progressing, status: running ? 'True' : 'False', reason: running ? reasonOfPhase(phase) : reasonOfPhase(phase), message: st.message ?? '' },
      this.nowIso,
      this.generation,
    );
    conds = setCondition(
      conds,
      { type: 'Reconciling', status: running ? 'True' : 'False', reason: running ? reasonOfPhase(phase) : 'Idle', message: running ? (st.message ?? '') : 'nothing in flight' },
      this.nowIso,
      this.generation,
    );
    st.conditions = conds;
    // Drop the actions on Canaries the Release no longer needs to send twice.
    dedupe(this.actions);
  }
}

function checkFailure(cs: CheckStatus, failureLimit: number, errorLimit: number): string | undefined {
  if (cs.failures > failureLimit) {
    const last = [...cs.measurements].reverse().find((m) => m.verdict === 'Fail');
    return `post-release check ${cs.name} failed ${cs.failures} time(s) (limit ${failureLimit}): ${describeMeasurement(last)}`;
  }
  if (cs.consecutiveErrors >= errorLimit) {
    const last = cs.measurements.at(-1);
    return `post-release check ${cs.name} errored ${cs.consecutiveErrors} time(s) in a row (limit ${errorLimit}): ${describeMeasurement(last)}`;
  }
  return undefined;
}

function describeMeasurement(m: Measurement | undefined): string {
  if (!m) return 'no measurement';
  const value = m.value !== undefined ? ` ${m.value}` : '';
  const threshold = m.threshold ? ` (threshold ${m.threshold})` : '';
  const why = m.message ? `: ${m.message}` : '';
  return `${m.verdict}${value}${threshold}${why}`;
}

function phaseWord(p: TargetPhase): string {
  switch (p) {
    case TARGET_PHASES.WaitingForTemplate:
      return 'waiting for its template';
    case TARGET_PHASES.Canary:
      return 'in canary';
    case TARGET_PHASES.RollingOut:
      return 'rolling out';
    default:
      return p;
  }
}

function reasonOfPhase(p: ReleasePhase | undefined): string {
  switch (p) {
    case undefined:
    case RELEASE_PHASES.Pending:
      return 'Pending';
    case RELEASE_PHASES.Progressing:
      return 'Progressing';
    case RELEASE_PHASES.Verifying:
      return REASONS.ReleaseVerifying;
    case RELEASE_PHASES.RollingBack:
      return REASONS.ReleaseRollingBack;
    case RELEASE_PHASES.Succeeded:
      return REASONS.ReleaseSucceeded;
    case RELEASE_PHASES.RolledBack:
      return REASONS.ReleaseRolledBack;
    case RELEASE_PHASES.Halted:
      return REASONS.ReleaseHalted;
    case RELEASE_PHASES.Failed:
      return REASONS.ReleaseFailed;
    case RELEASE_PHASES.Superseded:
      return REASONS.ReleaseSuperseded;
    default: {
      const never: never = p;
      return never;
    }
  }
}

function dedupe(actions: Action[]): void {
  const seen = new Set<string>();
  for (let i = 0; i < actions.length; i++) {
    const key = JSON.stringify(actions[i]);
    if (seen.has(key)) actions.splice(i--, 1);
    else seen.add(key);
  }
}
