import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { parse } from 'yaml';
import { checkSecretsFor, secretNamesOf } from '../../src/analysis/check-secrets.js';
import { isDatadogCheck } from '../../src/analysis/datadog-check.js';
import { stepParam } from '../../src/analysis/prometheus/client.js';
import { judgePrometheusCompare } from '../../src/analysis/prometheus/compare-judge.js';
import type { Observation, PrometheusSample, ResolvedPrometheusCompareCheck } from '../../src/analysis/provider.js';
import { checkProvider } from '../../src/analysis/providers.js';
import { needsDatadog, resolveChecks } from '../../src/analysis/template.js';
import type { CanarySpec, CompareCheck } from '../../src/api/types.js';
import { validateCanary } from '../../src/api/validate.js';

const vars = { version: '1.1.0', stableVersion: '1.0.0', revision: 'abc', name: 'web', namespace: 'shop', target: 'web' };
const spec = (compare: Partial<CompareCheck>, interval = '30s'): CanarySpec => ({
  targetRef: { name: 'web' },
  steps: [],
  analysis: { interval, baseline: true, checks: [{ name: 'latency', compare: { query: 'avg(lat{app="{{ target }}",role="{{ role }}"})', ...compare } }] },
});
const PROM = { address: 'http://prometheus.monitoring:9090/' };

describe('resolveChecks(): compare on Prometheus', () => {
  it('renders the PromQL once per role; step defaults to the interval but at least 30s', () => {
    const r = resolveChecks(spec({ prometheus: PROM }), vars);
    expect(r).to.deep.equal({
      ok: true,
      checks: [
        {
          kind: 'prometheusCompare',
          name: 'latency',
          address: 'http://prometheus.monitoring:9090',
          queries: { canary: 'avg(lat{app="web",role="canary"})', baseline: 'avg(lat{app="web",role="baseline"})' },
          stepMs: 30_000,
          higherIsWorse: true,
          minPoints: 10,
          significance: 0.05,
          tolerance: 0.1,
          windowMs: 300_000,
          intervalMs: 30_000,
        },
      ],
    });
  });

  const cases: Array<{ name: string; compare: Partial<CompareCheck>; interval?: string; want: Partial<ResolvedPrometheusCompareCheck> | RegExp }> = [
    { name: 'an interval of 10s still steps 30s', compare: { prometheus: PROM }, interval: '10s', want: { stepMs: 30_000, windowMs: 300_000 } },
    { name: 'an interval of 2m steps 2m over 20m', compare: { prometheus: PROM }, interval: '2m', want: { stepMs: 120_000, windowMs: 1_200_000 } },
    { name: 'an explicit step and window', compare: { prometheus: PROM, step: '1s', window: '20s' }, interval: '1s', want: { stepMs: 1000, windowMs: 20_000 } },
    {
      name: 'auth and TLS as in prometheusQuery',
      compare: { prometheus: { ...PROM, auth: { secretRef: { name: 'prom' } }, tls: { insecureSkipVerify: true, caSecretRef: { name: 'ca' } } } },
      want: { authSecret: 'prom', tls: { insecureSkipVerify: true, ca: { name: 'ca', key: 'ca.crt' } } },
    },
    { name: 'a templated address', compare: { prometheus: { address: 'http://prometheus.{{ namespace }}:9090' } }, want: { address: 'http://prometheus.shop:9090' } },
    { name: 'a step without prometheus', compare: { step: '30s' }, want: /compare.step applies to Prometheus only/ },
    { name: 'a step shorter than 1s', compare: { prometheus: PROM, step: '500ms' }, want: /compare.step "500ms" is not a duration of at least 1s/ },
    { name: 'a step longer than the window', compare: { prometheus: PROM, step: '10m', window: '5m' }, want: /compare.step \(600s\) is longer than the window \(300s\)/ },
    { name: 'too many points for Prometheus', compare: { prometheus: PROM, step: '1s', window: '24h' }, want: /more than 11000 points, Prometheus' limit/ },
    { name: 'no address', compare: { prometheus: { address: '' } }, want: /compare.prometheus.address is required/ },
    { name: 'a link-local address', compare: { prometheus: { address: 'http://169.254.169.254' } }, want: /compare.prometheus.address/ },
    { name: 'no {{ role }}: the example is PromQL', compare: { prometheus: PROM, query: 'avg(lat{app="web"})' }, want: /compare.query needs \{\{ role \}\} in its scope \(e.g. avg\(http_latency_seconds\{app="web",role="\{\{ role \}\}"\}\)\)/ },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = resolveChecks(spec(c.compare, c.interval), vars);
      if (c.want instanceof RegExp) {
        expect(r.ok).to.equal(false);
        if (!r.ok) expect(r.error).to.match(c.want);
      } else {
        expect(r.ok, JSON.stringify(r)).to.equal(true);
        if (r.ok) expect(r.checks[0]).to.deep.include(c.want);
      }
    });
  }

  it('goes through the check provider path, not Datadog; a compare without prometheus stays a Datadog check', () => {
    const prom = resolveChecks(spec({ prometheus: PROM }), vars);
    const dd = resolveChecks(spec({ query: 'avg:lat{role:{{ role }}}' }), vars);
    expect(prom.ok && dd.ok).to.equal(true);
    if (!prom.ok || !dd.ok) return;
    const [p, d] = [prom.checks[0]!, dd.checks[0]!];
    expect(isDatadogCheck(p)).to.equal(false);
    expect(checkProvider(p).kind).to.equal('provider');
    expect(isDatadogCheck(d)).to.equal(true);
    expect(checkProvider(d).kind).to.equal('datadog');
    expect(needsDatadog({ name: 'x', compare: { query: 'q{{ role }}', prometheus: PROM } })).to.equal(false);
    expect(needsDatadog({ name: 'x', compare: { query: 'q{{ role }}' } })).to.equal(true);
  });

  it('reads its auth and CA Secrets as prometheusQuery does', () => {
    const r = resolveChecks(spec({ prometheus: { ...PROM, auth: { secretRef: { name: 'prom' } }, tls: { caSecretRef: { name: 'ca', key: 'bundle' } } } }), vars);
    if (!r.ok) throw new Error(r.error);
    const check = r.checks[0]!;
    expect(secretNamesOf(check)).to.deep.equal(['prom', 'ca']);
    const b64 = (s: string): string => Buffer.from(s).toString('base64');
    const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
    const data: Record<string, Record<string, string>> = { prom: { token: b64('t0k') }, ca: { bundle: b64(PEM) } };
    expect(checkSecretsFor(check, 'shop', (n) => (data[n] ? { ok: true, data: data[n] } : { ok: false, message: 'not found' }))).to.deep.equal({ ok: true, secrets: { authorization: 'Bearer t0k', ca: PEM } });
    expect(checkSecretsFor(check, 'shop', () => ({ ok: false, message: 'not found' }))).to.deep.equal({ ok: false, message: 'Secret shop/prom not found' });
  });
});

describe('judgePrometheusCompare(): literal samples', () => {
  const check: ResolvedPrometheusCompareCheck = {
    kind: 'prometheusCompare',
    name: 'latency',
    address: 'http://p:9090',
    queries: { canary: 'avg(lat{role="canary"})', baseline: 'avg(lat{role="baseline"})' },
    stepMs: 10_000,
    higherIsWorse: true,
    minPoints: 10,
    significance: 0.05,
    tolerance: 0.1,
    windowMs: 120_000,
    intervalMs: 10_000,
  };
  const T = Date.parse('2026-12-05T10:00:00Z');
  const at = (i: number): number => T - 120_000 + i * 10_000;
  const series = (values: number[], metric: Record<string, string> = {}): PrometheusSample[] => values.map((value, i) => ({ metric, value, at: at(i) }));
  const matrix = (samples: PrometheusSample[]) => ({ resultType: 'matrix', samples });
  const pair = (canary: PrometheusSample[], baseline: PrometheusSample[]): Observation => ({
    kind: 'samplesPair',
    takenAt: T,
    fromMs: T - 120_000,
    toMs: T,
    stepMs: 10_000,
    canary: matrix(canary),
    baseline: matrix(baseline),
    url: 'http://p:9090/graph?g0.expr=x',
  });
  // Fixed samples, 12 points each: the canary's are all above the baseline's.
  const BASE = [100, 102, 98, 101, 99, 103, 97, 100, 102, 98, 101, 99];
  const SLOW = [121, 124, 119, 122, 125, 120, 123, 118, 126, 121, 122, 124];
  const SAME = [101, 99, 100, 102, 98, 103, 97, 100, 99, 101, 102, 98];

  it('a canary 22% slower fails, with both medians, the effect, U and p in the message', () => {
    const m = judgePrometheusCompare(check, pair(series(SLOW), series(BASE)));
    expect(m).to.deep.include({
      verdict: 'Fail',
      value: 'canary median 122 vs baseline median 100 (+22%)',
      threshold: 'worse (higher) by more than 10% at p < 0.05, with at least 10 points each',
      time: '2026-12-05T10:00:00.000Z',
      url: 'http://p:9090/graph?g0.expr=x',
    });
    expect(m.message).to.match(/^the canary is significantly worse \(higher\) than the baseline, beyond the tolerance: canary median 122 \(12 points\), baseline median 100 \(12 points\), effect \+22% \(higher is worse\), Mann-Whitney U 144, one-sided p /);
    expect(m.message).to.match(/; queries "avg\(lat\{role="canary"\}\)" and "avg\(lat\{role="baseline"\}\)" from 2026-12-05T09:58:00.000Z to 2026-12-05T10:00:00.000Z every 10s$/);
  });

  it('equal samples pass', () => {
    const m = judgePrometheusCompare(check, pair(series(SAME), series(BASE)));
    expect(m.verdict).to.equal('Pass');
    expect(m.message).to.match(/^no significant difference in the bad direction/);
  });

  it('a faster canary passes when higher is worse, and fails when lower is worse', () => {
    expect(judgePrometheusCompare(check, pair(series(BASE), series(SLOW))).verdict).to.equal('Pass');
    expect(judgePrometheusCompare({ ...check, higherIsWorse: false }, pair(series(BASE), series(SLOW))).verdict).to.equal('Fail');
  });

  it('NaN points (no traffic) are no points: too few is Inconclusive', () => {
    const gappy = [...SLOW.slice(0, 8), NaN, NaN, NaN, NaN];
    const m = judgePrometheusCompare(check, pair(series(gappy), series(BASE)));
    expect(m).to.deep.include({ verdict: 'Inconclusive', value: '8 canary and 12 baseline points' });
    expect(m.message).to.match(/^not enough points to compare: canary 8, baseline 12, at least 10 each are needed/);
  });

  it('an empty result (the baseline pods not scraped yet) is Inconclusive', () => {
    expect(judgePrometheusCompare(check, pair(series(SLOW), [])).verdict).to.equal('Inconclusive');
  });

  it('several series for one role are an Error that shows them', () => {
    const twoPods = [...series(BASE, { pod: 'web-b-1', role: 'baseline' }), ...series(BASE, { pod: 'web-b-2', role: 'baseline' })];
    const m = judgePrometheusCompare(check, pair(series(SLOW), twoPods));
    expect(m.verdict).to.equal('Error');
    expect(m.message).to.equal(
      `the baseline's query "avg(lat{role=\"baseline\"})" returned 2 series; a compare check needs one per role (aggregate with avg(), sum(), histogram_quantile(), … or filter by label): {pod="web-b-1",role="baseline"}, {pod="web-b-2",role="baseline"}`,
    );
  });

  it('a result that is not a matrix is an Error', () => {
    const obs = pair(series(SLOW), series(BASE));
    if (obs.kind !== 'samplesPair') throw new Error('unreachable');
    const m = judgePrometheusCompare(check, { ...obs, canary: { resultType: 'scalar', samples: [] } });
    expect(m).to.deep.include({ verdict: 'Error', message: `the canary's query "avg(lat{role=\"canary\"})" returned a scalar; a range query returns a matrix` });
  });

  it('an error observation is an Error measurement with its message', () => {
    const m = judgePrometheusCompare(check, { kind: 'error', takenAt: T, message: 'cannot reach Prometheus at p:9090: ECONNREFUSED', url: 'http://p:9090/graph' });
    expect(m).to.deep.equal({ verdict: 'Error', time: '2026-12-05T10:00:00.000Z', message: 'cannot reach Prometheus at p:9090: ECONNREFUSED', url: 'http://p:9090/graph' });
  });
});

describe('stepParam(): the step of a range query', () => {
  for (const [ms, want] of [[30_000, '30s'], [1000, '1s'], [1500, '1500ms'], [120_000, '120s'], [0, '1ms']] as const) {
    it(`${ms} ms is ${want}`, () => expect(stepParam(ms)).to.equal(want));
  }
});

describe('examples/canary-compare-prometheus.yaml', () => {
  it('is a valid Canary without spec.datadog whose checks resolve to Prometheus compare checks', () => {
    const doc = parse(readFileSync(new URL('../../examples/canary-compare-prometheus.yaml', import.meta.url), 'utf8')) as { spec: CanarySpec };
    expect(validateCanary(doc)).to.deep.equal([]);
    expect(doc.spec.datadog).to.equal(undefined);
    const r = resolveChecks(doc.spec, vars);
    if (!r.ok) throw new Error(r.error);
    expect(r.checks.map((c) => [c.kind, isDatadogCheck(c)])).to.deep.equal([
      ['prometheusCompare', false],
      ['prometheusCompare', false],
    ]);
  });
});
