// The CRD's own CEL rules (x-kubernetes-validations), run by a CEL engine (@bufbuild/cel) the way
// the apiserver runs them, so `depctl validate` and the controller enforce exactly the rules the
// CRD declares, with the apiserver's paths and messages, and no second copy of any rule.
//
// What the apiserver does, and this module with it:
//   - a rule at a schema node runs on every value at that node: each item of a list (path[i]), each
//     value of a map (additionalProperties, path[key]), and not at all when the (optional) field is
//     absent or null;
//   - `self` is the value, typed by the schema: integer -> int, number -> double, objects -> maps,
//     strings of format date-time -> timestamp and duration -> duration; at the root,
//     `self.metadata` holds only name and generateName;
//   - a failing rule reports `<path>: Invalid value: <value>: <message>` (the value shown for
//     scalars only), with `fieldPath` appended to the path and `messageExpression` (when it gives a
//     non-empty one-line string) replacing `message`; without either, "failed rule: <rule>"; with
//     `reason` "Required value: <message>", "Forbidden: <message>" or "Duplicate value[: <value>]"
//     (no message: the apiserver prints none);
//   - a rule that cannot be evaluated reports `<error> evaluating rule: <message>`;
//   - transition rules (those that use `oldSelf`) run only on update. There is no old object here
//     (depctl validate reads files; the controller checks the stored object, which the apiserver
//     already checked against its previous version), so they are skipped and listed by
//     `transitionRules()`.
//
// Functions: the CRD uses size(), matches() (RE2), has(), duration() and comparisons, all part of
// CEL's standard library as @bufbuild/cel implements it; the strings extension that Kubernetes
// enables is registered too. Kubernetes' own libraries (quantity, url, ip/cidr, lists, regex
// find, format) are not implemented: no rule uses them, and a rule that did would report a
// "no such overload"/"unbound function" error at its path, never pass silently.
import { CelScalar, celEnv, isCelError, parse, plan, type CelEnv, type CelResult } from '@bufbuild/cel';
import { strings } from '@bufbuild/cel/ext';
import { RE2JS } from '@bufbuild/re2';

type JsonObject = Record<string, unknown>;
type Program = (ctx: { self: unknown }) => CelResult;

export interface CelRule {
  /** Where the rule sits in the schema, e.g. "spec.steps[*].pause" ("" for the root). */
  schemaPath: string;
  rule: string;
  message?: string;
  messageExpression?: string;
  fieldPath?: string;
  reason?: string;
}

export interface CelViolation {
  /** The apiserver's field path, e.g. "spec.steps[0].pause" ("" for the root, shown by the apiserver as <nil>). */
  path: string;
  /** The apiserver's text after the path, e.g. `Invalid value: "Web_App": targetRef.name must be …`. */
  detail: string;
  /** The rule's message alone (message, messageExpression or "failed rule: …"). */
  message: string;
  rule: string;
  /** Set when the rule could not be evaluated; the engine's error. */
  evalError?: string;
}

interface CompiledRule extends CelRule {
  program: Program;
  messageProgram?: Program;
  transition: boolean;
}

interface Node {
  type?: string;
  format?: string;
  rules: CompiledRule[];
  properties: Map<string, Node>;
  additionalProperties?: Node;
  items?: Node;
}

export interface CompiledRules {
  root: Node;
  rules: CelRule[];
  transitionRules: CelRule[];
}

/**
 * RE2 patterns compiled once: the engine's own matches() compiles its pattern on every call, which
 * made a rule with matches() cost ~65 µs per value. The patterns come from the CRD, so the cache is
 * bounded by the rules (and by MAX_PATTERNS for patterns built from data).
 */
const MAX_PATTERNS = 256;
const patterns = new Map<string, RE2JS>();
const cachedRe2 = {
  compile(pattern: string): RE2JS {
    let re = patterns.get(pattern);
    if (!re) {
      re = RE2JS.compile(pattern);
      if (patterns.size >= MAX_PATTERNS) patterns.clear();
      patterns.set(pattern, re);
    }
    return re;
  },
};

const env: CelEnv = celEnv({ variables: { self: CelScalar.DYN, oldSelf: CelScalar.DYN }, funcs: strings, re2: cachedRe2 });

const isObject = (v: unknown): v is JsonObject => v !== null && typeof v === 'object' && !Array.isArray(v);

function compile(source: string, where: string): Program {
  try {
    return plan(env, parse(source)) as Program;
  } catch (e) {
    throw new Error(`the CEL rule at ${where || '<root>'} does not parse: ${source}: ${(e as Error).message}`, { cause: e });
  }
}

/** Whether an expression refers to oldSelf (a transition rule). */
function usesOldSelf(source: string): boolean {
  return /(^|[^A-Za-z0-9_.])oldSelf\b/.test(source);
}

/**
 * Walks an openAPIV3Schema and compiles every x-kubernetes-validations rule once. Throws when a
 * rule does not parse (the apiserver would have refused the CRD).
 */
export function compileRules(schema: unknown): CompiledRules {
  const rules: CelRule[] = [];
  const transitionRules: CelRule[] = [];
  const walk = (s: unknown, path: string): Node => {
    const src = isObject(s) ? s : {};
    const node: Node = {
      ...(typeof src.type === 'string' ? { type: src.type } : {}),
      ...(typeof src.format === 'string' ? { format: src.format } : {}),
      rules: [],
      properties: new Map(),
    };
    const declared = src['x-kubernetes-validations'];
    for (const raw of Array.isArray(declared) ? declared : []) {
      if (!isObject(raw) || typeof raw.rule !== 'string') continue;
      const rule: CelRule = {
        schemaPath: path,
        rule: raw.rule,
        ...(typeof raw.message === 'string' ? { message: raw.message } : {}),
        ...(typeof raw.messageExpression === 'string' ? { messageExpression: raw.messageExpression } : {}),
        ...(typeof raw.fieldPath === 'string' ? { fieldPath: raw.fieldPath } : {}),
        ...(typeof raw.reason === 'string' ? { reason: raw.reason } : {}),
      };
      const transition = usesOldSelf(rule.rule);
      (transition ? transitionRules : rules).push(rule);
      node.rules.push({
        ...rule,
        transition,
        program: compile(rule.rule, path),
        ...(rule.messageExpression ? { messageProgram: compile(rule.messageExpression, path) } : {}),
      });
    }
    if (isObject(src.properties)) {
      for (const [key, child] of Object.entries(src.properties)) node.properties.set(key, walk(child, path === '' ? key : `${path}.${key}`));
    }
    if (isObject(src.additionalProperties)) node.additionalProperties = walk(src.additionalProperties, `${path}[*]`);
    if (isObject(src.items)) node.items = walk(src.items, `${path}[*]`);
    return node;
  };
  const root = walk(schema, '');
  return { root, rules, transitionRules };
}

/** The engine's own conversions, for strings the schema declares as date-time or duration. */
const asTimestamp = plan(env, parse('timestamp(self)')) as Program;
const asDuration = plan(env, parse('duration(self)')) as Program;

/**
 * A JSON value as CEL sees it under the schema: integers as int, objects as maps, strings with
 * format date-time as timestamps and with format duration as durations (left as strings when
 * they do not convert: the schema's format check reports them).
 */
function toCel(value: unknown, node: Node | undefined): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string' && (node?.format === 'date-time' || node?.format === 'duration')) {
    const converted = (node.format === 'date-time' ? asTimestamp : asDuration)({ self: value });
    return isCelError(converted) ? value : converted;
  }
  if (Array.isArray(value)) return value.map((v) => toCel(v, node?.items));
  if (typeof value === 'number') return node?.type === 'integer' && Number.isInteger(value) ? BigInt(value) : value;
  if (isObject(value)) {
    const out = new Map<string, unknown>();
    for (const [k, v] of Object.entries(value)) {
      if (v === null || v === undefined) continue;
      out.set(k, toCel(v, node?.properties.get(k) ?? node?.additionalProperties));
    }
    return out;
  }
  return value;
}

/** The value as the apiserver prints it in "Invalid value: …": scalars only. */
function shown(value: unknown): string | undefined {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}

function typeName(value: unknown): string {
  if (typeof value === 'string') return 'string';
  if (typeof value === 'boolean') return 'boolean';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  if (Array.isArray(value)) return 'array';
  return 'object';
}

/** ".min" or "['a.b'].c" appended to "spec.x" -> "spec.x.min", "spec.x.a.b.c". */
function withFieldPath(path: string, fieldPath: string | undefined): string {
  if (!fieldPath) return path;
  let out = path;
  for (const m of fieldPath.matchAll(/\.([^.[\]]+)|\[['"]([^'"]+)['"]\]/g)) {
    const key = m[1] ?? m[2] ?? '';
    out = out === '' ? key : `${out}.${key}`;
  }
  return out;
}

function ruleMessage(rule: CompiledRule, self: unknown): string {
  if (rule.messageProgram) {
    const m = rule.messageProgram({ self });
    if (typeof m === 'string' && m.trim() !== '' && !m.includes('\n')) return m;
  }
  return rule.message ?? `failed rule: ${rule.rule}`;
}

function detailFor(reason: string | undefined, value: unknown, message: string): string {
  switch (reason) {
    case 'FieldValueRequired':
      return `Required value: ${message}`;
    case 'FieldValueForbidden':
      return `Forbidden: ${message}`;
    case 'FieldValueDuplicate': {
      // The apiserver prints no message for this reason, only the value when it is a scalar.
      const v = shown(value);
      return v === undefined ? 'Duplicate value' : `Duplicate value: ${v}`;
    }
    default: {
      const v = shown(value);
      return v === undefined ? `Invalid value: ${message}` : `Invalid value: ${v}: ${message}`;
    }
  }
}

/** Runs every (non-transition) rule on the values of `obj` at the rule's place. Never throws. */
export function evaluateRules(compiled: CompiledRules, obj: unknown): CelViolation[] {
  const out: CelViolation[] = [];
  const visit = (node: Node, value: unknown, path: string, self: unknown): void => {
    for (const rule of node.rules) {
      if (rule.transition) continue;
      let result: CelResult;
      try {
        result = rule.program({ self });
      } catch (e) {
        result = e as CelResult;
      }
      if (result === true) continue;
      const message = ruleMessage(rule, self);
      const where = withFieldPath(path, rule.fieldPath);
      if (result === false) {
        out.push({ path: where, detail: detailFor(rule.reason, value, message), message, rule: rule.rule });
      } else {
        const error = isCelError(result) || result instanceof Error ? result.message : `the rule gave ${String(result)}, not a bool`;
        out.push({
          path,
          detail: `Invalid value: "${typeName(value)}": ${error} evaluating rule: ${message}`,
          message,
          rule: rule.rule,
          evalError: error,
        });
      }
    }
    if (Array.isArray(value)) {
      if (node.items) value.forEach((item, i) => descend(node.items as Node, item, `${path}[${i}]`));
    } else if (isObject(value)) {
      for (const [key, child] of Object.entries(value)) {
        const declared = node.properties.get(key);
        // A declared property is ".key"; a map value (additionalProperties) is "[key]", as the apiserver writes them.
        if (declared) descend(declared, child, path === '' ? key : `${path}.${key}`);
        else if (node.additionalProperties) descend(node.additionalProperties, child, `${path}[${key}]`);
      }
    }
  };
  const descend = (node: Node, value: unknown, path: string): void => {
    if (value === null || value === undefined) return;
    visit(node, value, path, node.rules.length > 0 ? toCel(value, node) : undefined);
  };
  if (!isObject(obj)) return out;
  // At the root, CEL sees only metadata.name and metadata.generateName. The apiserver runs the rules
  // after it has made a name from generateName (5 random characters) and refuses an object with
  // neither before any rule runs (depctl validate reports that as "metadata.name: is required").
  const meta = isObject(obj.metadata) ? obj.metadata : {};
  const generateName = typeof meta.generateName === 'string' ? meta.generateName : undefined;
  const name = typeof meta.name === 'string' ? meta.name : generateName !== undefined ? `${generateName}xxxxx` : undefined;
  const root = compiled.root;
  if (name === undefined) {
    visit({ ...root, rules: [] }, obj, '', undefined);
    return out;
  }
  const rootView: JsonObject = { ...obj, metadata: { name, ...(generateName !== undefined ? { generateName } : {}) } };
  visit(root, obj, '', root.rules.length > 0 ? toCel(rootView, root) : undefined);
  return out;
}
