// The Canary state machine: a pure function of the spec, the last status and a snapshot of
// the world. No I/O, no clock, never throws. Everything it wants done comes back as actions.
import { ANNOTATIONS, CONDITIONS, DEFAULTS, FINALIZER, RATE_LIMITED_VALUE, REASONS, type Reason } from '../api/constants.js';
import type { Canary, CanaryOutcome, CanaryStatus, CheckStatus, ConditionStatus, Measurement, Phase, Step } from '../api/types.js';
import { PHASES } from '../api/types.js';
import type { ResolvedCheck } from '../analysis/provider.js';
import { isDatadogCheck } from '../analysis/datadog-check.js';
import { parseDuration } from '../analysis/duration.js';
import { getCondition, setCondition } from './conditions.js';
import { hintedDueAt } from './due.js';
import { canaryReplicas } from './replicas.js';
import { canaryVersionFor } from './revision.js';
import { addRecord, historyLimitOf, inRollbackWindow, rollbackWindowOf } from './history.js';

export interface ObservedDeployment {
  name: string;
  /** metadata.uid: a Deployment deleted and re-created is a new object. */
  uid: string;
  /** spec.strategy.type: RollingUpdate (default) or Recreate. */
  strategy: string;
  /** status.updatedReplicas: pods (of the Deployment's own ReplicaSets) that run the current template. */
  updatedReplicas: number;
  /** status.observedGeneration >= metadata.generation. */
  generationObserved: boolean;
  /** Revision (hash) of the current pod template. */
  revision: string;
  /** Version of the current pod template. */
  version: string;
  paused: boolean;
  /** spec.replicas (the HPA's choice when it scales the Deployment). */
  replicas: number;
  /** Value of the deployer.dev/canary label. */
  guardLabel?: string;
  /** Value of the deployer.dev/stable-revision annotation. */
  stableAnnotation?: string;
  /** The operator set spec.paused (deployer.dev/held is present). */
  heldByUs: boolean;
  /** observedGeneration current and updated = available = replicas. */
  rolloutComplete: boolean;
  /** Human summary of the rollout, e.g. "2 of 3 updated, 1 available". */
  rolloutMessage: string;
  /** Version of the stable revision, from its ReplicaSet, if known. */
  stableVersion?: string;
  /** A ReplicaSet of the Deployment runs the stable revision (its template can be restored). */
  stableTemplateKnown: boolean;
  /** A ReplicaSet of the Deployment runs the current template's revision (looked up only for a revision in the rollback window). */
  revisionReplicaSetExists?: boolean;
}

export interface ObservedReplicaSet {
  name: string;
  /** The revision under test (a baseline ReplicaSet carries the revision it is the baseline for). */
  revision: string;
  /** 'baseline' for a baseline ReplicaSet (the stable template); absent for canary pods. */
  role?: 'baseline';
  replicas: number;
  readyReplicas: number;
}

/** reason: SecretNotFound, SecretInvalid, or SecretUnreadable (the Secret could not be read: 403, 5xx, timeout). */
export type CredentialsState = { ok: true } | { ok: false; reason: Reason; message: string };

export interface Observed {
  /** Problems the schema cannot see; any makes the Canary Failed until the spec changes. */
  specProblems: string[];
  deployment?: ObservedDeployment;
  canaryReplicaSets: ObservedReplicaSet[];
  /** Another Canary that already guards the target Deployment. */
  guardedByOther?: string;
  /** Undefined when the Canary has no checks. */
  credentials?: CredentialsState;
  /** The checks, rendered for the revision under test. */
  checks: ResolvedCheck[];
  /** Fresh measurements that are ready, by check name. */
  measurements: Record<string, Measurement | undefined>;
  /** Checks a push asked to measure again early: check name -> time of the push (ms). */
  hints?: Record<string, number>;
}

export type Action =
  | { type: 'AddFinalizer' }
  | { type: 'RemoveFinalizer' }
  | { type: 'AdoptDeployment'; stableRevision: string }
  | { type: 'HoldDeployment' }
  | { type: 'UnholdDeployment' }
  | { type: 'ReleaseDeployment'; unpause: boolean }
  | { type: 'PromoteDeployment'; revision: string }
  | { type: 'RestoreStableTemplate'; revision: string }
  | { type: 'EnsureCanaryReplicaSet'; revision: string; version: string; replicas: number }
  /** Baseline pods for the canary of `revision`: the template of stableRevision, `replicas` of them. */
  | { type: 'EnsureBaselineReplicaSet'; revision: string; stableRevision: string; replicas: number }
  | { type: 'DeleteCanaryReplicaSets'; keepRevision?: string }
  | { type: 'Measure'; checks: string[] };

export interface EventSpec {
  type: 'Normal' | 'Warning';
  reason: Reason;
  message: string;
  /** Also record the Event on the Deployment. */
  onDeployment?: boolean;
}

export interface Decision {
  status: CanaryStatus;
  actions: Action[];
  events: EventSpec[];
  /** Look again after this long (absent: wait for a change or the resync). */
  requeueAfterMs?: number;
}

export interface Settings {
  intervalMs: number;
  deadlineMs: number;
  failureLimit: number;
  consecutiveErrorLimit: number;
}

const REQUEST_KINDS = ['promote', 'abort', 'retry'] as const;
/** How long canary pods outlive a missing target Deployment. */
const TARGET_MISSING_GRACE_MS = 60_000;

/** The kstatus condition (sigs.k8s.io/cli-utils): True while the controller works towards the spec. */
export const RECONCILING = 'Reconciling';
type RequestKind = (typeof REQUEST_KINDS)[number];

export function settingsOf(canary: Canary): Settings {
  const a = canary.spec.analysis ?? {};
  return {
    intervalMs: parseDuration(a.interval ?? DEFAULTS.interval) ?? 60_000,
    deadlineMs: parseDuration(canary.spec.progressDeadline ?? DEFAULTS.progressDeadline) ?? 900_000,
    failureLimit: a.failureLimit ?? DEFAULTS.failureLimit,
    consecutiveErrorLimit: a.consecutiveErrorLimit ?? DEFAULTS.consecutiveErrorLimit,
  };
}

/** Weight in force at step index i: the last setWeight at or before it (0 before any). */
export function weightAt(steps: readonly Step[], i: number): number {
  for (let j = Math.min(i, steps.length - 1); j >= 0; j--) {
    const s = steps[j];
    if (s && s.setWeight !== undefined) return s.setWeight;
  }
  return 0;
}

/** A measurement taken at or after this time counts for the check's next slot. */
export function measurementNotBefore(check: CheckStatus | undefined, analysisStartedAt: number, intervalMs: number): number {
  const last = check?.measurements.at(-1);
  return last ? Date.parse(last.time) + intervalMs / 2 : analysisStartedAt;
}

function nextDueAt(check: CheckStatus | undefined, analysisStartedAt: number, intervalMs: number): number {
  const last = check?.measurements.at(-1);
  return last ? Date.parse(last.time) + intervalMs : analysisStartedAt;
}

export function recordMeasurement(check: CheckStatus, m: Measurement, history: number = DEFAULTS.measurementHistory): CheckStatus {
  const c: CheckStatus = { ...check, measurements: [...check.measurements, m].slice(-history) };
  switch (m.verdict) {
    case 'Pass':
      c.passes++;
      c.consecutiveErrors = 0;
      break;
    case 'Fail':
      c.failures++;
      c.consecutiveErrors = 0;
      break;
    case 'Inconclusive':
      c.inconclusive++;
      // A rate-limited call measured nothing: it neither counts as an error nor clears earlier ones.
      if (m.value !== RATE_LIMITED_VALUE) c.consecutiveErrors = 0;
      break;
    case 'Error':
      c.errors++;
      c.consecutiveErrors++;
      break;
    default: {
      const never: never = m.verdict;
      return never;
    }
  }
  return c;
}

export function emptyCheckStatus(name: string): CheckStatus {
  return { name, failures: 0, errors: 0, consecutiveErrors: 0, inconclusive: 0, passes: 0, measurements: [] };
}

function describe(m: Measurement | undefined): string {
  if (!m) return 'no measurement yet';
  const value = m.value !== undefined ? ` ${m.value}` : '';
  const threshold = m.threshold ? ` (threshold ${m.threshold})` : '';
  const why = m.message ? `: ${m.message}` : '';
  return `${m.verdict}${value}${threshold}${why}`;
}

/** ", baseline pods 1/2 Ready" for a waiting message, with why baseline pods cannot start. */
function baselineText(pods: { desired: number; baseline?: { readyCount: number; why?: string } }): string {
  if (!pods.baseline) return '';
  return pods.baseline.why !== undefined ? `; baseline pods cannot start: ${pods.baseline.why}` : `, baseline pods ${pods.baseline.readyCount}/${pods.desired} Ready`;
}

const iso = (ms: number): string => new Date(ms).toISOString();
/** An absolute time for messages, to the second: "2026-11-27T10:32:05Z". */
const isoSeconds = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/**
 * The verified stable revision when the Deployment's stable annotation names another one that
 * this Canary did not write: not its first adoption (no verified revision yet), not the
 * promotion it is making (status Promoting that revision), not a rollback whose restore of the
 * stable template has not landed. Undefined when the annotation is to be trusted.
 */
export function untrustedStableAnnotation(status: CanaryStatus | undefined, dep: ObservedDeployment): string | undefined {
  const verified = status?.stableRevision;
  const annotation = dep.stableAnnotation;
  if (verified === undefined || annotation === undefined || annotation === verified) return undefined;
  if (status?.targetName !== undefined && status.targetName !== dep.name) return undefined;
  const progressing = getCondition(status?.conditions, CONDITIONS.Progressing);
  if (progressing?.status === 'True' && progressing.reason === REASONS.Promoting && status?.canaryRevision === annotation) return undefined;
  if (status?.failedRevision === annotation) return undefined;
  return verified;
}

/** The pure decision. See docs in README ("How a canary runs"). */
export function decide(canary: Canary, observed: Observed, now: number): Decision {
  return new Pass(canary, observed, now).run();
}

class Pass {
  private readonly st: CanaryStatus;
  private readonly actions: Action[] = [];
  private readonly events: EventSpec[] = [];
  private readonly requeues: number[] = [];
  private readonly nowIso: string;
  private readonly gen: number | undefined;
  private readonly settings: Settings;
  /** A promote request waits (the Deployment has no replicas to verify on). */
  private promoteDeferred = false;

  constructor(
    private readonly canary: Canary,
    private readonly observed: Observed,
    private readonly now: number,
  ) {
    this.st = structuredClone(canary.status ?? {});
    this.nowIso = iso(now);
    this.gen = canary.metadata.generation;
    this.settings = settingsOf(canary);
  }

  run(): Decision {
    if (this.canary.metadata.deletionTimestamp) return this.finalize();
    if (!(this.canary.metadata.finalizers ?? []).includes(FINALIZER)) this.actions.push({ type: 'AddFinalizer' });
    this.st.observedGeneration = this.gen;
    this.step();
    this.acknowledgeRemainingRequests();
    this.mirrorReconciling();
    return this.result();
  }

  /**
   * Reconciling follows Progressing (same status, reason and message): the condition kstatus, and
   * so Flux's health checks, read as "in progress" (Reconciling True) while a canary runs. While
   * Stalled is True (the controller's actions keep failing) it is False, as kstatus expects: it
   * reads the first of the two that is True.
   */
  private mirrorReconciling(): void {
    const stalled = getCondition(this.st.conditions, CONDITIONS.Stalled);
    if (stalled?.status === 'True') {
      this.st.conditions = setCondition(this.st.conditions, { type: RECONCILING, status: 'False', reason: stalled.reason, message: stalled.message ?? '' }, this.nowIso, this.gen);
      return;
    }
    const p = getCondition(this.st.conditions, CONDITIONS.Progressing);
    if (!p) return;
    this.st.conditions = setCondition(this.st.conditions, { type: RECONCILING, status: p.status, reason: p.reason ?? '', message: p.message ?? '' }, this.nowIso, this.gen);
  }

  private result(): Decision {
    const requeueAfterMs = this.requeues.length ? Math.max(0, Math.min(...this.requeues) - this.now) : undefined;
    return { status: this.st, actions: this.actions, events: this.events, ...(requeueAfterMs !== undefined ? { requeueAfterMs } : {}) };
  }

  private requeueAt(ms: number): void {
    this.requeues.push(ms);
  }

  private cond(type: string, status: ConditionStatus, reason: Reason, message: string): void {
    this.st.conditions = setCondition(this.st.conditions, { type, status, reason, message }, this.nowIso, this.gen);
  }

  private set(phase: Phase, message: string): void {
    this.st.phase = phase;
    this.st.message = message;
  }

  private event(type: EventSpec['type'], reason: Reason, message: string, onDeployment = false): void {
    this.events.push({ type, reason, message, ...(onDeployment ? { onDeployment } : {}) });
  }

  private get progressingReason(): string | undefined {
    const c = getCondition(this.st.conditions, CONDITIONS.Progressing);
    return c?.status === 'True' ? c.reason : undefined;
  }

  /** A new request id in the annotation, not yet handled. */
  private newRequest(kind: RequestKind): string | undefined {
    const id = this.canary.metadata.annotations?.[ANNOTATIONS[kind]];
    if (!id || this.st.requests?.[kind]?.id === id) return undefined;
    return id;
  }

  private handled(kind: RequestKind, id: string): void {
    this.st.requests = { ...this.st.requests, [kind]: { id, handledAt: this.nowIso } };
  }

  private targetName(): string {
    return `${this.canary.metadata.namespace}/${this.canary.spec.targetRef.name}`;
  }

  /** The Release that drives the target's revisions: the deployer.dev/release annotation, else the one holding it. */
  private releaseName(): string | undefined {
    const a = this.canary.metadata.annotations ?? {};
    return a[ANNOTATIONS.release] || a[ANNOTATIONS.heldBy]?.replace(/^release\//, '') || undefined;
  }

  /** Adds the canary that ends in this pass to status.history (call before the status fields move on). */
  private record(revision: string, outcome: CanaryOutcome, reason: Reason, result: string, extra: { version?: string; promoted?: boolean } = {}): void {
    const st = this.st;
    const release = this.releaseName();
    const version = extra.version ?? st.canaryVersion;
    this.st.history = addRecord(
      st.history,
      {
        revision,
        ...(version !== undefined ? { version } : {}),
        ...(st.stableRevision !== undefined && st.stableRevision !== revision ? { stableRevisionBefore: st.stableRevision } : {}),
        startedAt: st.startedAt ?? this.nowIso,
        finishedAt: this.nowIso,
        ...(extra.promoted ? { promotedAt: this.nowIso } : {}),
        outcome,
        reason,
        result,
        ...(release !== undefined ? { release } : {}),
      },
      historyLimitOf(this.canary),
    );
  }

  // ---------- deletion ----------

  private finalize(): Decision {
    if (!(this.canary.metadata.finalizers ?? []).includes(FINALIZER)) return this.result();
    const dep = this.observed.deployment;
    if (this.observed.canaryReplicaSets.length) this.actions.push({ type: 'DeleteCanaryReplicaSets' });
    if (dep && dep.guardLabel === this.canary.metadata.name) {
      const verified = dep.stableAnnotation !== undefined && dep.revision === dep.stableAnnotation;
      this.actions.push({ type: 'ReleaseDeployment', unpause: verified && dep.heldByUs });
      if (!verified && dep.paused) {
        this.event(
          'Warning',
          REASONS.DeploymentLeftPaused,
          `Canary ${this.canary.metadata.name} was deleted while Deployment ${dep.name} holds revision ${dep.revision} (version ${dep.version}), which was not verified; the Deployment stays paused. To roll it out unverified: kubectl rollout resume deployment/${dep.name}; to go back, restore the previous template (version ${dep.stableVersion ?? this.st.stableVersion ?? 'unknown'}).`,
          true,
        );
      } else {
        this.event('Normal', REASONS.DeploymentReleased, `Canary ${this.canary.metadata.name} was deleted; Deployment ${dep.name} is no longer guarded`, true);
      }
    }
    this.actions.push({ type: 'RemoveFinalizer' });
    return this.result();
  }

  // ---------- one pass ----------

  private step(): void {
    const { observed } = this;
    if (observed.specProblems.length) {
      const msg = `invalid spec: ${observed.specProblems.join('; ')}`;
      const target = observed.deployment;
      if (this.progressingReason === REASONS.Promoting) {
        // A verified revision rolls on: the promotion is carried out (or re-issued), and the
        // status says why the Canary is Failed.
        const rev = this.st.canaryRevision;
        if (target && target.guardLabel === this.canary.metadata.name && rev === target.revision) {
          this.whilePromoting(target, target.stableAnnotation === rev);
          const going = this.progressingReason === REASONS.Promoting;
          this.fail(REASONS.InvalidSpec, `${msg}; ${going ? `the promotion of the verified revision ${rev} goes on` : (this.st.lastResult ?? `revision ${rev}`)}`);
        } else this.fail(REASONS.InvalidSpec, msg);
      } else this.refuse(observed.deployment, REASONS.InvalidSpec, msg); // no canary keeps serving unjudged
      return;
    }
    const dep = observed.deployment;
    if (!dep) {
      // Canary pods outlive a missing Deployment for a grace period: a snapshot that lacks it
      // (a cache relist) must not cost a running canary its pods.
      this.st.targetMissingSince ??= this.nowIso;
      const removeAt = Date.parse(this.st.targetMissingSince) + TARGET_MISSING_GRACE_MS;
      let msg = `Deployment ${this.targetName()} not found`;
      if (observed.canaryReplicaSets.length) {
        if (this.now > removeAt) this.actions.push({ type: 'DeleteCanaryReplicaSets' });
        else {
          msg += `; canary pods are removed at ${isoSeconds(removeAt + 1)} unless it comes back`;
          this.requeueAt(removeAt + 1);
        }
      }
      this.fail(REASONS.TargetNotFound, msg);
      // Only guarded Deployments are watched, so look again: soon for a Canary applied just before its
      // Deployment (kubectl apply -f dir/ in file order), then less often, at least once a minute.
      const missingFor = this.now - Date.parse(this.st.targetMissingSince);
      this.requeueAt(this.now + Math.min(60_000, Math.max(2_000, Math.round(missingFor / 2))));
      return;
    }
    this.st.targetMissingSince = undefined;
    if (observed.guardedByOther) {
      this.fail(
        REASONS.TargetAlreadyGuarded,
        `Deployment ${this.targetName()} is already guarded by Canary ${observed.guardedByOther}; a Deployment can have one Canary`,
      );
      return;
    }
    if (dep.strategy === 'Recreate') {
      this.refuse(
        dep,
        REASONS.UnsupportedStrategy,
        `Deployment ${this.targetName()} uses strategy Recreate, which never runs old and new pods side by side; canary pods beside the stable pods would break that. Use strategy RollingUpdate, or remove the Canary`,
      );
      return;
    }
    const st = this.st;
    if (st.targetUID !== undefined && st.targetName === dep.name && dep.uid !== '' && dep.uid !== st.targetUID && st.stableRevision !== undefined) {
      this.retarget(dep, st.stableRevision);
      return;
    }
    if (dep.guardLabel !== this.canary.metadata.name || !dep.stableAnnotation) {
      this.adopt(dep);
      return;
    }
    const forged = untrustedStableAnnotation(st, dep);
    this.recordTarget(dep);
    if (forged !== undefined) {
      // The annotation was written past the webhook (failurePolicy Ignore, an outage): the
      // verified revision is put back and the template is judged as what it is.
      this.actions.push({ type: 'AdoptDeployment', stableRevision: forged });
      this.event(
        'Warning',
        REASONS.StableAnnotationRestored,
        `the ${ANNOTATIONS.stableRevision} annotation of Deployment ${dep.name} was set to revision ${dep.stableAnnotation}, which this Canary did not verify; put back to the verified revision ${forged}${dep.revision === forged ? '' : `, and revision ${dep.revision} is held for verification`}`,
        true,
      );
      this.requeueAt(this.now + 1_000);
      const restored = { ...dep, stableAnnotation: forged };
      if (restored.revision === forged) this.onStableTemplate(restored);
      else this.onNewTemplate(restored);
      return;
    }
    st.stableRevision ??= dep.stableAnnotation;
    if (dep.revision === dep.stableAnnotation) this.onStableTemplate(dep);
    else this.onNewTemplate(dep);
  }

  /**
   * A Canary that cannot guard its target as things are: canary pods removed, a held revision
   * stays held, any canary in progress ends, Failed with the reason.
   */
  private refuse(dep: ObservedDeployment | undefined, reason: Reason, message: string): void {
    const st = this.st;
    const guarded = dep !== undefined && dep.guardLabel === this.canary.metadata.name && dep.stableAnnotation !== undefined;
    if (this.observed.canaryReplicaSets.length) this.actions.push({ type: 'DeleteCanaryReplicaSets' });
    if (guarded && dep.revision !== dep.stableAnnotation && !dep.paused) this.actions.push({ type: 'HoldDeployment' });
    const active = this.progressingReason !== undefined && this.progressingReason !== REASONS.Promoting;
    let msg = message;
    if (active && st.canaryRevision) {
      msg = `${message}; the canary of revision ${st.canaryRevision} was stopped and its pods removed${guarded && dep.revision !== dep.stableAnnotation ? ', the Deployment stays held' : ''}`;
      st.finishedAt = this.nowIso;
      st.lastResult = msg;
      st.canaryWeight = 0;
      st.canaryReplicas = 0;
      st.canaryReadyReplicas = 0;
      this.noBaselinePods();
      st.canaryPodsWaitingSince = undefined;
      st.pausedSince = undefined;
      this.cond(CONDITIONS.Progressing, 'False', reason, msg);
    }
    this.fail(reason, msg);
  }

  private fail(reason: Reason, message: string): void {
    const changed = this.st.phase !== PHASES.Failed || this.st.message !== message;
    this.set(PHASES.Failed, message);
    this.cond(CONDITIONS.Ready, 'False', reason, message);
    if (changed) this.event('Warning', reason, message);
  }

  private adopt(dep: ObservedDeployment): void {
    const st = this.st;
    if (st.targetUID !== undefined && st.targetUID === dep.uid && st.targetName === dep.name && st.stableRevision !== undefined) {
      // A Deployment this Canary guarded before (a re-adoption that did not land, a label removed
      // by hand): the stable revision is the one it verified, never whatever the template is now.
      this.actions.push({ type: 'AdoptDeployment', stableRevision: st.stableRevision });
      if (dep.revision !== st.stableRevision) {
        if (!dep.paused) this.actions.push({ type: 'HoldDeployment' }); // the operator's writes skip the webhook
        const msg = `guarding Deployment ${dep.name} again; its template, revision ${dep.revision} (version ${dep.version}) was not verified (the last verified revision is ${st.stableRevision}): it is held for verification`;
        this.set(PHASES.Paused, msg);
        this.cond(CONDITIONS.Ready, 'False', REASONS.NewRevision, msg);
        this.requeueAt(this.now + 1_000);
      }
      return;
    }
    if (!dep.rolloutComplete) {
      const msg = dep.paused
        ? `Deployment ${dep.name} is paused mid-rollout (${dep.rolloutMessage}); resume it so the rollout can finish before the Canary guards it`
        : `waiting for Deployment ${dep.name} to finish its rollout (${dep.rolloutMessage}) before guarding it`;
      this.set(PHASES.Initializing, msg);
      this.cond(CONDITIONS.Ready, 'False', REASONS.WaitingForRollout, msg);
      this.requeueAt(this.now + 5_000);
      return;
    }
    this.actions.push({ type: 'AdoptDeployment', stableRevision: dep.revision });
    this.recordTarget(dep);
    this.st.stableRevision = dep.revision;
    this.st.stableVersion = dep.version;
    // The status is written before the label: the Canary says it guards the Deployment (Ready,
    // Adopted) only once a pass sees the label in place, so nobody ships a revision that the
    // admission webhook would not yet hold.
    const msg = `adopting Deployment ${dep.name}: labelling it so that the admission webhook holds new revisions; stable revision ${dep.revision} (version ${dep.version})`;
    this.set(PHASES.Initializing, msg);
    this.cond(CONDITIONS.Ready, 'False', REASONS.Adopting, msg);
    this.cond(CONDITIONS.Progressing, 'False', REASONS.Idle, 'no revision under test');
    this.requeueAt(this.now + 1_000);
  }

  private recordTarget(dep: ObservedDeployment): void {
    if (dep.uid === '') return;
    this.st.targetUID = dep.uid;
    this.st.targetName = dep.name;
  }

  /**
   * The guarded Deployment was deleted and re-created (Helm --force, Replace=true, an immutable
   * selector change): a new object whose template never went through the gate. It is guarded
   * again with the last verified revision as stable; a template other than that one is a revision
   * to verify (or, running on every pod already, to restore or hold), never adopted silently.
   */
  private retarget(dep: ObservedDeployment, verified: string): void {
    const st = this.st;
    const was = st.targetUID;
    this.recordTarget(dep);
    this.actions.push({ type: 'AdoptDeployment', stableRevision: verified });
    if (this.observed.canaryReplicaSets.length) this.actions.push({ type: 'DeleteCanaryReplicaSets' });
    const what = `Deployment ${this.targetName()} was deleted and re-created (uid ${was} is now ${dep.uid})`;
    if (this.progressingReason !== undefined) {
      st.canaryWeight = 0;
      st.canaryReplicas = 0;
      st.canaryReadyReplicas = 0;
      this.noBaselinePods();
      st.canaryPodsWaitingSince = undefined;
      st.pausedSince = undefined;
      this.cond(CONDITIONS.Progressing, 'False', REASONS.TargetRecreated, `${what}; the canary in progress was stopped`);
    }
    let msg: string;
    if (dep.revision === verified) {
      msg = `${what}; its template is the verified revision ${verified} (version ${st.stableVersion}), guarding it again`;
      this.set(PHASES.Waiting, msg);
      this.cond(CONDITIONS.Ready, 'True', REASONS.TargetRecreated, msg);
    } else {
      if (!dep.paused) this.actions.push({ type: 'HoldDeployment' }); // the operator's writes skip the webhook
      msg = `${what}; its template, revision ${dep.revision} (version ${dep.version}) was not verified (the last verified revision is ${verified}), so it is not trusted as stable: it is held for verification`;
      this.set(PHASES.Paused, msg);
      this.cond(CONDITIONS.Ready, 'False', REASONS.TargetRecreated, msg);
      this.requeueAt(this.now + 1_000);
    }
    this.event('Warning', REASONS.TargetRecreated, msg, true);
  }

  // ---------- the Deployment's template is the stable one ----------

  private onStableTemplate(dep: ObservedDeployment): void {
    const st = this.st;
    const reason = this.progressingReason;
    // Status is written before the promotion, so only a Promoting status makes the annotation
    // naming the revision under test a promotion (any other is put back in step()).
    if (reason === REASONS.Promoting && st.canaryRevision === dep.revision && st.failedRevision !== dep.revision) {
      this.whilePromoting(dep, true);
      return;
    }
    if (st.phase === PHASES.RolledBack && st.failedRevision === dep.revision && st.stableRevision && st.stableRevision !== dep.revision) {
      // A rollback of a promoted revision whose restore of the stable template has not landed.
      if (this.observed.canaryReplicaSets.length) this.actions.push({ type: 'DeleteCanaryReplicaSets' });
      if (dep.stableTemplateKnown) this.actions.push({ type: 'RestoreStableTemplate', revision: st.stableRevision });
      else if (!dep.paused) this.actions.push({ type: 'HoldDeployment' });
      if (this.actions.length) this.requeueAt(this.now + 5_000);
      return;
    }
    if (reason === REASONS.Promoting) {
      const started = Date.parse(st.promotionStartedAt ?? this.nowIso);
      if (this.now - started > this.settings.deadlineMs && st.canaryRevision) {
        // The stable template was restored because the promotion missed its deadline (this pass
        // may come after a status write that did not land).
        this.rollback(
          REASONS.ProgressDeadlineExceeded,
          `promotion of revision ${st.canaryRevision} did not complete within the progress deadline; restored stable revision ${dep.revision}`,
          st.canaryRevision,
          false,
        );
        return;
      }
    }
    st.stableRevision = dep.revision;
    st.stableVersion = dep.stableVersion ?? st.stableVersion ?? dep.version;
    if (this.observed.canaryReplicaSets.length) this.actions.push({ type: 'DeleteCanaryReplicaSets' });
    if (dep.paused && dep.heldByUs) this.actions.push({ type: 'UnholdDeployment' });
    if (reason !== undefined || (st.phase === PHASES.RolledBack && dep.heldByUs)) {
      // The template went back to the stable revision while a canary ran or after a rollback.
      const what = st.canaryRevision ? ` the canary of revision ${st.canaryRevision} (version ${st.canaryVersion}) was discarded` : '';
      const msg = `template reverted to the stable revision ${dep.revision} (version ${st.stableVersion});${what || ' nothing to verify'}`;
      if (reason !== undefined && st.canaryRevision !== undefined && st.canaryRevision !== dep.revision) this.record(st.canaryRevision, 'Reverted', REASONS.RevertedToStable, msg);
      st.failedRevision = undefined;
      this.finish(PHASES.Waiting, REASONS.RevertedToStable, 'True', msg);
      this.event('Normal', REASONS.RevertedToStable, msg);
      return;
    }
    if (st.phase === PHASES.RolledBack) {
      // A rollback that restored the stable template itself (a promotion past its deadline): the
      // result stands until a new revision arrives; the failed one stays refused.
      this.cond(CONDITIONS.Ready, 'False', REASONS.RolledBack, st.message ?? '');
      return;
    }
    const creds = this.observed.credentials;
    if (getCondition(st.conditions, CONDITIONS.Ready)?.reason === REASONS.Adopting) {
      // The label the adopting pass wrote is in place: from now on the webhook holds new revisions.
      const adopted = `guarding Deployment ${dep.name}; stable revision ${dep.revision} (version ${st.stableVersion})`;
      this.set(PHASES.Waiting, adopted);
      this.cond(CONDITIONS.Ready, 'True', REASONS.Adopted, adopted);
      this.event('Normal', REASONS.Adopted, adopted);
      if (!creds || creds.ok) return;
    }
    if (creds && !creds.ok) {
      // Nothing to verify right now, but the next revision could not be: say so before it comes.
      this.fail(creds.reason, `${creds.message}; new revisions will be held and rolled back until it is fixed`);
      this.requeueAt(this.now + 10_000); // Secrets are not watched: look again soon
      return;
    }
    const msg = `running stable revision ${dep.revision} (version ${st.stableVersion})`;
    if (st.phase !== PHASES.Succeeded) this.set(PHASES.Waiting, msg);
    this.cond(CONDITIONS.Ready, 'True', st.phase === PHASES.Succeeded ? REASONS.Promoted : REASONS.Idle, msg);
    if (!getCondition(st.conditions, CONDITIONS.Progressing)) this.cond(CONDITIONS.Progressing, 'False', REASONS.Idle, 'no revision under test');
  }

  /** landed: the Deployment carries the promotion (its stable annotation is the revision). */
  private whilePromoting(dep: ObservedDeployment, landed: boolean): void {
    const st = this.st;
    this.deleteOtherRevisions(dep.revision);
    const abort = this.newRequest('abort');
    if (abort !== undefined) {
      this.handled('abort', abort);
      this.undoPromotion(dep, landed, REASONS.AbortRequested, `aborted by request ${abort} during the promotion`);
      return;
    }
    const revert = this.acceptedRevert();
    if (landed && dep.rolloutComplete && !dep.paused) {
      const msg = revert ?? `promoted revision ${dep.revision} (version ${dep.version})`;
      if (this.observed.canaryReplicaSets.length) {
        this.dropActions('DeleteCanaryReplicaSets');
        this.actions.push({ type: 'DeleteCanaryReplicaSets' });
      }
      const reason = revert !== undefined ? REASONS.RevertAccepted : REASONS.Promoted;
      this.record(dep.revision, 'Promoted', reason, msg, { promoted: true });
      st.stableRevision = dep.revision;
      // The version the Deployment's pods report (a distinct canary version was the canary's alone).
      st.stableVersion = dep.version;
      this.finish(PHASES.Succeeded, reason, 'True', msg);
      if (revert === undefined) this.event('Normal', REASONS.Promoted, msg);
      return;
    }
    const bySpec = this.canary.spec.paused === true;
    const byOther = landed && dep.paused && !dep.heldByUs;
    if (bySpec || byOther) {
      // Held: the rolling update stops where it is and the deadline does not run; never unpaused
      // by the operator while someone else holds it.
      st.pausedSince ??= this.nowIso;
      if (bySpec && !dep.paused) this.actions.push({ type: 'HoldDeployment' });
      const msg = bySpec
        ? `promotion of revision ${dep.revision} paused by spec.paused (${dep.rolloutMessage}); clear spec.paused to continue, or abort`
        : `promotion of revision ${dep.revision} held: Deployment ${dep.name} was paused by someone else (${dep.rolloutMessage}); kubectl rollout resume deployment/${dep.name} to continue, or abort`;
      this.set(PHASES.Paused, msg);
      this.cond(CONDITIONS.Progressing, 'True', REASONS.Promoting, msg);
      return;
    }
    this.resumeClocks();
    if (!landed || dep.paused) this.actions.push({ type: 'PromoteDeployment', revision: dep.revision });
    const started = Date.parse(st.promotionStartedAt ?? this.nowIso);
    if (this.now - started > this.settings.deadlineMs) {
      this.undoPromotion(dep, landed, REASONS.ProgressDeadlineExceeded, `promotion of revision ${dep.revision} did not complete within the progress deadline (${dep.rolloutMessage})`);
      return;
    }
    const msg = revert !== undefined ? `${revert} (${dep.rolloutMessage})` : `rolling out revision ${dep.revision} through the Deployment (${dep.rolloutMessage})`;
    this.set(PHASES.Promoting, msg);
    this.cond(CONDITIONS.Progressing, 'True', REASONS.Promoting, `promoting revision ${dep.revision} (version ${dep.version}) through the Deployment's rolling update`);
    this.requeueAt(Math.min(this.now + 5_000, started + this.settings.deadlineMs + 1));
  }

  /** Ends a promotion that must not complete: the stable template back if it is known, else the Deployment paused. */
  private undoPromotion(dep: ObservedDeployment, landed: boolean, reason: Reason, why: string): void {
    const st = this.st;
    this.dropActions('PromoteDeployment');
    if (!landed) {
      this.rollback(reason, `${why}; canary pods removed, the Deployment stays held`, dep.revision, true);
    } else if (dep.stableTemplateKnown && st.stableRevision && st.stableRevision !== dep.revision) {
      this.rollback(reason, `${why}; restored stable revision ${st.stableRevision}`, dep.revision, false);
      this.actions.push({ type: 'RestoreStableTemplate', revision: st.stableRevision });
    } else {
      this.rollback(reason, `${why}; the stable template is not known, so the Deployment was paused`, dep.revision, true);
    }
  }

  /** Progress held by a pause resumes: the deadline clocks move by the time it was held. */
  private resumeClocks(): void {
    const st = this.st;
    if (st.pausedSince === undefined) return;
    const since = Date.parse(st.pausedSince);
    const held = Math.max(0, this.now - since);
    // A clock started before the hold moves by its length; one started during it starts now.
    const shift = (t: string | undefined): string | undefined => (t === undefined ? undefined : Date.parse(t) >= since ? this.nowIso : iso(Date.parse(t) + held));
    st.stepStartedAt = shift(st.stepStartedAt);
    st.canaryPodsWaitingSince = shift(st.canaryPodsWaitingSince);
    st.promotionStartedAt = shift(st.promotionStartedAt);
    st.pausedSince = undefined;
  }

  // ---------- the Deployment's template is a revision to verify ----------

  private onNewTemplate(dep: ObservedDeployment): void {
    const st = this.st;
    const rev = dep.revision;
    const retry = this.newRequest('retry');
    if (retry !== undefined) {
      this.handled('retry', retry);
      if (st.failedRevision === rev) {
        st.failedRevision = undefined;
        st.canaryRevision = undefined;
        this.event('Normal', REASONS.RetryRequested, `retry of revision ${rev} requested (${retry})`);
      }
    }
    if (this.progressingReason === REASONS.Promoting && st.canaryRevision === rev) {
      // Promotion decided (its status written first) but not yet carried by the Deployment.
      this.whilePromoting(dep, false);
      return;
    }
    if (st.failedRevision !== rev && dep.revisionReplicaSetExists === true && this.acceptRevert(dep)) return;
    if (dep.generationObserved && dep.replicas > 0 && dep.updatedReplicas >= dep.replicas) {
      this.notCanaried(dep);
      return;
    }
    if (!dep.paused) this.actions.push({ type: 'HoldDeployment' });
    if (st.failedRevision === rev) {
      if (this.observed.canaryReplicaSets.length) this.actions.push({ type: 'DeleteCanaryReplicaSets' });
      if (st.phase !== PHASES.RolledBack) this.set(PHASES.RolledBack, st.lastResult ?? `revision ${rev} was rolled back`);
      this.cond(CONDITIONS.Ready, 'False', REASONS.RolledBack, st.message ?? '');
      return;
    }
    const active = this.progressingReason !== undefined && this.progressingReason !== REASONS.Promoting;
    const heldBy = this.canary.metadata.annotations?.[ANNOTATIONS.heldBy];
    if (heldBy && !(active && st.canaryRevision === rev)) {
      this.heldByRelease(dep, heldBy);
      return;
    }
    // A canary in progress or a promotion not yet complete is superseded by a newer template.
    if (st.canaryRevision !== rev || !active) this.start(dep, this.progressingReason !== undefined);
    if (dep.replicas === 0) {
      this.scaledToZero(dep);
      return;
    }
    this.analyse(dep);
  }

  /**
   * The template went back to a revision within spec.rollbackWindow whose ReplicaSet still
   * exists: it was verified (or stable) before, so it rolls out at once through the promotion
   * path, without canary pods. Returns false when the revision is not in the window.
   */
  private acceptRevert(dep: ObservedDeployment): boolean {
    const st = this.st;
    const n = rollbackWindowOf(this.canary);
    const match = inRollbackWindow(st.history, dep.stableAnnotation ?? st.stableRevision, dep.revision, n);
    if (!match) return false;
    const active = this.progressingReason !== undefined;
    if (active && st.canaryRevision && st.canaryRevision !== dep.revision) {
      this.record(st.canaryRevision, 'Superseded', REASONS.Superseded, `revision ${st.canaryRevision} (version ${st.canaryVersion}) superseded by revision ${dep.revision} (version ${dep.version}), which is within the rollback window`);
    }
    if (this.observed.canaryReplicaSets.length) this.actions.push({ type: 'DeleteCanaryReplicaSets' });
    const when = match.promoted
      ? `was verified on ${isoSeconds(Date.parse(match.promoted.promotedAt ?? match.promoted.finishedAt))}`
      : `was stable until ${isoSeconds(Date.parse(match.stableUntil!.promotedAt ?? match.stableUntil!.finishedAt))}`;
    const msg = `revision ${dep.revision} (version ${dep.version}) ${when} (within the rollback window of ${n}): rolled out without a new canary`;
    if (dep.stableAnnotation) st.stableRevision = dep.stableAnnotation;
    st.canaryRevision = dep.revision;
    st.canaryVersion = dep.version;
    st.failedRevision = undefined;
    st.startedAt = this.nowIso;
    st.finishedAt = undefined;
    st.analysisStartedAt = undefined;
    st.stepStartedAt = undefined;
    st.canaryPodsWaitingSince = undefined;
    st.pausedSince = undefined;
    st.weightReadyAt = undefined;
    st.checks = [];
    st.canaryWeight = 0;
    st.canaryReplicas = 0;
    st.canaryReadyReplicas = 0;
    // The Ready condition carries the acceptance until the promotion completes (acceptedRevert()).
    this.cond(CONDITIONS.Ready, 'False', REASONS.RevertAccepted, msg);
    this.event('Normal', REASONS.RevertAccepted, msg, true);
    this.promote(dep, msg);
    return true;
  }

  /** The message of a revert accepted within the rollback window whose promotion is under way. */
  private acceptedRevert(): string | undefined {
    const ready = getCondition(this.st.conditions, CONDITIONS.Ready);
    return ready?.reason === REASONS.RevertAccepted && ready.status === 'False' ? ready.message : undefined;
  }

  /**
   * A Release holds the target's new revisions until its group starts (deployer.dev/held-by):
   * the Deployment stays held by the gate, no canary pods; a canary of another revision ends.
   */
  private heldByRelease(dep: ObservedDeployment, heldBy: string): void {
    const st = this.st;
    const msg = `revision ${dep.revision} (version ${dep.version}) held by ${heldBy} until its group starts`;
    if (this.observed.canaryReplicaSets.length) this.actions.push({ type: 'DeleteCanaryReplicaSets' });
    const active = this.progressingReason !== undefined && this.progressingReason !== REASONS.Promoting;
    if (active && st.canaryRevision && st.canaryRevision !== dep.revision) {
      this.record(st.canaryRevision, 'Superseded', REASONS.Superseded, `revision ${st.canaryRevision} (version ${st.canaryVersion}) superseded by revision ${dep.revision} (version ${dep.version}), ${msg}`);
      st.finishedAt = this.nowIso;
      st.canaryWeight = 0;
      st.canaryReplicas = 0;
      st.canaryReadyReplicas = 0;
      st.canaryPodsWaitingSince = undefined;
      st.pausedSince = undefined;
    }
    const first = st.message !== msg;
    this.set(PHASES.Waiting, msg);
    this.cond(CONDITIONS.Progressing, 'False', REASONS.HeldByRelease, msg);
    this.cond(CONDITIONS.Ready, 'False', REASONS.HeldByRelease, msg);
    if (first) this.event('Normal', REASONS.HeldByRelease, msg);
  }

  /**
   * The new template already runs on every pod of the Deployment: it got past the gate (webhook
   * failurePolicy Ignore, an operator outage, a re-created Deployment), so a canary could prove
   * nothing. Put the stable template back if the Deployment still has it, else hold and explain.
   */
  private notCanaried(dep: ObservedDeployment): void {
    const st = this.st;
    const rev = dep.revision;
    const promote = this.newRequest('promote');
    if (promote !== undefined) {
      this.handled('promote', promote);
      this.event('Normal', REASONS.PromoteRequested, `revision ${rev} accepted as stable by request ${promote} without a canary`);
      this.promote(dep);
      return;
    }
    if (this.observed.canaryReplicaSets.length) this.actions.push({ type: 'DeleteCanaryReplicaSets' });
    const what = `revision ${rev} (version ${dep.version}) already runs on all ${dep.replicas} pods of Deployment ${dep.name}: it rolled out without a canary (the admission webhook did not hold it), so it was not verified`;
    let msg: string;
    let phase: Phase;
    if (dep.stableTemplateKnown && st.stableRevision && st.stableRevision !== rev) {
      this.actions.push({ type: 'RestoreStableTemplate', revision: st.stableRevision });
      msg = `${what}; restored the stable revision ${st.stableRevision} (version ${st.stableVersion}). Apply revision ${rev} again to verify it with a canary`;
      phase = PHASES.RolledBack;
    } else {
      if (!dep.paused) this.actions.push({ type: 'HoldDeployment' });
      msg = `${what}; the stable template (revision ${st.stableRevision ?? 'unknown'}) is not known to this Deployment, so it cannot be restored: the Deployment is paused to hold further changes. Apply the verified template again, or annotate ${ANNOTATIONS.promote} to accept revision ${rev} as stable`;
      phase = PHASES.Paused;
    }
    const first = st.message !== msg;
    const finishedAt = st.finishedAt;
    this.finish(phase, REASONS.UnverifiedRollout, 'False', msg);
    if (first) this.event('Warning', REASONS.UnverifiedRollout, msg, true);
    else st.finishedAt = finishedAt; // nothing new: nothing to write
  }

  /**
   * No stable pods: a canary pod would take all the traffic and there is nothing to compare.
   * The revision stays held (its clocks stopped) until the Deployment has replicas again.
   */
  private scaledToZero(dep: ObservedDeployment): void {
    const st = this.st;
    const abort = this.newRequest('abort');
    if (abort !== undefined) {
      this.handled('abort', abort);
      this.rollback(REASONS.AbortRequested, `aborted by request ${abort}; the Deployment stays held`, dep.revision, true);
      return;
    }
    this.promoteDeferred = true;
    if (this.observed.canaryReplicaSets.length) this.actions.push({ type: 'DeleteCanaryReplicaSets' });
    if (!dep.paused) this.actions.push({ type: 'HoldDeployment' });
    st.pausedSince ??= this.nowIso;
    st.canaryPodsWaitingSince = undefined;
    st.canaryReplicas = 0;
    st.canaryReadyReplicas = 0;
    this.noBaselinePods();
    const msg = `Deployment ${dep.name} is scaled to zero: no canary pods and no promotion until it has replicas; revision ${dep.revision} stays held`;
    this.set(PHASES.Paused, msg);
    this.cond(CONDITIONS.Progressing, 'True', REASONS.ScaledToZero, msg);
  }

  private start(dep: ObservedDeployment, supersedes: boolean): void {
    const st = this.st;
    if (supersedes && st.canaryRevision && st.canaryRevision !== dep.revision) {
      const msg = `revision ${st.canaryRevision} (version ${st.canaryVersion}) superseded by revision ${dep.revision} (version ${dep.version}); restarting from step 1`;
      this.record(st.canaryRevision, 'Superseded', REASONS.Superseded, msg);
      this.event('Normal', REASONS.Superseded, msg);
    }
    this.actions.push({ type: 'DeleteCanaryReplicaSets', keepRevision: dep.revision });
    if (dep.stableVersion !== undefined) st.stableVersion = dep.stableVersion;
    else if (dep.stableAnnotation && dep.stableAnnotation !== st.stableRevision && dep.stableAnnotation === st.canaryRevision) {
      // Supersedes a promotion whose ReplicaSet was not found: the promoted template's version is the stable one now.
      st.stableVersion = this.canaryTemplateVersion() ?? st.stableVersion;
    }
    if (dep.stableAnnotation) st.stableRevision = dep.stableAnnotation;
    st.canaryRevision = dep.revision;
    // The version observe renders {{ version }} with: the canary's own when it equals the stable one.
    st.canaryVersion = canaryVersionFor(dep.version, dep.stableVersion ?? st.stableVersion, dep.revision);
    st.currentStep = 0;
    st.startedAt = this.nowIso;
    st.stepStartedAt = this.nowIso;
    st.finishedAt = undefined;
    st.analysisStartedAt = undefined;
    st.promotionStartedAt = undefined;
    st.canaryPodsWaitingSince = undefined;
    st.pausedSince = undefined;
    st.weightReadyAt = undefined;
    st.checks = this.observed.checks.map((c) => emptyCheckStatus(c.name));
    const n = this.canary.spec.steps.length;
    const distinct = st.canaryVersion !== dep.version;
    const why = distinct
      ? `; its version ${dep.version} is the stable version too, so canary pods report version ${st.canaryVersion} and the checks see canary traffic only`
      : '';
    const msg = `new revision ${dep.revision} (version ${dep.version}) held; starting canary (${n} steps)${why}`;
    this.cond(CONDITIONS.Progressing, 'True', REASONS.NewRevision, msg);
    this.cond(CONDITIONS.Ready, 'False', REASONS.NewRevision, this.verifying(dep));
    this.cond(CONDITIONS.ChecksPassing, 'Unknown', REASONS.ChecksPending, 'no measurement yet');
    this.event('Normal', REASONS.NewRevision, msg, true);
    if (distinct) {
      this.event(
        'Normal',
        REASONS.DistinctCanaryVersion,
        `revision ${dep.revision} reports version ${dep.version}, the same as the stable pods (a configuration-only change, a restart or a reused tag); canary pods report version ${st.canaryVersion} so that checks scoped to {{ version }} judge them alone`,
      );
    }
  }

  /** Canary ReplicaSets of any other revision go, in every pass (one whose create raced a newer revision included). */
  private deleteOtherRevisions(keep: string): void {
    if (this.actions.some((a) => a.type === 'DeleteCanaryReplicaSets')) return;
    if (this.observed.canaryReplicaSets.some((r) => r.revision !== keep)) this.actions.push({ type: 'DeleteCanaryReplicaSets', keepRevision: keep });
  }

  private verifying(dep: ObservedDeployment): string {
    const v = this.st.canaryVersion;
    const own = v !== undefined && v !== dep.version ? `; the template's version ${dep.version} is the stable version too, so canary pods report their own` : '';
    return `verifying revision ${dep.revision} (version ${v}${own})`;
  }

  /** The version the canary's template reports itself (a distinct canary version is <stable version>-<revision>). */
  private canaryTemplateVersion(): string | undefined {
    const st = this.st;
    if (st.canaryVersion === undefined) return undefined;
    return st.stableVersion !== undefined && st.canaryRevision !== undefined && st.canaryVersion.endsWith(`-${st.canaryRevision}`) ? st.stableVersion : st.canaryVersion;
  }

  private analyse(dep: ObservedDeployment): void {
    const st = this.st;
    const steps = this.canary.spec.steps;
    this.deleteOtherRevisions(dep.revision);
    this.cond(CONDITIONS.Ready, 'False', REASONS.NewRevision, this.verifying(dep));
    const abort = this.newRequest('abort');
    if (abort !== undefined) {
      this.handled('abort', abort);
      this.rollback(REASONS.AbortRequested, `aborted by request ${abort}; canary pods removed, stable pods untouched`, dep.revision, true);
      return;
    }
    const promote = this.newRequest('promote');
    if (promote !== undefined) {
      this.handled('promote', promote);
      this.event('Normal', REASONS.PromoteRequested, `promotion of revision ${dep.revision} requested (${promote}); skipping remaining steps`);
      this.promote(dep);
      return;
    }
    if (this.canary.spec.paused) {
      st.pausedSince ??= this.nowIso;
      const msg = `paused by spec.paused at step ${this.stepProgress()}`;
      if (this.progressingReason !== REASONS.PausedBySpec) this.event('Normal', REASONS.PausedBySpec, msg);
      this.set(PHASES.Paused, msg);
      this.cond(CONDITIONS.Progressing, 'True', REASONS.PausedBySpec, msg);
      this.ensureCanaryPods(dep, st.currentStep ?? 0);
      if (st.analysisStartedAt !== undefined) this.measure(); // checks keep guarding a held canary
      return;
    }
    if (this.progressingReason === REASONS.PausedBySpec && st.pausedSince === undefined) st.stepStartedAt = this.nowIso; // resumed, pause start unknown
    this.resumeClocks(); // time held by spec.paused does not count

    let measured = false;
    for (let guard = 0; guard <= steps.length + 1; guard++) {
      const idx = st.currentStep ?? 0;
      const pods = this.ensureCanaryPods(dep, idx);
      if (st.analysisStartedAt === undefined && pods.ready) {
        st.analysisStartedAt = this.nowIso;
        if (pods.desired > 0) this.event('Normal', REASONS.CanaryPodsReady, `${pods.desired} canary pod(s) of revision ${dep.revision} Ready; analysis started`);
      }
      if (st.analysisStartedAt !== undefined && !measured) {
        measured = true;
        if (this.measure()) return; // rolled back
      }
      const stepStart = Date.parse(st.stepStartedAt ?? this.nowIso);
      if (idx >= steps.length) {
        if (pods.ready) this.promoteWhenMeasured(dep, stepStart);
        else this.waitForPods(dep, pods);
        return;
      }
      const step = steps[idx]!;
      if (!pods.ready) {
        this.waitForPods(dep, pods);
        return;
      }
      if (step.setWeight !== undefined) {
        this.completeStep(`setWeight ${step.setWeight}: ${pods.desired} canary pod(s) Ready`);
        st.weightReadyAt = this.nowIso;
        continue;
      }
      const duration = step.pause.duration !== undefined ? parseDuration(step.pause.duration) : undefined;
      if (duration === undefined) {
        const msg = `step ${this.stepProgress()}: paused until promoted (depctl promote ${this.canary.metadata.name}, or annotate ${ANNOTATIONS.promote})`;
        this.set(PHASES.Paused, msg);
        this.cond(CONDITIONS.Progressing, 'True', REASONS.WaitingForPromote, msg);
        return;
      }
      const end = stepStart + duration;
      if (this.now < end) {
        this.progressing(REASONS.Analysing, `step ${this.stepProgress()}: analysing until ${isoSeconds(end)}`);
        this.requeueAt(end);
        return;
      }
      // A Pass counts only if measured within one interval of the pause's end: one from long before
      // (Datadog rate limited or unreachable since) says nothing about the canary now.
      const pending = this.checksNotPassing(end - this.settings.intervalMs);
      if (pending.length === 0) {
        this.completeStep(`pause ${step.pause.duration} elapsed with checks passing`);
        continue;
      }
      if (this.now - end > this.settings.deadlineMs) {
        this.rollback(
          REASONS.ProgressDeadlineExceeded,
          `checks did not pass within the progress deadline after the pause: ${pending.join('; ')}`,
          dep.revision,
          true,
        );
        return;
      }
      this.progressing(REASONS.WaitingForChecks, `step ${this.stepProgress()}: pause over, waiting for checks: ${pending.join('; ')}`);
      this.requeueAt(end + this.settings.deadlineMs + 1);
      return;
    }
  }

  private waitForPods(dep: ObservedDeployment, pods: { desired: number; readyCount: number; baseline?: { readyCount: number; why?: string } }): void {
    // The deadline counts from when the pods stopped being Ready (or the count changed), not
    // from the step's start: an HPA resize or one NotReady pod late in a long step gets time.
    const since = Date.parse(this.st.canaryPodsWaitingSince ?? this.nowIso);
    if (this.now - since > this.settings.deadlineMs) {
      this.rollback(
        REASONS.ProgressDeadlineExceeded,
        `canary pods not Ready within the progress deadline: ${pods.readyCount}/${pods.desired} Ready${baselineText(pods)} after ${Math.round((this.now - since) / 1000)}s`,
        dep.revision,
        true,
      );
      return;
    }
    this.progressing(
      REASONS.WaitingForCanaryPods,
      `step ${this.stepProgress()}: waiting for canary pods (${pods.readyCount}/${pods.desired} Ready${baselineText(pods)}, deadline ${isoSeconds(since + this.settings.deadlineMs)})`,
    );
    this.requeueAt(since + this.settings.deadlineMs + 1);
  }

  /**
   * After the last step: promote once every check has a Pass measured after the last weight
   * increase was Ready (a step list without pauses waits for them here), else roll back at the
   * progress deadline.
   */
  private promoteWhenMeasured(dep: ObservedDeployment, since: number): void {
    const st = this.st;
    const from = Date.parse(st.weightReadyAt ?? st.analysisStartedAt ?? this.nowIso);
    const missing = (st.checks ?? [])
      .filter((c) => !c.measurements.some((x) => x.verdict === 'Pass' && Date.parse(x.time) >= from))
      .map((c) => `${c.name}: ${describe(c.measurements.at(-1))}`);
    if (missing.length === 0) {
      this.promote(dep);
      return;
    }
    if (this.now - since > this.settings.deadlineMs) {
      this.rollback(
        REASONS.ProgressDeadlineExceeded,
        `no passing measurement of every check at weight ${st.canaryWeight} within the progress deadline: ${missing.join('; ')}`,
        dep.revision,
        true,
      );
      return;
    }
    this.progressing(
      REASONS.WaitingForChecks,
      `step ${this.stepProgress()}: before promotion every check needs a Pass measured at weight ${st.canaryWeight} (since ${isoSeconds(from)}): ${missing.join('; ')}`,
    );
    this.requeueAt(since + this.settings.deadlineMs + 1);
  }

  private progressing(reason: Reason, msg: string): void {
    this.set(PHASES.Progressing, msg);
    this.cond(CONDITIONS.Progressing, 'True', reason, msg);
  }

  private stepProgress(): string {
    const n = this.canary.spec.steps.length;
    return `${Math.min((this.st.currentStep ?? 0) + 1, n)}/${n}`;
  }

  private completeStep(what: string): void {
    const st = this.st;
    const n = this.canary.spec.steps.length;
    const idx = st.currentStep ?? 0;
    this.event('Normal', REASONS.StepCompleted, `step ${idx + 1}/${n} completed: ${what}`);
    st.currentStep = idx + 1;
    st.stepStartedAt = this.nowIso;
    st.stepProgress = `${Math.min(idx + 2, n)}/${n}`;
  }

  private ensureCanaryPods(dep: ObservedDeployment, idx: number): { desired: number; readyCount: number; ready: boolean } {
    const st = this.st;
    const weight = weightAt(this.canary.spec.steps, idx);
    // Checks measure canary traffic: before any setWeight (or without one) they get one canary pod.
    const desired = Math.max(canaryReplicas(dep.replicas, weight), this.observed.checks.length > 0 ? 1 : 0);
    const rs = this.observed.canaryReplicaSets.find((r) => r.revision === dep.revision && r.role === undefined);
    if (desired > 0 || rs) {
      if (!this.actions.some((a) => a.type === 'EnsureCanaryReplicaSet')) {
        this.actions.push({ type: 'EnsureCanaryReplicaSet', revision: dep.revision, version: st.canaryVersion ?? dep.version, replicas: desired });
      } else {
        const a = this.actions.find((x) => x.type === 'EnsureCanaryReplicaSet');
        if (a && a.type === 'EnsureCanaryReplicaSet') a.replicas = desired;
      }
    }
    const readyCount = rs ? Math.min(rs.readyReplicas, desired) : 0;
    let ready = desired === 0 || (rs !== undefined && rs.replicas === desired && rs.readyReplicas >= desired);
    const baseline = this.ensureBaselinePods(dep, desired);
    if (baseline && !baseline.ready) ready = false;
    if (ready) st.canaryPodsWaitingSince = undefined;
    else st.canaryPodsWaitingSince ??= this.nowIso;
    st.canaryWeight = weight;
    st.canaryReplicas = desired;
    st.canaryReadyReplicas = rs?.readyReplicas ?? 0;
    st.stepProgress = this.stepProgress();
    return { desired, readyCount, ready, ...(baseline ? { baseline } : {}) };
  }

  /**
   * Baseline pods (spec.analysis.baseline): the stable template, as many as the canary pods and
   * scaled with them, so canary and baseline start together and age alike. Undefined when the
   * Canary asks for none.
   */
  private ensureBaselinePods(dep: ObservedDeployment, desired: number): { readyCount: number; ready: boolean; why?: string } | undefined {
    const st = this.st;
    if (this.canary.spec.analysis?.baseline !== true) return undefined;
    const rs = this.observed.canaryReplicaSets.find((r) => r.revision === dep.revision && r.role === 'baseline');
    const stable = st.stableRevision;
    let why: string | undefined;
    if (stable === undefined || !dep.stableTemplateKnown) why = `the stable revision's template (${stable ?? 'unknown'}) was not found in a ReplicaSet of Deployment ${dep.name}`;
    else if (desired > 0 || rs) {
      this.dropActions('EnsureBaselineReplicaSet');
      this.actions.push({ type: 'EnsureBaselineReplicaSet', revision: dep.revision, stableRevision: stable, replicas: desired });
    }
    const readyCount = rs ? Math.min(rs.readyReplicas, desired) : 0;
    const ready = why === undefined && (desired === 0 || (rs !== undefined && rs.replicas === desired && rs.readyReplicas >= desired));
    st.baselineReplicas = desired;
    st.baselineReadyReplicas = rs?.readyReplicas ?? 0;
    return { readyCount, ready, ...(why !== undefined ? { why } : {}) };
  }

  /** Records due measurements and asks for missing ones. Returns true when it rolled back. */
  private measure(): boolean {
    const st = this.st;
    const { intervalMs, failureLimit, consecutiveErrorLimit } = this.settings;
    const started = Date.parse(st.analysisStartedAt!);
    const byName = new Map((st.checks ?? []).map((c) => [c.name, c]));
    const need: string[] = [];
    const creds = this.observed.credentials;
    for (const check of this.observed.checks) {
      let cs = byName.get(check.name) ?? emptyCheckStatus(check.name);
      const due = hintedDueAt(nextDueAt(cs, started, intervalMs), cs, started, this.observed.hints?.[check.name]);
      if (this.now >= due) {
        const m: Measurement | undefined =
          creds && !creds.ok && isDatadogCheck(check) ? { verdict: 'Error', time: this.nowIso, message: creds.message } : this.observed.measurements[check.name];
        if (m) {
          cs = recordMeasurement(cs, m);
          this.requeueAt(Date.parse(m.time) + intervalMs);
        } else {
          need.push(check.name);
          this.requeueAt(this.now + Math.min(intervalMs, 5_000));
        }
      } else {
        this.requeueAt(due);
      }
      byName.set(check.name, cs);
    }
    st.checks = this.observed.checks.map((c) => byName.get(c.name) ?? emptyCheckStatus(c.name));
    if (need.length) this.actions.push({ type: 'Measure', checks: need });
    this.updateChecksCondition();

    for (const cs of st.checks) {
      if (cs.failures > failureLimit) {
        const last = [...cs.measurements].reverse().find((m) => m.verdict === 'Fail');
        this.rollback(
          REASONS.CheckFailed,
          `check ${cs.name} failed ${cs.failures} time(s) (limit ${failureLimit}): ${describe(last)}`,
          st.canaryRevision!,
          true,
        );
        return true;
      }
      if (cs.consecutiveErrors >= consecutiveErrorLimit) {
        const last = cs.measurements.at(-1);
        this.rollback(
          REASONS.CheckErrors,
          `check ${cs.name} could not be measured ${cs.consecutiveErrors} times in a row: ${last?.message ?? 'error'}`,
          st.canaryRevision!,
          true,
        );
        return true;
      }
    }
    return false;
  }

  /** Checks whose latest measurement is not a Pass, or (with passedSince) a Pass measured before it. */
  private checksNotPassing(passedSince?: number): string[] {
    return (this.st.checks ?? []).flatMap((c) => {
      const last = c.measurements.at(-1);
      if (last?.verdict !== 'Pass') return [`${c.name}: ${describe(last)}`];
      if (passedSince !== undefined && Date.parse(last.time) < passedSince) return [`${c.name}: last Pass measured at ${last.time}, waiting for a newer measurement`];
      return [];
    });
  }

  private updateChecksCondition(): void {
    const checks = this.st.checks ?? [];
    if (checks.length === 0) {
      this.cond(CONDITIONS.ChecksPassing, 'True', REASONS.ChecksPassing, 'no checks configured');
      return;
    }
    const failing = checks.filter((c) => ['Fail', 'Error'].includes(c.measurements.at(-1)?.verdict ?? ''));
    const pending = checks.filter((c) => ['Inconclusive', undefined].includes(c.measurements.at(-1)?.verdict));
    if (failing.length) {
      this.cond(
        CONDITIONS.ChecksPassing,
        'False',
        failing.some((c) => c.measurements.at(-1)?.verdict === 'Fail') ? REASONS.CheckFailed : REASONS.CheckErrors,
        failing.map((c) => `${c.name}: ${describe(c.measurements.at(-1))}`).join('; '),
      );
    } else if (pending.length) {
      this.cond(
        CONDITIONS.ChecksPassing,
        'Unknown',
        REASONS.ChecksInconclusive,
        pending.map((c) => `${c.name}: ${describe(c.measurements.at(-1))}`).join('; '),
      );
    } else {
      this.cond(CONDITIONS.ChecksPassing, 'True', REASONS.ChecksPassing, `${checks.length} check(s) passing`);
    }
  }

  /** acceptedRevert: the message of a revert accepted within the rollback window (its own Event says it). */
  private promote(dep: ObservedDeployment, acceptedRevert?: string): void {
    const st = this.st;
    const msg = `promoting revision ${dep.revision} (version ${dep.version}) through the Deployment's rolling update`;
    this.actions.push({ type: 'PromoteDeployment', revision: dep.revision });
    st.promotionStartedAt = this.nowIso;
    st.currentStep = this.canary.spec.steps.length;
    st.stepProgress = `${st.currentStep}/${st.currentStep}`;
    this.set(PHASES.Promoting, acceptedRevert ?? msg);
    this.cond(CONDITIONS.Progressing, 'True', REASONS.Promoting, msg);
    if (acceptedRevert === undefined) this.event('Normal', REASONS.Promoting, msg, true);
    this.requeueAt(this.now + 2_000);
  }

  private rollback(reason: Reason, why: string, revision: string, hold: boolean): void {
    const st = this.st;
    // A pass that rolls back never creates or scales canary pods, nor asks for measurements.
    this.dropActions('EnsureCanaryReplicaSet', 'EnsureBaselineReplicaSet', 'Measure', 'DeleteCanaryReplicaSets');
    this.actions.push({ type: 'DeleteCanaryReplicaSets' });
    const paused = this.observed.deployment?.paused ?? false; // already held: nothing to write
    if (hold && !paused && !this.actions.some((a) => a.type === 'HoldDeployment')) this.actions.push({ type: 'HoldDeployment' });
    const msg = `rolled back revision ${revision} (version ${st.canaryVersion}): ${why}`;
    this.record(revision, 'RolledBack', reason, msg);
    st.failedRevision = revision;
    this.finish(PHASES.RolledBack, REASONS.RolledBack, 'False', msg);
    this.event('Warning', reason, msg, true);
  }

  private dropActions(...drop: Action['type'][]): void {
    for (let i = this.actions.length - 1; i >= 0; i--) if (drop.includes(this.actions[i]!.type)) this.actions.splice(i, 1);
  }

  /** The end of a canary: no canary pods any more, the result recorded, Progressing False. */
  private finish(phase: Phase, reason: Reason, ready: ConditionStatus, msg: string): void {
    const st = this.st;
    st.finishedAt = this.nowIso;
    st.lastResult = msg;
    st.canaryPodsWaitingSince = undefined;
    st.pausedSince = undefined;
    st.canaryWeight = 0;
    st.canaryReplicas = 0;
    st.canaryReadyReplicas = 0;
    this.noBaselinePods();
    this.set(phase, msg);
    this.cond(CONDITIONS.Progressing, 'False', reason, msg);
    this.cond(CONDITIONS.Ready, ready, reason, msg);
  }

  /** Baseline pods go with the canary pods. */
  private noBaselinePods(): void {
    if (this.st.baselineReplicas === undefined) return;
    this.st.baselineReplicas = 0;
    this.st.baselineReadyReplicas = 0;
  }

  /** Requests that had nothing to act on are still echoed, once, in any state, so none acts on a later revision. */
  private acknowledgeRemainingRequests(): void {
    for (const kind of REQUEST_KINDS) {
      if (kind === 'promote' && this.promoteDeferred) continue;
      const id = this.newRequest(kind);
      if (id !== undefined) this.handled(kind, id);
    }
  }
}
