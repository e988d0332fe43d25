// Pure judgement of observations against checks: no I/O, no clock, never throws.
import { RATE_LIMITED_VALUE } from '../../api/constants.js';
import type { AssignableVerdict, Measurement, MonitorState, Verdict } from '../../api/types.js';
import { MONITOR_STATES } from '../../api/types.js';
import type { MonitorObservation, Observation, DatadogCheck, ResolvedCompareCheck, ResolvedMonitorCheck, ResolvedQueryCheck } from '../provider.js';
import { compareSamples } from '../compare.js';

const RANK: Record<AssignableVerdict, number> = { Pass: 0, Inconclusive: 1, Fail: 2 };
/** Bucket assumed for a single point when the series does not say its interval. */
const DEFAULT_BUCKET_MS = 60_000;

/** Maps any spelling of a monitor state ("no data", "ALERT") to a MonitorState; unknown strings are "Unknown". */
export function normalizeMonitorState(s: string): MonitorState {
  const wanted = s.trim().toLowerCase().replace(/[_\s]+/g, ' ');
  return MONITOR_STATES.find((state) => state.toLowerCase() === wanted) ?? 'Unknown';
}

/** Tags of a group name such as "env:prod,version:1.4.2". */
function groupTags(group: string): string[] {
  return group
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '');
}

/** True if the group's tag set contains every tag of `wanted` (itself possibly "a:b,c:d"). */
export function groupMatches(group: string, wanted: string): boolean {
  const have = new Set(groupTags(group));
  const need = groupTags(wanted);
  return need.length > 0 && need.every((t) => have.has(t));
}

/** "OK passes; Alert fails; others inconclusive" for the check's verdict table. */
export function describeMonitorVerdicts(verdicts: Record<MonitorState, AssignableVerdict>): string {
  const by = (v: AssignableVerdict): MonitorState[] => MONITOR_STATES.filter((s) => verdicts[s] === v);
  const parts: string[] = [];
  const pass = by('Pass');
  const fail = by('Fail');
  const inconclusive = by('Inconclusive');
  if (pass.length) parts.push(`${pass.join(', ')} ${pass.length === 1 ? 'passes' : 'pass'}`);
  if (fail.length) parts.push(`${fail.join(', ')} ${fail.length === 1 ? 'fails' : 'fail'}`);
  if (inconclusive.length) {
    parts.push(inconclusive.length === MONITOR_STATES.length ? 'all inconclusive' : pass.length || fail.length ? 'others inconclusive' : `${inconclusive.join(', ')} inconclusive`);
  }
  return parts.join('; ');
}

interface MonitorJudgement {
  monitor: MonitorObservation;
  state: MonitorState;
  verdict: AssignableVerdict;
  /** The group that decided, for multi-alert monitors. */
  group?: string;
  /** Set when a multi-alert monitor has no group for the canary yet. */
  missingGroup?: boolean;
}

function judgeOneMonitor(check: ResolvedMonitorCheck, monitor: MonitorObservation): MonitorJudgement {
  const groupNames = Object.keys(monitor.groups).filter((g) => g !== '*');
  if (groupNames.length === 0) {
    const state = normalizeMonitorState(monitor.overallState);
    return { monitor, state, verdict: check.verdicts[state] };
  }
  let worst: MonitorJudgement | undefined;
  for (const group of groupNames.sort()) {
    if (!groupMatches(group, check.group)) continue;
    const state = normalizeMonitorState(monitor.groups[group] ?? 'Unknown');
    const verdict = check.verdicts[state];
    if (!worst || RANK[verdict] > RANK[worst.verdict]) worst = { monitor, state, verdict, group };
  }
  if (worst) return worst;
  return { monitor, state: 'No Data', verdict: check.verdicts['No Data'], group: check.group, missingGroup: true };
}

function selectionText(check: ResolvedMonitorCheck): string {
  if (check.monitor.id !== undefined) return `id ${check.monitor.id}`;
  if (check.monitor.tags !== undefined) return `tags ${check.monitor.tags.join(', ')}`;
  return `query "${check.monitor.query ?? ''}"`;
}

function errorMeasurement(obs: Observation, message: string): Measurement {
  const m: Measurement = { verdict: 'Error', time: isoTime(obs.takenAt), message };
  if (obs.url) m.url = obs.url;
  return m;
}

/** No measurement because Datadog rate-limited the call: Inconclusive, never a pass or an error. */
function rateLimitedMeasurement(obs: Extract<Observation, { kind: 'rateLimited' }>): Measurement {
  const retries = `${obs.retries} ${obs.retries === 1 ? 'retry' : 'retries'}`;
  const m: Measurement = {
    verdict: 'Inconclusive',
    value: RATE_LIMITED_VALUE,
    time: isoTime(obs.takenAt),
    message: `rate limited by Datadog (429) until ${isoTime(obs.until)} after ${retries}; not counted as an error`,
  };
  if (obs.url) m.url = obs.url;
  return m;
}

function isoTime(ms: number): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? new Date(0).toISOString() : d.toISOString();
}

/**
 * Judges monitors: a multi-alert monitor (groups other than "*") by the canary's group
 * (the worst of the groups whose tag set contains check.group; none yet means "No Data"),
 * a simple monitor by its overall state. Several monitors: the worst verdict decides.
 */
export function judgeMonitors(check: ResolvedMonitorCheck, obs: Observation): Measurement {
  if (obs.kind === 'error') return errorMeasurement(obs, obs.message);
  if (obs.kind === 'rateLimited') return rateLimitedMeasurement(obs);
  if (obs.kind !== 'monitors') return errorMeasurement(obs, `expected monitors for check "${check.name}", got a metric series`);
  if (obs.monitors.length === 0) return errorMeasurement(obs, `no monitor matches ${selectionText(check)}`);
  let decided: MonitorJudgement | undefined;
  for (const monitor of obs.monitors) {
    const j = judgeOneMonitor(check, monitor);
    if (!decided || RANK[j.verdict] > RANK[decided.verdict]) decided = j;
  }
  if (!decided) return errorMeasurement(obs, `no monitor matches ${selectionText(check)}`);
  const who = `monitor ${decided.monitor.id}${decided.monitor.name ? ` "${decided.monitor.name}"` : ''}`;
  let message: string;
  if (decided.missingGroup) message = `${who} has no group ${decided.group} yet (No Data)`;
  else if (decided.group !== undefined) message = `${who} group ${decided.group} is ${decided.state}`;
  else message = `${who} is ${decided.state}`;
  if (obs.monitors.length > 1) message += ` (worst of ${obs.monitors.length} monitors)`;
  return {
    verdict: decided.verdict,
    value: decided.state,
    threshold: describeMonitorVerdicts(check.verdicts),
    time: isoTime(obs.takenAt),
    url: obs.url,
    message,
  };
}

/** Formats a number compactly: 4 significant digits, exponent only for very large or small values. */
export function formatValue(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const p = Number(v.toPrecision(4));
  if (p !== 0 && (Math.abs(p) >= 1e9 || Math.abs(p) < 1e-4)) return p.toExponential(3).replace(/\.?0+e/, 'e');
  return String(p);
}

/** ">= 0.1, <= 0.5" */
/** A value against inclusive bounds: Pass within them, Fail below min or above max, and why in words. */
export function judgeBounds(v: number, bounds: { min?: number | undefined; max?: number | undefined }): { verdict: Verdict; why: string } {
  if (bounds.min !== undefined && v < bounds.min) return { verdict: 'Fail', why: `below min ${formatValue(bounds.min)}` };
  if (bounds.max !== undefined && v > bounds.max) return { verdict: 'Fail', why: `above max ${formatValue(bounds.max)}` };
  return { verdict: 'Pass', why: `within ${describeBounds(bounds.min, bounds.max)}` };
}

export function describeBounds(min: number | undefined, max: number | undefined): string {
  const parts: string[] = [];
  if (min !== undefined) parts.push(`>= ${formatValue(min)}`);
  if (max !== undefined) parts.push(`<= ${formatValue(max)}`);
  return parts.length ? parts.join(', ') : 'any value';
}

/**
 * The newest complete, non-null point. A point at ts covering a bucket of b ms is complete
 * when ts + b <= toMs (the bucket ended before the query's end). The bucket is the series'
 * interval; when Datadog does not say it, the smallest spacing between points is used, and
 * for a single point one minute (Datadog's finest rollup for most queries), so a lone
 * point counts only if it is at least a minute old.
 */
export function lastCompletePoint(points: ReadonlyArray<readonly [number, number | null]>, toMs: number, bucketMs?: number): [number, number] | undefined {
  const sorted = points.filter((p) => Number.isFinite(p[0])).slice().sort((a, b) => a[0] - b[0]);
  let bucket = bucketMs !== undefined && bucketMs > 0 ? bucketMs : undefined;
  if (bucket === undefined) {
    for (let i = 1; i < sorted.length; i++) {
      const gap = (sorted[i]?.[0] ?? 0) - (sorted[i - 1]?.[0] ?? 0);
      if (gap > 0 && (bucket === undefined || gap < bucket)) bucket = gap;
    }
    bucket ??= DEFAULT_BUCKET_MS;
  }
  for (let i = sorted.length - 1; i >= 0; i--) {
    const p = sorted[i];
    if (!p) continue;
    const [ts, v] = p;
    if (ts + bucket > toMs) continue;
    if (v === null || !Number.isFinite(v)) continue;
    return [ts, v];
  }
  return undefined;
}

/** Judges a metric series: its newest complete point against min/max (inclusive); none means check.noData. */
export function judgeSeries(check: ResolvedQueryCheck, obs: Observation): Measurement {
  if (obs.kind === 'error') return errorMeasurement(obs, obs.message);
  if (obs.kind === 'rateLimited') return rateLimitedMeasurement(obs);
  if (obs.kind !== 'series') return errorMeasurement(obs, `expected a metric series for check "${check.name}", got monitors`);
  const threshold = describeBounds(check.min, check.max);
  const point = lastCompletePoint(obs.points, obs.toMs, obs.bucketMs);
  const base = { threshold, url: obs.url };
  if (!point) {
    return {
      ...base,
      verdict: check.noData,
      value: 'no data',
      time: isoTime(obs.takenAt),
      message: `query "${check.query}" has no complete point between ${isoTime(obs.fromMs)} and ${isoTime(obs.toMs)}`,
    };
  }
  const [ts, v] = point;
  const value = formatValue(v);
  const { verdict, why } = judgeBounds(v, check);
  return { ...base, verdict, value, time: isoTime(obs.takenAt), message: `query "${check.query}" was ${value} at ${isoTime(ts)}, ${why}` };
}

/**
 * The values of the complete, non-null points of a series (bucket as in lastCompletePoint): the
 * newest bucket, still filling, is left out.
 */
export function completeValues(points: ReadonlyArray<readonly [number, number | null]>, toMs: number, bucketMs?: number): number[] {
  const sorted = points.filter((p) => Number.isFinite(p[0])).slice().sort((a, b) => a[0] - b[0]);
  let bucket = bucketMs !== undefined && bucketMs > 0 ? bucketMs : undefined;
  if (bucket === undefined) {
    for (let i = 1; i < sorted.length; i++) {
      const gap = (sorted[i]?.[0] ?? 0) - (sorted[i - 1]?.[0] ?? 0);
      if (gap > 0 && (bucket === undefined || gap < bucket)) bucket = gap;
    }
    bucket ??= DEFAULT_BUCKET_MS;
  }
  const b = bucket;
  return sorted.filter(([ts, v]) => ts + b <= toMs && v !== null && Number.isFinite(v)).map(([, v]) => v as number);
}

/** Judges a compare check: the canary's series against the baseline's (analysis/compare.ts). */
export function judgeCompare(check: ResolvedCompareCheck, obs: Observation): Measurement {
  if (obs.kind === 'error') return errorMeasurement(obs, obs.message);
  if (obs.kind === 'rateLimited') return rateLimitedMeasurement(obs);
  if (obs.kind !== 'seriesPair') return errorMeasurement(obs, `expected the canary's and the baseline's series for check "${check.name}", got ${obs.kind}`);
  const canary = completeValues(obs.canary.points, obs.toMs, obs.canary.bucketMs);
  const baseline = completeValues(obs.baseline.points, obs.toMs, obs.baseline.bucketMs);
  const c = compareSamples(canary, baseline, check);
  return {
    verdict: c.verdict,
    value: c.value,
    threshold: c.threshold,
    time: isoTime(obs.takenAt),
    url: obs.url,
    message: `${c.message}; queries "${check.queries.canary}" and "${check.queries.baseline}" from ${isoTime(obs.fromMs)} to ${isoTime(obs.toMs)}`,
  };
}

/** Judges an observation for any check. */
export function judgeObservation(check: DatadogCheck, obs: Observation): Measurement {
  switch (check.kind) {
    case 'datadogMonitor':
      return judgeMonitors(check, obs);
    case 'datadogQuery':
      return judgeSeries(check, obs);
    case 'compare':
      return judgeCompare(check, obs);
    default: {
      const never: never = check;
      return never;
    }
  }
}
