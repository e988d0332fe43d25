import { expect } from 'chai';
import { compareSamples, relativeEffect, type CompareOptions } from '../../src/analysis/compare.js';
import { completeValues, judgeCompare } from '../../src/analysis/datadog/judge.js';
import type { Observation, ResolvedCompareCheck } from '../../src/analysis/provider.js';
import { resolveChecks } from '../../src/analysis/template.js';

const OPTS: CompareOptions = { higherIsWorse: true, minPoints: 10, significance: 0.05, tolerance: 0.1 };
/** n values around `center`, spread ±spread deterministically (no ties). */
const around = (center: number, spread: number, n: number, phase = 0): number[] => Array.from({ length: n }, (_, i) => center + spread * Math.sin(i * 1.7 + phase) + i * 1e-6);

describe('compareSamples(): canary against baseline', () => {
  const cases: Array<{ name: string; canary: number[]; baseline: number[]; opts?: Partial<CompareOptions>; verdict: string; message?: RegExp }> = [
    { name: 'fewer than minPoints on one side is Inconclusive', canary: around(100, 5, 9), baseline: around(100, 5, 20), verdict: 'Inconclusive', message: /canary 9, baseline 20, at least 10 each/ },
    { name: 'no points at all is Inconclusive', canary: [], baseline: [], verdict: 'Inconclusive' },
    { name: 'canary 30% higher and clearly separated fails', canary: around(130, 5, 20), baseline: around(100, 5, 20, 1), verdict: 'Fail', message: /significantly worse \(higher\)/ },
    { name: 'canary 5% higher, significant but within the 10% tolerance, passes', canary: around(105, 1, 20), baseline: around(100, 1, 20, 1), verdict: 'Pass', message: /within the tolerance of 10%/ },
    { name: 'the same 5% higher fails with a tolerance of 2%', canary: around(105, 1, 20), baseline: around(100, 1, 20, 1), opts: { tolerance: 0.02 }, verdict: 'Fail' },
    { name: 'equally noisy samples pass', canary: around(100, 30, 20, 2), baseline: around(100, 30, 20, 0.5), verdict: 'Pass', message: /no significant difference/ },
    { name: 'a much lower canary passes when higher is worse', canary: around(50, 5, 20), baseline: around(100, 5, 20, 1), verdict: 'Pass' },
    { name: 'a much lower canary fails when lower is worse (success rate)', canary: around(0.5, 0.02, 20), baseline: around(0.99, 0.005, 20, 1), opts: { higherIsWorse: false }, verdict: 'Fail', message: /worse \(lower\)/ },
    { name: 'a higher success rate passes when lower is worse', canary: around(0.99, 0.005, 20), baseline: around(0.5, 0.02, 20, 1), opts: { higherIsWorse: false }, verdict: 'Pass' },
    { name: 'a wide gap the test cannot tell from noise (few points) passes', canary: [100, 300, 50, 90, 400, 60, 70, 80, 95, 500], baseline: [100, 110, 90, 105, 95, 98, 102, 97, 99, 101], verdict: 'Pass' },
  ];
  for (const tc of cases) {
    it(tc.name, () => {
      const r = compareSamples(tc.canary, tc.baseline, { ...OPTS, ...tc.opts });
      expect(r.verdict, r.message).to.equal(tc.verdict);
      if (tc.message) expect(r.message).to.match(tc.message);
      expect(r.canaryPoints).to.equal(tc.canary.length);
      expect(r.baselinePoints).to.equal(tc.baseline.length);
    });
  }

  it('records both medians, the effect, U and the p-value', () => {
    const r = compareSamples(around(130, 5, 20), around(100, 5, 20, 1), OPTS);
    expect(r.value).to.match(/^canary median 1\d\d(\.\d+)? vs baseline median (99|100|101)(\.\d+)? \(\+\d+(\.\d+)?%\)$/);
    expect(r.threshold).to.equal('worse (higher) by more than 10% at p < 0.05, with at least 10 points each');
    expect(r.effect).to.be.within(0.25, 0.35);
    expect(r.pValue).to.be.lessThan(1e-6);
    expect(r.u).to.equal(400);
    expect(r.message).to.match(/canary median .* \(20 points\), baseline median .* \(20 points\), effect \+\d+(\.\d+)?% \(higher is worse\), Mann-Whitney U 400, one-sided p .* \(asymptotic\)/);
  });

  it('relativeEffect is signed so that worse is positive, and handles a zero baseline', () => {
    expect(relativeEffect(110, 100, true)).to.be.closeTo(0.1, 1e-12);
    expect(relativeEffect(110, 100, false)).to.be.closeTo(-0.1, 1e-12);
    expect(relativeEffect(0, 0, true)).to.equal(0);
    expect(relativeEffect(1, 0, true)).to.equal(Infinity);
    expect(relativeEffect(-90, -100, true)).to.be.closeTo(0.1, 1e-12);
  });
});

describe('judgeCompare(): a Datadog pair of series', () => {
  const check: ResolvedCompareCheck = {
    kind: 'compare',
    name: 'latency',
    queries: { canary: 'avg:lat{role:canary}', baseline: 'avg:lat{role:baseline}' },
    higherIsWorse: true,
    minPoints: 10,
    significance: 0.05,
    tolerance: 0.1,
    windowMs: 600_000,
    intervalMs: 60_000,
  };
  const T = Date.parse('2026-12-05T10:00:00Z');
  const series = (values: Array<number | null>) => ({ points: values.map((v, i) => [T - 600_000 + i * 10_000, v] as [number, number | null]), bucketMs: 10_000 });

  it('uses complete, non-null points only: the newest bucket, still filling, is left out', () => {
    expect(completeValues([[0, 1], [10, null], [20, 3], [30, 4]], 35, 10)).to.deep.equal([1, 3]);
    expect(completeValues([[0, 1], [10, 2]], 20)).to.deep.equal([1, 2]);
  });

  it('judges the two series and names both queries', () => {
    const obs: Observation = { kind: 'seriesPair', takenAt: T, fromMs: T - 600_000, toMs: T, canary: series(around(130, 5, 30)), baseline: series(around(100, 5, 30, 1)), url: 'https://app/x' };
    const m = judgeCompare(check, obs);
    expect(m.verdict).to.equal('Fail');
    expect(m.message).to.match(/queries "avg:lat\{role:canary\}" and "avg:lat\{role:baseline\}"/);
    expect(m.url).to.equal('https://app/x');
  });

  it('an error of either query is an Error measurement', () => {
    const m = judgeCompare(check, { kind: 'error', takenAt: T, message: 'baseline query: HTTP 500' });
    expect(m.verdict).to.equal('Error');
    expect(m.message).to.equal('baseline query: HTTP 500');
  });
});

describe('resolveChecks(): compare', () => {
  const vars = { version: '1.1.0', stableVersion: '1.0.0', revision: 'abc', name: 'web', namespace: 'shop', target: 'web' };
  const spec = (compare: Record<string, unknown>) => ({ targetRef: { name: 'web' }, steps: [], analysis: { interval: '30s', baseline: true, checks: [{ name: 'latency', compare: compare as never }] } });

  it('renders the query once per role and applies the defaults', () => {
    const r = resolveChecks(spec({ query: 'avg:lat{service:{{ target }},role:{{role}}}' }), vars);
    expect(r).to.deep.equal({
      ok: true,
      checks: [
        {
          kind: 'compare',
          name: 'latency',
          queries: { canary: 'avg:lat{service:web,role:canary}', baseline: 'avg:lat{service:web,role:baseline}' },
          higherIsWorse: true,
          minPoints: 10,
          significance: 0.05,
          tolerance: 0.1,
          windowMs: 300_000,
          intervalMs: 30_000,
        },
      ],
    });
  });
  it('a query without {{ role }} is an error', () => {
    const r = resolveChecks(spec({ query: 'avg:lat{service:web}' }), vars);
    expect(r.ok).to.equal(false);
    if (!r.ok) expect(r.error).to.match(/compare.query needs \{\{ role \}\}/);
  });
});
