// The operator's admission side as one component: the HTTPS server (every replica serves it),
// the serving certificate (shared through a Secret, rotated without an outage), the webhook
// configurations (kept by the leader), and the operator's own identity (its writes skip the
// webhooks through matchConditions).
import type { KubeConfig } from '@kubernetes/client-node';
import { errorMessage, isNotFound } from '../kube/errors.js';
import { paths, type RawClient } from '../kube/raw-client.js';
import type { Logger } from '../runtime/logger.js';
import type { OperatorMetrics } from '../runtime/metrics.js';
import {
  ensureServingCertificate,
  MemoryCertificateStore,
  SecretCertificateStore,
  type CertificateStore,
  type ServingCertificate,
} from './certificate-rotation.js';
import { ensureWebhookConfiguration, removeWebhookConfiguration, webhookConfigurationName, type WebhookConfigurationOptions, type WebhookTarget } from './configuration.js';
import type { FormerGuard } from './admission.js';
import { revisionOf, type PodTemplate } from '../canary/revision.js';
import { OperatorIdentity } from './identity.js';
import { WebhookServer } from './server.js';

export interface AdmissionWebhookOptions {
  host?: string;
  port: number;
  /** How the apiserver reaches the webhook: a URL (out of cluster) or a Service (in cluster). */
  target: WebhookTarget | { urlFromPort: string };
  /** Secret (namespace/name) keeping the certificate; required in the cluster, where replicas share it. */
  secret?: { namespace: string; name: string };
  /** DNS names and IPs for the certificate (defaults from the target). */
  dnsNames?: string[];
  ipAddresses?: string[];
  failurePolicy?: 'Fail' | 'Ignore';
  /** Name of the webhook configurations to keep (default: see webhookConfigurationName). */
  configurationName?: string;
  /** How long a stopping replica keeps answering (default: 5 s in the cluster, 0 outside). */
  drainMs?: number;
  /** How often the certificate and configurations are checked (default 60 s). */
  refreshMs?: number;
}

export interface AdmissionComponentOptions {
  kc: KubeConfig;
  client: RawClient;
  logger: Logger;
  metrics: OperatorMetrics;
  webhook: AdmissionWebhookOptions;
  namespaces?: string[];
  /** From the operator's Canary informer: true/false, or undefined while it cannot tell. */
  canaryExists: (namespace: string, name: string) => boolean | undefined;
  /** From the operator's Canary informer: the Canary that verified a revision of a Deployment of this name. */
  guardOf?: (namespace: string, deployment: string) => FormerGuard | undefined;
  isLeader: () => boolean;
}

export class AdmissionConfigurationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AdmissionConfigurationError';
  }
}

export class AdmissionComponent {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly certificateListeners: Array<(cert: ServingCertificate) => void> = [];

  private constructor(
    private readonly o: AdmissionComponentOptions,
    private readonly server: WebhookServer,
    private readonly store: CertificateStore,
    private readonly identity: OperatorIdentity,
    private cert: ServingCertificate,
    readonly port: number,
    readonly target: WebhookTarget,
    readonly configurationName: string,
    private readonly subject: { commonName: string; dnsNames: string[]; ipAddresses: string[] },
  ) {}

  static async start(o: AdmissionComponentOptions): Promise<AdmissionComponent> {
    const { client, logger } = o;
    const target = o.webhook.target;
    if ('service' in target && !o.webhook.secret) {
      throw new AdmissionConfigurationError(
        'in the cluster (--webhook-service) the webhook certificate must be shared by all replicas: set --webhook-secret=<namespace>/<name> (deploy/ uses deployer-system/deployer-webhook-tls); without it each replica would make its own CA and the apiserver would trust only one of them',
      );
    }
    const dnsNames = o.webhook.dnsNames ?? ('service' in target ? serviceDnsNames(target.service) : ['localhost']);
    const ipAddresses = o.webhook.ipAddresses ?? ('service' in target ? [] : ['127.0.0.1']);
    const subject = { commonName: dnsNames[0] ?? 'deployer-webhook', dnsNames, ipAddresses };
    const store: CertificateStore = o.webhook.secret ? new SecretCertificateStore(client, o.webhook.secret) : new MemoryCertificateStore();

    let component: AdmissionComponent | undefined;
    const identity = new OperatorIdentity({
      kc: o.kc,
      client,
      logger: logger.child({ component: 'webhook' }),
      // Learned late: exempt the operator's writes from now on.
      onKnown: () => void component?.assertConfiguration(),
    });
    await identity.start();

    // In the cluster the configurations' names and Service are known before the server listens, so a
    // certificate of a new CA is published before it is stored; outside, the URL (port) is known only
    // once the server listens, and nothing can call a configuration that does not exist yet.
    const publishFirst =
      'service' in target
        ? (ca: string): Promise<void> =>
            ensureWebhookConfiguration(client, configurationOptions(o, target, o.webhook.configurationName ?? webhookConfigurationName(target, o.namespaces), identity.current, ca))
        : async (): Promise<void> => undefined;
    const cert = await ensureServingCertificate(store, { ...subject, publish: publishFirst }).catch((err: unknown) => {
      identity.stop();
      throw err;
    });
    const server = new WebhookServer({
      host: o.webhook.host ?? '127.0.0.1',
      port: o.webhook.port,
      certPem: cert.certPem,
      keyPem: cert.keyPem,
      logger: logger.child({ component: 'webhook' }),
      metrics: o.metrics,
      operatorUser: () => identity.current,
      canaryExists: (ns, name) => component?.canaryExists(ns, name),
      ...(o.guardOf ? { guardOf: o.guardOf } : {}),
      stableSurvives: (ns, matchLabels, revision) => stableReplicaSetSurvives(client, ns, matchLabels, revision),
      authorize: async (review) => {
        const r = await client.create<{ status?: { allowed?: boolean } }>('/apis/authorization.k8s.io/v1/subjectaccessreviews', review);
        return r.status?.allowed === true;
      },
    });
    const port = await server.start();
    const resolved: WebhookTarget = 'urlFromPort' in target ? { url: `https://${target.urlFromPort}:${port}` } : target;
    const name = o.webhook.configurationName ?? webhookConfigurationName(resolved, o.namespaces);
    component = new AdmissionComponent(o, server, store, identity, cert, port, resolved, name, subject);
    try {
      await ensureWebhookConfiguration(client, component.configuration(cert.caPem));
    } catch (err) {
      identity.stop();
      await server.stop();
      throw err;
    }
    component.startTimer();
    logger.info('Serving admission webhook', {
      port,
      configuration: name,
      target: 'url' in resolved ? resolved.url : `${resolved.service.namespace}/${resolved.service.name}`,
      operatorUser: identity.current,
    });
    return component;
  }

  /** The serving certificate in force (other HTTPS endpoints of the operator serve it too). */
  get certificate(): ServingCertificate {
    return this.cert;
  }

  /** Called with each renewed certificate. */
  onCertificate(listener: (cert: ServingCertificate) => void): void {
    this.certificateListeners.push(listener);
  }

  /** Ready once the operator knows who it is (its own writes must skip the webhooks). */
  ready(): boolean {
    return this.identity.current !== undefined;
  }

  /** Why it is not ready, for /readyz; undefined when it is. */
  notReadyReason(): string | undefined {
    return this.identity.unknownBecause;
  }

  /** The new leader makes sure the configurations point at the webhook with the current CAs. */
  async onStartedLeading(): Promise<void> {
    await this.assertConfiguration();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.identity.stop();
    if ('url' in this.target) {
      // A local run leaves no configuration behind that would refuse updates while it is gone.
      await removeWebhookConfiguration(this.o.client, this.configurationName, this.target.url).catch((err: unknown) =>
        this.o.logger.warn('Could not remove the webhook configuration', { error: errorMessage(err) }),
      );
    }
    await this.server.stop(this.o.webhook.drainMs ?? ('service' in this.target ? 5_000 : 0));
  }

  /** Renews the certificate when due (publishing a new CA first), reloads what the Secret holds. */
  async refresh(now?: Date): Promise<void> {
    const next = await ensureServingCertificate(this.store, {
      ...this.subject,
      ...(now ? { now } : {}),
      publish: (ca) => ensureWebhookConfiguration(this.o.client, this.configuration(ca)),
    });
    if (next.certPem !== this.cert.certPem) {
      this.server.setCertificate(next.certPem, next.keyPem);
      for (const listener of this.certificateListeners) listener(next);
      this.o.logger.info('Loaded a renewed webhook certificate');
    }
    this.cert = next;
  }

  private configuration(caPem: string): WebhookConfigurationOptions {
    return configurationOptions(this.o, this.target, this.configurationName, this.identity.current, caPem);
  }

  private async assertConfiguration(): Promise<void> {
    if (this.stopped) return;
    try {
      await ensureWebhookConfiguration(this.o.client, this.configuration(this.cert.caPem));
    } catch (err) {
      this.o.logger.error('Could not update the webhook configuration', { error: errorMessage(err) });
    }
  }

  private startTimer(): void {
    // Every replica reloads a renewed certificate; the leader keeps the configurations current,
    // e.g. after a failover or a renewal.
    this.timer = setInterval(() => {
      void this.refresh()
        .catch((err: unknown) => this.o.logger.error('Could not renew the webhook certificate', { error: errorMessage(err) }))
        .then(() => (this.o.isLeader() ? this.assertConfiguration() : undefined));
    }, this.o.webhook.refreshMs ?? 60_000);
    this.timer.unref();
  }

  /** The cache's answer; a Canary the cache does not show is confirmed absent by a live read. */
  private async canaryExists(namespace: string, name: string): Promise<boolean | undefined> {
    if (this.o.namespaces?.length && !this.o.namespaces.includes(namespace)) return undefined;
    const cached = this.o.canaryExists(namespace, name);
    if (cached !== false) return cached;
    try {
      await this.o.client.get(paths.canary(namespace, name));
      return true;
    } catch (err) {
      return isNotFound(err) ? false : undefined;
    }
  }
}

function configurationOptions(o: AdmissionComponentOptions, target: WebhookTarget, name: string, user: string | undefined, caPem: string): WebhookConfigurationOptions {
  return {
    name,
    target,
    caPem,
    failurePolicy: o.webhook.failurePolicy ?? 'Fail',
    ...(o.namespaces?.length ? { namespaces: o.namespaces } : {}),
    ...(user ? { operatorUser: user } : {}),
  };
}

function serviceDnsNames(s: { namespace: string; name: string }): string[] {
  return [`${s.name}.${s.namespace}.svc`, `${s.name}.${s.namespace}.svc.cluster.local`, `${s.name}.${s.namespace}`, s.name];
}

/**
 * Whether a ReplicaSet of `revision` matching the selector survives a Deployment's deletion for a
 * new Deployment to adopt: no controller, not being deleted, with replicas (a live read, bounded
 * by the webhook's own deadline).
 */
export async function stableReplicaSetSurvives(client: RawClient, namespace: string, matchLabels: Record<string, string>, revision: string): Promise<boolean> {
  const labelSelector = Object.entries(matchLabels).map(([k, v]) => `${k}=${v}`).join(',');
  const list = await client.list<{ metadata: { ownerReferences?: Array<{ controller?: boolean }>; deletionTimestamp?: string }; spec?: { replicas?: number; template?: PodTemplate } }>(
    paths.replicaSets(namespace),
    { labelSelector },
    AbortSignal.timeout(1_000),
  );
  return list.items.some(
    (rs) => !rs.metadata.deletionTimestamp && !(rs.metadata.ownerReferences ?? []).some((r) => r.controller === true) && (rs.spec?.replicas ?? 0) > 0 && revisionOf(rs.spec?.template) === revision,
  );
}
