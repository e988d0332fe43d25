// Keeps the webhook's serving certificate (in a Secret shared by all replicas) and the
// MutatingWebhookConfiguration (with its caBundle) current.
import { LABELS } from '../api/constants.js';
import { isAlreadyExists, isConflict, isNotFound } from '../kube/errors.js';
import { PATCH, paths, type RawClient } from '../kube/raw-client.js';
import { certificateExpiresSoon, generateCertificates } from './certs.js';
import { MUTATE_PATH } from './server.js';

import { createHash } from 'node:crypto';

/** The in-cluster install's configuration (deploy/webhook.yaml). */
export const WEBHOOK_CONFIGURATION_NAME = 'deployer';
export const WEBHOOK_NAME = 'deployments.deployer.dev';

/**
 * The configuration an operator owns. In the cluster (a Service target) it is the install's
 * `deployer`. Run outside the cluster (a URL target) it is a separate object, so a local run
 * never rewrites the install's configuration (a URL and a Service cannot be merged into one
 * clientConfig), and a run that watches some namespaces gets one of its own, limited to them,
 * so two local operators for different namespaces never call each other's webhook.
 */
export function webhookConfigurationName(target: WebhookTarget, namespaces?: readonly string[]): string {
  if ('service' in target) return WEBHOOK_CONFIGURATION_NAME;
  if (!namespaces?.length) return `${WEBHOOK_CONFIGURATION_NAME}-local`;
  const hash = createHash('sha256').update([...namespaces].sort().join(',')).digest('hex').slice(0, 10);
  return `${WEBHOOK_CONFIGURATION_NAME}-local-${hash}`;
}

export interface WebhookConfigurationOptions {
  name: string;
  target: WebhookTarget;
  caPem: string;
  failurePolicy?: 'Fail' | 'Ignore';
  /** Only Deployments in these namespaces are sent to the webhook (default: all). */
  namespaces?: readonly string[];
}

export interface ServingCertificate {
  caPem: string;
  certPem: string;
  keyPem: string;
}

export type WebhookTarget = { url: string } | { service: { namespace: string; name: string; port?: number } };

interface SecretObject {
  metadata: { name: string; namespace: string; resourceVersion?: string };
  data?: Record<string, string>;
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const unb64 = (s: string | undefined): string => Buffer.from(s ?? '', 'base64').toString('utf8');

/** Reads the certificate from the Secret, or makes a new one when missing or expiring within 30 days. */
export async function ensureServingCertificate(
  client: RawClient,
  opts: { namespace: string; name: string; dnsNames: string[]; ipAddresses: string[]; now?: Date },
): Promise<ServingCertificate> {
  const now = opts.now ?? new Date();
  let existing: SecretObject | undefined;
  try {
    existing = await client.get<SecretObject>(paths.secret(opts.namespace, opts.name));
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  const current = existing?.data
    ? { caPem: unb64(existing.data['ca.crt']), certPem: unb64(existing.data['tls.crt']), keyPem: unb64(existing.data['tls.key']) }
    : undefined;
  if (current?.certPem && current.keyPem && current.caPem && !certificateExpiresSoon(current.certPem, now, 30)) return current;

  const made = await generateCertificates({ commonName: opts.dnsNames[0] ?? 'deployer-webhook', dnsNames: opts.dnsNames, ipAddresses: opts.ipAddresses, validityDays: 365 });
  const cert = { caPem: made.caCertPem, certPem: made.certPem, keyPem: made.keyPem };
  const body = {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/tls',
    metadata: { name: opts.name, namespace: opts.namespace, labels: { 'app.kubernetes.io/name': 'deployer' }, ...(existing ? { resourceVersion: existing.metadata.resourceVersion } : {}) },
    data: { 'ca.crt': b64(cert.caPem), 'tls.crt': b64(cert.certPem), 'tls.key': b64(cert.keyPem) },
  };
  try {
    if (existing) await client.update(paths.secret(opts.namespace, opts.name), body);
    else await client.create(paths.secrets(opts.namespace), body);
    return cert;
  } catch (err) {
    // Another replica wrote it first: use theirs.
    if (isAlreadyExists(err) || isConflict(err)) return ensureServingCertificate(client, opts);
    throw err;
  }
}

export function webhookConfiguration(o: WebhookConfigurationOptions): Record<string, unknown> {
  const { target, caPem } = o;
  const clientConfig =
    'url' in target
      ? { url: target.url.replace(/\/$/, '') + MUTATE_PATH, caBundle: b64(caPem) }
      : { service: { namespace: target.service.namespace, name: target.service.name, port: target.service.port ?? 443, path: MUTATE_PATH }, caBundle: b64(caPem) };
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: o.name, labels: { 'app.kubernetes.io/name': 'deployer' } },
    webhooks: [
      {
        name: WEBHOOK_NAME,
        clientConfig,
        rules: [{ apiGroups: ['apps'], apiVersions: ['v1'], resources: ['deployments'], operations: ['CREATE', 'UPDATE'], scope: 'Namespaced' }],
        objectSelector: { matchExpressions: [{ key: LABELS.canary, operator: 'Exists' }] },
        ...(o.namespaces?.length
          ? { namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: [...o.namespaces].sort() }] } }
          : {}),
        failurePolicy: o.failurePolicy ?? 'Fail',
        matchPolicy: 'Equivalent',
        sideEffects: 'None',
        admissionReviewVersions: ['v1'],
        timeoutSeconds: 5,
        reinvocationPolicy: 'IfNeeded',
      },
    ],
  };
}

/** Server-side apply of the whole configuration (the operator owns it). */
export async function ensureWebhookConfiguration(client: RawClient, o: WebhookConfigurationOptions): Promise<void> {
  await client.patch(paths.mutatingWebhook(o.name), webhookConfiguration(o), PATCH.apply, { force: true });
}

/** Removes a configuration this operator made for itself (out of the cluster), if it still points at it. */
export async function removeWebhookConfiguration(client: RawClient, name: string, url: string): Promise<void> {
  try {
    const current = await client.get<{ metadata: { uid?: string }; webhooks?: Array<{ clientConfig?: { url?: string } }> }>(paths.mutatingWebhook(name));
    if (!current.webhooks?.some((w) => w.clientConfig?.url?.startsWith(url.replace(/\/$/, '')))) return;
    await client.delete(paths.mutatingWebhook(name), { kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { uid: current.metadata.uid } });
  } catch (err) {
    if (!isNotFound(err) && !isConflict(err)) throw err;
  }
}
