// Canary against baseline: the judgement of two samples of one metric, independent of where the
// samples came from (a Datadog series today, any provider's series tomorrow). Pure; never throws.
import type { AssignableVerdict } from '../api/types.js';
import { ALTERNATIVES, mannWhitneyU, median } from './statistics/mann-whitney.js';

export interface CompareOptions {
  higherIsWorse: boolean;
  minPoints: number;
  significance: number;
  tolerance: number;
}

export interface Comparison {
  verdict: AssignableVerdict;
  /** For status: "canary median 120 vs baseline 100 (+20%)". */
  value: string;
  /** For status: "worse (higher) by more than 10% at p < 0.05, ≥ 10 points each". */
  threshold: string;
  /** For status: the medians, the effect, U, the p-value and the points of each side. */
  message: string;
  canaryMedian?: number;
  baselineMedian?: number;
  /** Relative difference of the medians in the bad direction: > 0 means the canary is worse. */
  effect?: number;
  pValue?: number;
  u?: number;
  canaryPoints: number;
  baselinePoints: number;
}

/** 4 significant digits, as measurements show values elsewhere. */
function formatValue(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const p = Number(v.toPrecision(4));
  if (p !== 0 && (Math.abs(p) >= 1e9 || Math.abs(p) < 1e-4)) return p.toExponential(3).replace(/\.?0+e/, 'e');
  return String(p);
}

/**
 * The effect: how much worse the canary's median is than the baseline's, relative to the
 * baseline's median, signed so that a positive effect is worse: (c − b) / |b| when higher is
 * worse, (b − c) / |b| when lower is. Both medians 0: 0; only the baseline's 0: ±Infinity.
 */
export function relativeEffect(canaryMedian: number, baselineMedian: number, higherIsWorse: boolean): number {
  const diff = higherIsWorse ? canaryMedian - baselineMedian : baselineMedian - canaryMedian;
  if (diff === 0) return 0;
  if (baselineMedian === 0) return diff > 0 ? Infinity : -Infinity;
  return diff / Math.abs(baselineMedian);
}

export function formatPercent(effect: number): string {
  if (!Number.isFinite(effect)) return effect > 0 ? '+∞%' : '−∞%';
  const pct = formatValue(effect * 100);
  return `${effect > 0 ? '+' : ''}${pct}%`;
}

/**
 * Compares the canary's values with the baseline's: Inconclusive while either side has fewer than
 * minPoints values; Fail when the one-sided Mann-Whitney U test says the canary is worse (in the
 * bad direction) at the significance level AND the medians differ by more than the tolerance in
 * that direction; Pass otherwise. A significant but small difference passes (tolerated), and so
 * does a large difference the test cannot tell from noise.
 */
export function compareSamples(canary: readonly number[], baseline: readonly number[], o: CompareOptions): Comparison {
  const direction = o.higherIsWorse ? 'higher' : 'lower';
  const threshold = `worse (${direction}) by more than ${formatPercent(o.tolerance).replace(/^\+/, '')} at p < ${formatValue(o.significance)}, with at least ${o.minPoints} points each`;
  const counts = { canaryPoints: canary.length, baselinePoints: baseline.length };
  const cm = median(canary);
  const bm = median(baseline);
  if (canary.length < o.minPoints || baseline.length < o.minPoints || cm === undefined || bm === undefined) {
    return {
      verdict: 'Inconclusive',
      value: `${canary.length} canary and ${baseline.length} baseline points`,
      threshold,
      message: `not enough points to compare: canary ${canary.length}, baseline ${baseline.length}, at least ${o.minPoints} each are needed`,
      ...(cm !== undefined ? { canaryMedian: cm } : {}),
      ...(bm !== undefined ? { baselineMedian: bm } : {}),
      ...counts,
    };
  }
  const effect = relativeEffect(cm, bm, o.higherIsWorse);
  // One-sided, in the bad direction: is the canary's distribution shifted towards worse?
  const test = mannWhitneyU(canary, baseline, o.higherIsWorse ? ALTERNATIVES.Greater : ALTERNATIVES.Less);
  const value = `canary median ${formatValue(cm)} vs baseline median ${formatValue(bm)} (${formatPercent(relativeChange(cm, bm))})`;
  if (!test) {
    return { verdict: 'Inconclusive', value, threshold, message: 'the samples hold values that are not finite numbers', canaryMedian: cm, baselineMedian: bm, effect, ...counts };
  }
  const significant = test.pValue < o.significance;
  const beyond = effect > o.tolerance;
  const verdict: AssignableVerdict = significant && beyond ? 'Fail' : 'Pass';
  let why: string;
  if (verdict === 'Fail') why = `the canary is significantly worse (${direction}) than the baseline, beyond the tolerance`;
  else if (!significant) why = `no significant difference in the bad direction (p ${formatValue(test.pValue)} ≥ ${formatValue(o.significance)})`;
  else why = `worse by ${formatPercent(effect)}, within the tolerance of ${formatPercent(o.tolerance).replace(/^\+/, '')}`;
  const message =
    `${why}: canary median ${formatValue(cm)} (${canary.length} points), baseline median ${formatValue(bm)} (${baseline.length} points), ` +
    `effect ${formatPercent(effect)} (${direction} is worse), Mann-Whitney U ${formatValue(test.u)}, one-sided p ${formatValue(test.pValue)} (${test.method}), ` +
    `P(canary > baseline) ${formatValue(test.commonLanguage)}`;
  return { verdict, value, threshold, message, canaryMedian: cm, baselineMedian: bm, effect, pValue: test.pValue, u: test.u, ...counts };
}

/** (c − b) / |b|, the plain relative change shown next to the medians. */
function relativeChange(c: number, b: number): number {
  return relativeEffect(c, b, true);
}
