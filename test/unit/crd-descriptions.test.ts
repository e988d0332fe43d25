// Every field of every CRD's schema carries a description, so `kubectl explain canary.spec…`
// documents the whole resource (the apiserver serves these texts; see test/cluster/crd-explain.test.ts).
import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const CRDS = fileURLToPath(new URL('../../crds/', import.meta.url));

interface Schema {
  type?: string;
  description?: string;
  properties?: Record<string, Schema>;
  items?: Schema;
  additionalProperties?: Schema | boolean;
}

interface Crd {
  spec: { names: { kind: string }; versions: Array<{ name: string; schema: { openAPIV3Schema: Schema } }> };
}

/** Paths (kubectl explain style, `[]` for list items) of fields without a non-empty description. */
function undescribedFields(schema: Schema, path: string): string[] {
  const missing: string[] = [];
  const visit = (s: Schema, at: string, isField: boolean): void => {
    if (isField && !(typeof s.description === 'string' && s.description.trim().length > 0)) missing.push(at);
    for (const [name, child] of Object.entries(s.properties ?? {})) {
      // The apiserver refuses anything but name and generateName under the root's metadata, and
      // kubectl explain describes it from ObjectMeta.
      if (at === path && name === 'metadata') continue;
      visit(child, `${at}.${name}`, true);
    }
    if (s.items) visit(s.items, `${at}[]`, false);
    if (s.additionalProperties && typeof s.additionalProperties === 'object') visit(s.additionalProperties, `${at}{}`, false);
  };
  visit(schema, path, true);
  return missing;
}

describe('CRD field descriptions (kubectl explain)', () => {
  const files = readdirSync(CRDS).filter((f) => f.endsWith('.yaml'));

  it('finds the CRDs', () => {
    expect(files).to.include('deployer.dev_canaries.yaml');
  });

  for (const file of files) {
    const crd = parse(readFileSync(`${CRDS}${file}`, 'utf8')) as Crd;
    for (const version of crd.spec.versions) {
      it(`${file} ${version.name}: every field of ${crd.spec.names.kind} has a description`, () => {
        const missing = undescribedFields(version.schema.openAPIV3Schema, crd.spec.names.kind.toLowerCase());
        expect(missing, `fields without a description:\n  ${missing.join('\n  ')}\n`).to.deep.equal([]);
      });
    }
  }

  it('the walk reaches nested fields, list items and maps', () => {
    const schema: Schema = {
      description: 'root',
      properties: {
        metadata: { type: 'object' },
        a: { description: 'a', properties: { b: {}, metadata: {} } },
        list: { description: 'list', items: { properties: { c: { description: ' ' } } } },
        map: { description: 'map', additionalProperties: { properties: { d: {} } } },
      },
    };
    expect(undescribedFields(schema, 'x')).to.deep.equal(['x.a.b', 'x.a.metadata', 'x.list[].c', 'x.map{}.d']);
  });
});
