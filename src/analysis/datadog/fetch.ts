// One remote call to Datadog per function, returned as an Observation. Never throws.
import type * as V1Module from '@datadog/datadog-api-client/dist/packages/datadog-api-client-v1/index.js';
import type { DatadogCheck, DatadogCredentials, MonitorObservation, Observation } from '../provider.js';
import { formatDuration } from '../duration.js';
import { apiHost, appOrigin, datadogApis, type CallOptions, type DatadogApis, type ResponseInfo } from './client.js';
import { timedSignal, type TimedSignal } from '../../runtime/timed-signal.js';

/** The remote call a check needs. Checks whose calls are equal share one call. */
export type RemoteCall =
  | { kind: 'monitorById'; id: number }
  | { kind: 'monitorsByTags'; tags: string[] }
  | { kind: 'monitorSearch'; query: string }
  | { kind: 'metricQuery'; query: string; windowMs: number }
  /** A compare check's two queries (canary, baseline) over the same window. */
  | { kind: 'metricPair'; canary: string; baseline: string; windowMs: number };

export interface FetchOptions {
  timeoutMs: number;
  now: () => number;
}

/** An observation, and when Datadog rate-limited the call, how long to wait before the next one. */
export interface FetchResult {
  observation: Observation;
  rateLimitResetMs?: number;
  /** What went wrong in more detail than status may show (for the operator's log only). */
  logDetail?: string;
  /** The organisation's rate limit as the answer stated it (x-ratelimit-remaining and -reset). */
  quota?: Quota;
}

/** Calls left in the current rate-limit window, and how long until the window resets. */
export interface Quota {
  remaining: number;
  resetMs: number;
}

/** Most monitors a search selection looks at (each one costs a getMonitor call). */
export const MAX_SEARCH_MONITORS = 20;
/** Page size for a tag selection. */
export const MAX_TAGGED_MONITORS = 100;
const DEFAULT_RATE_LIMIT_RESET_S = 10;

export function remoteCallFor(check: DatadogCheck): RemoteCall {
  if (check.kind === 'datadogQuery') return { kind: 'metricQuery', query: check.query, windowMs: check.windowMs };
  if (check.kind === 'compare') return { kind: 'metricPair', canary: check.queries.canary, baseline: check.queries.baseline, windowMs: check.windowMs };
  if (check.monitor.id !== undefined) return { kind: 'monitorById', id: check.monitor.id };
  if (check.monitor.tags !== undefined) return { kind: 'monitorsByTags', tags: [...check.monitor.tags].sort() };
  return { kind: 'monitorSearch', query: check.monitor.query ?? '' };
}

/** A string equal for equal calls. */
export function remoteCallKey(call: RemoteCall): string {
  return JSON.stringify(call);
}

/** A short description for logs and messages. */
export function describeCall(call: RemoteCall): string {
  switch (call.kind) {
    case 'monitorById':
      return `monitor ${call.id}`;
    case 'monitorsByTags':
      return `monitors tagged ${call.tags.join(', ')}`;
    case 'monitorSearch':
      return `monitor search "${call.query}"`;
    case 'metricQuery':
      return `query "${call.query}" over ${formatDuration(call.windowMs)}`;
    case 'metricPair':
      return `queries "${call.canary}" and "${call.baseline}" over ${formatDuration(call.windowMs)}`;
    default: {
      const never: never = call;
      return String(never);
    }
  }
}

/** Link to a monitor in the Datadog app. */
export function monitorUrl(credentials: DatadogCredentials, id: number): string {
  return `${appOrigin(credentials)}/monitors/${id}`;
}

/** Link to the monitor list filtered by a search query. */
export function monitorSearchUrl(credentials: DatadogCredentials, query: string): string {
  return `${appOrigin(credentials)}/monitors/manage?q=${encodeURIComponent(query)}`;
}

/** Link to a metric query in the metrics explorer over [fromMs, toMs]. */
export function metricUrl(credentials: DatadogCredentials, query: string, fromMs: number, toMs: number): string {
  return `${appOrigin(credentials)}/metric/explorer?query=${encodeURIComponent(query)}&from_ts=${fromMs}&to_ts=${toMs}&live=false`;
}

/** Runs the call with a timeout. Never throws: failures are error observations. */
export async function fetchObservation(credentials: DatadogCredentials, call: RemoteCall, opts: FetchOptions): Promise<FetchResult> {
  switch (call.kind) {
    case 'monitorById':
      return fetchMonitorById(credentials, call.id, opts);
    case 'monitorsByTags':
      return fetchMonitorsByTags(credentials, call.tags, opts);
    case 'monitorSearch':
      return fetchMonitorSearch(credentials, call.query, opts);
    case 'metricQuery':
      return fetchMetricQuery(credentials, call.query, call.windowMs, opts);
    case 'metricPair':
      return fetchMetricPair(credentials, call, opts);
    default: {
      const never: never = call;
      return { observation: { kind: 'error', takenAt: opts.now(), message: `unknown call ${String(never)}` } };
    }
  }
}

export async function fetchMonitorById(credentials: DatadogCredentials, id: number, opts: FetchOptions): Promise<FetchResult> {
  const url = monitorUrl(credentials, id);
  return guarded(credentials, opts, url, { monitorId: id }, async (apis, call) => {
    const monitor = await apis.monitors.getMonitor({ monitorId: id, groupStates: 'all' }, call.options);
    const m = toMonitorObservation(monitor);
    if (!m) return malformed(opts, url, `monitor ${id}`);
    return { kind: 'monitors', takenAt: opts.now(), monitors: [m], url };
  });
}

export async function fetchMonitorsByTags(credentials: DatadogCredentials, tags: string[], opts: FetchOptions): Promise<FetchResult> {
  const url = monitorSearchUrl(credentials, tags.map((t) => `tag:"${t}"`).join(' '));
  return guarded(credentials, opts, url, {}, async (apis, call) => {
    const list = await apis.monitors.listMonitors(
      { monitorTags: tags.join(','), groupStates: 'all', page: 0, pageSize: MAX_TAGGED_MONITORS },
      call.options,
    );
    if (!Array.isArray(list)) return malformed(opts, url, 'the monitor list');
    const monitors: MonitorObservation[] = [];
    for (const monitor of list) {
      const m = toMonitorObservation(monitor);
      if (!m) return malformed(opts, url, 'the monitor list');
      monitors.push(m);
    }
    return { kind: 'monitors', takenAt: opts.now(), monitors, url };
  });
}

/** searchMonitors, then getMonitor for each hit (at most MAX_SEARCH_MONITORS) for its group states. */
export async function fetchMonitorSearch(credentials: DatadogCredentials, query: string, opts: FetchOptions): Promise<FetchResult> {
  const url = monitorSearchUrl(credentials, query);
  const found = await guarded<number[]>(credentials, opts, url, {}, async (apis, call) => {
    const response = await apis.monitors.searchMonitors({ query, perPage: MAX_SEARCH_MONITORS, page: 0 }, call.options);
    const hits = response?.monitors;
    if (!Array.isArray(hits)) return malformed(opts, url, 'the monitor search');
    const ids = hits.map((h) => h?.id).filter((id): id is number => typeof id === 'number');
    if (ids.length !== hits.length) return malformed(opts, url, 'the monitor search');
    return ids.slice(0, MAX_SEARCH_MONITORS);
  });
  if (!Array.isArray(found)) return found;
  const monitors: MonitorObservation[] = [];
  let quota: Quota | undefined;
  for (const id of found) {
    const one = await fetchMonitorById(credentials, id, opts);
    if (one.quota) quota = one.quota;
    if (one.observation.kind !== 'monitors') {
      // A monitor deleted between the search and the read is simply gone.
      if (one.observation.kind === 'error' && one.observation.status === 404) continue;
      return { ...one, observation: { ...one.observation, url } };
    }
    monitors.push(...one.observation.monitors);
  }
  return { observation: { kind: 'monitors', takenAt: opts.now(), monitors, url }, ...(quota ? { quota } : {}) };
}

export async function fetchMetricQuery(credentials: DatadogCredentials, query: string, windowMs: number, opts: FetchOptions): Promise<FetchResult> {
  const toMs = opts.now();
  const to = Math.floor(toMs / 1000);
  const from = Math.floor((toMs - windowMs) / 1000);
  const fromMs = from * 1000;
  const url = metricUrl(credentials, query, fromMs, toMs);
  return guarded(credentials, opts, url, {}, async (apis, call) => {
    const response = await apis.metrics.queryMetrics({ from, to, query }, call.options);
    if (!response || typeof response !== 'object') return malformed(opts, url, 'the query result');
    if (response.status === 'error' || response.error) {
      return { kind: 'error', takenAt: opts.now(), message: `Datadog could not run the query: ${excerpt(String(response.error ?? response.message ?? 'error'), credentials)}`, url };
    }
    // Datadog always sends the list (empty when there is no data): an answer without it is not
    // "no data", which a check may count as a Pass, but an answer that could not be read.
    const series = response.series;
    if (!Array.isArray(series)) return malformed(opts, url, 'the query result');
    if (series.length > 1) {
      return {
        kind: 'error',
        takenAt: opts.now(),
        message: `the query returned ${series.length} series; a check needs one (aggregate without "by {…}" or filter to one group)`,
        url,
      };
    }
    const first = series[0];
    const points: Array<[number, number | null]> = [];
    for (const p of first?.pointlist ?? []) {
      if (!Array.isArray(p) || typeof p[0] !== 'number' || (p[1] !== null && p[1] !== undefined && typeof p[1] !== 'number')) {
        return malformed(opts, url, 'the query result');
      }
      points.push([p[0], typeof p[1] === 'number' && Number.isFinite(p[1]) ? p[1] : null]);
    }
    const observation: Observation = { kind: 'series', takenAt: opts.now(), fromMs, toMs, points, url };
    if (typeof first?.interval === 'number' && first.interval > 0) observation.bucketMs = first.interval * 1000;
    return observation;
  });
}

/**
 * Both series of a compare check, queried at once over the same window. A rate limit on either is
 * the pair's rate limit; an error of either is the pair's error, naming which query failed.
 */
export async function fetchMetricPair(credentials: DatadogCredentials, call: Extract<RemoteCall, { kind: 'metricPair' }>, opts: FetchOptions): Promise<FetchResult> {
  const toMs = opts.now();
  const pinned: FetchOptions = { ...opts, now: () => Math.max(opts.now(), toMs) };
  const at = { ...pinned, now: () => toMs };
  // The window ends at the same instant for both queries; takenAt is when the answers were in.
  const [canary, baseline] = await Promise.all([fetchMetricQuery(credentials, call.canary, call.windowMs, at), fetchMetricQuery(credentials, call.baseline, call.windowMs, at)]);
  const quota = [canary.quota, baseline.quota].filter((q): q is Quota => q !== undefined).sort((a, b) => a.remaining - b.remaining)[0];
  const extra = { ...(quota ? { quota } : {}) };
  const limited = [canary, baseline].filter((r) => r.rateLimitResetMs !== undefined).sort((a, b) => (b.rateLimitResetMs ?? 0) - (a.rateLimitResetMs ?? 0))[0];
  if (limited) return { ...limited, ...extra };
  for (const [role, r] of [['canary', canary], ['baseline', baseline]] as const) {
    const o = r.observation;
    if (o.kind !== 'series') {
      const message = o.kind === 'error' ? `${role} query: ${o.message}` : `${role} query: unexpected ${o.kind} result`;
      return { ...r, observation: { kind: 'error', takenAt: pinned.now(), message, ...(o.url ? { url: o.url } : {}), ...(o.kind === 'error' && o.status !== undefined ? { status: o.status } : {}) }, ...extra };
    }
  }
  const c = canary.observation as Extract<Observation, { kind: 'series' }>;
  const b = baseline.observation as Extract<Observation, { kind: 'series' }>;
  return {
    observation: {
      kind: 'seriesPair',
      takenAt: pinned.now(),
      fromMs: c.fromMs,
      toMs: c.toMs,
      canary: { points: c.points, ...(c.bucketMs !== undefined ? { bucketMs: c.bucketMs } : {}) },
      baseline: { points: b.points, ...(b.bucketMs !== undefined ? { bucketMs: b.bucketMs } : {}) },
      url: c.url,
    },
    ...extra,
  };
}

/** Reads a state that may be a string or, for a value the client does not know, `{ _data }`. */
export function stateText(s: unknown): string {
  if (typeof s === 'string') return s;
  if (s && typeof s === 'object' && '_data' in s) return String((s as { _data: unknown })._data);
  return 'Unknown';
}

function toMonitorObservation(monitor: V1Module.Monitor | undefined): MonitorObservation | undefined {
  if (!monitor || typeof monitor !== 'object' || typeof monitor.id !== 'number') return undefined;
  const groups: Record<string, string> = {};
  const raw = monitor.state?.groups;
  if (raw && typeof raw === 'object') {
    for (const [name, group] of Object.entries(raw)) groups[clipText(sanitizeText(name), MAX_EXCERPT)] = stateText(group?.status);
  }
  const name = typeof monitor.name === 'string' ? clipText(sanitizeText(monitor.name), MAX_NAME) : '';
  return { id: monitor.id, name, overallState: stateText(monitor.overallState), groups };
}

type Guarded<T> = T | Observation;

interface ErrorContext {
  monitorId?: number;
}

/** Runs one client call with its own timeout, turning every failure into an error observation. */
async function guarded<T = Observation>(
  credentials: DatadogCredentials,
  opts: FetchOptions,
  url: string,
  ctx: ErrorContext,
  run: (apis: DatadogApis, call: CallOptions) => Promise<Guarded<T>>,
): Promise<T extends Observation ? FetchResult : FetchResult | T> {
  type R = T extends Observation ? FetchResult : FetchResult | T;
  let call: CallOptions | undefined;
  let deadline: TimedSignal | undefined;
  try {
    const apis = await datadogApis(credentials);
    // The call's own deadline, from when it can start (not the client's first import).
    deadline = timedSignal(opts.timeoutMs);
    call = apis.callOptions(deadline.signal);
    const result = await run(apis, call);
    const quota = quotaOf(call.response()?.headers);
    if (isObservation(result)) return { observation: result, ...(quota ? { quota } : {}) } as R;
    return result as R;
  } catch (err) {
    return describeFailure(err, credentials, opts, url, ctx, call?.response()) as R;
  } finally {
    deadline?.release();
  }
}

function isObservation(v: unknown): v is Observation {
  return !!v && typeof v === 'object' && !Array.isArray(v) && 'kind' in v && 'takenAt' in v;
}

function malformed(opts: FetchOptions, url: string, what: string): Observation {
  return { kind: 'error', takenAt: opts.now(), message: `Datadog sent ${what} in a form that could not be read`, url };
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** Turns a thrown error into an error observation with a clear message that never carries the keys. */
export function describeFailure(
  err: unknown,
  credentials: DatadogCredentials,
  opts: FetchOptions,
  url: string,
  ctx: ErrorContext,
  response?: ResponseInfo,
): FetchResult {
  const takenAt = opts.now();
  const error = (message: string, status?: number): Observation => {
    const o: Observation = { kind: 'error', takenAt, message: redact(message, credentials), url };
    if (status !== undefined) o.status = status;
    return o;
  };
  const unreachable = (detail: string): FetchResult => {
    // A custom url could point anywhere: one message for every network failure, so status cannot
    // be used to tell closed, filtered and open ports apart. Datadog's own sites keep the detail.
    if (credentials.url) {
      return {
        observation: error(`no answer from Datadog within ${formatDuration(opts.timeoutMs)} at ${apiHost(credentials)}: the connection failed or timed out`),
        logDetail: redact(detail, credentials),
      };
    }
    return { observation: error(detail) };
  };
  if (isTimeout(err)) return unreachable(`no answer from Datadog within ${formatDuration(opts.timeoutMs)}`);
  const code = apiStatus(err);
  if (code !== undefined) {
    if (code === 429) {
      const resetS = rateLimitResetSeconds(response?.headers);
      return { observation: error(`rate limited by Datadog (429), retry in ${resetS}s`, 429), rateLimitResetMs: resetS * 1000 };
    }
    if (code === 401) return { observation: error('Datadog rejected the API key (401 Unauthorized)', 401) };
    if (code === 403) return { observation: error('Datadog rejected the API or application key (403 Forbidden)', 403) };
    if (code === 404 && ctx.monitorId !== undefined) return { observation: error(`monitor ${ctx.monitorId} not found (404)`, 404) };
    const detail = errorDetail(err, credentials);
    const text = `Datadog answered ${code}${STATUS_TEXT[code] ? ` ${STATUS_TEXT[code]}` : ''}`;
    return { observation: error(detail ? `${text}: ${detail}` : text, code) };
  }
  const netCode = networkCode(err);
  if (netCode) return unreachable(`cannot reach Datadog at ${apiHost(credentials)}: ${excerpt(netCode, credentials, 80)}`);
  const message = err instanceof Error ? err.message : String(err);
  return { observation: error(`Datadog sent a response that could not be read: ${excerpt(message, credentials)}`) };
}

/** The HTTP status of the client's ApiException (a DOMException also has a numeric code: skip it). */
function apiStatus(err: unknown): number | undefined {
  if (!err || typeof err !== 'object' || err instanceof DOMException || !('body' in err)) return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'number' && code >= 100 && code <= 599 ? code : undefined;
}

/** The `errors` Datadog sends in an error body; the client wraps bodies of unlisted statuses in text. */
function errorDetail(err: unknown, credentials: DatadogCredentials): string {
  let body = (err as { body?: unknown }).body;
  if (typeof body === 'string') {
    const wrapped = /Body: "([\s\S]*)"\s*$/.exec(body);
    try {
      body = JSON.parse(wrapped ? (wrapped[1] ?? '') : body) as unknown;
    } catch {
      return '';
    }
  }
  const errors = body && typeof body === 'object' ? (body as { errors?: unknown }).errors : undefined;
  if (Array.isArray(errors)) return excerpt(errors.map(String).join('; '), credentials);
  return '';
}

function isTimeout(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const name = (e as { name?: unknown }).name;
    if (name === 'TimeoutError' || name === 'AbortError') return true;
  }
  return false;
}

function networkCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^E[A-Z_]+$|^UND_ERR/.test(code)) return code;
    const errors = (e as { errors?: unknown }).errors;
    if (Array.isArray(errors)) {
      const inner = errors.map((x) => (x as { code?: unknown })?.code).find((c) => typeof c === 'string');
      if (typeof inner === 'string') return inner;
    }
  }
  if (err instanceof TypeError && err.message === 'fetch failed') {
    const cause = (err as { cause?: unknown }).cause;
    return cause instanceof Error && cause.message ? cause.message : 'connection failed';
  }
  return undefined;
}

/** The rate limit an answer states (x-ratelimit-remaining and x-ratelimit-reset), if it states one. */
export function quotaOf(headers: Record<string, string> | undefined): Quota | undefined {
  const raw = headers?.['x-ratelimit-remaining'];
  if (raw === undefined) return undefined;
  const remaining = Number.parseInt(raw, 10);
  if (!Number.isFinite(remaining)) return undefined;
  return { remaining: Math.max(0, remaining), resetMs: rateLimitResetSeconds(headers) * 1000 };
}

/** x-ratelimit-reset in whole seconds (0 allowed), default 10 s when absent or unreadable. */
export function rateLimitResetSeconds(headers: Record<string, string> | undefined): number {
  const raw = headers?.['x-ratelimit-reset'];
  const n = raw === undefined ? NaN : Number.parseInt(raw, 10);
  return Number.isFinite(n) && n >= 0 ? n : DEFAULT_RATE_LIMIT_RESET_S;
}

/** Most characters of a remote text that reach status. */
export const MAX_EXCERPT = 200;

/**
 * Makes text from a remote server fit for status: control and format characters (terminal
 * escapes, bidi overrides) removed, whitespace collapsed, the keys redacted, at most `max` characters.
 */
export function excerpt(text: string, credentials: DatadogCredentials, max = MAX_EXCERPT): string {
  const clean = redact(sanitizeText(text), credentials);
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
}

/** Most characters of a monitor name kept. */
const MAX_NAME = 120;

function clipText(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** Removes control and format characters and collapses whitespace. */
export function sanitizeText(text: string): string {
  return text
    .replace(/\s+/g, ' ')
    .replace(/[\p{Cc}\p{Cf}\p{Co}\p{Cs}]/gu, '')
    .trim();
}

/** Removes the keys from a message should anything have echoed them. */
export function redact(message: string, credentials: DatadogCredentials): string {
  let out = message;
  for (const key of [credentials.apiKey, credentials.appKey]) {
    if (key && key.length >= 4) out = out.split(key).join('[redacted]');
  }
  return out;
}
