// The push endpoint's token: read from a Secret (key `token`), kept only as its SHA-256 digest,
// compared in constant time. Never logged.
import { createHash, timingSafeEqual } from 'node:crypto';
import { PUSH_DEFAULTS } from '../api/push.js';
import { errorCode, isNotFound } from '../kube/errors.js';
import { paths, type RawClient } from '../kube/raw-client.js';

/** Shortest token accepted: a guessable token would make the endpoint open. */
export const MIN_TOKEN_LENGTH = 16;

export type TokenState = { ok: true; digest: Buffer } | { ok: false; message: string };

export function digestOf(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** Whether the presented token is the expected one; constant time in the token's content (both sides are 32-byte digests). */
export function tokenMatches(presented: string, expected: Buffer): boolean {
  const got = digestOf(presented);
  return got.length === expected.length && timingSafeEqual(got, expected);
}

/** The token from a Secret's data (base64 values), or why there is none. */
export function tokenFromSecretData(data: Record<string, string> | undefined, secret: string): TokenState {
  const b64 = data?.[PUSH_DEFAULTS.tokenKey];
  if (b64 === undefined) return { ok: false, message: `Secret ${secret} has no key "${PUSH_DEFAULTS.tokenKey}"` };
  const token = Buffer.from(b64, 'base64').toString('utf8').trim();
  if (token.length < MIN_TOKEN_LENGTH) return { ok: false, message: `the token in Secret ${secret} is shorter than ${MIN_TOKEN_LENGTH} characters` };
  return { ok: true, digest: digestOf(token) };
}

/** Where the token comes from: fixed (tests, embedding) or a Secret. */
export interface TokenSource {
  current(now: number): Promise<TokenState>;
}

export function fixedToken(token: string): TokenSource {
  const state = tokenFromSecretData({ [PUSH_DEFAULTS.tokenKey]: Buffer.from(token).toString('base64') }, 'given');
  return { current: async () => state };
}

/** Reads the Secret at most once per ttlMs (a rotated token is in force within it), whatever the request rate. */
export class SecretTokenSource implements TokenSource {
  private cached: { at: number; state: TokenState } | undefined;
  private inFlight: Promise<TokenState> | undefined;

  constructor(
    private readonly client: RawClient,
    private readonly secret: { namespace: string; name: string },
    private readonly ttlMs = 10_000,
  ) {}

  async current(now: number): Promise<TokenState> {
    if (this.cached && now - this.cached.at < this.ttlMs) return this.cached.state;
    this.inFlight ??= this.read().finally(() => (this.inFlight = undefined));
    const state = await this.inFlight;
    this.cached = { at: now, state };
    return state;
  }

  private async read(): Promise<TokenState> {
    const name = `${this.secret.namespace}/${this.secret.name}`;
    try {
      const s = await this.client.get<{ data?: Record<string, string> }>(paths.secret(this.secret.namespace, this.secret.name), AbortSignal.timeout(5_000));
      return tokenFromSecretData(s.data, name);
    } catch (err) {
      if (isNotFound(err)) return { ok: false, message: `Secret ${name} not found` };
      const code = errorCode(err);
      return { ok: false, message: `Secret ${name} could not be read (${code ? `HTTP ${code}` : 'no answer'})` };
    }
  }
}
