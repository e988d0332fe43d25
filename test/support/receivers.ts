// Local receivers for notification tests: a generic webhook, Slack's incoming webhook and Web
// API (chat.postMessage). Each records what it received; a test can make it fail, delay, or hold
// an answer until it says so. Not Slack: it follows the published shape of the two endpoints.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
  json: unknown;
  at: number;
}

export interface Answer {
  status: number;
  body?: string;
  headers?: Record<string, string>;
}

/** Decides the answer to a request (default: the receiver's own). Return undefined to use it. */
export type Responder = (r: Received) => Answer | undefined | Promise<Answer | undefined>;

export class Receiver {
  readonly received: Received[] = [];
  /** Requests answered with a failure (not recorded in `received` as accepted). */
  readonly refused: Received[] = [];
  private responder: Responder | undefined;
  private tsCounter = 1000;
  private server: Server;

  private constructor() {
    this.server = createServer((req, res) => void this.handle(req, res));
  }

  static async start(): Promise<Receiver> {
    const r = new Receiver();
    await new Promise<void>((resolve) => r.server.listen(0, '127.0.0.1', resolve));
    return r;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** The next answers come from here; undefined restores the default (accept). */
  respond(fn: Responder | undefined): void {
    this.responder = fn;
  }

  /** Accepted requests whose path starts with prefix. */
  accepted(prefix = '/'): Received[] {
    return this.received.filter((r) => r.path.startsWith(prefix));
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch {
      json = undefined;
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
    const r: Received = { method: req.method ?? '', path: req.url ?? '/', headers, body, json, at: Date.now() };
    const custom = this.responder ? await this.responder(r) : undefined;
    const answer = custom ?? this.defaultAnswer(r);
    if (answer.status >= 200 && answer.status < 300 && !(r.path.endsWith('/chat.postMessage') && answer.body?.includes('"ok":false'))) this.received.push(r);
    else this.refused.push(r);
    if (res.destroyed) return;
    res.writeHead(answer.status, { 'Content-Type': answer.body?.startsWith('{') ? 'application/json' : 'text/plain', ...answer.headers });
    res.end(answer.body ?? '');
  }

  private defaultAnswer(r: Received): Answer {
    if (r.path.endsWith('/chat.postMessage')) {
      const j = r.json as { channel?: string; thread_ts?: string } | undefined;
      if (!r.headers.authorization?.startsWith('Bearer ')) return { status: 200, body: JSON.stringify({ ok: false, error: 'not_authed' }) };
      const ts = `${1733400000 + this.tsCounter++}.000100`;
      return { status: 200, body: JSON.stringify({ ok: true, channel: j?.channel, ts, message: { ts, ...(j?.thread_ts ? { thread_ts: j.thread_ts } : {}) } }) };
    }
    if (r.path.startsWith('/services/')) return { status: 200, body: 'ok' };
    return { status: 200, body: '{"received":true}' };
  }
}
