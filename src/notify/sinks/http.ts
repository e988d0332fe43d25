// The one HTTP call of every sink: a POST with a timeout and the caller's AbortSignal, whose
// outcome is data (never a throw) and whose error text never holds a secret: URLs and every
// secret value the sink knows are redacted before the text reaches status, logs or Events.
import type { AttemptResult } from '../ledger.js';

export interface PostOptions {
  url: string;
  body: string;
  headers: Record<string, string>;
  signal: AbortSignal;
  /** Values to redact from any error text (URLs, tokens, keys). */
  secrets: readonly string[];
}

export interface PostResponse {
  status: number;
  text: string;
  retryAfter: string | null;
}

/** Sends; returns the response, or a failed attempt (unreachable, timeout, aborted). */
export async function post(o: PostOptions): Promise<PostResponse | Extract<AttemptResult, { ok: false }>> {
  let res: Response;
  try {
    res = await fetch(o.url, { method: 'POST', headers: o.headers, body: o.body, signal: o.signal, redirect: 'error' });
  } catch (err) {
    return { ok: false, error: redact(describeFetchError(err, o.signal), o.secrets) };
  }
  let text = '';
  try {
    text = await res.text();
  } catch (err) {
    return { ok: false, error: redact(`HTTP ${res.status}, body unreadable: ${describeFetchError(err, o.signal)}`, o.secrets) };
  }
  return { status: res.status, text, retryAfter: res.headers.get('retry-after') };
}

/** A non-2xx answer as a failed attempt (Retry-After honoured for 429 and 503). */
export function httpFailure(status: number, text: string, retryAfter: string | null | undefined, secrets: readonly string[]): Extract<AttemptResult, { ok: false }> {
  const snippet = text.replace(/\s+/g, ' ').trim().slice(0, 120);
  const retryAfterMs = parseRetryAfter(retryAfter);
  return { ok: false, error: redact(`HTTP ${status}${snippet ? `: ${snippet}` : ''}`, secrets), ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) };
}

function parseRetryAfter(v: string | null | undefined): number | undefined {
  if (!v) return undefined;
  const s = Number(v);
  if (Number.isFinite(s) && s >= 0) return Math.min(s, 3600) * 1000;
  return undefined;
}

function describeFetchError(err: unknown, signal: AbortSignal): string {
  if (signal.aborted) {
    const reason = signal.reason as { name?: string } | undefined;
    return reason?.name === 'TimeoutError' ? 'timed out' : 'aborted';
  }
  const e = err as { name?: string; cause?: { code?: string; message?: string }; message?: string };
  if (e?.name === 'TimeoutError') return 'timed out';
  const code = e?.cause?.code;
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'host not found';
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') return 'connection reset';
  if (code) return `cannot connect (${code})`;
  return `cannot connect (${e?.cause?.message ?? e?.message ?? 'unknown error'})`;
}

const URL_PATTERN = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>]+/gi;

/** Removes every secret value and every URL from a text. */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of [...secrets].filter((v) => v.length >= 4).sort((a, b) => b.length - a.length)) out = out.split(s).join('<redacted>');
  return out.replace(URL_PATTERN, '<url redacted>');
}
