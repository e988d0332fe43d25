// Gives memory back to the system once a burst of work is over.
//
// A burst (1,000 Canaries adopted at start-up, a Release across hundreds of Deployments, a
// resync after an outage) grows V8's heap, and V8 keeps the grown heap and its freed pages for
// reuse. Its own memory reducer gives them back only when its watchdog fires, up to 100 s after
// the last full collection, and spends CPU on the idle operator doing so. So, when the
// controllers have no pass in flight, have finished none for `quietMs`, and the heap has grown
// by `growthBytes` since the last compaction, the operator runs one memory-reducing collection
// itself (V8's last-resort collection: full, compacting, and the freed pages unmapped). Not more
// than once per `minIntervalMs`; a quiet operator whose heap does not grow never runs one.
import { runInNewContext } from 'node:vm';
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { realClock, type Clock, type TimerHandle } from './clock.js';

export interface CompactionInput {
  now: number;
  /** Passes running now. */
  passesInFlight: number;
  /** When the last pass ended. */
  lastActivityAt: number;
  /** V8's committed heap now, and right after the last compaction (or at start). */
  heapBytes: number;
  baselineBytes: number;
  lastCompactionAt: number | undefined;
}

export interface CompactionPolicy {
  quietMs: number;
  growthBytes: number;
  minIntervalMs: number;
}

export type CompactionDecision = { compact: true } | { compact: false; checkAgainInMs?: number; why: string };

export const DEFAULT_COMPACTION: CompactionPolicy = { quietMs: 3_000, growthBytes: 24 * 1024 * 1024, minIntervalMs: 60_000 };

/** Whether to compact now, or when to look again (pure). */
export function decideCompaction(i: CompactionInput, p: CompactionPolicy): CompactionDecision {
  if (i.passesInFlight > 0) return { compact: false, checkAgainInMs: p.quietMs, why: 'passes in flight' };
  const quietFor = i.now - i.lastActivityAt;
  if (quietFor < p.quietMs) return { compact: false, checkAgainInMs: p.quietMs - quietFor, why: 'busy' };
  if (i.heapBytes - i.baselineBytes < p.growthBytes) return { compact: false, why: 'the heap has not grown' };
  if (i.lastCompactionAt !== undefined && i.now - i.lastCompactionAt < p.minIntervalMs) {
    return { compact: false, checkAgainInMs: i.lastCompactionAt + p.minIntervalMs - i.now, why: 'compacted recently' };
  }
  return { compact: true };
}

export interface Compaction {
  beforeBytes: number;
  afterBytes: number;
  ms: number;
}

export interface MemoryReducerOptions {
  clock?: Clock;
  policy?: Partial<CompactionPolicy>;
  /** V8's committed heap (default: getHeapStatistics().total_heap_size). */
  heapBytes?: () => number;
  /** The collection (default: V8's last-resort collection). */
  collect?: () => void;
  onCompacted?: (c: Compaction) => void;
  /** The collection failed: compaction is off from then on. */
  onError?: (err: unknown) => void;
}

export class MemoryReducer {
  private readonly clock: Clock;
  private readonly policy: CompactionPolicy;
  private readonly heapBytes: () => number;
  private readonly collect: () => void;
  private lastActivityAt: number;
  private inFlight = 0;
  private baselineBytes: number;
  private lastCompactionAt: number | undefined;
  private timer: TimerHandle | undefined;
  private stopped = false;

  constructor(private readonly opts: MemoryReducerOptions = {}) {
    this.clock = opts.clock ?? realClock;
    this.policy = { ...DEFAULT_COMPACTION, ...opts.policy };
    this.heapBytes = opts.heapBytes ?? (() => getHeapStatistics().total_heap_size);
    this.collect = opts.collect ?? lastResortCollection();
    this.lastActivityAt = this.clock.now();
    this.baselineBytes = this.heapBytes();
  }

  /** A pass started: no collection while it runs. */
  passStarted(): void {
    this.inFlight++;
  }

  /** A pass ended: look again once the work has been quiet for a while. */
  passEnded(): void {
    this.inFlight = Math.max(0, this.inFlight - 1);
    if (this.stopped) return;
    this.lastActivityAt = this.clock.now();
    if (this.timer === undefined) this.arm(this.policy.quietMs);
  }

  stop(): void {
    this.stopped = true;
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(ms: number): void {
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.check();
    }, ms);
  }

  private check(): void {
    if (this.stopped) return;
    const now = this.clock.now();
    const heapBytes = this.heapBytes();
    // A heap that shrank by itself (V8's own reducer) is the new baseline.
    this.baselineBytes = Math.min(this.baselineBytes, heapBytes);
    const d = decideCompaction({ now, passesInFlight: this.inFlight, lastActivityAt: this.lastActivityAt, heapBytes, baselineBytes: this.baselineBytes, lastCompactionAt: this.lastCompactionAt }, this.policy);
    if (!d.compact) {
      if (d.checkAgainInMs !== undefined) this.arm(d.checkAgainInMs);
      return;
    }
    const beforeBytes = heapBytes;
    const t0 = performance.now();
    try {
      this.collect();
    } catch (err) {
      this.stop();
      this.opts.onError?.(err);
      return;
    }
    const ms = performance.now() - t0;
    this.lastCompactionAt = this.clock.now();
    this.baselineBytes = this.heapBytes();
    this.opts.onCompacted?.({ beforeBytes, afterBytes: this.baselineBytes, ms });
  }
}

/**
 * V8's last-resort collection (what it runs before giving up on an allocation): full
 * collections until nothing more is freed, compacting, with the freed pages given back. Reached
 * through V8's gc extension in a context of its own, so `gc` never appears in the operator's.
 */
function lastResortCollection(): () => void {
  let gc: ((o: { type: string; execution: string; flavor: string }) => void) | undefined;
  return () => {
    if (!gc) {
      setFlagsFromString('--expose-gc');
      gc = runInNewContext('gc') as typeof gc;
    }
    gc!({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  };
}
