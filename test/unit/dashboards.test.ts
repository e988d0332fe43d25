// The dashboards' shape. The Datadog dashboard is read by the official Datadog client's model
// of the dashboard API (generated from Datadog's published OpenAPI spec): an unknown widget type,
// an unknown field, a value outside an enum or a missing required field fails, with its path.
// The Grafana dashboard's queries run against a real Prometheus in test/integration/dashboards.
import { expect } from 'chai';
import { v1 } from '@datadog/datadog-api-client';
import { readFileSync } from 'node:fs';
import { REASONS } from '../../src/api/constants.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const readJson = (path: string): Record<string, unknown> => JSON.parse(readFileSync(`${ROOT}${path}`, 'utf8')) as Record<string, unknown>;

/** The widget types the dashboard uses, and their model in the API client. */
const DEFINITIONS: Record<string, string> = {
  group: 'GroupWidgetDefinition',
  note: 'NoteWidgetDefinition',
  query_value: 'QueryValueWidgetDefinition',
  timeseries: 'TimeseriesWidgetDefinition',
  toplist: 'ToplistWidgetDefinition',
  event_stream: 'EventStreamWidgetDefinition',
  event_timeline: 'EventTimelineWidgetDefinition',
  manage_status: 'MonitorSummaryWidgetDefinition',
};

type Json = Record<string, unknown>;

/** Problems in a deserialised model: values no model accepted, and fields the model does not have. */
function walk(value: unknown, path: string): string[] {
  if (value === null || typeof value !== 'object') return [];
  // The client's UnparsedObject (not exported): what it keeps of a value no model accepted.
  if (value.constructor.name === 'UnparsedObject') {
    return [`${path}: not a valid value in the dashboard API: ${JSON.stringify((value as { _data?: unknown })._data ?? value).slice(0, 200)}`];
  }
  const out: string[] = [];
  const extra = (value as { additionalProperties?: Json }).additionalProperties;
  if (extra && Object.keys(extra).length) out.push(`${path}: field(s) not in the dashboard API: ${Object.keys(extra).join(', ')}`);
  for (const [k, v] of Object.entries(value)) if (k !== 'additionalProperties') out.push(...walk(v, `${path}.${k}`));
  return out;
}

function check(value: unknown, type: string, path: string): string[] {
  try {
    return walk(v1.ObjectSerializer.deserialize(value, type, ''), path);
  } catch (e) {
    return [`${path}: ${(e as Error).message}`];
  }
}

/** Each widget against the model of its own type, so that a problem is reported where it is. */
function checkWidgets(widgets: Json[], path: string): string[] {
  return widgets.flatMap((w, i) => {
    const at = `${path}[${i}]`;
    const def = (w['definition'] ?? {}) as Json;
    const type = String(def['type']);
    const model = DEFINITIONS[type];
    if (!model) return [`${at}.definition: widget type ${type} is not one this test knows (${Object.keys(DEFINITIONS).join(', ')})`];
    const own = check({ ...w, definition: { type: 'note', content: '-' } }, 'Widget', at);
    if (type !== 'group') return [...own, ...check(def, model, `${at}.definition`)];
    const inner = (def['widgets'] ?? []) as Json[];
    return [...own, ...check({ ...def, widgets: [] }, model, `${at}.definition`), ...checkWidgets(inner, `${at}.definition.widgets`)];
  });
}

function allWidgets(widgets: Json[]): Json[] {
  return widgets.flatMap((w) => {
    const def = w['definition'] as Json;
    return [def, ...allWidgets((def['widgets'] ?? []) as Json[])];
  });
}

describe('Datadog dashboard (deploy/dashboards/datadog-deployer.json)', () => {
  const dash = readJson('deploy/dashboards/datadog-deployer.json');

  it('is a dashboard the Datadog API accepts: every widget and field is in its published model', () => {
    expect(dash).to.include.keys('title', 'layout_type', 'widgets');
    const problems = [...check({ ...dash, widgets: [] }, 'Dashboard', '$'), ...checkWidgets(dash['widgets'] as Json[], '$.widgets'), ...check(dash, 'Dashboard', '$')];
    expect(problems, problems.join('\n')).to.deep.equal([]);
  });

  it('finds a misspelt field, an unknown widget type and a value outside an enum', () => {
    const broken = structuredClone(dash) as { widgets: Array<{ definition: { widgets: Array<{ definition: Json }> } }> };
    const groups = broken.widgets.filter((w) => w.definition.widgets);
    groups[0]!.definition.widgets[0]!.definition['titel'] = 'x';
    groups[1]!.definition.widgets[0]!.definition['type'] = 'event_streem';
    const ts = allWidgets(broken.widgets as unknown as Json[]).find((d) => d['type'] === 'timeseries') as { requests: Json[] };
    ts.requests[0]!['display_type'] = 'bar';
    const problems = checkWidgets(broken.widgets as unknown as Json[], '$.widgets');
    expect(problems.join('\n')).to.match(/titel/).and.match(/event_streem/).and.match(/display_type|not a valid value/);
    expect(check(broken, 'Dashboard', '$')).to.not.deep.equal([]);
  });

  it('uses only its own template variables and titles every widget', () => {
    const names = (dash['template_variables'] as Array<{ name: string }>).map((v) => v.name);
    expect(names).to.include.members(['service', 'env']);
    const text = JSON.stringify(dash['widgets']);
    const used = new Set([...text.matchAll(/\$(\w+)/g)].map((m) => m[1]!));
    expect([...used].filter((u) => !names.includes(u)), 'variables used but not defined').to.deep.equal([]);
    for (const def of allWidgets(dash['widgets'] as Json[]).filter((d) => d['type'] !== 'note')) expect(def['title'], JSON.stringify(def).slice(0, 120)).to.be.a('string').and.not.equal('');
  });
});

describe('Grafana dashboard (deploy/dashboards/grafana-deployer.json)', () => {
  const text = readFileSync(`${ROOT}deploy/dashboards/grafana-deployer.json`, 'utf8');

  it('counts rollbacks under every reason a rollback is recorded with, and no other', () => {
    // A rollback's Event carries its cause; decide.ts passes it to rollback() or undoPromotion().
    const decide = readFileSync(`${ROOT}src/canary/decide.ts`, 'utf8');
    const causes = new Set([...decide.matchAll(/this\.(?:rollback|undoPromotion)\(\s*(?:\w+,\s*\w+,\s*)?REASONS\.(\w+)/g)].map((m) => m[1]!));
    expect(causes.size, 'rollback causes found in decide.ts').to.be.greaterThan(2);
    const selectors = new Set([...text.matchAll(/reason=~\\"([^"\\]+)\\"/g)].map((m) => m[1]!));
    const rollbackSelector = [...selectors].find((s) => !s.includes('Promoted'));
    expect(rollbackSelector, 'the rollback selector').to.be.a('string');
    expect(rollbackSelector!.split('|').sort()).to.deep.equal([...causes].sort());
    for (const s of selectors) for (const reason of s.split('|')) expect(Object.values(REASONS), `reason ${reason}`).to.include(reason);
  });

  it('asks only for metrics the operator exports', async () => {
    const { OperatorMetrics } = await import('../../src/runtime/metrics.js');
    const exported = (await new OperatorMetrics({ defaultMetrics: true }).registry.getMetricsAsJSON()).map((m) => m.name);
    const names = new Set(exported.flatMap((n) => [n, `${n}_bucket`, `${n}_sum`, `${n}_count`]));
    const used = [...new Set([...text.matchAll(/\b(deployer_\w+)/g)].map((m) => m[1]!))];
    expect(used.filter((u) => !names.has(u)), 'metrics not exported').to.deep.equal([]);
  });
});
