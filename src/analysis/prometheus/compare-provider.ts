// The compare check on Prometheus: two range queries per measurement (the canary's and the
// baseline's), made together over the same window and step.
import type { CheckProvider, Observation, ResolvedPrometheusCompareCheck } from '../provider.js';
import { queryRange, type PrometheusEndpoint } from './client.js';
import { judgePrometheusCompare } from './compare-judge.js';
import { secretsFingerprint } from './provider.js';

/** A link to both queries graphed over the window in Prometheus' own UI. */
export function compareGraphUrl(address: string, queries: { canary: string; baseline: string }, windowMs: number): string {
  const range = `${Math.max(1, Math.round(windowMs / 1000))}s`;
  const panel = (i: number, q: string): string => `g${i}.expr=${encodeURIComponent(q)}&g${i}.tab=0&g${i}.range_input=${range}`;
  return `${address}/graph?${panel(0, queries.canary)}&${panel(1, queries.baseline)}`;
}

export const prometheusCompareProvider: CheckProvider<ResolvedPrometheusCompareCheck> = {
  callKey: (check, secrets) =>
    JSON.stringify(['prometheusCompare', check.address, check.queries.canary, check.queries.baseline, check.windowMs, check.stepMs, check.tls?.insecureSkipVerify === true, secretsFingerprint(secrets)]),
  timeoutMs: () => undefined,
  fetch: async (check, secrets, ctx) => {
    const endpoint: PrometheusEndpoint = { address: check.address, ...(secrets ? { secrets } : {}), ...(check.tls?.insecureSkipVerify ? { insecureSkipVerify: true } : {}) };
    const toMs = ctx.now();
    const range = { startMs: toMs - check.windowMs, endMs: toMs, stepMs: check.stepMs };
    const opts = { signal: ctx.signal, timeoutMs: ctx.timeoutMs, now: ctx.now };
    const [canary, baseline] = await Promise.all([queryRange(endpoint, check.queries.canary, range, opts), queryRange(endpoint, check.queries.baseline, range, opts)]);
    const url = compareGraphUrl(check.address, check.queries, check.windowMs);
    const failed = (role: string, obs: Observation): Observation | undefined => {
      if (obs.kind === 'samples') return undefined;
      const message = obs.kind === 'error' ? obs.message : `unexpected ${obs.kind} answer`;
      return { kind: 'error', takenAt: ctx.now(), message: `the ${role}'s query: ${message}`, url, ...(obs.kind === 'error' && obs.status !== undefined ? { status: obs.status } : {}) };
    };
    // Prometheus down fails both the same way: one message, not two.
    if (canary.kind === 'error' && baseline.kind === 'error' && canary.message === baseline.message) return { ...canary, url };
    const problem = failed('canary', canary) ?? failed('baseline', baseline);
    if (problem) return problem;
    if (canary.kind !== 'samples' || baseline.kind !== 'samples') return { kind: 'error', takenAt: ctx.now(), message: 'unexpected answer', url };
    return {
      kind: 'samplesPair',
      takenAt: ctx.now(),
      fromMs: range.startMs,
      toMs: range.endMs,
      stepMs: check.stepMs,
      canary: { resultType: canary.resultType, samples: canary.samples },
      baseline: { resultType: baseline.resultType, samples: baseline.samples },
      url,
    };
  },
  judge: judgePrometheusCompare,
};
