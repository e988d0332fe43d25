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
import { certificateExpiresSoon, generateCertificates } from './webhook/certs.js';
import {
  ensureServingCertificate,
  ensureWebhookConfiguration,
  removeWebhookConfiguration,
  webhookConfigurationName,
  type ServingCertificate,
  type WebhookTarget,
} from './webhook/configuration.js';
import { WebhookServer } from './webhook/server.js';
import type { Notifier } from './notify/notifier.js';

export interface OperatorOptions {
  kubeconfig?: KubeConfig;
  /** Watch only these namespaces (default: all). */
  namespaces?: string[];
  webhook: {
    host?: string;
    port: number;
    /** How the apiserver reaches the webhook: a URL (out of cluster) or a Service (in cluster). */
    target: WebhookTarget | { urlFromPort: string };
    /** Secret (namespace/name) keeping the serving certificate; without it a certificate is made in memory. */
    secret?: { namespace: string; name: string };
    /** DNS names and IPs for the certificate (defaults from the target). */
    dnsNames?: string[];
    ipAddresses?: string[];
    failurePolicy?: 'Fail' | 'Ignore';
    /** Name of the MutatingWebhookConfiguration to keep (default: see webhookConfigurationName). */
    configurationName?: string;
  };
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
  /** Allow a Datadog Secret's url to use plain http to hosts other than loopback (--datadog-allow-http). */
  datadogAllowPlainHttp?: boolean;
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

  const operatorUser = await whoAmI(client).catch((err: unknown) => {
    logger.warn('Could not learn the operator user name (SelfSubjectReview)', { error: errorMessage(err) });
    return undefined;
  });

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
    urlPolicy: { allowPlainHttp: opts.datadogAllowPlainHttp === true },
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

  // Admission webhook: every replica serves it; it is a pure function of the request.
  const host = opts.webhook.host ?? '127.0.0.1';
  const target = opts.webhook.target;
  const dnsNames = opts.webhook.dnsNames ?? ('service' in target ? serviceDnsNames(target.service) : ['localhost']);
  const ipAddresses = opts.webhook.ipAddresses ?? ('service' in target ? [] : ['127.0.0.1']);
  /** The serving certificate: from the shared Secret (renewed there 30 days before expiry) or made in memory. */
  const loadCertificate = async (current?: ServingCertificate): Promise<ServingCertificate> => {
    if (opts.webhook.secret) return ensureServingCertificate(client, { ...opts.webhook.secret, dnsNames, ipAddresses });
    if (current && !certificateExpiresSoon(current.certPem, new Date(), 30)) return current;
    const c = await generateCertificates({ commonName: dnsNames[0] ?? 'localhost', dnsNames, ipAddresses });
    return { caPem: c.caCertPem, certPem: c.certPem, keyPem: c.keyPem };
  };
  let cert = await loadCertificate();
  const webhook = new WebhookServer({
    host,
    port: opts.webhook.port,
    certPem: cert.certPem,
    keyPem: cert.keyPem,
    logger: logger.child({ component: 'webhook' }),
    metrics,
    operatorUser: () => operatorUser,
  });
  const webhookPort = await webhook.start();
  const resolvedTarget: WebhookTarget = 'urlFromPort' in target ? { url: `https://${target.urlFromPort}:${webhookPort}` } : target;
  const configurationName = opts.webhook.configurationName ?? webhookConfigurationName(resolvedTarget, opts.namespaces);
  const configuration = (): Parameters<typeof ensureWebhookConfiguration>[1] => ({
    name: configurationName,
    target: resolvedTarget,
    caPem: cert.caPem,
    failurePolicy: opts.webhook.failurePolicy ?? 'Fail',
    ...(opts.namespaces?.length ? { namespaces: opts.namespaces } : {}),
  });
  const assertWebhook = async (): Promise<void> => {
    try {
      await ensureWebhookConfiguration(client, configuration());
    } catch (err) {
      logger.error('Could not update the webhook configuration', { error: errorMessage(err) });
    }
  };
  await ensureWebhookConfiguration(client, configuration());
  // Every replica reloads a renewed certificate; the leader keeps the configuration (URL,
  // caBundle) current, e.g. after a failover or a renewal.
  const webhookTimer = setInterval(() => {
    void loadCertificate(cert)
      .then((next) => {
        if (next.certPem !== cert.certPem) {
          cert = next;
          webhook.setCertificate(next.certPem, next.keyPem);
          logger.info('Loaded a renewed webhook certificate');
        }
      })
      .catch((err: unknown) => logger.error('Could not renew the webhook certificate', { error: errorMessage(err) }))
      .then(() => (isLeader() ? assertWebhook() : undefined));
  }, 60_000);
  webhookTimer.unref();
  logger.info('Serving admission webhook', { port: webhookPort, configuration: configurationName, target: 'url' in resolvedTarget ? resolvedTarget.url : `${resolvedTarget.service.namespace}/${resolvedTarget.service.name}` });

  await Promise.all([canaries.start(), deployments.start(), replicaSets.start()]);
  logger.info('Informers synced', { namespaces: opts.namespaces?.join(',') || 'all' });

  let health: HealthServer | undefined;
  let healthPort: number | undefined;
  if (opts.health) {
    health = new HealthServer({
      host: opts.health.host ?? '0.0.0.0',
      port: opts.health.port,
      ready: () => canaries.hasSynced && deployments.hasSynced && replicaSets.hasSynced,
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
        void assertWebhook().then(enqueueAll);
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
      clearInterval(webhookTimer);
      logger.info('Stopping: finishing the pass in flight');
      await queue.shutdown();
      await leader?.release();
      metrics.leader.set(0);
      runner.close();
      if ('url' in resolvedTarget) {
        // A local run leaves no configuration behind that would refuse updates while it is gone.
        await removeWebhookConfiguration(client, configurationName, resolvedTarget.url).catch((err: unknown) =>
          logger.warn('Could not remove the webhook configuration', { error: errorMessage(err) }),
        );
      }
      await Promise.all([canaries.stop(), deployments.stop(), replicaSets.stop(), webhook.stop(), health?.stop(), metricsServer?.stop()]);
      logger.info('Stopped');
    },
  };
}

function serviceDnsNames(s: { namespace: string; name: string }): string[] {
  return [`${s.name}.${s.namespace}.svc`, `${s.name}.${s.namespace}.svc.cluster.local`, `${s.name}.${s.namespace}`, s.name];
}

export function defaultKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  return kc;
}

async function whoAmI(client: RawClient): Promise<string | undefined> {
  const review = await client.create<{ status?: { userInfo?: { username?: string } } }>('/apis/authentication.k8s.io/v1/selfsubjectreviews', {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'SelfSubjectReview',
  });
  return review.status?.userInfo?.username;
}
