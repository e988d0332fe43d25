// The operator: builds the shared parts (API client, informers, leadership, metrics, health),
// declares its controllers, serves the admission webhook and starts everything.
// `startOperator` is what `npm start` runs and what tests run in-process.
import { KubeConfig } from '@kubernetes/client-node';
import { hostname } from 'node:os';
import { MeasurementRunner } from './analysis/runner.js';
import { canaryController } from './canary/controller.js';
import { KubeEventRecorder } from './kube/events.js';
import { errorMessage } from './kube/errors.js';
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

  const operatorUser = await whoAmI(client).catch((err: unknown) => {
    logger.warn('Could not learn the operator user name (SelfSubjectReview)', { error: errorMessage(err) });
    return undefined;
  });

  // Shared parts: informers, leadership.
  const informers = new SharedInformers({ kc, client, logger, metrics, ...(opts.namespaces ? { namespaces: opts.namespaces } : {}) });
  metrics.observeInformers(() => informers.sizes());
  const elector = opts.leaderElection ? await electorFor(opts.leaderElection, opts.namespaces, client, identity, logger) : undefined;
  const leadership: Leadership = elector ?? alwaysLeader;
  const isLeader = (): boolean => leadership.isLeader();

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
      concurrency: opts.concurrency ?? 4,
      resyncMs: opts.resyncMs ?? 5 * 60_000,
    },
    { logger, metrics, leadership },
  );
  const controllers: Controller[] = [canary.controller];
  const runner = canary.runner;

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
  let health: HealthServer | undefined;
  let healthPort: number | undefined;
  const readiness = (): Readiness => decideReadiness(informers.unsynced(), leadership.describe());
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
    if (leading) void assertWebhook();
  });
  elector?.start();
  await Promise.all(controllers.map((c) => c.start()));

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
      logger.info('Stopping: finishing the passes in flight');
      await Promise.all(controllers.map((c) => c.stop()));
      await elector?.release();
      metrics.leader.set(0);
      runner.close();
      if ('url' in resolvedTarget) {
        // A local run leaves no configuration behind that would refuse updates while it is gone.
        await removeWebhookConfiguration(client, configurationName, resolvedTarget.url).catch((err: unknown) =>
          logger.warn('Could not remove the webhook configuration', { error: errorMessage(err) }),
        );
      }
      await Promise.all([informers.stop(), webhook.stop(), health?.stop(), metricsServer?.stop()]);
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
