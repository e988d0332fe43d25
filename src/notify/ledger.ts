// The delivery ledger kept in an object's status.notifications: which transitions are to be
// announced, to which sinks, and how far each delivery got. Pure: the reconciler appends to it
// (before its status write), the sender reads what is due and records results.
import { DEFAULT_TRANSITIONS, NOTIFICATION_DEFAULTS } from '../api/notification-constants.js';
import type { NotificationRecord, NotificationSpec, ReleaseNotificationDetails, SinkDelivery, Transition } from '../api/notification-types.js';

/** A transition as a derive function sees it, before it gets an id and sinks. */
export interface TransitionFact {
  transition: Transition;
  reason: string;
  message: string;
  /** What makes it unique among the object's transitions of this kind: a revision, or g<generation>. */
  key: string;
  from?: string;
  to?: string;
  version?: string;
  revision?: string;
  previousVersion?: string;
  previousRevision?: string;
  run?: string;
  /** A Release's transition: its targets, source, failed target and reason. */
  release?: ReleaseNotificationDetails;
}

/** A configured sink as the ledger names it. */
export interface SinkRef {
  /** spec.notifications[].name, or default/<name> for an operator-wide sink. */
  sink: string;
  spec: NotificationSpec;
}

export const DEFAULT_SINK_PREFIX = 'default/';
/** Messages in status are bounded. */
const MESSAGE_LIMIT = 1024;

/** The sinks of an object: its own, then the operator-wide ones. */
export function sinksOf(own: NotificationSpec[] | undefined, defaults: readonly NotificationSpec[]): SinkRef[] {
  return [...(own ?? []).map((spec) => ({ sink: spec.name, spec })), ...defaults.map((spec) => ({ sink: `${DEFAULT_SINK_PREFIX}${spec.name}`, spec }))];
}

/** Whether a sink wants a transition (default: failures, rollbacks and promotions). */
export function wants(spec: NotificationSpec, t: Transition): boolean {
  return (spec.transitions?.length ? spec.transitions : DEFAULT_TRANSITIONS).includes(t);
}

/** The stable id of a transition: the same on every replica and after any restart. */
export function eventId(uid: string, fact: Pick<TransitionFact, 'key' | 'run' | 'transition'>): string {
  const run = fact.run ? fact.run.slice(fact.run.indexOf('@') + 1) : '-';
  return `${uid}:${fact.key}:${run}:${fact.transition}`;
}

/**
 * The ledger after a pass's transitions: one entry per transition some sink wants, with a
 * pending delivery per such sink. An id already in the ledger is not added again. Bounded:
 * over the limit, the oldest entries with nothing pending go first, then the oldest.
 */
export function appendToLedger(opts: {
  ledger: NotificationRecord[] | undefined;
  facts: readonly TransitionFact[];
  sinks: readonly SinkRef[];
  uid: string;
  now: string;
  limit?: number;
}): NotificationRecord[] | undefined {
  const { facts, sinks, uid, now } = opts;
  const ledger = [...(opts.ledger ?? [])];
  let changed = false;
  for (const f of facts) {
    const wanting = sinks.filter((s) => wants(s.spec, f.transition));
    if (!wanting.length) continue;
    const id = eventId(uid, f);
    if (ledger.some((e) => e.id === id)) continue;
    const { key: _key, ...rest } = f;
    ledger.push({ id, ...rest, message: bounded(f.message), at: now, sinks: wanting.map((s) => ({ sink: s.sink, attempts: 0 })) });
    changed = true;
  }
  if (!changed) return opts.ledger;
  return bound(ledger, opts.limit ?? NOTIFICATION_DEFAULTS.ledgerLimit);
}

function bound(ledger: NotificationRecord[], limit: number): NotificationRecord[] {
  const out = [...ledger];
  while (out.length > limit) {
    const done = out.findIndex((e) => e.sinks.every((s) => !isPending(s)));
    out.splice(done >= 0 ? done : 0, 1);
  }
  return out;
}

function bounded(s: string): string {
  return s.length > MESSAGE_LIMIT ? `${s.slice(0, MESSAGE_LIMIT - 1)}…` : s;
}

export function isPending(d: SinkDelivery): boolean {
  return d.sentAt === undefined && d.gaveUpAt === undefined;
}

/** A delivery due now: pending, and its backoff over. */
export interface DueDelivery {
  id: string;
  sink: string;
}

/** Pending deliveries whose time has come, oldest entry first. */
export function dueDeliveries(ledger: readonly NotificationRecord[] | undefined, now: number): DueDelivery[] {
  const due: DueDelivery[] = [];
  for (const e of ledger ?? []) {
    for (const d of e.sinks) {
      if (!isPending(d)) continue;
      if (d.nextAttemptAt !== undefined && Date.parse(d.nextAttemptAt) > now) continue;
      due.push({ id: e.id, sink: d.sink });
    }
  }
  return due;
}

/** When the earliest pending delivery is due (ms), if any. */
export function nextDueAt(ledger: readonly NotificationRecord[] | undefined): number | undefined {
  let next: number | undefined;
  for (const e of ledger ?? []) {
    for (const d of e.sinks) {
      if (!isPending(d)) continue;
      const t = d.nextAttemptAt ? Date.parse(d.nextAttemptAt) : 0;
      next = next === undefined ? t : Math.min(next, t);
    }
  }
  return next;
}

export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
  maxAttempts: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = {
  baseMs: NOTIFICATION_DEFAULTS.baseBackoffMs,
  maxMs: NOTIFICATION_DEFAULTS.maxBackoffMs,
  maxAttempts: NOTIFICATION_DEFAULTS.maxAttempts,
};

/** Delay before attempt n+1 after n failed attempts: base × 2^(n-1), capped; a Retry-After wins when longer. */
export function backoffMs(attempts: number, policy: BackoffPolicy, retryAfterMs?: number): number {
  const exp = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, attempts - 1));
  return Math.min(policy.maxMs, Math.max(exp, retryAfterMs ?? 0));
}

/** The outcome of one attempt. */
export type AttemptResult = { ok: true; threadTs?: string } | { ok: false; error: string; retryAfterMs?: number };

/** The delivery after an attempt at `now`. */
export function recordAttempt(d: SinkDelivery, result: AttemptResult, now: number, policy: BackoffPolicy = DEFAULT_BACKOFF): SinkDelivery {
  const attempts = d.attempts + 1;
  const nowIso = new Date(now).toISOString();
  if (result.ok) {
    const { nextAttemptAt: _n, ...rest } = d;
    return { ...rest, attempts, sentAt: nowIso, ...(result.threadTs ? { threadTs: result.threadTs } : {}) };
  }
  const base = { ...d, attempts, lastError: bounded(result.error).slice(0, 300) };
  if (attempts >= policy.maxAttempts) {
    const { nextAttemptAt: _n, ...rest } = base;
    return { ...rest, gaveUpAt: nowIso };
  }
  return { ...base, nextAttemptAt: new Date(now + backoffMs(attempts, policy, result.retryAfterMs)).toISOString() };
}

/** The ledger with results applied by (id, sink); entries or deliveries gone meanwhile are left alone. */
export function applyResults(ledger: readonly NotificationRecord[], results: ReadonlyMap<string, SinkDelivery>): NotificationRecord[] {
  return ledger.map((e) => ({
    ...e,
    sinks: e.sinks.map((d) => {
      const r = results.get(deliveryKey(e.id, d.sink));
      // A delivery another writer already completed stays completed.
      if (!r || !isPending(d)) return d;
      return r;
    }),
  }));
}

export const deliveryKey = (id: string, sink: string): string => `${id}\u0000${sink}`;

/** The Slack thread of a run for a sink: the threadTs of an earlier entry of the same run. */
export function threadOf(ledger: readonly NotificationRecord[], run: string | undefined, sink: string): string | undefined {
  if (!run) return undefined;
  for (const e of ledger) {
    if (e.run !== run) continue;
    const ts = e.sinks.find((d) => d.sink === sink)?.threadTs;
    if (ts) return ts;
  }
  return undefined;
}

/**
 * The status to write with the pass's transitions in its ledger: what a reconciler calls right
 * before its one status write (any kind: the Canary, the Release). Unchanged when no sink wants any.
 */
export function withTransitions<S extends { notifications?: NotificationRecord[] }>(
  obj: { metadata: { uid?: string; namespace: string; name: string }; spec: { notifications?: NotificationSpec[] } },
  status: S,
  facts: readonly TransitionFact[],
  defaults: readonly NotificationSpec[],
  now: number,
): S {
  const sinks = sinksOf(obj.spec.notifications, defaults);
  if (!sinks.length || !facts.length) return status;
  const uid = obj.metadata.uid ?? `${obj.metadata.namespace}/${obj.metadata.name}`;
  const ledger = appendToLedger({ ledger: status.notifications, facts, sinks, uid, now: new Date(now).toISOString() });
  return ledger === status.notifications || ledger === undefined ? status : { ...status, notifications: ledger };
}
