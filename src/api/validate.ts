// Validation of a Canary, shared by the controller (InvalidSpec) and `depctl validate`.
//
// Three layers, reported together:
//   1. the CRD's openAPIV3Schema (types, enums, bounds, patterns, required fields, unknown fields),
//      checked with ajv against the schema read from crds/deployer.dev_canaries.yaml;
//   2. the CRD's CEL rules (x-kubernetes-validations), run by a CEL engine (cel-rules.ts) with the
//      apiserver's paths and messages. As the apiserver does, they are not run when the schema
//      already failed with a blocking error (wrong type, missing field, too long, too many, not
//      one of the enum, unknown field), which would leave the rules looking at ill-typed values;
//   3. what the schema and CEL cannot say: unique check names (the list's map keys) and the
//      template variables in queries and groups (the controller's own rules).
//
// The schema is read at run time, not copied into the code, so the CRD stays the one source of truth.
// The file is looked up relative to this module: `../../crds/` from src/api/ (run with tsx) and
// `../../../crds/` from dist/src/api/ (compiled). A container image must therefore ship crds/ next
// to dist/ (the Dockerfile does).

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { isMap, isScalar, isSeq, LineCounter, parse, parseAllDocuments, type Node as YamlNode } from 'yaml';
import { renderTemplate } from '../analysis/template.js';
import { compileRules, evaluateRules, type CompiledRules } from './cel-rules.js';
import { API_VERSION, CANARY_KIND, GROUP } from './types.js';

export interface Problem {
  /** Where, e.g. "spec.steps[2].setWeight". */
  path: string;
  message: string;
  /** Set for a warning: the Canary is valid but probably not what its author meant. */
  severity?: 'warning';
  /** The CRD's CEL rule that failed, when one did; the message is then the apiserver's ("Invalid value: …"). */
  rule?: string;
}

export interface FileProblem extends Problem {
  file: string;
  /** 1-based. */
  line: number;
  /** 1-based. */
  column: number;
}

/** Variables a query or monitor group may use, as `{{ version }}`. */
export const TEMPLATE_VARIABLES = ['version', 'stableVersion', 'revision', 'name', 'namespace', 'target'] as const;

const CRD_FILE = 'deployer.dev_canaries.yaml';
const CRD_LOCATIONS = [`../../crds/${CRD_FILE}`, `../../../crds/${CRD_FILE}`];
const DURATION_HINT = 'a Go-style duration such as 30s, 2m or 1h30m';

// ---------------------------------------------------------------- schema

type JsonObject = Record<string, unknown>;

/** Reads the Canary CRD shipped with the operator. Throws with the places it looked when it is missing. */
export function readCanaryCrd(): JsonObject {
  const tried: string[] = [];
  for (const rel of CRD_LOCATIONS) {
    const file = fileURLToPath(new URL(rel, import.meta.url));
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      tried.push(file);
      continue;
    }
    return parse(text) as JsonObject;
  }
  throw new Error(`cannot find the Canary CRD (${CRD_FILE}); looked in ${tried.join(', ')}`);
}

/**
 * Turns a structural Kubernetes schema into a JSON schema ajv accepts: drops `x-kubernetes-*` and
 * `format` except int64 (a number beyond 64 bits is not an integer to the apiserver; date-time is not checked), and rejects unknown fields the way the apiserver's
 * strict field validation does, except where the schema preserves unknown fields.
 */
export function toJsonSchema(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map((s) => toJsonSchema(s));
  if (schema === null || typeof schema !== 'object') return schema;
  const src = schema as JsonObject;
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(src)) {
    if (key.startsWith('x-kubernetes-') || (key === 'format' && value !== 'int64')) continue;
    if (key === 'properties' && value && typeof value === 'object') {
      out[key] = Object.fromEntries(Object.entries(value as JsonObject).map(([k, v]) => [k, toJsonSchema(v)]));
    } else if (key === 'items' || key === 'additionalProperties') {
      out[key] = toJsonSchema(value);
    } else {
      out[key] = value;
    }
  }
  if (src.properties && src['x-kubernetes-preserve-unknown-fields'] !== true && !('additionalProperties' in src)) {
    out.additionalProperties = false;
  }
  return out;
}

/** The CRD's checks, compiled once: the schema for ajv and the CEL rules for the engine. */
export interface CanaryValidator {
  schema: ValidateFunction;
  rules: CompiledRules;
}

let shipped: CanaryValidator | undefined;

/** Compiles the checks of a Canary CRD object (the shipped one by default: see canaryValidator()). */
export function compileCanaryValidator(crd: unknown): CanaryValidator {
  const spec = (crd as { spec?: { versions?: Array<{ name?: string; schema?: { openAPIV3Schema?: unknown } }> } } | null)?.spec;
  const version = spec?.versions?.find((v) => `${GROUP}/${v.name}` === API_VERSION);
  const schema = version?.schema?.openAPIV3Schema;
  if (!schema) throw new Error(`the Canary CRD has no openAPIV3Schema for ${API_VERSION}`);
  const ajv = new Ajv({ allErrors: true, strict: false });
  ajv.addFormat('int64', { type: 'number', validate: (x: number) => Number.isInteger(x) && x >= -(2 ** 63) && x < 2 ** 63 });
  return { schema: ajv.compile(toJsonSchema(schema) as object), rules: compileRules(schema) };
}

/** The shipped CRD's checks, compiled on first use and kept: the controller validates on every pass. */
export function canaryValidator(): CanaryValidator {
  shipped ??= compileCanaryValidator(readCanaryCrd());
  return shipped;
}

/** "/spec/steps/2/setWeight" -> "spec.steps[2].setWeight" */
export function pointerToPath(pointer: string): string {
  let out = '';
  for (const raw of pointer.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(seg) ? `[${seg}]` : out === '' ? seg : `.${seg}`;
  }
  return out;
}

function joinPath(base: string, key: string | number): string {
  if (typeof key === 'number') return `${base}[${key}]`;
  return base === '' ? key : `${base}.${key}`;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  return `${typeof value} ${String(value)}`;
}

function valueAt(root: unknown, pointer: string): unknown {
  let cur: unknown = root;
  for (const raw of pointer.split('/').slice(1)) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as JsonObject)[raw.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return cur;
}

function schemaProblem(err: ErrorObject, root: unknown): Problem {
  const path = pointerToPath(err.instancePath);
  const value = valueAt(root, err.instancePath);
  const p = err.params as Record<string, unknown>;
  const at = (message: string, where = path): Problem => ({ path: where, message });
  switch (err.keyword) {
    case 'required':
      return at('is required', joinPath(path, String(p.missingProperty)));
    case 'additionalProperties':
      return at(`unknown field "${String(p.additionalProperty)}"`, joinPath(path, String(p.additionalProperty)));
    case 'format':
      return at(p.format === 'int64' ? `must be an integer that fits in 64 bits, got ${String(value)}` : `must be of format ${String(p.format)}`);
    case 'type': {
      const t = String(p.type);
      const article = t === 'integer' || t === 'object' ? 'an' : 'a';
      const noun = t === 'array' ? 'list' : t;
      return at(`must be ${article} ${noun}, got ${describe(value)}`);
    }
    case 'enum':
      return at(`must be one of ${(p.allowedValues as unknown[]).map(String).join(', ')}, got ${describe(value)}`);
    case 'minimum':
      return at(`must be at least ${String(p.limit)}, got ${String(value)}`);
    case 'maximum':
      return at(`must be at most ${String(p.limit)}, got ${String(value)}`);
    case 'minLength':
      return at(p.limit === 1 ? 'must not be empty' : `must be at least ${String(p.limit)} characters long`);
    case 'maxLength':
      return at(`must be at most ${String(p.limit)} characters long (is ${typeof value === 'string' ? value.length : '?'})`);
    case 'minItems':
      return at(`must have at least ${String(p.limit)} item${p.limit === 1 ? '' : 's'}`);
    case 'maxItems':
      return at(`must have at most ${String(p.limit)} items`);
    case 'pattern': {
      if (String(p.pattern).includes('ms|s|m|h')) return at(`must be ${DURATION_HINT}, got ${describe(value)}`);
      if (path.endsWith('.name')) {
        return at(`must be a lowercase name of letters, digits and "-", starting and ending with a letter or digit, got ${describe(value)}`);
      }
      return at(`must match ${String(p.pattern)}, got ${describe(value)}`);
    }
    default:
      return at(err.message ?? `fails schema rule ${err.keyword}`);
  }
}

// ---------------------------------------------------------------- what the schema and CEL cannot say

const isObject = (v: unknown): v is JsonObject => v !== null && typeof v === 'object' && !Array.isArray(v);
const has = (o: JsonObject, key: string): boolean => o[key] !== undefined && o[key] !== null;

const PLACEHOLDERS: Record<string, string> = Object.fromEntries(TEMPLATE_VARIABLES.map((v) => [v, `x-${v}`]));

function checkTemplate(value: unknown, path: string, problems: Problem[], extra: Record<string, string> = {}): void {
  if (typeof value !== 'string') return;
  const result = renderTemplate(value, { ...PLACEHOLDERS, ...extra });
  if (!result.ok) {
    problems.push({ path, message: result.error });
  }
}

/** Unique check names (the list's map key, which the apiserver checks outside the schema) and template variables. */
function controllerProblems(obj: JsonObject): Problem[] {
  const problems: Problem[] = [];
  const spec = obj.spec;
  if (!isObject(spec)) return problems;
  const analysis = spec.analysis;
  const checks = isObject(analysis) && Array.isArray(analysis.checks) ? analysis.checks : [];
  const seen = new Map<string, number>();
  checks.forEach((check, i) => {
    const path = `spec.analysis.checks[${i}]`;
    if (!isObject(check)) return;
    if (typeof check.name === 'string') {
      const first = seen.get(check.name);
      if (first !== undefined) {
        // The apiserver's path for a duplicate key of a map-type list is the item.
        problems.push({
          path,
          message: `duplicate check name "${check.name}" (also used by spec.analysis.checks[${first}]); names must be unique`,
        });
      } else {
        seen.set(check.name, i);
      }
    }
    const monitor = check.datadogMonitor;
    if (isObject(monitor)) {
      checkTemplate(monitor.query, `${path}.datadogMonitor.query`, problems);
      if (Array.isArray(monitor.tags)) {
        monitor.tags.forEach((tag, t) => checkTemplate(tag, `${path}.datadogMonitor.tags[${t}]`, problems));
      }
      checkTemplate(monitor.group, `${path}.datadogMonitor.group`, problems);
    }
    const query = check.datadogQuery;
    if (isObject(query)) checkTemplate(query.query, `${path}.datadogQuery.query`, problems);
    const compare = check.compare;
    if (isObject(compare)) {
      checkTemplate(compare.query, `${path}.compare.query`, problems, { role: 'x-role' });
      if (isObject(compare.prometheus)) checkTemplate(compare.prometheus.address, `${path}.compare.prometheus.address`, problems);
    }
    const prometheus = check.prometheusQuery;
    if (isObject(prometheus)) {
      checkTemplate(prometheus.address, `${path}.prometheusQuery.address`, problems);
      checkTemplate(prometheus.query, `${path}.prometheusQuery.query`, problems);
    }
    const webhook = check.webhook;
    if (isObject(webhook)) {
      checkTemplate(webhook.url, `${path}.webhook.url`, problems);
      checkTemplate(webhook.body, `${path}.webhook.body`, problems);
    }
  });
  // Notification names are the list's map keys, as check names are.
  const names = new Map<string, number>();
  (Array.isArray(spec.notifications) ? spec.notifications : []).forEach((n, i) => {
    if (!isObject(n) || typeof n.name !== 'string') return;
    const first = names.get(n.name);
    if (first !== undefined) problems.push({ path: `spec.notifications[${i}]`, message: `duplicate notification name "${n.name}" (also used by spec.notifications[${first}]); names must be unique` });
    else names.set(n.name, i);
  });
  return problems;
}

/**
 * Schema errors after which the apiserver does not run the CEL rules ("some validation rules were
 * not checked because the object was invalid"): wrong type (an int64 beyond 64 bits too), required, too long, too many, not in
 * the enum; and unknown fields, which strict field validation refuses before any validation.
 */
/** The apiserver's words when a blocking schema error kept it from running the CEL rules. */
export const RULES_NOT_CHECKED = 'some validation rules were not checked because the object was invalid; correct the existing errors to complete validation';

const BLOCKING_KEYWORDS = new Set(['type', 'format', 'required', 'maxLength', 'maxItems', 'maxProperties', 'enum', 'additionalProperties']);

// ---------------------------------------------------------------- warnings

/**
 * What is valid but probably not what the author meant. Today: checks with no pause after the
 * last setWeight, where the canary is watched only until every check has one passing measurement;
 * checks with no setWeight at all, where the canary is one pod.
 */
export function canaryWarnings(obj: unknown): Problem[] {
  if (!isObject(obj) || !isObject(obj.spec)) return [];
  const spec = obj.spec;
  const steps = Array.isArray(spec.steps) ? spec.steps : [];
  const checks = isObject(spec.analysis) && Array.isArray(spec.analysis.checks) ? spec.analysis.checks : [];
  if (checks.length === 0) return [];
  let lastWeight = -1;
  steps.forEach((step, i) => {
    if (isObject(step) && has(step, 'setWeight')) lastWeight = i;
  });
  if (lastWeight < 0) {
    return [
      {
        path: 'spec.steps',
        message:
          'no setWeight: one canary pod runs beside the stable pods and every check needs a passing measurement of it before promotion; ' +
          'add a setWeight step (e.g. "- setWeight: 20") to choose the share of traffic the canary gets',
        severity: 'warning',
      },
    ];
  }
  const pauseAfter = steps.slice(lastWeight + 1).some((step) => isObject(step) && has(step, 'pause'));
  if (pauseAfter) return [];
  return [
    {
      path: `spec.steps[${lastWeight}]`,
      message:
        'no pause after the last setWeight: the canary is watched only until there is one passing measurement of every check, then promoted; ' +
        'add a pause after it (e.g. "- pause: {duration: 10m}") to watch it for longer',
      severity: 'warning',
    },
  ];
}

// ---------------------------------------------------------------- entry points

/** All problems with a Canary object, in document order as far as possible. Never throws for bad input. */
export function validateCanary(obj: unknown, validator: CanaryValidator = canaryValidator()): Problem[] {
  if (!isObject(obj)) return [{ path: '', message: `a Canary must be an object, got ${describe(obj)}` }];
  const problems: Problem[] = [];
  if (has(obj, 'apiVersion') && obj.apiVersion !== API_VERSION) {
    problems.push({ path: 'apiVersion', message: `must be ${API_VERSION}, got ${describe(obj.apiVersion)}` });
  }
  if (has(obj, 'kind') && obj.kind !== CANARY_KIND) {
    problems.push({ path: 'kind', message: `must be ${CANARY_KIND}, got ${describe(obj.kind)}` });
  }
  const { schema, rules } = validator;
  let blocked = false;
  if (!schema(obj)) {
    for (const err of schema.errors ?? []) {
      problems.push(schemaProblem(err, obj));
      if (BLOCKING_KEYWORDS.has(err.keyword)) blocked = true;
    }
  }
  if (!blocked) {
    for (const v of evaluateRules(rules, obj)) problems.push({ path: v.path, message: v.detail, rule: v.rule });
  } else if (rules.rules.length > 0) {
    problems.push({ path: '', message: RULES_NOT_CHECKED });
  }
  problems.push(...controllerProblems(obj));
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = `${p.path}\u0000${p.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** "spec.steps[2].setWeight" -> ["spec", "steps", 2, "setWeight"] */
export function splitPath(path: string): Array<string | number> {
  const out: Array<string | number> = [];
  for (const m of path.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) {
    if (m[2] !== undefined) out.push(Number(m[2]));
    else if (m[1] !== undefined) out.push(m[1]);
  }
  return out;
}

/**
 * The offset of the deepest YAML node on the path: the key itself for a map entry (so an unknown or
 * wrongly typed field points at its name), the item for a list entry, and the nearest existing
 * ancestor for a missing field.
 */
function offsetOf(root: YamlNode | null | undefined, path: Array<string | number>): number | undefined {
  let node: unknown = root;
  let best: number | undefined = (root as YamlNode | undefined)?.range?.[0];
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find((it) => isScalar(it.key) && String(it.key.value) === String(seg));
      if (!pair) return best;
      const key = pair.key as YamlNode;
      if (key.range) best = key.range[0];
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg] as YamlNode | undefined;
      if (!item) return best;
      if (item.range) best = item.range[0];
      node = item;
    } else {
      return best;
    }
  }
  return best;
}

/**
 * Validates every Canary in a (multi-document) YAML file. Documents of other kinds are skipped;
 * YAML syntax errors and documents that are not objects are reported. Problems carry 1-based lines and columns.
 */
export function validateCanaryFile(text: string, fileName: string): FileProblem[] {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false });
  const out: FileProblem[] = [];
  const at = (offset: number | undefined, path: string, message: string): void => {
    const pos = lineCounter.linePos(offset ?? 0);
    out.push({ file: fileName, line: pos.line, column: pos.col, path, message });
  };
  if (!Array.isArray(docs)) {
    // An empty stream parses to an EmptyStream.
    return out;
  }
  docs.forEach((doc, index) => {
    if (doc.errors.length > 0) {
      for (const err of doc.errors) at(err.pos[0], '', `invalid YAML: ${err.message.split('\n')[0]}`);
      return;
    }
    if (doc.contents === null) return; // an empty document, e.g. a trailing "---"
    const obj: unknown = doc.toJS();
    if (obj === null || obj === undefined) return;
    if (!isObject(obj)) {
      at(doc.contents.range?.[0], '', `document ${index + 1} is not an object but ${describe(obj)}; expected a Kubernetes resource`);
      return;
    }
    if (obj.kind !== CANARY_KIND) return;
    const errors = validateCanary(obj);
    // Warnings only for an otherwise valid Canary: a broken step list would make them guesses.
    const problems = errors.length > 0 ? errors : canaryWarnings(obj);
    const meta = obj.metadata;
    if (!isObject(meta) || (typeof meta.name !== 'string' && typeof meta.generateName !== 'string')) {
      problems.unshift({ path: 'metadata.name', message: 'is required' });
    }
    const located: FileProblem[] = [];
    for (const p of problems) {
      const pos = lineCounter.linePos(offsetOf(doc.contents, splitPath(p.path)) ?? 0);
      located.push({ file: fileName, line: pos.line, column: pos.col, path: p.path, message: p.message, ...(p.severity ? { severity: p.severity } : {}) });
    }
    // In document order; the note that the CEL rules were not run comes after the errors that stopped them.
    const last = (p: FileProblem): number => (p.message === RULES_NOT_CHECKED ? 1 : 0);
    out.push(...located.sort((a, b) => last(a) - last(b) || a.line - b.line || a.column - b.column));
  });
  return out;
}
