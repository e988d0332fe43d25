// Pure judgement of a Prometheus compare check: the canary's and the baseline's range queries, one
// series each, their points compared by the same judgement as Datadog's series (analysis/compare.ts).
import type { Measurement } from '../../api/types.js';
import { compareSamples } from '../compare.js';
import { formatDuration } from '../duration.js';
import type { Observation, PrometheusSample, ResolvedPrometheusCompareCheck } from '../provider.js';
import { excerpt } from '../text.js';

function isoTime(ms: number): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? new Date(0).toISOString() : d.toISOString();
}

/** `{job="web",role="canary"}`: a series' labels as PromQL prints them. */
function describeLabels(metric: Record<string, string>): string {
  return `{${Object.entries(metric)
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(',')}}`;
}

/** The distinct series (label sets) of a range query's samples, in the order they came. */
function seriesOf(samples: readonly PrometheusSample[]): string[] {
  return [...new Set(samples.map((s) => describeLabels(s.metric)))];
}

type RoleValues = { ok: true; values: number[] } | { ok: false; message: string };

/**
 * The values of one role's answer: every point with a finite value (NaN, e.g. a ratio without
 * traffic, is no point). More than one series is an error: pooling pods or versions would make the
 * points of one instant count several times.
 */
export function roleValues(role: string, query: string, answer: { resultType: string; samples: readonly PrometheusSample[] }): RoleValues {
  if (answer.resultType !== 'matrix') return { ok: false, message: `the ${role}'s query "${query}" returned a ${answer.resultType}; a range query returns a matrix` };
  const series = seriesOf(answer.samples);
  if (series.length > 1) {
    return {
      ok: false,
      message: `the ${role}'s query "${query}" returned ${series.length} series; a compare check needs one per role (aggregate with avg(), sum(), histogram_quantile(), … or filter by label): ${excerpt(series.join(', '))}`,
    };
  }
  return { ok: true, values: answer.samples.map((s) => s.value).filter((v) => Number.isFinite(v)) };
}

/** Judges the two range queries of a Prometheus compare check. Never throws. */
export function judgePrometheusCompare(check: ResolvedPrometheusCompareCheck, obs: Observation): Measurement {
  const time = isoTime(obs.takenAt);
  const error = (message: string): Measurement => ({ verdict: 'Error', time, message, ...(obs.url ? { url: obs.url } : {}) });
  if (obs.kind === 'error') return error(obs.message);
  if (obs.kind !== 'samplesPair') return error(`expected the canary's and the baseline's Prometheus series for check "${check.name}", got ${obs.kind}`);
  const canary = roleValues('canary', check.queries.canary, obs.canary);
  if (!canary.ok) return error(canary.message);
  const baseline = roleValues('baseline', check.queries.baseline, obs.baseline);
  if (!baseline.ok) return error(baseline.message);
  const c = compareSamples(canary.values, baseline.values, check);
  return {
    verdict: c.verdict,
    value: c.value,
    threshold: c.threshold,
    time,
    url: obs.url,
    message: `${c.message}; queries "${check.queries.canary}" and "${check.queries.baseline}" from ${isoTime(obs.fromMs)} to ${isoTime(obs.toMs)} every ${formatDuration(obs.stepMs)}`,
  };
}
