import { expect } from 'chai';
import { compileRules, evaluateRules } from '../../src/api/cel-rules.js';
import { compileCanaryValidator, readCanaryCrd, validateCanary } from '../../src/api/validate.js';

type Json = Record<string, any>;

const canary = (spec: Json, name = 'web'): Json => ({ apiVersion: 'deployer.dev/v1alpha1', kind: 'Canary', metadata: { name }, spec: { targetRef: { name: 'web' }, steps: [{ setWeight: 10 }], ...spec } });

/** A deep copy of the shipped CRD with `edit` applied to its openAPIV3Schema. */
function crdWith(edit: (schema: Json) => void): Json {
  const crd = structuredClone(readCanaryCrd()) as Json;
  edit(crd.spec.versions[0].schema.openAPIV3Schema);
  return crd;
}

describe('the CRD rules run by the CEL engine', () => {
  it('compiles every rule of the shipped CRD and sets the transition rule apart', () => {
    const schema = (readCanaryCrd() as Json).spec.versions[0].schema.openAPIV3Schema;
    const compiled = compileRules(schema);
    expect(compiled.rules.length).to.equal(40);
    expect(compiled.transitionRules.map((r) => [r.schemaPath, r.rule])).to.deep.equal([['spec.targetRef', 'self == oldSelf']]);
    expect(compiled.rules.map((r) => r.schemaPath)).to.include.members(['', 'spec', 'spec.steps[*]', 'spec.steps[*].pause', 'spec.analysis.checks[*].datadogQuery.window', 'spec.analysis.checks[*].compare', 'spec.analysis.checks[*].compare.window', 'spec.analysis.checks[*].compare.step', 'spec.analysis.checks[*].compare.prometheus.address']);
  });

  it('enforces a rule added to an in-memory copy of the CRD, with no other change', () => {
    const crd = crdWith((s) => {
      s.properties.spec.properties.steps.items['x-kubernetes-validations'].push({
        rule: '!has(self.setWeight) || self.setWeight % 5 == 0',
        message: 'setWeight must be a multiple of 5',
      });
    });
    const v = compileCanaryValidator(crd);
    const obj = canary({ steps: [{ setWeight: 10 }, { setWeight: 12 }, { pause: {} }] });
    expect(validateCanary(obj, v)).to.deep.equal([{ path: 'spec.steps[1]', message: 'Invalid value: setWeight must be a multiple of 5', rule: '!has(self.setWeight) || self.setWeight % 5 == 0' }]);
    // The shipped CRD has no such rule, so the shipped validator accepts the same Canary.
    expect(validateCanary(obj)).to.deep.equal([]);
  });

  it('stops enforcing a rule removed from the CRD (no hand-written copy remains)', () => {
    const obj = canary({ steps: [{ setWeight: 10 }, { pause: { duration: '169h' } }] });
    expect(validateCanary(obj).map((p) => p.path)).to.deep.equal(['spec.steps[1].pause']);
    const crd = crdWith((s) => {
      const pause = s.properties.spec.properties.steps.items.properties.pause;
      pause['x-kubernetes-validations'] = pause['x-kubernetes-validations'].filter((r: Json) => !String(r.rule).includes('168h'));
    });
    expect(validateCanary(obj, compileCanaryValidator(crd))).to.deep.equal([]);
  });

  const schema = (props: Json, rules: Json[] = []): Json => ({ type: 'object', properties: props, 'x-kubernetes-validations': rules });

  it('runs a rule on each list item and each map value, and not on absent or null fields', () => {
    const compiled = compileRules(
      schema({
        list: { type: 'array', items: { type: 'integer', 'x-kubernetes-validations': [{ rule: 'self > 0', message: 'positive' }] } },
        map: { type: 'object', additionalProperties: { type: 'string', 'x-kubernetes-validations': [{ rule: "self != 'x'", message: 'not x' }] } },
        opt: { type: 'string', 'x-kubernetes-validations': [{ rule: 'false', message: 'never' }] },
      }),
    );
    const found = evaluateRules(compiled, { metadata: { name: 'a' }, list: [1, 0, -2], map: { a: 'x', b: 'y', c: 'x' }, opt: null });
    expect(found.map((f) => `${f.path}: ${f.detail}`)).to.deep.equal([
      'list[1]: Invalid value: 0: positive',
      'list[2]: Invalid value: -2: positive',
      'map[a]: Invalid value: "x": not x',
      'map[c]: Invalid value: "x": not x',
    ]);
  });

  it('types integers as int and numbers as double, as the apiserver does', () => {
    const compiled = compileRules(
      schema({
        i: { type: 'integer', 'x-kubernetes-validations': [{ rule: 'self == 3 && type(self) == int', message: 'int' }] },
        n: { type: 'number', 'x-kubernetes-validations': [{ rule: 'type(self) == double && self > 1.5', message: 'double' }] },
      }),
    );
    expect(evaluateRules(compiled, { metadata: { name: 'a' }, i: 3, n: 2 })).to.deep.equal([]);
    expect(evaluateRules(compiled, { metadata: { name: 'a' }, i: 4, n: 1 }).map((f) => f.message)).to.deep.equal(['int', 'double']);
  });

  it('types strings of format date-time as timestamps and of format duration as durations', () => {
    const compiled = compileRules(
      schema({
        at: { type: 'string', format: 'date-time', 'x-kubernetes-validations': [{ rule: "self > timestamp('2026-01-01T00:00:00Z')", message: 'after 2026' }] },
        for: { type: 'string', format: 'duration', 'x-kubernetes-validations': [{ rule: "self <= duration('1h')", message: 'at most 1h' }] },
      }),
    );
    expect(evaluateRules(compiled, { metadata: { name: 'a' }, at: '2026-12-02T08:00:00Z', for: '30m' })).to.deep.equal([]);
    expect(evaluateRules(compiled, { metadata: { name: 'a' }, at: '2025-12-02T08:00:00Z', for: '2h' }).map((f) => f.detail)).to.deep.equal([
      'Invalid value: "2025-12-02T08:00:00Z": after 2026',
      'Invalid value: "2h": at most 1h',
    ]);
  });

  it('uses messageExpression, fieldPath and reason, and "failed rule" without a message', () => {
    const compiled = compileRules(
      schema(
        { min: { type: 'integer' }, max: { type: 'integer' } },
        [
          { rule: 'self.min <= self.max', messageExpression: "'min ' + string(self.min) + ' exceeds max ' + string(self.max)", fieldPath: '.min' },
          { rule: 'self.max < 100' },
          { rule: 'self.min > 0', message: 'min is needed', reason: 'FieldValueRequired' },
        ],
      ),
    );
    expect(evaluateRules(compiled, { metadata: { name: 'a' }, min: 0, max: 200 }).map((f) => `${f.path}: ${f.detail}`)).to.deep.equal([
      ': Invalid value: failed rule: self.max < 100',
      ': Required value: min is needed',
    ]);
    expect(evaluateRules(compiled, { metadata: { name: 'a' }, min: 5, max: 1 }).map((f) => `${f.path}: ${f.detail}`)).to.deep.equal(['min: Invalid value: min 5 exceeds max 1']);
  });

  it('reports a rule that cannot be evaluated, with the rule\'s message, rather than passing it', () => {
    const compiled = compileRules(
      schema({
        d: { type: 'string', 'x-kubernetes-validations': [{ rule: "duration(self) <= duration('1h')", message: 'at most 1h' }] },
        q: { type: 'string', 'x-kubernetes-validations': [{ rule: "quantity(self).isLessThan(quantity('1Gi'))", message: 'at most 1Gi' }] },
      }),
    );
    const found = evaluateRules(compiled, { metadata: { name: 'a' }, d: '1d', q: '2Gi' });
    expect(found.map((f) => f.path)).to.deep.equal(['d', 'q']);
    expect(found[0]?.detail).to.match(/^Invalid value: "string": .*duration.* evaluating rule: at most 1h$/);
    expect(found[1]?.detail).to.match(/^Invalid value: "string": .+ evaluating rule: at most 1Gi$/);
  });

  it('matches() follows RE2, with each pattern compiled once and reused across values', () => {
    const compiled = compileRules(
      schema({
        names: { type: 'array', items: { type: 'string', 'x-kubernetes-validations': [{ rule: "self.matches('^[a-z]+$')", message: 'lowercase' }] } },
        look: { type: 'string', 'x-kubernetes-validations': [{ rule: "self.matches('a(?=b)')", message: 'lookahead' }] },
      }),
    );
    const found = evaluateRules(compiled, { metadata: { name: 'a' }, names: ['abc', 'ABC', 'def', 'dé'], look: 'ab' });
    expect(found.map((f) => f.path)).to.deep.equal(['names[1]', 'names[3]', 'look']);
    // RE2 has no lookahead: the rule cannot be evaluated, as on the apiserver.
    expect(found[2]?.evalError).to.be.a('string');
  });

  it('refuses a CRD whose rule does not parse, naming the rule', () => {
    expect(() => compileRules(schema({ a: { type: 'string', 'x-kubernetes-validations': [{ rule: 'self ==' }] } }))).to.throw(/the CEL rule at a does not parse: self ==/);
  });

  it('sees only metadata.name and generateName at the root, with a generated name of 5 more characters', () => {
    const compiled = compileRules(schema({}, [{ rule: "self.metadata.name.size() <= 10 && !has(self.metadata.labels)", message: 'short' }]));
    expect(evaluateRules(compiled, { metadata: { name: 'abc', labels: { a: 'b' } } })).to.deep.equal([]);
    expect(evaluateRules(compiled, { metadata: { generateName: 'abcdef' } }).map((f) => f.message)).to.deep.equal(['short']);
    expect(evaluateRules(compiled, { metadata: {} })).to.deep.equal([]);
  });

  it('does not run the rules after a blocking schema error, as the apiserver does not', () => {
    const problems = validateCanary(canary({ steps: [{ setWeight: '20', pause: {} }] }));
    expect(problems.map((p) => `${p.path}: ${p.message}`)).to.deep.equal([
      'spec.steps[0].setWeight: must be an integer, got "20"',
      ': some validation rules were not checked because the object was invalid; correct the existing errors to complete validation',
    ]);
    const nonBlocking = validateCanary(canary({ steps: [{ setWeight: 0, pause: {} }] }));
    expect(nonBlocking.map((p) => `${p.path}: ${p.message}`)).to.deep.equal([
      'spec.steps[0].setWeight: must be at least 1, got 0',
      'spec.steps[0]: Invalid value: a step must have exactly one of setWeight or pause',
    ]);
  });
});
