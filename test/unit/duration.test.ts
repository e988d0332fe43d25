import { expect } from 'chai';
import { formatDuration, parseDuration } from '../../src/analysis/duration.js';

describe('parseDuration', () => {
  const cases: Array<[string, number | undefined]> = [
    ['30s', 30_000],
    ['1m', 60_000],
    ['1m30s', 90_000],
    ['2h', 7_200_000],
    ['500ms', 500],
    ['1.5h', 5_400_000],
    ['1h2m3s4ms', 3_723_004],
    ['0', 0],
    ['0s', 0],
    ['1500us', 2],
    [' 5m ', 300_000],
    ['', undefined],
    ['-1m', undefined],
    ['+1m', undefined],
    ['5', undefined],
    ['1d', undefined],
    ['m', undefined],
    ['1m 30s', undefined],
    ['abc', undefined],
  ];
  for (const [input, want] of cases) {
    it(`"${input}" -> ${String(want)}`, () => expect(parseDuration(input)).to.equal(want));
  }
});

describe('formatDuration', () => {
  const cases: Array<[number, string]> = [
    [0, '0s'],
    [500, '500ms'],
    [10_000, '10s'],
    [90_000, '1m30s'],
    [3_600_000, '1h'],
    [3_661_000, '1h1m1s'],
  ];
  for (const [ms, want] of cases) it(`${ms} -> ${want}`, () => expect(formatDuration(ms)).to.equal(want));
});
