// One reconcile pass: observe → decide → persist → execute → record. The status is written
// first, so what the actions depend on (that a canary started, when, that a promotion began) is
// never lost when an action fails; a decision made on a cache that has not caught up with this
// process's own writes is not made at all (expectations); an action that keeps failing is
// reported in the Stalled condition and a Warning Event, and the canary's deadline keeps running.
import { ANNOTATIONS, CONDITIONS, LABELS, REASONS } from '../api/constants.js';
import { API_VERSION, CANARY_KIND, type Canary, type CanaryStatus } from '../api/types.js';
import type { EventRecorder } from '../kube/events.js';
import { errorCode, errorMessage, isConflict, isNotFound } from '../kube/errors.js';
import { PATCH, paths, type KubeObject, type RawClient } from '../kube/raw-client.js';
import type { PassContext, ReconcileResult } from '../runtime/controller.js';
import type { Logger } from '../runtime/logger.js';
import type { OperatorMetrics } from '../runtime/metrics.js';
import { nopNotifier, type Notifier } from '../notify/notifier.js';
import { withTransitions } from '../notify/ledger.js';
import type { NotificationSpec } from '../api/notification-types.js';
import { deriveCanaryTransitions } from './transitions.js';
import { ActionError, boundedMessage, isRefusal, LeadershipLostError, nextFailure, withStalledCondition, type ActionFailure } from './api-failure.js';
import { getCondition } from './conditions.js';
import { decide, type EventSpec } from './decide.js';
import { execute } from './execute.js';
import { Expectations, type CacheLookup } from './expectations.js';
import { observe, type DeploymentObject, type ObserveContext } from './observe.js';
import { labelValue, revisionOf } from './revision.js';
import { persistStatus, type Fence } from '../kube/status-write.js';
import { timedSignal } from '../runtime/timed-signal.js';

export interface ReconcilerOptions extends ObserveContext {
  client: RawClient;
  events: EventRecorder;
  logger: Logger;
  metrics: OperatorMetrics;
  notifier?: Notifier;
  /** Operator-wide notification sinks (--notifications-config); the Canary's own come from its spec. */
  notificationDefaults?: () => readonly NotificationSpec[];
  /** Checked right before each write of a pass run without a PassContext: only the leader acts. */
  mayAct: () => boolean;
  now?: () => number;
  /** How long a pass waits for the cache to show this process's writes (default 30 s). */
  expectationTtlMs?: number;
}

/** How soon a pass skipped for a lagging cache looks again (the informer event usually comes first). */
const CACHE_LAG_REQUEUE_MS = 1_000;

type Target = { apiVersion: string; kind: string; metadata: { name: string; namespace: string; uid?: string } };


export class CanaryReconciler {
  private readonly expectations: Expectations;
  /** The last pass's action failure per Canary; `null` after a pass whose actions all succeeded. */
  private readonly failures = new Map<string, ActionFailure | null>();
  /** The API's last refusal of a Canary's status write, announced once by a Warning Event. */
  private readonly statusRefusals = new Map<string, string>();

  constructor(private readonly o: ReconcilerOptions) {
    this.expectations = new Expectations(o.expectationTtlMs);
  }

  /**
   * One pass. `pass` (from the controller) fences every write: a pass whose leadership ended
   * (lost, or the lease near expiry) makes no further write and records no Event, and its
   * requests are aborted with its signal. Without it (a pass driven by hand) `mayAct` fences.
   */
  async reconcile(key: string, pass?: PassContext): Promise<ReconcileResult> {
    const fence: Fence = pass ? { mayWrite: () => pass.mayWrite() && this.o.mayAct(), signal: pass.signal } : { mayWrite: () => this.o.mayAct() };
    const [namespace, name] = key.split('/') as [string, string];
    const log = this.o.logger.child({ canary: key });
    const now = (this.o.now ?? Date.now)();
    const obj = this.o.canaries.get(name, namespace);
    if (!obj) {
      this.expectations.forget(key);
      this.failures.delete(key);
      this.statusRefusals.delete(key);
      return this.releaseOrphanedGates(namespace, name, fence, log);
    }
    const canary = obj as unknown as Canary;

    const pending = this.expectations.pending(key, this.cacheLookup(namespace), now);
    for (const e of pending.expired) log.warn('The cache did not show a write of this controller in time; deciding anyway', { kind: e.kind, object: e.name, expected: e.expect });
    if (pending.waiting.length) {
      log.debug('Skipped a pass: the cache has not caught up with this controller\'s writes', { waitingFor: pending.waiting.map((e) => `${e.kind}/${e.name} ${e.expect}`) });
      const expiry = this.expectations.nextExpiry(key);
      return { requeueAfterMs: Math.max(50, Math.min(CACHE_LAG_REQUEUE_MS, (expiry ?? now) - now)) };
    }

    const snap = await observe(canary, this.o, now);
    const decision = decide(canary, snap.observed, now);
    log.debug('Decided', {
      phase: decision.status.phase,
      previousPhase: canary.status?.phase,
      resourceVersion: canary.metadata.resourceVersion,
      actions: decision.actions.map((a) => a.type),
      requeueAfterMs: decision.requeueAfterMs,
    });
    if (!fence.mayWrite()) return {};

    // 1. Persist: the one status write of the pass, before any action.
    const deleting = canary.metadata.deletionTimestamp !== undefined;
    const previousStalled = getCondition(canary.status?.conditions, CONDITIONS.Stalled);
    const stalledStatus = withStalledCondition(decision.status, this.failures.get(key), new Date(now).toISOString(), canary.metadata.generation);
    // The transitions this write records go into the delivery ledger in the same write; the
    // sender delivers them only once they are in status.
    const status = deleting ? stalledStatus : this.withNotifications(canary, stalledStatus, now);
    const stalled = getCondition(status.conditions, CONDITIONS.Stalled);
    let rv = canary.metadata.resourceVersion;
    if (!deleting) {
      try {
        rv = (await this.persistStatus(canary, status, fence)) ?? rv;
        this.statusRefusals.delete(key);
      } catch (err) {
        if (isConflict(err)) return { conflict: true };
        // Status first, then act: nothing is done until the status is accepted. The status cannot
        // say why, so a Warning Event on the Canary and its Deployment does, once per refusal.
        if (isRefusal(err) && fence.mayWrite()) await this.announceStatusRefused(key, canary, snap.deployment, err, log);
        throw err;
      }
    }
    const written: Canary = rv === canary.metadata.resourceVersion ? canary : { ...canary, metadata: { ...canary.metadata, resourceVersion: rv } };

    // 2. Act.
    let failed: unknown;
    try {
      await execute(written, decision, snap, {
        client: this.o.client,
        measurements: this.o.measurements,
        expect: (e) => this.expectations.expect(key, e, now),
        mayWrite: () => fence.mayWrite(),
        ...(fence.signal ? { signal: fence.signal } : {}),
      });
    } catch (err) {
      failed = err;
    }
    // Leadership ended during the pass: nothing more is written or recorded; the new leader looks again.
    if (failed instanceof LeadershipLostError || !fence.mayWrite()) {
      log.info('Stopped a pass: this instance no longer leads', { error: failed === undefined ? undefined : errorMessage(failed) });
      return {};
    }
    for (const a of decision.actions) {
      if (a.type !== 'Measure') log.debug('Decided action', { action: a.type, revision: snap.observed.deployment?.revision });
    }

    // 3. Record: Events for the transitions the status write recorded.
    const events: EventSpec[] = [...decision.events];
    if (stalled?.status === 'True' && (previousStalled?.status !== 'True' || previousStalled.message !== stalled.message)) {
      events.push({ type: 'Warning', reason: REASONS.ActionFailed, message: stalled.message, onDeployment: true });
    }
    // A deleted Canary has no status to write: its Events say what its last actions did, so only after they did it.
    if (!deleting || failed === undefined) await this.recordEvents(key, written, events, decision.status, snap.deployment, fence, log);

    if (failed !== undefined) {
      if (isConflict(failed)) {
        log.debug('A write conflicted; looking again', { error: errorMessage(failed) });
        return { conflict: true };
      }
      if (isNotFound(failed) && deleting) return {};
      this.failures.set(key, nextFailure(this.failures.get(key), failureMessage(failed), isRefusal(failed), now));
      throw failed;
    }
    this.failures.set(key, null);
    // The next pass clears the Stalled condition.
    if (stalled?.status === 'True') return { requeueAfterMs: 0 };
    return decision.requeueAfterMs !== undefined ? { requeueAfterMs: decision.requeueAfterMs } : {};
  }

  private withNotifications(canary: Canary, status: CanaryStatus, now: number): CanaryStatus {
    const defaults = this.o.notificationDefaults?.() ?? [];
    if (!canary.spec.notifications?.length && !defaults.length) return status;
    return withTransitions(canary, status, deriveCanaryTransitions(canary.status, status, canary.metadata.generation), defaults, now);
  }

  private cacheLookup(namespace: string): CacheLookup {
    return (kind, name) => {
      const store = kind === 'Canary' ? this.o.canaries : kind === 'Deployment' ? this.o.deployments : this.o.replicaSets;
      const o = store.get(name, namespace);
      return o ? { ...(o.metadata.uid ? { uid: o.metadata.uid } : {}), ...(o.metadata.resourceVersion ? { resourceVersion: o.metadata.resourceVersion } : {}) } : undefined;
    };
  }

  /** The one status write of a pass; skipped when nothing changed. Returns the new resourceVersion. */
  private async persistStatus(canary: Canary, status: CanaryStatus, fence: Fence): Promise<string | undefined> {
    const res = await persistStatus(this.o.client, paths.canary(canary.metadata.namespace, canary.metadata.name) + '/status', canary, status, fence, (what) => new LeadershipLostError(what));
    if (res === undefined) return undefined;
    const rv = res?.metadata?.resourceVersion;
    // An update the apiserver found to change nothing keeps the resourceVersion: nothing to wait for.
    if (canary.metadata.resourceVersion && rv !== canary.metadata.resourceVersion) {
      this.expectations.expect(canaryKeyOf(canary), { kind: 'Canary', name: canary.metadata.name, expect: 'Changed', fromResourceVersion: canary.metadata.resourceVersion }, (this.o.now ?? Date.now)());
    }
    return rv;
  }

  private async recordEvents(key: string, canary: Canary, events: EventSpec[], status: CanaryStatus, deployment: DeploymentObject | undefined, fence: Fence, log: Logger): Promise<void> {
    for (const e of events) {
      if (!fence.mayWrite()) return;
      this.o.metrics.transitions.inc({ reason: e.reason });
      const level = e.type === 'Warning' ? 'warn' : 'info';
      log[level]('Recorded event', { reason: e.reason, detail: e.message, revision: status.canaryRevision, step: status.currentStep });
      await this.recordEvent(canary, e.type, e.reason, e.message, log);
      if (!fence.mayWrite()) return;
      await this.notify(key, e, status.canaryRevision, status.canaryVersion, fence.signal, log);
      if (e.onDeployment && deployment && fence.mayWrite()) {
        await this.recordEvent({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: deployment.metadata as Target['metadata'] }, e.type, e.reason, e.message, log);
      }
    }
  }

  /**
   * A key whose Canary does not exist: Deployments in its namespace still gated for it (its
   * finalizer was removed by hand, or the release failed) are released. The gate goes; the
   * Deployment is unpaused only when it runs its stable revision and the operator paused it;
   * otherwise it stays paused and a Warning Event on it says how to go on.
   */
  private async releaseOrphanedGates(namespace: string, labelVal: string, fence: Fence, log: Logger): Promise<ReconcileResult> {
    const candidates = this.o.deployments.list(namespace).filter((d) => d.metadata.labels?.[LABELS.canary] === labelVal);
    if (!candidates.length || !fence.mayWrite()) return {};
    // The cache may lag behind a Canary just created: confirm with the API that none is named by the label.
    const live = await this.o.client.list<KubeObject>(paths.canaries(namespace), undefined, fence.signal);
    if (live.items.some((c) => labelValue(c.metadata.name) === labelVal)) return {};
    for (const cached of candidates) {
      let dep: DeploymentObject;
      try {
        dep = await this.o.client.get<DeploymentObject>(paths.deployment(namespace, cached.metadata.name), fence.signal);
      } catch (err) {
        if (isNotFound(err)) continue;
        throw err;
      }
      if (dep.metadata.labels?.[LABELS.canary] !== labelVal) continue;
      const annotations = dep.metadata.annotations ?? {};
      const stable = annotations[ANNOTATIONS.stableRevision];
      const revision = revisionOf(dep.spec.template);
      const verified = stable !== undefined && stable === revision;
      const unpause = verified && dep.spec.paused === true && annotations[ANNOTATIONS.heldReason] !== undefined;
      const leftPaused = !verified && dep.spec.paused === true;
      if (!fence.mayWrite()) return {};
      try {
        await this.o.client.patch(
          paths.deployment(namespace, dep.metadata.name),
          {
            metadata: { resourceVersion: dep.metadata.resourceVersion, labels: { [LABELS.canary]: null }, annotations: { [ANNOTATIONS.stableRevision]: null, [ANNOTATIONS.heldReason]: null } },
            ...(unpause ? { spec: { paused: false } } : {}),
          },
          PATCH.merge,
          undefined,
          fence.signal,
        );
      } catch (err) {
        if (isConflict(err)) return { conflict: true };
        if (isNotFound(err)) continue;
        throw err;
      }
      if (!fence.mayWrite()) return {};
      const target: Target = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: dep.metadata.name, namespace, ...(dep.metadata.uid ? { uid: dep.metadata.uid } : {}) } };
      if (leftPaused) {
        const msg = `Canary ${labelVal} no longer exists; its gate was removed from Deployment ${dep.metadata.name}, which stays paused on revision ${revision}, never verified. To roll it out unverified: kubectl rollout resume deployment/${dep.metadata.name}; to go back, restore the previous template${stable ? ` (stable revision ${stable})` : ''}.`;
        log.warn('Released an orphaned gate; the Deployment stays paused', { deployment: dep.metadata.name, revision });
        await this.recordEvent(target, 'Warning', REASONS.DeploymentLeftPaused, msg, log);
      } else {
        const msg = `Canary ${labelVal} no longer exists; its gate was removed from Deployment ${dep.metadata.name}${unpause ? ', which was unpaused' : ''}`;
        log.info('Released an orphaned gate', { deployment: dep.metadata.name, unpaused: unpause });
        await this.recordEvent(target, 'Normal', REASONS.DeploymentReleased, msg, log);
      }
    }
    return {};
  }

  private async notify(key: string, e: { type: 'Normal' | 'Warning'; reason: string; message: string }, revision: string | undefined, version: string | undefined, pass: AbortSignal | undefined, log: Logger): Promise<void> {
    const notifier = this.o.notifier ?? nopNotifier;
    const deadline = timedSignal(5_000, pass);
    try {
      await notifier.notify(
        {
          canary: key,
          reason: e.reason,
          severity: e.type === 'Warning' ? 'warning' : 'info',
          message: e.message,
          ...(revision ? { revision } : {}),
          ...(version ? { version } : {}),
          time: new Date().toISOString(),
        },
        deadline.signal,
      );
    } catch (err) {
      log.warn('Could not send a notification', { reason: e.reason, error: errorMessage(err) });
    } finally {
      deadline.release();
    }
  }

  private async announceStatusRefused(key: string, canary: Canary, deployment: DeploymentObject | undefined, err: unknown, log: Logger): Promise<void> {
    const message = boundedMessage(`the API refused the status write of Canary ${canary.metadata.name}, so it takes no action until the write is accepted: ${failureMessage(err)}`);
    if (this.statusRefusals.get(key) === message) return;
    this.statusRefusals.set(key, message);
    log.warn('Recorded event', { reason: REASONS.StatusWriteRefused, detail: message });
    await this.recordEvent(canary as unknown as Target, 'Warning', REASONS.StatusWriteRefused, message, log);
    if (deployment) await this.recordEvent({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: deployment.metadata as Target['metadata'] }, 'Warning', REASONS.StatusWriteRefused, message, log);
  }

  private async recordEvent(obj: Target, type: 'Normal' | 'Warning', reason: string, message: string, log: Logger): Promise<void> {
    try {
      await this.o.events.record(
        { apiVersion: obj.apiVersion, kind: obj.kind, name: obj.metadata.name, namespace: obj.metadata.namespace, ...(obj.metadata.uid ? { uid: obj.metadata.uid } : {}) },
        type,
        reason,
        message,
      );
    } catch (err) {
      log.warn('Could not record an Event', { reason, error: errorMessage(err) });
    }
  }
}

const canaryKeyOf = (c: Canary): string => `${c.metadata.namespace}/${c.metadata.name}`;

/** The failure as a user reads it in the Stalled condition: which action, on what, the API's words. */
function failureMessage(err: unknown): string {
  if (err instanceof ActionError) {
    const code = err.code ? ` (HTTP ${err.code})` : '';
    return boundedMessage(`${err.action} on ${err.target} failed${code}: ${err.apiMessage}`);
  }
  const code = errorCode(err);
  return boundedMessage(`${errorMessage(err)}${code ? ` (HTTP ${code})` : ''}`);
}

