// The real @datadog/datadog-api-client against the local stand-in: monitors and metric queries.
import { expect } from 'chai';
import type { Measurement } from '../../src/api/types.js';
import type { DatadogCredentials } from '../../src/analysis/provider.js';
import { DatadogStandIn } from '../datadog/server.js';
import { API_KEY, APP_KEY, TestRunner, closedPort, monitorCheck, queryCheck, request } from '../datadog/harness.js';

describe('Datadog adapter (real client, local stand-in)', function () {
  let dd: DatadogStandIn;
  let creds: DatadogCredentials;
  let t: TestRunner;
  const seen: Measurement[] = [];

  before(async () => {
    dd = await DatadogStandIn.start({ apiKey: API_KEY, appKey: APP_KEY });
    creds = { apiKey: API_KEY, appKey: APP_KEY, url: dd.url };
  });
  after(async () => {
    await dd.close();
    // No message seen in this file may carry a key.
    for (const m of seen) {
      const text = JSON.stringify(m);
      expect(text).to.not.contain(API_KEY);
      expect(text).to.not.contain(APP_KEY);
    }
  });
  beforeEach(() => {
    dd.reset();
    t = new TestRunner();
  });
  afterEach(() => t.close());

  const measure = async (check: Parameters<typeof request>[1], c: DatadogCredentials = creds, key = 'ns/web'): Promise<Measurement> => {
    const m = await t.measure(request(key, check, c));
    seen.push(m);
    return m;
  };

  describe('monitor by id', () => {
    for (const [state, verdict] of [
      ['OK', 'Pass'],
      ['Alert', 'Fail'],
      ['Warn', 'Inconclusive'],
      ['No Data', 'Inconclusive'],
    ] as const) {
      it(`${state} -> ${verdict}`, async () => {
        dd.setMonitors([{ id: 101, name: 'checkout errors', overallState: state }]);
        const m = await measure(monitorCheck({ id: 101 }));
        expect(m).to.deep.include({ verdict, value: state, threshold: 'OK passes; Alert fails; others inconclusive' });
        expect(m.message).to.equal(`monitor 101 "checkout errors" is ${state}`);
        expect(m.url).to.equal(`${dd.url}/monitors/101`);
        const [req] = dd.requests('/api/v1/monitor/101');
        expect(req?.query).to.deep.equal({ group_states: 'all' });
      });
    }

    it('a state the client does not know is Unknown', async () => {
      dd.setMonitors([{ id: 102, name: 'new state', overallState: 'Paused' }]);
      expect(await measure(monitorCheck({ id: 102 }))).to.deep.include({ verdict: 'Inconclusive', value: 'Unknown' });
    });

    it('multi-alert: judges the canary group only', async () => {
      dd.setMonitors([{ id: 103, name: 'errors by version', groups: { 'version:1.0.0': 'OK', 'version:2.0.0': 'OK' } }]);
      dd.setAlertVersions(['1.0.0']);
      const ok = await measure(monitorCheck({ id: 103 }, { group: 'version:2.0.0' }));
      expect(ok).to.deep.include({ verdict: 'Pass', value: 'OK', message: 'monitor 103 "errors by version" group version:2.0.0 is OK' });
      dd.setAlertVersions(['2.0.0']);
      const bad = await t.measure(request('ns/web', monitorCheck({ id: 103 }), creds, Date.now() + 1));
      expect(bad).to.deep.include({ verdict: 'Fail', value: 'Alert', message: 'monitor 103 "errors by version" group version:2.0.0 is Alert' });
    });

    it('multi-alert: no group for the canary yet is No Data', async () => {
      dd.setMonitors([{ id: 104, name: 'by version', groupByVersion: true }]);
      dd.setVersions(['1.0.0']);
      expect(await measure(monitorCheck({ id: 104 }))).to.deep.include({ verdict: 'Inconclusive', value: 'No Data' });
    });

    it('404 -> Error naming the monitor', async () => {
      const m = await measure(monitorCheck({ id: 999 }));
      expect(m).to.deep.include({ verdict: 'Error', message: 'monitor 999 not found (404)' });
    });
  });

  describe('monitors by tags and by search', () => {
    beforeEach(() => {
      dd.setMonitors([
        { id: 1, name: 'Checkout errors', tags: ['service:checkout', 'team:pay'], overallState: 'OK' },
        { id: 2, name: 'Checkout latency', tags: ['service:checkout'], overallState: 'Warn' },
        { id: 3, name: 'Checkout by version', tags: ['service:checkout'], groups: { 'version:2.0.0': 'OK', 'version:1.0.0': 'OK' } },
        { id: 4, name: 'Search errors', tags: ['service:search'], overallState: 'Alert' },
      ]);
    });

    it('tags: the worst monitor decides', async () => {
      const m = await measure(monitorCheck({ tags: ['service:checkout'] }));
      expect(m).to.deep.include({ verdict: 'Inconclusive', value: 'Warn', message: 'monitor 2 "Checkout latency" is Warn (worst of 3 monitors)' });
      const [req] = dd.requests('/api/v1/monitor');
      expect(req?.query).to.include({ monitor_tags: 'service:checkout', group_states: 'all' });
    });

    it('tags: an alerting canary group fails the check', async () => {
      dd.setAlertVersions(['2.0.0']);
      const m = await measure(monitorCheck({ tags: ['service:checkout'] }));
      expect(m).to.deep.include({ verdict: 'Fail', value: 'Alert', message: 'monitor 3 "Checkout by version" group version:2.0.0 is Alert (worst of 3 monitors)' });
    });

    it('tags: all tags must match', async () => {
      const m = await measure(monitorCheck({ tags: ['service:checkout', 'team:pay'] }));
      expect(m).to.deep.include({ verdict: 'Pass', value: 'OK' });
    });

    it('search: reads each hit with its groups', async () => {
      dd.setAlertVersions(['2.0.0']);
      const m = await measure(monitorCheck({ query: 'tag:"service:checkout" version' }));
      expect(m).to.deep.include({ verdict: 'Fail', value: 'Alert' });
      expect(dd.requests('/api/v1/monitor/search')).to.have.length(1);
      expect(dd.requests('/api/v1/monitor/3')).to.have.length(1);
      expect(dd.requests('/api/v1/monitor/1')).to.have.length(0);
    });

    it('search: status filter', async () => {
      const m = await measure(monitorCheck({ query: 'status:alert' }));
      expect(m).to.deep.include({ verdict: 'Fail', value: 'Alert', message: 'monitor 4 "Search errors" is Alert' });
    });

    it('no monitor matches -> Error', async () => {
      const byTags = await measure(monitorCheck({ tags: ['service:nope'] }));
      expect(byTags).to.deep.include({ verdict: 'Error', message: 'no monitor matches tags service:nope' });
      const bySearch = await measure(monitorCheck({ query: 'tag:"service:nope"' }));
      expect(bySearch).to.deep.include({ verdict: 'Error', message: 'no monitor matches query "tag:"service:nope""' });
    });
  });

  describe('metric query', () => {
    it('over max -> Fail, under -> Pass', async () => {
      dd.setSeriesByVersion({ metric: 'trace.http.request.errors', values: { '2.0.0': 0.9, '1.0.0': 0.01 } });
      const bad = await measure(queryCheck('avg:trace.http.request.errors{service:web,version:2.0.0}'));
      expect(bad).to.deep.include({ verdict: 'Fail', value: '0.9', threshold: '<= 0.5' });
      expect(bad.url).to.match(new RegExp(`^${dd.url}/metric/explorer\\?query=avg%3Atrace.http.request.errors%7Bservice%3Aweb%2Cversion%3A2.0.0%7D&from_ts=\\d+&to_ts=\\d+`));
      const good = await measure(queryCheck('avg:trace.http.request.errors{service:web,version:1.0.0}'));
      expect(good).to.deep.include({ verdict: 'Pass', value: '0.01' });
      const [req] = dd.requests('/api/v1/query');
      const from = Number(req?.query.from);
      const to = Number(req?.query.to);
      expect(to - from).to.equal(300);
      expect(Math.abs(to - Date.now() / 1000)).to.be.lessThan(10);
    });

    it('empty series -> noData verdict', async () => {
      expect(await measure(queryCheck('avg:unknown.metric{*}'))).to.deep.include({ verdict: 'Inconclusive', value: 'no data' });
      expect(await measure(queryCheck('avg:other.metric{*}', { noData: 'Fail' }))).to.deep.include({ verdict: 'Fail', value: 'no data' });
    });

    it('the incomplete newest bucket is ignored', async () => {
      dd.setSeries('avg:app.errors{*}', { value: 0.2, lastValue: 50, intervalSec: 60 });
      expect(await measure(queryCheck('avg:app.errors{*}'))).to.deep.include({ verdict: 'Pass', value: '0.2' });
    });

    it('several series -> Error', async () => {
      dd.setSeriesFunction(() => undefined);
      dd.setSeries('avg:app.errors{*} by {version}', { value: 0.2 });
      // The stand-in sends one series per source; fake two with a malformed-shape-free body.
      dd.addFault({
        path: '/api/v1/query',
        status: 200,
        body: { status: 'ok', res_type: 'time_series', series: [{ pointlist: [[1, 1]], interval: 60 }, { pointlist: [[1, 2]], interval: 60 }] },
      });
      const m = await measure(queryCheck('avg:app.errors{*} by {version}'));
      expect(m.verdict).to.equal('Error');
      expect(m.message).to.contain('returned 2 series');
    });
  });

  describe('failures', () => {
    beforeEach(() => dd.setMonitors([{ id: 7, name: 'errors', overallState: 'OK' }]));

    it('403 wrong keys', async () => {
      const m = await measure(monitorCheck({ id: 7 }), { ...creds, appKey: 'wrong-app-key-123456' });
      expect(m).to.deep.include({ verdict: 'Error', message: 'Datadog rejected the API or application key (403 Forbidden)' });
      expect(JSON.stringify(m)).to.not.contain('wrong-app-key-123456');
    });

    it('500 -> Error', async () => {
      dd.addFault({ path: '/api/v1/monitor/*', status: 500, body: { errors: ['Internal error'] } });
      const m = await measure(monitorCheck({ id: 7 }));
      expect(m).to.deep.include({ verdict: 'Error', message: 'Datadog answered 500 Internal Server Error: Internal error' });
    });

    it('503 without a body -> Error', async () => {
      dd.addFault({ path: '/api/v1/query', status: 503, body: '' });
      const m = await measure(queryCheck('avg:x{*}'));
      expect(m.verdict).to.equal('Error');
      expect(m.message).to.match(/^Datadog answered 503 Service Unavailable/);
    });

    it('timeout -> Error', async () => {
      t.close();
      t = new TestRunner({ timeoutMs: 200 });
      dd.addFault({ path: '/api/v1/monitor/7', delayMs: 1500 });
      const started = Date.now();
      const m = await measure(monitorCheck({ id: 7 }));
      expect(m.verdict).to.equal('Error');
      expect(m.message).to.match(/^no answer from Datadog within 200ms/);
      expect(Date.now() - started).to.be.lessThan(1400);
    });

    it('malformed body -> Error', async () => {
      dd.addFault({ path: '/api/v1/monitor/7', status: 200, body: '{"id": 7, "name": "err' });
      const m = await measure(monitorCheck({ id: 7 }));
      expect(m.verdict).to.equal('Error');
      expect(m.message).to.match(/^Datadog sent .* could not be read/);
    });

    it('well-formed JSON of the wrong shape -> Error', async () => {
      dd.addFault({ path: '/api/v1/query', status: 200, body: { status: 'ok', series: [{ pointlist: 'nope' }] } });
      const m = await measure(queryCheck('avg:x{*}'));
      expect(m.verdict).to.equal('Error');
    });

    it('connection refused -> Error that reads like a timeout, so status is no port scanner', async () => {
      t.close();
      t = new TestRunner({ timeoutMs: 200 });
      const port = await closedPort();
      const refused = await measure(monitorCheck({ id: 7 }), { ...creds, url: `http://127.0.0.1:${port}` });
      dd.addFault({ path: '/api/v1/monitor/7', delayMs: 1500 });
      const slow = await measure(monitorCheck({ id: 7 }), creds, 'ns/slow');
      expect(refused).to.deep.include({ verdict: 'Error', message: `no answer from Datadog within 200ms at 127.0.0.1:${port}: the connection failed or timed out` });
      expect(slow.message?.replace(/:\d+:/, ':PORT:')).to.equal(refused.message?.replace(/:\d+:/, ':PORT:'));
      expect(refused.message).to.not.contain('ECONNREFUSED');
    });

    it('an error body reaches status only as a bounded excerpt without control characters or keys', async () => {
      const hostile = `\u001b[2J\u001b]0;owned\u0007 upstream said: ${API_KEY} ${'x'.repeat(5000)}\u202e`;
      dd.addFault({ path: '/api/v1/monitor/7', status: 502, body: { errors: [hostile] } });
      const m = await measure(monitorCheck({ id: 7 }));
      expect(m.verdict).to.equal('Error');
      expect(m.message).to.match(/^Datadog answered 502 Bad Gateway: /);
      expect(m.message!.length).to.be.at.most(260);
      expect(m.message).to.not.match(/[\u0000-\u001f\u007f-\u009f\u202e]/);
      expect(m.message).to.not.contain(API_KEY);
      expect(m.message).to.contain('[redacted]');
    });

    it('a query error text reaches status only as a bounded, sanitised excerpt', async () => {
      dd.addFault({ path: '/api/v1/query', status: 200, body: { status: 'error', error: `bad \u001b[31mquery\u001b[0m ${'y'.repeat(3000)}` } });
      const m = await measure(queryCheck('avg:x{*}'));
      expect(m.verdict).to.equal('Error');
      expect(m.message).to.match(/^Datadog could not run the query: bad \[31mquery\[0m y+…$/);
      expect(m.message!.length).to.be.at.most(260);
    });

    it('a monitor name with terminal escapes is stored without them', async () => {
      dd.setMonitors([{ id: 8, name: '\u001b[2Jerrors\u0007', overallState: 'OK' }]);
      const m = await measure(monitorCheck({ id: 8 }));
      expect(m.message).to.equal('monitor 8 "[2Jerrors" is OK');
    });

    it('a redirect is not followed, so the keys never travel to where it points', async () => {
      const elsewhere = await DatadogStandIn.start({ apiKey: API_KEY, appKey: APP_KEY });
      try {
        elsewhere.setMonitors([{ id: 7, name: 'errors', overallState: 'OK' }]);
        dd.addFault({ path: '/api/v1/monitor/7', status: 302, body: '', headers: { location: `${elsewhere.url}/api/v1/monitor/7?group_states=all` } });
        const m = await measure(monitorCheck({ id: 7 }));
        expect(m.verdict).to.equal('Error');
        expect(m.message).to.match(/^Datadog answered 302/);
        expect(elsewhere.requests('/api/')).to.deep.equal([]);
      } finally {
        await elsewhere.close();
      }
    });

    it('an answer larger than 16 MiB is an error, not read into memory', async () => {
      dd.addFault({ path: '/api/v1/monitor/7', status: 200, body: `{"id":7,"name":"${'x'.repeat(17 * 1024 * 1024)}"}` });
      const m = await measure(monitorCheck({ id: 7 }));
      expect(m).to.deep.include({ verdict: 'Error', message: 'Datadog sent a response that could not be read: the answer is larger than 16 MiB' });
    });

    it('DD_SITE in the environment does not change where calls go', async () => {
      const { datadogApis } = await import('../../src/analysis/datadog/client.js');
      const saved = process.env.DD_SITE;
      process.env.DD_SITE = 'us5.datadoghq.com';
      try {
        const apis = await datadogApis({ apiKey: 'site-test-a', appKey: 'site-test-b', site: 'datadoghq.eu' });
        const conf = (apis.monitors as unknown as { configuration: { getServer(op: string): { getUrl(): string } } }).configuration;
        expect(conf.getServer('v1.MonitorsApi.getMonitor').getUrl()).to.equal('https://api.datadoghq.eu');
        const plain = await datadogApis({ apiKey: 'site-test-c', appKey: 'site-test-d' });
        const plainConf = (plain.monitors as unknown as { configuration: { getServer(op: string): { getUrl(): string } } }).configuration;
        expect(plainConf.getServer('v1.MetricsApi.queryMetrics').getUrl()).to.equal('https://api.datadoghq.com');
      } finally {
        if (saved === undefined) delete process.env.DD_SITE;
        else process.env.DD_SITE = saved;
      }
    });

    it('links point at the site app for real sites', async () => {
      const { monitorUrl, metricUrl } = await import('../../src/analysis/datadog/fetch.js');
      expect(monitorUrl({ apiKey: 'a', appKey: 'b', site: 'datadoghq.com' }, 5)).to.equal('https://app.datadoghq.com/monitors/5');
      expect(monitorUrl({ apiKey: 'a', appKey: 'b', site: 'datadoghq.eu' }, 5)).to.equal('https://app.datadoghq.eu/monitors/5');
      expect(monitorUrl({ apiKey: 'a', appKey: 'b', site: 'us5.datadoghq.com' }, 5)).to.equal('https://us5.datadoghq.com/monitors/5');
      expect(metricUrl({ apiKey: 'a', appKey: 'b' }, 'avg:a{b:c}', 1000, 2000)).to.equal('https://app.datadoghq.com/metric/explorer?query=avg%3Aa%7Bb%3Ac%7D&from_ts=1000&to_ts=2000&live=false');
    });
  });
});
