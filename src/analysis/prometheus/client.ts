// The Prometheus HTTP API (/api/v1/query and /api/v1/query_range), as Observations. Never throws.
import { formatDuration } from '../duration.js';
import { isAbort, networkFailure, redactValues, sendHttp } from '../http.js';
import type { CheckSecrets, Observation, PrometheusSample } from '../provider.js';
import { excerpt } from '../text.js';

/** Where and how to reach one Prometheus server. */
export interface PrometheusEndpoint {
  /** Base URL of the HTTP API, e.g. http://prometheus.monitoring:9090 or https://host/prometheus. */
  address: string;
  secrets?: CheckSecrets;
  insecureSkipVerify?: boolean;
}

/** Most bytes read of an answer: a check's query returns one sample, a comparison a few hundred points. */
export const MAX_PROMETHEUS_BYTES = 4 * 1024 * 1024;

export interface QueryOptions {
  signal: AbortSignal;
  /** For messages: how long the signal allows. */
  timeoutMs: number;
  now: () => number;
}

/** A link to the query in Prometheus' own UI (the table view). */
export function prometheusGraphUrl(address: string, query: string): string {
  return `${address}/graph?g0.expr=${encodeURIComponent(query)}&g0.tab=1`;
}

/** An instant query evaluated now: a 'samples' observation (vector or scalar), or an error. */
export async function queryInstant(endpoint: PrometheusEndpoint, query: string, opts: QueryOptions): Promise<Observation> {
  const time = (opts.now() / 1000).toFixed(3);
  return callApi(endpoint, '/api/v1/query', { query, time }, query, opts);
}

/** A range query over [startMs, endMs] with a step: a 'samples' observation with every point of every series. */
export async function queryRange(endpoint: PrometheusEndpoint, query: string, range: { startMs: number; endMs: number; stepMs: number }, opts: QueryOptions): Promise<Observation> {
  const params = { query, start: (range.startMs / 1000).toFixed(3), end: (range.endMs / 1000).toFixed(3), step: stepParam(range.stepMs) };
  return callApi(endpoint, '/api/v1/query_range', params, query, opts);
}

/** A step as Prometheus reads it: whole seconds as "30s", anything else in milliseconds ("1500ms"); at least 1ms. */
export function stepParam(stepMs: number): string {
  const ms = Math.max(1, Math.round(stepMs));
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

async function callApi(endpoint: PrometheusEndpoint, path: string, params: Record<string, string>, query: string, opts: QueryOptions): Promise<Observation> {
  const url = prometheusGraphUrl(endpoint.address, query);
  const secretValues = secretsOf(endpoint.secrets);
  const error = (message: string, status?: number): Observation => ({
    kind: 'error',
    takenAt: opts.now(),
    message: redactValues(message, secretValues),
    url,
    ...(status !== undefined ? { status } : {}),
  });
  const host = hostOf(endpoint.address);
  const headers: Record<string, string> = { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' };
  if (endpoint.secrets?.authorization) headers.authorization = endpoint.secrets.authorization;
  let status: number;
  let body: string;
  let truncated: boolean;
  try {
    // POST with a form body: Prometheus accepts it on both endpoints, and long queries do not hit URL limits.
    const res = await sendHttp({
      url: `${endpoint.address}${path}`,
      method: 'POST',
      headers,
      body: new URLSearchParams(params).toString(),
      ...(endpoint.secrets?.ca ? { ca: endpoint.secrets.ca } : {}),
      ...(endpoint.insecureSkipVerify ? { insecureSkipVerify: true } : {}),
      signal: opts.signal,
      maxBytes: MAX_PROMETHEUS_BYTES,
    });
    ({ status, truncated } = res);
    body = redactValues(res.body, secretValues);
  } catch (err) {
    if (isAbort(err)) return error(`no answer from Prometheus at ${host} within ${formatDuration(opts.timeoutMs)}`);
    return error(`cannot reach Prometheus at ${host}: ${excerpt(networkFailure(err))}`);
  }
  if (truncated) return error(`Prometheus at ${host} sent more than ${MAX_PROMETHEUS_BYTES / 1024 / 1024} MiB`, status);
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return error(`Prometheus at ${host} answered ${status} with a body that is not JSON: ${excerpt(body)}`, status);
  }
  const answer = isObject(parsed) ? parsed : {};
  if (answer.status !== 'success') {
    const why = typeof answer.error === 'string' ? `${typeof answer.errorType === 'string' ? `${answer.errorType}: ` : ''}${answer.error}` : excerpt(body);
    return error(`Prometheus at ${host} answered ${status}: ${excerpt(why)}`, status);
  }
  const samples = readSamples(answer.data);
  if (!samples) return error(`Prometheus at ${host} sent a result that could not be read: ${excerpt(JSON.stringify(answer.data ?? null))}`, status);
  return { kind: 'samples', takenAt: opts.now(), resultType: samples.resultType, samples: samples.samples, url };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** [unixSeconds, "value"] as Prometheus writes a sample. */
function readPair(p: unknown): { at: number; value: number } | undefined {
  if (!Array.isArray(p) || typeof p[0] !== 'number' || typeof p[1] !== 'string') return undefined;
  // Prometheus writes NaN, +Inf and -Inf as strings; Number() reads "+Inf" and "-Inf" but not "NaN" (NaN anyway).
  return { at: p[0] * 1000, value: Number(p[1]) };
}

function readMetric(m: unknown): Record<string, string> | undefined {
  if (m === undefined) return {};
  if (!isObject(m)) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(m)) {
    if (typeof v !== 'string') return undefined;
    out[k] = v;
  }
  return out;
}

/** The samples of a result: one per vector element, one for a scalar, every point of a matrix. */
function readSamples(data: unknown): { resultType: string; samples: PrometheusSample[] } | undefined {
  if (!isObject(data) || typeof data.resultType !== 'string') return undefined;
  const { resultType, result } = data;
  if (resultType === 'scalar' || resultType === 'string') {
    const pair = readPair(result);
    return pair ? { resultType, samples: [{ metric: {}, ...pair }] } : undefined;
  }
  if (!Array.isArray(result)) return undefined;
  const samples: PrometheusSample[] = [];
  for (const series of result) {
    if (!isObject(series)) return undefined;
    const metric = readMetric(series.metric);
    if (!metric) return undefined;
    if (resultType === 'vector') {
      const pair = readPair(series.value);
      if (!pair) return undefined;
      samples.push({ metric, ...pair });
    } else if (resultType === 'matrix') {
      if (!Array.isArray(series.values)) return undefined;
      for (const v of series.values) {
        const pair = readPair(v);
        if (!pair) return undefined;
        samples.push({ metric, ...pair });
      }
    } else return undefined;
  }
  return { resultType, samples };
}

function hostOf(address: string): string {
  try {
    return new URL(address).host;
  } catch {
    return 'an invalid address';
  }
}

/** Every secret value that must never reach a message. */
export function secretsOf(secrets: CheckSecrets | undefined): string[] {
  if (!secrets) return [];
  const out: string[] = [];
  if (secrets.authorization) out.push(secrets.authorization, ...secrets.authorization.split(/\s+/).slice(1));
  for (const v of Object.values(secrets.headers ?? {})) out.push(v);
  return out;
}
