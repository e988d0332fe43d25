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
 * or url (an http(s) base URL such as a proxy; wins over site).
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
    const parsed = parseHttpUrl(url);
    if (parsed === undefined) return fail('key url is not an http:// or https:// URL');
    if (parsed === CREDENTIALS_IN_URL) return fail('key url must not contain a user name or password');
    credentials.url = parsed;
  }
  if (!credentials.site && !credentials.url) credentials.site = DEFAULT_DATADOG_SITE;
  return { ok: true, credentials };
}

function decodeBase64(value: string): string | undefined {
  const compact = value.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 === 1) return undefined;
  return Buffer.from(compact, 'base64').toString('utf8').trim();
}

const CREDENTIALS_IN_URL = '\0credentials';

function parseHttpUrl(value: string): string | undefined {
  try {
    const u = new URL(value);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return undefined;
    if (u.username || u.password) return CREDENTIALS_IN_URL;
    return u.toString().replace(/\/+$/, '');
  } catch {
    return undefined;
  }
}
