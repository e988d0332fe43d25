import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { ALTERNATIVES, exactSf, mannWhitneyU, median, normalSf, type Alternative } from '../../src/analysis/statistics/mann-whitney.js';

interface ReferenceCase {
  name: string;
  alternative: Alternative;
  x: number[];
  y: number[];
  u: number;
  pValue: number;
}

// Computed by SciPy (test/tools/mann-whitney/reference.py), an independent implementation.
const reference = JSON.parse(readFileSync(new URL('../tools/mann-whitney/reference.json', import.meta.url), 'utf8')) as { generatedBy: string; cases: ReferenceCase[] };

/** Within 1e-6, absolutely and (for small p-values) relatively. */
function close(actual: number, expected: number): boolean {
  return Math.abs(actual - expected) <= 1e-6 * Math.max(Math.abs(expected), 1e-300) || (Math.abs(expected) >= 1e-6 && Math.abs(actual - expected) <= 1e-6 * Math.abs(expected));
}

describe('mannWhitneyU against SciPy', () => {
  it('has a reference table covering every alternative, exact and approximate cases', () => {
    expect(reference.cases.length).to.be.greaterThan(30);
    for (const alt of Object.values(ALTERNATIVES)) expect(reference.cases.some((c) => c.alternative === alt)).to.equal(true);
  });
  for (const c of reference.cases) {
    it(`${c.name}, ${c.alternative}: U ${c.u}, p ${c.pValue.toPrecision(6)}`, () => {
      const r = mannWhitneyU(c.x, c.y, c.alternative);
      expect(r, 'a result').to.not.equal(undefined);
      expect(Math.abs(r!.u - c.u)).to.be.lessThan(1e-9);
      expect(close(r!.pValue, c.pValue), `p ${r!.pValue} vs SciPy ${c.pValue}`).to.equal(true);
      expect(r!.commonLanguage).to.be.closeTo(c.u / (c.x.length * c.y.length), 1e-12);
    });
  }
});

describe('mannWhitneyU', () => {
  it('uses the exact distribution for small samples without ties and the normal approximation otherwise', () => {
    expect(mannWhitneyU([1, 2, 3], [4, 5, 6])?.method).to.equal('exact');
    expect(mannWhitneyU([1, 2, 2], [4, 5, 6])?.method).to.equal('asymptotic');
    const nine = Array.from({ length: 9 }, (_, i) => i);
    expect(mannWhitneyU(nine, nine.map((v) => v + 0.5))?.method).to.equal('asymptotic');
    expect(mannWhitneyU(nine, [0.5, 1.5])?.method).to.equal('exact');
  });
  it('gives no result for an empty sample or a non-finite value', () => {
    expect(mannWhitneyU([], [1])).to.equal(undefined);
    expect(mannWhitneyU([1], [])).to.equal(undefined);
    expect(mannWhitneyU([1, NaN], [2])).to.equal(undefined);
  });
  it('one-sided p-values of opposite directions are mirror images', () => {
    const x = [5, 7, 9, 11, 13, 15, 17, 19, 21, 23];
    const y = [4, 6, 8, 10, 12, 14, 16, 18, 20, 22.5];
    const greater = mannWhitneyU(x, y, 'greater')!.pValue;
    const less = mannWhitneyU(y, x, 'less')!.pValue;
    expect(greater).to.be.closeTo(less, 1e-15);
  });
});

describe('exactSf', () => {
  it('is the share of arrangements with U at least k', () => {
    // m = 2, n = 2: U takes 0,1,2,2,3,4 over the 6 arrangements.
    expect(exactSf(0, 2, 2)).to.equal(1);
    expect(exactSf(2, 2, 2)).to.be.closeTo(4 / 6, 1e-15);
    expect(exactSf(4, 2, 2)).to.be.closeTo(1 / 6, 1e-15);
    expect(exactSf(5, 2, 2)).to.equal(0);
  });
});

describe('normalSf and median', () => {
  const cases: Array<[number, number]> = [
    [0, 0.5],
    [1.959963984540054, 0.025],
    [-1.959963984540054, 0.975],
    [5, 2.866515718791939e-7],
  ];
  for (const [z, p] of cases) it(`sf(${z}) = ${p}`, () => expect(Math.abs(normalSf(z) - p) / p).to.be.lessThan(1e-6));
  it('median of odd, even and empty samples', () => {
    expect(median([3, 1, 2])).to.equal(2);
    expect(median([4, 1, 3, 2])).to.equal(2.5);
    expect(median([])).to.equal(undefined);
  });
});
