// The Canary controller, declared: it reconciles Canaries, owns the canary ReplicaSets (by
// their canary-of label) and watches the Deployments they guard. Only Deployments that carry
// the guard label are cached (a cluster may have thousands of others); observe() reads a target
// without it yet (before adoption) with a live GET.
import { LABELS } from '../api/constants.js';
import { CANARY_KIND, type Canary } from '../api/types.js';
import type { MeasurementRunner } from '../analysis/runner.js';
import type { EventRecorder } from '../kube/events.js';
import { paths, type KubeObject, type RawClient } from '../kube/raw-client.js';
import type { Notifier } from '../notify/notifier.js';
import type { NotificationSpec } from '../api/notification-types.js';
import { Controller, keyOf, ownerByReference, type ControllerRuntime } from '../runtime/controller.js';
import type { SharedInformers, ResourceDescriptor } from '../runtime/shared-informers.js';
import { SecretCache } from './observe.js';
import { CanaryReconciler } from './reconciler.js';
import { StableRevisionCache } from './stable-revisions.js';
import type { HintSource } from '../push/hints.js';

export const CANARIES: ResourceDescriptor = { resource: 'canaries', path: paths.canaries };
/** Deployments with the guard label (whatever its value). */
export const GUARDED_DEPLOYMENTS: ResourceDescriptor = { resource: 'deployments', path: paths.deployments, labelSelector: LABELS.canary };
/** Canary ReplicaSets only. */
export const CANARY_REPLICASETS: ResourceDescriptor = { resource: 'replicasets', path: paths.replicaSets, labelSelector: LABELS.canaryOf };

export interface CanaryControllerOptions {
  client: RawClient;
  informers: SharedInformers;
  /** Measurements are taken here; a finished one enqueues its Canary. */
  measurements: (onReady: (key: string) => void) => MeasurementRunner;
  events: EventRecorder;
  notifier?: Notifier;
  /** Operator-wide notification sinks. */
  notificationDefaults?: () => readonly NotificationSpec[];
  concurrency?: number;
  resyncMs?: number;
  /** Checks pushes asked to measure again early (the push endpoint). */
  hints?: HintSource;
}

export function canaryController(o: CanaryControllerOptions, rt: ControllerRuntime): { controller: Controller; runner: MeasurementRunner } {
  const canaries = o.informers.for(CANARIES);
  const deployments = o.informers.for(GUARDED_DEPLOYMENTS);
  const replicaSets = o.informers.for(CANARY_REPLICASETS);

  /** A Deployment event concerns the Canary named by its guard label and every Canary that targets it. */
  const canariesForDeployment = (d: KubeObject): string[] => {
    const ns = d.metadata.namespace ?? '';
    const guard = d.metadata.labels?.[LABELS.canary];
    const keys = new Set<string>(guard ? [`${ns}/${guard}`] : []);
    for (const c of canaries.list(ns)) {
      if ((c as unknown as Canary).spec?.targetRef?.name === d.metadata.name) keys.add(keyOf(c));
    }
    return [...keys];
  };

  let controller: Controller | undefined;
  const runner = o.measurements((key) => controller?.enqueue(key));
  const reconciler = new CanaryReconciler({
    client: o.client,
    canaries,
    deployments,
    replicaSets,
    secrets: new SecretCache(o.client),
    stableRevisions: new StableRevisionCache(),
    measurements: runner,
    ...(o.hints ? { hints: o.hints } : {}),
    events: o.events,
    ...(o.notifier ? { notifier: o.notifier } : {}),
    ...(o.notificationDefaults ? { notificationDefaults: o.notificationDefaults } : {}),
    logger: rt.logger,
    metrics: rt.metrics,
    // For writes outside a pass's context: whether this instance leads.
    mayAct: () => controller?.mayWrite() ?? false,
  });
  controller = new Controller(
    {
      name: 'canary',
      for: canaries,
      // The owner reference names the Canary; the label holds a shortened name when it is over 63 characters.
      owns: [{ source: replicaSets, owner: ownerByReference(CANARY_KIND) }],
      watches: [{ source: deployments, map: canariesForDeployment }],
      // The pass's fence and signal go with it: each write is checked, each request aborted when the lease is lost.
      reconcile: (key, pass) => reconciler.reconcile(key, pass),
      ...(o.concurrency ? { concurrency: o.concurrency } : {}),
      ...(o.resyncMs ? { resyncMs: o.resyncMs } : {}),
    },
    rt,
  );
  return { controller, runner };
}
