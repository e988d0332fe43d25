// The webhook configurations an operator keeps: the mutating gate on guarded Deployments and the
// validating check on Canaries, each with the caBundle of the serving certificate's CAs.
import { createHash } from 'node:crypto';
import { ANNOTATIONS, FIELD_MANAGER, LABELS } from '../api/constants.js';
import { canonicalJson } from '../canary/revision.js';
import { isConflict, isNotFound } from '../kube/errors.js';
import { PATCH, type RawClient } from '../kube/raw-client.js';
import { splitPemBundle, validUntilMs } from './certs.js';

export type { ServingCertificate } from './certificate-rotation.js';

/** The in-cluster install's configurations (deploy/webhook.yaml). */
export const WEBHOOK_CONFIGURATION_NAME = 'deployer';
export const WEBHOOK_NAME = 'deployments.deployer.dev';
/** Creates of Deployments without the gate label: one re-created under a guarded name is guarded at once. */
export const RECREATE_WEBHOOK_NAME = 'recreated-deployments.deployer.dev';
export const CANARY_WEBHOOK_NAME = 'canaries.deployer.dev';
export const MUTATE_PATH = '/mutate-deployments';
export const VALIDATE_CANARIES_PATH = '/validate-canaries';
/** At most this many CAs stay in a caBundle (the newest; the ones being published always stay). */
const MAX_BUNDLE = 4;

export const configurationPaths = {
  mutating: (name: string): string => `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${name}`,
  validating: (name: string): string => `/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/${name}`,
};

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
  /** PEM bundle of the CAs to trust (added to those already published and still valid). */
  caPem: string;
  failurePolicy?: 'Fail' | 'Ignore';
  /** Only objects in these namespaces are sent to the webhook (default: all). */
  namespaces?: readonly string[];
  /** The operator's user name: its own writes (with its field manager) skip the webhooks. */
  operatorUser?: string;
}

export type WebhookTarget = { url: string } | { service: { namespace: string; name: string; port?: number } };

const b64 = (s: string): string => Buffer.from(s).toString('base64');

/**
 * CEL for matchConditions: true for every request except the operator's own writes, so the
 * operator's releases and rollbacks never depend on its webhook (nor on its certificate).
 */
export function notTheOperator(operatorUser: string): string {
  return (
    `!(request.userInfo.username == ${JSON.stringify(operatorUser)} && has(request.options) && ` +
    `has(request.options.fieldManager) && request.options.fieldManager == ${JSON.stringify(FIELD_MANAGER)})`
  );
}

function clientConfig(target: WebhookTarget, path: string, caPem: string): Record<string, unknown> {
  return 'url' in target
    ? { url: target.url.replace(/\/$/, '') + path, caBundle: b64(caPem) }
    : { service: { namespace: target.service.namespace, name: target.service.name, port: target.service.port ?? 443, path }, caBundle: b64(caPem) };
}

function common(o: WebhookConfigurationOptions): Record<string, unknown> {
  return {
    ...(o.namespaces?.length
      ? { namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: [...o.namespaces].sort() }] } }
      : {}),
    ...(o.operatorUser ? { matchConditions: [{ name: 'not-the-operator', expression: notTheOperator(o.operatorUser) }] } : {}),
    failurePolicy: o.failurePolicy ?? 'Fail',
    matchPolicy: 'Equivalent',
    sideEffects: 'None',
    admissionReviewVersions: ['v1'],
    timeoutSeconds: 5,
  };
}

/** The gate: guarded Deployments (labelled deployer.dev/canary, before or after the write). */
export function webhookConfiguration(o: WebhookConfigurationOptions): Record<string, unknown> {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: o.name, labels: { 'app.kubernetes.io/name': 'deployer' } },
    webhooks: [
      {
        name: WEBHOOK_NAME,
        clientConfig: clientConfig(o.target, MUTATE_PATH, o.caPem),
        rules: [{ apiGroups: ['apps'], apiVersions: ['v1'], resources: ['deployments'], operations: ['CREATE', 'UPDATE'], scope: 'Namespaced' }],
        objectSelector: { matchExpressions: [{ key: LABELS.canary, operator: 'Exists' }] },
        ...common(o),
        reinvocationPolicy: 'IfNeeded',
      },
      {
        // A Deployment deleted and re-created (Helm --force, Argo CD Replace=true) comes back without
        // the gate label: its create is sent too, so the Canary that guarded the name guards it before
        // the Deployment controller rolls its template out. Ignore: no other Deployment's create ever
        // depends on the operator; a create missed while it is down is caught by the controller
        // (TargetRecreated, UnverifiedRollout).
        name: RECREATE_WEBHOOK_NAME,
        clientConfig: clientConfig(o.target, MUTATE_PATH, o.caPem),
        rules: [{ apiGroups: ['apps'], apiVersions: ['v1'], resources: ['deployments'], operations: ['CREATE'], scope: 'Namespaced' }],
        objectSelector: { matchExpressions: [{ key: LABELS.canary, operator: 'DoesNotExist' }] },
        ...common(o),
        failurePolicy: 'Ignore',
        timeoutSeconds: 2,
        reinvocationPolicy: 'IfNeeded',
      },
    ],
  };
}

/**
 * CEL for the Canary check: only a create, or an update of the spec or the annotations, of a
 * Canary that is not being deleted is sent, so removing a finalizer by hand (an uninstall) never
 * needs the operator to be running.
 */
export const CANARY_CHANGES_WHAT_IT_GUARDS = [
  { name: 'not-being-deleted', expression: '!has(object.metadata.deletionTimestamp)' },
  {
    name: 'creates-or-changes-spec-or-annotations',
    expression:
      'request.operation == "CREATE" || object.spec != oldObject.spec || ' +
      '(has(object.metadata.annotations) ? object.metadata.annotations : {}) != (has(oldObject.metadata.annotations) ? oldObject.metadata.annotations : {})',
  },
] as const;

/** A Canary may only guard a Deployment its author could update (SubjectAccessReview). */
export function canaryWebhookConfiguration(o: WebhookConfigurationOptions): Record<string, unknown> {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: { name: o.name, labels: { 'app.kubernetes.io/name': 'deployer' } },
    webhooks: [
      {
        name: CANARY_WEBHOOK_NAME,
        clientConfig: clientConfig(o.target, VALIDATE_CANARIES_PATH, o.caPem),
        rules: [{ apiGroups: ['deployer.dev'], apiVersions: ['*'], resources: ['canaries'], operations: ['CREATE', 'UPDATE'], scope: 'Namespaced' }],
        ...common(o),
        matchConditions: [...(o.operatorUser ? [{ name: 'not-the-operator', expression: notTheOperator(o.operatorUser) }] : []), ...CANARY_CHANGES_WHAT_IT_GUARDS],
      },
    ],
  };
}

interface PublishedConfiguration {
  metadata: { uid?: string; resourceVersion?: string };
  webhooks?: Array<{ clientConfig?: { url?: string; caBundle?: string } }>;
}

/**
 * The CAs to publish: the wanted ones, plus those already published that are still valid (a
 * replica may still serve a certificate of an older CA), newest kept first when there are many.
 */
export function mergeCaBundles(publishedPem: string, wantedPem: string, now: Date = new Date()): string {
  const valid = (pem: string): boolean => {
    try {
      return validUntilMs(pem) > now.getTime();
    } catch {
      return false;
    }
  };
  const norm = (pem: string): string => pem.replace(/\s+/g, '');
  const wanted = splitPemBundle(wantedPem);
  const wantedKeys = new Set(wanted.map(norm));
  const older = splitPemBundle(publishedPem).filter((p) => valid(p) && !wantedKeys.has(norm(p)));
  const seen = new Set<string>();
  const unique = [...older, ...wanted].filter((p) => (seen.has(norm(p)) ? false : (seen.add(norm(p)), true)));
  const room = Math.max(0, MAX_BUNDLE - wanted.length);
  const keptOlder = unique.filter((p) => !wantedKeys.has(norm(p))).slice(-room);
  return [...keptOlder, ...wanted].join('');
}

/** The body with a hash of itself in an annotation: what this operator last applied. */
function stampApplied(body: Record<string, unknown>): Record<string, unknown> {
  const metadata = (body.metadata ?? {}) as { annotations?: Record<string, string> };
  const hash = createHash('sha256').update(canonicalJson(body)).digest('hex').slice(0, 16);
  return { ...body, metadata: { ...metadata, annotations: { ...metadata.annotations, [ANNOTATIONS.appliedConfiguration]: hash } } };
}

/**
 * Whether `live` already holds every field of `desired` with the same value: what the server
 * defaulted or another manager added is ignored, a list must match item by item.
 */
export function covers(live: unknown, desired: unknown): boolean {
  if (Array.isArray(desired)) return Array.isArray(live) && live.length === desired.length && desired.every((d, i) => covers(live[i], d));
  if (desired !== null && typeof desired === 'object') {
    if (live === null || typeof live !== 'object' || Array.isArray(live)) return false;
    return Object.entries(desired).every(([k, v]) => v === undefined || covers((live as Record<string, unknown>)[k], v));
  }
  return live === desired;
}

const unb64 = (s: string | undefined): string => Buffer.from(s ?? '', 'base64').toString('utf8');

async function applyKeepingTrust(client: RawClient, path: string, build: (caPem: string) => Record<string, unknown>, caPem: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    let current: PublishedConfiguration | undefined;
    try {
      current = await client.get<PublishedConfiguration>(path);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    const published = (current?.webhooks ?? []).map((w) => unb64(w.clientConfig?.caBundle)).join('');
    const body = stampApplied(build(mergeCaBundles(published, caPem)));
    // Already as wanted (the leader checks every minute): no write, no new resourceVersion. The
    // stamp tells a field this operator stopped setting (a narrower --namespaces widened, say),
    // which only an apply removes, from one the live object kept.
    if (current && covers(current, body)) return;
    // The resourceVersion read is a precondition: a CA published meanwhile by another replica is never dropped.
    if (current?.metadata.resourceVersion) (body.metadata as Record<string, unknown>).resourceVersion = current.metadata.resourceVersion;
    try {
      await client.patch(path, body, PATCH.apply, { force: true });
      return;
    } catch (err) {
      if (!isConflict(err) || attempt >= 4) throw err;
    }
  }
}

/** Server-side apply of both configurations (the operator owns them); the caBundle keeps every CA still valid. */
export async function ensureWebhookConfiguration(client: RawClient, o: WebhookConfigurationOptions): Promise<void> {
  await applyKeepingTrust(client, configurationPaths.mutating(o.name), (caPem) => webhookConfiguration({ ...o, caPem }), o.caPem);
  await applyKeepingTrust(client, configurationPaths.validating(o.name), (caPem) => canaryWebhookConfiguration({ ...o, caPem }), o.caPem);
}

/** Removes the configurations this operator made for itself (out of the cluster), if they still point at it. */
export async function removeWebhookConfiguration(client: RawClient, name: string, url: string): Promise<void> {
  for (const path of [configurationPaths.mutating(name), configurationPaths.validating(name)]) {
    try {
      const current = await client.get<PublishedConfiguration>(path);
      if (!current.webhooks?.some((w) => w.clientConfig?.url?.startsWith(url.replace(/\/$/, '')))) continue;
      await client.delete(path, { kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { uid: current.metadata.uid } });
    } catch (err) {
      if (!isNotFound(err) && !isConflict(err)) throw err;
    }
  }
}
