// The Release controller, declared: it reconciles Releases and watches the Canaries and the
// guarded Deployments of their targets (an event maps to every Release of the namespace naming
// the Deployment). Unguarded Deployments are not cached: a Release in progress reads its targets
// live and looks again every few seconds.
import type { Canary } from '../api/types.js';
import type { Release } from '../api/release-types.js';
import type { MeasurementRunner } from '../analysis/runner.js';
import { GUARDED_DEPLOYMENTS, CANARIES } from '../canary/controller.js';
import { SecretCache } from '../canary/observe.js';
import type { EventRecorder } from '../kube/events.js';
import { paths, type KubeObject, type RawClient } from '../kube/raw-client.js';
import { Controller, keyOf, type ControllerRuntime } from '../runtime/controller.js';
import type { ResourceDescriptor, SharedInformers } from '../runtime/shared-informers.js';
import { ReleaseReconciler } from './reconciler.js';
import type { NotificationSpec } from '../api/notification-types.js';

export const RELEASES: ResourceDescriptor = { resource: 'releases', path: paths.releases };

export interface ReleaseControllerOptions {
  client: RawClient;
  informers: SharedInformers;
  /** Post-release measurements are taken here; a finished one enqueues its Release. */
  measurements: (onReady: (key: string) => void) => MeasurementRunner;
  events: EventRecorder;
  concurrency?: number;
  resyncMs?: number;
  /** Operator-wide notification sinks; a pass records ledger entries for them too. */
  notificationDefaults?: () => readonly NotificationSpec[];
}

export function releaseController(o: ReleaseControllerOptions, rt: ControllerRuntime): { controller: Controller; runner: MeasurementRunner } {
  const releases = o.informers.for(RELEASES);
  const canaries = o.informers.for(CANARIES);
  const deployments = o.informers.for(GUARDED_DEPLOYMENTS);

  /** Releases of the namespace that list the Deployment as a target. */
  const releasesNaming = (namespace: string, deployment: string | undefined): string[] =>
    deployment === undefined
      ? []
      : releases
          .list(namespace)
          .filter((r) => ((r as unknown as Release).spec?.targets ?? []).some((t) => t.deployment === deployment))
          .map((r) => keyOf(r));

  let controller: Controller | undefined;
  const runner = o.measurements((key) => controller?.enqueue(key));
  const reconciler = new ReleaseReconciler({
    client: o.client,
    releases,
    canaries,
    secrets: new SecretCache(o.client),
    measurements: runner,
    events: o.events,
    logger: rt.logger,
    metrics: rt.metrics,
    mayAct: () => controller?.mayWrite() ?? false,
    ...(o.notificationDefaults ? { notificationDefaults: o.notificationDefaults } : {}),
  });
  controller = new Controller(
    {
      name: 'release',
      for: releases,
      watches: [
        { source: canaries, map: (c: KubeObject) => releasesNaming(c.metadata.namespace ?? '', (c as unknown as Canary).spec?.targetRef?.name) },
        { source: deployments, map: (d: KubeObject) => releasesNaming(d.metadata.namespace ?? '', d.metadata.name) },
      ],
      reconcile: (key, pass) => reconciler.reconcile(key, pass),
      ...(o.concurrency ? { concurrency: o.concurrency } : {}),
      ...(o.resyncMs ? { resyncMs: o.resyncMs } : {}),
    },
    rt,
  );
  return { controller, runner };
}
