// A TCP proxy in front of the kube-apiserver for the "apiserver slow" fault: the operators'
// kubeconfig points at it. It passes bytes through unchanged (TLS ends at the apiserver) and, while
// a fault is set, delays every chunk in both directions and drops connections at random.
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface ProxyFaults {
  /** Added to every chunk, each way. */
  latencyMs: number;
  /** Up to this much more, at random. */
  jitterMs: number;
  /** Chance per connection and per second that it is cut. */
  dropPerSecond: number;
}

const NONE: ProxyFaults = { latencyMs: 0, jitterMs: 0, dropPerSecond: 0 };

export class FlakyProxy {
  private faults: ProxyFaults = NONE;
  private readonly connections = new Set<{ client: Socket; upstream: Socket }>();
  private dropTimer: NodeJS.Timeout | undefined;
  dropped = 0;

  private constructor(
    private readonly server: Server,
    private readonly random: () => number,
  ) {}

  static async start(target: { host: string; port: number }, random: () => number): Promise<FlakyProxy> {
    let proxy: FlakyProxy | undefined;
    const server = createServer((client) => proxy?.accept(client, target));
    proxy = new FlakyProxy(server, random);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return proxy;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  set(faults: Partial<ProxyFaults>): void {
    this.faults = { ...NONE, ...faults };
    if (this.dropTimer) clearInterval(this.dropTimer);
    this.dropTimer = undefined;
    if (this.faults.dropPerSecond > 0) {
      const tickMs = 250;
      this.dropTimer = setInterval(() => {
        for (const c of [...this.connections]) {
          if (this.random() < (this.faults.dropPerSecond * tickMs) / 1000) {
            this.dropped++;
            c.client.destroy();
            c.upstream.destroy();
          }
        }
      }, tickMs);
    }
  }

  clear(): void {
    this.set(NONE);
  }

  async close(): Promise<void> {
    this.clear();
    for (const c of this.connections) {
      c.client.destroy();
      c.upstream.destroy();
    }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket, target: { host: string; port: number }): void {
    const upstream = connect(target.port, target.host);
    const pair = { client, upstream };
    this.connections.add(pair);
    const end = (): void => {
      this.connections.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    this.pipe(client, upstream);
    this.pipe(upstream, client);
  }

  /** Copies from → to, each chunk after the fault's delay, in order. */
  private pipe(from: Socket, to: Socket): void {
    let last = 0;
    from.on('data', (chunk: Buffer) => {
      const { latencyMs, jitterMs } = this.faults;
      if (latencyMs === 0 && jitterMs === 0 && last <= Date.now()) {
        if (!to.destroyed) to.write(chunk);
        return;
      }
      const at = Math.max(Date.now() + latencyMs + this.random() * jitterMs, last);
      last = at;
      setTimeout(() => {
        if (!to.destroyed) to.write(chunk);
      }, at - Date.now());
    });
    from.on('end', () => {
      const wait = Math.max(0, last - Date.now());
      setTimeout(() => to.end(), wait);
    });
  }
}
