// Reads Datadog credentials from the data of a Kubernetes Secret. Messages name keys, never values.
import { REASONS } from '../api/constants.js';
import type { DatadogCredentials } from './provider.js';

export const DATADOG_SITES = [
  'datadoghq.com',
  'us3.datadoghq.com',
  'us5.datadoghq.com',
  'datadoghq.eu',
  'ap1.datadoghq.com',
  'ap2.datadoghq.com',
  'ddog-gov.com',
  'uk1.datadoghq.com',
] as const;
export type DatadogSite = (typeof DATADOG_SITES)[number];
export const DEFAULT_DATADOG_SITE: DatadogSite = 'datadoghq.com';

export const SECRET_KEYS = { apiKey: 'api-key', appKey: 'app-key', site: 'site', url: 'url' } as const;

export type SecretParseResult =
  | { ok: true; credentials: DatadogCredentials }
  | { ok: false; reason: typeof REASONS.SecretInvalid; message: string };

/**
 * Parses Secret data (base64 values, as the API returns them) into Datadog credentials.
 * Keys: api-key and app-key (required), site (a known Datadog site, default datadoghq.com)
 * or url (a base URL such as a proxy; wins over site; see assessDatadogUrl for what is accepted).
 * Values are trimmed, so a Secret made with `kubectl create secret --from-file` from files that
 * end in a newline works.
 */
export function parseDatadogSecret(data: Record<string, string> | undefined, secretName: string): SecretParseResult {
  const fail = (message: string): SecretParseResult => ({ ok: false, reason: REASONS.SecretInvalid, message: `Secret "${secretName}" ${message}` });
  const values: Record<string, string | undefined> = {};
  const undecodable: string[] = [];
  for (const key of Object.values(SECRET_KEYS)) {
    const raw = data?.[key];
    if (raw === undefined || raw === null) continue;
    const decoded = decodeBase64(raw);
    if (decoded === undefined) undecodable.push(key);
    else values[key] = decoded;
  }
  if (undecodable.length > 0) return fail(`has keys that are not valid base64: ${undecodable.join(', ')}`);
  const missing = [SECRET_KEYS.apiKey, SECRET_KEYS.appKey].filter((k) => !values[k]);
  if (missing.length > 0) {
    return fail(`is missing ${missing.length === 1 ? 'key' : 'keys'} ${missing.join(', ')} (needs api-key, app-key and optionally site or url)`);
  }
  const credentials: DatadogCredentials = { apiKey: values[SECRET_KEYS.apiKey] ?? '', appKey: values[SECRET_KEYS.appKey] ?? '' };
  const site = values[SECRET_KEYS.site];
  const url = values[SECRET_KEYS.url];
  if (site) {
    if (!(DATADOG_SITES as readonly string[]).includes(site.toLowerCase())) {
      return fail(`key site is not a known Datadog site; use one of ${DATADOG_SITES.join(', ')}`);
    }
    credentials.site = site.toLowerCase();
  }
  if (url) {
    const parsed = parseDatadogUrl(url);
    if (!parsed.ok) return fail(`key url ${parsed.message}`);
    credentials.url = parsed.url;
  }
  if (!credentials.site && !credentials.url) credentials.site = DEFAULT_DATADOG_SITE;
  return { ok: true, credentials };
}

function decodeBase64(value: string): string | undefined {
  const compact = value.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 === 1) return undefined;
  return Buffer.from(compact, 'base64').toString('utf8').trim();
}

/** What the operator allows for a Secret's url beyond https. */
export interface DatadogUrlPolicy {
  /** Plain http to any host (operator flag --datadog-allow-http); without it only loopback hosts. */
  allowPlainHttp: boolean;
}

export const STRICT_URL_POLICY: DatadogUrlPolicy = { allowPlainHttp: false };

/** The operator flag that allows plain http to hosts other than loopback. */
export const ALLOW_HTTP_FLAG = '--datadog-allow-http';

export type UrlResult = { ok: true; url: string } | { ok: false; message: string };

/**
 * The structural rules for a Secret's url, independent of operator flags: http or https only,
 * no user name or password, no query or fragment (the API path would be appended to them), and
 * never a link-local or unspecified address (cloud metadata services live at 169.254.169.254 and
 * fe80::). Messages never repeat the url, which may hold a secret.
 */
export function parseDatadogUrl(value: string): UrlResult {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    return { ok: false, message: 'is not a URL; use https://<host>[:port][/path]' };
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return { ok: false, message: 'must be an https:// URL' };
  if (u.username || u.password) return { ok: false, message: 'must not contain a user name or password' };
  if (u.search || value.includes('?')) return { ok: false, message: 'must not contain a query ("?…"); give the base URL only' };
  if (u.hash || value.includes('#')) return { ok: false, message: 'must not contain a fragment ("#…"); give the base URL only' };
  const host = hostAddress(u);
  if (isLinkLocal(host)) return { ok: false, message: 'must not point at a link-local address (169.254.0.0/16, fe80::/10)' };
  if (isUnspecified(host)) return { ok: false, message: 'must not point at an unspecified address (0.0.0.0, ::)' };
  return { ok: true, url: u.toString().replace(/\/+$/, '') };
}

/**
 * Whether the operator may call this url: https always, plain http only to a loopback host
 * (localhost, 127.0.0.0/8, ::1) unless the policy allows plain http. Returns why not.
 */
export function assessDatadogUrl(value: string, policy: DatadogUrlPolicy): UrlResult {
  const parsed = parseDatadogUrl(value);
  if (!parsed.ok) return parsed;
  const u = new URL(parsed.url);
  if (u.protocol === 'http:' && !policy.allowPlainHttp && !isLoopback(hostAddress(u))) {
    return {
      ok: false,
      message: `must use https: plain http would send the API and application keys in clear text, so it is allowed only for loopback addresses unless the operator runs with ${ALLOW_HTTP_FLAG}`,
    };
  }
  return parsed;
}

/**
 * Why the operator must not connect to this resolved address (link-local or unspecified), or
 * undefined. Used for the addresses a url's host name resolves to.
 */
export function forbiddenAddress(address: string): string | undefined {
  const host = address.toLowerCase();
  if (isLinkLocal(host)) return 'a link-local address (169.254.0.0/16, fe80::/10)';
  if (isUnspecified(host)) return 'an unspecified address (0.0.0.0, ::)';
  return undefined;
}

/** The host without IPv6 brackets, lower case. */
function hostAddress(u: URL): string {
  return u.hostname.replace(/^\[|\]$/g, '').toLowerCase();
}

/** An IPv4 address as four numbers, also when written inside an IPv4-mapped IPv6 address. */
function ipv4Of(host: string): number[] | undefined {
  const mapped = /^::ffff:(.+)$/.exec(host);
  const text = mapped ? (mapped[1] ?? '') : host;
  const dotted = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (dotted) return dotted.slice(1).map(Number);
  // The URL parser writes ::ffff:a.b.c.d as ::ffff:xxxx:yyyy.
  const hex = /^([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(text);
  if (mapped && hex) {
    const hi = Number.parseInt(hex[1] ?? '0', 16);
    const lo = Number.parseInt(hex[2] ?? '0', 16);
    return [hi >> 8, hi & 255, lo >> 8, lo & 255];
  }
  return undefined;
}

function isLinkLocal(host: string): boolean {
  const v4 = ipv4Of(host);
  if (v4) return v4[0] === 169 && v4[1] === 254;
  return /^fe[89ab][0-9a-f]?:/.test(host);
}

function isUnspecified(host: string): boolean {
  const v4 = ipv4Of(host);
  if (v4) return v4.every((n) => n === 0);
  return host === '::' || /^(0{1,4}:){7}0{1,4}$/.test(host);
}

function isLoopback(host: string): boolean {
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  const v4 = ipv4Of(host);
  if (v4) return v4[0] === 127;
  return host === '::1' || /^(0{1,4}:){7}0{0,3}1$/.test(host);
}
