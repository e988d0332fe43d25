// The stand-in's POST /api/v2/query/scalar (the query Argo Rollouts' Datadog provider sends with
// apiVersion v2), read by the published @datadog/datadog-api-client and with Argo's own request body.
import { expect } from 'chai';
import { client, v2 } from '@datadog/datadog-api-client';
import { DatadogStandIn } from '../datadog/server.js';

const API_KEY = 'scalar-api-key';
const APP_KEY = 'scalar-app-key';

/** The body Argo Rollouts v1.8 marshals for a `query:` metric (its aggregator defaults to last). */
function argoBody(query: string, fromMs: number, toMs: number, aggregator = 'last'): string {
  return JSON.stringify({
    data: {
      attributes: { from: fromMs, to: toMs, queries: [{ aggregator, data_source: 'metrics', name: 'query', query }], formulas: [] },
      type: 'scalar_request',
    },
  });
}

describe('Datadog stand-in: v2 scalar query', function () {
  let dd: DatadogStandIn;
  before(async () => {
    dd = await DatadogStandIn.start({ apiKey: API_KEY, appKey: APP_KEY });
  });
  after(async () => dd.close());
  beforeEach(() => dd.reset());

  const post = (body: string, keys: { api?: string; app?: string } = {}): Promise<Response> =>
    fetch(`${dd.url}/api/v2/query/scalar`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'DD-API-KEY': keys.api ?? API_KEY, 'DD-APPLICATION-KEY': keys.app ?? APP_KEY },
      body,
    });

  it('answers the published client with one number column per query, reduced by its aggregator', async () => {
    dd.setSeries('avg:errors{service:web}', { value: 2, lastValue: 8 });
    const configuration = client.createConfiguration({
      authMethods: { apiKeyAuth: API_KEY, appKeyAuth: APP_KEY },
      baseServer: new client.BaseServerConfiguration(dd.url, {}),
      enableRetry: false,
    });
    const api = new v2.MetricsApi(configuration);
    const to = Date.now();
    const from = to - 5 * 60_000;
    const query = (aggregator: v2.MetricsAggregator): Promise<v2.ScalarFormulaQueryResponse> =>
      api.queryScalarData({
        body: { data: { type: 'scalar_request', attributes: { from, to, queries: [{ dataSource: 'metrics', query: 'avg:errors{service:web}', aggregator, name: 'a' }] } } },
      });
    const last = await query('last');
    const column = last.data?.attributes?.columns?.[0] as v2.DataScalarColumn | undefined;
    expect(last.data?.type).to.equal('scalar_response');
    expect(column?.name).to.equal('a');
    expect(column?.type).to.equal('number');
    expect(column?.values).to.deep.equal([8]);
    const max = (await query('max')).data?.attributes?.columns?.[0] as v2.DataScalarColumn | undefined;
    expect(max?.values).to.deep.equal([8]);
    const min = (await query('min')).data?.attributes?.columns?.[0] as v2.DataScalarColumn | undefined;
    expect(min?.values).to.deep.equal([2]);
    // 5 or 6 one-minute buckets (the window's edges), the newest one at 8.
    const avg = (await query('avg')).data?.attributes?.columns?.[0] as v2.DataScalarColumn | undefined;
    expect(avg?.values?.[0]).to.be.oneOf([(2 * 4 + 8) / 5, (2 * 5 + 8) / 6]);
    const reqs = dd.requests('/api/v2/query/scalar');
    expect(reqs).to.have.length(4);
    expect(reqs.every((r) => r.status === 200)).to.equal(true);
  });

  it("reads Argo Rollouts' request: the value, or [null] when the series has no data", async () => {
    dd.setSeries(/bench\.errors\{monitor:7001\}/, { value: 0.5 });
    const to = Date.now();
    const ok = await post(argoBody('avg:bench.errors{monitor:7001}', to - 300_000, to));
    expect(ok.status).to.equal(200);
    const body = (await ok.json()) as { data: { attributes: { columns: Array<{ values: Array<number | null> }> } } };
    expect(body.data.attributes.columns[0]?.values).to.deep.equal([0.5]);

    const none = await post(argoBody('avg:bench.errors{monitor:9999}', to - 300_000, to));
    const empty = (await none.json()) as { data: { attributes: { columns: Array<{ values: Array<number | null> }> } } };
    expect(empty.data.attributes.columns[0]?.values).to.deep.equal([null]);
  });

  it('refuses wrong keys, malformed requests, formulas and aggregators it does not compute', async () => {
    dd.setSeries(/.*/, { value: 1 });
    const to = Date.now();
    expect((await post(argoBody('avg:x{*}', to - 60_000, to), { app: 'wrong' })).status).to.equal(403);
    expect((await post('{"data": {"type": "timeseries_request"}}')).status).to.equal(400);
    expect((await post('not json')).status).to.equal(400);
    expect((await post(argoBody('avg:x{*}', to, to - 60_000))).status).to.equal(400);
    expect((await post(argoBody('avg:x{*}', to - 60_000, to, 'percentile'))).status).to.equal(400);
    const withFormula = JSON.parse(argoBody('avg:x{*}', to - 60_000, to)) as { data: { attributes: { formulas: unknown[] } } };
    withFormula.data.attributes.formulas = [{ formula: 'query * 2' }];
    const refused = await post(JSON.stringify(withFormula));
    expect(refused.status).to.equal(400);
    expect(((await refused.json()) as { errors: string[] }).errors[0]).to.match(/formulas/);
  });
});
