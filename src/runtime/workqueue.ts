// A keyed work queue in the style of client-go's: keys are de-duplicated, at most one pass
// is in flight per key (a key added while in flight runs again afterwards), failures back
// off per key exponentially up to a cap. Two lanes: a key something happened to (add) runs
// before the keys of a periodic pass over every object (addBackground), so a new revision
// never waits behind a resync of a thousand Canaries; a token bucket limits the background
// lane's rate, as client-go's limits only re-adds, never the reaction to an event. A background
// key never starves: once the oldest has waited backgroundMaxWaitMs, the lanes take turns.
import { realClock, type Clock, type TimerHandle } from './clock.js';

export interface WorkQueueOptions {
  concurrency?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Background passes started per second (token bucket). */
  qps?: number;
  burst?: number;
  /** After this wait, the oldest background key alternates with the urgent ones (default 10 s). */
  backgroundMaxWaitMs?: number;
  clock?: Clock;
}

export type Handler = (key: string) => Promise<void>;

export class WorkQueue {
  /** Pending keys and the lane each waits in. */
  private readonly pending = new Map<string, 'urgent' | 'background'>();
  private readonly urgent: string[] = [];
  private readonly background: string[] = [];
  /** When each background key was enqueued. */
  private readonly backgroundSince = new Map<string, number>();
  private lastLane: 'urgent' | 'background' = 'background';
  private readonly active = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, { at: number; timer: TimerHandle }>();
  private readonly opts: Required<Omit<WorkQueueOptions, 'clock'>>;
  private readonly clock: Clock;
  private tokens: number;
  private lastRefill: number;
  private refillTimer: TimerHandle | undefined;
  private handler: Handler | undefined;
  private shuttingDown = false;
  private idleResolvers: Array<() => void> = [];

  constructor(opts: WorkQueueOptions = {}) {
    const { clock, ...rest } = opts;
    this.opts = { concurrency: 4, baseDelayMs: 100, maxDelayMs: 300_000, qps: 50, burst: 100, backgroundMaxWaitMs: 10_000, ...rest };
    this.clock = clock ?? realClock;
    this.tokens = this.opts.burst;
    this.lastRefill = this.clock.now();
  }

  /** Enqueues a key now. */
  add(key: string): void {
    if (this.shuttingDown) return;
    const t = this.timers.get(key);
    if (t) {
      this.clock.clearTimeout(t.timer);
      this.timers.delete(key);
    }
    if (this.active.has(key)) {
      this.dirty.add(key);
      return;
    }
    const lane = this.pending.get(key);
    if (lane === 'urgent') return;
    if (lane === 'background') {
      this.background.splice(this.background.indexOf(key), 1);
      this.backgroundSince.delete(key);
    }
    this.pending.set(key, 'urgent');
    this.urgent.push(key);
    this.pump();
  }

  /**
   * Enqueues a key for a periodic pass (a resync): it runs after every urgent key, at the
   * token bucket's rate. A key already pending or in flight keeps its own turn.
   */
  addBackground(key: string): void {
    if (this.shuttingDown || this.pending.has(key)) return;
    if (this.active.has(key)) {
      this.dirty.add(key); // a pass in flight may predate what this one is for: it runs again after
      return;
    }
    this.pending.set(key, 'background');
    this.background.push(key);
    this.backgroundSince.set(key, this.clock.now());
    this.pump();
  }

  /** Enqueues a key after a delay; an earlier scheduled time wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.shuttingDown) return;
    if (delayMs <= 0) return this.add(key);
    const at = this.clock.now() + delayMs;
    const existing = this.timers.get(key);
    if (existing && existing.at <= at) return;
    if (existing) this.clock.clearTimeout(existing.timer);
    const timer = this.clock.setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, delayMs);
    this.timers.set(key, { at, timer });
  }

  /** Enqueues after the key's next backoff delay. */
  addRateLimited(key: string): number {
    const n = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, n);
    const delay = Math.min(this.opts.baseDelayMs * 2 ** (n - 1), this.opts.maxDelayMs);
    this.addAfter(key, delay);
    return delay;
  }

  /** Clears the key's backoff after a successful pass. */
  forget(key: string): void {
    this.failures.delete(key);
  }

  numRequeues(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  get length(): number {
    return this.pending.size;
  }

  get inFlight(): number {
    return this.active.size;
  }

  start(handler: Handler): void {
    this.handler = handler;
    this.pump();
  }

  /** Stops taking work and resolves when the passes in flight have finished. */
  async shutdown(): Promise<void> {
    this.shuttingDown = true;
    for (const t of this.timers.values()) this.clock.clearTimeout(t.timer);
    this.timers.clear();
    this.clock.clearTimeout(this.refillTimer);
    if (this.active.size === 0) return;
    await new Promise<void>((resolve) => this.idleResolvers.push(resolve));
  }

  private takeToken(): boolean {
    const now = this.clock.now();
    this.tokens = Math.min(this.opts.burst, this.tokens + ((now - this.lastRefill) / 1000) * this.opts.qps);
    this.lastRefill = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    if (!this.refillTimer) {
      this.refillTimer = this.clock.setTimeout(() => {
        this.refillTimer = undefined;
        this.pump();
      }, Math.ceil(((1 - this.tokens) / this.opts.qps) * 1000));
    }
    return false;
  }

  private pump(): void {
    const handler = this.handler;
    if (!handler || this.shuttingDown) return;
    while (this.active.size < this.opts.concurrency && (this.urgent.length > 0 || this.background.length > 0)) {
      let key: string | undefined;
      if (this.backgroundTurn() && this.takeToken()) {
        key = this.background.shift()!;
        this.backgroundSince.delete(key);
        this.lastLane = 'background';
      } else if (this.urgent.length > 0) {
        key = this.urgent.shift()!;
        this.lastLane = 'urgent';
      } else {
        return; // background keys only, and no token: the refill timer pumps again
      }
      this.pending.delete(key);
      this.active.add(key);
      void this.runOne(handler, key);
    }
  }

  /** Background goes next when nothing is urgent, or, once its oldest key has waited too long, every other time. */
  private backgroundTurn(): boolean {
    const oldest = this.background[0];
    if (oldest === undefined) return false;
    if (this.urgent.length === 0) return true;
    return this.lastLane === 'urgent' && this.clock.now() - (this.backgroundSince.get(oldest) ?? Infinity) >= this.opts.backgroundMaxWaitMs;
  }

  private async runOne(handler: Handler, key: string): Promise<void> {
    try {
      await handler(key);
    } catch {
      // The handler reports and schedules its own retries; nothing escapes the queue.
    } finally {
      this.active.delete(key);
      if (this.dirty.delete(key)) this.add(key);
      if (this.shuttingDown && this.active.size === 0) {
        for (const r of this.idleResolvers.splice(0)) r();
      }
      this.pump();
    }
  }
}
