// The push endpoint's HTTPS server: one POST route, bounded in size and time. The token is
// checked before the body is read, so an unauthenticated client cannot make it read much.
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PUSH_DEFAULTS, PUSH_RESULTS } from '../api/push.js';
import type { PushAnswer, PushEndpoint } from './endpoint.js';

export interface PushServerOptions {
  host: string;
  port: number;
  path: string;
  certPem: string;
  keyPem: string;
  endpoint: PushEndpoint;
  maxBodyBytes?: number;
  /** Whole request deadline (default 10 s); headers 5 s. */
  requestTimeoutMs?: number;
}

export class PushServer {
  private server: https.Server | undefined;

  constructor(private readonly o: PushServerOptions) {}

  async start(): Promise<number> {
    const requestTimeout = this.o.requestTimeoutMs ?? 10_000;
    const headersTimeout = Math.min(5_000, requestTimeout);
    const server = https.createServer(
      { cert: this.o.certPem, key: this.o.keyPem, requestTimeout, headersTimeout, connectionsCheckingInterval: 1_000 },
      (req, res) => void this.serve(req, res).catch(() => this.reply(res, { status: 500, result: PUSH_RESULTS.unavailable, body: { result: 'error' } })),
    );
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.o.port, this.o.host, () => resolve());
    });
    return (server.address() as AddressInfo).port;
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const remote = req.socket.remoteAddress;
    const e = this.o.endpoint;
    if (req.method !== 'POST' || req.url?.split('?')[0] !== this.o.path) {
      this.reply(res, e.refuse(PUSH_RESULTS.notFound, `POST ${this.o.path} only`, remote), req);
      return;
    }
    const limit = this.o.maxBodyBytes ?? PUSH_DEFAULTS.maxBodyBytes;
    if (Number(req.headers['content-length'] ?? 0) > limit) {
      this.reply(res, e.refuse(PUSH_RESULTS.tooLarge, `body larger than ${limit} bytes`, remote), req);
      return;
    }
    const header = req.headers[PUSH_DEFAULTS.tokenHeader];
    const refused = await e.authenticate(Array.isArray(header) ? header[0] : header, remote);
    if (refused) {
      this.reply(res, refused, req);
      return;
    }
    const body = await readBody(req, limit);
    if (body === undefined) {
      this.reply(res, e.refuse(PUSH_RESULTS.tooLarge, `body larger than ${limit} bytes`, remote), req);
      return;
    }
    this.reply(res, e.handle(body, remote));
  }

  /** Answers; with `req`, the answer comes before the body was read: the connection closes after it. */
  private reply(res: ServerResponse, a: PushAnswer, req?: IncomingMessage): void {
    if (res.headersSent) return;
    res.writeHead(a.status, { 'Content-Type': 'application/json', ...(req ? { Connection: 'close' } : {}), ...a.headers });
    res.end(JSON.stringify(a.body));
    // The rest of an unread body is discarded (the request deadline bounds it), then the connection closes.
    if (req && !req.complete) req.resume();
  }

  /** Serves a renewed certificate to new connections. */
  setCertificate(certPem: string, keyPem: string): void {
    this.server?.setSecureContext({ cert: certPem, key: keyPem });
  }

  async stop(): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => s.close(() => resolve()));
    s.closeIdleConnections();
    const force = setTimeout(() => s.closeAllConnections(), 2_000);
    force.unref();
    await closed;
    clearTimeout(force);
  }
}

/** The body as text, or undefined when it grows past the limit. */
function readBody(req: IncomingMessage, limit: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (c: Buffer) => {
      if (over) return;
      size += c.length;
      if (size > limit) {
        over = true;
        resolve(undefined);
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!over) resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', reject);
  });
}
