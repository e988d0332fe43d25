// A local stand-in for Datadog's HTTP API, for tests and the demo. It is NOT Datadog: it
// follows the published contract of the endpoints the operator uses, with data set by tests.
import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { deliver, renderPayload, type StandInWebhook, type WebhookDelivery } from './webhook.js';

export const STAND_IN_BANNER = 'Local stand-in for the Datadog API (for tests and demos). This is not Datadog.';

/** DORA requests received, as sent on the wire (snake_case). */
export interface DoraEvents {
  deployments: unknown[];
  failures: unknown[];
  /** PATCH /api/v2/dora/deployments/{id}: the id and the body. */
  patches: Array<{ id: string; body: unknown }>;
}

export type MonitorStatus = 'OK' | 'Alert' | 'Warn' | 'No Data' | 'Skipped' | 'Ignored' | 'Unknown' | (string & {});

export interface StandInMonitor {
  id: number;
  name: string;
  tags?: string[];
  /** Default "avg(last_5m):avg:app.errors{*} > 1". */
  query?: string;
  /** Default "metric alert". */
  type?: string;
  /** State of a simple monitor (no groups); default OK. A multi-alert monitor's overall state is its worst group. */
  overallState?: MonitorStatus;
  /** Groups of a multi-alert monitor: name (e.g. "env:prod,version:1.4.2") -> status. */
  groups?: Record<string, MonitorStatus>;
  /** Add a group "version:<v>" (status OK unless alerting) for every version set with setVersions(). */
  groupByVersion?: boolean;
}

export interface SeriesSource {
  /** Value of every bucket in the window (null: a gap). */
  value?: number | null;
  /** Value of the newest, still incomplete bucket (default: value). */
  lastValue?: number | null;
  /** Literal points [ms, value]; returned when inside the queried window. */
  points?: Array<[number, number | null]>;
  /** Bucket size in seconds; default 60. */
  intervalSec?: number;
}

export interface VersionSeriesRule extends Omit<SeriesSource, 'value' | 'points'> {
  /** Applies to queries containing this text (e.g. the metric name). */
  metric: string;
  /** Value for the version found as `version:<v>` in the query. */
  values: Record<string, number | null>;
  /** Value for other versions; default: no series. */
  default?: number | null;
}

export interface Fault {
  /** Path to match; `*` matches any characters (e.g. "/api/v1/monitor/*"). */
  path: string;
  method?: string;
  /** Status to answer with; omit to only delay. */
  status?: number;
  /** Body: a string or bytes are sent as is (malformed JSON is allowed), anything else as JSON. */
  body?: unknown;
  /** Content-Type of the answer; default application/json. */
  contentType?: string;
  /** Announce the body's length but close the connection halfway through it. */
  cutShort?: boolean;
  /** Accept the request and never answer it (the connection stays open until clearFaults or close). */
  blackhole?: boolean;
  headers?: Record<string, string>;
  /** Wait before answering (or before handling normally when status is omitted). */
  delayMs?: number;
  /** How many requests it applies to; default every one. */
  times?: number;
}

export interface RateLimitFault {
  path: string;
  /** Next N requests get 429; default 1. */
  times?: number;
  /** x-ratelimit-reset in seconds; default 1. */
  resetSeconds?: number;
  limit?: number;
  period?: number;
}

/** An organisation's rate limit on a group of endpoints, as Datadog enforces it: a fixed window. */
export interface Quota {
  /** Path to match; `*` matches any characters. */
  path: string;
  /** Requests allowed per window. */
  limit: number;
  periodSeconds: number;
}

interface QuotaState extends Quota {
  re: RegExp;
  windowStart: number;
  used: number;
}

export interface LoggedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  time: number;
  /** sha256 prefix of DD-API-KEY / DD-APPLICATION-KEY as received ("none" when absent). */
  apiKey: string;
  appKey: string;
  status: number;
  /** The answer came from an injected fault (a garbage 200 is not a measurement). */
  fault?: true;
}

export interface StandInOptions {
  apiKey: string;
  appKey: string;
  port?: number;
  host?: string;
}

type SeriesFunction = (query: string, fromMs: number, toMs: number) => SeriesSource | undefined;

interface StoredFault extends Fault {
  re: RegExp;
  remaining: number;
}

const STATUS_RANK: Record<string, number> = { OK: 0, Skipped: 1, Ignored: 1, Unknown: 2, 'No Data': 3, Warn: 4, Alert: 5 };

export function keyFingerprint(key: string | undefined): string {
  return key ? createHash('sha256').update(key).digest('hex').slice(0, 12) : 'none';
}

export class DatadogStandIn {
  private keys: { apiKey: string; appKey: string };
  private readonly server: Server;
  /** Answers a blackhole fault holds open. */
  private held = new Set<ServerResponse>();
  private monitors = new Map<number, StandInMonitor>();
  private series = new Map<string, SeriesSource>();
  private seriesPatterns: Array<{ re: RegExp; source: SeriesSource }> = [];
  private versionRules: VersionSeriesRule[] = [];
  private seriesFn: SeriesFunction | undefined;
  private alertVersions = new Set<string>();
  private versions: string[] = [];
  private faults: StoredFault[] = [];
  private quotas: QuotaState[] = [];
  private log: LoggedRequest[] = [];
  private eventsPosted: unknown[] = [];
  private dora: DoraEvents = { deployments: [], failures: [], patches: [] };
  private nextEventId = 1_000_000;
  private webhook: StandInWebhook | undefined;
  private deliveries: Array<Promise<WebhookDelivery>> = [];

  private constructor(options: StandInOptions) {
    this.keys = { apiKey: options.apiKey, appKey: options.appKey };
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) send(res, 500, { errors: [`stand-in error: ${err instanceof Error ? err.message : String(err)}`] });
      });
    });
  }

  /** Starts a stand-in on 127.0.0.1 (port 0 picks a free port). */
  static async start(options: StandInOptions): Promise<DatadogStandIn> {
    const s = new DatadogStandIn(options);
    await new Promise<void>((resolve, reject) => {
      s.server.once('error', reject);
      s.server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
    });
    return s;
  }

  /** The API key accepted now. */
  get apiKey(): string {
    return this.keys.apiKey;
  }

  /** The application key accepted now. */
  get appKey(): string {
    return this.keys.appKey;
  }

  /** Keys rotated: from now on only these are accepted (the old ones get 403, as revoked keys do). */
  rotateKeys(apiKey: string, appKey: string): void {
    this.keys = { apiKey, appKey };
  }

  /** Base URL, e.g. http://127.0.0.1:38123; use it as the credentials' url. */
  get url(): string {
    const a = this.server.address() as AddressInfo;
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return `http://${host}:${a.port}`;
  }

  async close(): Promise<void> {
    this.releaseHeld();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ---- programming ----

  reset(): void {
    this.monitors.clear();
    this.series.clear();
    this.seriesPatterns = [];
    this.versionRules = [];
    this.seriesFn = undefined;
    this.alertVersions.clear();
    this.versions = [];
    this.faults = [];
    this.releaseHeld();
    this.quotas = [];
    this.webhook = undefined;
    this.deliveries = [];
    this.log = [];
    this.eventsPosted = [];
    this.dora = { deployments: [], failures: [], patches: [] };
  }

  setMonitors(monitors: StandInMonitor[]): void {
    this.notifyChanges(() => (this.monitors = new Map(monitors.map((m) => [m.id, structuredClone(m)]))));
  }

  upsertMonitor(monitor: StandInMonitor): void {
    this.notifyChanges(() => this.monitors.set(monitor.id, structuredClone(monitor)));
  }

  /**
   * Datadog's Webhooks integration: from now on a monitor or group that starts alerting (or
   * recovers) is posted to the webhook, as for a monitor whose message mentions @webhook-<name>.
   */
  setWebhook(hook: StandInWebhook | undefined): void {
    this.webhook = hook ? structuredClone(hook) : undefined;
  }

  /**
   * Posts a notification for a monitor as Datadog would (also without a state change: a replay or
   * a test). `headers` replaces the webhook's custom headers; `body` replaces the rendered payload.
   */
  notify(monitorId: number, transition: string, scope: string, over: { eventId?: string; headers?: Record<string, string>; body?: string } = {}): Promise<WebhookDelivery> {
    const hook = this.webhook;
    if (!hook) return Promise.reject(new Error('no webhook set (setWebhook)'));
    const m = this.monitors.get(monitorId);
    const eventId = over.eventId ?? String(this.nextEventId++);
    const now = Date.now();
    const body =
      over.body ??
      renderPayload(hook.payload, {
        ID: eventId,
        ALERT_ID: String(monitorId),
        ALERT_TRANSITION: transition,
        ALERT_SCOPE: scope,
        DATE: String(now),
        ALERT_CYCLE_KEY: `${monitorId}-${scope}`,
        ALERT_TITLE: `[${transition}${scope ? ` on {${scope}}` : ''}] ${m?.name ?? ''}`,
        ALERT_TYPE: transition === 'Recovered' ? 'success' : 'error',
      });
    const delivery = deliver(hook, { monitorId, transition, scope, sentAt: now, body, headers: over.headers ?? { ...hook.headers } });
    this.deliveries.push(delivery);
    return delivery;
  }

  /** The notifications posted so far, once answered. */
  async webhookDeliveries(): Promise<WebhookDelivery[]> {
    return Promise.all(this.deliveries);
  }

  /** Every monitor's and group's state, to see what a change did. */
  private states(): Map<string, { id: number; scope: string; state: string }> {
    const out = new Map<string, { id: number; scope: string; state: string }>();
    for (const m of this.monitors.values()) {
      const groups = this.groupsOf(m);
      if (Object.keys(groups).length === 0) out.set(`${m.id}`, { id: m.id, scope: '', state: m.overallState ?? 'OK' });
      for (const [g, state] of Object.entries(groups)) out.set(`${m.id} ${g}`, { id: m.id, scope: g, state });
    }
    return out;
  }

  /** Runs a change; with a webhook set, posts Triggered for what started alerting and Recovered for what stopped. */
  private notifyChanges(change: () => unknown): void {
    const hook = this.webhook;
    const before = hook ? this.states() : undefined;
    change();
    if (!hook || !before) return;
    const wanted = new Set(hook.transitions ?? ['Triggered', 'Recovered']);
    for (const [key, now] of this.states()) {
      const was = before.get(key)?.state ?? 'OK';
      const transition = now.state === 'Alert' && was !== 'Alert' ? 'Triggered' : was === 'Alert' && now.state === 'OK' ? 'Recovered' : undefined;
      if (transition && wanted.has(transition)) void this.notify(now.id, transition, now.scope);
    }
  }

  removeMonitor(id: number): void {
    this.monitors.delete(id);
  }

  /** Series for an exact query string (whitespace-trimmed), or for queries matching a RegExp. */
  setSeries(query: string | RegExp, source: SeriesSource): void {
    if (typeof query === 'string') this.series.set(query.trim(), structuredClone(source));
    else this.seriesPatterns.push({ re: query, source: structuredClone(source) });
  }

  /** Series as a function of the query; wins over everything else when it returns a source. */
  setSeriesFunction(fn: SeriesFunction | undefined): void {
    this.seriesFn = fn;
  }

  /** Values per `version:<v>` tag in the query, for queries containing rule.metric. */
  setSeriesByVersion(rule: VersionSeriesRule): void {
    this.versionRules = this.versionRules.filter((r) => r.metric !== rule.metric);
    this.versionRules.push(structuredClone(rule));
  }

  clearSeries(): void {
    this.series.clear();
    this.seriesPatterns = [];
    this.versionRules = [];
    this.seriesFn = undefined;
  }

  /** Groups tagged version:<v> for these versions are Alert (and so is their monitor's overall state). */
  setAlertVersions(versions: string[]): void {
    this.notifyChanges(() => (this.alertVersions = new Set(versions)));
  }

  /** Versions that monitors with groupByVersion report groups for. */
  setVersions(versions: string[]): void {
    this.notifyChanges(() => (this.versions = [...versions]));
  }

  addFault(fault: Fault): void {
    this.faults.push({ ...fault, re: pathPattern(fault.path), remaining: fault.times ?? Number.POSITIVE_INFINITY });
  }

  /** The next `times` requests to path get 429 with Datadog's x-ratelimit-* headers. */
  rateLimit(r: RateLimitFault): void {
    const reset = r.resetSeconds ?? 1;
    this.addFault({
      path: r.path,
      status: 429,
      times: r.times ?? 1,
      body: { errors: ['Rate limit of 1000 requests in 3600 seconds reached. Please try again later.'] },
      headers: {
        'x-ratelimit-limit': String(r.limit ?? 1000),
        'x-ratelimit-period': String(r.period ?? 3600),
        'x-ratelimit-remaining': '0',
        'x-ratelimit-reset': String(reset),
        'x-ratelimit-name': 'monitor_api',
      },
    });
  }

  /**
   * A rate limit shared by every key of the organisation: each answer on the path carries
   * x-ratelimit-limit/-period/-remaining/-reset, and requests beyond the limit get 429 until the window ends.
   */
  setQuota(q: Quota): void {
    this.quotas.push({ ...q, re: pathPattern(q.path), windowStart: Date.now(), used: 0 });
  }

  /** Removes the faults; requests a blackhole holds are cut (their connections closed). */
  clearFaults(): void {
    this.faults = [];
    this.releaseHeld();
  }

  /** Removes the rate-limit quotas (setQuota). */
  clearQuotas(): void {
    this.quotas = [];
  }

  /** Requests held open by a blackhole right now. */
  get heldRequests(): number {
    return this.held.size;
  }

  private releaseHeld(): void {
    for (const res of this.held) res.destroy();
    this.held.clear();
  }

  /** Requests received under /api/, oldest first; optionally only paths starting with prefix. */
  requests(pathPrefix?: string): LoggedRequest[] {
    return this.log.filter((r) => !pathPrefix || r.path.startsWith(pathPrefix)).map((r) => ({ ...r, query: { ...r.query } }));
  }

  clearRequests(): void {
    this.log = [];
  }

  events(): unknown[] {
    return structuredClone(this.eventsPosted);
  }

  doraEvents(): DoraEvents {
    return structuredClone(this.dora);
  }

  /** The monitor as the API would return it (groups included). */
  monitorJson(id: number, groupStates = 'all'): Record<string, unknown> | undefined {
    const m = this.monitors.get(id);
    return m ? this.toWire(m, groupStates) : undefined;
  }

  // ---- HTTP ----

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://stand-in');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const method = (req.method ?? 'GET').toUpperCase();
    const body = await readBody(req);
    if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`${STAND_IN_BANNER}\nAPI: /api/v1/monitor, /api/v1/monitor/search, /api/v1/query, /api/v2/query/scalar, /api/v1/events, /api/v2/dora/*, /api/v1/validate\nControl: /_stand-in/*\n`);
      return;
    }
    if (path.startsWith('/_stand-in/')) {
      this.control(method, path.slice('/_stand-in/'.length), url, body, res);
      return;
    }
    const query = Object.fromEntries(url.searchParams);
    const entry: LoggedRequest = {
      method,
      path,
      query,
      time: Date.now(),
      apiKey: keyFingerprint(header(req, 'dd-api-key')),
      appKey: keyFingerprint(header(req, 'dd-application-key')),
      status: 0,
    };
    this.log.push(entry);
    if (this.log.length > 10_000) this.log.shift();
    const quotaHeaders: Record<string, string> = {};
    const quota = this.quotas.find((q) => q.re.test(path));
    if (quota) {
      const now = Date.now();
      if (now - quota.windowStart >= quota.periodSeconds * 1000) {
        quota.windowStart = now;
        quota.used = 0;
      }
      quota.used++;
      Object.assign(quotaHeaders, {
        'x-ratelimit-limit': String(quota.limit),
        'x-ratelimit-period': String(quota.periodSeconds),
        'x-ratelimit-remaining': String(Math.max(0, quota.limit - quota.used)),
        'x-ratelimit-reset': String(Math.max(0, Math.ceil((quota.windowStart + quota.periodSeconds * 1000 - now) / 1000))),
      });
    }
    const finish = (status: number, payload: unknown, headers: Record<string, string> = {}): void => {
      entry.status = status;
      send(res, status, payload, { ...quotaHeaders, ...headers });
    };
    if (quota && quota.used > quota.limit) {
      finish(429, { errors: [`Rate limit of ${quota.limit} requests in ${quota.periodSeconds} seconds reached. Please try again later.`] });
      return;
    }

    const fault = this.faults.find((f) => f.remaining > 0 && f.re.test(path) && (!f.method || f.method.toUpperCase() === method));
    if (fault) {
      fault.remaining--;
      if (fault.status !== undefined || fault.blackhole) entry.fault = true;
      if (fault.blackhole) {
        this.held.add(res);
        res.once('close', () => this.held.delete(res));
        return;
      }
      if (fault.delayMs) await sleep(fault.delayMs);
      if (res.destroyed) return;
      if (fault.status !== undefined && (fault.cutShort || fault.contentType !== undefined || fault.body instanceof Uint8Array)) {
        entry.status = fault.status;
        sendRaw(res, fault.status, fault.body ?? '', { ...quotaHeaders, ...fault.headers }, fault);
        return;
      }
      if (fault.status !== undefined) {
        finish(fault.status, fault.body ?? { errors: [statusText(fault.status)] }, fault.headers);
        return;
      }
    }

    const apiKeyOk = header(req, 'dd-api-key') === this.apiKey;
    const appKeyOk = header(req, 'dd-application-key') === this.appKey;
    // DORA: creating deployments and failures takes the API key only; patching a deployment also the app key.
    const apiKeyOnly = path === '/api/v1/validate' || path === '/api/v1/events' || (method === 'POST' && (path === '/api/v2/dora/deployment' || path === '/api/v2/dora/failure'));
    if (!apiKeyOk || (!apiKeyOnly && !appKeyOk)) {
      finish(403, { errors: ['Forbidden'] });
      return;
    }
    const [status, payload] = this.route(method, path, url.searchParams, body);
    finish(status, payload);
  }

  private route(method: string, path: string, q: URLSearchParams, body: string): [number, unknown] {
    if (method === 'GET' && path === '/api/v1/validate') return [200, { valid: true }];
    if (method === 'GET' && path === '/api/v1/monitor/search') return this.searchMonitors(q);
    if (method === 'GET' && path === '/api/v1/monitor') return this.listMonitors(q);
    const byId = /^\/api\/v1\/monitor\/([^/]+)$/.exec(path);
    if (method === 'GET' && byId) {
      const id = Number(byId[1]);
      const m = Number.isSafeInteger(id) ? this.monitors.get(id) : undefined;
      if (!m) return [404, { errors: ['Monitor not found'] }];
      return [200, this.toWire(m, q.get('group_states') ?? undefined)];
    }
    if (method === 'GET' && path === '/api/v1/query') return this.queryMetrics(q);
    if (method === 'POST' && path === '/api/v2/query/scalar') return this.queryScalar(body);
    if (method === 'POST' && path === '/api/v1/events') return this.postEvent(body);
    if (method === 'POST' && path === '/api/v2/dora/deployment') return this.postDora('deployments', 'dora_deployment', body);
    if (method === 'POST' && path === '/api/v2/dora/failure') return this.postDora('failures', 'dora_failure', body);
    const doraPatch = /^\/api\/v2\/dora\/deployments\/([^/]+)$/.exec(path);
    if (method === 'PATCH' && doraPatch) return this.patchDora(decodeURIComponent(doraPatch[1] ?? ''), body);
    return [404, { errors: ['Not found'] }];
  }

  private groupsOf(m: StandInMonitor): Record<string, string> {
    const groups: Record<string, string> = { ...(m.groups ?? {}) };
    if (m.groupByVersion) for (const v of this.versions) groups[`version:${v}`] ??= 'OK';
    for (const name of Object.keys(groups)) {
      const tags = name.split(',').map((t) => t.trim());
      if (tags.some((t) => t.startsWith('version:') && this.alertVersions.has(t.slice('version:'.length)))) groups[name] = 'Alert';
    }
    return groups;
  }

  private overallState(m: StandInMonitor): string {
    const groups = Object.values(this.groupsOf(m));
    if (groups.length === 0) return m.overallState ?? 'OK';
    return groups.reduce((worst, s) => ((STATUS_RANK[s] ?? 2) > (STATUS_RANK[worst] ?? 2) ? s : worst), 'OK');
  }

  private toWire(m: StandInMonitor, groupStates: string | undefined): Record<string, unknown> {
    const groups = this.groupsOf(m);
    const wire: Record<string, unknown> = {
      id: m.id,
      name: m.name,
      type: m.type ?? 'metric alert',
      query: m.query ?? 'avg(last_5m):avg:app.errors{*} > 1',
      message: '',
      tags: m.tags ?? [],
      options: { notify_no_data: false, thresholds: { critical: 1 } },
      overall_state: this.overallState(m),
      multi: Object.keys(groups).length > 0,
      created: '2024-01-01T00:00:00.000000+00:00',
      modified: '2024-01-01T00:00:00.000000+00:00',
      org_id: 1,
      priority: null,
      restricted_roles: null,
      deleted: null,
    };
    if (groupStates) {
      const wanted = groupStates === 'all' ? undefined : new Set(groupStates.split(',').map((s) => s.trim().toLowerCase()));
      const out: Record<string, unknown> = {};
      for (const [name, status] of Object.entries(groups)) {
        if (wanted && !wanted.has(status.toLowerCase())) continue;
        out[name] = { name, status, last_triggered_ts: status === 'Alert' ? 1_700_000_000 : 0, last_notified_ts: 0, last_resolved_ts: 0, last_nodata_ts: 0 };
      }
      wire.state = { groups: out };
    }
    return wire;
  }

  private listMonitors(q: URLSearchParams): [number, unknown] {
    const monitorTags = splitList(q.get('monitor_tags'));
    const scopeTags = splitList(q.get('tags'));
    const name = q.get('name')?.toLowerCase();
    let list = [...this.monitors.values()]
      .sort((a, b) => a.id - b.id)
      .filter((m) => monitorTags.every((t) => (m.tags ?? []).includes(t)))
      .filter((m) => scopeTags.every((t) => (m.query ?? '').includes(t) || Object.keys(this.groupsOf(m)).some((g) => g.split(',').includes(t))))
      .filter((m) => !name || m.name.toLowerCase().includes(name));
    const page = q.get('page');
    if (page !== null) {
      const size = Math.min(Math.max(Number(q.get('page_size') ?? 100) || 100, 1), 1000);
      const p = Math.max(Number(page) || 0, 0);
      list = list.slice(p * size, p * size + size);
    }
    return [200, list.map((m) => this.toWire(m, q.get('group_states') ?? undefined))];
  }

  private searchMonitors(q: URLSearchParams): [number, unknown] {
    const terms = parseSearch(q.get('query') ?? '');
    const hits = [...this.monitors.values()]
      .sort((a, b) => a.id - b.id)
      .filter((m) =>
        terms.every((t) => {
          switch (t.field) {
            case 'tag':
              return (m.tags ?? []).includes(t.value);
            case 'status':
              return this.overallState(m).toLowerCase() === t.value.toLowerCase();
            case 'type':
              return (m.type ?? 'metric alert').toLowerCase() === t.value.toLowerCase();
            case 'id':
              return String(m.id) === t.value;
            case 'scope':
              return (m.query ?? '').includes(t.value);
            default:
              return m.name.toLowerCase().includes(t.value.toLowerCase());
          }
        }),
      );
    const perPage = Math.min(Math.max(Number(q.get('per_page') ?? 30) || 30, 1), 1000);
    const page = Math.max(Number(q.get('page') ?? 0) || 0, 0);
    const pageHits = hits.slice(page * perPage, page * perPage + perPage);
    const count = (values: string[]): Array<{ name: string; count: number }> => {
      const c = new Map<string, number>();
      for (const v of values) c.set(v, (c.get(v) ?? 0) + 1);
      return [...c].map(([name, n]) => ({ name, count: n }));
    };
    return [
      200,
      {
        monitors: pageHits.map((m) => ({
          id: m.id,
          name: m.name,
          status: this.overallState(m),
          tags: m.tags ?? [],
          type: m.type ?? 'metric alert',
          query: m.query ?? 'avg(last_5m):avg:app.errors{*} > 1',
          classification: 'metric',
          creator: { name: 'Stand-in', handle: 'stand-in@example.com', email: 'stand-in@example.com' },
          last_triggered_ts: null,
          metrics: [],
          notifications: [],
          org_id: 1,
          scopes: [],
        })),
        metadata: { page, page_count: Math.ceil(hits.length / perPage), per_page: perPage, total_count: hits.length },
        counts: {
          status: count(hits.map((m) => this.overallState(m))),
          type: count(hits.map((m) => m.type ?? 'metric alert')),
          tag: count(hits.flatMap((m) => m.tags ?? [])),
          muted: [],
        },
      },
    ];
  }

  private findSeries(query: string, fromMs: number, toMs: number): SeriesSource | undefined {
    const fromFn = this.seriesFn?.(query, fromMs, toMs);
    if (fromFn) return fromFn;
    const exact = this.series.get(query.trim());
    if (exact) return exact;
    const pattern = this.seriesPatterns.find((p) => p.re.test(query));
    if (pattern) return pattern.source;
    for (const rule of this.versionRules) {
      if (!query.includes(rule.metric)) continue;
      const version = /version:([^,}\s)]+)/.exec(query)?.[1];
      const value = version !== undefined && version in rule.values ? rule.values[version] : rule.default;
      if (value === undefined) return undefined;
      const source: SeriesSource = { value };
      if (rule.lastValue !== undefined) source.lastValue = rule.lastValue;
      if (rule.intervalSec !== undefined) source.intervalSec = rule.intervalSec;
      return source;
    }
    return undefined;
  }

  private queryMetrics(q: URLSearchParams): [number, unknown] {
    const from = Number(q.get('from'));
    const to = Number(q.get('to'));
    const query = q.get('query');
    if (!query || !Number.isFinite(from) || !Number.isFinite(to) || q.get('from') === null || q.get('to') === null) {
      return [400, { errors: ['The parameters from, to and query are required'] }];
    }
    if (from > to) return [400, { errors: ['from must be before to'] }];
    const fromMs = from * 1000;
    const toMs = to * 1000;
    const source = this.findSeries(query, fromMs, toMs);
    const series: unknown[] = [];
    if (source) {
      const intervalSec = source.intervalSec ?? 60;
      const iv = intervalSec * 1000;
      const pointlist = pointsOf(source, fromMs, toMs);
      if (pointlist.length > 0) {
        const metric = /:([A-Za-z0-9_.]+)\{/.exec(query)?.[1] ?? query;
        series.push({
          metric,
          display_name: metric,
          scope: /\{([^}]*)\}/.exec(query)?.[1] ?? '*',
          expression: query,
          aggr: /^(avg|sum|min|max):/.exec(query)?.[1] ?? 'avg',
          interval: intervalSec,
          length: pointlist.length,
          start: pointlist[0]?.[0],
          end: (pointlist[pointlist.length - 1]?.[0] ?? 0) + iv - 1000,
          pointlist,
          tag_set: [],
          query_index: 0,
        });
      }
    }
    return [
      200,
      { status: 'ok', res_type: 'time_series', resp_version: 1, query, from_date: fromMs, to_date: toMs, series, message: '', group_by: [], values: [], times: [] },
    ];
  }

  /**
   * POST /api/v2/query/scalar (metrics queries, no formulas): one number column per query, its
   * series over [from, to] (ms) reduced by the query's aggregator; values [null] without data.
   */
  private queryScalar(body: string): [number, unknown] {
    const parsed = parseJson(body) as { data?: { type?: unknown; attributes?: { from?: unknown; to?: unknown; queries?: unknown; formulas?: unknown } } } | undefined;
    const a = parsed?.data?.attributes;
    if (parsed?.data?.type !== 'scalar_request' || !a || typeof a.from !== 'number' || typeof a.to !== 'number' || !Array.isArray(a.queries) || a.queries.length === 0) {
      return [400, { errors: ['data.type must be scalar_request, with data.attributes.from, to (ms) and queries'] }];
    }
    if (Array.isArray(a.formulas) && a.formulas.length > 0) return [400, { errors: ['formulas are not supported by the stand-in'] }];
    if (a.from > a.to) return [400, { errors: ['from must be before to'] }];
    const columns: unknown[] = [];
    for (const [i, raw] of a.queries.entries()) {
      const q = raw as { data_source?: unknown; query?: unknown; aggregator?: unknown; name?: unknown };
      if (q.data_source !== 'metrics' || typeof q.query !== 'string') return [400, { errors: [`queries[${i}]: data_source "metrics" and a query are required`] }];
      const aggregator = typeof q.aggregator === 'string' ? q.aggregator : 'avg';
      const source = this.findSeries(q.query, a.from, a.to);
      const values = (source ? pointsOf(source, a.from, a.to) : []).map(([, v]) => v).filter((v): v is number => v !== null);
      const reduced = reduce(values, aggregator);
      if (reduced === 'unsupported') return [400, { errors: [`queries[${i}]: aggregator ${aggregator} is not supported by the stand-in`] }];
      columns.push({ name: typeof q.name === 'string' ? q.name : `query${i + 1}`, type: 'number', values: [reduced], meta: { unit: null } });
    }
    return [200, { data: { type: 'scalar_response', attributes: { columns } } }];
  }

  private postEvent(body: string): [number, unknown] {
    const parsed = parseJson(body) as Record<string, unknown> | undefined;
    if (!parsed || typeof parsed.title !== 'string' || typeof parsed.text !== 'string') {
      return [400, { errors: ['Event title and text are required'] }];
    }
    this.eventsPosted.push(parsed);
    const id = this.nextEventId++;
    return [
      202,
      {
        status: 'ok',
        event: {
          id,
          id_str: String(id),
          title: parsed.title,
          text: parsed.text,
          tags: Array.isArray(parsed.tags) ? parsed.tags : [],
          priority: parsed.priority ?? null,
          date_happened: typeof parsed.date_happened === 'number' ? parsed.date_happened : Math.floor(Date.now() / 1000),
          url: `${this.url}/event/event?id=${id}`,
        },
      },
    ];
  }

  private postDora(kind: 'deployments' | 'failures', type: string, body: string): [number, unknown] {
    const parsed = parseJson(body) as { data?: { attributes?: unknown } } | undefined;
    if (!parsed?.data?.attributes || typeof parsed.data.attributes !== 'object') return [400, { errors: ['data.attributes is required'] }];
    // A deployment with an id replaces the one with the same id (the id makes a repeated call the same deployment).
    const id = (parsed.data.attributes as { id?: unknown }).id;
    if (kind === 'deployments' && typeof id === 'string') {
      const at = this.dora.deployments.findIndex((d) => (d as { data: { attributes: { id?: unknown } } }).data.attributes.id === id);
      if (at >= 0) this.dora.deployments[at] = parsed;
      else this.dora.deployments.push(parsed);
      return [200, { data: { id, type } }];
    }
    this.dora[kind].push(parsed);
    return [202, { data: { id: randomUUID().replace(/-/g, '').slice(0, 20), type } }];
  }

  /** PATCH /api/v2/dora/deployments/{id}: 204 when the deployment exists; the body must be a dora_deployment_patch_request. */
  private patchDora(id: string, body: string): [number, unknown] {
    const parsed = parseJson(body) as { data?: { type?: unknown; attributes?: unknown } } | undefined;
    if (parsed?.data?.type !== 'dora_deployment_patch_request' || !parsed.data.attributes || typeof parsed.data.attributes !== 'object') {
      return [400, { errors: ['data.type must be dora_deployment_patch_request, with data.attributes'] }];
    }
    const known = this.dora.deployments.some((d) => (d as { data: { attributes: { id?: unknown } } }).data.attributes.id === id);
    if (!known) return [404, { errors: ['deployment not found'] }];
    this.dora.patches.push({ id, body: parsed });
    return [204, undefined];
  }

  // ---- control over HTTP (JSON), for the demo ----

  private control(method: string, path: string, url: URL, body: string, res: ServerResponse): void {
    const json = (parseJson(body) ?? {}) as Record<string, unknown>;
    const ok = (payload: unknown = { ok: true }): void => send(res, 200, payload);
    const bad = (message: string): void => send(res, 400, { errors: [message] });
    try {
      switch (`${method} ${path}`) {
        case 'GET state':
          return ok({
            banner: STAND_IN_BANNER,
            monitors: [...this.monitors.keys()].map((id) => this.monitorJson(id)),
            series: [...this.series.keys()],
            seriesByVersion: this.versionRules,
            alertVersions: [...this.alertVersions],
            versions: this.versions,
            faults: this.faults.map(({ re: _re, ...f }) => f),
          });
        case 'POST reset':
          this.reset();
          return ok();
        case 'PUT monitors':
          if (!Array.isArray(json.monitors)) return bad('body must be {"monitors": [...]}');
          this.setMonitors(json.monitors as StandInMonitor[]);
          return ok();
        case 'POST monitors':
          if (typeof json.id !== 'number' || typeof json.name !== 'string') return bad('a monitor needs a numeric id and a name');
          this.upsertMonitor(json as unknown as StandInMonitor);
          return ok();
        case 'POST series':
          if (typeof json.match === 'string') this.setSeries(new RegExp(json.match), json as SeriesSource);
          else if (typeof json.query === 'string') this.setSeries(json.query, json as SeriesSource);
          else return bad('series needs "query" (exact) or "match" (a regular expression)');
          return ok();
        case 'POST series-by-version':
          if (typeof json.metric !== 'string' || !json.values || typeof json.values !== 'object') return bad('needs "metric" and "values"');
          this.setSeriesByVersion(json as unknown as VersionSeriesRule);
          return ok();
        case 'DELETE series':
          this.clearSeries();
          return ok();
        case 'PUT alert-versions':
          this.setAlertVersions(stringList(json.versions));
          return ok();
        case 'PUT versions':
          this.setVersions(stringList(json.versions));
          return ok();
        case 'POST faults':
          if (typeof json.path !== 'string') return bad('a fault needs a "path"');
          this.addFault(json as unknown as Fault);
          return ok();
        case 'POST rate-limit':
          if (typeof json.path !== 'string') return bad('needs a "path"');
          this.rateLimit(json as unknown as RateLimitFault);
          return ok();
        case 'DELETE faults':
          this.clearFaults();
          return ok();
        case 'GET requests':
          return ok(this.requests(url.searchParams.get('path') ?? undefined));
        case 'DELETE requests':
          this.clearRequests();
          return ok();
        case 'GET events':
          return ok(this.events());
        case 'GET dora':
          return ok(this.doraEvents());
        default: {
          const del = /^DELETE monitors\/(\d+)$/.exec(`${method} ${path}`);
          if (del) {
            this.removeMonitor(Number(del[1]));
            return ok();
          }
          send(res, 404, { errors: [`unknown control endpoint ${method} /_stand-in/${path}`] });
        }
      }
    } catch (err) {
      bad(err instanceof Error ? err.message : String(err));
    }
  }
}

/** The buckets of a series source inside [fromMs, toMs]: its literal points, or one per interval. */
function pointsOf(source: SeriesSource, fromMs: number, toMs: number): Array<[number, number | null]> {
  const iv = (source.intervalSec ?? 60) * 1000;
  if (source.points) return source.points.filter(([ts]) => ts >= Math.floor(fromMs / iv) * iv && ts <= toMs);
  const pointlist: Array<[number, number | null]> = [];
  const last = Math.floor(toMs / iv) * iv;
  for (let ts = Math.floor(fromMs / iv) * iv; ts <= last; ts += iv) {
    pointlist.push([ts, ts === last && source.lastValue !== undefined ? source.lastValue : (source.value ?? null)]);
  }
  return pointlist;
}

/** A series reduced to one number as the v2 scalar query's aggregator does; null without values. */
function reduce(values: number[], aggregator: string): number | null | 'unsupported' {
  if (values.length === 0) return null;
  switch (aggregator) {
    case 'avg':
    case 'mean':
      return values.reduce((s, v) => s + v, 0) / values.length;
    case 'sum':
      return values.reduce((s, v) => s + v, 0);
    case 'min':
      return Math.min(...values);
    case 'max':
      return Math.max(...values);
    case 'last':
      return values[values.length - 1] ?? null;
    default:
      return 'unsupported';
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function send(res: ServerResponse, status: number, payload: unknown, headers: Record<string, string> = {}): void {
  if (res.destroyed) return;
  const text = payload === undefined ? '' : typeof payload === 'string' ? payload : JSON.stringify(payload);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** An answer byte for byte: any content type, bytes that are not UTF-8, or cut short. */
function sendRaw(res: ServerResponse, status: number, payload: unknown, headers: Record<string, string>, how: { contentType?: string; cutShort?: boolean }): void {
  if (res.destroyed) return;
  const bytes = payload instanceof Uint8Array ? Buffer.from(payload) : Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload));
  res.writeHead(status, { 'content-type': how.contentType ?? 'application/json', 'content-length': bytes.length, ...headers });
  if (!how.cutShort) {
    res.end(bytes);
    return;
  }
  res.write(bytes.subarray(0, Math.floor(bytes.length / 2)), () => res.destroy());
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function parseJson(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function pathPattern(path: string): RegExp {
  return new RegExp(`^${path.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
}

function splitList(v: string | null): string[] {
  return (v ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

function stringList(v: unknown): string[] {
  return Array.isArray(v) ? v.map(String) : [];
}

function statusText(status: number): string {
  return { 400: 'Bad Request', 403: 'Forbidden', 404: 'Not found', 429: 'Too Many Requests', 500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable' }[status] ?? `Error ${status}`;
}

/** Terms of a monitor search query: `tag:"k:v"`, `status:alert`, `type:"metric alert"`, free text. */
export function parseSearch(query: string): Array<{ field: string; value: string }> {
  const terms: Array<{ field: string; value: string }> = [];
  const re = /([A-Za-z_]+):"([^"]*)"|([A-Za-z_]+):(\S+)|"([^"]*)"|(\S+)/g;
  for (const m of query.matchAll(re)) {
    if (m[1] !== undefined) terms.push({ field: m[1].toLowerCase(), value: m[2] ?? '' });
    else if (m[3] !== undefined) terms.push({ field: m[3].toLowerCase(), value: m[4] ?? '' });
    else terms.push({ field: 'text', value: m[5] ?? m[6] ?? '' });
  }
  return terms;
}
