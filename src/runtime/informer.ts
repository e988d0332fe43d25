// An informer with one cache contract, in the manner of client-go's reflector and store:
//  - the store is never swapped empty: a relist builds the new contents aside and replaces the
//    store in one step only after the whole (paginated) LIST succeeded, then reports what
//    changed (objects gone are deleted, changed ones updated, unchanged ones stay quiet);
//  - hasSynced turns true after the first successful LIST and never goes back;
//  - after a clean close or a client-side inactivity timeout the watch resumes from the last
//    resourceVersion (bookmarks keep it fresh); 410 Gone relists at once; any other error
//    relists after a backoff that doubles per consecutive failure (capped) and resets only
//    after a successful LIST;
//  - objects pass through a transform before they are stored (by default managedFields go).
// It is a small reflector over client-node's Watch rather than client-node's ListWatch: the
// ListWatch stops for good on any error but 410 and keeps its map private, so restarting it
// meant building a new, empty one.
import type { KubeConfig } from '@kubernetes/client-node';
import { Watch } from '@kubernetes/client-node/dist/watch.js';
import { errorCode, errorMessage } from '../kube/errors.js';
import type { KubeList, KubeObject, RawClient } from '../kube/raw-client.js';
import { shareDispatchers } from '../kube/shared-dispatcher.js';
import type { Logger } from './logger.js';

export interface InformerBackoff {
  initialMs: number;
  maxMs: number;
}

export interface InformerOptions {
  kc: KubeConfig;
  client: RawClient;
  /** Collection path, e.g. /apis/apps/v1/deployments or a namespaced one. */
  path: string;
  labelSelector?: string;
  resource: string;
  logger: Logger;
  onChange?: (obj: KubeObject) => void;
  onDelete?: (obj: KubeObject) => void;
  /** Called after each failed LIST or watch (for a metric). */
  onRestart?: () => void;
  /** Called when a watch has started (the server answered), e.g. again after an apiserver restart (for a metric). */
  onWatching?: () => void;
  /** Objects per LIST page (default 500). */
  pageSize?: number;
  /** Delay before the next LIST after a failure: initialMs doubling up to maxMs (default 500 ms … 30 s). */
  backoff?: InformerBackoff;
  /** Applied to every object before it is stored (default: drop metadata.managedFields). */
  transform?: (obj: KubeObject) => KubeObject;
}

export interface InformerHandler {
  onChange?: (obj: KubeObject) => void;
  onDelete?: (obj: KubeObject) => void;
}

/** What readers of an informer cache need. */
export interface ObjectStore {
  get(name: string, namespace?: string): KubeObject | undefined;
  list(namespace?: string): KubeObject[];
}

export const stripManagedFields = (obj: KubeObject): KubeObject => {
  if (obj.metadata && 'managedFields' in obj.metadata) delete obj.metadata.managedFields;
  return obj;
};

const keyOf = (namespace: string | undefined, name: string): string => `${namespace ?? ''}/${name}`;

type WatchEnd = { kind: 'closed' } | { kind: 'expired' } | { kind: 'error'; error: unknown };

/**
 * How long a watch may stay open (the server closes it; we resume from the last resourceVersion):
 * 5 to 10 minutes, as client-go's reflector asks. Each new watch is a request, a stream and its
 * garbage in an otherwise idle process.
 */
export const WATCH_TIMEOUT_SECONDS = [300, 600] as const;
/**
 * A watch that has sent nothing for this long is taken as dead and opened again from its
 * resourceVersion (no relist). The apiserver sends a bookmark to every watcher about once a minute
 * (its watch cache's bookmark frequency) once it has seen progress on the resource since it
 * started; until then a quiet watch is simply reopened after this long.
 */
export const WATCH_INACTIVITY_MS = 90_000;

export class Informer implements ObjectStore {
  private store = new Map<string, KubeObject>();
  private readonly handlers: InformerHandler[] = [];
  private resourceVersion: string | undefined;
  private synced = false;
  private failures = 0;
  private stopped = true;
  private running: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private sleepTimer: NodeJS.Timeout | undefined;
  private endWatch: ((end: WatchEnd) => void) | undefined;
  private syncWaiters: Array<() => void> = [];
  /** Aborted by stop(), so a pending LIST does not hold it up. */
  private lifetime = new AbortController();
  private readonly watch: Watch;
  private readonly backoff: InformerBackoff;
  private readonly transform: (obj: KubeObject) => KubeObject;

  constructor(private readonly o: InformerOptions) {
    this.watch = new Watch(shareDispatchers(o.kc));
    // The server ends each watch after timeoutSeconds; the client's own timer (connect, then
    // inactivity) only catches a connection that hangs or died silently.
    (this.watch as unknown as { requestTimeoutMs: number }).requestTimeoutMs = WATCH_INACTIVITY_MS;
    this.backoff = o.backoff ?? { initialMs: 500, maxMs: 30_000 };
    this.transform = o.transform ?? stripManagedFields;
    if (o.onChange || o.onDelete) this.addHandler({ ...(o.onChange ? { onChange: o.onChange } : {}), ...(o.onDelete ? { onDelete: o.onDelete } : {}) });
  }

  /** Adds a consumer of events; objects already cached are delivered to it as changes. */
  addHandler(h: InformerHandler): void {
    this.handlers.push(h);
    if (h.onChange) for (const obj of this.store.values()) h.onChange(obj);
  }

  /** Starts listing and watching in the background; see waitForSync. */
  async start(): Promise<void> {
    if (!this.stopped) return;
    this.stopped = false;
    this.lifetime = new AbortController();
    this.running = this.run();
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves once a LIST has succeeded (at once if one has). */
  waitForSync(): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  get(name: string, namespace?: string): KubeObject | undefined {
    return this.store.get(keyOf(namespace, name));
  }

  list(namespace?: string): KubeObject[] {
    const all = [...this.store.values()];
    return namespace ? all.filter((o) => o.metadata.namespace === namespace) : all;
  }

  get size(): number {
    return this.store.size;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.lifetime.abort();
    this.interruptSleep();
    this.endWatch?.({ kind: 'closed' });
    await this.running;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      if (this.resourceVersion === undefined) {
        try {
          await this.relist();
        } catch (err) {
          if (this.stopped) return;
          this.failed('Could not list; keeping the cache and retrying', err);
          await this.sleep(this.nextDelay());
          continue;
        }
      }
      const startedAt = Date.now();
      const end = await this.watchOnce();
      if (this.stopped) return;
      if (end.kind === 'expired') {
        this.o.logger.debug('Watch expired; relisting', { resource: this.o.resource });
        this.resourceVersion = undefined;
      } else if (end.kind === 'error') {
        this.failed('Watch failed; relisting', end.error);
        this.resourceVersion = undefined;
        await this.sleep(this.nextDelay());
      } else if (Date.now() - startedAt < 1_000) {
        // A server that closes every watch at once must not make us spin.
        await this.sleep(1_000);
      }
    }
  }

  private failed(message: string, err: unknown): void {
    this.failures++;
    this.o.logger.warn(message, { resource: this.o.resource, error: errorMessage(err), failures: this.failures });
    this.o.onRestart?.();
  }

  private nextDelay(): number {
    return Math.min(this.backoff.initialMs * 2 ** Math.min(this.failures - 1, 30), this.backoff.maxMs);
  }

  /** LISTs every page, then replaces the store in one step and reports the differences. */
  private async relist(): Promise<void> {
    const { client, path, labelSelector } = this.o;
    const next = new Map<string, KubeObject>();
    let cont: string | undefined;
    let rv: string | undefined;
    do {
      const page = await client.request<KubeList<KubeObject> & { kind?: string; apiVersion?: string }>('GET', path, {
        query: {
          limit: this.o.pageSize ?? 500,
          ...(labelSelector ? { labelSelector } : {}),
          ...(cont ? { continue: cont } : {}),
        },
        signal: this.lifetime.signal,
      });
      const kind = page.kind?.replace(/List$/, '');
      for (const item of page.items ?? []) {
        if (kind) item.kind ??= kind;
        if (page.apiVersion) item.apiVersion ??= page.apiVersion;
        const obj = this.transform(item);
        next.set(keyOf(obj.metadata.namespace, obj.metadata.name), obj);
      }
      cont = page.metadata?.continue || undefined;
      rv = page.metadata?.resourceVersion;
    } while (cont && !this.stopped);
    if (this.stopped) return;
    const previous = this.store;
    this.store = next;
    this.resourceVersion = rv ?? '';
    this.failures = 0;
    if (!this.synced) {
      this.synced = true;
      for (const w of this.syncWaiters.splice(0)) w();
    }
    for (const [key, old] of previous) if (!next.has(key)) this.emitDelete(old);
    for (const [key, obj] of next) {
      const old = previous.get(key);
      if (!old || old.metadata.resourceVersion !== obj.metadata.resourceVersion) this.emitChange(obj);
    }
  }

  /** One watch from the current resourceVersion, until it ends. */
  private async watchOnce(): Promise<WatchEnd> {
    const [lo, hi] = WATCH_TIMEOUT_SECONDS;
    const ended = new Promise<WatchEnd>((resolve) => {
      let done = false;
      this.endWatch = (end) => {
        if (done) return;
        done = true;
        this.endWatch = undefined;
        resolve(end);
      };
    });
    const finish = (end: WatchEnd): void => this.endWatch?.(end);
    // watch() resolves once the response has started; the controller it returns aborts it.
    const started = this.watch
      .watch(
        this.o.path,
        {
          allowWatchBookmarks: true,
          timeoutSeconds: lo + Math.floor(Math.random() * (hi - lo)),
          ...(this.resourceVersion ? { resourceVersion: this.resourceVersion } : {}),
          ...(this.o.labelSelector ? { labelSelector: this.o.labelSelector } : {}),
        },
        (type: string, object: unknown) => this.onWatchEvent(type, object as KubeObject, finish),
        (err: unknown) => {
          if (!err) return finish({ kind: 'closed' });
          if (errorCode(err) === 410) return finish({ kind: 'expired' });
          if ((err as { name?: string }).name === 'TimeoutError') return finish({ kind: 'closed' });
          finish({ kind: 'error', error: err });
        },
      )
      .then((controller) => {
        if (controller) this.o.onWatching?.();
        return controller;
      })
      .catch((err: unknown) => {
        finish({ kind: 'error', error: err });
        return undefined;
      });
    if (this.stopped) finish({ kind: 'closed' });
    const end = await ended;
    // Whatever ended it, the connection goes (also one still being opened).
    void started.then((controller) => controller?.abort());
    return end;
  }

  private onWatchEvent(type: string, raw: KubeObject, finish: (end: WatchEnd) => void): void {
    if (this.stopped || !raw) return;
    if (type === 'ERROR') {
      const status = raw as unknown as { code?: number; message?: string };
      if (status.code === 410) finish({ kind: 'expired' });
      else finish({ kind: 'error', error: Object.assign(new Error(status.message ?? 'watch error'), { code: status.code }) });
      return;
    }
    const rv = raw.metadata?.resourceVersion;
    if (type === 'BOOKMARK') {
      if (rv) this.resourceVersion = rv;
      return;
    }
    const obj = this.transform(raw);
    const key = keyOf(obj.metadata.namespace, obj.metadata.name);
    if (type === 'ADDED' || type === 'MODIFIED') {
      this.store.set(key, obj);
      if (rv) this.resourceVersion = rv;
      this.emitChange(obj);
    } else if (type === 'DELETED') {
      this.store.delete(key);
      if (rv) this.resourceVersion = rv;
      this.emitDelete(obj);
    }
  }

  private emitChange(obj: KubeObject): void {
    for (const h of this.handlers) this.safely(() => h.onChange?.(obj));
  }

  private emitDelete(obj: KubeObject): void {
    for (const h of this.handlers) this.safely(() => h.onDelete?.(obj));
  }

  private safely(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.o.logger.error('An informer event handler failed', { resource: this.o.resource, error: errorMessage(err) });
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      this.sleepTimer = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
    });
  }

  private interruptSleep(): void {
    if (this.sleepTimer) clearTimeout(this.sleepTimer);
    this.wake?.();
    this.wake = undefined;
  }
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

  get size(): number {
    return [...this.byNamespace.values()].reduce((n, i) => n + i.size, 0);
  }

  addHandler(h: InformerHandler): void {
    for (const i of this.byNamespace.values()) i.addHandler(h);
  }

  get hasSynced(): boolean {
    return [...this.byNamespace.values()].every((i) => i.hasSynced);
  }

  async waitForSync(): Promise<void> {
    await Promise.all([...this.byNamespace.values()].map((i) => i.waitForSync()));
  }

  async start(): Promise<void> {
    await Promise.all([...this.byNamespace.values()].map((i) => i.start()));
  }

  async stop(): Promise<void> {
    await Promise.all([...this.byNamespace.values()].map((i) => i.stop()));
  }
}
