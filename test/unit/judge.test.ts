import { expect } from 'chai';
import type { Measurement } from '../../src/api/types.js';
import type { MonitorObservation, Observation, ResolvedMonitorCheck, ResolvedQueryCheck } from '../../src/analysis/provider.js';
import { describeMonitorVerdicts, formatValue, judgeMonitors, judgeSeries, lastCompletePoint, normalizeMonitorState } from '../../src/analysis/datadog/judge.js';
import { DEFAULT_MONITOR_VERDICTS } from '../../src/analysis/template.js';

const T = Date.parse('2025-03-01T12:00:00Z');
const TIME = '2025-03-01T12:00:00.000Z';

const monitorCheck = (over: Partial<ResolvedMonitorCheck> = {}): ResolvedMonitorCheck => ({
  kind: 'datadogMonitor',
  name: 'errors',
  monitor: { id: 1 },
  group: 'version:1.4.2',
  verdicts: { ...DEFAULT_MONITOR_VERDICTS },
  intervalMs: 60_000,
  ...over,
});

const mon = (id: number, overallState: string, groups: Record<string, string> = {}, name = `m${id}`): MonitorObservation => ({ id, name, overallState, groups });
const monitorsObs = (...monitors: MonitorObservation[]): Observation => ({ kind: 'monitors', takenAt: T, monitors, url: 'https://app.datadoghq.com/monitors/1' });

describe('judgeMonitors', () => {
  const cases: Array<{ name: string; check?: Partial<ResolvedMonitorCheck>; obs: Observation; want: Partial<Measurement> }> = [
    { name: 'simple OK passes', obs: monitorsObs(mon(1, 'OK')), want: { verdict: 'Pass', value: 'OK', message: 'monitor 1 "m1" is OK' } },
    { name: 'simple Alert fails', obs: monitorsObs(mon(1, 'Alert')), want: { verdict: 'Fail', value: 'Alert' } },
    { name: 'simple Warn inconclusive', obs: monitorsObs(mon(1, 'Warn')), want: { verdict: 'Inconclusive', value: 'Warn' } },
    { name: 'simple No Data inconclusive', obs: monitorsObs(mon(1, 'No Data')), want: { verdict: 'Inconclusive', value: 'No Data' } },
    { name: 'unknown state string', obs: monitorsObs(mon(1, 'Exploded')), want: { verdict: 'Inconclusive', value: 'Unknown' } },
    { name: 'Warn overridden to Fail', check: { verdicts: { ...DEFAULT_MONITOR_VERDICTS, Warn: 'Fail' } }, obs: monitorsObs(mon(1, 'Warn')), want: { verdict: 'Fail' } },
    {
      name: 'multi-alert: canary group OK although another group alerts',
      obs: monitorsObs(mon(1, 'Alert', { 'version:1.4.1': 'Alert', 'version:1.4.2': 'OK' })),
      want: { verdict: 'Pass', value: 'OK', message: 'monitor 1 "m1" group version:1.4.2 is OK' },
    },
    {
      name: 'multi-alert: canary group alerts',
      obs: monitorsObs(mon(1, 'Alert', { 'env:prod,version:1.4.2': 'Alert', 'env:prod,version:1.4.1': 'OK' })),
      want: { verdict: 'Fail', value: 'Alert', message: 'monitor 1 "m1" group env:prod,version:1.4.2 is Alert' },
    },
    {
      name: 'multi-alert: tag match is exact, not a prefix',
      obs: monitorsObs(mon(1, 'Alert', { 'version:1.4.22': 'Alert', 'version:1.4.2': 'OK' })),
      want: { verdict: 'Pass', value: 'OK' },
    },
    {
      name: 'multi-alert: worst of the canary groups',
      obs: monitorsObs(mon(1, 'Alert', { 'pod:a,version:1.4.2': 'OK', 'pod:b,version:1.4.2': 'Alert' })),
      want: { verdict: 'Fail', value: 'Alert', message: 'monitor 1 "m1" group pod:b,version:1.4.2 is Alert' },
    },
    {
      name: 'multi-alert: group with several tags',
      check: { group: 'env:prod,version:1.4.2' },
      obs: monitorsObs(mon(1, 'Alert', { 'env:staging,version:1.4.2': 'Alert', 'env:prod,version:1.4.2': 'OK' })),
      want: { verdict: 'Pass' },
    },
    {
      name: 'multi-alert: no group for the canary yet is No Data',
      obs: monitorsObs(mon(1, 'OK', { 'version:1.4.1': 'OK' })),
      want: { verdict: 'Inconclusive', value: 'No Data', message: 'monitor 1 "m1" has no group version:1.4.2 yet (No Data)' },
    },
    { name: 'a lone "*" group is a simple monitor', obs: monitorsObs(mon(1, 'Alert', { '*': 'Alert' })), want: { verdict: 'Fail', value: 'Alert' } },
    {
      name: 'several monitors: the worst decides',
      check: { monitor: { tags: ['service:web'] } },
      obs: monitorsObs(mon(1, 'OK'), mon(2, 'Warn'), mon(3, 'Alert', {}, 'latency'), mon(4, 'OK')),
      want: { verdict: 'Fail', value: 'Alert', message: 'monitor 3 "latency" is Alert (worst of 4 monitors)' },
    },
    {
      name: 'several monitors: inconclusive beats pass',
      check: { monitor: { tags: ['service:web'] } },
      obs: monitorsObs(mon(1, 'OK'), mon(2, 'No Data')),
      want: { verdict: 'Inconclusive', value: 'No Data' },
    },
    {
      name: 'no monitor matches',
      check: { monitor: { tags: ['service:web', 'team:a'] } },
      obs: monitorsObs(),
      want: { verdict: 'Error', message: 'no monitor matches tags service:web, team:a' },
    },
    {
      name: 'error observation',
      obs: { kind: 'error', takenAt: T, message: 'monitor 1 not found (404)', status: 404, url: 'https://app.datadoghq.com/monitors/1' },
      want: { verdict: 'Error', message: 'monitor 1 not found (404)', url: 'https://app.datadoghq.com/monitors/1' },
    },
    {
      name: 'series for a monitor check is an error',
      obs: { kind: 'series', takenAt: T, fromMs: T, toMs: T, points: [], url: 'u' },
      want: { verdict: 'Error' },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const got = judgeMonitors(monitorCheck(c.check), c.obs);
      expect(got).to.deep.include({ time: TIME, ...c.want });
      if (got.verdict !== 'Error') expect(got.threshold).to.equal(describeMonitorVerdicts(monitorCheck(c.check).verdicts));
    });
  }

  it('describes the default verdicts briefly', () => {
    expect(describeMonitorVerdicts(DEFAULT_MONITOR_VERDICTS)).to.equal('OK passes; Alert fails; others inconclusive');
    expect(describeMonitorVerdicts({ ...DEFAULT_MONITOR_VERDICTS, Warn: 'Fail' })).to.equal('OK passes; Alert, Warn fail; others inconclusive');
  });

  it('normalizes state spellings', () => {
    expect(normalizeMonitorState('no data')).to.equal('No Data');
    expect(normalizeMonitorState('ALERT')).to.equal('Alert');
    expect(normalizeMonitorState('')).to.equal('Unknown');
  });
});

const queryCheck = (over: Partial<ResolvedQueryCheck> = {}): ResolvedQueryCheck => ({
  kind: 'datadogQuery',
  name: 'error-rate',
  query: 'avg:errors{version:1.4.2}',
  max: 0.5,
  windowMs: 300_000,
  noData: 'Inconclusive',
  intervalMs: 60_000,
  ...over,
});

const M = 60_000;
const series = (points: Array<[number, number | null]>, bucketMs: number | undefined = M, toMs = T): Observation => {
  const o: Observation = { kind: 'series', takenAt: T, fromMs: toMs - 5 * M, toMs, points, url: 'https://app.datadoghq.com/metric/explorer?query=x' };
  if (bucketMs !== undefined) o.bucketMs = bucketMs;
  return o;
};

describe('judgeSeries', () => {
  const cases: Array<{ name: string; check?: Partial<ResolvedQueryCheck>; obs: Observation; want: Partial<Measurement> }> = [
    { name: 'under max passes', obs: series([[T - 3 * M, 0.2], [T - 2 * M, 0.3]]), want: { verdict: 'Pass', value: '0.3', threshold: '<= 0.5' } },
    { name: 'over max fails', obs: series([[T - 3 * M, 0.2], [T - 2 * M, 0.7]]), want: { verdict: 'Fail', value: '0.7' } },
    { name: 'max bound is inclusive', obs: series([[T - 2 * M, 0.5]]), want: { verdict: 'Pass', value: '0.5' } },
    { name: 'min bound is inclusive', check: { min: 0.1, max: undefined }, obs: series([[T - 2 * M, 0.1]]), want: { verdict: 'Pass', threshold: '>= 0.1' } },
    { name: 'under min fails', check: { min: 0.1 }, obs: series([[T - 2 * M, 0.05]]), want: { verdict: 'Fail', threshold: '>= 0.1, <= 0.5' } },
    {
      name: 'newest incomplete bucket ignored',
      obs: series([[T - 2 * M, 0.2], [T - M, 0.3], [T - 30_000, 9]]),
      want: { verdict: 'Pass', value: '0.3' },
    },
    { name: 'bucket ending exactly at toMs is complete', obs: series([[T - 2 * M, 0.2], [T - M, 0.9]]), want: { verdict: 'Fail', value: '0.9' } },
    { name: 'null points skipped', obs: series([[T - 3 * M, 0.4], [T - 2 * M, null]]), want: { verdict: 'Pass', value: '0.4' } },
    { name: 'empty series uses noData', obs: series([]), want: { verdict: 'Inconclusive', value: 'no data' } },
    { name: 'noData Fail', check: { noData: 'Fail' }, obs: series([]), want: { verdict: 'Fail', value: 'no data' } },
    { name: 'only an incomplete point is no data', obs: series([[T - 10_000, 0.1]]), want: { verdict: 'Inconclusive', value: 'no data' } },
    { name: 'only nulls is no data', check: { noData: 'Pass' }, obs: series([[T - 3 * M, null], [T - 2 * M, null]]), want: { verdict: 'Pass', value: 'no data' } },
    {
      name: 'unknown bucket: inferred from spacing (newest incomplete)',
      obs: series([[T - 4 * M, 0.1], [T - 2 * M, 0.2], [T - 10_000, 0.9]], undefined),
      want: { verdict: 'Pass', value: '0.2' },
    },
    {
      name: 'unknown bucket: points older than the spacing are complete',
      obs: series([[T - 20 * M, 0.1], [T - 10 * M, 0.9]], undefined),
      want: { verdict: 'Fail', value: '0.9' },
    },
    { name: 'unknown bucket, single recent point is incomplete', obs: series([[T - 30_000, 0.1]], undefined), want: { value: 'no data' } },
    { name: 'unknown bucket, single point a minute old is complete', obs: series([[T - M, 0.1]], undefined), want: { value: '0.1', verdict: 'Pass' } },
    { name: 'points out of order', obs: series([[T - 2 * M, 0.9], [T - 3 * M, 0.1]]), want: { value: '0.9', verdict: 'Fail' } },
    { name: 'error observation', obs: { kind: 'error', takenAt: T, message: 'rate limited by Datadog (429) after 2 retries', status: 429 }, want: { verdict: 'Error', message: 'rate limited by Datadog (429) after 2 retries' } },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const check = queryCheck(c.check);
      if (c.check && 'max' in c.check && c.check.max === undefined) delete check.max;
      expect(judgeSeries(check, c.obs)).to.deep.include({ time: TIME, ...c.want });
    });
  }

  it('names the query, value and bound in the message', () => {
    const m = judgeSeries(queryCheck(), series([[T - 2 * M, 0.7]]));
    expect(m.message).to.equal('query "avg:errors{version:1.4.2}" was 0.7 at 2025-03-01T11:58:00.000Z, above max 0.5');
    expect(m.url).to.equal('https://app.datadoghq.com/metric/explorer?query=x');
  });

  it('lastCompletePoint returns the point', () => {
    expect(lastCompletePoint([[T - 2 * M, 1], [T - M, 2], [T, 3]], T, M)).to.deep.equal([T - M, 2]);
  });
});

describe('formatValue', () => {
  const cases: Array<[number, string]> = [
    [0, '0'],
    [0.123456, '0.1235'],
    [12.5, '12.5'],
    [1234567, '1235000'],
    [-0.5, '-0.5'],
    [0.00001234, '1.234e-5'],
    [1e12, '1e+12'],
  ];
  for (const [v, want] of cases) it(`${v} -> ${want}`, () => expect(formatValue(v)).to.equal(want));
});

describe('a rate-limited observation', () => {
  const limited: Observation = { kind: 'rateLimited', takenAt: T, until: T + 30_000, retries: 2, url: 'https://app.datadoghq.com/monitors/1' };
  it('is Inconclusive for a monitor check, saying until when', () => {
    expect(judgeMonitors(monitorCheck(), limited)).to.deep.equal({
      verdict: 'Inconclusive',
      value: 'rate limited',
      time: TIME,
      url: 'https://app.datadoghq.com/monitors/1',
      message: 'rate limited by Datadog (429) until 2025-03-01T12:00:30.000Z after 2 retries; not counted as an error',
    });
  });
  it('is Inconclusive for a query check too', () => {
    const check: ResolvedQueryCheck = { kind: 'datadogQuery', name: 'q', query: 'avg:x{*}', max: 1, windowMs: 60_000, noData: 'Pass', intervalMs: 60_000 };
    expect(judgeSeries(check, limited)).to.deep.include({ verdict: 'Inconclusive', value: 'rate limited' });
  });
});
