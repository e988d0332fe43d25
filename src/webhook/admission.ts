// The revision gate, as a pure function of an AdmissionReview request: an update that moves a
// guarded Deployment's pod template away from its stable revision is admitted with
// spec.paused=true, so the Deployment controller starts no rollout; the operator then runs the
// canary. Whatever the client (kubectl set image, client-side apply, server-side apply that omits
// `paused`, a full replace), the same rule applies.
//
// The gate's metadata belongs to the operator: the stable-revision annotation records what the
// operator verified, so nobody else may add, change or remove it (it is put back to the stored
// value; on a new Deployment it is dropped: a copied manifest cannot declare itself verified),
// and the gate label is put back while the Canary it names exists.
import { ANNOTATIONS, FIELD_MANAGER, LABELS } from '../api/constants.js';
import { heldReason } from '../api/held-reason.js';
import { jsonPointerToken } from '../kube/json-pointer.js';
import { revisionOf, type PodTemplate } from '../canary/revision.js';

export interface DeploymentLike {
  metadata?: { name?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: { paused?: boolean; template?: PodTemplate; selector?: { matchLabels?: Record<string, string> } };
}

export interface AdmissionUserInfo {
  username?: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

export interface AdmissionRequest<T = DeploymentLike> {
  uid: string;
  kind?: { group?: string; kind?: string };
  operation?: string;
  namespace?: string;
  name?: string;
  userInfo?: AdmissionUserInfo;
  /** The write's options (CreateOptions, UpdateOptions, PatchOptions): who manages the fields. */
  options?: { fieldManager?: string } | null;
  dryRun?: boolean;
  object?: T;
  oldObject?: T | null;
}

export interface JsonPatchOp {
  op: 'add' | 'replace' | 'remove';
  path: string;
  value?: unknown;
}

export interface AdmissionDecision {
  /** Patch to apply (empty: admit unchanged). */
  patch: JsonPatchOp[];
  /**
   * held: a new revision was paused; restored: the gate's metadata was put back; allowed:
   * unchanged; denied: refused (see message).
   */
  outcome: 'held' | 'restored' | 'allowed' | 'denied';
  revision?: string;
  warnings: string[];
  /** Why a request was refused. */
  message?: string;
}

export interface AdmissionOptions {
  /**
   * The operator's own user name. Its requests (with the operator's field manager) may change the
   * gate; undefined while it is not known, and then a request that changes the gate is refused.
   */
  operatorUser?: string;
  /** Whether the Canary exists, from the operator's cache; undefined when the cache cannot tell. */
  canaryExists?: (namespace: string, name: string) => boolean | undefined;
  /**
   * The Canary that guarded a Deployment of this name before (it verified a revision of it), from
   * the operator's cache: a Deployment created under that name is one deleted and re-created.
   */
  guardOf?: (namespace: string, deployment: string) => FormerGuard | undefined;
  /**
   * For the create of a Deployment a Canary guarded before, with a template it has not verified:
   * whether a ReplicaSet of the verified revision survives (orphaned, not being deleted, with
   * replicas) for the new Deployment to adopt, so that holding the template keeps pods serving.
   */
  stableSurvives?: boolean;
}

/** A Canary that guarded a Deployment of this name, and the last revision it verified. */
export interface FormerGuard {
  canary: string;
  verifiedRevision: string;
}


/** What formerGuardOf reads of a Canary. */
export interface CanaryGuardLike {
  metadata?: { name?: string; deletionTimestamp?: string };
  spec?: { targetRef?: { name?: string } };
  status?: { stableRevision?: string; targetUID?: string; targetName?: string };
}

/**
 * The Canary (of these, one namespace's) that guarded a Deployment of this name and verified a
 * revision of it: a Deployment created under that name was deleted and re-created.
 */
export function formerGuardOf(canaries: readonly CanaryGuardLike[], deployment: string): FormerGuard | undefined {
  for (const c of canaries) {
    const st = c.status;
    if (c.metadata?.deletionTimestamp || !c.metadata?.name || c.spec?.targetRef?.name !== deployment) continue;
    if (st?.stableRevision && st.targetUID && st.targetName === deployment) return { canary: c.metadata.name, verifiedRevision: st.stableRevision };
  }
  return undefined;
}

/** True: the operator's own write; false: anyone else's; undefined: the operator's identity is not known. */
export function isOperatorRequest(req: Pick<AdmissionRequest<unknown>, 'userInfo' | 'options'>, operatorUser: string | undefined): boolean | undefined {
  if (req.options?.fieldManager !== FIELD_MANAGER) return false;
  if (operatorUser === undefined) return undefined;
  return req.userInfo?.username === operatorUser;
}

/**
 * @param options the operator's identity and a view of its Canary cache (a string: the operator's
 *   user name, as before).
 */
export function decideAdmission(req: AdmissionRequest, options: AdmissionOptions | string = {}): AdmissionDecision {
  const opts: AdmissionOptions = typeof options === 'string' ? { operatorUser: options } : options;
  const allowed: AdmissionDecision = { patch: [], outcome: 'allowed', warnings: [] };
  if (req.kind?.kind !== 'Deployment' || !req.object) return allowed;
  const byOperator = isOperatorRequest(req, opts.operatorUser);
  if (byOperator === true) return allowed;

  const obj = req.object;
  const old = req.oldObject ?? undefined;
  const patch: JsonPatchOp[] = [];
  const warnings: string[] = [];
  const labels = obj.metadata?.labels ?? {};
  const annotations = obj.metadata?.annotations ?? {};
  let guard: string | undefined = labels[LABELS.canary];
  let stable: string | undefined = annotations[ANNOTATIONS.stableRevision];
  let outcome: AdmissionDecision['outcome'] = 'allowed';
  let annotationsAdded = obj.metadata?.annotations !== undefined;
  const ensureAnnotations = (): void => {
    if (annotationsAdded) return;
    patch.push({ op: 'add', path: '/metadata/annotations', value: {} });
    annotationsAdded = true;
  };
  const unknownOperator = (what: string): AdmissionDecision => ({
    patch: [],
    outcome: 'denied',
    warnings: [],
    message: `deployer: the operator's identity is not known yet, so this request, which ${what}, cannot be told apart from the operator's own; retry in a few seconds`,
  });

  if (!old) {
    // A new Deployment: nothing about it has been verified, whatever its manifest says.
    const former = obj.metadata?.name ? opts.guardOf?.(req.namespace ?? '', obj.metadata.name) : undefined;
    if (stable !== undefined && stable !== former?.verifiedRevision) {
      patch.push({ op: 'remove', path: `/metadata/annotations/${jsonPointerToken(ANNOTATIONS.stableRevision)}` });
      warnings.push(`deployer: ignored ${ANNOTATIONS.stableRevision} on new Deployment ${obj.metadata?.name ?? ''}: only the operator records a verified revision`);
      stable = undefined;
      outcome = 'restored';
    }
    if (!former) return { patch, outcome, warnings };
    // Deleted and re-created (Helm --force, Replace=true): the Canary that guarded it guards the new
    // object from its first write, so its template cannot roll out before the operator sees it.
    if (guard !== former.canary) {
      if (!obj.metadata?.labels) patch.push({ op: 'add', path: '/metadata/labels', value: {} });
      patch.push({ op: 'add', path: `/metadata/labels/${jsonPointerToken(LABELS.canary)}`, value: former.canary });
      guard = former.canary;
    }
    if (stable === undefined) {
      ensureAnnotations();
      patch.push({ op: 'add', path: `/metadata/annotations/${jsonPointerToken(ANNOTATIONS.stableRevision)}`, value: former.verifiedRevision });
      stable = former.verifiedRevision;
    }
    if (patch.length) outcome = 'restored';
    // A Deployment created paused gets no ReplicaSet of its own: held with no ReplicaSet of the
    // verified revision to adopt (deleted with its ReplicaSets, e.g. kubectl replace --force), it
    // would serve nothing. It rolls out instead, and its Canary says so (UnverifiedRollout).
    const created = revisionOf(obj.spec?.template);
    if (created !== stable && opts.stableSurvives !== true) {
      warnings.push(
        `deployer: Deployment ${obj.metadata?.name ?? ''} was re-created with revision ${created}, which Canary ${former.canary} has not verified, and no ReplicaSet of its verified revision ${stable} survives to keep serving: it rolls out now, unverified; follow it with: depctl status ${former.canary}`,
      );
      return { patch, outcome, revision: created, warnings };
    }
  }

  const oldGuard = old?.metadata?.labels?.[LABELS.canary];
  const oldStable = old?.metadata?.annotations?.[ANNOTATIONS.stableRevision];
  if (old && oldGuard && guard !== oldGuard) {
    // Removing the gate of a Canary that no longer exists is how an orphaned gate is cleared.
    if (guard === undefined && opts.canaryExists?.(req.namespace ?? '', oldGuard) === false) return allowed;
    if (byOperator === undefined) return unknownOperator(`changes the ${LABELS.canary} label`);
    // A full replace (or an apply that owns these fields) dropped or changed the gate: put it back.
    if (!obj.metadata?.labels) patch.push({ op: 'add', path: '/metadata/labels', value: {} });
    patch.push({ op: 'add', path: `/metadata/labels/${jsonPointerToken(LABELS.canary)}`, value: oldGuard });
    guard = oldGuard;
    outcome = 'restored';
  }
  if (old && stable !== oldStable) {
    if (byOperator === undefined) return unknownOperator(`changes the ${ANNOTATIONS.stableRevision} annotation`);
    const path = `/metadata/annotations/${jsonPointerToken(ANNOTATIONS.stableRevision)}`;
    if (oldStable === undefined) {
      patch.push({ op: 'remove', path });
    } else {
      ensureAnnotations();
      patch.push({ op: 'add', path, value: oldStable });
    }
    // Dropped by a full replace: silently put back; added or changed: say so.
    if (stable !== undefined) warnings.push(`deployer: ${ANNOTATIONS.stableRevision} is kept by the operator (the revision it verified); the change was ignored`);
    stable = oldStable;
    outcome = 'restored';
  }
  if (!guard || !stable) return { patch, outcome, warnings };

  const revision = revisionOf(obj.spec?.template);
  if (revision === stable) return { patch, outcome, revision, warnings };
  if (obj.spec?.paused !== true) {
    patch.push({ op: obj.spec && 'paused' in obj.spec ? 'replace' : 'add', path: '/spec/paused', value: true });
    warnings.push(
      `deployer: revision ${revision} of Deployment ${obj.metadata?.name ?? ''} is held (paused) for canary analysis by Canary ${guard}; follow it with: depctl status ${guard} --watch`,
    );
    outcome = 'held';
  }
  const heldValue = heldReason(revision);
  if (annotations[ANNOTATIONS.heldReason] !== heldValue) {
    ensureAnnotations();
    patch.push({ op: 'add', path: `/metadata/annotations/${jsonPointerToken(ANNOTATIONS.heldReason)}`, value: heldValue });
  }
  return { patch, outcome, revision, warnings };
}
