// Prometheus compare checks through the MeasurementRunner against a local node:http server on
// 127.0.0.1 that imitates /api/v1/query_range: the form sent, both roles judged, one series per
// role, errors of either query, timeouts, refused connections, auth, sharing.
import { expect } from 'chai';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { CheckSecrets, MeasurementRequest, ResolvedPrometheusCompareCheck } from '../../src/analysis/provider.js';
import { TestRunner, closedPort } from '../datadog/harness.js';

interface Seen {
  url: string;
  method: string;
  headers: IncomingMessage['headers'];
  form: URLSearchParams;
}

/** Values of a role's series at a time (seconds), or what to answer for a query. */
type Answer = { status: number; body: unknown } | { series: Array<{ metric: Record<string, string>; value: (t: number) => number }> };

/** A stand-in for Prometheus' range query API: the test decides the answer for each query. */
class RangeApi {
  readonly seen: Seen[] = [];
  answer: (query: string) => Answer | undefined = () => undefined;
  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(): Promise<RangeApi> {
    let self: RangeApi | undefined;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => self?.handle(req, Buffer.concat(chunks).toString('utf8'), res));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const a = server.address();
    self = new RangeApi(server, `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`);
    return self;
  }

  private handle(req: IncomingMessage, body: string, res: ServerResponse): void {
    const form = new URLSearchParams(body);
    this.seen.push({ url: req.url ?? '', method: req.method ?? '', headers: req.headers, form });
    const send = (status: number, json: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(typeof json === 'string' ? json : JSON.stringify(json));
    };
    if (req.url !== '/api/v1/query_range') return send(404, { status: 'error', errorType: 'not_found', error: `no ${req.url}` });
    const a = this.answer(form.get('query') ?? '');
    if (a === undefined) return; // never answers
    if ('status' in a) return send(a.status, a.body);
    const start = Number(form.get('start'));
    const end = Number(form.get('end'));
    const step = Number(/^(\d+)s$/.exec(form.get('step') ?? '')?.[1]);
    const result = a.series.map((s) => {
      const values: Array<[number, string]> = [];
      for (let t = start; t <= end; t += step) values.push([t, String(s.value(t))]);
      return { metric: s.metric, values };
    });
    send(200, { status: 'success', data: { resultType: 'matrix', result } });
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

const check = (address: string, over: Partial<ResolvedPrometheusCompareCheck> = {}): ResolvedPrometheusCompareCheck => ({
  kind: 'prometheusCompare',
  name: 'latency',
  address,
  queries: { canary: 'avg(app_latency{role="canary"})', baseline: 'avg(app_latency{role="baseline"})' },
  stepMs: 10_000,
  higherIsWorse: true,
  minPoints: 10,
  significance: 0.05,
  tolerance: 0.05,
  windowMs: 300_000,
  intervalMs: 10_000,
  ...over,
});
const req = (canaryKey: string, c: ResolvedPrometheusCompareCheck, secrets?: CheckSecrets): MeasurementRequest => ({ canaryKey, check: c, notBefore: Date.now(), ...(secrets ? { secrets } : {}) });
/** Deterministic noise in [−5, 5) for a time. */
const noise = (t: number): number => ((Math.sin(t * 12.9898) * 43758.5453) % 1) * 5;
const roleOf = (q: string): string | undefined => /role="(canary|baseline)"/.exec(q)?.[1];
/** Latency around 100 for the baseline, `shift` more for the canary. */
const latency = (shift: number) => (q: string): Answer => ({
  series: [{ metric: {}, value: (t: number) => (roleOf(q) === 'canary' ? 100 + shift + noise(t) : 100 + noise(t + 10)) }],
});

describe('Prometheus compare checks (runner, local /api/v1/query_range)', function () {
  let api: RangeApi;
  let t: TestRunner;
  beforeEach(async () => {
    api = await RangeApi.start();
    t = new TestRunner({ timeoutMs: 300 });
  });
  afterEach(async () => {
    t.close();
    await api.close();
  });

  it('asks both roles over the same window and step, as forms, and fails a canary 20% slower', async () => {
    api.answer = latency(20);
    const before = Date.now();
    const m = await t.measure(req('ns/a', check(api.url)));
    expect(m.verdict, m.message).to.equal('Fail');
    expect(m.value).to.match(/^canary median 1[12]\d(\.\d+)? vs baseline median (9\d|10\d)(\.\d+)? \(\+\d+(\.\d+)?%\)$/);
    expect(m.message).to.match(/\(31 points\), baseline median .* \(31 points\)/);
    expect(m.message).to.match(/queries "avg\(app_latency\{role="canary"\}\)" and "avg\(app_latency\{role="baseline"\}\)" from .* every 10s$/);
    expect(api.seen.map((s) => [s.method, s.url, s.form.get('query')]).sort()).to.deep.equal([
      ['POST', '/api/v1/query_range', 'avg(app_latency{role="baseline"})'],
      ['POST', '/api/v1/query_range', 'avg(app_latency{role="canary"})'],
    ]);
    const [a, b] = api.seen;
    expect(a?.form.get('start')).to.equal(b?.form.get('start'));
    expect(a?.form.get('end')).to.equal(b?.form.get('end'));
    expect(a?.form.get('step')).to.equal('10s');
    const end = Number(a?.form.get('end')) * 1000;
    expect(end).to.be.within(before - 1, Date.now() + 1);
    expect(end - Number(a?.form.get('start')) * 1000).to.equal(300_000);
    const q = (s: string): string => encodeURIComponent(s);
    expect(m.url).to.equal(`${api.url}/graph?g0.expr=${q('avg(app_latency{role="canary"})')}&g0.tab=0&g0.range_input=300s&g1.expr=${q('avg(app_latency{role="baseline"})')}&g1.tab=0&g1.range_input=300s`);
  });

  it('passes a canary as noisy as its baseline', async () => {
    api.answer = latency(0);
    const m = await t.measure(req('ns/a', check(api.url)));
    expect(m.verdict, m.message).to.equal('Pass');
    expect(m.message).to.match(/^no significant difference in the bad direction/);
  });

  it('a role without a series yet (baseline pods not scraped) is Inconclusive', async () => {
    api.answer = (q) => (roleOf(q) === 'baseline' ? { series: [] } : latency(0)(q));
    const m = await t.measure(req('ns/a', check(api.url)));
    expect(m).to.deep.include({ verdict: 'Inconclusive', value: '31 canary and 0 baseline points' });
  });

  it('one series per pod is an Error that shows them', async () => {
    api.answer = (q) => ({ series: [{ metric: { pod: 'web-1', role: roleOf(q) ?? '' }, value: () => 1 }, { metric: { pod: 'web-2', role: roleOf(q) ?? '' }, value: () => 2 }] });
    const m = await t.measure(req('ns/a', check(api.url, { queries: { canary: 'app_latency{role="canary"}', baseline: 'app_latency{role="baseline"}' } })));
    expect(m.verdict).to.equal('Error');
    expect(m.message).to.equal(`the canary's query "app_latency{role=\"canary\"}" returned 2 series; a compare check needs one per role (aggregate with avg(), sum(), histogram_quantile(), … or filter by label): {pod="web-1",role="canary"}, {pod="web-2",role="canary"}`);
  });

  it("an error of the baseline's query alone is an Error naming the baseline", async () => {
    api.answer = (q) => (roleOf(q) === 'baseline' ? { status: 400, body: { status: 'error', errorType: 'bad_data', error: 'parse error: unexpected "}"' } } : latency(0)(q));
    const m = await t.measure(req('ns/a', check(api.url)));
    expect(m.verdict).to.equal('Error');
    expect(m.message).to.equal(`the baseline's query: Prometheus at ${new URL(api.url).host} answered 400: bad_data: parse error: unexpected "}"`);
  });

  it('no answer within the timeout is an Error (once, not per role)', async () => {
    api.answer = () => undefined;
    const m = await t.measure(req('ns/a', check(api.url)));
    expect(m).to.deep.include({ verdict: 'Error', message: `no answer from Prometheus at ${new URL(api.url).host} within 300ms` });
  });

  it('a refused connection is an Error', async () => {
    const port = await closedPort();
    const m = await t.measure(req('ns/a', check(`http://127.0.0.1:${port}`)));
    expect(m).to.deep.include({ verdict: 'Error', message: `cannot reach Prometheus at 127.0.0.1:${port}: ECONNREFUSED` });
  });

  it('sends the Authorization header with both queries and never shows it', async () => {
    api.answer = (q) => ({ status: 401, body: { status: 'error', errorType: 'unauthorized', error: `bad credentials for ${roleOf(q) ?? ''}: Bearer tok-0123456789` } });
    const m = await t.measure(req('ns/a', check(api.url), { authorization: 'Bearer tok-0123456789' }));
    expect(api.seen.map((s) => s.headers.authorization)).to.deep.equal(['Bearer tok-0123456789', 'Bearer tok-0123456789']);
    expect(m.verdict).to.equal('Error');
    expect(m.message).to.not.contain('tok-0123456789');
  });

  it('two canaries with the same queries share the call; another step makes its own', async () => {
    api.answer = latency(0);
    const a = req('ns/a', check(api.url));
    const b = req('ns/b', check(api.url, { name: 'other' }));
    const ready = Promise.all([t.ready('ns/a'), t.ready('ns/b')]);
    t.runner.request(a);
    t.runner.request(b);
    await ready;
    expect(t.runner.peek(a)?.verdict).to.equal('Pass');
    expect(t.runner.peek(b)?.verdict).to.equal('Pass');
    expect(api.seen).to.have.length(2);
    await t.measure(req('ns/c', check(api.url, { stepMs: 15_000 })));
    expect(api.seen).to.have.length(4);
    expect(api.seen[3]?.form.get('step')).to.equal('15s');
  });
});
