// One HTTP request for the check providers that speak plain HTTP (Prometheus, webhooks): node:http
// and node:https with a CA bundle of the check's own, no redirects followed, a bounded body, and
// never a connection to a link-local or unspecified address (cloud metadata services), whatever a
// host name resolves to.
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { forbiddenAddress } from './secret.js';

export interface HttpRequest {
  url: string;
  method: string;
  headers?: Record<string, string>;
  body?: string;
  /** PEM CA bundle trusted for https (in addition to none: it replaces the system's). */
  ca?: string;
  insecureSkipVerify?: boolean;
  signal: AbortSignal;
  /** Most bytes of the body read; the rest is dropped (truncated is then true). */
  maxBytes: number;
}

export interface HttpResponse {
  status: number;
  body: string;
  truncated: boolean;
  headers: Record<string, string | string[] | undefined>;
}

/** Why a URL may not be called, or undefined: http(s) only, no user info, no link-local or unspecified host. */
export function refusedUrl(value: string): string | undefined {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    return 'is not a URL';
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return 'must be an http:// or https:// URL';
  if (u.username || u.password) return 'must not contain a user name or password (use a Secret)';
  const host = u.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host) !== 0) {
    const why = forbiddenAddress(host);
    if (why) return `must not point at ${why}`;
  }
  return undefined;
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** dns.lookup, refusing addresses the operator must not connect to. */
function guardedLookup(hostname: string, options: LookupOptions, callback: LookupCallback): void {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, '');
    for (const a of addresses) {
      const why = forbiddenAddress(a.address);
      if (why) {
        const refused: NodeJS.ErrnoException = new Error(`${hostname} resolves to ${why}`);
        refused.code = 'EADDRREFUSED';
        return callback(refused, '');
      }
    }
    if (options.all) return callback(null, addresses);
    const first = addresses[0];
    if (!first) return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), '');
    callback(null, first.address, first.family);
  });
}

/** Sends the request. Throws on a network failure, a refused address or an abort (the signal's reason). */
export function sendHttp(req: HttpRequest): Promise<HttpResponse> {
  const refused = refusedUrl(req.url);
  if (refused) return Promise.reject(new Error(`the URL ${refused}`));
  const u = new URL(req.url);
  const https = u.protocol === 'https:';
  const headers: Record<string, string> = { 'user-agent': 'deployer', ...req.headers };
  if (req.body !== undefined) headers['content-length'] = String(Buffer.byteLength(req.body));
  const options: RequestOptions & { ca?: string; rejectUnauthorized?: boolean } = {
    method: req.method,
    headers,
    signal: req.signal,
    lookup: guardedLookup as RequestOptions['lookup'],
    ...(https ? { rejectUnauthorized: req.insecureSkipVerify !== true, ...(req.ca ? { ca: req.ca } : {}) } : {}),
  };
  return new Promise<HttpResponse>((resolve, reject) => {
    let settled = false;
    const fail = (err: unknown): void => {
      if (settled) return;
      settled = true;
      reject(err instanceof Error ? err : new Error(String(err)));
    };
    const onResponse = (res: IncomingMessage): void => {
      const chunks: Buffer[] = [];
      let size = 0;
      let truncated = false;
      const done = (): void => {
        if (settled) return;
        settled = true;
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), truncated, headers: res.headers });
      };
      res.on('data', (chunk: Buffer) => {
        if (truncated) return;
        const room = req.maxBytes - size;
        if (chunk.length > room) {
          chunks.push(chunk.subarray(0, room));
          size = req.maxBytes;
          truncated = true;
          done();
          res.destroy();
          return;
        }
        chunks.push(chunk);
        size += chunk.length;
      });
      res.on('end', done);
      res.on('error', fail);
      res.on('aborted', () => fail(new Error('the connection closed before the answer was complete')));
    };
    const r = (https ? httpsRequest : httpRequest)(u, options, onResponse);
    r.on('error', fail);
    if (req.body !== undefined) r.write(req.body);
    r.end();
  });
}

/** True when the error is the abort of a timeout or of the caller's signal. */
export function isAbort(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const name = (e as { name?: unknown }).name;
    if (name === 'TimeoutError' || name === 'AbortError') return true;
  }
  return false;
}

/** A short, secret-free description of a network failure: its code (ECONNREFUSED, …) or its message. */
export function networkFailure(err: unknown): string {
  for (let e: unknown = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code !== '' && code !== 'ABORT_ERR') {
      const message = e instanceof Error ? e.message : '';
      return code === 'EADDRREFUSED' ? message : code;
    }
  }
  return err instanceof Error ? err.message : String(err);
}

/** Removes secret values from a text should a server have echoed them. */
export function redactValues(text: string, values: Iterable<string>): string {
  let out = text;
  for (const v of values) if (v && v.length >= 4) out = out.split(v).join('[redacted]');
  return out;
}
