// Reads what Prometheus and webhook checks take from Secrets (auth, CA bundle, headers) into
// CheckSecrets. Pure; messages name Secrets and keys, never values.
import { DEFAULTS } from '../api/constants.js';
import type { CheckSecrets, ResolvedCheck } from './provider.js';

/** A Secret as read: its data (base64 values), or why it could not be read. */
export type SecretData = { ok: true; data: Record<string, string> } | { ok: false; message: string };

export type CheckSecretsResult = { ok: true; secrets?: CheckSecrets } | { ok: false; message: string };

/** The names of the Secrets a check reads (in the Canary's namespace). */
export function secretNamesOf(check: ResolvedCheck): string[] {
  switch (check.kind) {
    case 'datadogMonitor':
    case 'datadogQuery':
    case 'compare':
      return [];
    case 'prometheusQuery':
    case 'prometheusCompare':
      return [check.authSecret, check.tls?.ca?.name].filter((n): n is string => n !== undefined);
    case 'webhook':
      return check.headersSecret ? [check.headersSecret] : [];
    default: {
      const never: never = check;
      return never;
    }
  }
}

function decode(value: string): string | undefined {
  const compact = value.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 === 1) return undefined;
  return Buffer.from(compact, 'base64').toString('utf8');
}

/** RFC 9110 token: what a header name may be. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Headers a Secret may not set: they belong to the request itself. */
const RESERVED_HEADERS = new Set(['host', 'content-length', 'transfer-encoding', 'connection']);

/**
 * The check's secrets from the Secrets read (name -> data). A missing, unreadable or malformed
 * Secret is an error naming the Secret and the key.
 */
export function checkSecretsFor(check: ResolvedCheck, namespace: string, read: (name: string) => SecretData): CheckSecretsResult {
  const secretNamed = (name: string): { ok: true; data: Record<string, string> } | { ok: false; message: string } => {
    const s = read(name);
    return s.ok ? s : { ok: false, message: `Secret ${namespace}/${name} ${s.message}` };
  };
  const value = (name: string, data: Record<string, string>, key: string): { ok: true; value?: string } | { ok: false; message: string } => {
    const raw = data[key];
    if (raw === undefined || raw === null) return { ok: true };
    const decoded = decode(raw);
    if (decoded === undefined) return { ok: false, message: `Secret ${namespace}/${name} key ${key} is not valid base64` };
    return { ok: true, value: decoded };
  };
  switch (check.kind) {
    case 'datadogMonitor':
    case 'datadogQuery':
    case 'compare':
      return { ok: true };
    case 'prometheusQuery':
    case 'prometheusCompare': {
      const secrets: CheckSecrets = {};
      if (check.authSecret) {
        const name = check.authSecret;
        const s = secretNamed(name);
        if (!s.ok) return s;
        const user = value(name, s.data, 'username');
        const password = value(name, s.data, 'password');
        const token = value(name, s.data, 'token');
        for (const r of [user, password, token]) if (!r.ok) return r;
        const u = user.ok ? user.value?.trim() : undefined;
        const p = password.ok ? password.value?.trim() : undefined;
        const t = token.ok ? token.value?.trim() : undefined;
        const basic = u !== undefined || p !== undefined;
        if (basic === (t !== undefined) || (basic && (!u || p === undefined))) {
          return { ok: false, message: `Secret ${namespace}/${name} needs keys username and password (basic auth) or token (bearer), not both` };
        }
        secrets.authorization = t !== undefined ? `Bearer ${t}` : `Basic ${Buffer.from(`${u ?? ''}:${p ?? ''}`).toString('base64')}`;
      }
      const ca = check.tls?.ca;
      if (ca) {
        const s = secretNamed(ca.name);
        if (!s.ok) return s;
        const v = value(ca.name, s.data, ca.key);
        if (!v.ok) return v;
        if (!v.value?.includes('-----BEGIN CERTIFICATE-----')) {
          return { ok: false, message: `Secret ${namespace}/${ca.name} key ${ca.key} ${v.value === undefined ? 'is missing' : 'holds no PEM certificate'} (default key ${DEFAULTS.caKey})` };
        }
        secrets.ca = v.value;
      }
      return { ok: true, ...(Object.keys(secrets).length ? { secrets } : {}) };
    }
    case 'webhook': {
      if (!check.headersSecret) return { ok: true };
      const name = check.headersSecret;
      const s = secretNamed(name);
      if (!s.ok) return s;
      const headers: Record<string, string> = {};
      for (const key of Object.keys(s.data).sort()) {
        if (!HEADER_NAME.test(key) || RESERVED_HEADERS.has(key.toLowerCase())) {
          return { ok: false, message: `Secret ${namespace}/${name} key ${key} is not a header name a check may set` };
        }
        const v = value(name, s.data, key);
        if (!v.ok) return v;
        const text = (v.value ?? '').trim();
        if (/[\r\n\0]/.test(text)) return { ok: false, message: `Secret ${namespace}/${name} key ${key} holds a line break; a header value is one line` };
        headers[key] = text;
      }
      return { ok: true, secrets: { headers } };
    }
    default: {
      const never: never = check;
      return never;
    }
  }
}
