// execute(): carries out a Release decision. Each action is idempotent (a second run changes
// nothing), so a pass repeated after a crash or a conflict is harmless:
//  - images are set by server-side apply of only the listed containers' images, with the field
//    manager deployer-release: not the operator's own manager, so the admission webhook holds
//    the new template of a guarded Deployment as it holds a person's change;
//  - a revert writes the pod template of the ReplicaSet that ran the revision back into the
//    Deployment (as `kubectl rollout undo` does), under the same field manager;
//  - Canaries get the intent annotations a person would set (promote, abort, retry) and the
//    held-by annotation.
import { ANNOTATIONS, RELEASE_FIELD_MANAGER } from '../api/constants.js';
import type { MeasurementRequest, MeasurementSource } from '../analysis/provider.js';
import { observeStableRevision, type DeploymentObject } from '../canary/observe.js';
import { revisionOf } from '../canary/revision.js';
import { isNotFound } from '../kube/errors.js';
import { PATCH, paths, type RawClient } from '../kube/raw-client.js';
import type { Action } from './decide.js';

export interface ExecuteContext {
  client: RawClient;
  measurements: MeasurementSource;
  /** Checked before each write: still the leader of the pass's term. */
  mayWrite: () => boolean;
  signal?: AbortSignal;
}

export class ReleaseActionError extends Error {
  constructor(
    readonly action: string,
    readonly target: string,
    cause: unknown,
  ) {
    super(`${action} (${target}): ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'ReleaseActionError';
  }
}

export class WriteFenceError extends Error {
  constructor(what: string) {
    super(`did not ${what}: this instance no longer leads`);
    this.name = 'WriteFenceError';
  }
}

export async function execute(namespace: string, actions: readonly Action[], requests: readonly MeasurementRequest[], ctx: ExecuteContext): Promise<void> {
  for (const action of actions) {
    if (action.type === 'Measure') {
      for (const req of requests) if (action.checks.includes(req.check.name)) ctx.measurements.request(req);
      continue;
    }
    if (!ctx.mayWrite()) throw new WriteFenceError(action.type);
    try {
      await run(namespace, action, ctx);
    } catch (err) {
      throw new ReleaseActionError(action.type, 'deployment' in action ? `Deployment ${action.deployment}` : `Canary ${action.canary}`, err);
    }
  }
}

async function run(ns: string, action: Exclude<Action, { type: 'Measure' }>, ctx: ExecuteContext): Promise<void> {
  const { client, signal } = ctx;
  switch (action.type) {
    case 'ApplyImages': {
      const containers = Object.entries(action.images)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([name, image]) => ({ name, image }));
      await client.patch(
        paths.deployment(ns, action.deployment),
        { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: action.deployment, namespace: ns }, spec: { template: { spec: { containers } } } },
        PATCH.apply,
        { fieldManager: RELEASE_FIELD_MANAGER, force: true },
        signal,
      );
      return;
    }
    case 'RevertTemplate': {
      let dep: DeploymentObject;
      try {
        dep = await client.get<DeploymentObject>(paths.deployment(ns, action.deployment), signal);
      } catch (err) {
        if (isNotFound(err)) return;
        throw err;
      }
      if (revisionOf(dep.spec.template) === action.revision) return;
      const found = await observeStableRevision(client, dep, action.revision);
      if (!found) throw new Error(`no ReplicaSet of Deployment ${action.deployment} runs revision ${action.revision}, so its template cannot be restored`);
      await client.patch(
        paths.deployment(ns, action.deployment),
        [
          // Replacing (not testing) the resourceVersion makes a stale patch a 409 Conflict.
          { op: 'replace', path: '/metadata/resourceVersion', value: dep.metadata.resourceVersion },
          { op: 'replace', path: '/spec/template', value: found.template },
        ],
        PATCH.json,
        { fieldManager: RELEASE_FIELD_MANAGER },
        signal,
      );
      return;
    }
    case 'AnnotateCanary':
      await patchCanaryAnnotations(ctx, ns, action.canary, { [ANNOTATIONS[action.request]]: action.id });
      return;
    case 'HoldCanary':
      await patchCanaryAnnotations(ctx, ns, action.canary, { [ANNOTATIONS.heldBy]: action.holder });
      return;
    case 'ReleaseCanary':
      await patchCanaryAnnotations(ctx, ns, action.canary, { [ANNOTATIONS.heldBy]: null });
      return;
    default: {
      const never: never = action;
      throw new Error(`unknown action ${JSON.stringify(never)}`);
    }
  }
}

async function patchCanaryAnnotations(ctx: ExecuteContext, ns: string, name: string, annotations: Record<string, string | null>): Promise<void> {
  try {
    await ctx.client.patch(paths.canary(ns, name), { metadata: { annotations } }, PATCH.merge, undefined, ctx.signal);
  } catch (err) {
    // A Canary deleted meanwhile has nothing to hold or abort.
    if (!isNotFound(err)) throw err;
  }
}
