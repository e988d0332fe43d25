// The Canary controller, declared: it reconciles Canaries, owns the canary ReplicaSets (by
// their canary-of label) and watches the Deployments they guard. Only Deployments that carry
// the guard label are cached (a cluster may have thousands of others); a target without it yet
// (before adoption) is read with a GET at the start of the pass.
import { LABELS } from '../api/constants.js';
import type { Canary } from '../api/types.js';
import type { MeasurementRunner } from '../analysis/runner.js';
import type { EventRecorder } from '../kube/events.js';
import { isNotFound } from '../kube/errors.js';
import { paths, type KubeObject, type RawClient } from '../kube/raw-client.js';
import type { Notifier } from '../notify/notifier.js';
import { Controller, keyOf, ownerByLabel, type ControllerRuntime } from '../runtime/controller.js';
import { stripManagedFields, type ObjectStore } from '../runtime/informer.js';
import type { SharedInformers, ResourceDescriptor } from '../runtime/shared-informers.js';
import { SecretCache } from './observe.js';
import { CanaryReconciler } from './reconciler.js';

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
  concurrency?: number;
  resyncMs?: number;
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

  // Targets not in the cache (no guard label yet), read for the pass that needs them.
  const fetched = new Map<string, { obj: KubeObject; passes: number }>();
  const targets: ObjectStore = {
    get: (name, namespace) => deployments.get(name, namespace) ?? fetched.get(`${namespace ?? ''}/${name}`)?.obj,
    list: (namespace) => deployments.list(namespace),
  };
  const withTarget = async <T>(key: string, pass: () => Promise<T>): Promise<T> => {
    const [ns = '', name = ''] = key.split('/');
    const target = (canaries.get(name, ns) as unknown as Canary | undefined)?.spec?.targetRef?.name;
    if (!target || deployments.get(target, ns)) return pass();
    const id = `${ns}/${target}`;
    try {
      const obj = stripManagedFields(await o.client.get<KubeObject>(paths.deployment(ns, target)));
      const entry = fetched.get(id);
      fetched.set(id, { obj: { apiVersion: 'apps/v1', kind: 'Deployment', ...obj }, passes: (entry?.passes ?? 0) + 1 });
    } catch (err) {
      if (!isNotFound(err)) throw err;
      return pass();
    }
    try {
      return await pass();
    } finally {
      const entry = fetched.get(id);
      if (entry && --entry.passes <= 0) fetched.delete(id);
    }
  };

  let controller: Controller | undefined;
  const runner = o.measurements((key) => controller?.enqueue(key));
  const reconciler = new CanaryReconciler({
    client: o.client,
    canaries,
    deployments: targets,
    replicaSets,
    secrets: new SecretCache(o.client),
    measurements: runner,
    events: o.events,
    ...(o.notifier ? { notifier: o.notifier } : {}),
    logger: rt.logger,
    metrics: rt.metrics,
    // Asked before writes: true only inside a pass of the current leadership term, away from lease expiry.
    mayAct: () => controller?.mayWrite() ?? false,
  });
  controller = new Controller(
    {
      name: 'canary',
      for: canaries,
      owns: [{ source: replicaSets, owner: ownerByLabel(LABELS.canaryOf) }],
      watches: [{ source: deployments, map: canariesForDeployment }],
      reconcile: (key) => withTarget(key, () => reconciler.reconcile(key)),
      ...(o.concurrency ? { concurrency: o.concurrency } : {}),
      ...(o.resyncMs ? { resyncMs: o.resyncMs } : {}),
    },
    rt,
  );
  return { controller, runner };
}
