// Wires the operator: informers, work queue, reconciler, admission webhook, leader election,
// health and metrics. `startOperator` is what `npm start` runs and what tests run in-process.
import { KubeConfig } from '@kubernetes/client-node';
import { hostname } from 'node:os';
import { LABELS } from './api/constants.js';
import type { Canary } from './api/types.js';
import { MeasurementRunner } from './analysis/runner.js';
import { CanaryReconciler } from './canary/reconciler.js';
import { canaryKey, SecretCache } from './canary/observe.js';
import { KubeEventRecorder } from './kube/events.js';
import { errorMessage } from './kube/errors.js';
import { paths, RawClient, type KubeObject } from './kube/raw-client.js';
import { HealthServer } from './runtime/health-server.js';
import { Informer, InformerGroup } from './runtime/informer.js';
import { LeaderElector } from './runtime/leader-election.js';
import { createLogger, type Logger } from './runtime/logger.js';
import { OperatorMetrics } from './runtime/metrics.js';
import { WorkQueue } from './runtime/workqueue.js';
import { AdmissionComponent, type AdmissionWebhookOptions } from './webhook/admission-component.js';
import type { Notifier } from './notify/notifier.js';

export interface OperatorOptions {
  kubeconfig?: KubeConfig;
  /** Watch only these namespaces (default: all). */
  namespaces?: string[];
  webhook: AdmissionWebhookOptions;
  health?: { host?: string; port: number };
  /** A separate port for /metrics (the health port serves it too). */
  metricsPort?: number;
  leaderElection?: { namespace: string; name?: string; identity?: string; leaseDurationMs?: number; renewDeadlineMs?: number; retryPeriodMs?: number };
  logger?: Logger;
  concurrency?: number;
  resyncMs?: number;
  datadogTimeoutMs?: number;
  /** Where transitions are announced besides Events (default: nowhere). */
  notifier?: Notifier;
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
  const queue = new WorkQueue({ concurrency: opts.concurrency ?? 4 });
  const resyncMs = opts.resyncMs ?? 5 * 60_000;

  const enqueue = (key: string): void => {
    queue.add(key);
    metrics.queueDepth.set({ controller: 'canary' }, queue.length);
  };
  const canaries = new InformerGroup(opts.namespaces, (ns) =>
    new Informer({
      kc,
      client,
      path: paths.canaries(ns),
      resource: 'canaries',
      logger,
      resyncMs,
      onChange: (o) => enqueue(canaryKey(o as { metadata: { namespace?: string; name: string } })),
      onDelete: () => undefined,
      onRestart: () => metrics.watchRestarts.inc({ resource: 'canaries' }),
    }),
  );
  const enqueueForDeployment = (d: KubeObject): void => {
    const ns = d.metadata.namespace ?? '';
    const guard = d.metadata.labels?.[LABELS.canary];
    if (guard) enqueue(`${ns}/${guard}`);
    for (const c of canaries.list(ns)) {
      if ((c as unknown as Canary).spec?.targetRef?.name === d.metadata.name && c.metadata.name !== guard) enqueue(canaryKey(c as { metadata: { namespace?: string; name: string } }));
    }
  };
  const deployments = new InformerGroup(opts.namespaces, (ns) =>
    new Informer({
      kc,
      client,
      path: paths.deployments(ns),
      resource: 'deployments',
      logger,
      onChange: enqueueForDeployment,
      onDelete: enqueueForDeployment,
      onRestart: () => metrics.watchRestarts.inc({ resource: 'deployments' }),
    }),
  );
  const enqueueForReplicaSet = (rs: KubeObject): void => {
    const owner = rs.metadata.labels?.[LABELS.canaryOf];
    if (owner) enqueue(`${rs.metadata.namespace}/${owner}`);
  };
  const replicaSets = new InformerGroup(opts.namespaces, (ns) =>
    new Informer({
      kc,
      client,
      path: paths.replicaSets(ns),
      labelSelector: LABELS.canaryOf,
      resource: 'replicasets',
      logger,
      onChange: enqueueForReplicaSet,
      onDelete: enqueueForReplicaSet,
      onRestart: () => metrics.watchRestarts.inc({ resource: 'replicasets' }),
    }),
  );

  const runner = new MeasurementRunner({
    onReady: enqueue,
    ...(opts.datadogTimeoutMs ? { timeoutMs: opts.datadogTimeoutMs } : {}),
    logger: logger.child({ component: 'datadog' }),
    metrics: { onCall: (result) => metrics.datadogCalls.inc({ result }) },
  });

  let leader: LeaderElector | undefined;
  const isLeader = (): boolean => (leader ? leader.isLeader() : true);
  const reconciler = new CanaryReconciler({
    client,
    canaries,
    deployments,
    replicaSets,
    secrets: new SecretCache(client),
    measurements: runner,
    events: new KubeEventRecorder(client, 'deployer', identity),
    ...(opts.notifier ? { notifier: opts.notifier } : {}),
    logger,
    metrics,
    mayAct: isLeader,
  });

  const handle = async (key: string): Promise<void> => {
    metrics.queueDepth.set({ controller: 'canary' }, queue.length);
    if (!isLeader()) return;
    const end = metrics.reconcileDuration.startTimer({ controller: 'canary' });
    try {
      const r = await reconciler.reconcile(key);
      if (r.conflict) {
        metrics.reconciles.inc({ controller: 'canary', result: 'conflict' });
        const delay = queue.addRateLimited(key);
        if (queue.numRequeues(key) > 5) logger.warn('Write conflicts keep recurring', { canary: key, retryInMs: delay });
        return;
      }
      metrics.reconciles.inc({ controller: 'canary', result: 'ok' });
      queue.forget(key);
      if (r.requeueAfterMs !== undefined) queue.addAfter(key, Math.max(r.requeueAfterMs, 50));
    } catch (err) {
      metrics.reconciles.inc({ controller: 'canary', result: 'error' });
      const delay = queue.addRateLimited(key);
      logger.error('Reconcile failed', { canary: key, error: errorMessage(err), retryInMs: delay, attempts: queue.numRequeues(key) });
    } finally {
      end();
    }
  };

  // Admission webhooks: every replica serves them; the leader keeps their configurations.
  const canaryExists = (ns: string, name: string): boolean | undefined => (canaries.hasSynced ? canaries.get(name, ns) !== undefined : undefined);
  const admission = await AdmissionComponent.start({ kc, client, logger, metrics, webhook: opts.webhook, ...(opts.namespaces ? { namespaces: opts.namespaces } : {}), canaryExists, isLeader });
  const webhookPort = admission.port;

  await Promise.all([canaries.start(), deployments.start(), replicaSets.start()]);
  logger.info('Informers synced', { namespaces: opts.namespaces?.join(',') || 'all' });

  let health: HealthServer | undefined;
  let healthPort: number | undefined;
  if (opts.health) {
    health = new HealthServer({
      host: opts.health.host ?? '0.0.0.0',
      port: opts.health.port,
      ready: () => canaries.hasSynced && deployments.hasSynced && replicaSets.hasSynced && admission.ready(),
      registry: metrics.registry,
    });
    healthPort = await health.start();
  }
  let metricsServer: HealthServer | undefined;
  if (opts.metricsPort !== undefined && opts.metricsPort !== opts.health?.port) {
    metricsServer = new HealthServer({ host: opts.health?.host ?? '0.0.0.0', port: opts.metricsPort, ready: () => true, registry: metrics.registry });
    await metricsServer.start();
  }

  const enqueueAll = (): void => canaries.list().forEach((c) => enqueue(canaryKey(c as { metadata: { namespace?: string; name: string } })));
  queue.start(handle);
  if (opts.leaderElection) {
    leader = new LeaderElector({
      client,
      namespace: opts.leaderElection.namespace,
      name: opts.leaderElection.name ?? 'deployer',
      identity,
      ...(opts.leaderElection.leaseDurationMs ? { leaseDurationMs: opts.leaderElection.leaseDurationMs } : {}),
      ...(opts.leaderElection.renewDeadlineMs ? { renewDeadlineMs: opts.leaderElection.renewDeadlineMs } : {}),
      ...(opts.leaderElection.retryPeriodMs ? { retryPeriodMs: opts.leaderElection.retryPeriodMs } : {}),
      logger,
      onStartedLeading: () => {
        metrics.leader.set(1);
        void admission.onStartedLeading().then(enqueueAll);
      },
      onStoppedLeading: () => metrics.leader.set(0),
    });
    leader.start();
  } else {
    metrics.leader.set(1);
    enqueueAll();
  }

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
      logger.info('Stopping: finishing the pass in flight');
      await queue.shutdown();
      await leader?.release();
      metrics.leader.set(0);
      runner.close();
      await Promise.all([admission.stop(), canaries.stop(), deployments.stop(), replicaSets.stop(), health?.stop(), metricsServer?.stop()]);
      logger.info('Stopped');
    },
  };
}

export function defaultKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  return kc;
}
