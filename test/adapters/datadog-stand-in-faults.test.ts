// The stand-in's faults for the chaos catalogue (a blackhole, raw garbage answers, rotated keys,
// quotas lifted), seen through the real @datadog/datadog-api-client: none of them is ever a Pass.
import { expect } from 'chai';
import type { Measurement } from '../../src/api/types.js';
import type { DatadogCredentials } from '../../src/analysis/provider.js';
import { DatadogStandIn } from '../datadog/server.js';
import { API_KEY, APP_KEY, TestRunner, monitorCheck, queryCheck, request } from '../datadog/harness.js';

describe('Datadog stand-in faults (real client)', function () {
  let dd: DatadogStandIn;
  let creds: DatadogCredentials;
  let t: TestRunner;
  const monitor = monitorCheck({ id: 101 }, { group: undefined });

  before(async () => {
    dd = await DatadogStandIn.start({ apiKey: API_KEY, appKey: APP_KEY });
    creds = { apiKey: API_KEY, appKey: APP_KEY, url: dd.url };
  });
  after(async () => dd.close());
  beforeEach(() => {
    dd.reset();
    dd.rotateKeys(API_KEY, APP_KEY);
    dd.setMonitors([{ id: 101, name: 'checkout errors', overallState: 'OK' }]);
    t = new TestRunner({ timeoutMs: 400 });
  });
  afterEach(() => t.close());

  /** A measurement taken after every earlier one (never served from the runner's cache). */
  const measure = async (check: Parameters<typeof request>[1] = monitor, c: DatadogCredentials = creds): Promise<Measurement> => {
    await new Promise((r) => setTimeout(r, 20));
    return t.measure(request('ns/web', check, c, Date.now()));
  };

  it('a blackhole holds the connection without answering until it is cleared', async () => {
    dd.addFault({ path: '/api/v1/*', blackhole: true });
    const m = await measure();
    expect(m.verdict).to.equal('Error');
    expect(m.message).to.match(/^no answer from Datadog within 400ms at 127\.0\.0\.1:\d+: the connection failed or timed out$/);
    expect(dd.heldRequests).to.equal(1);
    expect(dd.requests('/api/v1/monitor/101')[0]?.status, 'never answered').to.equal(0);
    dd.clearFaults();
    expect(dd.heldRequests).to.equal(0);
    expect((await measure()).verdict).to.equal('Pass');
  });

  const garbage: Array<{ name: string; fault: Parameters<DatadogStandIn['addFault']>[0] }> = [
    { name: 'an HTML page with 200', fault: { path: '/api/v1/*', status: 200, contentType: 'text/html', body: '<html><body>502 from the proxy</body></html>' } },
    { name: 'bytes that are not UTF-8', fault: { path: '/api/v1/*', status: 200, body: Uint8Array.from([0xff, 0xfe, 0x7b, 0x00, 0xc3]) } },
    { name: 'JSON cut short', fault: { path: '/api/v1/*', status: 200, body: JSON.stringify({ id: 101, name: 'x', overall_state: 'OK' }), cutShort: true } },
    { name: 'JSON of another shape', fault: { path: '/api/v1/*', status: 200, body: { unexpected: true } } },
    { name: 'a JSON array for one monitor', fault: { path: '/api/v1/*', status: 200, body: [] } },
  ];
  for (const g of garbage) {
    it(`${g.name} for a monitor is an Error, never a Pass`, async () => {
      dd.addFault(g.fault);
      const m = await measure();
      expect(m.verdict, m.message).to.equal('Error');
      expect(m.message).to.match(/could not be read|no answer|connection/);
    });
  }

  it('a query answer without its series list is an Error, not "no data" (which a check may count as a Pass)', async () => {
    dd.setSeries('avg:app.errors{*}', { value: 0 });
    const query = queryCheck('avg:app.errors{*}', { noData: 'Pass' });
    expect((await measure(query)).verdict).to.equal('Pass');
    dd.addFault({ path: '/api/v1/query', status: 200, body: { unexpected: true } });
    const m = await measure(query);
    expect(m.verdict, m.message).to.equal('Error');
    expect(m.message).to.match(/in a form that could not be read/);
  });

  it('rotated keys: the old ones get 403, the new ones are accepted', async () => {
    dd.rotateKeys('rotated-api-key-1234', 'rotated-app-key-5678');
    const old = await measure();
    expect(old.verdict).to.equal('Error');
    expect(old.message).to.match(/rejected the API or application key \(403/);
    const fresh = await measure(monitor, { ...creds, apiKey: 'rotated-api-key-1234', appKey: 'rotated-app-key-5678' });
    expect(fresh.verdict).to.equal('Pass');
    expect(dd.apiKey).to.equal('rotated-api-key-1234');
  });

  it('clearQuotas lifts a rate limit', async () => {
    dd.setQuota({ path: '/api/v1/*', limit: 1, periodSeconds: 60 });
    const get = async (): Promise<number> =>
      (await fetch(`${dd.url}/api/v1/monitor/101`, { headers: { 'dd-api-key': API_KEY, 'dd-application-key': APP_KEY } })).status;
    expect([await get(), await get()]).to.deep.equal([200, 429]);
    dd.clearQuotas();
    expect(await get()).to.equal(200);
  });
});
