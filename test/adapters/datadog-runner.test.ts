// MeasurementRunner with the real client against the stand-in: sharing calls and rate limits.
import { expect } from 'chai';
import type { DatadogCredentials } from '../../src/analysis/provider.js';
import type { CallResult } from '../../src/analysis/runner.js';
import { DatadogStandIn, keyFingerprint } from '../datadog/server.js';
import { API_KEY, APP_KEY, TestRunner, monitorCheck, queryCheck, request } from '../datadog/harness.js';

describe('MeasurementRunner (real client, local stand-in)', function () {
  let dd: DatadogStandIn;
  let creds: DatadogCredentials;
  let t: TestRunner;
  let calls: CallResult[];

  before(async () => {
    dd = await DatadogStandIn.start({ apiKey: API_KEY, appKey: APP_KEY });
    creds = { apiKey: API_KEY, appKey: APP_KEY, url: dd.url };
  });
  after(() => dd.close());
  beforeEach(() => {
    dd.reset();
    dd.setMonitors([
      { id: 11, name: 'errors', groups: { 'version:1.0.0': 'OK', 'version:2.0.0': 'OK' } },
      { id: 12, name: 'latency', overallState: 'OK' },
    ]);
    calls = [];
    t = new TestRunner({ metrics: { onCall: (r) => calls.push(r) } });
  });
  afterEach(() => t.close());

  it('two canaries asking for the same monitor within the interval share one call', async () => {
    const now = Date.now();
    const a = request('ns/a', monitorCheck({ id: 11 }, { group: 'version:1.0.0' }), creds, now);
    const b = request('ns/b', monitorCheck({ id: 11 }, { group: 'version:2.0.0' }), creds, now);
    const ready = Promise.all([t.ready('ns/a'), t.ready('ns/b')]);
    t.runner.request(a);
    t.runner.request(b);
    await ready;
    expect(t.runner.peek(a)).to.deep.include({ verdict: 'Pass', message: 'monitor 11 "errors" group version:1.0.0 is OK' });
    expect(t.runner.peek(b)).to.deep.include({ verdict: 'Pass', message: 'monitor 11 "errors" group version:2.0.0 is OK' });
    // A third canary within the interval reuses the finished observation.
    const c = request('ns/c', monitorCheck({ id: 11 }), creds, now);
    expect(t.runner.peek(c)).to.deep.include({ verdict: 'Pass' });
    expect(dd.requests('/api/v1/monitor/11')).to.have.length(1);
    expect(t.runner.stats()).to.include({ calls: 1, sharedHits: 2 });
    expect(calls).to.deep.equal(['ok']);
  });

  it('a request newer than the observation makes a new call', async () => {
    const first = await t.measure(request('ns/a', monitorCheck({ id: 12 }), creds, Date.now()));
    expect(first.verdict).to.equal('Pass');
    const later = request('ns/a', monitorCheck({ id: 12 }), creds, Date.now() + 5);
    expect(t.runner.peek(later)).to.equal(undefined);
    await new Promise((r) => setTimeout(r, 10));
    dd.upsertMonitor({ id: 12, name: 'latency', overallState: 'Alert' });
    expect(await t.measure(later)).to.deep.include({ verdict: 'Fail' });
    expect(dd.requests('/api/v1/monitor/12')).to.have.length(2);
  });

  it('different credentials do not share calls', async () => {
    const other = { ...creds, appKey: 'another-app-key-99999' };
    await Promise.all([t.measure(request('ns/a', monitorCheck({ id: 12 }), creds)), t.measure(request('ns/b', monitorCheck({ id: 12 }), other))]);
    const reqs = dd.requests('/api/v1/monitor/12');
    expect(reqs).to.have.length(2);
    expect(reqs.map((r) => r.appKey).sort()).to.deep.equal([keyFingerprint(APP_KEY), keyFingerprint('another-app-key-99999')].sort());
  });

  it('checks with different thresholds sharing a query are judged separately', async () => {
    dd.setSeries('avg:app.errors{*}', { value: 0.3 });
    const strict = request('ns/a', queryCheck('avg:app.errors{*}', { max: 0.1 }), creds);
    const loose = request('ns/b', queryCheck('avg:app.errors{*}', { max: 0.5 }), creds);
    const ready = Promise.all([t.ready('ns/a'), t.ready('ns/b')]);
    t.runner.request(strict);
    t.runner.request(loose);
    await ready;
    expect(t.runner.peek(strict)).to.deep.include({ verdict: 'Fail', value: '0.3' });
    expect(t.runner.peek(loose)).to.deep.include({ verdict: 'Pass', value: '0.3' });
    expect(dd.requests('/api/v1/query')).to.have.length(1);
  });

  it('429 then success after the reset (reset 0 s)', async () => {
    dd.rateLimit({ path: '/api/v1/monitor/*', times: 1, resetSeconds: 0 });
    const m = await t.measure(request('ns/a', monitorCheck({ id: 12 }), creds));
    expect(m).to.deep.include({ verdict: 'Pass', value: 'OK' });
    expect(dd.requests('/api/v1/monitor/12').map((r) => r.status)).to.deep.equal([429, 200]);
    expect(calls).to.deep.equal(['rate_limited', 'ok']);
  });

  it('429 blocks the credential until x-ratelimit-reset (1 s), then retries', async () => {
    dd.rateLimit({ path: '/api/v1/monitor/12', times: 1, resetSeconds: 1 });
    const first = t.measure(request('ns/a', monitorCheck({ id: 12 }), creds));
    await new Promise((r) => setTimeout(r, 100));
    // Another call on the same credential waits for the reset too.
    const second = t.measure(request('ns/b', monitorCheck({ id: 11 }), creds));
    const [m1, m2] = await Promise.all([first, second]);
    expect(m1.verdict).to.equal('Pass');
    expect(m2.verdict).to.equal('Pass');
    const reqs = dd.requests('/api/v1/monitor/');
    const limited = reqs.find((r) => r.status === 429);
    const other = reqs.find((r) => r.path === '/api/v1/monitor/11');
    expect(limited).to.not.equal(undefined);
    expect((other?.time ?? 0) - (limited?.time ?? 0)).to.be.at.least(900);
    expect(reqs.filter((r) => r.path === '/api/v1/monitor/12').map((r) => r.status)).to.deep.equal([429, 200]);
  });

  it('a 429 that persists after retries is Inconclusive "rate limited until …", never an Error', async () => {
    dd.rateLimit({ path: '/api/v1/monitor/*', times: 100, resetSeconds: 0 });
    const before = Date.now();
    const m = await t.measure(request('ns/a', monitorCheck({ id: 12 }), creds));
    expect(m.verdict).to.equal('Inconclusive');
    expect(m.message).to.match(/^rate limited by Datadog \(429\) until \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z after 2 retries; not counted as an error$/);
    const until = Date.parse(/until (\S+)/.exec(m.message ?? '')?.[1] ?? '');
    expect(until).to.be.at.least(before - 1000);
    expect(dd.requests('/api/v1/monitor/12')).to.have.length(3);
    expect(calls).to.deep.equal(['rate_limited', 'rate_limited', 'rate_limited']);
    expect(t.runner.stats()).to.include({ calls: 3, rateLimited: 3 });
  });

  it('the organisation quota: calls pause when x-ratelimit-remaining reaches 0 and resume after the reset, without a 429', async () => {
    dd.setMonitors(Array.from({ length: 10 }, (_, i) => ({ id: 100 + i, name: `m${i}`, overallState: 'OK' })));
    dd.setQuota({ path: '/api/v1/monitor/*', limit: 4, periodSeconds: 1 });
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => t.measure(request(`ns/c${i}`, monitorCheck({ id: 100 + i }), creds))));
    expect(results.map((m) => m.verdict)).to.deep.equal(Array(10).fill('Pass'));
    const statuses = dd.requests('/api/v1/monitor/').map((r) => r.status);
    expect(statuses).to.have.length(10);
    expect(statuses.filter((x) => x === 429)).to.deep.equal([]);
  });

  it('a per-credential call budget spreads a burst of distinct calls; other credentials are not held back', async () => {
    t.close();
    t = new TestRunner({ callBudget: { calls: 2, perMs: 500 } });
    dd.setMonitors(Array.from({ length: 5 }, (_, i) => ({ id: 200 + i, name: `m${i}`, overallState: 'OK' })));
    const started = Date.now();
    const burst = Promise.all(Array.from({ length: 5 }, (_, i) => t.measure(request(`ns/b${i}`, monitorCheck({ id: 200 + i }), creds))));
    const other = { ...creds, appKey: 'another-app-key-99999' };
    const otherDone = t.measure(request('ns/other', monitorCheck({ id: 200 }), other)).then(() => Date.now());
    await burst;
    expect((await otherDone) - started).to.be.lessThan(200);
    const times = dd
      .requests('/api/v1/monitor/')
      .filter((r) => r.appKey === keyFingerprint(APP_KEY))
      .map((r) => r.time)
      .sort((a, b) => a - b);
    expect(times).to.have.length(5);
    // Two at once, then one every 250 ms.
    expect((times[2] ?? 0) - (times[0] ?? 0)).to.be.at.least(200);
    expect((times[4] ?? 0) - (times[0] ?? 0)).to.be.at.least(650);
  });

  it('errors are shared observations too and never carry the keys', async () => {
    const bad = { ...creds, apiKey: 'bad-api-key-abcdefgh' };
    const m = await t.measure(request('ns/a', monitorCheck({ id: 12 }), bad));
    expect(m.verdict).to.equal('Error');
    expect(JSON.stringify(m)).to.not.contain('bad-api-key-abcdefgh').and.not.contain(APP_KEY);
    expect(calls).to.deep.equal(['error']);
  });

  it('never throws on odd input', () => {
    expect(() => t.runner.request(undefined as never)).to.not.throw();
    expect(t.runner.peek(undefined as never)).to.equal(undefined);
  });

  it('a request for a later time waits until then', async () => {
    const at = Date.now() + 300;
    const m = await t.measure(request('ns/a', monitorCheck({ id: 12 }), creds, at));
    expect(m.verdict).to.equal('Pass');
    const [req] = dd.requests('/api/v1/monitor/12');
    expect(req?.time ?? 0).to.be.at.least(at - 5);
  });

  describe('the Secret url rule', () => {
    const spyRunner = (allowPlainHttp: boolean, seenUrls: string[]): TestRunner =>
      new TestRunner({
        urlPolicy: { allowPlainHttp },
        lookup: async () => ['10.0.0.9'],
        fetcher: async (c, _call, opts) => {
          seenUrls.push(c.url ?? '');
          return { observation: { kind: 'monitors', takenAt: opts.now(), monitors: [{ id: 1, name: 'm', overallState: 'OK', groups: {} }], url: 'u' } };
        },
      });

    it('plain http to a host other than loopback is refused without a call, saying why', async () => {
      const urls: string[] = [];
      const r = spyRunner(false, urls);
      try {
        const m = await r.measure(request('ns/a', monitorCheck({ id: 1 }), { ...creds, url: 'http://dd-proxy.example:8080' }));
        expect(m.verdict).to.equal('Error');
        expect(m.message).to.contain("the Datadog Secret's url must use https");
        expect(m.message).to.contain('--datadog-allow-http');
        expect(urls).to.deep.equal([]);
      } finally {
        r.close();
      }
    });

    it('a host name that resolves to a link-local address is refused without a call', async () => {
      const urls: string[] = [];
      const r = new TestRunner({
        lookup: async (host) => (host === 'metadata.attacker.example' ? ['10.1.2.3', '169.254.169.254'] : ['10.1.2.4']),
        fetcher: async (c, _call, opts) => {
          urls.push(c.url ?? '');
          return { observation: { kind: 'monitors', takenAt: opts.now(), monitors: [{ id: 1, name: 'm', overallState: 'OK', groups: {} }], url: 'u' } };
        },
      });
      try {
        const bad = await r.measure(request('ns/a', monitorCheck({ id: 1 }), { ...creds, url: 'https://metadata.attacker.example' }));
        expect(bad).to.deep.include({ verdict: 'Error', message: "the Datadog Secret's url names a host that resolves to a link-local address (169.254.0.0/16, fe80::/10); no call was made" });
        const good = await r.measure(request('ns/b', monitorCheck({ id: 1 }), { ...creds, url: 'https://dd-proxy.example' }));
        expect(good.verdict).to.equal('Pass');
        expect(urls).to.deep.equal(['https://dd-proxy.example']);
        expect(r.runner.stats().calls).to.equal(1);
      } finally {
        r.close();
      }
    });

    it('with the operator flag plain http is called; loopback http always is', async () => {
      const urls: string[] = [];
      const allowed = spyRunner(true, urls);
      const strict = spyRunner(false, urls);
      try {
        expect((await allowed.measure(request('ns/a', monitorCheck({ id: 1 }), { ...creds, url: 'http://dd-proxy.example:8080' }))).verdict).to.equal('Pass');
        expect((await strict.measure(request('ns/b', monitorCheck({ id: 1 }), { ...creds, url: 'http://127.0.0.1:9' }))).verdict).to.equal('Pass');
        expect(urls).to.deep.equal(['http://dd-proxy.example:8080', 'http://127.0.0.1:9']);
      } finally {
        allowed.close();
        strict.close();
      }
    });
  });
});
