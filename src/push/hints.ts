// The hints pushes leave for the Canary controller: which checks of which canaries should be
// measured again, from when. Guarded so that a push can cause at most one early measurement:
// a notification seen before (same event id) is a duplicate, and a monitor hinted less than
// minIntervalMs ago is throttled. Held in memory by the replica that leads.
import { PUSH_DEFAULTS } from '../api/push.js';

/** What observe() reads: the pending hints of a canary, by check name (time of the push, ms). */
export interface HintSource {
  hintsFor(canaryKey: string, now: number): Record<string, number>;
}

export interface HintBoardOptions {
  minIntervalMs?: number;
  ttlMs?: number;
  rememberedNotifications?: number;
  rememberNotificationsMs?: number;
  /** Most canaries with pending hints (the oldest go first). */
  maxCanaries?: number;
}

export type Admission = 'admitted' | 'duplicate' | 'throttled';

export class HintBoard implements HintSource {
  private readonly minIntervalMs: number;
  private readonly ttlMs: number;
  private readonly maxSeen: number;
  private readonly seenTtlMs: number;
  private readonly maxCanaries: number;
  /** monitor id -> time of its last hint that reached a canary. */
  private readonly lastHint = new Map<number, number>();
  /** notification event id -> when first seen (insertion order is age order). */
  private readonly seen = new Map<string, number>();
  /** canary key -> check name -> time of the hint. */
  private readonly pending = new Map<string, Map<string, number>>();

  constructor(o: HintBoardOptions = {}) {
    this.minIntervalMs = o.minIntervalMs ?? PUSH_DEFAULTS.minHintIntervalMs;
    this.ttlMs = o.ttlMs ?? PUSH_DEFAULTS.hintTtlMs;
    this.maxSeen = o.rememberedNotifications ?? PUSH_DEFAULTS.rememberedNotifications;
    this.seenTtlMs = o.rememberNotificationsMs ?? PUSH_DEFAULTS.rememberNotificationsMs;
    this.maxCanaries = o.maxCanaries ?? 10_000;
  }

  /**
   * Whether a notification may hint now. The event id is remembered whatever the answer, so a
   * retry or replay of it never hints later either.
   */
  admit(monitorId: number, eventId: string | undefined, now: number): Admission {
    this.forgetOld(now);
    if (eventId !== undefined) {
      const key = `${monitorId}/${eventId}`;
      if (this.seen.has(key)) return 'duplicate';
      this.seen.set(key, now);
      if (this.seen.size > this.maxSeen) this.seen.delete(this.seen.keys().next().value!);
    }
    const last = this.lastHint.get(monitorId);
    return last !== undefined && now - last < this.minIntervalMs ? 'throttled' : 'admitted';
  }

  /** Leaves the hint for these checks and starts the monitor's quiet interval. */
  hint(monitorId: number, targets: ReadonlyArray<{ canaryKey: string; checks: readonly string[] }>, now: number): void {
    if (!targets.length) return;
    this.lastHint.set(monitorId, now);
    for (const t of targets) {
      let checks = this.pending.get(t.canaryKey);
      if (checks) this.pending.delete(t.canaryKey); // re-inserted: newest last
      else checks = new Map();
      for (const c of t.checks) checks.set(c, now);
      this.pending.set(t.canaryKey, checks);
      if (this.pending.size > this.maxCanaries) this.pending.delete(this.pending.keys().next().value!);
    }
  }

  hintsFor(canaryKey: string, now: number): Record<string, number> {
    const checks = this.pending.get(canaryKey);
    if (!checks) return {};
    const out: Record<string, number> = {};
    for (const [name, at] of checks) {
      if (now - at > this.ttlMs) checks.delete(name);
      else out[name] = at;
    }
    if (checks.size === 0) this.pending.delete(canaryKey);
    return out;
  }

  private forgetOld(now: number): void {
    for (const [id, at] of this.seen) {
      if (now - at <= this.seenTtlMs) break;
      this.seen.delete(id);
    }
    for (const [m, at] of this.lastHint) if (now - at >= this.minIntervalMs) this.lastHint.delete(m);
  }
}
