// The runner remembers which monitors a tag or search selection listed, per Canary and check,
// so that a push naming a monitor reaches the checks that select it.
import { expect } from 'chai';
import type { DatadogCredentials } from '../../src/analysis/provider.js';
import { DatadogStandIn } from '../datadog/server.js';
import { API_KEY, APP_KEY, TestRunner, monitorCheck, request } from '../datadog/harness.js';

describe('MeasurementRunner: the monitors a selection listed (for pushes)', function () {
  let dd: DatadogStandIn;
  let creds: DatadogCredentials;
  let t: TestRunner;

  before(async () => {
    dd = await DatadogStandIn.start({ apiKey: API_KEY, appKey: APP_KEY });
    creds = { apiKey: API_KEY, appKey: APP_KEY, url: dd.url };
  });
  after(() => dd.close());
  beforeEach(() => {
    dd.reset();
    dd.setMonitors([
      { id: 21, name: 'errors', tags: ['service:web'], groups: { 'version:2.0.0': 'OK' } },
      { id: 22, name: 'latency', tags: ['service:web'], groups: { 'version:2.0.0': 'OK' } },
      { id: 23, name: 'other', tags: ['service:api'], overallState: 'OK' },
    ]);
    t = new TestRunner();
  });
  afterEach(() => t.close());

  it('lists the ids a tag selection answered with, per Canary and check, once the measurement was read', async () => {
    const req = request('ns/web', monitorCheck({ tags: ['service:web'] }, { name: 'web-monitors' }), creds);
    expect(t.runner.monitorsSeen('ns/web', 'web-monitors')).to.equal(undefined);
    await t.measure(req);
    expect([...(t.runner.monitorsSeen('ns/web', 'web-monitors') ?? [])].sort()).to.deep.equal([21, 22]);
    expect(t.runner.monitorsSeen('ns/other', 'web-monitors'), 'another canary').to.equal(undefined);
    expect(t.runner.monitorsSeen('ns/web', 'other-check'), 'another check').to.equal(undefined);
  });

  it('follows the selection: a monitor that stops matching is no longer listed after the next measurement', async () => {
    const check = monitorCheck({ tags: ['service:web'] }, { name: 'web-monitors' });
    await t.measure(request('ns/web', check, creds));
    dd.upsertMonitor({ id: 22, name: 'latency', tags: ['service:moved'], groups: { 'version:2.0.0': 'OK' } });
    await t.measure(request('ns/web', check, creds, Date.now() + 1));
    expect(t.runner.monitorsSeen('ns/web', 'web-monitors')).to.deep.equal([21]);
  });
});
