// The Mann-Whitney U test (Wilcoxon rank-sum test) of two independent samples, as SciPy's
// scipy.stats.mannwhitneyu(x, y, alternative, method='auto', use_continuity=True) computes it.
// Pure; knows nothing of metric providers, so any source of two samples can use it.

/** The alternative hypothesis about x (the first sample) against y. */
export const ALTERNATIVES = { TwoSided: 'two-sided', Greater: 'greater', Less: 'less' } as const;
export type Alternative = (typeof ALTERNATIVES)[keyof typeof ALTERNATIVES];

export const MWU_METHODS = { Exact: 'exact', Asymptotic: 'asymptotic' } as const;
export type MwuMethod = (typeof MWU_METHODS)[keyof typeof MWU_METHODS];

export interface MannWhitneyResult {
  /** U of the first sample: the number of pairs (x, y) with x > y, plus half the ties. SciPy's `statistic`. */
  u: number;
  pValue: number;
  method: MwuMethod;
  /** Common-language effect size: U / (n1 × n2), the chance that a value of x exceeds one of y (ties count half). 0.5: no difference. */
  commonLanguage: number;
  n1: number;
  n2: number;
}

/** Largest sample for which, with no ties, the exact distribution is used (SciPy's rule: exact unless both samples exceed 8). */
const EXACT_MAX = 8;

/**
 * Mann-Whitney U test of x against y. method 'auto' (SciPy's): the exact distribution of U when
 * either sample has at most 8 values and there are no ties; otherwise the normal approximation
 * with the tie correction of the variance and a continuity correction of 0.5. Empty samples or
 * non-finite values give undefined.
 */
export function mannWhitneyU(x: readonly number[], y: readonly number[], alternative: Alternative = ALTERNATIVES.TwoSided): MannWhitneyResult | undefined {
  const n1 = x.length;
  const n2 = y.length;
  if (n1 === 0 || n2 === 0) return undefined;
  if (![...x, ...y].every(Number.isFinite)) return undefined;
  const { ranks, tieTerm } = rank([...x, ...y]);
  let r1 = 0;
  for (let i = 0; i < n1; i++) r1 += ranks[i]!;
  const u1 = r1 - (n1 * (n1 + 1)) / 2;
  const u2 = n1 * n2 - u1;
  let u: number;
  let factor: number;
  switch (alternative) {
    case ALTERNATIVES.Greater:
      u = u1;
      factor = 1;
      break;
    case ALTERNATIVES.Less:
      u = u2;
      factor = 1;
      break;
    case ALTERNATIVES.TwoSided:
      u = Math.max(u1, u2);
      factor = 2;
      break;
    default: {
      const never: never = alternative;
      return never;
    }
  }
  const method: MwuMethod = (n1 > EXACT_MAX && n2 > EXACT_MAX) || tieTerm > 0 ? MWU_METHODS.Asymptotic : MWU_METHODS.Exact;
  let p: number;
  if (method === MWU_METHODS.Exact) p = exactSf(Math.round(u), n1, n2);
  else {
    const n = n1 + n2;
    const mu = (n1 * n2) / 2;
    const s = Math.sqrt(((n1 * n2) / 12) * (n + 1 - tieTerm / (n * (n - 1))));
    // SciPy subtracts the continuity correction always, since the p-value is a survival function.
    const z = s > 0 ? (u - mu - 0.5) / s : u - mu - 0.5 > 0 ? Infinity : u - mu - 0.5 < 0 ? -Infinity : NaN;
    p = Number.isNaN(z) ? 1 : normalSf(z);
  }
  p = Math.min(1, Math.max(0, p * factor));
  return { u: u1, pValue: p, method, commonLanguage: u1 / (n1 * n2), n1, n2 };
}

/** Average ranks (1-based, ties get the mean of their ranks) and Σ(t³ − t) over groups of ties. */
export function rank(values: readonly number[]): { ranks: number[]; tieTerm: number } {
  const order = values.map((v, i) => [v, i] as const).sort((a, b) => a[0] - b[0]);
  const ranks = new Array<number>(values.length).fill(0);
  let tieTerm = 0;
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && order[j + 1]![0] === order[i]![0]) j++;
    const avg = (i + j + 2) / 2;
    for (let k = i; k <= j; k++) ranks[order[k]![1]] = avg;
    const t = j - i + 1;
    tieTerm += t * t * t - t;
    i = j + 1;
  }
  return { ranks, tieTerm };
}

/**
 * P(U ≥ k) under the null hypothesis, from the exact distribution of U for sample sizes m and n:
 * the coefficients of the Gaussian binomial coefficient [m+n choose m]_q, built one factor
 * (1 − q^(n+i)) / (1 − q^i) at a time so that every intermediate is itself a distribution.
 */
export function exactSf(k: number, m: number, n: number): number {
  const small = Math.min(m, n);
  const large = Math.max(m, n);
  const max = small * large;
  if (k <= 0) return 1;
  if (k > max) return 0;
  let coeffs = [1];
  for (let i = 1; i <= small; i++) {
    const degree = i * large;
    const next = new Array<number>(degree + 1).fill(0);
    // multiply by (1 − q^(large+i))
    for (let d = 0; d <= degree; d++) {
      const a = coeffs[d] ?? 0;
      const b = d - (large + i) >= 0 ? (coeffs[d - (large + i)] ?? 0) : 0;
      next[d] = a - b;
    }
    // divide by (1 − q^i): b[d] = a[d] + b[d − i]
    for (let d = i; d <= degree; d++) next[d]! += next[d - i]!;
    coeffs = next;
  }
  let total = 0;
  for (const c of coeffs) total += c;
  // U is symmetric about m·n/2: P(U ≥ k) = P(U ≤ m·n − k); sum the shorter tail from the left.
  let tail = 0;
  for (let d = 0; d <= max - k; d++) tail += coeffs[d]!;
  return tail / total;
}

/** Upper tail of the standard normal distribution. */
export function normalSf(z: number): number {
  return 0.5 * erfc(z / Math.SQRT2);
}

/** Complementary error function; relative error below 1.2e-7 everywhere (Numerical Recipes' erfcc, a Chebyshev fit). */
export function erfc(x: number): number {
  if (x === Infinity) return 0;
  if (x === -Infinity) return 2;
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}

/** The median (mean of the two middle values for an even count); undefined for no values. */
export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
