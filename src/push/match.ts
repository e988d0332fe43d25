// Which checks of which canaries select a monitor: pure, from the Canary objects in the cache
// and the monitors each check's last Datadog answer listed.
import { PHASES, type Canary } from '../api/types.js';

/** The monitor ids a check's last observation listed (tag and query selectors), if any. */
export type MonitorsSeen = (canaryKey: string, checkName: string) => readonly number[] | undefined;

export interface HintTarget {
  canaryKey: string;
  checks: string[];
}

/** Phases whose analysis has ended: a hint has nothing to measure again. */
const FINISHED: ReadonlySet<string> = new Set([PHASES.Succeeded, PHASES.RolledBack, PHASES.Failed]);

/** Whether the canary's checks are being measured (a canary under analysis, held or not). */
export function inAnalysis(canary: Canary): boolean {
  const st = canary.status;
  return st?.analysisStartedAt !== undefined && st.canaryRevision !== undefined && !FINISHED.has(st.phase ?? '') && canary.metadata.deletionTimestamp === undefined;
}

/**
 * The checks of a canary in analysis that select the monitor: a monitor check by its id, or a
 * tag or query selection whose last answer listed the monitor. A selection that has not been
 * measured yet matches nothing (its first measurement is due anyway).
 */
export function checksSelecting(monitorId: number, canary: Canary, seen: MonitorsSeen): string[] {
  if (!inAnalysis(canary)) return [];
  const key = `${canary.metadata.namespace}/${canary.metadata.name}`;
  const names: string[] = [];
  for (const check of canary.spec?.analysis?.checks ?? []) {
    const m = check.datadogMonitor;
    if (!m) continue;
    if (m.id !== undefined ? m.id === monitorId : (seen(key, check.name) ?? []).includes(monitorId)) names.push(check.name);
  }
  return names;
}

/** Every canary in analysis with the checks of it that select the monitor. */
export function targetsFor(monitorId: number, canaries: readonly Canary[], seen: MonitorsSeen): HintTarget[] {
  const targets: HintTarget[] = [];
  for (const c of canaries) {
    const checks = checksSelecting(monitorId, c, seen);
    if (checks.length) targets.push({ canaryKey: `${c.metadata.namespace}/${c.metadata.name}`, checks });
  }
  return targets;
}
