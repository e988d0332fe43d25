// Prometheus and webhook judgements, the resolution of their specs and the reading of their Secrets: pure, table-driven.
import { expect } from 'chai';
import type { Measurement } from '../../src/api/types.js';
import type { Observation, PrometheusSample, ResolvedPrometheusCheck, ResolvedWebhookCheck } from '../../src/analysis/provider.js';
import { judgePrometheus } from '../../src/analysis/prometheus/judge.js';
import { judgeWebhook } from '../../src/analysis/webhook/judge.js';
import { resolveChecks } from '../../src/analysis/template.js';
import { checkSecretsFor, type SecretData } from '../../src/analysis/check-secrets.js';
import { checkProvider } from '../../src/analysis/providers.js';

const T = Date.parse('2025-03-01T12:00:00Z');
const TIME = '2025-03-01T12:00:00.000Z';
const URL_ = 'http://prometheus:9090/graph?g0.expr=x&g0.tab=1';

const promCheck = (over: Partial<ResolvedPrometheusCheck> = {}): ResolvedPrometheusCheck => ({
  kind: 'prometheusQuery',
  name: 'errors',
  address: 'http://prometheus:9090',
  query: 'sum(rate(errors[1m]))',
  max: 0.5,
  noData: 'Inconclusive',
  intervalMs: 60_000,
  ...over,
});
const sample = (value: number, metric: Record<string, string> = {}): PrometheusSample => ({ metric, value, at: T - 1000 });
const samples = (s: PrometheusSample[], resultType = 'vector'): Observation => ({ kind: 'samples', takenAt: T, resultType, samples: s, url: URL_ });

describe('judgePrometheus', () => {
  const cases: Array<{ name: string; check?: Partial<ResolvedPrometheusCheck>; obs: Observation; want: Partial<Measurement>; message?: RegExp }> = [
    { name: 'one sample within max passes', obs: samples([sample(0.2)]), want: { verdict: 'Pass', value: '0.2', threshold: '<= 0.5', time: TIME, url: URL_ } },
    { name: 'max is inclusive', obs: samples([sample(0.5)]), want: { verdict: 'Pass', value: '0.5' } },
    { name: 'above max fails', obs: samples([sample(0.51)]), want: { verdict: 'Fail', value: '0.51' }, message: /was 0\.51 at .*, above max 0\.5$/ },
    { name: 'below min fails', check: { min: 10, max: undefined }, obs: samples([sample(9)]), want: { verdict: 'Fail', threshold: '>= 10' }, message: /below min 10/ },
    { name: '+Inf above max fails', obs: samples([sample(Infinity)]), want: { verdict: 'Fail', value: 'Infinity' } },
    { name: 'a scalar is one sample', obs: samples([sample(0.1)], 'scalar'), want: { verdict: 'Pass', value: '0.1' } },
    { name: 'an empty vector is noData (default Inconclusive)', obs: samples([]), want: { verdict: 'Inconclusive', value: 'no data' }, message: /returned no sample/ },
    { name: 'an empty vector with noData Fail fails', check: { noData: 'Fail' }, obs: samples([]), want: { verdict: 'Fail', value: 'no data' } },
    { name: 'NaN is noData', check: { noData: 'Pass' }, obs: samples([sample(NaN)]), want: { verdict: 'Pass', value: 'NaN' }, message: /was NaN/ },
    {
      name: 'several series are an Error that shows them',
      obs: samples([sample(1, { version: '1.0.0' }), sample(2, { version: '2.0.0' })]),
      want: { verdict: 'Error', url: URL_ },
      message: /returned 2 series; a check needs exactly one .*: \{version="1\.0\.0"\} 1, \{version="2\.0\.0"\} 2$/,
    },
    { name: 'a range vector is an Error', obs: samples([sample(1)], 'matrix'), want: { verdict: 'Error' }, message: /returned a matrix/ },
    { name: 'an error observation is an Error', obs: { kind: 'error', takenAt: T, message: 'cannot reach Prometheus at p:9090: ECONNREFUSED', url: URL_ }, want: { verdict: 'Error', message: 'cannot reach Prometheus at p:9090: ECONNREFUSED', time: TIME } },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const m = judgePrometheus(promCheck(c.check), c.obs);
      expect(m).to.deep.include(c.want);
      if (c.message) expect(m.message).to.match(c.message);
    });
  }

  it('truncates a long result to 200 characters', () => {
    const many = Array.from({ length: 50 }, (_, i) => sample(i, { pod: `web-${'x'.repeat(20)}-${i}` }));
    const m = judgePrometheus(promCheck(), samples(many));
    expect(m.verdict).to.equal('Error');
    const shown = (m.message ?? '').split(': ').slice(1).join(': ');
    expect(shown.length).to.be.at.most(200);
    expect(shown.endsWith('…')).to.equal(true);
  });
});

const hookCheck = (over: Partial<ResolvedWebhookCheck> = {}): ResolvedWebhookCheck => ({
  kind: 'webhook',
  name: 'smoke',
  url: 'http://tests:8080/run',
  method: 'POST',
  timeoutMs: 10_000,
  intervalMs: 60_000,
  ...over,
});
const http = (status: number, body = ''): Observation => ({ kind: 'http', takenAt: T, status, body, durationMs: 12.4, url: 'http://tests:8080/run' });

describe('judgeWebhook', () => {
  const cases: Array<{ name: string; obs: Observation; want: Partial<Measurement> }> = [
    { name: '200 passes', obs: http(200, 'all 12 tests passed'), want: { verdict: 'Pass', value: '200', threshold: '2xx', message: 'POST answered 200 in 12 ms: all 12 tests passed', time: TIME } },
    { name: '204 passes', obs: http(204), want: { verdict: 'Pass', value: '204', message: 'POST answered 204 in 12 ms (empty body)' } },
    { name: '299 passes', obs: http(299), want: { verdict: 'Pass' } },
    { name: '301 fails (redirects are not followed)', obs: http(301), want: { verdict: 'Fail', value: '301' } },
    { name: '404 fails', obs: http(404, 'no such test'), want: { verdict: 'Fail', value: '404' } },
    { name: '500 fails', obs: http(500, 'checkout test failed: 502 from payment'), want: { verdict: 'Fail', message: 'POST answered 500 in 12 ms: checkout test failed: 502 from payment' } },
    { name: 'no answer is an Error', obs: { kind: 'error', takenAt: T, message: 'POST http://tests:8080/run: no answer within 10s', url: 'http://tests:8080/run' }, want: { verdict: 'Error', message: 'POST http://tests:8080/run: no answer within 10s' } },
  ];
  for (const c of cases) it(c.name, () => expect(judgeWebhook(hookCheck(), c.obs)).to.deep.include(c.want));

  it('keeps at most 200 characters of the body, without control characters', () => {
    const m = judgeWebhook(hookCheck(), http(500, `\u001b[31m${'e'.repeat(500)}`));
    const body = (m.message ?? '').split(': ').slice(1).join(': ');
    expect(body.length).to.equal(200);
    expect(body).to.not.include('\u001b');
  });
});

describe('resolveChecks: Prometheus and webhook checks', () => {
  const vars = { version: '2.0.0', stableVersion: '1.0.0', revision: 'abc', name: 'web', namespace: 'shop', target: 'web' };
  const resolve = (check: Record<string, unknown>) => resolveChecks({ targetRef: { name: 'web' }, steps: [], analysis: { interval: '30s', checks: [{ name: 'c', ...check }] } }, vars);

  const cases: Array<{ name: string; check: Record<string, unknown>; want: Record<string, unknown> | RegExp }> = [
    {
      name: 'a Prometheus check with templates, auth and a CA',
      check: { prometheusQuery: { address: 'http://prometheus.{{ namespace }}:9090/', query: 'sum(x{version="{{ version }}"})', max: 1, auth: { secretRef: { name: 'prom' } }, tls: { caSecretRef: { name: 'ca' } } } },
      want: { kind: 'prometheusQuery', address: 'http://prometheus.shop:9090', query: 'sum(x{version="2.0.0"})', max: 1, noData: 'Inconclusive', authSecret: 'prom', tls: { insecureSkipVerify: false, ca: { name: 'ca', key: 'ca.crt' } }, intervalMs: 30_000 },
    },
    { name: 'a Prometheus check at a link-local address', check: { prometheusQuery: { address: 'http://169.254.169.254', query: 'x', max: 1 } }, want: /prometheusQuery.address must not point at a link-local address/ },
    { name: 'a Prometheus check without bounds', check: { prometheusQuery: { address: 'http://p', query: 'x' } }, want: /prometheusQuery needs min, max or both/ },
    { name: 'a webhook without a body is a GET with a 10s timeout', check: { webhook: { url: 'http://tests/run?v={{ version }}' } }, want: { kind: 'webhook', method: 'GET', url: 'http://tests/run?v=2.0.0', timeoutMs: 10_000 } },
    { name: 'a webhook with a body is a POST', check: { webhook: { url: 'http://tests/run', body: '{"version":"{{ version }}"}', timeout: '3s', headersFrom: { secretRef: { name: 'h' } } } }, want: { method: 'POST', body: '{"version":"2.0.0"}', timeoutMs: 3000, headersSecret: 'h' } },
    { name: 'a webhook GET with a body', check: { webhook: { url: 'http://tests/run', method: 'GET', body: '{}' } }, want: /webhook.body cannot be sent with GET/ },
    { name: 'a check with two kinds', check: { webhook: { url: 'http://tests/run' }, prometheusQuery: { address: 'http://p', query: 'x', max: 1 } }, want: /^check "c": set exactly one of datadogMonitor, datadogQuery, compare, prometheusQuery or webhook$/ },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = resolve(c.check);
      if (c.want instanceof RegExp) {
        expect(r.ok).to.equal(false);
        if (!r.ok) expect(r.error).to.match(c.want);
      } else {
        expect(r.ok, JSON.stringify(r)).to.equal(true);
        if (r.ok) expect(r.checks[0]).to.deep.include(c.want);
      }
    });
  }

  it('every kind has a provider', () => {
    const r = resolveChecks(
      {
        targetRef: { name: 'web' },
        steps: [],
        analysis: {
          checks: [
            { name: 'a', datadogMonitor: { id: 1 } },
            { name: 'b', datadogQuery: { query: 'q', max: 1 } },
            { name: 'c', prometheusQuery: { address: 'http://p', query: 'x', max: 1 } },
            { name: 'd', webhook: { url: 'http://t' } },
          ],
        },
      },
      vars,
    );
    expect(r.ok).to.equal(true);
    if (r.ok) expect(r.checks.map((c) => checkProvider(c).kind)).to.deep.equal(['datadog', 'datadog', 'provider', 'provider']);
  });
});

describe('checkSecretsFor', () => {
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  const store = (secrets: Record<string, Record<string, string>>) => (name: string): SecretData => (secrets[name] ? { ok: true, data: secrets[name] } : { ok: false, message: 'not found' });
  const prom = (over: Partial<ResolvedPrometheusCheck>) => promCheck(over);
  const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

  const cases: Array<{ name: string; check: ResolvedPrometheusCheck | ResolvedWebhookCheck; secrets: Record<string, Record<string, string>>; want: unknown }> = [
    { name: 'basic auth', check: prom({ authSecret: 'p' }), secrets: { p: { username: b64('deployer'), password: b64('s3cret\n') } }, want: { ok: true, secrets: { authorization: `Basic ${b64('deployer:s3cret')}` } } },
    { name: 'a bearer token', check: prom({ authSecret: 'p' }), secrets: { p: { token: b64('tok-123') } }, want: { ok: true, secrets: { authorization: 'Bearer tok-123' } } },
    { name: 'both kinds of auth', check: prom({ authSecret: 'p' }), secrets: { p: { token: b64('t'), username: b64('u'), password: b64('p') } }, want: { ok: false, message: 'Secret shop/p needs keys username and password (basic auth) or token (bearer), not both' } },
    { name: 'a username without password', check: prom({ authSecret: 'p' }), secrets: { p: { username: b64('u') } }, want: { ok: false, message: 'Secret shop/p needs keys username and password (basic auth) or token (bearer), not both' } },
    { name: 'a missing Secret', check: prom({ authSecret: 'p' }), secrets: {}, want: { ok: false, message: 'Secret shop/p not found' } },
    { name: 'a CA bundle', check: prom({ tls: { insecureSkipVerify: false, ca: { name: 'ca', key: 'ca.crt' } } }), secrets: { ca: { 'ca.crt': b64(PEM) } }, want: { ok: true, secrets: { ca: PEM } } },
    { name: 'a CA Secret without the key', check: prom({ tls: { insecureSkipVerify: false, ca: { name: 'ca', key: 'ca.crt' } } }), secrets: { ca: { 'tls.crt': b64(PEM) } }, want: { ok: false, message: 'Secret shop/ca key ca.crt is missing (default key ca.crt)' } },
    { name: 'webhook headers', check: hookCheck({ headersSecret: 'h' }), secrets: { h: { Authorization: b64('Bearer abc\n'), 'X-Team': b64('shop') } }, want: { ok: true, secrets: { headers: { Authorization: 'Bearer abc', 'X-Team': 'shop' } } } },
    { name: 'a header that is not a token', check: hookCheck({ headersSecret: 'h' }), secrets: { h: { 'bad header': b64('x') } }, want: { ok: false, message: 'Secret shop/h key bad header is not a header name a check may set' } },
    { name: 'a Host header', check: hookCheck({ headersSecret: 'h' }), secrets: { h: { Host: b64('x') } }, want: { ok: false, message: 'Secret shop/h key Host is not a header name a check may set' } },
    { name: 'a header value with a line break', check: hookCheck({ headersSecret: 'h' }), secrets: { h: { 'X-A': b64('a\r\nX-B: b') } }, want: { ok: false, message: 'Secret shop/h key X-A holds a line break; a header value is one line' } },
    { name: 'no Secret at all', check: hookCheck(), secrets: {}, want: { ok: true } },
  ];
  for (const c of cases) it(c.name, () => expect(checkSecretsFor(c.check, 'shop', store(c.secrets))).to.deep.equal(c.want));
});
