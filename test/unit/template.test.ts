import { expect } from 'chai';
import type { CanarySpec } from '../../src/api/types.js';
import { DEFAULT_MONITOR_VERDICTS, renderTemplate, resolveChecks } from '../../src/analysis/template.js';

const vars = { version: '1.4.2', service: 'checkout', namespace: 'shop' };

describe('renderTemplate', () => {
  const cases: Array<[string, { ok: boolean; text?: string; error?: string }]> = [
    ['version:{{ version }}', { ok: true, text: 'version:1.4.2' }],
    ['version:{{version}}', { ok: true, text: 'version:1.4.2' }],
    ['{{  service }}-{{ version  }}', { ok: true, text: 'checkout-1.4.2' }],
    ['no variables', { ok: true, text: 'no variables' }],
    ['avg:errors{service:{{ service }}}', { ok: true, text: 'avg:errors{service:checkout}' }],
    ['version:{{ version', { ok: false, error: '"{{" without a matching "}}" in "version:{{ version"; write variables as {{ version }}' }],
    ['{{ foo }}', { ok: false, error: 'unknown variable "foo" in "{{ foo }}"; known: namespace, service, version' }],
    ['{{ }}', { ok: false }],
  ];
  for (const [text, want] of cases) {
    it(JSON.stringify(text), () => {
      const got = renderTemplate(text, vars);
      expect(got.ok).to.equal(want.ok);
      if (got.ok) expect(got.text).to.equal(want.text);
      else if (want.error) expect(got.error).to.equal(want.error);
    });
  }
});

function spec(analysis: CanarySpec['analysis']): CanarySpec {
  return { targetRef: { name: 'web' }, steps: [{ setWeight: 10 }], analysis };
}

describe('resolveChecks', () => {
  it('applies monitor defaults', () => {
    const r = resolveChecks(spec({ checks: [{ name: 'errors', datadogMonitor: { id: 123 } }] }), vars);
    expect(r).to.deep.equal({
      ok: true,
      checks: [{ kind: 'datadogMonitor', name: 'errors', monitor: { id: 123 }, group: 'version:1.4.2', verdicts: DEFAULT_MONITOR_VERDICTS, intervalMs: 60_000 }],
    });
  });

  it('renders tags, group and verdict overrides', () => {
    const r = resolveChecks(
      spec({
        interval: '30s',
        checks: [{ name: 'm', datadogMonitor: { tags: ['service:{{ service }}'], group: 'env:prod,version:{{ version }}', verdicts: { warn: 'Fail', noData: 'Pass' } } }],
      }),
      vars,
    );
    expect(r.ok).to.equal(true);
    if (!r.ok) return;
    const c = r.checks[0];
    expect(c?.kind).to.equal('datadogMonitor');
    if (c?.kind !== 'datadogMonitor') return;
    expect(c.monitor).to.deep.equal({ tags: ['service:checkout'] });
    expect(c.group).to.equal('env:prod,version:1.4.2');
    expect(c.verdicts.Warn).to.equal('Fail');
    expect(c.verdicts['No Data']).to.equal('Pass');
    expect(c.verdicts.OK).to.equal('Pass');
    expect(c.verdicts.Alert).to.equal('Fail');
    expect(c.intervalMs).to.equal(30_000);
  });

  const queryCases: Array<[string, CanarySpec['analysis'], number]> = [
    ['window default 5 x 1m', { checks: [{ name: 'q', datadogQuery: { query: 'avg:e{*}', max: 1 } }] }, 300_000],
    ['window at least 1m', { interval: '10s', checks: [{ name: 'q', datadogQuery: { query: 'avg:e{*}', max: 1 } }] }, 60_000],
    ['window 5 x 2m', { interval: '2m', checks: [{ name: 'q', datadogQuery: { query: 'avg:e{*}', max: 1 } }] }, 600_000],
    ['explicit window', { checks: [{ name: 'q', datadogQuery: { query: 'avg:e{*}', max: 1, window: '15m' } }] }, 900_000],
  ];
  for (const [name, analysis, windowMs] of queryCases) {
    it(`query: ${name}`, () => {
      const r = resolveChecks(spec(analysis), vars);
      expect(r.ok).to.equal(true);
      if (!r.ok) return;
      const c = r.checks[0];
      if (c?.kind !== 'datadogQuery') throw new Error('expected a query check');
      expect(c.windowMs).to.equal(windowMs);
      expect(c.noData).to.equal('Inconclusive');
      expect(c.max).to.equal(1);
      expect(c).to.not.have.property('min');
    });
  }

  it('renders the query', () => {
    const r = resolveChecks(spec({ checks: [{ name: 'q', datadogQuery: { query: 'avg:e{version:{{ version }}}', min: 0, max: 1, noData: 'Fail' } }] }), vars);
    expect(r.ok && r.checks[0]).to.deep.include({ query: 'avg:e{version:1.4.2}', min: 0, max: 1, noData: 'Fail' });
  });

  it('no analysis means no checks', () => {
    expect(resolveChecks({ targetRef: { name: 'web' }, steps: [] }, vars)).to.deep.equal({ ok: true, checks: [] });
  });

  const errors: Array<[string, CanarySpec['analysis'], string]> = [
    ['bad interval', { interval: 'soon', checks: [] }, 'analysis.interval "soon"'],
    ['both kinds', { checks: [{ name: 'x', datadogMonitor: { id: 1 }, datadogQuery: { query: 'q', max: 1 } }] }, 'check "x": set exactly one'],
    ['neither kind', { checks: [{ name: 'x' }] }, 'check "x": set exactly one'],
    ['two selectors', { checks: [{ name: 'x', datadogMonitor: { id: 1, tags: ['a:b'] } }] }, 'exactly one of id, tags or query'],
    ['no selector', { checks: [{ name: 'x', datadogMonitor: {} }] }, 'exactly one of id, tags or query'],
    ['bad id', { checks: [{ name: 'x', datadogMonitor: { id: -3 } }] }, 'positive integer'],
    ['empty tags', { checks: [{ name: 'x', datadogMonitor: { tags: [] } }] }, 'at least one tag'],
    ['unknown variable', { checks: [{ name: 'x', datadogMonitor: { query: 'tag:"v:{{ nope }}"' } }] }, 'check "x": unknown variable "nope"'],
    ['bad verdict key', { checks: [{ name: 'x', datadogMonitor: { id: 1, verdicts: { broken: 'Pass' } as never } }] }, 'verdicts.broken'],
    ['bad verdict', { checks: [{ name: 'x', datadogMonitor: { id: 1, verdicts: { ok: 'Error' as never } } }] }, 'Pass, Fail or Inconclusive'],
    ['no bounds', { checks: [{ name: 'x', datadogQuery: { query: 'q' } }] }, 'min, max or both'],
    ['min > max', { checks: [{ name: 'x', datadogQuery: { query: 'q', min: 2, max: 1 } }] }, 'greater than max'],
    ['bad window', { checks: [{ name: 'x', datadogQuery: { query: 'q', max: 1, window: '-5m' } }] }, 'window "-5m"'],
    ['duplicate names', { checks: [{ name: 'x', datadogMonitor: { id: 1 } }, { name: 'x', datadogMonitor: { id: 2 } }] }, 'used by another check'],
    ['missing name', { checks: [{ name: '', datadogMonitor: { id: 1 } }] }, 'check #1: name is required'],
  ];
  for (const [name, analysis, fragment] of errors) {
    it(`error: ${name}`, () => {
      const r = resolveChecks(spec(analysis), vars);
      expect(r.ok).to.equal(false);
      if (!r.ok) expect(r.error).to.contain(fragment);
    });
  }
});
