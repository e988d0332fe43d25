// Lazily loads @datadog/datadog-api-client and keeps one configured API object per credential.
import { createHash } from 'node:crypto';
import type * as CommonModule from '@datadog/datadog-api-client/dist/packages/datadog-api-client-common/index.js';
import type * as V1Module from '@datadog/datadog-api-client/dist/packages/datadog-api-client-v1/index.js';
import type { DatadogCredentials } from '../provider.js';

type Common = typeof CommonModule;
type V1 = typeof V1Module;
export type DatadogConfiguration = CommonModule.Configuration;

export interface DatadogModules {
  client: Common;
  v1: V1;
}

/** The HTTP status and headers of the last response of one call. */
export interface ResponseInfo {
  status: number;
  headers: Record<string, string>;
}

/** One API object per credential fingerprint. */
export interface DatadogApis {
  fingerprint: string;
  monitors: V1Module.MonitorsApi;
  metrics: V1Module.MetricsApi;
  /** Options for one call: its own abort signal, and a way to read the response status and headers. */
  callOptions(signal: AbortSignal): CallOptions;
}

export interface CallOptions {
  options: DatadogConfiguration;
  response(): ResponseInfo | undefined;
}

const DEFAULT_SITE = 'datadoghq.com';
const MAX_CACHED_APIS = 64;
/** Most bytes read from one answer; a larger one is an error (a monitor list of 100 is far smaller). */
export const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;
/** Statuses whose responses cannot carry a body. */
const NO_BODY = new Set([204, 205, 304]);

/**
 * Node's fetch, but redirects are not followed (a redirect would carry the DD-API-KEY and
 * DD-APPLICATION-KEY headers to wherever it points; Datadog's API does not redirect) and at most
 * MAX_RESPONSE_BYTES of a body are read.
 */
export async function boundedFetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
  const response = await globalThis.fetch(input, { ...init, redirect: 'manual' });
  if (NO_BODY.has(response.status) || !response.body) {
    await response.body?.cancel().catch(() => undefined);
    return new Response(null, { status: response.status, statusText: response.statusText, headers: response.headers });
  }
  const declared = Number(response.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > MAX_RESPONSE_BYTES) {
    await response.body.cancel().catch(() => undefined);
    throw new Error(`the answer is larger than ${MAX_RESPONSE_BYTES / 1024 / 1024} MiB`);
  }
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_RESPONSE_BYTES) {
      await reader.cancel().catch(() => undefined);
      throw new Error(`the answer is larger than ${MAX_RESPONSE_BYTES / 1024 / 1024} MiB`);
    }
    chunks.push(value);
  }
  return new Response(Buffer.concat(chunks), { status: response.status, statusText: response.statusText, headers: response.headers });
}

let modulesPromise: Promise<DatadogModules> | undefined;
let importMs: number | undefined;
const apisByFingerprint = new Map<string, DatadogApis>();

/** Imports the v1 part of the client once (about 0.7 s instead of several seconds for the whole package). */
export function loadDatadogModules(): Promise<DatadogModules> {
  modulesPromise ??= (async (): Promise<DatadogModules> => {
    const started = performance.now();
    const [client, v1, logging] = await Promise.all([
      import('@datadog/datadog-api-client/dist/packages/datadog-api-client-common/index.js'),
      import('@datadog/datadog-api-client/dist/packages/datadog-api-client-v1/index.js'),
      import('@datadog/datadog-api-client/dist/logger.js'),
    ]);
    // The library logs through its own logger (debug when DEBUG is set); we report errors ourselves.
    (logging.logger as { setLevel(level: string): void }).setLevel('silent');
    importMs = performance.now() - started;
    return { client, v1 };
  })();
  // A failed import may succeed later (e.g. a transient file system error); do not cache the failure.
  modulesPromise.catch(() => {
    modulesPromise = undefined;
  });
  return modulesPromise;
}

/** Milliseconds the first import of the client took, once it has been loaded. */
export function datadogClientImportMs(): number | undefined {
  return importMs;
}

/** A stable, secret-free identity for a set of credentials (sha256 of keys, site and url). */
export function credentialFingerprint(credentials: DatadogCredentials): string {
  return createHash('sha256')
    .update(
      JSON.stringify([credentials.apiKey, credentials.appKey, credentials.site ?? DEFAULT_SITE, credentials.url ?? '']),
    )
    .digest('hex')
    .slice(0, 16);
}

/** The base URL calls go to: the url if set, else https://api.<site>. */
export function apiBaseUrl(credentials: DatadogCredentials): string {
  if (credentials.url) return credentials.url.replace(/\/+$/, '');
  return `https://api.${credentials.site ?? DEFAULT_SITE}`;
}

/**
 * The web app's origin for links: for a custom url its origin; for a site, https://app.<site>
 * for the two-label sites (datadoghq.com, datadoghq.eu, ddog-gov.com) and https://<site>
 * for the regional ones (us3.datadoghq.com, ap1.datadoghq.com, ...), as Datadog serves them.
 */
export function appOrigin(credentials: DatadogCredentials): string {
  if (credentials.url) {
    try {
      return new URL(credentials.url).origin;
    } catch {
      return credentials.url;
    }
  }
  const site = credentials.site ?? DEFAULT_SITE;
  return site.split('.').length > 2 ? `https://${site}` : `https://app.${site}`;
}

/** Host (and port) calls go to, for messages. */
export function apiHost(credentials: DatadogCredentials): string {
  try {
    return new URL(apiBaseUrl(credentials)).host;
  } catch {
    return apiBaseUrl(credentials);
  }
}

/** The configured API objects for these credentials, created once per fingerprint. */
export async function datadogApis(credentials: DatadogCredentials): Promise<DatadogApis> {
  const fingerprint = credentialFingerprint(credentials);
  const cached = apisByFingerprint.get(fingerprint);
  if (cached) {
    apisByFingerprint.delete(fingerprint);
    apisByFingerprint.set(fingerprint, cached);
    return cached;
  }
  const { client, v1 } = await loadDatadogModules();
  const apis = createApis(client, v1, credentials, fingerprint);
  apisByFingerprint.set(fingerprint, apis);
  while (apisByFingerprint.size > MAX_CACHED_APIS) {
    const oldest = apisByFingerprint.keys().next().value;
    if (oldest === undefined) break;
    apisByFingerprint.delete(oldest);
  }
  return apis;
}

function createApis(client: Common, v1: V1, credentials: DatadogCredentials, fingerprint: string): DatadogApis {
  const responses = new WeakMap<object, ResponseInfo>();
  const inner = new client.IsomorphicFetchHttpLibrary();
  // Node's own fetch (keep-alive, AbortSignal support) rather than the bundled node-fetch,
  // without following redirects and with a bounded body.
  inner.fetch = boundedFetch as typeof globalThis.fetch;
  const httpApi: CommonModule.HttpLibrary = {
    async send(request: CommonModule.RequestContext): Promise<CommonModule.ResponseContext> {
      const response = await inner.send(request);
      responses.set(request.getHttpConfig(), { status: response.httpStatusCode, headers: { ...response.headers } });
      return response;
    },
  };
  const configuration = client.createConfiguration({
    // Always pass both keys so DD_API_KEY / DD_APP_KEY in the environment never fill in.
    authMethods: { apiKeyAuth: credentials.apiKey, appKeyAuth: credentials.appKey },
    httpApi,
    fetch: boundedFetch as typeof globalThis.fetch,
    // We handle 429 ourselves (shared per credential); the library's retry would sleep inside a call.
    enableRetry: false,
    httpConfig: { compress: false },
    ...(credentials.url ? { baseServer: new client.BaseServerConfiguration(apiBaseUrl(credentials), {}) } : {}),
  });
  // createConfiguration lets DD_SITE change module-global servers; always set the site explicitly.
  if (!credentials.url) configuration.setServerVariables({ site: credentials.site ?? DEFAULT_SITE });
  return {
    fingerprint,
    monitors: new v1.MonitorsApi(configuration),
    metrics: new v1.MetricsApi(configuration),
    callOptions(signal: AbortSignal): CallOptions {
      const httpConfig = { compress: false, signal };
      // A per-call view of the shared configuration: same servers and auth, its own signal.
      const options = Object.create(configuration, {
        httpConfig: { value: httpConfig, enumerable: true },
      }) as DatadogConfiguration;
      return { options, response: () => responses.get(httpConfig) };
    },
  };
}
