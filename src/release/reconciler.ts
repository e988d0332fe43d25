// One Release pass: observe → decide → persist → execute → record. The status is written first
// (with the resourceVersion read, so a pass decided on a stale object fails with a conflict and
// acts on nothing); then the actions, each idempotent; then the Events of the transitions.
import { ANNOTATIONS, CONDITIONS, REASONS } from '../api/constants.js';
import { API_VERSION } from '../api/types.js';
import { RELEASE_KIND, type Release, type ReleaseStatus } from '../api/release-types.js';
import type { MeasurementSource } from '../analysis/provider.js';
import { boundedMessage, isRefusal, nextFailure, withStalledCondition, type ActionFailure } from '../canary/api-failure.js';
import { getCondition } from '../canary/conditions.js';
import type { SecretCache } from '../canary/observe.js';
import { persistStatus, type Fence } from '../kube/status-write.js';
import type { EventRecorder } from '../kube/events.js';
import { errorMessage, isConflict, isNotFound } from '../kube/errors.js';
import { PATCH, paths, type KubeObject, type RawClient } from '../kube/raw-client.js';
import type { PassContext, ReconcileResult } from '../runtime/controller.js';
import type { ObjectStore } from '../runtime/informer.js';
import type { Logger } from '../runtime/logger.js';
import type { OperatorMetrics } from '../runtime/metrics.js';
import { decide, holderOf, type EventSpec } from './decide.js';
import { execute, WriteFenceError } from './execute.js';
import { canariesHeldBy, observe } from './observe.js';
import { withTransitions } from '../notify/ledger.js';
import type { NotificationSpec } from '../api/notification-types.js';
import { deriveReleaseTransitions } from './transitions.js';

export interface ReleaseReconcilerOptions {
  client: RawClient;
  releases: ObjectStore;
  canaries: ObjectStore;
  secrets: SecretCache;
  measurements: MeasurementSource;
  events: EventRecorder;
  logger: Logger;
  metrics: OperatorMetrics;
  /** Operator-wide notification sinks (--notifications-config); the Release's own come from its spec. */
  notificationDefaults?: () => readonly NotificationSpec[];
  /** For a pass run without a PassContext: whether this instance leads. */
  mayAct: () => boolean;
  now?: () => number;
}


export class ReleaseReconciler {
  private readonly failures = new Map<string, ActionFailure | null>();

  constructor(private readonly o: ReleaseReconcilerOptions) {}

  async reconcile(key: string, pass?: PassContext): Promise<ReconcileResult> {
    const fence: Fence = pass ? { mayWrite: () => pass.mayWrite() && this.o.mayAct(), signal: pass.signal } : { mayWrite: () => this.o.mayAct() };
    const [namespace, name] = key.split('/') as [string, string];
    const log = this.o.logger.child({ release: key });
    const now = (this.o.now ?? Date.now)();
    if (!this.o.releases.get(name, namespace)) {
      this.failures.delete(key);
      await this.releaseHolds(namespace, name, fence);
      return {};
    }
    // The object itself is read live: a decision on a cached copy that lags this pass's last status write is not made.
    let release: Release;
    try {
      release = await this.o.client.get<Release>(paths.release(namespace, name), fence.signal);
    } catch (err) {
      if (isNotFound(err)) return {};
      throw err;
    }
    if (release.metadata.deletionTimestamp) return {};

    const snap = await observe(release, { client: this.o.client, canaries: this.o.canaries, releases: this.o.releases, secrets: this.o.secrets, measurements: this.o.measurements }, now, fence.signal);
    const decision = decide(release, snap.observed, now);
    log.debug('Decided', { phase: decision.status.phase, previousPhase: release.status?.phase, actions: decision.actions.map((a) => a.type), requeueAfterMs: decision.requeueAfterMs });
    if (!fence.mayWrite()) return {};

    // 1. Persist.
    const previousStalled = getCondition(release.status?.conditions, CONDITIONS.Stalled);
    // The transitions of the pass go into the delivery ledger in the same status write.
    const status = this.withNotifications(release, withStalled(decision.status, this.failures.get(key), now, release.metadata.generation), now);
    const stalled = getCondition(status.conditions, CONDITIONS.Stalled);
    let written = release;
    try {
      written = await this.persistStatus(release, status, fence);
    } catch (err) {
      if (isConflict(err)) return { conflict: true };
      throw err;
    }

    // 2. Act.
    let failed: unknown;
    try {
      await execute(namespace, decision.actions, snap.measurementRequests, { client: this.o.client, measurements: this.o.measurements, mayWrite: () => fence.mayWrite(), ...(fence.signal ? { signal: fence.signal } : {}) });
    } catch (err) {
      failed = err;
    }
    if (failed instanceof WriteFenceError || !fence.mayWrite()) return {};
    for (const a of decision.actions) if (a.type !== 'Measure') log.info('Acted', { action: a.type, ...('deployment' in a ? { deployment: a.deployment } : {}), ...('canary' in a ? { canary: a.canary } : {}) });

    // 3. Record.
    const events: EventSpec[] = [...decision.events];
    if (stalled?.status === 'True' && (previousStalled?.status !== 'True' || previousStalled.message !== stalled.message)) {
      events.push({ type: 'Warning', reason: REASONS.ActionFailed, message: stalled.message });
    }
    for (const e of events) {
      if (!fence.mayWrite()) break;
      this.o.metrics.transitions.inc({ reason: e.reason });
      log[e.type === 'Warning' ? 'warn' : 'info']('Recorded event', { reason: e.reason, detail: e.message, generation: status.releaseGeneration });
      try {
        await this.o.events.record(
          { apiVersion: API_VERSION, kind: RELEASE_KIND, name, namespace, ...(written.metadata.uid ? { uid: written.metadata.uid } : {}) },
          e.type,
          e.reason,
          boundedMessage(e.message, 1000),
        );
      } catch (err) {
        log.warn('Could not record an Event', { reason: e.reason, error: errorMessage(err) });
      }
    }

    if (failed !== undefined) {
      if (isConflict(failed) || isConflict((failed as { cause?: unknown }).cause)) return { conflict: true };
      const cause = (failed as { cause?: unknown }).cause ?? failed;
      this.failures.set(key, nextFailure(this.failures.get(key), boundedMessage(errorMessage(failed)), isRefusal(cause), now));
      throw failed;
    }
    this.failures.set(key, null);
    if (stalled?.status === 'True') return { requeueAfterMs: 0 };
    return decision.requeueAfterMs !== undefined ? { requeueAfterMs: decision.requeueAfterMs } : {};
  }

  private withNotifications(release: Release, status: ReleaseStatus, now: number): ReleaseStatus {
    const defaults = this.o.notificationDefaults?.() ?? [];
    if (!release.spec.notifications?.length && !defaults.length) return status;
    return withTransitions(release, status, deriveReleaseTransitions(release, status), defaults, now);
  }

  /** The one status write of a pass; skipped when nothing changed. */
  private async persistStatus(release: Release, status: ReleaseStatus, fence: Fence): Promise<Release> {
    const written = await persistStatus(this.o.client, paths.release(release.metadata.namespace, release.metadata.name) + '/status', release, status, fence, (what) => new WriteFenceError(what));
    return written ?? release;
  }

  /** A deleted Release holds no Canary any more. */
  private async releaseHolds(namespace: string, name: string, fence: Fence): Promise<void> {
    const holder = holderOf({ metadata: { name, namespace } } as Release);
    for (const c of canariesHeldBy(this.o.canaries.list(namespace), holder)) {
      if (!fence.mayWrite()) return;
      try {
        await this.o.client.patch<KubeObject>(paths.canary(namespace, c.metadata.name), { metadata: { annotations: { [ANNOTATIONS.heldBy]: null } } }, PATCH.merge, undefined, fence.signal);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
  }
}

function withStalled(status: ReleaseStatus, failure: ActionFailure | null | undefined, now: number, generation: number | undefined): ReleaseStatus {
  const conditions = withStalledCondition({ ...(status.conditions ? { conditions: status.conditions } : {}) }, failure, new Date(now).toISOString(), generation).conditions;
  return { ...status, ...(conditions ? { conditions } : {}) };
}
