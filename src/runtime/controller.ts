// A controller declared, not hand-wired (controller-runtime's builder): what it reconciles
// (`for`), what it owns (`owns`: an event on a child enqueues its owner), what else it watches
// and how an event maps to keys (`watches`). The runtime gives it a work queue, the leadership
// policy, metrics and the error policy:
//  - a pass runs only while this instance leads; a standby keeps no keys: when leadership is
//    (re)gained it runs every key its caches name (every object of `for`, the owner of every
//    child, every key a watched object maps to), as an informer replay would, so a key of an
//    object deleted meanwhile runs only while something still refers to it;
//  - a pass that started in one term may write only while that term lasts and the lease is not
//    near expiry (`mayWrite`, also reachable from code called by the pass through
//    `controller.mayWrite()`); losing the lease aborts the passes in flight (their signal);
//  - a 409 Conflict requeues at once and leaves the per-key error backoff alone; only a conflict
//    that keeps coming back is logged (as a warning) and slowed down;
//  - an error retries with per-key exponential backoff; requeueAfterMs schedules the next look;
//  - the queue starts only once every informer of the controller has synced.
import { AsyncLocalStorage } from 'node:async_hooks';
import { errorMessage } from '../kube/errors.js';
import type { KubeObject } from '../kube/raw-client.js';
import { realClock, type Clock, type TimerHandle } from './clock.js';
import type { InformerHandler, ObjectStore } from './informer.js';
import { alwaysLeader, type Leadership } from './leadership.js';
import type { Logger } from './logger.js';
import type { OperatorMetrics } from './metrics.js';
import { WorkQueue, type WorkQueueOptions } from './workqueue.js';

export interface ReconcileResult {
  requeueAfterMs?: number;
  /** A 409: look again at once, without an error. */
  conflict?: boolean;
}

/** What a pass gets besides its key. */
export interface PassContext {
  readonly key: string;
  /** Aborted when leadership is lost while the pass runs. */
  readonly signal: AbortSignal;
  /** Check before each write: still the leader of the term the pass started in, and not near expiry. */
  mayWrite(): boolean;
}

/** An informer as a controller sees it. */
export interface Source extends ObjectStore {
  addHandler(h: InformerHandler): void;
  readonly hasSynced: boolean;
  waitForSync(): Promise<void>;
}

export type MapFunction = (obj: KubeObject) => Iterable<string>;

export interface ControllerDefinition {
  /** Names the controller in logs and metrics, e.g. canary. */
  name: string;
  /** The kind it reconciles; keys are namespace/name of these objects. */
  for: Source;
  /** Children: an event on one enqueues the key of its owner (undefined: not ours). */
  owns?: Array<{ source: Source; owner: (obj: KubeObject) => string | undefined }>;
  /** Anything else: an event maps to the keys to reconcile. */
  watches?: Array<{ source: Source; map: MapFunction }>;
  reconcile: (key: string, ctx: PassContext) => Promise<ReconcileResult>;
  /** Passes in parallel (different keys). */
  concurrency?: number;
  /** Every object of `for` is enqueued this often (default 5 minutes). */
  resyncMs?: number;
  queue?: Omit<WorkQueueOptions, 'concurrency' | 'clock'>;
}

export interface ControllerRuntime {
  logger: Logger;
  metrics: OperatorMetrics;
  leadership?: Leadership;
  clock?: Clock;
  /** Called when a pass starts and after it ends (e.g. the memory reducer's signs of activity). */
  onPassStart?: () => void;
  onPassEnd?: () => void;
}

/** Consecutive conflicts on one key after which they are reported and slowed down. */
export const PERSISTENT_CONFLICTS = 5;
const PERSISTENT_CONFLICT_DELAY_MS = 1_000;

export const keyOf = (obj: { metadata: { namespace?: string; name: string } }): string => `${obj.metadata.namespace ?? ''}/${obj.metadata.name}`;

/** Owner key from a label on the child naming its owner in the same namespace. */
export const ownerByLabel =
  (label: string) =>
  (obj: KubeObject): string | undefined => {
    const owner = obj.metadata.labels?.[label];
    return owner ? `${obj.metadata.namespace ?? ''}/${owner}` : undefined;
  };

/** Owner key from the child's controller ownerReference of the given kind. */
export const ownerByReference =
  (kind: string) =>
  (obj: KubeObject): string | undefined => {
    const ref = (obj.metadata.ownerReferences ?? []).find((r) => r.controller === true && r.kind === kind);
    return typeof ref?.name === 'string' ? `${obj.metadata.namespace ?? ''}/${ref.name}` : undefined;
  };

export class Controller {
  readonly name: string;
  private readonly queue: WorkQueue;
  private readonly leadership: Leadership;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly inFlight = new Map<string, AbortController>();
  private readonly conflicts = new Map<string, number>();
  private readonly pass = new AsyncLocalStorage<PassContext>();
  private unsubscribe: (() => void) | undefined;
  private resyncTimer: TimerHandle | undefined;
  private started = false;
  private stopped = false;

  constructor(
    private readonly def: ControllerDefinition,
    private readonly rt: ControllerRuntime,
  ) {
    this.name = def.name;
    this.leadership = rt.leadership ?? alwaysLeader;
    this.clock = rt.clock ?? realClock;
    this.log = rt.logger.child({ controller: def.name });
    this.queue = new WorkQueue({ ...def.queue, concurrency: def.concurrency ?? 4, clock: this.clock });
    // Handlers go on now, so nothing that happens before start() is missed.
    const enqueueObj = (o: KubeObject): void => this.enqueue(keyOf(o));
    def.for.addHandler({ onChange: enqueueObj, onDelete: enqueueObj });
    for (const { source, owner } of def.owns ?? []) {
      const toOwner = (o: KubeObject): void => {
        const key = owner(o);
        if (key) this.enqueue(key);
      };
      source.addHandler({ onChange: toOwner, onDelete: toOwner });
    }
    for (const { source, map } of def.watches ?? []) {
      const mapped = (o: KubeObject): void => {
        for (const key of map(o)) this.enqueue(key);
      };
      source.addHandler({ onChange: mapped, onDelete: mapped });
    }
  }

  /** Every informer this controller reads. */
  get sources(): Source[] {
    return [this.def.for, ...(this.def.owns ?? []).map((o) => o.source), ...(this.def.watches ?? []).map((w) => w.source)];
  }

  get hasSynced(): boolean {
    return this.sources.every((s) => s.hasSynced);
  }

  enqueue(key: string): void {
    if (this.stopped) return;
    this.queue.add(key);
    this.rt.metrics.queueDepth.set({ controller: this.name }, this.queue.length);
  }

  /** Every object of `for`, behind the keys something happened to (a resync). */
  enqueueAll(): void {
    if (this.stopped) return;
    for (const obj of this.def.for.list()) this.queue.addBackground(keyOf(obj));
    this.rt.metrics.queueDepth.set({ controller: this.name }, this.queue.length);
  }

  /**
   * May the code running now write? Inside a pass: that pass's fence (see PassContext.mayWrite).
   * Outside a pass: whether this instance leads.
   */
  mayWrite(): boolean {
    const ctx = this.pass.getStore();
    return ctx ? ctx.mayWrite() : this.leadership.isLeader();
  }

  /** The pass the calling code runs in (its key, signal and write fence), if any. */
  currentPass(): PassContext | undefined {
    return this.pass.getStore();
  }

  /** Waits for the informers to sync, then takes work. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await Promise.all(this.sources.map((s) => s.waitForSync()));
    if (this.stopped) return;
    this.unsubscribe = this.leadership.subscribe((leading) => (leading ? this.onStartedLeading() : this.onStoppedLeading()));
    this.enqueueAll();
    this.queue.start((key) => this.handle(key));
    this.scheduleResync();
    this.log.info('Controller started', { objects: this.def.for.list().length });
  }

  /** No new passes; the passes in flight finish. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    this.clock.clearTimeout(this.resyncTimer);
    await this.queue.shutdown();
  }

  private scheduleResync(): void {
    const every = this.def.resyncMs ?? 5 * 60_000;
    if (every <= 0 || this.stopped) return;
    this.resyncTimer = this.clock.setTimeout(() => {
      this.enqueueAll();
      this.scheduleResync();
    }, every);
  }

  /** Every key the caches name: each object of `for`, each child's owner, each watched object's keys. */
  private knownKeys(): Set<string> {
    const keys = new Set<string>();
    for (const obj of this.def.for.list()) keys.add(keyOf(obj));
    for (const { source, owner } of this.def.owns ?? []) {
      for (const obj of source.list()) {
        const key = owner(obj);
        if (key) keys.add(key);
      }
    }
    for (const { source, map } of this.def.watches ?? []) {
      for (const obj of source.list()) for (const key of map(obj)) keys.add(key);
    }
    return keys;
  }

  private onStartedLeading(): void {
    const keys = this.knownKeys();
    this.log.info('Leading: reconciling every object', { keys: keys.size });
    for (const key of keys) this.queue.addBackground(key);
    this.rt.metrics.queueDepth.set({ controller: this.name }, this.queue.length);
  }

  private onStoppedLeading(): void {
    if (this.inFlight.size) this.log.warn('Lost leadership: cancelling the passes in flight', { passes: this.inFlight.size });
    for (const ac of this.inFlight.values()) ac.abort(new Error('leadership lost'));
  }

  private async handle(key: string): Promise<void> {
    const { metrics } = this.rt;
    metrics.queueDepth.set({ controller: this.name }, this.queue.length);
    // Not leading: nothing is kept; gaining leadership runs every key the caches name.
    if (!this.leadership.isLeader()) return;
    const term = this.leadership.term;
    const ac = new AbortController();
    const ctx: PassContext = {
      key,
      signal: ac.signal,
      mayWrite: () => !ac.signal.aborted && this.leadership.term === term && this.leadership.isLeader(),
    };
    this.inFlight.set(key, ac);
    this.rt.onPassStart?.();
    const end = metrics.reconcileDuration.startTimer({ controller: this.name });
    try {
      const r = await this.pass.run(ctx, () => this.def.reconcile(key, ctx));
      if (!ctx.mayWrite()) return this.cancelled(key);
      if (r.conflict) return this.conflict(key);
      metrics.reconciles.inc({ controller: this.name, result: 'ok' });
      this.conflicts.delete(key);
      this.queue.forget(key);
      if (r.requeueAfterMs !== undefined) this.queue.addAfter(key, Math.max(r.requeueAfterMs, 50));
    } catch (err) {
      if (!ctx.mayWrite()) return this.cancelled(key);
      metrics.reconciles.inc({ controller: this.name, result: 'error' });
      this.conflicts.delete(key);
      const delay = this.queue.addRateLimited(key);
      this.log.error('Reconcile failed', { key, error: errorMessage(err), retryInMs: delay, attempts: this.queue.numRequeues(key) });
    } finally {
      end();
      this.inFlight.delete(key);
      this.rt.onPassEnd?.();
    }
  }

  /** Leadership went (or wavered) during the pass: run the key again (when not leading, gaining leadership does). */
  private cancelled(key: string): void {
    this.rt.metrics.reconciles.inc({ controller: this.name, result: 'cancelled' });
    if (this.leadership.isLeader()) this.enqueue(key);
  }

  private conflict(key: string): void {
    this.rt.metrics.reconciles.inc({ controller: this.name, result: 'conflict' });
    const n = (this.conflicts.get(key) ?? 0) + 1;
    this.conflicts.set(key, n);
    if (n < PERSISTENT_CONFLICTS) {
      this.log.debug('Write conflict; looking again at once', { key });
      this.enqueue(key);
      return;
    }
    if (n === PERSISTENT_CONFLICTS || n % 20 === 0) this.log.warn('Write conflicts keep recurring', { key, conflicts: n, retryInMs: PERSISTENT_CONFLICT_DELAY_MS });
    this.queue.addAfter(key, PERSISTENT_CONFLICT_DELAY_MS);
  }
}
