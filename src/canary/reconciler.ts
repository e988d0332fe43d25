// One reconcile pass: observe → decide → execute → persist → requeue.
import { API_VERSION, CANARY_KIND, type Canary, type CanaryStatus } from '../api/types.js';
import type { EventRecorder } from '../kube/events.js';
import { errorMessage, isConflict, isNotFound } from '../kube/errors.js';
import { paths, type RawClient } from '../kube/raw-client.js';
import type { Logger } from '../runtime/logger.js';
import type { OperatorMetrics } from '../runtime/metrics.js';
import { nopNotifier, type Notifier } from '../notify/notifier.js';
import { decide } from './decide.js';
import { execute } from './execute.js';
import { observe, type ObserveContext } from './observe.js';
import { canonicalJson } from './revision.js';

export interface ReconcileResult {
  requeueAfterMs?: number;
  /** A 409: look again at once, without an error. */
  conflict?: boolean;
}

export interface ReconcilerOptions extends ObserveContext {
  client: RawClient;
  events: EventRecorder;
  logger: Logger;
  metrics: OperatorMetrics;
  notifier?: Notifier;
  /** Checked right before writing: only the leader acts. */
  mayAct: () => boolean;
  now?: () => number;
}

export class CanaryReconciler {
  constructor(private readonly o: ReconcilerOptions) {}

  async reconcile(key: string): Promise<ReconcileResult> {
    const [namespace, name] = key.split('/') as [string, string];
    const obj = this.o.canaries.get(name, namespace);
    if (!obj) return {};
    const canary = obj as unknown as Canary;
    const log = this.o.logger.child({ canary: key });
    const now = (this.o.now ?? Date.now)();
    const snap = await observe(canary, this.o, now);
    const decision = decide(canary, snap.observed, now);
    log.debug('Decided', {
      phase: decision.status.phase,
      previousPhase: canary.status?.phase,
      resourceVersion: canary.metadata.resourceVersion,
      actions: decision.actions.map((a) => a.type),
      requeueAfterMs: decision.requeueAfterMs,
    });
    if (!this.o.mayAct()) return {};
    let rv: string | undefined;
    try {
      rv = await execute(canary, decision, snap, this.o);
    } catch (err) {
      if (isConflict(err)) return { conflict: true };
      if (isNotFound(err) && canary.metadata.deletionTimestamp) return {};
      throw err;
    }
    for (const a of decision.actions) {
      if (a.type !== 'Measure') log.debug('Performed action', { action: a.type, revision: snap.observed.deployment?.revision });
    }
    if (!canary.metadata.deletionTimestamp) {
      try {
        await this.persistStatus(canary, decision.status, rv);
      } catch (err) {
        if (isConflict(err)) return { conflict: true };
        throw err;
      }
    }
    for (const e of decision.events) {
      this.o.metrics.transitions.inc({ reason: e.reason });
      const level = e.type === 'Warning' ? 'warn' : 'info';
      log[level]('Recorded event', { reason: e.reason, detail: e.message, revision: decision.status.canaryRevision, step: decision.status.currentStep });
      await this.recordEvent(canary, e.type, e.reason, e.message, log);
      await this.notify(key, e, decision.status.canaryRevision, decision.status.canaryVersion, log);
      if (e.onDeployment && snap.deployment) {
        await this.recordEvent(
          { apiVersion: 'apps/v1', kind: 'Deployment', metadata: snap.deployment.metadata as Canary['metadata'] },
          e.type,
          e.reason,
          e.message,
          log,
        );
      }
    }
    return decision.requeueAfterMs !== undefined ? { requeueAfterMs: decision.requeueAfterMs } : {};
  }

  /** The one status write of a pass; skipped when nothing changed. */
  private async persistStatus(canary: Canary, status: CanaryStatus, rv: string | undefined): Promise<void> {
    const clean = JSON.parse(JSON.stringify(status)) as CanaryStatus;
    if (canonicalJson(clean) === canonicalJson(canary.status ?? {})) return;
    await this.o.client.update(paths.canary(canary.metadata.namespace, canary.metadata.name) + '/status', {
      apiVersion: API_VERSION,
      kind: CANARY_KIND,
      metadata: { name: canary.metadata.name, namespace: canary.metadata.namespace, resourceVersion: rv },
      spec: canary.spec,
      status: clean,
    });
  }

  private async notify(key: string, e: { type: 'Normal' | 'Warning'; reason: string; message: string }, revision: string | undefined, version: string | undefined, log: Logger): Promise<void> {
    const notifier = this.o.notifier ?? nopNotifier;
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
        AbortSignal.timeout(5_000),
      );
    } catch (err) {
      log.warn('Could not send a notification', { reason: e.reason, error: errorMessage(err) });
    }
  }

  private async recordEvent(
    obj: { apiVersion: string; kind: string; metadata: { name: string; namespace: string; uid?: string } },
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
    log: Logger,
  ): Promise<void> {
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
