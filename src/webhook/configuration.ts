// Keeps the webhook's serving certificate (in a Secret shared by all replicas) and the
// MutatingWebhookConfiguration (with its caBundle) current.
import { LABELS } from '../api/constants.js';
import { isAlreadyExists, isConflict, isNotFound } from '../kube/errors.js';
import { PATCH, paths, type RawClient } from '../kube/raw-client.js';
import { certificateExpiresSoon, generateCertificates } from './certs.js';
import { MUTATE_PATH } from './server.js';

export const WEBHOOK_CONFIGURATION_NAME = 'deployer';
export const WEBHOOK_NAME = 'deployments.deployer.dev';

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

export function webhookConfiguration(target: WebhookTarget, caPem: string, failurePolicy: 'Fail' | 'Ignore' = 'Fail'): Record<string, unknown> {
  const clientConfig =
    'url' in target
      ? { url: target.url.replace(/\/$/, '') + MUTATE_PATH, caBundle: b64(caPem) }
      : { service: { namespace: target.service.namespace, name: target.service.name, port: target.service.port ?? 443, path: MUTATE_PATH }, caBundle: b64(caPem) };
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: WEBHOOK_CONFIGURATION_NAME, labels: { 'app.kubernetes.io/name': 'deployer' } },
    webhooks: [
      {
        name: WEBHOOK_NAME,
        clientConfig,
        rules: [{ apiGroups: ['apps'], apiVersions: ['v1'], resources: ['deployments'], operations: ['CREATE', 'UPDATE'], scope: 'Namespaced' }],
        objectSelector: { matchExpressions: [{ key: LABELS.canary, operator: 'Exists' }] },
        failurePolicy,
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
export async function ensureWebhookConfiguration(client: RawClient, target: WebhookTarget, caPem: string, failurePolicy: 'Fail' | 'Ignore' = 'Fail'): Promise<void> {
  await client.patch(paths.mutatingWebhook(WEBHOOK_CONFIGURATION_NAME), webhookConfiguration(target, caPem, failurePolicy), PATCH.apply, { force: true });
}
