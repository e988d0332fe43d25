// The CEL engine against the real apiserver on what the Canary CRD does not use (yet): rules on
// list items and map values, integers and numbers, fieldPath, messageExpression, reason, the
// default message, rules the engine cannot evaluate, and absent fields. (Bounds such as maxItems
// are there for the apiserver's cost estimate, which refuses unbounded rules.) A throwaway CRD with a
// unique group is created for the test and deleted after it; each object goes through
// `kubectl apply --dry-run=server` and through evaluateRules(), which must give the same failures.
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { compileRules, evaluateRules } from '../../src/api/cel-rules.js';
import { deleteNamespace, kubectl, kubectlOk, uniqueNamespace } from '../support/cluster.js';

const GROUP = `p${randomBytes(4).toString('hex')}.cel.test.deployer.dev`;
const NAME = `celprobes.${GROUP}`;

const SCHEMA = {
  type: 'object',
  properties: {
    apiVersion: { type: 'string' },
    kind: { type: 'string' },
    metadata: { type: 'object' },
    spec: {
      type: 'object',
      properties: {
        replicas: { type: 'integer', 'x-kubernetes-validations': [{ rule: 'self % 2 == 1', message: 'replicas must be odd' }] },
        ratio: { type: 'number', 'x-kubernetes-validations': [{ rule: 'self <= 0.5' }] },
        ports: {
          type: 'array',
          maxItems: 10,
          items: { type: 'integer', 'x-kubernetes-validations': [{ rule: 'self >= 1024', messageExpression: "self < 100 ? 'a port under 100 is privileged' : 'a port under 1024 is privileged'" }] },
        },
        labels: {
          type: 'object',
          maxProperties: 10,
          additionalProperties: { type: 'string', maxLength: 20, 'x-kubernetes-validations': [{ rule: "!self.startsWith('-')", message: 'a label value must not start with -' }] },
        },
        window: {
          type: 'object',
          properties: { from: { type: 'integer' }, to: { type: 'integer' } },
          'x-kubernetes-validations': [
            { rule: 'self.from < self.to', message: 'from must be before to', fieldPath: '.from' },
            { rule: 'has(self.to)', message: 'to is needed', reason: 'FieldValueRequired' },
            { rule: 'self.to - self.from <= 100', message: 'at most 100 apart', reason: 'FieldValueForbidden' },
          ],
        },
        timeout: { type: 'string', maxLength: 20, 'x-kubernetes-validations': [{ rule: "duration(self) < duration('1h')", message: 'timeout under 1h' }] },
        names: {
          type: 'array',
          maxItems: 10,
          items: { type: 'string', maxLength: 20 },
          'x-kubernetes-validations': [
            { rule: 'self.all(n, n.size() <= 5) && self.exists(n, n == "main")', message: 'names of at most 5 characters, one of them main' },
            { rule: 'self.all(n, self.exists_one(m, m == n))', message: 'names must be unique', reason: 'FieldValueDuplicate' },
          ],
        },
      },
    },
  },
};

const OBJECTS: Array<{ name: string; spec: Record<string, unknown> }> = [
  { name: 'valid', spec: { replicas: 3, ratio: 0.5, ports: [8080], labels: { a: 'b' }, window: { from: 1, to: 50 }, timeout: '30m', names: ['main'] } },
  { name: 'integers', spec: { replicas: 4 } },
  { name: 'a number and the default message', spec: { ratio: 0.75 } },
  { name: 'list items and messageExpression', spec: { ports: [80, 8080, 443] } },
  { name: 'map values', spec: { labels: { a: '-x', b: 'y', c: '-z' } } },
  { name: 'fieldPath', spec: { window: { from: 9, to: 3 } } },
  { name: 'reasons', spec: { window: { from: 0, to: 500 } } },
  { name: 'a rule that cannot be evaluated', spec: { window: { from: 1 } } },
  { name: 'a duration that does not parse', spec: { timeout: 'soon' } },
  { name: 'macros on a list', spec: { names: ['main', 'toolong'] } },
  { name: 'a duplicate', spec: { names: ['main', 'main'] } },
  { name: 'absent fields run no rule', spec: {} },
];

/** "path: detail" of each CEL failure in kubectl's stderr ("<nil>" for the root). */
function apiserverFailures(stderr: string): string[] {
  const at = stderr.indexOf(' is invalid: ');
  if (at < 0) return [];
  const body = stderr.slice(at + ' is invalid: '.length).trim();
  const entries = body.startsWith('* ') ? body.split(/\n\* /).map((e) => e.replace(/^\* /, '')) : [body];
  return entries.map((e) => e.replace(/^<nil>: /, ': '));
}

/** The engine's own wording of an evaluation error is its own: compare up to "evaluating rule". */
const comparable = (line: string): string => line.replace(/: Invalid value: "(\w+)": .* evaluating rule: /, ': Invalid value: "$1": <error> evaluating rule: ');

describe('The CEL engine and the apiserver on rule features the Canary CRD does not use', function () {
  this.timeout(120_000);
  let ns = '';
  const compiled = compileRules(SCHEMA);

  before(async () => {
    const crd = {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: NAME },
      spec: {
        group: GROUP,
        scope: 'Namespaced',
        names: { kind: 'CelProbe', plural: 'celprobes', singular: 'celprobe', listKind: 'CelProbeList' },
        versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: SCHEMA } }],
      },
    };
    await kubectlOk(['create', '-f', '-'], { input: JSON.stringify(crd) });
    await kubectlOk(['wait', '--for=condition=Established', `crd/${NAME}`, '--timeout=30s']);
    ns = await uniqueNamespace('celengine');
  });

  after(async () => {
    await kubectl(['delete', 'crd', NAME, '--ignore-not-found', '--wait=false']);
    if (ns) await deleteNamespace(ns);
  });

  for (const o of OBJECTS) {
    it(`${o.name}: the same failures`, async () => {
      const obj = { apiVersion: `${GROUP}/v1`, kind: 'CelProbe', metadata: { name: 'probe' }, spec: o.spec };
      // The apiserver may need a moment after Established before it serves the new type.
      let r = await kubectl(['apply', '--dry-run=server', '-n', ns, '-f', '-'], { input: JSON.stringify(obj) });
      for (let i = 0; i < 20 && /the server doesn't have a resource type|no matches for kind/.test(r.stderr); i++) {
        await new Promise((res) => setTimeout(res, 500));
        r = await kubectl(['apply', '--dry-run=server', '-n', ns, '-f', '-'], { input: JSON.stringify(obj) });
      }
      const api = r.code === 0 ? [] : apiserverFailures(r.stderr);
      expect(r.code === 0 || api.length > 0, r.stderr).to.equal(true);
      const engine = evaluateRules(compiled, obj).map((f) => `${f.path}: ${f.detail}`);
      expect(engine.map(comparable).sort(), `apiserver:\n${r.stderr}`).to.deep.equal(api.map(comparable).sort());
    });
  }
});
