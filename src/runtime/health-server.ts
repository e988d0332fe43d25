// /healthz, /readyz and /metrics over plain HTTP.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

/** What /readyz answers: 200 or 503, and a line that explains the state. */
export interface Readiness {
  ready: boolean;
  message: string;
}

export interface HealthServerOptions {
  host: string;
  port: number;
  ready: () => Readiness;
  registry?: Registry;
}

export class HealthServer {
  private server: http.Server | undefined;
  constructor(private readonly o: HealthServerOptions) {}

  async start(): Promise<number> {
    const server = http.createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (path === '/healthz') return void res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok');
      if (path === '/readyz') {
        const r = this.o.ready();
        return void res.writeHead(r.ready ? 200 : 503, { 'Content-Type': 'text/plain' }).end(`${r.message}\n`);
      }
      if (path === '/metrics' && this.o.registry) {
        const registry = this.o.registry;
        void registry.metrics().then(
          (body) => res.writeHead(200, { 'Content-Type': registry.contentType }).end(body),
          (err: Error) => res.writeHead(500).end(err.message),
        );
        return;
      }
      res.writeHead(404).end();
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.o.port, this.o.host, () => resolve());
    });
    return (server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    const s = this.server;
    if (!s) return;
    s.closeAllConnections?.();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}
