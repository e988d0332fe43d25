// Faults of the catalogue on the workload side: the Deployment deleted and re-created from its
// manifest mid-canary, scaled every second by an HPA-like writer, re-applied every second or two
// by a GitOps-like server-side apply loop, and the Datadog Secret deleted mid-analysis and
// restored later. Writers use field managers of their own, never the operator's.
import { LABELS } from '../../src/api/constants.js';
import type { Canary } from '../../src/api/types.js';
import { PATCH, paths, type KubeObject } from '../../src/kube/raw-client.js';
import type { ChaosContext, Fault } from './fault.js';



interface Container {
  name: string;
  image: string;
  [k: string]: unknown;
}

interface DeploymentObject extends KubeObject {
  spec: {
    replicas?: number;
    paused?: boolean;
    selector: unknown;
    strategy?: unknown;
    template: { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec: { containers: Container[]; [k: string]: unknown } };
    [k: string]: unknown;
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A background loop that runs `tick` until stopped; a failing tick is logged and the loop goes on. */
class Loop {
  private on = true;
  private done: Promise<void> = Promise.resolve();
  errors = 0;
  ticks = 0;

  start(ctx: ChaosContext, what: string, everyMs: () => number, tick: () => Promise<void>): void {
    this.on = true;
    this.errors = 0;
    this.ticks = 0;
    this.done = (async () => {
      while (this.on) {
        try {
          await tick();
          this.ticks++;
        } catch (err) {
          this.errors++;
          if (this.errors <= 3) ctx.log(`${what}: ${(err as Error).message.slice(0, 200)}`);
        }
        await sleep(everyMs());
      }
    })();
  }

  async stop(): Promise<void> {
    this.on = false;
    await this.done;
  }
}

/**
 * The Deployment as its author's manifest has it: what Git or a chart holds, without what the
 * apiserver, the Deployment controller or the operator added (uid, status, the gate's label and
 * annotations, spec.paused).
 */
export function manifestOf(live: DeploymentObject): DeploymentObject {
  const labels = { ...(live.metadata.labels ?? {}) };
  delete labels[LABELS.canary];
  const annotations = Object.fromEntries(
    Object.entries(live.metadata.annotations ?? {}).filter(([k]) => !k.startsWith('deployer.dev/') && k !== 'deployment.kubernetes.io/revision' && k !== 'kubectl.kubernetes.io/last-applied-configuration'),
  );
  const spec: DeploymentObject['spec'] = { ...structuredClone(live.spec) };
  delete spec.paused;
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: live.metadata.name,
      ...(Object.keys(labels).length ? { labels } : {}),
      ...(Object.keys(annotations).length ? { annotations } : {}),
    },
    spec,
  };
}

function pick<T>(random: () => number, list: readonly T[]): T {
  return list[Math.min(list.length - 1, Math.floor(random() * list.length))]!;
}

/** A Deployment with a canary running (Progressing or Paused), else any of the fleet. */
async function busyDeployment(ctx: ChaosContext): Promise<string> {
  const canaries = (await ctx.client.list<Canary & KubeObject>(paths.canaries(ctx.namespace))).items;
  const busy = canaries.filter((c) => ['Progressing', 'Paused'].includes(c.status?.phase ?? '')).map((c) => c.spec.targetRef.name);
  const inFleet = busy.filter((n) => ctx.deployments.includes(n));
  return pick(ctx.random, inFleet.length ? inFleet : ctx.deployments);
}

/** The image a field manager other than the operator wrote last (Git's content), per container. */
function imageOwners(live: DeploymentObject): Map<string, string> {
  const owners = new Map<string, string>();
  for (const mf of (live.metadata.managedFields as Array<{ manager?: string; fieldsV1?: Record<string, unknown> }> | undefined) ?? []) {
    const containers = ((((mf.fieldsV1?.['f:spec'] as Record<string, unknown> | undefined)?.['f:template'] as Record<string, unknown> | undefined)?.['f:spec'] as
      | Record<string, unknown>
      | undefined)?.['f:containers'] ?? {}) as Record<string, Record<string, unknown>>;
    for (const [key, fields] of Object.entries(containers)) {
      const name = /^k:\{"name":"(.*)"\}$/.exec(key)?.[1];
      if (name && fields['f:image'] !== undefined) owners.set(name, mf.manager ?? '');
    }
  }
  return owners;
}

export function workloadFaultsFor(): Fault[] {
  // Deployment deleted and re-created
  let recreated: string | undefined;
  // HPA-like writer
  const scaler = new Loop();
  const scaled = new Map<string, number>();
  // GitOps-like apply loop
  const gitops = new Loop();
  const git = new Map<string, DeploymentObject>();
  // Secret deleted and restored
  let secretBackup: Array<{ name: string; data: Record<string, string>; type?: string }> = [];

  const faults: Fault[] = [
    ...(['Orphan', 'Background'] as const).map(
      (propagation): Fault => ({
        name: propagation === 'Orphan' ? 'Deployment deleted (ReplicaSets orphaned) and re-created' : 'Deployment deleted with its ReplicaSets and re-created',
        userSees:
          propagation === 'Orphan'
            ? 'While the Deployment is gone: Failed, TargetNotFound "Deployment NS/NAME not found; canary pods are removed at T unless it comes back" (the canary pods stay ' +
              'for a minute). Its create is held at once by the webhook (gate label, the verified revision, spec.paused; the new Deployment adopts the orphaned stable ' +
              'ReplicaSet, so the stable pods keep serving), then a TargetRecreated Warning ("was deleted and re-created (uid A is now B); its template, revision R ' +
              '(version V) was not verified … it is held for verification", phase Paused) and the revision is verified again from step 1 (NewRevision, then Succeeded ' +
              'or RolledBack on its checks).'
            : 'The stable pods go with the old Deployment. A Deployment created paused would get no pods at all, so the webhook guards the new one again (gate label, ' +
              'the verified revision) but does not hold it, with a warning ("no ReplicaSet of its verified revision … survives to keep serving: it rolls out now, ' +
              'unverified"); the Canary then reports the rollout it did not verify.',
        fast: false,
        async inject(ctx) {
          const name = await busyDeployment(ctx);
          const live = await ctx.client.get<DeploymentObject>(paths.deployment(ctx.namespace, name));
          const manifest = manifestOf(live);
          // Helm --force / Argo CD Replace=true,Force=true: delete (its ReplicaSets and pods with it,
          // or orphaned for the new object to adopt), wait until it is gone, create it again.
          recreated = name;
          await ctx.client.delete(paths.deployment(ctx.namespace, name), { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: propagation });
          for (let i = 0; i < 300; i++) {
            try {
              await ctx.client.get(paths.deployment(ctx.namespace, name));
              await sleep(100);
            } catch {
              break;
            }
          }
          await ctx.client.create(paths.deployments(ctx.namespace), manifest, { fieldManager: 'helm' });
          ctx.log(`Deployment ${name} deleted (propagation ${propagation}) and re-created from its manifest (${manifest.spec.template.spec.containers[0]?.image})`);
        },
        async heal(ctx) {
          if (!recreated) return;
          // Nothing to undo; the Deployment must exist (a failed create is retried here).
          await ctx.client.get(paths.deployment(ctx.namespace, recreated));
          recreated = undefined;
        },
      }),
    ),
    {
      name: 'HPA-like scaler every second',
      userSees:
        'Nothing unusual: spec.replicas changes every second through the scale subresource (field manager hpa-like); canaryReplicas follows max(1, ⌈stable × w / (100 − w)⌉) ' +
        'on the next pass, the readiness deadline restarts on each resize, the canary completes (Succeeded) or rolls back on its checks as it would without the scaler, ' +
        'never two canary ReplicaSets.',
      fast: false,
      async inject(ctx) {
        scaled.clear();
        for (const name of ctx.deployments) {
          const d = await ctx.client.get<DeploymentObject>(paths.deployment(ctx.namespace, name));
          scaled.set(name, d.spec.replicas ?? 1);
        }
        scaler.start(ctx, 'HPA-like scaler', () => 1_000, async () => {
          for (const [name, base] of scaled) {
            const replicas = Math.max(1, base + pick(ctx.random, [-1, 0, 1, 2]));
            await ctx.client.patch(`${paths.deployment(ctx.namespace, name)}/scale`, { spec: { replicas } }, PATCH.merge, { fieldManager: 'hpa-like' });
          }
        });
      },
      async heal(ctx) {
        await scaler.stop();
        ctx.log(`HPA-like scaler: ${scaler.ticks} rounds, ${scaler.errors} failed`);
        for (const [name, replicas] of scaled) {
          await ctx.client.patch(`${paths.deployment(ctx.namespace, name)}/scale`, { spec: { replicas } }, PATCH.merge, { fieldManager: 'hpa-like' });
        }
      },
    },
    {
      name: 'GitOps server-side apply loop',
      userSees:
        'Nothing unusual: the apply (field manager kustomize-controller, force, without spec.paused) re-sends the same template, so the held revision stays held ' +
        '(the webhook keeps spec.paused true and the gate metadata), the canary runs to Succeeded or RolledBack, and an image Git changes arrives as the next revision. ' +
        'After a rollback the loop keeps re-applying the failed template: it stays held and RolledBack until Git changes.',
      fast: false,
      async inject(ctx) {
        git.clear();
        for (const name of ctx.deployments) {
          git.set(name, manifestOf(await ctx.client.get<DeploymentObject>(paths.deployment(ctx.namespace, name))));
        }
        gitops.start(ctx, 'GitOps apply loop', () => 1_000 + Math.floor(ctx.random() * 1_000), async () => {
          for (const [name, manifest] of git) {
            const live = await ctx.client.get<DeploymentObject>(paths.deployment(ctx.namespace, name));
            // A new commit: an image written by someone other than this loop and the operator is what
            // Git now holds (the harness ships revisions that way). The operator's own writes (a
            // restored stable template) are drift, which the loop reverts as Flux would.
            const owners = imageOwners(live);
            for (const c of manifest.spec.template.spec.containers) {
              const owner = owners.get(c.name);
              const now = live.spec.template.spec.containers.find((x) => x.name === c.name)?.image;
              if (now && now !== c.image && owner !== undefined && owner !== 'kustomize-controller' && owner !== 'deployer') c.image = now;
            }
            await ctx.client.patch(paths.deployment(ctx.namespace, name), manifest, PATCH.apply, { fieldManager: 'kustomize-controller', force: true });
          }
        });
      },
      async heal(ctx) {
        await gitops.stop();
        ctx.log(`GitOps apply loop: ${gitops.ticks} rounds, ${gitops.errors} failed`);
      },
    },
    {
      name: 'Datadog Secret deleted mid-analysis',
      userSees:
        'Within seconds (the Secret is re-read every 5 s): a canary in analysis records Error "Secret NS/datadog not found" each interval and rolls back after 3 ' +
        '(RolledBack, CheckErrors "could not be measured 3 times in a row: Secret NS/datadog not found"); a Canary not in analysis turns Failed, SecretNotFound ' +
        '"…; new revisions will be held and rolled back until it is fixed" (a promotion already under way goes on). After the Secret is restored: picked up within ' +
        '10 s, the Canary is Waiting again and the next revision is verified and promoted.',
      fast: true,
      async inject(ctx) {
        const canaries = (await ctx.client.list<Canary & KubeObject>(paths.canaries(ctx.namespace))).items;
        const names = [...new Set(canaries.map((c) => c.spec.datadog?.secretRef.name).filter((n): n is string => !!n))];
        secretBackup = [];
        for (const name of names) {
          const s = await ctx.client.get<KubeObject & { data?: Record<string, string>; type?: string }>(paths.secret(ctx.namespace, name));
          secretBackup.push({ name, data: s.data ?? {}, ...(s.type ? { type: s.type } : {}) });
          await ctx.client.delete(paths.secret(ctx.namespace, name));
        }
        ctx.log(`Secret(s) ${names.join(', ')} deleted`);
      },
      async heal(ctx) {
        for (const s of secretBackup) {
          await ctx.client.create(paths.secrets(ctx.namespace), { apiVersion: 'v1', kind: 'Secret', metadata: { name: s.name }, data: s.data, ...(s.type ? { type: s.type } : {}) }, { fieldManager: 'kubectl-create' });
        }
        secretBackup = [];
      },
    },
  ];
  return faults;
}

export const workloadFaults: Fault[] = workloadFaultsFor();

