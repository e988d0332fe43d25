// A Canary makes the operator pause, hold and scale the Deployment it names, so it may only name a
// Deployment its author could change themselves: creating or changing a Canary runs a
// SubjectAccessReview for the requesting user on update and patch of that Deployment.
import type { AdmissionRequest, AdmissionUserInfo } from './admission.js';

export interface CanaryLike {
  metadata?: { name?: string; annotations?: Record<string, string>; deletionTimestamp?: string };
  spec?: { targetRef?: { name?: string } } & Record<string, unknown>;
}

export const REQUIRED_VERBS = ['update', 'patch'] as const;
export type RequiredVerb = (typeof REQUIRED_VERBS)[number];

export interface AccessCheck {
  verb: RequiredVerb;
  namespace: string;
  deployment: string;
}

const ACTING_ANNOTATION = /^deployer\.dev\//;
const stableJson = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => a.localeCompare(b))) : x));
const actingAnnotations = (o: CanaryLike | null | undefined): string =>
  stableJson(Object.entries(o?.metadata?.annotations ?? {}).filter(([k]) => ACTING_ANNOTATION.test(k)));

/**
 * What to check for this request (pure): nothing for a Canary being deleted or a change that
 * leaves its spec and its deployer.dev/ annotations (promote, abort, retry) alone.
 */
export function accessChecksFor(req: AdmissionRequest<CanaryLike>): AccessCheck[] {
  const obj = req.object;
  if (req.kind?.kind !== 'Canary' || !obj) return [];
  const deployment = obj.spec?.targetRef?.name;
  if (!deployment) return []; // the schema refuses it
  if (obj.metadata?.deletionTimestamp) return [];
  const old = req.oldObject;
  if (req.operation === 'UPDATE' && old && stableJson(old.spec) === stableJson(obj.spec) && actingAnnotations(old) === actingAnnotations(obj)) return [];
  return REQUIRED_VERBS.map((verb) => ({ verb, namespace: req.namespace ?? '', deployment }));
}

/** The SubjectAccessReview that asks whether the requesting user may do the check. */
export function subjectAccessReview(user: AdmissionUserInfo | undefined, check: AccessCheck): Record<string, unknown> {
  return {
    apiVersion: 'authorization.k8s.io/v1',
    kind: 'SubjectAccessReview',
    spec: {
      user: user?.username ?? '',
      ...(user?.uid ? { uid: user.uid } : {}),
      ...(user?.groups ? { groups: user.groups } : {}),
      ...(user?.extra ? { extra: user.extra } : {}),
      resourceAttributes: { group: 'apps', resource: 'deployments', verb: check.verb, namespace: check.namespace, name: check.deployment },
    },
  };
}

export interface CanaryAccessDecision {
  allowed: boolean;
  message?: string;
}

/** The verdict once each check is answered (true: allowed, false: denied, an Error: could not ask). */
export function decideCanaryAccess(req: AdmissionRequest<CanaryLike>, checks: AccessCheck[], answers: Array<boolean | Error>): CanaryAccessDecision {
  const first = checks[0];
  if (!first) return { allowed: true };
  const user = req.userInfo?.username ?? 'unknown user';
  const failed = answers.find((a): a is Error => a instanceof Error);
  if (failed) {
    return { allowed: false, message: `deployer: could not check whether ${user} may update Deployment ${first.deployment} (SubjectAccessReview failed: ${failed.message}); retry` };
  }
  const missing = checks.filter((_c, i) => answers[i] !== true).map((c) => c.verb);
  if (!missing.length) return { allowed: true };
  return {
    allowed: false,
    message:
      `deployer: ${user} may not ${missing.join(' or ')} deployments.apps "${first.deployment}" in namespace ${first.namespace}; ` +
      `a Canary may only guard a Deployment its author could update (it pauses, holds and scales it). ` +
      `Grant ${missing.map((v) => `"${v}"`).join(' and ')} on deployments in ${first.namespace}, or ask someone who has them to apply the Canary.`,
  };
}
