// The operator: builds the shared parts (API client, informers, leadership, metrics, health),
// declares its controllers, serves the admission webhook and starts everything.
// `startOperator` is what `npm start` runs and what tests run in-process.
import { KubeConfig } from '@kubernetes/client-node/dist/config.js';
import { hostname } from 'node:os';
import { MeasurementRunner } from './analysis/runner.js';
import { CANARIES, GUARDED_DEPLOYMENTS, canaryController } from './canary/controller.js';
import { RELEASES, releaseController } from './release/controller.js';
import { KubeEventRecorder } from './kube/events.js';
import { errorMessage } from './kube/errors.js';
import { RawClient } from './kube/raw-client.js';
import type { Controller } from './runtime/controller.js';
import { HealthServer, type Readiness } from './runtime/health-server.js';
import { KubeLeaseStore, LeaderElector } from './runtime/leader-election.js';
import { alwaysLeader, type Leadership } from './runtime/leadership.js';
import type { Canary } from './api/types.js';
import { hintBoardFor, PushComponent, type PushOptions } from './push/component.js';
import { leaseNameFor, leaseNamespaceFor } from './runtime/lease-location.js';
import { createLogger, type Logger } from './runtime/logger.js';
import { MemoryReducer } from './runtime/memory-reducer.js';
import { OperatorMetrics } from './runtime/metrics.js';
import { decideReadiness } from './runtime/readiness.js';
import { SharedInformers } from './runtime/shared-informers.js';
import { AdmissionComponent, type AdmissionWebhookOptions } from './webhook/admission-component.js';
import { formerGuardOf, type CanaryGuardLike, type FormerGuard } from './webhook/admission.js';
import type { Notifier } from './notify/notifier.js';
import { DeliveryComponent } from './metrics/delivery-component.js';
import { canaryNotifyKind } from './canary/notify-kind.js';
import { NotificationComponent, type NotificationOptions } from './notify/component.js';
import { releaseNotifyKind } from './release/notify-kind.js';

/**
 * The periodic pass over every Canary and Release: a safety net, since changes (watches) and
 * timers (pauses, measurements) start passes at once. Argo Rollouts' --rollout-resync defaults to
 * 15 minutes too. At 1,000 idle Canaries one resync costs about a second of CPU.
 */
export const DEFAULT_RESYNC_MS = 15 * 60_000;

export interface OperatorOptions {
  kubeconfig?: KubeConfig;
  /** Watch only these namespaces (default: all). */
  namespaces?: string[];
  webhook: AdmissionWebhookOptions;
  health?: { host?: string; port: number };
  /** A separate port for /metrics (the health port serves it too). */
  metricsPort?: number;
  /**
   * Elect a leader on a Lease (the command line turns this on by default). Namespace default:
   * POD_NAMESPACE, else deployer-system when it exists, else default. Name default: deployer, or
   * deployer-<hash> for a set of --namespaces.
   */
  leaderElection?: { namespace?: string; name?: string; identity?: string; leaseDurationMs?: number; renewDeadlineMs?: number; retryPeriodMs?: number };
  logger?: Logger;
  concurrency?: number;
  /** How often every object is looked at again though nothing changed (default DEFAULT_RESYNC_MS). */
  resyncMs?: number;
  /**
   * Give memory back once a burst of work is over (src/runtime/memory-reducer.ts). The command
   * line turns it on; off by default, since in-process callers (tests) share their heap.
   */
  memoryCompaction?: boolean;
  datadogTimeoutMs?: number;
  /** Where transitions are announced besides Events (default: nowhere). */
  notifier?: Notifier;
  /** Allow a Datadog Secret's url to use plain http to hosts other than loopback (--datadog-allow-http). */
  datadogAllowPlainHttp?: boolean;
  /** The Datadog push endpoint (off when absent). */
  push?: PushOptions;
  /** Notification delivery (the ledger in each object's status; only the leader sends). */
  notifications?: NotificationOptions;
}

export interface OperatorHandle {
  readonly metrics: OperatorMetrics;
  readonly webhookPort: number;
  readonly healthPort?: number;
  /** The port of the Datadog push endpoint, when it is on. */
  readonly pushPort?: number;
  readonly runner: MeasurementRunner;
  /** Delivery metrics and DORA reporting from the Canaries' and Releases' histories. */
  readonly delivery: DeliveryComponent;
  isLeader(): boolean;
  /** Graceful stop: no new work, the pass in flight finishes, the lease is released. */
  stop(): Promise<void>;
}

export async function startOperator(opts: OperatorOptions): Promise<OperatorHandle> {
  const kc = opts.kubeconfig ?? defaultKubeConfig();
  const client = new RawClient(kc);
  const logger = opts.logger ?? createLogger();
  const metrics = new OperatorMetrics({ defaultMetrics: true });
  client.onRequest = (verb, resource) => metrics.kubeRequests.inc({ verb, resource });
  const identity = opts.leaderElection?.identity ?? `${hostname()}-${process.pid}`;

  // Shared parts: informers, leadership.
  const informers = new SharedInformers({ kc, client, logger, metrics, ...(opts.namespaces ? { namespaces: opts.namespaces } : {}) });
  metrics.observeInformers(() => informers.sizes());
  const elector = opts.leaderElection ? await electorFor(opts.leaderElection, opts.namespaces, client, identity, logger) : undefined;
  const leadership: Leadership = elector ?? alwaysLeader;
  const isLeader = (): boolean => leadership.isLeader();

  // Notifications: operator-wide sinks, read from a Secret in the operator's namespace.
  const notifications = await NotificationComponent.prepare({
    client,
    logger,
    metrics,
    leadership,
    namespace: opts.notifications?.namespace ?? opts.leaderElection?.namespace ?? (await leaseNamespaceFor(client)).namespace,
    allowPlainHttp: opts.datadogAllowPlainHttp === true,
    ...(opts.notifications ? { options: opts.notifications } : {}),
  });

  // The controllers, on one runtime.
  const hints = hintBoardFor(opts.push);
  const reducer = opts.memoryCompaction
    ? new MemoryReducer({
        onCompacted: ({ beforeBytes, afterBytes, ms }) => {
          metrics.memoryCompactions.inc();
          metrics.memoryCompactionSeconds.inc(ms / 1000);
          logger.info('Memory given back after a burst of work', { heapBeforeMiB: mib(beforeBytes), heapAfterMiB: mib(afterBytes), ms: Math.round(ms) });
        },
        onError: (err) => logger.warn('Could not give memory back after a burst; leaving it to V8 from now on', { error: errorMessage(err) }),
      })
    : undefined;
  const runtime = { logger, metrics, leadership, ...(reducer ? { onPassStart: () => reducer.passStarted(), onPassEnd: () => reducer.passEnded() } : {}) };
  const shared = {
    client,
    informers,
    measurements: (onReady: (key: string) => void, component: string): MeasurementRunner =>
      new MeasurementRunner({
        onReady,
        ...(opts.datadogTimeoutMs ? { timeoutMs: opts.datadogTimeoutMs } : {}),
        logger: logger.child({ component: 'datadog', controller: component }),
        metrics: { onCall: (result) => metrics.datadogCalls.inc({ result }) },
        urlPolicy: { allowPlainHttp: opts.datadogAllowPlainHttp === true },
      }),
    events: new KubeEventRecorder(client, 'deployer', identity),
    // Passes wait on the API server and Datadog, not on CPU: as many as Argo Rollouts runs by default (--rollout-threads 10).
    concurrency: opts.concurrency ?? 10,
    resyncMs: opts.resyncMs ?? DEFAULT_RESYNC_MS,
  };
  const canary = canaryController({ ...shared, measurements: (onReady) => shared.measurements(onReady, 'canary'), ...(opts.notifier ? { notifier: opts.notifier } : {}), notificationDefaults: notifications.defaults, ...(hints ? { hints } : {}) }, runtime);
  const release = releaseController({ ...shared, measurements: (onReady) => shared.measurements(onReady, 'release'), notificationDefaults: notifications.defaults }, runtime);
  const controllers: Controller[] = [canary.controller, release.controller];
  const runner = canary.runner;

  // Delivery metrics; admission webhooks (every replica serves them; the leader keeps their configurations).
  const delivery = new DeliveryComponent({ client, informers, registry: metrics.registry, logger, isLeader, allowPlainHttp: opts.datadogAllowPlainHttp === true });
  const canaries = informers.for(CANARIES);
  const canaryExists = (ns: string, name: string): boolean | undefined => (canaries.hasSynced ? canaries.get(name, ns) !== undefined : undefined);
  const guardOf = (ns: string, deployment: string): FormerGuard | undefined => (canaries.hasSynced ? formerGuardOf(canaries.list(ns) as CanaryGuardLike[], deployment) : undefined);
  const admission = await AdmissionComponent.start({ kc, client, logger, metrics, webhook: opts.webhook, ...(opts.namespaces ? { namespaces: opts.namespaces } : {}), canaryExists, guardOf, isLeader });
  const webhookPort = admission.port;

  // The Datadog push endpoint: its own port, the admission webhook's serving certificate.
  let push: PushComponent | undefined;
  if (opts.push && hints) {
    push = await PushComponent.start({
      push: opts.push,
      client,
      logger,
      metrics,
      board: hints,
      canaries: () => canaries.list() as unknown as Canary[],
      monitorsSeen: (key, check) => runner.monitorsSeen(key, check),
      enqueue: (key) => canary.controller.enqueue(key),
      isLeader,
      certificate: admission.certificate,
    }).catch(async (err: unknown) => {
      await admission.stop();
      throw err;
    });
    const started = push;
    admission.onCertificate((cert) => started.setCertificate(cert.certPem, cert.keyPem));
  }

  let health: HealthServer | undefined;
  let healthPort: number | undefined;
  const readiness = (): Readiness => {
    const notReady = admission.notReadyReason();
    return notReady ? { ready: false, message: `not ready: ${notReady}` } : decideReadiness(informers.unsynced(), leadership.describe());
  };
  if (opts.health) {
    health = new HealthServer({ host: opts.health.host ?? '0.0.0.0', port: opts.health.port, ready: readiness, registry: metrics.registry });
    healthPort = await health.start();
  }
  let metricsServer: HealthServer | undefined;
  if (opts.metricsPort !== undefined && opts.metricsPort !== opts.health?.port) {
    metricsServer = new HealthServer({ host: opts.health?.host ?? '0.0.0.0', port: opts.metricsPort, ready: readiness, registry: metrics.registry });
    await metricsServer.start();
  }

  await informers.start();
  await informers.waitForSync();
  logger.info('Informers synced', { namespaces: opts.namespaces?.join(',') || 'all' });

  metrics.leader.set(leadership.isLeader() ? 1 : 0);
  leadership.subscribe((leading) => {
    metrics.leader.set(leading ? 1 : 0);
    if (leading) void admission.onStartedLeading();
    if (leading) delivery.onStartedLeading();
  });
  elector?.start();
  await Promise.all(controllers.map((c) => c.start()));
  notifications.start([canaryNotifyKind(informers.for(CANARIES), informers.for(GUARDED_DEPLOYMENTS)), releaseNotifyKind(informers.for(RELEASES))]);

  let stopped = false;
  return {
    metrics,
    webhookPort,
    ...(healthPort !== undefined ? { healthPort } : {}),
    ...(push ? { pushPort: push.port } : {}),
    runner,
    delivery,
    isLeader,
    async stop(): Promise<void> {
      if (stopped) return;
      stopped = true;
      reducer?.stop();
      logger.info('Stopping: finishing the passes in flight');
      await Promise.all(controllers.map((c) => c.stop()));
      await notifications.stop();
      await elector?.release();
      await push?.stop();
      metrics.leader.set(0);
      runner.close();
      release.runner.close();
      delivery.close();
      await Promise.all([admission.stop(), informers.stop(), health?.stop(), metricsServer?.stop()]);
      logger.info('Stopped');
    },
  };
}

async function electorFor(
  le: NonNullable<OperatorOptions['leaderElection']>,
  namespaces: string[] | undefined,
  client: RawClient,
  identity: string,
  logger: Logger,
): Promise<LeaderElector> {
  let namespace = le.namespace;
  if (!namespace) {
    const found = await leaseNamespaceFor(client);
    namespace = found.namespace;
    logger.info('Chose the namespace of the leader lease', { namespace, reason: found.why });
  }
  return new LeaderElector({
    lease: new KubeLeaseStore(client, namespace, le.name ?? leaseNameFor(namespaces)),
    identity,
    ...(le.leaseDurationMs ? { leaseDurationMs: le.leaseDurationMs } : {}),
    ...(le.renewDeadlineMs ? { renewDeadlineMs: le.renewDeadlineMs } : {}),
    ...(le.retryPeriodMs ? { retryPeriodMs: le.retryPeriodMs } : {}),
    logger,
  });
}

export function defaultKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  return kc;
}

const mib = (bytes: number): number => Math.round(bytes / 1024 / 102.4) / 10;
