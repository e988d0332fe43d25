// The revision gate, as a pure function of an AdmissionReview request: an update that moves a
// guarded Deployment's pod template away from its stable revision is admitted with
// spec.paused=true, so the Deployment controller starts no rollout; the operator then runs the
// canary. Whatever the client (kubectl set image, client-side apply, server-side apply that omits
// `paused`, a full replace), the same rule applies.
import { ANNOTATIONS, LABELS } from '../api/constants.js';
import { revisionOf, type PodTemplate } from '../canary/revision.js';

export interface DeploymentLike {
  metadata?: { name?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: { paused?: boolean; template?: PodTemplate };
}

export interface AdmissionRequest {
  uid: string;
  kind?: { group?: string; kind?: string };
  operation?: string;
  userInfo?: { username?: string };
  object?: DeploymentLike;
  oldObject?: DeploymentLike | null;
}

export interface JsonPatchOp {
  op: 'add' | 'replace' | 'remove';
  path: string;
  value?: unknown;
}

export interface AdmissionDecision {
  /** Patch to apply (empty: admit unchanged). */
  patch: JsonPatchOp[];
  /** held: a new revision was paused; restored: the gate's metadata was put back; allowed: unchanged. */
  outcome: 'held' | 'restored' | 'allowed';
  revision?: string;
  warnings: string[];
}

const esc = (key: string): string => key.replace(/~/g, '~0').replace(/\//g, '~1');

/**
 * @param operatorUser the operator's own username: only the operator may remove the gate label
 *   (when its Canary is deleted); anyone else's request that drops it gets it back.
 */
export function decideAdmission(req: AdmissionRequest, operatorUser?: string): AdmissionDecision {
  const allowed: AdmissionDecision = { patch: [], outcome: 'allowed', warnings: [] };
  if (req.kind?.kind !== 'Deployment' || !req.object) return allowed;
  const obj = req.object;
  const old = req.oldObject ?? undefined;
  const patch: JsonPatchOp[] = [];
  const labels = obj.metadata?.labels ?? {};
  const annotations = obj.metadata?.annotations ?? {};
  let guard = labels[LABELS.canary];
  let stable = annotations[ANNOTATIONS.stableRevision];
  let outcome: AdmissionDecision['outcome'] = 'allowed';

  const oldGuard = old?.metadata?.labels?.[LABELS.canary];
  const oldStable = old?.metadata?.annotations?.[ANNOTATIONS.stableRevision];
  const byOperator = operatorUser !== undefined && req.userInfo?.username === operatorUser;
  if (!byOperator && oldGuard) {
    // A full replace (or an apply that owns these fields) dropped the gate: put it back.
    if (!guard) {
      if (!obj.metadata?.labels) patch.push({ op: 'add', path: '/metadata/labels', value: {} });
      patch.push({ op: 'add', path: `/metadata/labels/${esc(LABELS.canary)}`, value: oldGuard });
      guard = oldGuard;
      outcome = 'restored';
    }
    if (!stable && oldStable) {
      if (!obj.metadata?.annotations) patch.push({ op: 'add', path: '/metadata/annotations', value: {} });
      patch.push({ op: 'add', path: `/metadata/annotations/${esc(ANNOTATIONS.stableRevision)}`, value: oldStable });
      stable = oldStable;
      outcome = 'restored';
    }
  }
  if (!guard || !stable) return { patch, outcome, warnings: [] };

  const revision = revisionOf(obj.spec?.template);
  if (revision === stable) return { patch, outcome, revision, warnings: [] };
  const warnings: string[] = [];
  if (obj.spec?.paused !== true) {
    patch.push({ op: obj.spec && 'paused' in obj.spec ? 'replace' : 'add', path: '/spec/paused', value: true });
    warnings.push(
      `deployer: revision ${revision} of Deployment ${obj.metadata?.name ?? ''} is held (paused) for canary analysis by Canary ${guard}; follow it with: depctl status ${guard} --watch`,
    );
    outcome = 'held';
  }
  const heldValue = `revision ${revision} awaits canary analysis`;
  if (annotations[ANNOTATIONS.heldReason] !== heldValue) {
    if (!obj.metadata?.annotations && !patch.some((p) => p.path === '/metadata/annotations')) {
      patch.push({ op: 'add', path: '/metadata/annotations', value: {} });
    }
    patch.push({ op: 'add', path: `/metadata/annotations/${esc(ANNOTATIONS.heldReason)}`, value: heldValue });
  }
  return { patch, outcome, revision, warnings };
}
