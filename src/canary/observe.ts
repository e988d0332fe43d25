// observe(): reads everything one decision needs into a snapshot. Reads come from the
// informer caches; only the Datadog Secret is fetched (cached briefly, never logged).
import { LABELS, ANNOTATIONS } from '../api/constants.js';
import type { Canary } from '../api/types.js';
import { validateCanary } from '../api/validate.js';
import type { DatadogCredentials, MeasurementSource, ResolvedCheck } from '../analysis/provider.js';
import { parseDatadogSecret } from '../analysis/secret.js';
import { resolveChecks } from '../analysis/template.js';
import { isNotFound } from '../kube/errors.js';
import { paths, type KubeObject, type RawClient } from '../kube/raw-client.js';
import type { ObjectStore } from '../runtime/informer.js';
import { measurementNotBefore, settingsOf, type CredentialsState, type Observed, type ObservedDeployment, type ObservedReplicaSet } from './decide.js';
import { revisionOf, versionOf, type PodTemplate } from './revision.js';

export interface ObserveContext {
  client: RawClient;
  canaries: ObjectStore;
  deployments: ObjectStore;
  replicaSets: ObjectStore;
  secrets: SecretCache;
  measurements: MeasurementSource;
}

export interface Snapshot {
  observed: Observed;
  deployment?: KubeObject;
  replicaSets: KubeObject[];
  credentials?: DatadogCredentials;
}

export const canaryKey = (c: { metadata: { namespace?: string; name: string } }): string => `${c.metadata.namespace}/${c.metadata.name}`;

type DeploymentObject = KubeObject & {
  spec?: { paused?: boolean; replicas?: number; template?: PodTemplate; selector?: unknown; strategy?: { type?: string } };
  status?: { observedGeneration?: number; replicas?: number; updatedReplicas?: number; availableReplicas?: number; readyReplicas?: number };
};

export function observeDeployment(d: DeploymentObject): ObservedDeployment {
  const spec = d.spec ?? {};
  const status = d.status ?? {};
  const replicas = spec.replicas ?? 1;
  const updated = status.updatedReplicas ?? 0;
  const available = status.availableReplicas ?? 0;
  const current = status.replicas ?? 0;
  const observedGen = (status.observedGeneration ?? 0) >= (d.metadata.generation ?? 0);
  const rolloutComplete = observedGen && updated === replicas && available === replicas && current === replicas;
  const labels = d.metadata.labels ?? {};
  const annotations = d.metadata.annotations ?? {};
  return {
    name: d.metadata.name,
    uid: d.metadata.uid ?? '',
    strategy: spec.strategy?.type ?? 'RollingUpdate',
    updatedReplicas: updated,
    generationObserved: observedGen,
    revision: revisionOf(spec.template),
    version: versionOf(spec.template),
    paused: spec.paused === true,
    replicas,
    ...(labels[LABELS.canary] ? { guardLabel: labels[LABELS.canary] } : {}),
    ...(annotations[ANNOTATIONS.stableRevision] ? { stableAnnotation: annotations[ANNOTATIONS.stableRevision] } : {}),
    heldByUs: annotations[ANNOTATIONS.heldReason] !== undefined,
    rolloutComplete,
    rolloutMessage: `${updated}/${replicas} updated, ${available}/${replicas} available${observedGen ? '' : ', spec change not yet observed'}`,
    stableTemplateKnown: true,
  };
}

/** Datadog Secrets, fetched on demand and kept briefly. */
export class SecretCache {
  private readonly entries = new Map<string, { at: number; data: Record<string, string> | undefined }>();
  constructor(
    private readonly client: RawClient,
    private readonly ttlMs = 5_000,
  ) {}

  async get(namespace: string, name: string, now: number): Promise<Record<string, string> | undefined> {
    const key = `${namespace}/${name}`;
    const hit = this.entries.get(key);
    if (hit && now - hit.at < this.ttlMs) return hit.data;
    let data: Record<string, string> | undefined;
    try {
      const s = await this.client.get<{ data?: Record<string, string> }>(paths.secret(namespace, name));
      data = s.data ?? {};
    } catch (err) {
      if (!isNotFound(err)) throw err;
      data = undefined;
    }
    this.entries.set(key, { at: now, data });
    return data;
  }
}

export async function observe(canary: Canary, ctx: ObserveContext, now: number): Promise<Snapshot> {
  const ns = canary.metadata.namespace;
  const name = canary.metadata.name;
  const specProblems = validateCanary(canary).map((p) => `${p.path}: ${p.message}`);
  const depObj = ctx.deployments.get(canary.spec?.targetRef?.name ?? '', ns) as DeploymentObject | undefined;
  const replicaSets = ctx.replicaSets.list(ns).filter((rs) => rs.metadata.labels?.[LABELS.canaryOf] === name);
  const canaryReplicaSets: ObservedReplicaSet[] = replicaSets.map((rs) => {
    const r = rs as KubeObject & { spec?: { replicas?: number }; status?: { readyReplicas?: number } };
    return { name: rs.metadata.name, revision: rs.metadata.labels?.[LABELS.revision] ?? '', replicas: r.spec?.replicas ?? 0, readyReplicas: r.status?.readyReplicas ?? 0 };
  });
  const deployment = depObj ? observeDeployment(depObj) : undefined;

  let guardedByOther: string | undefined;
  if (deployment?.guardLabel && deployment.guardLabel !== name) {
    const other = ctx.canaries.get(deployment.guardLabel, ns);
    if (other && !other.metadata.deletionTimestamp) guardedByOther = deployment.guardLabel;
  }
  if (!guardedByOther && deployment && deployment.guardLabel !== name) {
    // Two Canaries for one Deployment: the older one guards it.
    const rival = ctx.canaries
      .list(ns)
      .filter((c) => (c as unknown as Canary).spec?.targetRef?.name === deployment.name && c.metadata.name !== name && !c.metadata.deletionTimestamp)
      .find((c) => olderThan(c, canary));
    if (rival) guardedByOther = rival.metadata.name;
  }

  let checks: ResolvedCheck[] = [];
  let credentials: DatadogCredentials | undefined;
  let credentialsState: CredentialsState | undefined;
  const hasChecks = (canary.spec?.analysis?.checks?.length ?? 0) > 0;
  if (deployment && hasChecks && specProblems.length === 0) {
    const testing = deployment.revision !== deployment.stableAnnotation;
    const version = testing ? deployment.version : (canary.status?.canaryVersion ?? deployment.version);
    const vars = {
      version,
      stableVersion: canary.status?.stableVersion ?? deployment.version,
      revision: testing ? deployment.revision : (canary.status?.canaryRevision ?? deployment.revision),
      name,
      namespace: ns,
      target: deployment.name,
    };
    const resolved = resolveChecks(canary.spec, vars);
    if (resolved.ok) checks = resolved.checks;
    else specProblems.push(resolved.error);
    const secretName = canary.spec.datadog?.secretRef.name;
    if (secretName) {
      const data = await ctx.secrets.get(ns, secretName, now);
      if (data === undefined) credentialsState = { ok: false, reason: 'SecretNotFound', message: `Secret ${ns}/${secretName} not found` };
      else {
        const parsed = parseDatadogSecret(data, `${ns}/${secretName}`);
        if (parsed.ok) {
          credentials = parsed.credentials;
          credentialsState = { ok: true };
        } else credentialsState = { ok: false, reason: parsed.reason, message: parsed.message };
      }
    }
  }

  const measurements: Observed['measurements'] = {};
  const started = canary.status?.analysisStartedAt ? Date.parse(canary.status.analysisStartedAt) : undefined;
  if (credentials && started !== undefined) {
    const { intervalMs } = settingsOf(canary);
    for (const check of checks) {
      const cs = canary.status?.checks?.find((c) => c.name === check.name);
      const m = ctx.measurements.peek({ canaryKey: canaryKey(canary), check, credentials, notBefore: measurementNotBefore(cs, started, intervalMs) });
      if (m) measurements[check.name] = m;
    }
  }

  return {
    observed: {
      specProblems,
      ...(deployment ? { deployment } : {}),
      canaryReplicaSets,
      ...(guardedByOther ? { guardedByOther } : {}),
      ...(credentialsState ? { credentials: credentialsState } : {}),
      checks,
      measurements,
    },
    ...(depObj ? { deployment: depObj } : {}),
    replicaSets,
    ...(credentials ? { credentials } : {}),
  };
}

function olderThan(a: KubeObject, b: { metadata: { creationTimestamp?: string; name: string } }): boolean {
  const ta = a.metadata.creationTimestamp ?? '';
  const tb = b.metadata.creationTimestamp ?? '';
  return ta < tb || (ta === tb && a.metadata.name < b.metadata.name);
}
