// A compare check through the runner and the real @datadog/datadog-api-client against the local
// stand-in: both series read over one window, errors and rate limits of either query.
import { expect } from 'chai';
import type { DatadogCredentials, ResolvedCompareCheck } from '../../src/analysis/provider.js';
import { DatadogStandIn } from '../datadog/server.js';
import { API_KEY, APP_KEY, TestRunner, request } from '../datadog/harness.js';

const check: ResolvedCompareCheck = {
  kind: 'compare',
  name: 'latency',
  queries: { canary: 'avg:lat{role:canary}', baseline: 'avg:lat{role:baseline}' },
  higherIsWorse: true,
  minPoints: 10,
  significance: 0.05,
  tolerance: 0.1,
  windowMs: 300_000,
  intervalMs: 60_000,
};

/** A series of 10-second buckets around `center`, ±3, the same shape for every role. */
function around(center: number): (q: string, fromMs: number, toMs: number) => { points: Array<[number, number]>; intervalSec: number } {
  return (_q, fromMs, toMs) => {
    const points: Array<[number, number]> = [];
    for (let ts = Math.floor(fromMs / 10_000) * 10_000; ts <= toMs; ts += 10_000) points.push([ts, center + 3 * Math.sin(ts / 10_000)]);
    return { points, intervalSec: 10 };
  };
}

describe('compare check (real client, local stand-in)', function () {
  let dd: DatadogStandIn;
  let creds: DatadogCredentials;
  let t: TestRunner;
  before(async () => {
    dd = await DatadogStandIn.start({ apiKey: API_KEY, appKey: APP_KEY });
    creds = { apiKey: API_KEY, appKey: APP_KEY, url: dd.url };
  });
  after(async () => dd.close());
  beforeEach(() => dd.reset());
  afterEach(() => t.close());

  const bySeries = (canary: number, baseline: number) =>
    dd.setSeriesFunction((q, from, to) => (q.includes('role:canary') ? around(canary)(q, from, to) : q.includes('role:baseline') ? around(baseline)(q, from, to) : undefined));

  it('reads both series over the same window and judges them', async () => {
    t = new TestRunner();
    bySeries(130, 100);
    const m = await t.measure(request('ns/web', check, creds));
    expect(m.verdict, m.message).to.equal('Fail');
    // Medians of center ± 3 (the sine's phase depends on the clock).
    const medians = /^canary median ([\d.]+) vs baseline median ([\d.]+) \(\+[\d.]+%\)$/.exec(m.value ?? '');
    expect(medians, m.value).to.not.equal(null);
    expect(Number(medians?.[1])).to.be.within(127, 133);
    expect(Number(medians?.[2])).to.be.within(97, 103);
    const counts = /\((\d+) points\), baseline median .* \((\d+) points\)/.exec(m.message ?? '');
    expect(counts?.[1], 'the same window for both').to.equal(counts?.[2]);
    expect(Number(counts?.[1])).to.be.within(29, 30); // 5 min of 10 s buckets, the one still filling left out
    const reqs = dd.requests('/api/v1/query');
    expect(reqs.map((r) => r.query.query).sort()).to.deep.equal([check.queries.baseline, check.queries.canary]);
    expect(reqs[0]?.query.from).to.equal(reqs[1]?.query.from);
    expect(reqs[0]?.query.to).to.equal(reqs[1]?.query.to);
  });

  it('equal series pass', async () => {
    t = new TestRunner();
    bySeries(100, 100);
    const m = await t.measure(request('ns/web', check, creds));
    expect(m.verdict, m.message).to.equal('Pass');
  });

  it('an empty series is Inconclusive (not enough points)', async () => {
    t = new TestRunner();
    dd.setSeriesFunction((q, from, to) => (q.includes('role:canary') ? around(100)(q, from, to) : undefined));
    const m = await t.measure(request('ns/web', check, creds));
    expect(m.verdict).to.equal('Inconclusive');
    expect(m.message).to.match(/canary (29|30), baseline 0, at least 10 each/);
  });

  it('an error of one query is the check\'s Error, naming the role', async () => {
    t = new TestRunner();
    bySeries(100, 100);
    dd.addFault({ path: '/api/v1/query', status: 500, body: { errors: ['Internal error'] }, times: 1 });
    const m = await t.measure(request('ns/web', check, creds));
    expect(m.verdict).to.equal('Error');
    expect(m.message).to.match(/^(canary|baseline) query: /);
  });

  it('a rate limit on either query is Inconclusive, not an error', async () => {
    t = new TestRunner({ maxRateLimitRetries: 0 });
    bySeries(100, 100);
    dd.rateLimit({ path: '/api/v1/query', times: 1, resetSeconds: 1 });
    const m = await t.measure(request('ns/web', check, creds));
    expect(m.verdict).to.equal('Inconclusive');
    expect(m.value).to.equal('rate limited');
  });
});
