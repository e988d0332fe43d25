// The four counters of the fault catalogue, as pure functions of what the harness recorded while
// a fault ran: the Deployments' templates and rollouts, the canary ReplicaSets (from a watch, so an
// overlap between two of them is seen when it happens, not only at the end), the Canaries' status
// and what the Datadog stand-in answered. Each must stay at zero.

/** A Deployment as the watch saw it at `time`. */
export interface DeploymentObservation {
  time: number;
  deployment: string;
  /** Revision (hash) and version (image tag) of its pod template. */
  revision: string;
  version: string;
  paused: boolean;
  /** Every pod runs this template: observedGeneration caught up, updated = available = replicas = spec.replicas. */
  rolledOut: boolean;
  /** deployer.dev/stable-revision. */
  stableRevision?: string;
}

/** A canary ReplicaSet event (from the watch, or a re-list after the watch broke). */
export interface ReplicaSetObservation {
  time: number;
  /** The Canary (= Deployment) it belongs to (label deployer.dev/canary-of). */
  deployment: string;
  uid: string;
  name: string;
  revision: string;
  /** False once deleted or marked for deletion. */
  live: boolean;
}

/** A Canary's status as the watch saw it at `time`. */
export interface CanaryObservation {
  time: number;
  canary: string;
  phase?: string;
  message?: string;
  canaryRevision?: string;
  canaryVersion?: string;
  stableRevision?: string;
  failedRevision?: string;
  /** The Stalled condition is True, with its message. */
  stalled?: string;
}

/** One answer of the Datadog stand-in to a monitor request. */
export interface DatadogAnswer {
  time: number;
  status: number;
  /** Sent by an injected fault (a 200 with garbage is not an answer). */
  fault?: true;
}

export interface ChaosObservations {
  /** Version each Deployment ran before the run started (verified by definition). */
  initialVersions: Record<string, string>;
  /** Versions whose monitor group the stand-in reports as Alert, from before their revision was written. */
  badVersions: string[];
  deployments: DeploymentObservation[];
  replicaSets: ReplicaSetObservation[];
  canaries: CanaryObservation[];
  datadog: DatadogAnswer[];
  /** The state at the end, after the run settled (a fresh read, not the watch). */
  final: { deployments: DeploymentObservation[]; canaries: CanaryObservation[] };
}

export interface Violation {
  counter: 'falsePromotions' | 'lostRevisions' | 'duplicateCanaryReplicaSets' | 'heldWithoutExplanation';
  deployment: string;
  detail: string;
}

export interface Counters {
  falsePromotions: number;
  lostRevisions: number;
  duplicateCanaryReplicaSets: number;
  heldWithoutExplanation: number;
  violations: Violation[];
}

const ACTIVE_PHASES = new Set(['Progressing', 'Paused', 'Promoting']);

/**
 * A revision on all pods without the passing measurements its Canary requires: a version the run
 * designated bad (its monitor group Alert throughout), or one that rolled out while the stand-in
 * never answered the monitor request successfully since its canary started. A version that was
 * already on all pods before (the stable template put back) is not a promotion.
 */
export function countFalsePromotions(o: Pick<ChaosObservations, 'initialVersions' | 'badVersions' | 'deployments' | 'canaries' | 'datadog' | 'final'>): Violation[] {
  const bad = new Set(o.badVersions);
  const out: Violation[] = [];
  const verified = new Map<string, Set<string>>();
  const seen = new Set<string>();
  const timeline = [...o.deployments, ...o.final.deployments].sort((a, b) => a.time - b.time);
  for (const d of timeline) {
    if (!d.rolledOut) continue;
    let ok = verified.get(d.deployment);
    if (!ok) verified.set(d.deployment, (ok = new Set([o.initialVersions[d.deployment] ?? ''])));
    if (ok.has(d.version)) continue;
    const key = `${d.deployment}@${d.version}`;
    if (seen.has(key)) continue;
    seen.add(key);
    ok.add(d.version);
    if (bad.has(d.version)) {
      out.push({ counter: 'falsePromotions', deployment: d.deployment, detail: `version ${d.version}, whose monitor was Alert, reached all pods at ${iso(d.time)}` });
      continue;
    }
    const started = o.canaries.find((c) => c.canary === d.deployment && c.canaryVersion === d.version && c.time <= d.time);
    if (!started) {
      out.push({ counter: 'falsePromotions', deployment: d.deployment, detail: `version ${d.version} reached all pods at ${iso(d.time)} without a canary` });
      continue;
    }
    if (!o.datadog.some((a) => a.status === 200 && !a.fault && a.time >= started.time && a.time <= d.time)) {
      out.push({ counter: 'falsePromotions', deployment: d.deployment, detail: `version ${d.version} reached all pods at ${iso(d.time)} while Datadog never answered since its canary started (${iso(started.time)})` });
    }
  }
  return out;
}

/**
 * A revision the gate held that nobody decided on: at the end, a Deployment's template is neither
 * promoted (stable and on all pods) nor rolled back with a status saying so (RolledBack naming it as
 * the failed revision, or Failed with a message). Earlier templates were superseded by this one.
 */
export function countLostRevisions(o: Pick<ChaosObservations, 'final'>): Violation[] {
  const out: Violation[] = [];
  for (const d of o.final.deployments) {
    if (d.rolledOut && d.stableRevision === d.revision && !d.paused) continue;
    const c = o.final.canaries.find((x) => x.canary === d.deployment);
    if (c?.phase === 'RolledBack' && c.failedRevision === d.revision) continue;
    if (c?.phase === 'Failed' && c.message) continue;
    out.push({
      counter: 'lostRevisions',
      deployment: d.deployment,
      detail: `revision ${d.revision} (${d.version}) undecided at the end: paused=${d.paused} rolledOut=${d.rolledOut} stable=${d.stableRevision ?? '-'}; Canary phase=${c?.phase ?? '-'} canaryRevision=${c?.canaryRevision ?? '-'} failedRevision=${c?.failedRevision ?? '-'} message=${c?.message ?? '-'}`,
    });
  }
  return out;
}

/**
 * More than one live canary ReplicaSet for a Deployment at once: replays the watch's events in
 * order and counts each episode (from the moment a second one appears until one is left) once.
 */
export function countDuplicateCanaryReplicaSets(o: Pick<ChaosObservations, 'replicaSets'>): Violation[] {
  const out: Violation[] = [];
  const live = new Map<string, Map<string, ReplicaSetObservation>>();
  const inEpisode = new Set<string>();
  const events = o.replicaSets.map((e, i) => ({ e, i })).sort((a, b) => a.e.time - b.e.time || a.i - b.i);
  for (const { e } of events) {
    let m = live.get(e.deployment);
    if (!m) live.set(e.deployment, (m = new Map()));
    if (e.live) m.set(e.uid, e);
    else m.delete(e.uid);
    if (m.size > 1 && !inEpisode.has(e.deployment)) {
      inEpisode.add(e.deployment);
      const names = [...m.values()].map((r) => `${r.name} (${r.revision})`).join(', ');
      out.push({ counter: 'duplicateCanaryReplicaSets', deployment: e.deployment, detail: `${m.size} canary ReplicaSets at ${iso(e.time)}: ${names}` });
    } else if (m.size <= 1) {
      inEpisode.delete(e.deployment);
    }
  }
  return out;
}

/**
 * A Deployment left paused at the end whose Canary's status does not explain it: the explanation
 * is a rollback naming this revision, a Failed phase with a message, a Stalled condition, or a
 * canary of this revision still running (with a message).
 */
export function countHeldWithoutExplanation(o: Pick<ChaosObservations, 'final'>): Violation[] {
  const out: Violation[] = [];
  for (const d of o.final.deployments) {
    if (!d.paused) continue;
    const c = o.final.canaries.find((x) => x.canary === d.deployment);
    const explained =
      c !== undefined &&
      ((c.phase === 'RolledBack' && c.failedRevision === d.revision && !!c.message) ||
        (c.phase === 'Failed' && !!c.message) ||
        !!c.stalled ||
        (ACTIVE_PHASES.has(c.phase ?? '') && c.canaryRevision === d.revision && !!c.message));
    if (!explained) {
      out.push({
        counter: 'heldWithoutExplanation',
        deployment: d.deployment,
        detail: `paused at revision ${d.revision} (${d.version}); Canary ${c ? `phase=${c.phase ?? '-'} canaryRevision=${c.canaryRevision ?? '-'} failedRevision=${c.failedRevision ?? '-'} message=${c.message ?? '-'}` : 'missing'}`,
      });
    }
  }
  return out;
}

export function countViolations(o: ChaosObservations): Counters {
  const f = countFalsePromotions(o);
  const l = countLostRevisions(o);
  const d = countDuplicateCanaryReplicaSets(o);
  const h = countHeldWithoutExplanation(o);
  return {
    falsePromotions: f.length,
    lostRevisions: l.length,
    duplicateCanaryReplicaSets: d.length,
    heldWithoutExplanation: h.length,
    violations: [...f, ...l, ...d, ...h],
  };
}

const iso = (t: number): string => new Date(t).toISOString();
