// One engine for the CRD's rules: every row of the invalid-input catalogue (bad-input-cases.ts) goes
// through `kubectl apply --dry-run=server` (the real apiserver, enforcing crds/ of this tree) and
// through `depctl validate` (the real bin/depctl.js), which must agree:
//   - the verdict (refused or accepted); rows that only the controller refuses (template
//     variables, which CEL cannot parse) are accepted by the apiserver and refused by depctl;
//   - every CEL rule failure, path and text alike ("spec.steps[0]: Invalid value: …"); for a rule
//     that cannot be evaluated, the path and the rule's message (the engines word their own errors);
//   - the paths of the schema errors (the texts differ: depctl words them for people, via ajv), and
//     the note that the CEL rules were not run after a blocking schema error.
// And every CEL rule of the CRD is refused by the apiserver in at least one row.
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { compileRules } from '../../src/api/cel-rules.js';
import { readCanaryCrd } from '../../src/api/validate.js';
import { deleteNamespace, kubectl, repoRoot, run, uniqueNamespace } from '../support/cluster.js';
import { APPLY_CASES, CLI_CASES, SPEC_CASES, analysis, manifest } from './bad-input-cases.js';

interface Row {
  name: string;
  text: string;
  /** The controller's message when only the controller refuses the row. */
  controllerOnly?: RegExp;
}

const ROWS: Row[] = [
  ...APPLY_CASES.map((c) => ({ name: c.name, text: manifest(c.canary ?? 'bad', c.spec, c.edit) })),
  ...SPEC_CASES.map((c) => ({ name: c.name, text: manifest('tpl', { analysis: analysis(c.checks), datadog: { secretRef: { name: 'datadog' } } }), controllerOnly: c.message })),
  ...CLI_CASES.map((c) => ({ name: `depctl row: ${c.name}`, text: c.text, ...(/template/.test(c.name) ? { controllerOnly: /unknown variable/ } : {}) })),
];

interface Finding {
  path: string;
  detail: string;
}

const CRD_FILE = join(repoRoot, 'crds/deployer.dev_canaries.yaml');
const BLOCKED = 'some validation rules were not checked because the object was invalid; correct the existing errors to complete validation';

/** The errors in kubectl's stderr: "The Canary "x" is invalid: <path>: <detail>" or a "* " list of them; strict decoding errors. */
function apiserverFindings(stderr: string): Finding[] {
  // kubectl reads the file before any request: YAML that does not parse never reaches the apiserver.
  if (/error parsing .*YAML/.test(stderr)) return [{ path: '', detail: 'invalid YAML' }];
  const unknown = [...stderr.matchAll(/unknown field "([^"]+)"/g)].map((m) => ({ path: m[1] ?? '', detail: 'unknown field' }));
  if (unknown.length > 0) return unknown;
  const at = stderr.indexOf(' is invalid: ');
  if (at < 0) return [];
  const body = stderr.slice(at + ' is invalid: '.length).trim();
  const entries = body.startsWith('* ') ? body.split(/\n\* /).map((e) => e.replace(/^\* /, '')) : [body];
  return entries.map((e) => {
    const i = e.indexOf(': ');
    const path = e.slice(0, i);
    const detail = e.slice(i + 2).trim();
    // The int64 check names its field in the text, at the root: "Checked value must be of type integer with format int64 in <path>".
    const named = /^Invalid value: "": Checked value must be .* in (\S+)$/.exec(detail)?.[1];
    return { path: named ?? (path === '<nil>' ? '' : path), detail };
  });
}

/** depctl's lines for one file: "<file>:<line>:<col>: [<path>: ]<detail>" (warnings left out). */
function depctlFindings(stdout: string, file: string): Finding[] {
  const out: Finding[] = [];
  for (const line of stdout.split('\n')) {
    if (!line.startsWith(`${file}:`)) continue;
    const rest = line.slice(file.length + 1).trim().replace(/^\d+:\d+: /, '');
    if (rest.startsWith('warning: ') || /^ok \(/.test(rest)) continue;
    if (/^(Invalid value|Required value|Forbidden|Duplicate value): /.test(rest) || rest.startsWith('invalid YAML') || rest === BLOCKED) {
      out.push({ path: '', detail: rest });
      continue;
    }
    const i = rest.indexOf(': ');
    out.push({ path: rest.slice(0, i), detail: rest.slice(i + 2) });
  }
  return out;
}

const sortKeys = (o: unknown): unknown =>
  Array.isArray(o) ? o.map(sortKeys) : o && typeof o === 'object' ? Object.fromEntries(Object.keys(o).sort().map((k) => [k, sortKeys((o as Record<string, unknown>)[k])])) : o;

describe('The CRD rules: kubectl apply --dry-run=server and depctl validate agree on the whole catalogue', function () {
  this.timeout(300_000);
  const schema = (readCanaryCrd() as { spec: { versions: Array<{ schema: { openAPIV3Schema: unknown } }> } }).spec.versions[0]?.schema.openAPIV3Schema;
  const compiled = compileRules(schema);
  const ruleMessages = compiled.rules.map((r) => r.message ?? `failed rule: ${r.rule}`);
  const isRuleFailure = (f: Finding): boolean => ruleMessages.some((m) => f.detail.endsWith(m)) && f.detail !== BLOCKED;
  /** A rule failure as compared: the whole text, or path and message for a rule that could not be evaluated. */
  const ruleKey = (f: Finding): string => {
    const i = f.detail.indexOf(' evaluating rule: ');
    return i < 0 ? `${f.path}: ${f.detail}` : `${f.path}: <could not evaluate> ${f.detail.slice(i + ' evaluating rule: '.length)}`;
  };

  let ns = '';
  let dir = '';
  const api = new Map<string, { code: number; findings: Finding[]; stderr: string }>();
  const cli = new Map<string, Finding[]>();

  before(async () => {
    // Shared control plane: apply this tree's CRD only when the served schema differs from it.
    const live = await kubectl(['get', 'crd', 'canaries.deployer.dev', '-o', 'json']);
    const liveSchema = live.code === 0 ? (JSON.parse(live.stdout) as { spec: { versions: Array<{ schema: unknown }> } }).spec.versions[0]?.schema : undefined;
    const mine = (parse(readFileSync(CRD_FILE, 'utf8')) as { spec: { versions: Array<{ schema: unknown }> } }).spec.versions[0]?.schema;
    if (JSON.stringify(sortKeys(liveSchema)) !== JSON.stringify(sortKeys(mine))) {
      const r = await kubectl(['apply', '--server-side', '--force-conflicts', '-f', CRD_FILE]);
      if (r.code !== 0) throw new Error(`kubectl apply of ${CRD_FILE} failed: ${r.stderr}`);
      await kubectl(['wait', '--for=condition=Established', 'crd/canaries.deployer.dev', '--timeout=30s']);
    }
    ns = await uniqueNamespace('celparity');
    dir = mkdtempSync(join(tmpdir(), 'cel-parity-'));
    const files = ROWS.map((row, i) => {
      const file = join(dir, `row-${i}.yaml`);
      writeFileSync(file, row.text);
      return file;
    });
    // Four dry runs at a time; one depctl validate over every file.
    const queue = ROWS.map((row, i) => ({ row, i }));
    const worker = async (): Promise<void> => {
      for (let next = queue.shift(); next; next = queue.shift()) {
        const r = await kubectl(['apply', '--dry-run=server', '-n', ns, '-f', '-'], { input: next.row.text });
        api.set(next.row.name, { code: r.code, findings: r.code === 0 ? [] : apiserverFindings(r.stderr), stderr: r.stderr });
      }
    };
    const depctl = run(process.execPath, [join(repoRoot, 'bin/depctl.js'), 'validate', ...files], { timeoutMs: 120_000 });
    await Promise.all([worker(), worker(), worker(), worker()]);
    const r = await depctl;
    ROWS.forEach((row, i) => cli.set(row.name, depctlFindings(r.stdout, files[i] ?? '')));
  });

  after(async () => {
    if (ns) await deleteNamespace(ns);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  for (const row of ROWS) {
    it(`agrees on ${row.name}`, () => {
      const a = api.get(row.name);
      const d = cli.get(row.name) ?? [];
      expect(a, 'the dry run ran').to.not.equal(undefined);
      if (!a) return;
      const context = `apiserver:\n${a.stderr}\ndepctl validate:\n${d.map((f) => `${f.path}: ${f.detail}`).join('\n')}`;
      if (row.controllerOnly) {
        expect(a.code, context).to.equal(0);
        expect(d.map((f) => f.detail).some((m) => row.controllerOnly?.test(m)), context).to.equal(true);
        return;
      }
      // Verdict.
      expect(a.code === 0, context).to.equal(d.length === 0);
      if (a.code === 0) return;
      expect(a.findings.length, `the apiserver's errors were parsed\n${context}`).to.be.greaterThan(0);
      // CEL rule failures: the same, path and text.
      expect(d.filter(isRuleFailure).map(ruleKey).sort(), context).to.deep.equal(a.findings.filter(isRuleFailure).map(ruleKey).sort());
      // Both say when a schema error kept the CEL rules from running (depctl says it for unknown fields too,
      // which the apiserver refuses before validating).
      const notChecked = (fs: Finding[]): boolean => fs.some((f) => f.detail.endsWith(BLOCKED));
      if (notChecked(a.findings)) expect(notChecked(d), context).to.equal(true);
      // Schema errors: the same paths (a row whose YAML does not parse has none on either side).
      const schemaPaths = (fs: Finding[]): string[] => [...new Set(fs.filter((f) => !isRuleFailure(f) && f.detail !== BLOCKED && f.detail !== `Invalid value: null: ${BLOCKED}`).map((f) => f.path))].sort();
      expect(schemaPaths(d), context).to.deep.equal(schemaPaths(a.findings));
    });
  }

  it('covers every CEL rule of the CRD: each is refused by the apiserver in some row, with its message', () => {
    const seen = new Set<string>();
    for (const { findings } of api.values()) for (const f of findings) for (const m of ruleMessages) if (f.detail.endsWith(m)) seen.add(m);
    expect(ruleMessages.filter((m) => !seen.has(m))).to.deep.equal([]);
    const refused = [...api.values()].filter((a) => a.code !== 0).length;
    const ruleFailures = [...api.values()].reduce((n, a) => n + a.findings.filter(isRuleFailure).length, 0);
    // Counts for the record (printed, not asserted beyond the coverage above).
    console.log(`      ${ROWS.length} rows: ${refused} refused by the apiserver, ${ROWS.length - refused} accepted; ${ruleFailures} CEL rule failures compared; ${ruleMessages.length} CEL rules covered (plus ${compiled.transitionRules.length} transition rule, checked on update in bad-input.test.ts)`);
  });

});
