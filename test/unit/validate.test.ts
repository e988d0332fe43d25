import { expect } from 'chai';
import { canaryWarnings, pointerToPath, splitPath, validateCanary, validateCanaryFile } from '../../src/api/validate.js';

const VALID = `apiVersion: deployer.dev/v1alpha1
kind: Canary
metadata:
  name: checkout
  namespace: shop
spec:
  targetRef:
    name: checkout
  progressDeadline: 10m
  steps:
    - setWeight: 20
    - pause: { duration: 5m }
    - setWeight: 50
    - pause: {}
  analysis:
    interval: 30s
    failureLimit: 1
    checks:
      - name: error-rate
        datadogQuery:
          query: "sum:errors{service:{{ target }},version:{{ version }}}"
          max: 0.5
          window: 5m
      - name: monitors
        datadogMonitor:
          tags: ["service:{{ name }}"]
          group: "version:{{version}}"
  datadog:
    secretRef:
      name: datadog
`;

/** Replaces the first line that starts with `from` (after indentation) by `to`, keeping the indentation. */
function edit(from: string, to: string): string {
  const lines = VALID.split('\n');
  const i = lines.findIndex((l) => l.trimStart().startsWith(from));
  if (i < 0) throw new Error(`no line starts with ${from}`);
  const indent = /^\s*/.exec(lines[i] ?? '')?.[0] ?? '';
  lines.splice(i, 1, ...to.split('\n').map((l) => (l === '' ? l : indent + l)));
  return lines.join('\n');
}

interface Case {
  name: string;
  text: string;
  path: string;
  line: number;
  message: RegExp;
}

const CASES: Case[] = [
  { name: 'weight above 99', text: edit('- setWeight: 20', '- setWeight: 100'), path: 'spec.steps[0].setWeight', line: 11, message: /at most 99, got 100/ },
  { name: 'weight 0', text: edit('- setWeight: 20', '- setWeight: 0'), path: 'spec.steps[0].setWeight', line: 11, message: /at least 1/ },
  { name: 'weight as a string', text: edit('- setWeight: 20', '- setWeight: "20"'), path: 'spec.steps[0].setWeight', line: 11, message: /must be an integer, got "20"/ },
  { name: 'step with both', text: edit('- setWeight: 50', '- setWeight: 50\n  pause: {}'), path: 'spec.steps[2]', line: 13, message: /^Invalid value: a step must have exactly one of setWeight or pause$/ },
  { name: 'empty step', text: edit('- setWeight: 50', '- {}'), path: 'spec.steps[2]', line: 13, message: /exactly one of setWeight or pause/ },
  { name: 'malformed duration', text: edit('- pause: { duration: 5m }', '- pause: { duration: 5 minutes }'), path: 'spec.steps[1].pause.duration', line: 12, message: /Go-style duration/ },
  { name: 'pause under 1s', text: edit('- pause: { duration: 5m }', '- pause: { duration: 500ms }'), path: 'spec.steps[1].pause', line: 12, message: /^Invalid value: pause.duration must be at least 1s$/ },
  { name: 'progressDeadline under 1s', text: edit('progressDeadline: 10m', 'progressDeadline: 0s'), path: 'spec.progressDeadline', line: 9, message: /progressDeadline must be at least 1s/ },
  { name: 'interval under 1s', text: edit('interval: 30s', 'interval: 100ms'), path: 'spec.analysis.interval', line: 16, message: /interval must be at least 1s/ },
  { name: 'negative failureLimit', text: edit('failureLimit: 1', 'failureLimit: -1'), path: 'spec.analysis.failureLimit', line: 17, message: /at least 0/ },
  { name: 'unknown field', text: edit('failureLimit: 1', 'failurelimit: 1'), path: 'spec.analysis.failurelimit', line: 17, message: /unknown field "failurelimit"/ },
  { name: 'missing targetRef', text: edit('targetRef:', 'targetRefs:'), path: 'spec.targetRef', line: 6, message: /is required/ },
  { name: 'bad check name', text: edit('- name: error-rate', '- name: Error_Rate'), path: 'spec.analysis.checks[0].name', line: 19, message: /lowercase name/ },
  { name: 'duplicate check name', text: edit('- name: monitors', '- name: error-rate'), path: 'spec.analysis.checks[1]', line: 24, message: /duplicate check name "error-rate"/ },
  { name: 'check with two kinds', text: edit('datadogMonitor:', 'datadogQuery: { query: x, max: 1 }\ndatadogMonitor:'), path: 'spec.analysis.checks[1]', line: 24, message: /^Invalid value: a check must have exactly one of datadogMonitor, datadogQuery, compare, prometheusQuery or webhook$/ },
  { name: 'monitor with two selectors', text: edit('tags: ["service:{{ name }}"]', 'tags: [a]\nid: 12'), path: 'spec.analysis.checks[1].datadogMonitor', line: 25, message: /^Invalid value: datadogMonitor needs exactly one of id, tags or query$/ },
  { name: 'query without bounds', text: edit('max: 0.5', 'window: 5m').replace('          window: 5m\n          window: 5m', '          window: 5m'), path: 'spec.analysis.checks[0].datadogQuery', line: 20, message: /needs min, max or both/ },
  { name: 'min above max', text: edit('max: 0.5', 'max: 0.5\nmin: 2'), path: 'spec.analysis.checks[0].datadogQuery', line: 20, message: /^Invalid value: datadogQuery.min must not exceed max$/ },
  { name: 'unknown template variable', text: edit('query: "sum:', 'query: "sum:errors{version:{{ release }}}"'), path: 'spec.analysis.checks[0].datadogQuery.query', line: 21, message: /unknown variable "release"/ },
  { name: 'unknown variable in a group', text: edit('group: ', 'group: "version:{{ canaryVersion }}"'), path: 'spec.analysis.checks[1].datadogMonitor.group', line: 27, message: /unknown variable "canaryVersion"/ },
  { name: 'checks without datadog', text: edit('datadog:', 'paused: false').replace(/\s+secretRef:\n\s+name: datadog\n/, '\n'), path: 'spec', line: 6, message: /^Invalid value: datadog.secretRef is required when a check uses Datadog \(datadogMonitor, datadogQuery or compare without compare.prometheus\)$/ },
  { name: 'dora without datadog', text: edit('datadog:', 'dora: { enabled: true, env: prod }').replace(/\s+secretRef:\n\s+name: datadog\n/, '\n'), path: 'spec', line: 6, message: /^Invalid value: datadog.secretRef is required when dora is enabled$/ },
  { name: 'dora with an empty service', text: edit('progressDeadline: 10m', 'progressDeadline: 10m\ndora: { enabled: true, service: "" }'), path: 'spec.dora.service', line: 10, message: /^must not be empty$/ },
  { name: 'bad verdict', text: edit('group: ', 'verdicts: { warn: fail }'), path: 'spec.analysis.checks[1].datadogMonitor.verdicts.warn', line: 27, message: /one of Pass, Fail, Inconclusive, got "fail"/ },
  { name: 'wrong apiVersion', text: edit('apiVersion:', 'apiVersion: deployer.dev/v1'), path: 'apiVersion', line: 1, message: /must be deployer.dev\/v1alpha1/ },
  { name: 'missing name', text: edit('name: checkout', 'labels: {}'), path: 'metadata.name', line: 3, message: /is required/ },
  { name: 'a name of 64 characters', text: edit('name: checkout', `name: ${'c'.repeat(64)}`), path: '', line: 1, message: /^Invalid value: metadata.name must be at most 63 characters: the Canary's name becomes a label value/ },
  { name: 'a target that is not a Deployment name', text: VALID.replace('  targetRef:\n    name: checkout', '  targetRef:\n    name: Check_Out'), path: 'spec.targetRef.name', line: 8, message: /targetRef.name must be a Deployment name/ },
  { name: 'a unicode target name', text: VALID.replace('  targetRef:\n    name: checkout', '  targetRef:\n    name: kasse-ü'), path: 'spec.targetRef.name', line: 8, message: /targetRef.name must be a Deployment name/ },
  { name: 'a target name over 253 characters', text: VALID.replace('  targetRef:\n    name: checkout', `  targetRef:\n    name: ${'a'.repeat(254)}`), path: 'spec.targetRef.name', line: 8, message: /at most 253 characters long \(is 254\)/ },
  { name: 'a Secret name with a slash', text: VALID.replace('      name: datadog', '      name: shop/datadog'), path: 'spec.datadog.secretRef.name', line: 30, message: /secretRef.name must be a Secret name/ },
  { name: 'a pause over 168h', text: edit('- pause: { duration: 5m }', '- pause: { duration: 169h }'), path: 'spec.steps[1].pause', line: 12, message: /^Invalid value: pause.duration must be at most 168h \(7 days\)/ },
  { name: 'a pause at 168h and 1ms', text: edit('- pause: { duration: 5m }', '- pause: { duration: 168h1ms }'), path: 'spec.steps[1].pause', line: 12, message: /^Invalid value: pause.duration must be at most 168h/ },
  { name: 'a duration too long to be a number', text: edit('- pause: { duration: 5m }', '- pause: { duration: 99999999999999999999h }'), path: 'spec.steps[1].pause.duration', line: 12, message: /Go-style duration|at most 16 characters/ },
  { name: 'a progressDeadline over 24h', text: edit('progressDeadline: 10m', 'progressDeadline: 25h'), path: 'spec.progressDeadline', line: 9, message: /progressDeadline must be at most 24h/ },
  { name: 'an interval over 1h', text: edit('interval: 30s', 'interval: 61m'), path: 'spec.analysis.interval', line: 16, message: /analysis.interval must be at most 1h/ },
  { name: 'a query window over 24h', text: edit('window: 5m', 'window: 1441m'), path: 'spec.analysis.checks[0].datadogQuery.window', line: 23, message: /window must be at most 24h/ },
  { name: 'a monitor id beyond 2^53-1', text: edit('tags: ["service:{{ name }}"]', 'id: 9007199254740993'), path: 'spec.analysis.checks[1].datadogMonitor.id', line: 26, message: /at most 9007199254740991/ },
  { name: 'a monitor id beyond int64', text: edit('tags: ["service:{{ name }}"]', 'id: 99999999999999999999999'), path: 'spec.analysis.checks[1].datadogMonitor.id', line: 26, message: /at most 9007199254740991/ },
  { name: 'a monitor id beyond 64 bits', text: edit('tags: ["service:{{ name }}"]', 'id: 99999999999999999999999'), path: 'spec.analysis.checks[1].datadogMonitor.id', line: 26, message: /^must be an integer that fits in 64 bits, got 1e\+23$/ },
  { name: 'a monitor id of 0', text: edit('tags: ["service:{{ name }}"]', 'id: 0'), path: 'spec.analysis.checks[1].datadogMonitor.id', line: 26, message: /at least 1/ },
  { name: 'a fractional monitor id', text: edit('tags: ["service:{{ name }}"]', 'id: 12.5'), path: 'spec.analysis.checks[1].datadogMonitor.id', line: 26, message: /must be an integer/ },
  { name: 'a failureLimit over 1000', text: edit('failureLimit: 1', 'failureLimit: 1001'), path: 'spec.analysis.failureLimit', line: 17, message: /at most 1000/ },
  { name: 'a tag over 200 characters', text: edit('tags: ["service:{{ name }}"]', `tags: ["${'t'.repeat(201)}"]`), path: 'spec.analysis.checks[1].datadogMonitor.tags[0]', line: 26, message: /at most 200 characters/ },
  { name: 'a unicode check name', text: edit('- name: error-rate', '- name: fehlerrate-ä'), path: 'spec.analysis.checks[0].name', line: 19, message: /lowercase name/ },
  { name: 'a check name of 64 characters', text: edit('- name: error-rate', `- name: ${'e'.repeat(64)}`), path: 'spec.analysis.checks[0].name', line: 19, message: /at most 63 characters long \(is 64\)/ },
  { name: 'an unclosed template', text: edit('group: ', 'group: "version:{{ version"'), path: 'spec.analysis.checks[1].datadogMonitor.group', line: 27, message: /unclosed|unknown|\{\{/ },
  {
    name: 'a step list of 51 steps',
    text: VALID.replace('    - pause: {}\n', `${'    - setWeight: 10\n'.repeat(47)}    - pause: {}\n`),
    path: 'spec.steps',
    line: 10,
    message: /at most 50 items/,
  },
];

describe('validateCanaryFile', () => {
  it('accepts a valid Canary', () => {
    expect(validateCanaryFile(VALID, 'c.yaml')).to.deep.equal([]);
  });

  for (const c of CASES) {
    it(`reports ${c.name} at ${c.path}, line ${c.line}`, () => {
      const problems = validateCanaryFile(c.text, 'c.yaml');
      const match = problems.find((p) => p.path === c.path && c.message.test(p.message));
      expect(match, JSON.stringify(problems, null, 2)).to.not.equal(undefined);
      expect(match?.line, JSON.stringify(match)).to.equal(c.line);
      expect(match?.file).to.equal('c.yaml');
    });
  }

  it('validates every Canary of a multi-document file and skips other kinds', () => {
    const text = `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {setWeight: "0"}\n---\n${edit('- setWeight: 20', '- setWeight: 0')}---\n`;
    const problems = validateCanaryFile(text, 'multi.yaml');
    expect(problems.map((p) => [p.path, p.line])).to.deep.equal([['spec.steps[0].setWeight', 16]]);
  });

  it('reports documents that are not objects', () => {
    const problems = validateCanaryFile(`${VALID}---\n- a\n- b\n---\njust text\n`, 'x.yaml');
    expect(problems.map((p) => [p.line, p.message.slice(0, 30)])).to.deep.equal([
      [32, 'document 2 is not an object bu'],
      [35, 'document 3 is not an object bu'],
    ]);
  });

  it('reports YAML syntax errors with their position', () => {
    const problems = validateCanaryFile('kind: Canary\nspec:\n  steps: [\n', 'bad.yaml');
    expect(problems.length).to.be.greaterThan(0);
    expect(problems[0]?.message).to.match(/^invalid YAML/);
    expect(problems[0]?.line).to.be.greaterThan(0);
  });

  it('accepts an empty file', () => {
    expect(validateCanaryFile('', 'empty.yaml')).to.deep.equal([]);
    expect(validateCanaryFile('# nothing\n---\n', 'empty.yaml')).to.deep.equal([]);
  });

  it('gives 1-based columns pointing at the key', () => {
    const problems = validateCanaryFile(edit('- setWeight: 20', '- setWeight: 100'), 'c.yaml');
    expect(problems[0]).to.include({ line: 11, column: 7 });
  });
});

describe('canaryWarnings', () => {
  const withSteps = (steps: unknown[], checks = true): unknown => ({
    apiVersion: 'deployer.dev/v1alpha1',
    kind: 'Canary',
    metadata: { name: 'web' },
    spec: {
      targetRef: { name: 'web' },
      steps,
      ...(checks ? { analysis: { checks: [{ name: 'errors', datadogMonitor: { id: 1 } }] }, datadog: { secretRef: { name: 'dd' } } } : {}),
    },
  });
  const NO_PAUSE = /no pause after the last setWeight: .*one passing measurement of every check.*then promoted/;
  const NO_WEIGHT = /no setWeight: one canary pod runs beside the stable pods/;
  const cases: Array<{ name: string; steps: unknown[]; checks?: boolean; warn: string | undefined; says?: RegExp }> = [
    { name: 'setWeight only, with checks', steps: [{ setWeight: 20 }, { setWeight: 50 }], warn: 'spec.steps[1]' },
    { name: 'a pause before the last setWeight only', steps: [{ setWeight: 20 }, { pause: { duration: '5m' } }, { setWeight: 50 }], warn: 'spec.steps[2]' },
    { name: 'a pause after the last setWeight', steps: [{ setWeight: 20 }, { pause: { duration: '5m' } }], warn: undefined },
    { name: 'an indefinite pause at the end', steps: [{ setWeight: 20 }, { pause: {} }], warn: undefined },
    { name: 'no checks', steps: [{ setWeight: 20 }], checks: false, warn: undefined },
    { name: 'no steps, with checks', steps: [], warn: 'spec.steps', says: NO_WEIGHT },
    { name: 'pauses only, with checks', steps: [{ pause: { duration: '5m' } }], warn: 'spec.steps', says: NO_WEIGHT },
    { name: 'no steps, no checks', steps: [], checks: false, warn: undefined },
  ];
  for (const c of cases) {
    it(`${c.name}: ${c.warn ? `warns at ${c.warn}` : 'no warning'}`, () => {
      const warnings = canaryWarnings(withSteps(c.steps, c.checks ?? true));
      if (!c.warn) expect(warnings).to.deep.equal([]);
      else {
        expect(warnings).to.have.length(1);
        expect(warnings[0]?.path).to.equal(c.warn);
        expect(warnings[0]?.message).to.match(c.says ?? NO_PAUSE);
      }
    });
  }

  it('depctl validate lists the warning with its position, apart from the problems', () => {
    const text = VALID.replace('    - pause: {}\n', '');
    const problems = validateCanaryFile(text, 'c.yaml');
    expect(problems.filter((p) => p.severity !== 'warning')).to.deep.equal([]);
    expect(problems.filter((p) => p.severity === 'warning').map((p) => [p.path, p.line])).to.deep.equal([['spec.steps[2]', 13]]);
  });

  it('validateCanary (the controller) does not treat the warning as a problem', () => {
    expect(validateCanary(withSteps([{ setWeight: 20 }]))).to.deep.equal([]);
  });
});

describe('validateCanary', () => {
  it('rejects non-objects', () => {
    expect(validateCanary(null)).to.deep.equal([{ path: '', message: 'a Canary must be an object, got null' }]);
    expect(validateCanary([])[0]?.message).to.match(/got a list/);
  });

  it('requires spec', () => {
    expect(validateCanary({ apiVersion: 'deployer.dev/v1alpha1', kind: 'Canary', metadata: { name: 'x' } })).to.deep.equal([
      { path: 'spec', message: 'is required' },
      { path: '', message: 'some validation rules were not checked because the object was invalid; correct the existing errors to complete validation' },
    ]);
  });

  it('reports a wrongly typed steps list without throwing', () => {
    const problems = validateCanary({ spec: { targetRef: { name: 'x' }, steps: 'setWeight 10' } });
    expect(problems).to.deep.include({ path: 'spec.steps', message: 'must be a list, got "setWeight 10"' });
  });

  it('does not validate status beyond the schema', () => {
    expect(validateCanary({ spec: { targetRef: { name: 'x' }, steps: [] }, status: { anything: { goes: 1 }, phase: 'Progressing' } })).to.deep.equal([]);
  });
});

describe('paths', () => {
  it('converts JSON pointers and splits paths', () => {
    expect(pointerToPath('/spec/steps/2/setWeight')).to.equal('spec.steps[2].setWeight');
    expect(pointerToPath('/metadata/annotations/deployer.dev~1promote')).to.equal('metadata.annotations.deployer.dev/promote');
    expect(splitPath('spec.analysis.checks[10].name')).to.deep.equal(['spec', 'analysis', 'checks', 10, 'name']);
  });
});

describe('validateCanary: compare checks and baseline pods', () => {
  const spec = (analysis: Record<string, unknown>) => ({
    apiVersion: 'deployer.dev/v1alpha1',
    kind: 'Canary',
    metadata: { name: 'web', namespace: 'shop' },
    spec: { targetRef: { name: 'web' }, steps: [{ setWeight: 20 }, { pause: { duration: '10m' } }], analysis, datadog: { secretRef: { name: 'datadog' } } },
  });
  const compare = (over: Record<string, unknown> = {}) => ({ name: 'latency', compare: { query: 'avg:latency{service:web,role:{{ role }}}', ...over } });
  const cases: Array<{ name: string; analysis: Record<string, unknown>; want: RegExp | null; path?: string }> = [
    { name: 'a compare check with baseline pods is valid', analysis: { baseline: true, checks: [compare({ higherIsWorse: false, minPoints: 20, significance: 0.01, tolerance: 0.05, window: '15m' })] }, want: null },
    { name: 'a compare check without baseline pods', analysis: { checks: [compare()] }, want: /compare checks need analysis.baseline set to true/, path: 'spec' },
    { name: 'a compare check with baseline: false', analysis: { baseline: false, checks: [compare()] }, want: /compare checks need analysis.baseline set to true/, path: 'spec' },
    { name: 'a compare query without {{ role }}', analysis: { baseline: true, checks: [compare({ query: 'avg:latency{service:web}' })] }, want: /compare.query needs \{\{ role \}\} in its scope/, path: 'spec.analysis.checks[0].compare' },
    { name: '{{ role }} in a datadogQuery is an unknown variable', analysis: { checks: [{ name: 'q', datadogQuery: { query: 'avg:x{role:{{ role }}}', max: 1 } }] }, want: /unknown variable "role"/, path: 'spec.analysis.checks[0].datadogQuery.query' },
    { name: 'a compare check that also has a query', analysis: { baseline: true, checks: [{ ...compare(), datadogQuery: { query: 'avg:x{*}', max: 1 } }] }, want: /exactly one of datadogMonitor, datadogQuery, compare, prometheusQuery or webhook/, path: 'spec.analysis.checks[0]' },
    { name: 'significance above 0.5', analysis: { baseline: true, checks: [compare({ significance: 0.6 })] }, want: /must be at most 0.5/, path: 'spec.analysis.checks[0].compare.significance' },
    { name: 'minPoints below 3', analysis: { baseline: true, checks: [compare({ minPoints: 2 })] }, want: /must be at least 3/, path: 'spec.analysis.checks[0].compare.minPoints' },
    { name: 'a negative tolerance', analysis: { baseline: true, checks: [compare({ tolerance: -0.1 })] }, want: /must be at least 0, got -0.1/, path: 'spec.analysis.checks[0].compare.tolerance' },
    { name: 'a window over 24h', analysis: { baseline: true, checks: [compare({ window: '25h' })] }, want: /compare.window must be at most 24h/, path: 'spec.analysis.checks[0].compare.window' },
    { name: 'baseline must be a boolean', analysis: { baseline: 'yes' }, want: /boolean/, path: 'spec.analysis.baseline' },
  ];
  for (const tc of cases) {
    it(tc.name, () => {
      const problems = validateCanary(spec(tc.analysis));
      if (tc.want === null) {
        expect(problems).to.deep.equal([]);
        return;
      }
      const hit = problems.find((p) => tc.want!.test(p.message));
      expect(hit, JSON.stringify(problems)).to.not.equal(undefined);
      expect(hit!.path).to.equal(tc.path);
    });
  }
});

describe('validateCanary: compare checks on Prometheus', () => {
  const spec = (checks: unknown[], datadog = false) => ({
    apiVersion: 'deployer.dev/v1alpha1',
    kind: 'Canary',
    metadata: { name: 'web', namespace: 'shop' },
    spec: { targetRef: { name: 'web' }, steps: [{ setWeight: 20 }, { pause: { duration: '10m' } }], analysis: { baseline: true, checks }, ...(datadog ? { datadog: { secretRef: { name: 'datadog' } } } : {}) },
  });
  const prom = (over: Record<string, unknown> = {}, conn: Record<string, unknown> = {}) => ({
    name: 'latency',
    compare: { query: 'avg(lat{app="web",role="{{ role }}"})', prometheus: { address: 'http://prometheus.monitoring:9090', ...conn }, ...over },
  });
  const cases: Array<{ name: string; checks: unknown[]; datadog?: boolean; want: RegExp | null; path?: string }> = [
    { name: 'a Prometheus compare check needs no spec.datadog', checks: [prom({ step: '15s', window: '10m' }, { auth: { secretRef: { name: 'prom' } }, tls: { caSecretRef: { name: 'ca' } } })], want: null },
    { name: 'a Datadog compare check next to it still needs spec.datadog', checks: [prom(), { name: 'dd', compare: { query: 'avg:lat{role:{{ role }}}' } }], want: /datadog.secretRef is required when a check uses Datadog/, path: 'spec' },
    { name: 'a step without prometheus', checks: [{ name: 'dd', compare: { query: 'avg:lat{role:{{ role }}}', step: '30s' } }], datadog: true, want: /compare.step applies to Prometheus only/, path: 'spec.analysis.checks[0].compare' },
    { name: 'a step under 1s', checks: [prom({ step: '500ms' })], want: /compare.step must be at least 1s/, path: 'spec.analysis.checks[0].compare.step' },
    { name: 'an address that is not a URL', checks: [prom({}, { address: 'prometheus:9090' })], want: /compare.prometheus.address must be an http:\/\/ or https:\/\/ URL/, path: 'spec.analysis.checks[0].compare.prometheus.address' },
    { name: 'an unknown variable in the address', checks: [prom({}, { address: 'http://prometheus.{{ zone }}:9090' })], want: /unknown variable "zone"/, path: 'spec.analysis.checks[0].compare.prometheus.address' },
    { name: 'an auth Secret name that is not a name', checks: [prom({}, { auth: { secretRef: { name: 'Prom_Auth' } } })], want: /compare.prometheus.auth.secretRef.name must be a Secret name/, path: 'spec.analysis.checks[0].compare.prometheus.auth.secretRef.name' },
    { name: 'a prometheus without address', checks: [prom({ prometheus: {} })], want: /^is required$/, path: 'spec.analysis.checks[0].compare.prometheus.address' },
  ];
  for (const tc of cases) {
    it(tc.name, () => {
      const problems = validateCanary(spec(tc.checks, tc.datadog));
      if (tc.want === null) {
        expect(problems).to.deep.equal([]);
        return;
      }
      const hit = problems.find((p) => tc.want!.test(p.message));
      expect(hit, JSON.stringify(problems)).to.not.equal(undefined);
      expect(hit!.path).to.equal(tc.path);
    });
  }
});
