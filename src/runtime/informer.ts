// An informer on client-node's ListWatch that lists raw JSON (no typed deserialization),
// restarts itself with backoff after any error (client-node stops on anything but 410), and
// re-delivers every cached object on a resync timer.
import { ListWatch, Watch, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import type { RawClient, KubeObject } from '../kube/raw-client.js';
import type { Logger } from './logger.js';

export interface InformerOptions {
  kc: KubeConfig;
  client: RawClient;
  /** Collection path, e.g. /apis/apps/v1/deployments or a namespaced one. */
  path: string;
  labelSelector?: string;
  resource: string;
  logger: Logger;
  onChange: (obj: KubeObject) => void;
  onDelete: (obj: KubeObject) => void;
  onRestart?: () => void;
  resyncMs?: number;
}

export class Informer {
  private lw: ListWatch<KubernetesObject> | undefined;
  private stopped = false;
  private restarts = 0;
  private resyncTimer: NodeJS.Timeout | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private synced = false;

  constructor(private readonly o: InformerOptions) {}

  async start(): Promise<void> {
    this.stopped = false;
    await this.begin();
    if (this.o.resyncMs) {
      this.resyncTimer = setInterval(() => this.list().forEach((obj) => this.o.onChange(obj)), this.o.resyncMs);
      this.resyncTimer.unref();
    }
  }

  private async begin(): Promise<void> {
    const { kc, client, path, labelSelector } = this.o;
    const listFn = async (): Promise<{ items: KubernetesObject[]; metadata: { resourceVersion?: string } }> => {
      const list = await client.list<KubeObject>(path, labelSelector ? { labelSelector } : undefined);
      const kind = this.kindOfList(list as unknown as { kind?: string; apiVersion?: string });
      for (const item of list.items) {
        item.kind ??= kind.kind;
        item.apiVersion ??= kind.apiVersion;
      }
      return list as unknown as { items: KubernetesObject[]; metadata: { resourceVersion?: string } };
    };
    const lw = new ListWatch<KubernetesObject>(path, new Watch(kc), listFn, false, labelSelector);
    lw.on('add', (o) => this.o.onChange(o as KubeObject));
    lw.on('update', (o) => this.o.onChange(o as KubeObject));
    lw.on('delete', (o) => this.o.onDelete(o as KubeObject));
    lw.on('error', (err) => this.scheduleRestart(err));
    this.lw = lw;
    try {
      await lw.start();
      this.synced = true;
      this.restarts = 0;
    } catch (err) {
      this.scheduleRestart(err);
    }
  }

  private kindOfList(list: { kind?: string; apiVersion?: string }): { kind?: string; apiVersion?: string } {
    const kind = list.kind?.replace(/List$/, '');
    return { ...(kind ? { kind } : {}), ...(list.apiVersion ? { apiVersion: list.apiVersion } : {}) };
  }

  private scheduleRestart(err: unknown): void {
    if (this.stopped || this.restartTimer) return;
    this.restarts++;
    const delay = Math.min(500 * 2 ** Math.min(this.restarts - 1, 6), 30_000);
    this.o.logger.warn('Restarting informer after a watch error', {
      resource: this.o.resource,
      error: (err as Error)?.message ?? String(err),
      delayMs: delay,
    });
    this.o.onRestart?.();
    void this.lw?.stop();
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (!this.stopped) void this.begin();
    }, delay);
    this.restartTimer.unref();
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  get(name: string, namespace?: string): KubeObject | undefined {
    return this.lw?.get(name, namespace) as KubeObject | undefined;
  }

  list(namespace?: string): KubeObject[] {
    return (this.lw?.list(namespace) ?? []) as KubeObject[];
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    if (this.restartTimer) clearTimeout(this.restartTimer);
    await this.lw?.stop();
  }
}

/** What readers of an informer cache need. */
export interface ObjectStore {
  get(name: string, namespace?: string): KubeObject | undefined;
  list(namespace?: string): KubeObject[];
}

/** One informer per watched namespace (or one for all), read as one cache. */
export class InformerGroup implements ObjectStore {
  private readonly byNamespace = new Map<string, Informer>();

  constructor(
    namespaces: string[] | undefined,
    make: (namespace: string | undefined) => Informer,
  ) {
    if (!namespaces || namespaces.length === 0) this.byNamespace.set('*', make(undefined));
    else for (const ns of namespaces) this.byNamespace.set(ns, make(ns));
  }

  private informerFor(namespace?: string): Informer | undefined {
    return this.byNamespace.get('*') ?? (namespace ? this.byNamespace.get(namespace) : undefined);
  }

  get(name: string, namespace?: string): KubeObject | undefined {
    return this.informerFor(namespace)?.get(name, namespace);
  }

  list(namespace?: string): KubeObject[] {
    if (namespace) return this.informerFor(namespace)?.list(namespace) ?? [];
    return [...this.byNamespace.values()].flatMap((i) => i.list());
  }

  get hasSynced(): boolean {
    return [...this.byNamespace.values()].every((i) => i.hasSynced);
  }

  async start(): Promise<void> {
    await Promise.all([...this.byNamespace.values()].map((i) => i.start()));
  }

  async stop(): Promise<void> {
    await Promise.all([...this.byNamespace.values()].map((i) => i.stop()));
  }
}
