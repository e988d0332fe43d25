// `kubectl explain` describes every field of the Canary: this tree's CRD is applied to the real
// apiserver, which publishes its schema as OpenAPI v3, and the real kubectl explains each object
// of it. Every object's own description and each of its fields' descriptions must be printed.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ensureCluster, eventually, kubectl, repoRoot } from '../support/cluster.js';

const CRD_FILE = join(repoRoot, 'crds', 'deployer.dev_canaries.yaml');

interface Schema {
  description?: string;
  properties?: Record<string, Schema>;
  items?: Schema;
}

/** Whitespace-insensitive: kubectl wraps and indents descriptions. */
const flat = (text: string): string => text.replace(/\s+/g, ' ').trim();

/** Every object in the schema with fields, by its kubectl explain path (list items are transparent). */
function objectsWithFields(schema: Schema, path: string): Array<{ path: string; schema: Schema }> {
  const fields = schema.properties ?? schema.items?.properties;
  if (!fields) return [];
  const own = { path, schema: schema.properties ? schema : schema.items! };
  return [
    own,
    ...Object.entries(fields)
      .filter(([name]) => !(path === 'canary' && name === 'metadata')) // ObjectMeta, described by Kubernetes
      .flatMap(([name, child]) => objectsWithFields(child, `${path}.${name}`)),
  ];
}

async function explain(path: string): Promise<string> {
  const r = await kubectl(['explain', path, '--api-version=deployer.dev/v1alpha1']);
  if (r.code !== 0) throw new Error(`kubectl explain ${path}: ${r.stderr}`);
  return r.stdout;
}

describe('kubectl explain canary', function () {
  this.timeout(180_000);
  const root = (parse(readFileSync(CRD_FILE, 'utf8')) as { spec: { versions: Array<{ schema: { openAPIV3Schema: Schema } }> } }).spec
    .versions[0]!.schema.openAPIV3Schema;
  const nodeAt = (path: string): Schema =>
    path
      .split('.')
      .slice(1)
      .reduce<Schema>((s, name) => (s.properties ?? s.items?.properties ?? {})[name]!, root);

  before(async function () {
    await ensureCluster();
    const applied = await kubectl(['apply', '--server-side', '--force-conflicts', '-f', CRD_FILE]);
    if (applied.code !== 0) throw new Error(applied.stderr);
    await kubectl(['wait', '--for', 'condition=established', 'crd/canaries.deployer.dev', '--timeout=60s']);
    // The apiserver republishes OpenAPI shortly after a CRD changes; wait until this tree's text is served.
    const probe = flat(nodeAt('canary.spec.analysis.checks').description!);
    await eventually(async () => expect(flat(await explain('canary.spec.analysis.checks'))).to.include(probe), { timeoutMs: 60_000 });
  });

  it('canary.spec.analysis.checks prints its description and those of name, datadogMonitor and datadogQuery', async () => {
    const out = flat(await explain('canary.spec.analysis.checks'));
    expect(out).to.include('FIELD: checks <[]Object>');
    expect(out).to.include('The checks measured every interval (at most 20, unique names).');
    expect(out).to.match(/name <string> -required- Name of the check in status/);
    expect(out).to.match(/datadogMonitor <Object> Judge by Datadog monitor state\./);
    expect(out).to.match(/datadogQuery <Object> Judge a metric query's last complete point/);
  });

  for (const [path, text] of [
    ['canary.spec.analysis.checks.datadogQuery.query', 'Templates: {{ version }} (canary version), {{ stableVersion }}, {{ revision }}'],
    ['canary.spec.analysis.checks.datadogMonitor.verdicts.noData', 'Verdict when the monitor state is No Data'],
    ['canary.spec.steps.pause.duration', 'Go-style duration from 1s to 168h'],
    ['canary.status.conditions.lastTransitionTime', 'When the status last changed between True, False and Unknown.'],
  ] as const) {
    it(`${path} is described`, async () => {
      const out = flat(await explain(path));
      expect(out).to.include(flat(text));
      expect(out).to.include(flat(nodeAt(path).description!));
    });
  }

  it('every object of the schema prints its own description and every field of it', async () => {
    const objects = objectsWithFields(root, 'canary');
    expect(objects.map((o) => o.path)).to.include.members(['canary', 'canary.spec', 'canary.spec.analysis.checks.datadogMonitor.verdicts', 'canary.status.conditions']);
    const missing: string[] = [];
    for (const { path, schema } of objects) {
      const out = flat(await explain(path));
      const node = nodeAt(path);
      if (node.description && !out.includes(flat(node.description))) missing.push(path);
      for (const [name, field] of Object.entries(schema.properties ?? {})) {
        if (path === 'canary' && name === 'metadata') continue;
        if (!field.description || !out.includes(flat(field.description))) missing.push(`${path}.${name}`);
      }
    }
    expect(missing, 'fields kubectl explain does not describe').to.deep.equal([]);
  });
});
