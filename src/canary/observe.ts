// observe(): reads everything one decision needs into a snapshot. Reads come from the
// informer caches; what a decision depends on the absence of (the target Deployment, the canary
// ReplicaSets of a canary in flight) is confirmed with a live read when the cache lacks it; the
// stable revision's template is looked up (a LIST with the Deployment's selector) only while a
// decision can need it, and remembered (a miss is looked up again after 30 s); the Datadog
// Secret is fetched (cached briefly, never logged).
import { LABELS, ANNOTATIONS, CONDITIONS, REASONS, ROLES } from '../api/constants.js';
import type { Canary } from '../api/types.js';
import { validateCanary } from '../api/validate.js';
import type { Measurement } from '../api/types.js';
import { checkSecretsFor, secretNamesOf, type SecretData } from '../analysis/check-secrets.js';
import type { DatadogCredentials, MeasurementRequest, MeasurementSource, ResolvedCheck } from '../analysis/provider.js';
import { isDatadogCheck } from '../analysis/datadog-check.js';
import { parseDatadogSecret } from '../analysis/secret.js';
import { hintedNotBefore } from './due.js';
import type { HintSource } from '../push/hints.js';
import { resolveChecks } from '../analysis/template.js';
import { errorCode, isNotFound } from '../kube/errors.js';
import { paths, type KubeObject, type RawClient } from '../kube/raw-client.js';
import type { ObjectStore } from '../runtime/informer.js';
import { boundedMessage } from './api-failure.js';
import { getCondition } from './conditions.js';
import { measurementNotBefore, settingsOf, untrustedStableAnnotation, type CredentialsState, type Observed, type ObservedDeployment, type ObservedReplicaSet } from './decide.js';
import { canaryVersionFor, labelValue, revisionOf, versionOf, type PodTemplate } from './revision.js';
import type { StableRevisionCache } from './stable-revisions.js';
import { inRollbackWindow, rollbackWindowOf } from './history.js';

export interface ObserveContext {
  client: RawClient;
  canaries: ObjectStore;
  deployments: ObjectStore;
  replicaSets: ObjectStore;
  secrets: SecretCache;
  measurements: MeasurementSource;
  /** The stable revision's version and template, remembered between passes (absent: looked up every time). */
  stableRevisions?: StableRevisionCache;
  /** Checks pushes asked to measure again early (absent: no push endpoint). */
  hints?: HintSource;
}

export interface Snapshot {
  observed: Observed;
  /** The target Deployment as read (cache, or a live GET when the cache lacked it). */
  deployment?: DeploymentObject;
  /** The Canary's ReplicaSets. */
  replicaSets: KubeObject[];
  credentials?: DatadogCredentials;
  /** Measurements the checks need now, built once: peeked here, requested by a Measure action. */
  measurementRequests: MeasurementRequest[];
  /** The stable revision's pod template (from the Deployment's own ReplicaSet), when looked up and found. */
  stableTemplate?: PodTemplate;
}

export const canaryKey = (c: { metadata: { namespace?: string; name: string } }): string => `${c.metadata.namespace}/${c.metadata.name}`;

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key: string; operator: string; values?: string[] }>;
}

/** A Deployment as the controller reads and patches it. */
export type DeploymentObject = KubeObject & {
  spec: { paused?: boolean; replicas?: number; template: PodTemplate; selector: LabelSelector; strategy?: { type?: string } };
  status?: { observedGeneration?: number; replicas?: number; updatedReplicas?: number; availableReplicas?: number; readyReplicas?: number };
};

type ReplicaSetObject = KubeObject & { spec?: { replicas?: number; template?: PodTemplate }; status?: { readyReplicas?: number } };

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
    stableTemplateKnown: false,
  };
}

/** The outcome of reading a Datadog Secret. */
export type SecretRead =
  | { state: 'Found'; data: Record<string, string> }
  | { state: 'NotFound' }
  /** 403, 5xx, a timeout: the message is bounded and names the HTTP status. */
  | { state: 'Unreadable'; message: string };

/** Datadog Secrets, fetched on demand and kept briefly. */
export class SecretCache {
  private readonly entries = new Map<string, { at: number; read: SecretRead }>();
  private lastSweep = 0;
  constructor(
    private readonly client: RawClient,
    private readonly ttlMs = 5_000,
  ) {}

  async get(namespace: string, name: string, now: number): Promise<SecretRead> {
    const key = `${namespace}/${name}`;
    const hit = this.entries.get(key);
    if (hit && now - hit.at < this.ttlMs) return hit.read;
    let read: SecretRead;
    try {
      const s = await this.client.get<{ data?: Record<string, string> }>(paths.secret(namespace, name));
      read = { state: 'Found', data: s.data ?? {} };
    } catch (err) {
      if (isNotFound(err)) read = { state: 'NotFound' };
      else {
        const code = errorCode(err);
        const why = code ? `HTTP ${code}` : 'no answer';
        read = { state: 'Unreadable', message: boundedMessage(`${why}: ${err instanceof Error ? err.message : String(err)}`, 200) };
      }
    }
    this.sweep(now);
    this.entries.set(key, { at: now, read });
    return read;
  }

  /**
   * Forgets a Secret so the next read asks the apiserver: after Datadog refused a call, the keys
   * may have been rotated, and a stale copy would turn every call into another error.
   */
  invalidate(namespace: string, name: string): void {
    this.entries.delete(`${namespace}/${name}`);
  }

  /** Secrets held (keys included); those of Canaries gone or changed are dropped once expired. */
  get size(): number {
    return this.entries.size;
  }

  /** Drops expired entries, at most once per time-to-live, so keys no Canary reads any more leave memory. */
  private sweep(now: number): void {
    if (now - this.lastSweep < this.ttlMs) return;
    this.lastSweep = now;
    for (const [key, entry] of this.entries) if (now - entry.at >= this.ttlMs) this.entries.delete(key);
  }
}

/** The target Deployment: from the cache, else a live GET (the cache may lag, or not hold unguarded Deployments). */
async function readTarget(ctx: ObserveContext, namespace: string, name: string): Promise<DeploymentObject | undefined> {
  if (!name) return undefined;
  const cached = ctx.deployments.get(name, namespace) as DeploymentObject | undefined;
  if (cached) return cached;
  try {
    return await ctx.client.get<DeploymentObject>(paths.deployment(namespace, name));
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** The Canary's ReplicaSets; when the cache shows none although the status says canary pods run, a live LIST confirms. */
async function readCanaryReplicaSets(ctx: ObserveContext, canary: Canary): Promise<ReplicaSetObject[]> {
  const ns = canary.metadata.namespace;
  const owner = labelValue(canary.metadata.name);
  const cached = ctx.replicaSets.list(ns).filter((rs) => rs.metadata.labels?.[LABELS.canaryOf] === owner) as ReplicaSetObject[];
  const expectsPods = (canary.status?.canaryReplicas ?? 0) > 0 || (canary.status?.baselineReplicas ?? 0) > 0 || canary.metadata.deletionTimestamp !== undefined;
  if (cached.length || !expectsPods) return cached;
  const live = await ctx.client.list<ReplicaSetObject>(paths.replicaSets(ns), { labelSelector: `${LABELS.canaryOf}=${owner}` });
  return live.items.filter((rs) => !rs.metadata.deletionTimestamp);
}

/** `k=v,k2=v2` for a selector's matchLabels (matchExpressions are applied by the owner filter instead). */
function labelSelectorString(selector: LabelSelector | undefined): string | undefined {
  const entries = Object.entries(selector?.matchLabels ?? {});
  return entries.length ? entries.map(([k, v]) => `${k}=${v}`).join(',') : undefined;
}

/**
 * The version and template of `revision` from the Deployment's own ReplicaSets. The current
 * template answers without a call; any other revision costs one LIST with the Deployment's
 * selector, made only when the caller asks (a canary in flight or promoting).
 */
export async function observeStableRevision(
  client: RawClient,
  dep: DeploymentObject,
  revision: string,
): Promise<{ version: string; template: PodTemplate } | undefined> {
  if (revisionOf(dep.spec.template) === revision) return { version: versionOf(dep.spec.template), template: dep.spec.template };
  return observeReplicaSetRevision(client, dep, revision);
}

/** The version and template of `revision` from a ReplicaSet the Deployment owns (one LIST with its selector). */
export async function observeReplicaSetRevision(
  client: RawClient,
  dep: DeploymentObject,
  revision: string,
): Promise<{ version: string; template: PodTemplate } | undefined> {
  const selector = labelSelectorString(dep.spec.selector);
  const list = await client.list<ReplicaSetObject>(paths.replicaSets(dep.metadata.namespace), selector ? { labelSelector: selector } : undefined);
  const owned = list.items.filter((rs) => (rs.metadata.ownerReferences ?? []).some((o) => o.uid === dep.metadata.uid));
  const match = owned.find((rs) => rs.spec?.template && revisionOf(rs.spec.template) === revision);
  if (!match?.spec?.template) return undefined;
  const template = structuredClone(match.spec.template);
  if (template.metadata?.labels) delete template.metadata.labels[LABELS.podTemplateHash];
  return { version: versionOf(template), template };
}

/**
 * The revision a decision treats as stable: the one before the promotion while the template is
 * the revision being promoted (its restore may be needed), else the annotation (a newer template
 * supersedes the promotion, whose revision is then the stable one) unless this Canary did not
 * write it.
 */
export function stableRevisionOf(canary: Canary, dep: ObservedDeployment): string | undefined {
  const st = canary.status;
  const progressing = getCondition(st?.conditions, CONDITIONS.Progressing);
  const promoting = progressing?.status === 'True' && progressing.reason === REASONS.Promoting;
  if (promoting && st?.stableRevision && dep.revision === st.canaryRevision) return st.stableRevision;
  // An annotation this Canary did not write is put back to the verified revision.
  return untrustedStableAnnotation(st, dep) ?? dep.stableAnnotation;
}

export async function observe(canary: Canary, ctx: ObserveContext, now: number): Promise<Snapshot> {
  const ns = canary.metadata.namespace;
  const name = canary.metadata.name;
  const specProblems = validateCanary(canary).map((p) => (p.path ? `${p.path}: ${p.message}` : p.message));
  const depObj = await readTarget(ctx, ns, canary.spec?.targetRef?.name ?? '');
  const replicaSets = await readCanaryReplicaSets(ctx, canary);
  const canaryReplicaSets: ObservedReplicaSet[] = replicaSets.map((rs) => ({
    name: rs.metadata.name,
    revision: rs.metadata.labels?.[LABELS.revision] ?? '',
    ...(rs.metadata.labels?.[LABELS.role] === ROLES.baseline ? { role: ROLES.baseline } : {}),
    replicas: rs.spec?.replicas ?? 0,
    readyReplicas: rs.status?.readyReplicas ?? 0,
  }));
  let deployment = depObj ? observeDeployment(depObj) : undefined;
  // The gate label holds the Canary's name as a label value (shortened when over 63 characters).
  if (deployment && deployment.guardLabel !== undefined && deployment.guardLabel === labelValue(name)) deployment = { ...deployment, guardLabel: name };
  let stableTemplate: PodTemplate | undefined;
  if (depObj && deployment && deployment.guardLabel === name) {
    const stableRevision = stableRevisionOf(canary, deployment);
    if (stableRevision) {
      const stable =
        revisionOf(depObj.spec.template) === stableRevision || !ctx.stableRevisions || !depObj.metadata.uid
          ? await observeStableRevision(ctx.client, depObj, stableRevision)
          : await ctx.stableRevisions.lookup(depObj.metadata.uid, stableRevision, now, () => observeStableRevision(ctx.client, depObj, stableRevision));
      if (stable) {
        stableTemplate = stable.template;
        deployment = { ...deployment, stableVersion: stable.version, stableTemplateKnown: true };
      }
    }
  }

  if (depObj && deployment && deployment.guardLabel === name && deployment.revision !== deployment.stableAnnotation && revertCandidate(canary, deployment)) {
    // A template within the rollback window rolls out without a canary only while its ReplicaSet exists.
    const found = await observeReplicaSetRevision(ctx.client, depObj, deployment.revision);
    deployment = { ...deployment, revisionReplicaSetExists: found !== undefined };
  }

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
  let datadogSecret: string | undefined;
  const hasChecks = (canary.spec?.analysis?.checks?.length ?? 0) > 0;
  const testing = deployment !== undefined && deployment.revision !== deployment.stableAnnotation;
  // The canary in flight (status) is the one the Deployment's template asks for.
  const sameCanary = testing && canary.status?.canaryRevision === deployment?.revision;
  if (deployment && hasChecks && specProblems.length === 0) {
    // {{ version }} is what the canary pods report: their version label (a valid label value).
    const stableVersion = deployment.stableVersion ?? canary.status?.stableVersion;
    const version = testing
      ? sameCanary && canary.status?.canaryVersion
        ? labelValue(canary.status.canaryVersion)
        : canaryVersionFor(deployment.version, stableVersion, deployment.revision)
      : labelValue(canary.status?.canaryVersion ?? deployment.version);
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
    datadogSecret = secretName;
    if (secretName && checks.some(isDatadogCheck)) {
      const secret = `${ns}/${secretName}`;
      const read = await ctx.secrets.get(ns, secretName, now);
      switch (read.state) {
        case 'NotFound':
          credentialsState = { ok: false, reason: REASONS.SecretNotFound, message: `Secret ${secret} not found` };
          break;
        case 'Unreadable':
          credentialsState = { ok: false, reason: REASONS.SecretUnreadable, message: `Secret ${secret} could not be read (${read.message})` };
          break;
        case 'Found': {
          const parsed = parseDatadogSecret(read.data, secret);
          if (parsed.ok) {
            credentials = parsed.credentials;
            credentialsState = { ok: true };
          } else credentialsState = { ok: false, reason: parsed.reason, message: parsed.message };
          break;
        }
        default: {
          const never: never = read;
          throw new Error(`unknown Secret read ${JSON.stringify(never)}`);
        }
      }
    }
  }

  // The requests for the checks' next slots, built once: peeked now, requested by a Measure action.
  const measurements: Observed['measurements'] = {};
  const measurementRequests: MeasurementRequest[] = [];
  let hints: Record<string, number> = {};
  if (testing && checks.length > 0) {
    const { intervalMs } = settingsOf(canary);
    const startedAt = sameCanary ? canary.status?.analysisStartedAt : undefined;
    // Analysis that starts in this pass starts now.
    const started = startedAt ? Date.parse(startedAt) : now;
    // A push's hint asks for a measurement taken after it, now rather than at the next slot.
    if (startedAt && ctx.hints) hints = ctx.hints.hintsFor(canaryKey(canary), now);
    const secretsRead = new Map<string, SecretData>();
    for (const name of new Set(checks.flatMap(secretNamesOf))) secretsRead.set(name, secretData(await ctx.secrets.get(ns, name, now)));
    for (const check of checks) {
      const cs = sameCanary ? canary.status?.checks?.find((c) => c.name === check.name) : undefined;
      const base = { canaryKey: canaryKey(canary), check, notBefore: hintedNotBefore(measurementNotBefore(cs, started, intervalMs), cs, started, hints[check.name]) };
      let req: MeasurementRequest;
      if (isDatadogCheck(check)) {
        // Without credentials decide() records the credentials' problem as the measurement.
        if (!credentials) continue;
        req = { ...base, credentials };
      } else {
        const secrets = checkSecretsFor(check, ns, (name) => secretsRead.get(name) ?? { ok: false, message: 'was not read' });
        if (!secrets.ok) {
          // A Secret the check needs is missing or malformed: an Error measurement, no call.
          if (startedAt) measurements[check.name] = secretProblem(secrets.message, now);
          continue;
        }
        req = { ...base, ...(secrets.secrets ? { secrets: secrets.secrets } : {}) };
      }
      measurementRequests.push(req);
      const m = startedAt ? ctx.measurements.peek(req) : undefined;
      if (m) measurements[check.name] = m;
      // A Datadog call that failed may have used keys rotated since: the next pass reads the Secret again.
      if (m?.verdict === 'Error' && isDatadogCheck(check) && datadogSecret) ctx.secrets.invalidate(ns, datadogSecret);
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
      ...(Object.keys(hints).length ? { hints } : {}),
    },
    ...(depObj ? { deployment: depObj } : {}),
    replicaSets,
    ...(credentials ? { credentials } : {}),
    measurementRequests,
    ...(stableTemplate ? { stableTemplate } : {}),
  };
}

/** The Deployment's template is a revision within the rollback window, not already being promoted. */
function revertCandidate(canary: Canary, dep: ObservedDeployment): boolean {
  const st = canary.status;
  const progressing = getCondition(st?.conditions, CONDITIONS.Progressing);
  // Decided already: its canary runs, or its promotion does.
  if (progressing?.status === 'True' && st?.canaryRevision === dep.revision) return false;
  return inRollbackWindow(st?.history, dep.stableAnnotation ?? st?.stableRevision, dep.revision, rollbackWindowOf(canary)) !== undefined;
}

/** What a Secret read gives a check: its data, or why there is none. */
export function secretData(read: SecretRead): SecretData {
  switch (read.state) {
    case 'Found':
      return { ok: true, data: read.data };
    case 'NotFound':
      return { ok: false, message: 'not found' };
    case 'Unreadable':
      return { ok: false, message: `could not be read (${read.message})` };
    default: {
      const never: never = read;
      return never;
    }
  }
}

function secretProblem(message: string, now: number): Measurement {
  return { verdict: 'Error', time: new Date(now).toISOString(), message };
}

function olderThan(a: KubeObject, b: { metadata: { creationTimestamp?: string; name: string } }): boolean {
  const ta = a.metadata.creationTimestamp ?? '';
  const tb = b.metadata.creationTimestamp ?? '';
  return ta < tb || (ta === tb && a.metadata.name < b.metadata.name);
}
