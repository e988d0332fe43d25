// execute(): performs a decision's actions, after the status that depends on them was written.
// Each action is idempotent and skipped when the world already shows it; children have fixed
// names, so AlreadyExists means done. Deployment writes are preconditioned on the resourceVersion
// they were decided on; a conflict caused by changes the decision does not depend on (the
// Deployment's status, an unrelated label) is retried on the fresh object after re-checking the
// template revision, the stable revision and the gate label. Every write is reported as an
// expectation, so a later pass does not act on a cache that has not caught up with it.
import { ANNOTATIONS, DD_TAGS_ANNOTATION, FINALIZER, LABELS, ROLES, type Role } from '../api/constants.js';
import { heldReason } from '../api/held-reason.js';
import { API_VERSION, CANARY_KIND, type Canary } from '../api/types.js';
import type { MeasurementSource } from '../analysis/provider.js';
import { isAlreadyExists, isConflict, isNotFound, KubeApiError } from '../kube/errors.js';
import { jsonPointerToken } from '../kube/json-pointer.js';
import { PATCH, paths, type KubeObject, type PatchType, type RawClient } from '../kube/raw-client.js';
import { ActionError, LeadershipLostError } from './api-failure.js';
import type { Action, Decision } from './decide.js';
import type { Expectation } from './expectations.js';
import { observeStableRevision, type DeploymentObject, type Snapshot } from './observe.js';
import { labelValue, revisionOf, versionOf, type PodTemplate } from './revision.js';

export interface ExecuteContext {
  client: RawClient;
  measurements: MeasurementSource;
  /** Told about every write, so later passes wait until the cache shows it. */
  expect?: (e: Expectation) => void;
  /** Asked right before each write: false once the pass's leadership ended (no write is made after). */
  mayWrite?: () => boolean;
  /** The pass's signal (aborted when leadership is lost), given to every request. */
  signal?: AbortSignal;
}

/** Name of the canary ReplicaSet for a revision: predictable, so a retry finds it. */
export function canaryReplicaSetName(target: string, revision: string): string {
  const suffix = `-canary-${revision}`;
  return `${target.slice(0, 240 - suffix.length)}${suffix}`;
}

/** Name of the baseline ReplicaSet for the canary of a revision: predictable, so a retry finds it. */
export function baselineReplicaSetName(target: string, revision: string): string {
  const suffix = `-baseline-${revision}`;
  return `${target.slice(0, 240 - suffix.length)}${suffix}`;
}

/** Environment variable the Datadog tracers and the Agent read extra tags from. */
const DD_TAGS_ENV = 'DD_TAGS';

/**
 * Tags a pod template with its role the ways Datadog reads tags: the Agent's pod annotation
 * ad.datadoghq.com/tags (every metric of the pod) and DD_TAGS in each container (traces and
 * custom metrics of the tracers). Existing tags are kept; a DD_TAGS taken from elsewhere
 * (valueFrom) is left alone.
 */
export function tagRole(template: PodTemplate, role: Role): void {
  const annotations = { ...(template.metadata?.annotations ?? {}) };
  let tags: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(annotations[DD_TAGS_ANNOTATION] ?? '{}');
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) tags = parsed as Record<string, unknown>;
  } catch {
    // An annotation that is not JSON is useless to the Agent too: replaced.
  }
  annotations[DD_TAGS_ANNOTATION] = JSON.stringify({ ...tags, role });
  template.metadata = { ...(template.metadata ?? {}), annotations };
  const spec = template.spec as { containers?: Container[] } | undefined;
  for (const c of spec?.containers ?? []) {
    const env = (c.env ??= []);
    const existing = env.find((e) => e.name === DD_TAGS_ENV);
    if (!existing) env.push({ name: DD_TAGS_ENV, value: `role:${role}` });
    else if (existing.valueFrom === undefined) {
      const kept = (existing.value ?? '').split(/[\s,]+/).filter((t) => t !== '' && !t.startsWith('role:'));
      existing.value = [...kept, `role:${role}`].join(' ');
    }
  }
}

/** Environment variable the Datadog tracers read the version from. */
const DD_VERSION_ENV = 'DD_VERSION';

type Container = { name?: string; env?: Array<{ name: string; value?: string; valueFrom?: unknown }> };

/**
 * The canary ReplicaSet: the Deployment's template with labels that are always valid label
 * values (a long or odd image tag, a long Canary name), the full version in an annotation, and,
 * when the canary reports a version of its own (`<version>-<revision>`), a literal DD_VERSION
 * replaced by it (a DD_VERSION taken from the version label by a fieldRef follows the label).
 */
export function canaryReplicaSet(canary: Canary, deployment: DeploymentObject, revision: string, version: string, replicas: number): KubeObject {
  const template = structuredClone(deployment.spec.template);
  const templateVersion = versionOf(template);
  const canaryVersion = labelValue(version);
  const owner = labelValue(canary.metadata.name);
  const labels: Record<string, string> = { ...(template.metadata?.labels ?? {}) };
  delete labels[LABELS.podTemplateHash];
  Object.assign(labels, {
    [LABELS.role]: 'canary',
    [LABELS.canaryOf]: owner,
    [LABELS.revision]: revision,
    [LABELS.ddVersion]: canaryVersion,
  });
  const fullVersion = canaryVersion === labelValue(templateVersion) ? templateVersion : version;
  template.metadata = { ...(template.metadata ?? {}), labels, annotations: { ...(template.metadata?.annotations ?? {}), [ANNOTATIONS.version]: fullVersion } };
  if (canaryVersion !== templateVersion) overrideLiteralVersion(template, canaryVersion);
  if (canary.spec.analysis?.baseline === true) tagRole(template, ROLES.canary);
  const selector = {
    matchLabels: { ...(deployment.spec.selector.matchLabels ?? {}), [LABELS.role]: 'canary', [LABELS.revision]: revision },
    ...(deployment.spec.selector.matchExpressions ? { matchExpressions: deployment.spec.selector.matchExpressions } : {}),
  };
  return {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: {
      name: canaryReplicaSetName(deployment.metadata.name, revision),
      namespace: canary.metadata.namespace,
      labels: { [LABELS.role]: 'canary', [LABELS.canaryOf]: owner, [LABELS.revision]: revision },
      annotations: { 'deployer.dev/target': deployment.metadata.name, [ANNOTATIONS.version]: fullVersion },
      ownerReferences: [{ apiVersion: API_VERSION, kind: CANARY_KIND, name: canary.metadata.name, uid: canary.metadata.uid, controller: true, blockOwnerDeletion: true }],
    },
    spec: { replicas, selector, template },
  };
}

/**
 * The baseline ReplicaSet: the stable template, with the labels of its role (deployer.dev/role
 * baseline, the revision it is the baseline for) and the Datadog tag role:baseline; its version
 * stays the stable version. Its selector requires role=baseline, so neither the Deployment's
 * ReplicaSets (which select on pod-template-hash) nor the canary ReplicaSet adopt its pods.
 */
export function baselineReplicaSet(canary: Canary, deployment: DeploymentObject, stableTemplate: PodTemplate, revision: string, replicas: number): KubeObject {
  const template = structuredClone(stableTemplate);
  const owner = labelValue(canary.metadata.name);
  const labels: Record<string, string> = { ...(template.metadata?.labels ?? {}) };
  delete labels[LABELS.podTemplateHash];
  const version = versionOf(stableTemplate);
  Object.assign(labels, { [LABELS.role]: ROLES.baseline, [LABELS.canaryOf]: owner, [LABELS.revision]: revision, [LABELS.ddVersion]: labelValue(version) });
  template.metadata = { ...(template.metadata ?? {}), labels, annotations: { ...(template.metadata?.annotations ?? {}), [ANNOTATIONS.version]: version } };
  tagRole(template, ROLES.baseline);
  const selector = {
    matchLabels: { ...(deployment.spec.selector.matchLabels ?? {}), [LABELS.role]: ROLES.baseline, [LABELS.revision]: revision },
    ...(deployment.spec.selector.matchExpressions ? { matchExpressions: deployment.spec.selector.matchExpressions } : {}),
  };
  return {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: {
      name: baselineReplicaSetName(deployment.metadata.name, revision),
      namespace: canary.metadata.namespace,
      labels: { [LABELS.role]: ROLES.baseline, [LABELS.canaryOf]: owner, [LABELS.revision]: revision },
      annotations: { 'deployer.dev/target': deployment.metadata.name, [ANNOTATIONS.version]: version },
      ownerReferences: [{ apiVersion: API_VERSION, kind: CANARY_KIND, name: canary.metadata.name, uid: canary.metadata.uid, controller: true, blockOwnerDeletion: true }],
    },
    spec: { replicas, selector, template },
  };
}

function overrideLiteralVersion(template: PodTemplate, version: string): void {
  const spec = template.spec as { containers?: Container[]; initContainers?: Container[] } | undefined;
  for (const c of [...(spec?.containers ?? []), ...(spec?.initContainers ?? [])]) {
    for (const e of c.env ?? []) {
      if (e.name === DD_VERSION_ENV && e.valueFrom === undefined) e.value = version;
    }
  }
}


type DeploymentPatch = { body: unknown; type: PatchType } | undefined;

/** Performs the actions in order; stops at the first failure, which is thrown as an ActionError. */
export async function execute(canary: Canary, decision: Decision, snap: Snapshot, ctx: ExecuteContext): Promise<void> {
  const ns = canary.metadata.namespace;
  let canaryRv = canary.metadata.resourceVersion;
  let dep = snap.deployment;
  const expect = (e: Expectation): void => ctx.expect?.(e);
  const measured = new Set<string>();
  const { client, signal } = ctx;
  /** Checked right before each write: a pass whose leadership ended writes nothing more. */
  const fence = (what: string): void => {
    if (ctx.mayWrite && !ctx.mayWrite()) throw new LeadershipLostError(what);
  };

  /** One Deployment write: skipped when `build` finds nothing to change; conflicts retried while the decision still holds. */
  const patchDeployment = async (build: (current: DeploymentObject) => DeploymentPatch): Promise<void> => {
    if (!dep) return;
    const decidedOn = dep;
    let current = dep;
    for (let attempt = 0; ; attempt++) {
      const p = build(current);
      if (!p) return;
      const path = paths.deployment(ns, current.metadata.name);
      try {
        fence(`patch Deployment ${current.metadata.name}`);
        dep = await client.patch<DeploymentObject>(path, p.body, p.type, undefined, signal);
        // A patch that changed nothing keeps the resourceVersion: nothing to wait for.
        if (decidedOn.metadata.resourceVersion && dep.metadata.resourceVersion !== current.metadata.resourceVersion) expect({ kind: 'Deployment', name: decidedOn.metadata.name, expect: 'Changed', fromResourceVersion: decidedOn.metadata.resourceVersion });
        return;
      } catch (err) {
        if (!isConflict(err) || attempt >= 2) throw err;
        const live = await client.get<DeploymentObject>(path, signal);
        if (!sameBasis(decidedOn, live)) throw err;
        current = live;
      }
    }
  };

  for (const action of decision.actions) {
    try {
      switch (action.type) {
        case 'AddFinalizer':
        case 'RemoveFinalizer': {
          const current = canary.metadata.finalizers ?? [];
          const finalizers = action.type === 'AddFinalizer' ? [...current.filter((f) => f !== FINALIZER), FINALIZER] : current.filter((f) => f !== FINALIZER);
          try {
            fence(`patch Canary ${canary.metadata.name}`);
            const res = await client.patch<KubeObject>(paths.canary(ns, canary.metadata.name), { metadata: { finalizers, resourceVersion: canaryRv } }, PATCH.merge, undefined, signal);
            if (canaryRv && res.metadata.resourceVersion !== canaryRv) expect({ kind: 'Canary', name: canary.metadata.name, expect: 'Changed', fromResourceVersion: canaryRv });
            canaryRv = res.metadata.resourceVersion;
          } catch (err) {
            if (!(action.type === 'RemoveFinalizer' && isNotFound(err))) throw err;
          }
          break;
        }
        case 'AdoptDeployment': {
          const guard = labelValue(canary.metadata.name);
          await patchDeployment((d) =>
            d.metadata.labels?.[LABELS.canary] === guard && d.metadata.annotations?.[ANNOTATIONS.stableRevision] === action.stableRevision
              ? undefined
              : merge(d, { metadata: { labels: { [LABELS.canary]: guard }, annotations: { [ANNOTATIONS.stableRevision]: action.stableRevision } } }),
          );
          break;
        }
        case 'HoldDeployment':
          await patchDeployment((d) => {
            const held = heldReason(revisionOf(d.spec.template));
            return d.spec.paused === true && d.metadata.annotations?.[ANNOTATIONS.heldReason] === held
              ? undefined
              : merge(d, { metadata: { annotations: { [ANNOTATIONS.heldReason]: held } }, spec: { paused: true } });
          });
          break;
        case 'UnholdDeployment':
          await patchDeployment((d) =>
            d.spec.paused !== true && d.metadata.annotations?.[ANNOTATIONS.heldReason] === undefined
              ? undefined
              : merge(d, { metadata: { annotations: { [ANNOTATIONS.heldReason]: null } }, spec: { paused: false } }),
          );
          break;
        case 'PromoteDeployment':
          await patchDeployment((d) => {
            if (revisionOf(d.spec.template) !== action.revision) throw conflict(`the template of Deployment ${d.metadata.name} is no longer revision ${action.revision}`);
            return d.spec.paused !== true && d.metadata.annotations?.[ANNOTATIONS.stableRevision] === action.revision && d.metadata.annotations?.[ANNOTATIONS.heldReason] === undefined
              ? undefined
              : merge(d, { metadata: { annotations: { [ANNOTATIONS.stableRevision]: action.revision, [ANNOTATIONS.heldReason]: null } }, spec: { paused: false } });
          });
          break;
        case 'ReleaseDeployment':
          try {
            await patchDeployment((d) => releasePatch(d, action.unpause));
          } catch (err) {
            if (!isNotFound(err)) throw err;
          }
          break;
        case 'RestoreStableTemplate': {
          if (!dep) break;
          const template = snap.stableTemplate && revisionOf(snap.stableTemplate) === action.revision ? snap.stableTemplate : (await observeStableRevision(client, dep, action.revision))?.template;
          if (!template) throw new Error(`no ReplicaSet of Deployment ${dep.metadata.name} runs stable revision ${action.revision}, so its template cannot be restored`);
          await patchDeployment((d) =>
            revisionOf(d.spec.template) === action.revision && d.spec.paused !== true && d.metadata.annotations?.[ANNOTATIONS.heldReason] === undefined
              ? undefined
              : {
                  type: PATCH.json,
                  body: [
                    // Replacing (not testing) the resourceVersion makes a stale patch a 409 Conflict.
                    { op: 'replace', path: '/metadata/resourceVersion', value: d.metadata.resourceVersion },
                    { op: 'replace', path: '/spec/template', value: template },
                    { op: 'add', path: `/metadata/annotations/${jsonPointerToken(ANNOTATIONS.stableRevision)}`, value: action.revision },
                    { op: 'add', path: '/spec/paused', value: false },
                    // The hold goes in the same write: a Deployment left "held by us" would read as a
                    // revert by the user and undo the rollback on the next pass.
                    ...(d.metadata.annotations?.[ANNOTATIONS.heldReason] !== undefined ? [{ op: 'remove', path: `/metadata/annotations/${jsonPointerToken(ANNOTATIONS.heldReason)}` }] : []),
                  ],
                },
          );
          break;
        }
        case 'EnsureCanaryReplicaSet':
        case 'EnsureBaselineReplicaSet': {
          if (!dep) break;
          const d = dep;
          const name = action.type === 'EnsureCanaryReplicaSet' ? canaryReplicaSetName(d.metadata.name, action.revision) : baselineReplicaSetName(d.metadata.name, action.revision);
          const existing = snap.replicaSets.find((rs) => rs.metadata.name === name) as (KubeObject & { spec?: { replicas?: number } }) | undefined;
          if (!existing) {
            let body: KubeObject;
            if (action.type === 'EnsureCanaryReplicaSet') body = canaryReplicaSet(canary, d, action.revision, action.version, action.replicas);
            else {
              const stable = snap.stableTemplate && revisionOf(snap.stableTemplate) === action.stableRevision ? snap.stableTemplate : (await observeStableRevision(client, d, action.stableRevision))?.template;
              if (!stable) throw new Error(`no ReplicaSet of Deployment ${d.metadata.name} runs stable revision ${action.stableRevision}, so baseline pods cannot start`);
              body = baselineReplicaSet(canary, d, stable, action.revision, action.replicas);
            }
            try {
              fence(`create ReplicaSet ${name}`);
              const created = await client.create<KubeObject>(paths.replicaSets(ns), body, undefined, signal);
              expect({ kind: 'ReplicaSet', name, expect: 'Present', ...(created?.metadata?.uid ? { uid: created.metadata.uid } : {}) });
            } catch (err) {
              if (!isAlreadyExists(err)) throw err;
            }
          } else if ((existing.spec?.replicas ?? 0) !== action.replicas) {
            fence(`scale ReplicaSet ${name}`);
            const res = await client.patch<KubeObject>(paths.replicaSet(ns, name), { metadata: { resourceVersion: existing.metadata.resourceVersion }, spec: { replicas: action.replicas } }, PATCH.merge, undefined, signal);
            if (existing.metadata.resourceVersion && res?.metadata?.resourceVersion !== existing.metadata.resourceVersion) expect({ kind: 'ReplicaSet', name, expect: 'Changed', fromResourceVersion: existing.metadata.resourceVersion });
          }
          break;
        }
        case 'DeleteCanaryReplicaSets':
          for (const rs of snap.replicaSets) {
            if (action.keepRevision !== undefined && rs.metadata.labels?.[LABELS.revision] === action.keepRevision) continue;
            if (rs.metadata.deletionTimestamp) continue;
            try {
              fence(`delete ReplicaSet ${rs.metadata.name}`);
              await client.delete(paths.replicaSet(ns, rs.metadata.name), { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background', preconditions: { uid: rs.metadata.uid } }, signal);
              if (rs.metadata.uid) expect({ kind: 'ReplicaSet', name: rs.metadata.name, expect: 'Absent', uid: rs.metadata.uid });
            } catch (err) {
              if (!isNotFound(err)) throw err;
            }
          }
          break;
        case 'Measure':
          // Requests built once by observe(); each check asked at most once per pass.
          for (const req of snap.measurementRequests) {
            if (!action.checks.includes(req.check.name) || measured.has(req.check.name)) continue;
            measured.add(req.check.name);
            ctx.measurements.request(req);
          }
          break;
        default: {
          const never: never = action;
          throw new Error(`unknown action ${JSON.stringify(never)}`);
        }
      }
    } catch (err) {
      if (err instanceof LeadershipLostError) throw err;
      throw new ActionError(action.type, describeTarget(action, canary, dep), err);
    }
  }
}

/** A merge patch preconditioned on the object's resourceVersion. */
function merge(d: DeploymentObject, body: { metadata?: Record<string, unknown>; spec?: Record<string, unknown> }): DeploymentPatch {
  return { type: PATCH.merge, body: { ...body, metadata: { ...(body.metadata ?? {}), resourceVersion: d.metadata.resourceVersion } } };
}

function releasePatch(d: DeploymentObject, unpause: boolean): DeploymentPatch {
  const labels = d.metadata.labels ?? {};
  const annotations = d.metadata.annotations ?? {};
  const gated = labels[LABELS.canary] !== undefined || annotations[ANNOTATIONS.stableRevision] !== undefined || annotations[ANNOTATIONS.heldReason] !== undefined;
  if (!gated && !(unpause && d.spec.paused === true)) return undefined;
  return merge(d, {
    metadata: { labels: { [LABELS.canary]: null }, annotations: { [ANNOTATIONS.stableRevision]: null, [ANNOTATIONS.heldReason]: null } },
    ...(unpause ? { spec: { paused: false } } : {}),
  });
}

/** What a Deployment decision depends on: the template's revision, the stable revision, the gate. */
function sameBasis(decidedOn: DeploymentObject, live: DeploymentObject): boolean {
  return (
    decidedOn.metadata.uid === live.metadata.uid &&
    revisionOf(decidedOn.spec.template) === revisionOf(live.spec.template) &&
    decidedOn.metadata.annotations?.[ANNOTATIONS.stableRevision] === live.metadata.annotations?.[ANNOTATIONS.stableRevision] &&
    decidedOn.metadata.labels?.[LABELS.canary] === live.metadata.labels?.[LABELS.canary]
  );
}

function conflict(message: string): KubeApiError {
  return new KubeApiError(message, 409, 'Conflict');
}

function describeTarget(action: Action, canary: Canary, dep: DeploymentObject | undefined): string {
  switch (action.type) {
    case 'AddFinalizer':
    case 'RemoveFinalizer':
    case 'Measure':
      return `Canary ${canary.metadata.name}`;
    case 'EnsureCanaryReplicaSet':
      return `canary ReplicaSet ${canaryReplicaSetName(dep?.metadata.name ?? canary.spec.targetRef.name, action.revision)}`;
    case 'EnsureBaselineReplicaSet':
      return `baseline ReplicaSet ${baselineReplicaSetName(dep?.metadata.name ?? canary.spec.targetRef.name, action.revision)}`;
    case 'DeleteCanaryReplicaSets':
      return `canary and baseline ReplicaSets of Canary ${canary.metadata.name}`;
    default:
      return `Deployment ${dep?.metadata.name ?? canary.spec.targetRef.name}`;
  }
}
