// observe(): reads what one Release decision needs. Target Deployments are read live (a GET each:
// the operator caches only guarded Deployments, and a release has a handful of targets); their
// ReplicaSets are listed only while the revision before the change can still be needed; Canaries
// and other Releases come from the informer caches; post-release measurements are peeked from
// the measurement runner, the Datadog Secret read through the Canary's Secret cache.
import { ANNOTATIONS, CONDITIONS, LABELS } from '../api/constants.js';
import type { Canary, CanaryStatus } from '../api/types.js';
import { RELEASE_PHASES, TARGET_PHASES, type Release } from '../api/release-types.js';
import type { DatadogCredentials, MeasurementRequest, MeasurementSource } from '../analysis/provider.js';
import { parseDatadogSecret } from '../analysis/secret.js';
import { resolveChecks } from '../analysis/template.js';
import { parseDuration } from '../analysis/duration.js';
import { getCondition } from '../canary/conditions.js';
import { secretData, type DeploymentObject, type LabelSelector, type SecretCache } from '../canary/observe.js';
import { checkSecretsFor, secretNamesOf, type SecretData } from '../analysis/check-secrets.js';
import { isDatadogCheck } from '../analysis/datadog-check.js';
import { revisionOf, versionOf, type PodTemplate } from '../canary/revision.js';
import { isNotFound } from '../kube/errors.js';
import { paths, type KubeObject, type RawClient } from '../kube/raw-client.js';
import type { ObjectStore } from '../runtime/informer.js';
import { holderOf, RELEASE_DEFAULTS, type Observed, type ObservedCanary, type ObservedTarget } from './decide.js';

/** Pod template labels that name the version a template belongs to (GitOps targets). */
export const VERSION_LABELS = ['app.kubernetes.io/version', LABELS.ddVersion] as const;

export interface ReleaseObserveContext {
  client: RawClient;
  canaries: ObjectStore;
  releases: ObjectStore;
  secrets: SecretCache;
  measurements: MeasurementSource;
}

export interface ReleaseSnapshot {
  observed: Observed;
  deployments: Record<string, DeploymentObject>;
  measurementRequests: MeasurementRequest[];
}

type ReplicaSetObject = KubeObject & { spec?: { template?: PodTemplate } };

export const releaseKey = (r: { metadata: { namespace?: string; name: string } }): string => `${r.metadata.namespace ?? ''}/${r.metadata.name}`;

export async function observe(release: Release, ctx: ReleaseObserveContext, now: number, signal?: AbortSignal): Promise<ReleaseSnapshot> {
  const ns = release.metadata.namespace;
  const st = release.status;
  const targets: Record<string, ObservedTarget> = {};
  const deployments: Record<string, DeploymentObject> = {};
  const canaries = ctx.canaries.list(ns) as unknown as Canary[];
  const releases = ctx.releases.list(ns) as unknown as Release[];
  const settled = st?.releaseGeneration === release.metadata.generation && st?.phase !== RELEASE_PHASES.Failed;
  for (const t of release.spec.targets ?? []) {
    if (targets[t.deployment]) continue;
    let dep: DeploymentObject | undefined;
    try {
      dep = await ctx.client.get<DeploymentObject>(paths.deployment(ns, t.deployment), signal);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    const claimedBy = releases.find((o) => o.metadata.name !== release.metadata.name && (o.spec?.targets ?? []).some((x) => x.deployment === t.deployment) && olderThan(o, release))?.metadata.name;
    if (!dep) {
      targets[t.deployment] = { deployment: t.deployment, exists: false, containers: [], revision: '', version: '', revisionWithImages: '', versionWithImages: '', rolledOut: false, ...(claimedBy ? { claimedBy } : {}) };
      continue;
    }
    deployments[t.deployment] = dep;
    const template = dep.spec?.template ?? {};
    const withImages = structuredClone(template);
    for (const c of withImages.spec?.containers ?? []) {
      const image = c.name !== undefined ? t.images?.[c.name] : undefined;
      if (image !== undefined) c.image = image;
    }
    const versionLabel = versionLabelOf(template);
    const canary = guardOf(canaries, t.deployment);
    // The revision before the change matters only until the target starts (or while it may).
    const status = st?.targets?.find((x) => x.deployment === t.deployment);
    const needPrevious = !canary?.status?.stableRevision && (!settled || status === undefined || status.phase === TARGET_PHASES.Pending || status.phase === TARGET_PHASES.WaitingForTemplate);
    const previous = needPrevious ? await previousRevisionOf(ctx.client, dep, signal) : undefined;
    targets[t.deployment] = {
      deployment: t.deployment,
      exists: true,
      containers: (template.spec?.containers ?? []).map((c) => c.name ?? ''),
      revision: revisionOf(template),
      version: versionOf(template),
      ...(versionLabel !== undefined ? { versionLabel } : {}),
      revisionWithImages: revisionOf(withImages),
      versionWithImages: versionOf(withImages),
      ...(previous ? { previousRevision: previous.revision, previousVersion: previous.version, ...(previous.versionLabel !== undefined ? { previousVersionLabel: previous.versionLabel } : {}) } : {}),
      rolledOut: rolledOut(dep),
      ...(canary ? { canary: observeCanary(canary) } : {}),
      ...(claimedBy ? { claimedBy } : {}),
    };
  }

  // Post-release checks: resolved with the release's version; measured while the release may verify.
  const post = release.spec.postRelease;
  const specProblems: string[] = [];
  let checks: string[] = [];
  const measurements: Observed['measurements'] = {};
  const measurementRequests: MeasurementRequest[] = [];
  /** Per check: why it cannot be measured (its Secret); recorded as an Error measurement when due. */
  const checkProblems: Record<string, string> = {};
  if (post && post.checks?.length) {
    const resolved = resolveChecks(
      { targetRef: { name: release.metadata.name }, steps: [], analysis: { ...(post.interval ? { interval: post.interval } : {}), checks: post.checks } },
      { version: release.spec.version, stableVersion: release.spec.version, revision: String(release.metadata.generation ?? ''), name: release.metadata.name, namespace: ns, target: release.metadata.name },
    );
    if (!resolved.ok) specProblems.push(`postRelease: ${resolved.error}`);
    else {
      checks = resolved.checks.map((c) => c.name);
      const verifying = st?.phase === RELEASE_PHASES.Verifying || st?.phase === RELEASE_PHASES.Progressing;
      if (verifying && st?.releaseGeneration === release.metadata.generation) {
        // Datadog checks read spec.datadog's Secret; Prometheus and webhook checks their own.
        let credentials: DatadogCredentials | undefined;
        let credentialsProblem: string | undefined;
        if (resolved.checks.some(isDatadogCheck)) {
          const secretName = release.spec.datadog?.secretRef?.name;
          if (!secretName) credentialsProblem = 'datadog.secretRef is required for Datadog post-release checks';
          else {
            const read = await ctx.secrets.get(ns, secretName, now);
            if (read.state === 'NotFound') credentialsProblem = `Secret ${ns}/${secretName} not found`;
            else if (read.state === 'Unreadable') credentialsProblem = `Secret ${ns}/${secretName} could not be read (${read.message})`;
            else {
              const parsed = parseDatadogSecret(read.data, `${ns}/${secretName}`);
              if (parsed.ok) credentials = parsed.credentials;
              else credentialsProblem = parsed.message;
            }
          }
        }
        const secretsRead = new Map<string, SecretData>();
        for (const name of new Set(resolved.checks.flatMap(secretNamesOf))) secretsRead.set(name, secretData(await ctx.secrets.get(ns, name, now)));
        const intervalMs = parseDuration(post.interval ?? RELEASE_DEFAULTS.postReleaseInterval) ?? 60_000;
        const since = st?.promotedAt ? Date.parse(st.promotedAt) : now;
        for (const check of resolved.checks) {
          const last = st?.checks?.find((c) => c.name === check.name)?.measurements.at(-1);
          const base = { canaryKey: releaseKey(release), check, notBefore: last ? Date.parse(last.time) + intervalMs / 2 : since };
          let req: MeasurementRequest;
          if (isDatadogCheck(check)) {
            if (!credentials) {
              checkProblems[check.name] = credentialsProblem ?? 'no Datadog credentials';
              continue;
            }
            req = { ...base, credentials };
          } else {
            const secrets = checkSecretsFor(check, ns, (name) => secretsRead.get(name) ?? { ok: false, message: 'was not read' });
            if (!secrets.ok) {
              checkProblems[check.name] = secrets.message;
              continue;
            }
            req = { ...base, ...(secrets.secrets ? { secrets: secrets.secrets } : {}) };
          }
          measurementRequests.push(req);
          const m = st?.phase === RELEASE_PHASES.Verifying ? ctx.measurements.peek(req) : undefined;
          if (m) measurements[check.name] = m;
        }
      }
    }
  }
  return {
    observed: { targets, specProblems, checks, measurements, checkProblems, heldCanaries: canariesHeldBy(canaries as unknown as KubeObject[], holderOf(release)).map((c) => c.metadata.name) },
    deployments,
    measurementRequests,
  };
}

/** The Canary guarding a Deployment: the oldest of the namespace whose targetRef names it. */
export function guardOf(canaries: Canary[], deployment: string): Canary | undefined {
  return canaries
    .filter((c) => c.spec?.targetRef?.name === deployment && !c.metadata.deletionTimestamp)
    .sort((a, b) => ((a.metadata.creationTimestamp ?? '') < (b.metadata.creationTimestamp ?? '') ? -1 : (a.metadata.creationTimestamp ?? '') > (b.metadata.creationTimestamp ?? '') ? 1 : a.metadata.name < b.metadata.name ? -1 : 1))[0];
}

export function observeCanary(c: Canary): ObservedCanary {
  const s: CanaryStatus = c.status ?? {};
  const ready = getCondition(s.conditions, CONDITIONS.Ready)?.status === 'True' && (s.observedGeneration ?? 0) >= (c.metadata.generation ?? 0);
  return {
    name: c.metadata.name,
    ...(s.stableRevision ? { stableRevision: s.stableRevision } : {}),
    ...(s.stableVersion ? { stableVersion: s.stableVersion } : {}),
    ...(s.failedRevision ? { failedRevision: s.failedRevision } : {}),
    ...(s.canaryRevision ? { canaryRevision: s.canaryRevision } : {}),
    ...(s.phase ? { phase: s.phase } : {}),
    ready,
    ...(s.lastResult ? { lastResult: s.lastResult } : {}),
    ...(s.history?.length
      ? { promotions: s.history.filter((h) => h.outcome === 'Promoted').map((h) => ({ revision: h.revision, ...(h.stableRevisionBefore ? { stableRevisionBefore: h.stableRevisionBefore } : {}) })) }
      : {}),
    annotations: { ...(c.metadata.annotations ?? {}) },
    handled: {
      ...(s.requests?.promote ? { promote: s.requests.promote.id } : {}),
      ...(s.requests?.abort ? { abort: s.requests.abort.id } : {}),
      ...(s.requests?.retry ? { retry: s.requests.retry.id } : {}),
    },
  };
}

/** Every replica runs the template and is available (the Deployment controller saw the latest spec). */
export function rolledOut(d: DeploymentObject): boolean {
  const replicas = d.spec?.replicas ?? 1;
  const s = d.status ?? {};
  return (
    (s.observedGeneration ?? 0) >= (d.metadata.generation ?? 0) &&
    (s.updatedReplicas ?? 0) === replicas &&
    (s.availableReplicas ?? 0) === replicas &&
    (s.replicas ?? 0) === replicas &&
    d.spec?.paused !== true
  );
}

/** The newest of the Deployment's ReplicaSets whose template is not the Deployment's. */
async function previousRevisionOf(client: RawClient, dep: DeploymentObject, signal?: AbortSignal): Promise<{ revision: string; version: string; versionLabel?: string } | undefined> {
  const selector = selectorString(dep.spec?.selector);
  const list = await client.list<ReplicaSetObject>(paths.replicaSets(dep.metadata.namespace), selector ? { labelSelector: selector } : undefined, signal);
  const current = revisionOf(dep.spec?.template);
  const number = (rs: ReplicaSetObject): number => Number(rs.metadata.annotations?.['deployment.kubernetes.io/revision'] ?? 0);
  const prev = list.items
    .filter((rs) => (rs.metadata.ownerReferences ?? []).some((o) => o.uid === dep.metadata.uid) && rs.metadata.labels?.[LABELS.canaryOf] === undefined && rs.spec?.template)
    .sort((a, b) => number(b) - number(a))
    .find((rs) => revisionOf(rs.spec?.template) !== current);
  if (!prev?.spec?.template) return undefined;
  const versionLabel = versionLabelOf(prev.spec.template);
  return { revision: revisionOf(prev.spec.template), version: versionOf(prev.spec.template), ...(versionLabel !== undefined ? { versionLabel } : {}) };
}

/** The template's version label (VERSION_LABELS, first set wins). */
export function versionLabelOf(template: PodTemplate | undefined): string | undefined {
  const labels = template?.metadata?.labels ?? {};
  return VERSION_LABELS.map((l) => labels[l]).find((v) => v !== undefined);
}

function selectorString(selector: LabelSelector | undefined): string | undefined {
  const entries = Object.entries(selector?.matchLabels ?? {});
  return entries.length ? entries.map(([k, v]) => `${k}=${v}`).join(',') : undefined;
}

function olderThan(a: { metadata: { creationTimestamp?: string; name: string } }, b: { metadata: { creationTimestamp?: string; name: string } }): boolean {
  const ta = a.metadata.creationTimestamp ?? '';
  const tb = b.metadata.creationTimestamp ?? '';
  return ta < tb || (ta === tb && a.metadata.name < b.metadata.name);
}

/** Canaries this Release holds (held-by names it). */
export function canariesHeldBy(canaries: KubeObject[], holder: string): KubeObject[] {
  return canaries.filter((c) => c.metadata.annotations?.[ANNOTATIONS.heldBy] === holder);
}
