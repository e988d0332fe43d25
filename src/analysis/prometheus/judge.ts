// Pure judgement of a Prometheus instant query: exactly one sample, against min and max.
import type { Measurement, Verdict } from '../../api/types.js';
import { describeBounds, formatValue, judgeBounds } from '../datadog/judge.js';
import type { Observation, PrometheusSample, ResolvedPrometheusCheck } from '../provider.js';
import { excerpt } from '../text.js';

function isoTime(ms: number): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? new Date(0).toISOString() : d.toISOString();
}

/** `{job="web",code="500"} 3` — how PromQL prints a sample. */
export function describeSample(s: PrometheusSample): string {
  const labels = Object.entries(s.metric)
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(',');
  return `{${labels}} ${formatValue(s.value)}`;
}

/** The result for a message: its samples, truncated. */
export function describeResult(samples: readonly PrometheusSample[]): string {
  return excerpt(samples.map(describeSample).join(', '));
}

/**
 * An instant query's result: an empty vector is no data (check.noData), one sample (a vector of one,
 * or a scalar) is judged against min and max (inclusive; NaN is no data), anything else is an Error
 * that shows the result.
 */
export function judgePrometheus(check: ResolvedPrometheusCheck, obs: Observation): Measurement {
  const time = isoTime(obs.takenAt);
  const threshold = describeBounds(check.min, check.max);
  const error = (message: string): Measurement => ({ verdict: 'Error', time, message, ...(obs.url ? { url: obs.url } : {}) });
  if (obs.kind === 'error') return error(obs.message);
  if (obs.kind !== 'samples') return error(`expected a Prometheus result for check "${check.name}", got ${obs.kind}`);
  const base = { threshold, time, url: obs.url };
  if (obs.resultType !== 'vector' && obs.resultType !== 'scalar') {
    return error(`query "${check.query}" returned a ${obs.resultType}; a check needs an instant vector with one sample or a scalar`);
  }
  if (obs.samples.length === 0) {
    return { ...base, verdict: check.noData, value: 'no data', message: `query "${check.query}" returned no sample` };
  }
  if (obs.samples.length > 1) {
    return error(
      `query "${check.query}" returned ${obs.samples.length} series; a check needs exactly one (aggregate with sum(), avg(), … or filter by label): ${describeResult(obs.samples)}`,
    );
  }
  const sample = obs.samples[0] as PrometheusSample;
  const v = sample.value;
  if (Number.isNaN(v)) {
    return { ...base, verdict: check.noData, value: 'NaN', message: `query "${check.query}" was NaN (e.g. a ratio without traffic) at ${isoTime(sample.at)}` };
  }
  const value = formatValue(v);
  const { verdict, why } = judgeBounds(v, check);
  return { ...base, verdict, value, message: `query "${check.query}" was ${value} at ${isoTime(sample.at)}, ${why}` };
}
