// The operator: builds the shared parts (API client, informers, leadership, metrics, health),
// declares its controllers, serves the admission webhook and starts everything.
// `startOperator` is what `npm start` runs and what tests run in-process.
import { KubeConfig } from '@kubernetes/client-node';
import { hostname } from 'node:os';
import { MeasurementRunner } from './analysis/runner.js';
import { CANARIES, canaryController } from './canary/controller.js';
import { KubeEventRecorder } from './kube/events.js';
import { RawClient } from './kube/raw-client.js';
import type { Controller } from './runtime/controller.js';
import { HealthServer, type Readiness } from './runtime/health-server.js';
import { KubeLeaseStore, LeaderElector } from './runtime/leader-election.js';
import { alwaysLeader, type Leadership } from './runtime/leadership.js';
import { leaseNameFor, leaseNamespaceFor } from './runtime/lease-location.js';
import { createLogger, type Logger } from './runtime/logger.js';
import { OperatorMetrics } from './runtime/metrics.js';
import { decideReadiness } from './runtime/readiness.js';
import { SharedInformers } from './runtime/shared-informers.js';
import { AdmissionComponent, type AdmissionWebhookOptions } from './webhook/admission-component.js';
import type { Notifier } from './notify/notifier.js';
import { GUARDED_DEPLOYMENTS } from './canary/controller.js';
import { canaryNotifyKind } from './canary/notify-kind.js';
import { DefaultSinks } from './notify/defaults.js';
import type { BackoffPolicy } from './notify/ledger.js';
import { notificationMetrics } from './notify/metrics.js';
import { NotificationSender } from './notify/sender.js';

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
  resyncMs?: number;
  datadogTimeoutMs?: number;
  /** Where transitions are announced besides Events (default: nowhere). */
  notifier?: Notifier;
  /** Allow a Datadog Secret's url to use plain http to hosts other than loopback (--datadog-allow-http). */
  datadogAllowPlainHttp?: boolean;
  /** Notification delivery (the ledger in each Canary's status; only the leader sends). */
  notifications?: NotificationOptions;
}

export interface NotificationOptions {
  /** A Secret in the operator's namespace with operator-wide sinks (--notifications-config). */
  configSecret?: string;
  /** The operator's namespace (default: POD_NAMESPACE, else that of the leader lease lookup). */
  namespace?: string;
  /** Slack Web API base URL (default https://slack.com/api). */
  slackApiUrl?: string;
  backoff?: BackoffPolicy;
  timeoutMs?: number;
  pollMs?: number;
}

export interface OperatorHandle {
  readonly metrics: OperatorMetrics;
  readonly webhookPort: number;
  readonly healthPort?: number;
  readonly runner: MeasurementRunner;
  isLeader(): boolean;
  /** Graceful stop: no new work, the pass in flight finishes, the lease is released. */
  stop(): Promise<void>;
}

export async function startOperator(opts: OperatorOptions): Promise<OperatorHandle> {
  const kc = opts.kubeconfig ?? defaultKubeConfig();
  const client = new RawClient(kc);
  const logger = opts.logger ?? createLogger();
  const metrics = new OperatorMetrics({ defaultMetrics: true });
  const identity = opts.leaderElection?.identity ?? `${hostname()}-${process.pid}`;

  // Shared parts: informers, leadership.
  const informers = new SharedInformers({ kc, client, logger, metrics, ...(opts.namespaces ? { namespaces: opts.namespaces } : {}) });
  metrics.observeInformers(() => informers.sizes());
  const elector = opts.leaderElection ? await electorFor(opts.leaderElection, opts.namespaces, client, identity, logger) : undefined;
  const leadership: Leadership = elector ?? alwaysLeader;
  const isLeader = (): boolean => leadership.isLeader();

  // Notifications: operator-wide sinks, read from a Secret in the operator's namespace.
  const notifyNamespace = opts.notifications?.namespace ?? opts.leaderElection?.namespace ?? (await leaseNamespaceFor(client)).namespace;
  const defaultSinks = opts.notifications?.configSecret
    ? new DefaultSinks({ client, namespace: notifyNamespace, name: opts.notifications.configSecret, logger: logger.child({ component: 'notifications' }) })
    : undefined;
  await defaultSinks?.start();
  const notificationDefaults = (): ReturnType<DefaultSinks['current']> => defaultSinks?.current() ?? [];

  // The controllers.
  const canary = canaryController(
    {
      client,
      informers,
      measurements: (onReady) =>
        new MeasurementRunner({
          onReady,
          ...(opts.datadogTimeoutMs ? { timeoutMs: opts.datadogTimeoutMs } : {}),
          logger: logger.child({ component: 'datadog' }),
          metrics: { onCall: (result) => metrics.datadogCalls.inc({ result }) },
          urlPolicy: { allowPlainHttp: opts.datadogAllowPlainHttp === true },
        }),
      events: new KubeEventRecorder(client, 'deployer', identity),
      ...(opts.notifier ? { notifier: opts.notifier } : {}),
      notificationDefaults,
      concurrency: opts.concurrency ?? 4,
      resyncMs: opts.resyncMs ?? 5 * 60_000,
    },
    { logger, metrics, leadership },
  );
  const controllers: Controller[] = [canary.controller];
  const runner = canary.runner;

  // Admission webhooks: every replica serves them; the leader keeps their configurations.
  const canaries = informers.for(CANARIES);
  const canaryExists = (ns: string, name: string): boolean | undefined => (canaries.hasSynced ? canaries.get(name, ns) !== undefined : undefined);
  const admission = await AdmissionComponent.start({ kc, client, logger, metrics, webhook: opts.webhook, ...(opts.namespaces ? { namespaces: opts.namespaces } : {}), canaryExists, isLeader });
  const webhookPort = admission.port;

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
  });
  elector?.start();
  await Promise.all(controllers.map((c) => c.start()));
  // The sender delivers what the ledgers hold, beside the controllers (never inside a pass); only the leader sends.
  const sender = new NotificationSender({
    client,
    kinds: [canaryNotifyKind(informers.for(CANARIES), informers.for(GUARDED_DEPLOYMENTS))],
    leadership,
    logger: logger.child({ component: 'notifications' }),
    metrics: notificationMetrics(metrics.registry),
    defaults: notificationDefaults,
    operatorNamespace: notifyNamespace,
    datadogUrlPolicy: { allowPlainHttp: opts.datadogAllowPlainHttp === true },
    ...(opts.notifications?.slackApiUrl ? { slackApiUrl: opts.notifications.slackApiUrl } : {}),
    ...(opts.notifications?.backoff ? { backoff: opts.notifications.backoff } : {}),
    ...(opts.notifications?.timeoutMs ? { timeoutMs: opts.notifications.timeoutMs } : {}),
    ...(opts.notifications?.pollMs ? { pollMs: opts.notifications.pollMs } : {}),
  });
  sender.start();

  let stopped = false;
  return {
    metrics,
    webhookPort,
    ...(healthPort !== undefined ? { healthPort } : {}),
    runner,
    isLeader,
    async stop(): Promise<void> {
      if (stopped) return;
      stopped = true;
      logger.info('Stopping: finishing the passes in flight');
      await Promise.all(controllers.map((c) => c.stop()));
      await sender.stop();
      defaultSinks?.stop();
      await elector?.release();
      metrics.leader.set(0);
      runner.close();
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
