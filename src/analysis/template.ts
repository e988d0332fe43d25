// Renders {{ variable }} templates in check specs and resolves checks with their defaults.
import { DEFAULTS } from '../api/constants.js';
import type { AssignableVerdict, CanarySpec, CheckSpec, MonitorState, MonitorVerdicts } from '../api/types.js';
import { MONITOR_STATES } from '../api/types.js';
import type {
  ResolvedCheck,
  ResolvedCompareCheck,
  ResolvedMonitorCheck,
  ResolvedPrometheusCheck,
  ResolvedPrometheusCompareCheck,
  ResolvedQueryCheck,
  ResolvedWebhookCheck,
} from './provider.js';
import { refusedUrl } from './http.js';
import { parseDuration } from './duration.js';

export type RenderResult = { ok: true; text: string } | { ok: false; error: string };
export type ResolveResult = { ok: true; checks: ResolvedCheck[] } | { ok: false; error: string };

const VARIABLE = /\{\{\s*([^{}\s]*)\s*\}\}/g;
const NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

/** Replaces every `{{ name }}` (whitespace optional) with vars[name]; an unknown name is an error. */
export function renderTemplate(text: string, vars: Record<string, string>): RenderResult {
  let unknown: string | undefined;
  const rendered = text.replace(VARIABLE, (whole, name: string) => {
    if (NAME.test(name) && Object.prototype.hasOwnProperty.call(vars, name)) return vars[name] ?? '';
    unknown ??= name;
    return whole;
  });
  if (unknown !== undefined) {
    const known = Object.keys(vars).sort().join(', ') || '(none)';
    return { ok: false, error: `unknown variable "${unknown}" in "${text}"; known: ${known}` };
  }
  // What is left of "{{" after the variables were replaced is a template that is not closed.
  if (text.replace(VARIABLE, '').includes('{{')) {
    return { ok: false, error: `"{{" without a matching "}}" in "${text}"; write variables as {{ version }}` };
  }
  return { ok: true, text: rendered };
}

/** Default verdict for each monitor state: OK passes, Alert fails, everything else is inconclusive. */
export const DEFAULT_MONITOR_VERDICTS: Readonly<Record<MonitorState, AssignableVerdict>> = {
  OK: 'Pass',
  Alert: 'Fail',
  Warn: 'Inconclusive',
  'No Data': 'Inconclusive',
  Skipped: 'Inconclusive',
  Ignored: 'Inconclusive',
  Unknown: 'Inconclusive',
};

const VERDICT_KEYS: Record<keyof MonitorVerdicts, MonitorState> = {
  ok: 'OK',
  alert: 'Alert',
  warn: 'Warn',
  noData: 'No Data',
  skipped: 'Skipped',
  ignored: 'Ignored',
  unknown: 'Unknown',
};

const ASSIGNABLE: readonly string[] = ['Pass', 'Fail', 'Inconclusive'];
const MIN_WINDOW_MS = 60_000;
const WINDOW_INTERVALS = 5;

/**
 * Renders the templates of every check in spec.analysis.checks and applies the defaults
 * from DEFAULTS. Pure; the first problem found is returned as an error naming the check.
 */
export function resolveChecks(spec: CanarySpec, vars: Record<string, string>): ResolveResult {
  const intervalText = spec.analysis?.interval ?? DEFAULTS.interval;
  const intervalMs = parseDuration(intervalText);
  if (intervalMs === undefined || intervalMs <= 0) {
    return { ok: false, error: `analysis.interval "${intervalText}" is not a positive duration such as "1m" or "30s"` };
  }
  const checks: ResolvedCheck[] = [];
  const names = new Set<string>();
  for (const [index, check] of (spec.analysis?.checks ?? []).entries()) {
    const label = typeof check?.name === 'string' && check.name !== '' ? `check "${check.name}"` : `check #${index + 1}`;
    if (typeof check?.name !== 'string' || check.name === '') return { ok: false, error: `${label}: name is required` };
    if (names.has(check.name)) return { ok: false, error: `${label}: the name is used by another check` };
    names.add(check.name);
    const resolved = resolveCheck(check, vars, intervalMs);
    if (!resolved.ok) return { ok: false, error: `${label}: ${resolved.error}` };
    checks.push(resolved.check);
  }
  return { ok: true, checks };
}

type OneResult = { ok: true; check: ResolvedCheck } | { ok: false; error: string };

function resolveCheck(check: CheckSpec, vars: Record<string, string>, intervalMs: number): OneResult {
  const kinds = CHECK_KINDS.filter((k) => check[k] !== undefined && check[k] !== null);
  if (kinds.length !== 1) return { ok: false, error: `set exactly one of ${CHECK_KINDS.slice(0, -1).join(', ')} or ${CHECK_KINDS[CHECK_KINDS.length - 1] ?? ''}` };
  const kind = kinds[0] as CheckKind;
  switch (kind) {
    case 'datadogMonitor':
      return resolveMonitorCheck(check, vars, intervalMs);
    case 'datadogQuery':
      return resolveQueryCheck(check, vars, intervalMs);
    case 'compare':
      return resolveCompareCheck(check, vars, intervalMs);
    case 'prometheusQuery':
      return resolvePrometheusCheck(check, vars, intervalMs);
    case 'webhook':
      return resolveWebhookCheck(check, vars, intervalMs);
    default: {
      const never: never = kind;
      return { ok: false, error: `unknown check kind ${String(never)}` };
    }
  }
}

/** The kinds of check, one field each in a CheckSpec. */
export const CHECK_KINDS = ['datadogMonitor', 'datadogQuery', 'compare', 'prometheusQuery', 'webhook'] as const;
export type CheckKind = (typeof CHECK_KINDS)[number];

/** Checks that call Datadog and need spec.datadog (a compare check reads Prometheus instead when compare.prometheus is set). */
export function needsDatadog(check: CheckSpec): boolean {
  const compareOnDatadog = check.compare !== undefined && check.compare !== null && (check.compare.prometheus === undefined || check.compare.prometheus === null);
  return compareOnDatadog || [check.datadogMonitor, check.datadogQuery].some((k) => k !== undefined && k !== null);
}

function boundsError(prefix: string, spec: { min?: unknown; max?: unknown }, required: boolean): string | undefined {
  for (const bound of ['min', 'max'] as const) {
    const v = spec[bound];
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v))) return `${prefix}.${bound} must be a number`;
  }
  if (required && spec.min === undefined && spec.max === undefined) return `${prefix} needs min, max or both`;
  if (typeof spec.min === 'number' && typeof spec.max === 'number' && spec.min > spec.max) return `${prefix}.min (${spec.min}) is greater than max (${spec.max})`;
  return undefined;
}

function resolveAddress(field: string, value: unknown, vars: Record<string, string>): { ok: true; text: string } | { ok: false; error: string } {
  if (typeof value !== 'string' || value.trim() === '') return { ok: false, error: `${field} is required` };
  const r = renderTemplate(value.trim(), vars);
  if (!r.ok) return r;
  const refused = refusedUrl(r.text);
  if (refused) return { ok: false, error: `${field} ${refused}` };
  return { ok: true, text: r.text };
}

function resolvePrometheusCheck(check: CheckSpec, vars: Record<string, string>, intervalMs: number): OneResult {
  const spec = check.prometheusQuery;
  if (!spec) return { ok: false, error: 'prometheusQuery is required' };
  const address = resolveAddress('prometheusQuery.address', spec.address, vars);
  if (!address.ok) return address;
  if (typeof spec.query !== 'string' || spec.query.trim() === '') return { ok: false, error: 'prometheusQuery.query is required' };
  const query = renderTemplate(spec.query, vars);
  if (!query.ok) return query;
  const bounds = boundsError('prometheusQuery', spec, true);
  if (bounds) return { ok: false, error: bounds };
  const noData = spec.noData ?? 'Inconclusive';
  if (!ASSIGNABLE.includes(noData)) return { ok: false, error: 'prometheusQuery.noData must be Pass, Fail or Inconclusive' };
  const resolved: ResolvedPrometheusCheck = { kind: 'prometheusQuery', name: check.name, address: address.text.replace(/\/+$/, ''), query: query.text.trim(), noData, intervalMs };
  if (spec.min !== undefined) resolved.min = spec.min;
  if (spec.max !== undefined) resolved.max = spec.max;
  if (spec.auth?.secretRef?.name) resolved.authSecret = spec.auth.secretRef.name;
  if (spec.tls) {
    resolved.tls = { insecureSkipVerify: spec.tls.insecureSkipVerify === true };
    if (spec.tls.caSecretRef?.name) resolved.tls.ca = { name: spec.tls.caSecretRef.name, key: spec.tls.caSecretRef.key ?? DEFAULTS.caKey };
  }
  return { ok: true, check: resolved };
}

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD'] as const;

function resolveWebhookCheck(check: CheckSpec, vars: Record<string, string>, intervalMs: number): OneResult {
  const spec = check.webhook;
  if (!spec) return { ok: false, error: 'webhook is required' };
  const url = resolveAddress('webhook.url', spec.url, vars);
  if (!url.ok) return url;
  let body: string | undefined;
  if (spec.body !== undefined && spec.body !== null) {
    const r = renderTemplate(String(spec.body), vars);
    if (!r.ok) return r;
    body = r.text;
  }
  const method = (spec.method ?? (body !== undefined ? 'POST' : 'GET')).toUpperCase();
  if (!(METHODS as readonly string[]).includes(method)) return { ok: false, error: `webhook.method must be one of ${METHODS.join(', ')}` };
  if (body !== undefined && (method === 'GET' || method === 'HEAD')) return { ok: false, error: `webhook.body cannot be sent with ${method}` };
  const timeoutText = spec.timeout ?? DEFAULTS.webhookTimeout;
  const timeoutMs = parseDuration(timeoutText);
  if (timeoutMs === undefined || timeoutMs <= 0) return { ok: false, error: `webhook.timeout "${timeoutText}" is not a positive duration such as "10s"` };
  const resolved: ResolvedWebhookCheck = { kind: 'webhook', name: check.name, url: url.text, method, timeoutMs, intervalMs };
  if (body !== undefined) resolved.body = body;
  if (spec.headersFrom?.secretRef?.name) resolved.headersSecret = spec.headersFrom.secretRef.name;
  return { ok: true, check: resolved };
}

function resolveMonitorCheck(check: CheckSpec, vars: Record<string, string>, intervalMs: number): OneResult {
  const spec = check.datadogMonitor ?? {};
  const selectors = [spec.id, spec.tags, spec.query].filter((s) => s !== undefined && s !== null).length;
  if (selectors !== 1) return { ok: false, error: 'datadogMonitor needs exactly one of id, tags or query' };
  const monitor: ResolvedMonitorCheck['monitor'] = {};
  if (spec.id !== undefined) {
    if (!Number.isSafeInteger(spec.id) || spec.id <= 0) return { ok: false, error: 'datadogMonitor.id must be a positive integer' };
    monitor.id = spec.id;
  } else if (spec.tags !== undefined) {
    if (!Array.isArray(spec.tags) || spec.tags.length === 0) return { ok: false, error: 'datadogMonitor.tags must list at least one tag' };
    const tags: string[] = [];
    for (const tag of spec.tags) {
      const r = renderTemplate(String(tag), vars);
      if (!r.ok) return r;
      if (r.text.trim() === '') return { ok: false, error: 'datadogMonitor.tags has an empty tag' };
      tags.push(r.text.trim());
    }
    monitor.tags = tags;
  } else {
    const r = renderTemplate(String(spec.query), vars);
    if (!r.ok) return r;
    if (r.text.trim() === '') return { ok: false, error: 'datadogMonitor.query is empty' };
    monitor.query = r.text.trim();
  }
  const group = renderTemplate(spec.group ?? DEFAULTS.monitorGroup, vars);
  if (!group.ok) return group;
  const verdicts: Record<MonitorState, AssignableVerdict> = { ...DEFAULT_MONITOR_VERDICTS };
  for (const [key, verdict] of Object.entries(spec.verdicts ?? {})) {
    const state = VERDICT_KEYS[key as keyof MonitorVerdicts];
    if (state === undefined) {
      return { ok: false, error: `datadogMonitor.verdicts.${key} is not a monitor state; use one of ${Object.keys(VERDICT_KEYS).join(', ')}` };
    }
    if (!ASSIGNABLE.includes(String(verdict))) {
      return { ok: false, error: `datadogMonitor.verdicts.${key} must be Pass, Fail or Inconclusive` };
    }
    verdicts[state] = verdict as AssignableVerdict;
  }
  // Keep every state present even if MONITOR_STATES grows.
  for (const state of MONITOR_STATES) verdicts[state] ??= 'Inconclusive';
  return { ok: true, check: { kind: 'datadogMonitor', name: check.name, monitor, group: group.text.trim(), verdicts, intervalMs } };
}

function resolveQueryCheck(check: CheckSpec, vars: Record<string, string>, intervalMs: number): OneResult {
  const spec = check.datadogQuery;
  if (!spec || typeof spec.query !== 'string' || spec.query.trim() === '') return { ok: false, error: 'datadogQuery.query is required' };
  const query = renderTemplate(spec.query, vars);
  if (!query.ok) return query;
  for (const bound of ['min', 'max'] as const) {
    const v = spec[bound];
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v))) return { ok: false, error: `datadogQuery.${bound} must be a number` };
  }
  if (spec.min === undefined && spec.max === undefined) return { ok: false, error: 'datadogQuery needs min, max or both' };
  if (spec.min !== undefined && spec.max !== undefined && spec.min > spec.max) {
    return { ok: false, error: `datadogQuery.min (${spec.min}) is greater than max (${spec.max})` };
  }
  let windowMs = Math.max(WINDOW_INTERVALS * intervalMs, MIN_WINDOW_MS);
  if (spec.window !== undefined) {
    const parsed = parseDuration(spec.window);
    if (parsed === undefined || parsed <= 0) return { ok: false, error: `datadogQuery.window "${spec.window}" is not a positive duration such as "5m"` };
    windowMs = parsed;
  }
  const noData = spec.noData ?? 'Inconclusive';
  if (!ASSIGNABLE.includes(noData)) return { ok: false, error: 'datadogQuery.noData must be Pass, Fail or Inconclusive' };
  const resolved: ResolvedQueryCheck = { kind: 'datadogQuery', name: check.name, query: query.text.trim(), windowMs, noData, intervalMs };
  if (spec.min !== undefined) resolved.min = spec.min;
  if (spec.max !== undefined) resolved.max = spec.max;
  return { ok: true, check: resolved };
}

/** {{ role }} in a compare query, whitespace optional. */
export const ROLE_VARIABLE = /\{\{\s*role\s*\}\}/;
const COMPARE_MIN_WINDOW_MS = 5 * 60_000;
const COMPARE_WINDOW_INTERVALS = 10;

/** Prometheus keeps at most 11,000 points per series in a range query's answer. */
const PROMETHEUS_MAX_POINTS = 11_000;

function resolveCompareCheck(check: CheckSpec, vars: Record<string, string>, intervalMs: number): OneResult {
  const spec = check.compare;
  if (!spec || typeof spec.query !== 'string' || spec.query.trim() === '') return { ok: false, error: 'compare.query is required' };
  const onPrometheus = spec.prometheus !== undefined && spec.prometheus !== null;
  if (!ROLE_VARIABLE.test(spec.query)) {
    const example = onPrometheus ? 'avg(http_latency_seconds{app="web",role="{{ role }}"})' : '{service:web,role:{{ role }}}';
    return { ok: false, error: `compare.query needs {{ role }} in its scope (e.g. ${example}) so the canary and the baseline each get their own series` };
  }
  const canary = renderTemplate(spec.query, { ...vars, role: 'canary' });
  if (!canary.ok) return canary;
  const baseline = renderTemplate(spec.query, { ...vars, role: 'baseline' });
  if (!baseline.ok) return baseline;
  const minPoints = spec.minPoints ?? DEFAULTS.compareMinPoints;
  if (!Number.isInteger(minPoints) || minPoints < 3) return { ok: false, error: 'compare.minPoints must be an integer of at least 3' };
  const significance = spec.significance ?? DEFAULTS.compareSignificance;
  if (typeof significance !== 'number' || !(significance > 0 && significance <= 0.5)) return { ok: false, error: 'compare.significance must be above 0 and at most 0.5' };
  const tolerance = spec.tolerance ?? DEFAULTS.compareTolerance;
  if (typeof tolerance !== 'number' || !Number.isFinite(tolerance) || tolerance < 0) return { ok: false, error: 'compare.tolerance must be a number of at least 0' };
  let windowMs = Math.max(COMPARE_WINDOW_INTERVALS * intervalMs, COMPARE_MIN_WINDOW_MS);
  if (spec.window !== undefined) {
    const parsed = parseDuration(spec.window);
    if (parsed === undefined || parsed <= 0) return { ok: false, error: `compare.window "${spec.window}" is not a positive duration such as "10m"` };
    windowMs = parsed;
  }
  const judgement = { higherIsWorse: spec.higherIsWorse ?? true, minPoints, significance, tolerance, windowMs, intervalMs };
  const queries = { canary: canary.text.trim(), baseline: baseline.text.trim() };
  if (onPrometheus) return resolvePrometheusCompare(check.name, spec, queries, judgement, vars);
  if (spec.step !== undefined) return { ok: false, error: 'compare.step applies to Prometheus only (set compare.prometheus)' };
  const resolved: ResolvedCompareCheck = { kind: 'compare', name: check.name, queries, ...judgement };
  return { ok: true, check: resolved };
}

type Judgement = Pick<ResolvedCompareCheck, 'higherIsWorse' | 'minPoints' | 'significance' | 'tolerance' | 'windowMs' | 'intervalMs'>;

/**
 * A compare check on Prometheus: the connection as in prometheusQuery, and the step of the range
 * queries, by default the analysis interval but at least 30s so that a point is not one scrape read
 * several times (which would give the test more points than there are observations).
 */
function resolvePrometheusCompare(name: string, spec: NonNullable<CheckSpec['compare']>, queries: ResolvedCompareCheck['queries'], judgement: Judgement, vars: Record<string, string>): OneResult {
  const conn = spec.prometheus;
  if (!conn || typeof conn !== 'object') return { ok: false, error: 'compare.prometheus.address is required' };
  const address = resolveAddress('compare.prometheus.address', conn.address, vars);
  if (!address.ok) return address;
  let stepMs = Math.max(judgement.intervalMs, parseDuration(DEFAULTS.compareMinStep) ?? 30_000);
  if (spec.step !== undefined) {
    const parsed = parseDuration(spec.step);
    if (parsed === undefined || parsed < 1000) return { ok: false, error: `compare.step "${spec.step}" is not a duration of at least 1s such as "30s"` };
    stepMs = parsed;
  }
  if (stepMs > judgement.windowMs) return { ok: false, error: `compare.step (${stepMs / 1000}s) is longer than the window (${judgement.windowMs / 1000}s): no room for two points` };
  if (judgement.windowMs / stepMs >= PROMETHEUS_MAX_POINTS) {
    return { ok: false, error: `compare.window / compare.step gives more than ${PROMETHEUS_MAX_POINTS} points, Prometheus' limit; use a longer step` };
  }
  const resolved: ResolvedPrometheusCompareCheck = { kind: 'prometheusCompare', name, address: address.text.replace(/\/+$/, ''), queries, stepMs, ...judgement };
  if (conn.auth?.secretRef?.name) resolved.authSecret = conn.auth.secretRef.name;
  if (conn.tls) {
    resolved.tls = { insecureSkipVerify: conn.tls.insecureSkipVerify === true };
    if (conn.tls.caSecretRef?.name) resolved.tls.ca = { name: conn.tls.caSecretRef.name, key: conn.tls.caSecretRef.key ?? DEFAULTS.caKey };
  }
  return { ok: true, check: resolved };
}
