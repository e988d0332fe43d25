// execute(): performs a decision's actions. Each is idempotent; children have fixed names,
// so AlreadyExists means done; every write to the Deployment and the Canary carries the
// resourceVersion it was decided on, so a stale decision fails with 409 and is re-made.
import { ANNOTATIONS, FINALIZER, LABELS } from '../api/constants.js';
import { API_VERSION, CANARY_KIND, type Canary } from '../api/types.js';
import type { DatadogCredentials, MeasurementSource } from '../analysis/provider.js';
import { isAlreadyExists, isNotFound } from '../kube/errors.js';
import { PATCH, paths, type KubeObject, type RawClient } from '../kube/raw-client.js';
import { measurementNotBefore, settingsOf, type Action, type Decision } from './decide.js';
import { canaryKey, type Snapshot } from './observe.js';
import { revisionOf, type PodTemplate } from './revision.js';

export interface ExecuteContext {
  client: RawClient;
  measurements: MeasurementSource;
}

/** Name of the canary ReplicaSet for a revision: predictable, so a retry finds it. */
export function canaryReplicaSetName(target: string, revision: string): string {
  const suffix = `-canary-${revision}`;
  return `${target.slice(0, 240 - suffix.length)}${suffix}`;
}

type DeploymentObject = KubeObject & { spec: { template: PodTemplate; selector: { matchLabels?: Record<string, string>; matchExpressions?: unknown[] } } };

export function canaryReplicaSet(canary: Canary, deployment: DeploymentObject, revision: string, version: string, replicas: number): KubeObject {
  const template = structuredClone(deployment.spec.template);
  const labels: Record<string, string> = { ...(template.metadata?.labels ?? {}) };
  delete labels[LABELS.podTemplateHash];
  Object.assign(labels, {
    [LABELS.role]: 'canary',
    [LABELS.canaryOf]: canary.metadata.name,
    [LABELS.revision]: revision,
    [LABELS.ddVersion]: version,
  });
  template.metadata = { ...(template.metadata ?? {}), labels };
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
      labels: { [LABELS.role]: 'canary', [LABELS.canaryOf]: canary.metadata.name, [LABELS.revision]: revision },
      annotations: { 'deployer.dev/target': deployment.metadata.name },
      ownerReferences: [{ apiVersion: API_VERSION, kind: CANARY_KIND, name: canary.metadata.name, uid: canary.metadata.uid, controller: true, blockOwnerDeletion: true }],
    },
    spec: { replicas, selector, template },
  };
}

/** Performs the actions; returns the Canary's resourceVersion after its own writes. */
export async function execute(canary: Canary, decision: Decision, snap: Snapshot, ctx: ExecuteContext): Promise<string | undefined> {
  let canaryRv = canary.metadata.resourceVersion;
  const ns = canary.metadata.namespace;
  const dep = snap.deployment as DeploymentObject | undefined;
  let depRv = dep?.metadata.resourceVersion;
  const patchDeployment = async (body: Record<string, unknown>): Promise<void> => {
    if (!dep) return;
    const meta = (body.metadata as Record<string, unknown> | undefined) ?? {};
    const res = await ctx.client.patch<KubeObject>(paths.deployment(ns, dep.metadata.name), { ...body, metadata: { ...meta, resourceVersion: depRv } });
    depRv = res.metadata.resourceVersion;
  };

  for (const action of decision.actions) {
    switch (action.type) {
      case 'AddFinalizer':
      case 'RemoveFinalizer': {
        const current = canary.metadata.finalizers ?? [];
        const finalizers = action.type === 'AddFinalizer' ? [...current.filter((f) => f !== FINALIZER), FINALIZER] : current.filter((f) => f !== FINALIZER);
        try {
          const res = await ctx.client.patch<KubeObject>(paths.canary(ns, canary.metadata.name), { metadata: { finalizers, resourceVersion: canaryRv } });
          canaryRv = res.metadata.resourceVersion;
        } catch (err) {
          if (!(action.type === 'RemoveFinalizer' && isNotFound(err))) throw err;
        }
        break;
      }
      case 'AdoptDeployment':
        await patchDeployment({ metadata: { labels: { [LABELS.canary]: canary.metadata.name }, annotations: { [ANNOTATIONS.stableRevision]: action.stableRevision } } });
        break;
      case 'HoldDeployment':
        await patchDeployment({ metadata: { annotations: { [ANNOTATIONS.heldReason]: `revision ${snap.observed.deployment?.revision} awaits canary analysis` } }, spec: { paused: true } });
        break;
      case 'UnholdDeployment':
        await patchDeployment({ metadata: { annotations: { [ANNOTATIONS.heldReason]: null } }, spec: { paused: false } });
        break;
      case 'PromoteDeployment':
        await patchDeployment({ metadata: { annotations: { [ANNOTATIONS.stableRevision]: action.revision, [ANNOTATIONS.heldReason]: null } }, spec: { paused: false } });
        break;
      case 'ReleaseDeployment':
        try {
          await patchDeployment({
            metadata: { labels: { [LABELS.canary]: null }, annotations: { [ANNOTATIONS.stableRevision]: null, [ANNOTATIONS.heldReason]: null } },
            ...(action.unpause ? { spec: { paused: false } } : {}),
          });
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
        break;
      case 'RestoreStableTemplate':
        await restoreStableTemplate(ctx.client, dep!, action.revision, depRv);
        break;
      case 'EnsureCanaryReplicaSet': {
        if (!dep) break;
        const name = canaryReplicaSetName(dep.metadata.name, action.revision);
        const existing = snap.replicaSets.find((rs) => rs.metadata.name === name) as (KubeObject & { spec?: { replicas?: number } }) | undefined;
        if (!existing) {
          try {
            await ctx.client.create(paths.replicaSets(ns), canaryReplicaSet(canary, dep, action.revision, action.version, action.replicas));
          } catch (err) {
            if (!isAlreadyExists(err)) throw err;
          }
        } else if ((existing.spec?.replicas ?? 0) !== action.replicas) {
          await ctx.client.patch(paths.replicaSet(ns, name), { metadata: { resourceVersion: existing.metadata.resourceVersion }, spec: { replicas: action.replicas } });
        }
        break;
      }
      case 'DeleteCanaryReplicaSets':
        for (const rs of snap.replicaSets) {
          if (action.keepRevision !== undefined && rs.metadata.labels?.[LABELS.revision] === action.keepRevision) continue;
          try {
            await ctx.client.delete(paths.replicaSet(ns, rs.metadata.name), { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background', preconditions: { uid: rs.metadata.uid } });
          } catch (err) {
            if (!isNotFound(err)) throw err;
          }
        }
        break;
      case 'Measure':
        requestMeasurements(canary, decision, snap, ctx.measurements, action.checks);
        break;
      default: {
        const never: never = action;
        throw new Error(`unknown action ${JSON.stringify(never)}`);
      }
    }
  }
  return canaryRv;
}

function requestMeasurements(canary: Canary, decision: Decision, snap: Snapshot, source: MeasurementSource, names: string[]): void {
  const credentials: DatadogCredentials | undefined = snap.credentials;
  const started = decision.status.analysisStartedAt ? Date.parse(decision.status.analysisStartedAt) : undefined;
  if (!credentials || started === undefined) return;
  const { intervalMs } = settingsOf(canary);
  for (const check of snap.observed.checks) {
    if (!names.includes(check.name)) continue;
    const cs = decision.status.checks?.find((c) => c.name === check.name);
    source.request({ canaryKey: canaryKey(canary), check, credentials, notBefore: measurementNotBefore(cs, started, intervalMs) });
  }
}

/** Puts the stable revision's template (from the Deployment's own ReplicaSet) back. */
async function restoreStableTemplate(client: RawClient, dep: DeploymentObject, revision: string, rv: string | undefined): Promise<void> {
  const list = await client.list<KubeObject & { spec?: { template?: PodTemplate } }>(paths.replicaSets(dep.metadata.namespace));
  const owned = list.items.filter((rs) => (rs.metadata.ownerReferences ?? []).some((o) => o.uid === dep.metadata.uid));
  const match = owned.find((rs) => revisionOf(rs.spec?.template) === revision);
  if (!match?.spec?.template) throw new Error(`no ReplicaSet of Deployment ${dep.metadata.name} runs stable revision ${revision}`);
  const template = structuredClone(match.spec.template);
  if (template.metadata?.labels) delete template.metadata.labels[LABELS.podTemplateHash];
  await client.patch(
    paths.deployment(dep.metadata.namespace ?? '', dep.metadata.name),
    [
      { op: 'test', path: '/metadata/resourceVersion', value: rv },
      { op: 'replace', path: '/spec/template', value: template },
      { op: 'add', path: `/metadata/annotations/${ANNOTATIONS.stableRevision.replace('/', '~1')}`, value: revision },
      { op: 'add', path: '/spec/paused', value: false },
    ],
    PATCH.json,
  );
}
