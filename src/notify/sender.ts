// Delivers what the delivery ledgers (status.notifications) hold. Runs beside the controllers,
// never inside a reconcile pass, so a slow or failing sink never delays a pass, a rollback or a
// promotion. Only the leader sends.
//
// Guarantees (see README, "Notifications"):
//  - at-least-once across restarts and leader changes: the ledger entry is in status before
//    anything is sent (the reconciler writes it), and a delivery counts as done only once its
//    sentAt is in status;
//  - de-duplicated: a delivery with sentAt is never sent again; before sending, the object is
//    read live (not from the cache, which may not show a sentAt just recorded);
//  - the crash window: an operator that dies (or loses the lease) after a sink accepted a
//    notification and before its sentAt is written sends it again after the restart; the
//    receiver then sees the same event id twice and can drop the second.
import type { NotificationRecord, NotificationSpec, SecretKeyRef, SinkDelivery } from '../api/notification-types.js';
import { assessDatadogUrl, DATADOG_SITES, DEFAULT_DATADOG_SITE, type DatadogUrlPolicy, STRICT_URL_POLICY } from '../analysis/secret.js';
import { errorCode, errorMessage, isConflict, isNotFound } from '../kube/errors.js';
import { PATCH, paths, type KubeObject, type RawClient } from '../kube/raw-client.js';
import type { InformerHandler, ObjectStore } from '../runtime/informer.js';
import type { Leadership } from '../runtime/leadership.js';
import type { Logger } from '../runtime/logger.js';
import { applyResults, DEFAULT_BACKOFF, deliveryKey, dueDeliveries, isPending, recordAttempt, sinksOf, threadOf, type AttemptResult, type BackoffPolicy, type SinkRef, DEFAULT_SINK_PREFIX } from './ledger.js';
import type { NotificationMetrics } from './metrics.js';
import { buildPayload, type PayloadSubject } from './payload.js';
import { createSink, sinkKindOf, type Sink, type SinkContext } from './sinks/sink.js';
import { timedSignal } from '../runtime/timed-signal.js';

/** A kind of object whose status holds a ledger (Canary, Release). */
export interface NotifyKind {
  kind: string;
  store: ObjectStore & { addHandler(h: InformerHandler): void };
  /** The object's API path (its status subresource is <path>/status). */
  path(namespace: string, name: string): string;
  /** What the payload says besides the ledger entry: the target, links. */
  describe(obj: KubeObject): Pick<PayloadSubject, 'target' | 'links'>;
  /** Datadog unified service tags of what the object deploys. */
  serviceTags(obj: KubeObject): { service?: string; env?: string; version?: string };
}

export interface SenderOptions {
  client: RawClient;
  kinds: NotifyKind[];
  leadership: Leadership;
  logger: Logger;
  metrics: NotificationMetrics;
  /** Operator-wide sinks (from --notifications-config). */
  defaults: () => readonly NotificationSpec[];
  /** Where operator-wide sinks' Secrets live. */
  operatorNamespace: string;
  backoff?: BackoffPolicy;
  /** Per request (default 10 s). */
  timeoutMs?: number;
  slackApiUrl?: string;
  datadogUrlPolicy?: DatadogUrlPolicy;
  /** Objects delivered to in parallel (default 4). */
  concurrency?: number;
  /** The shortest time between two scans of the caches for deliveries that fell due (default 1 s). */
  pollMs?: number;
  now?: () => number;
}

interface Ledgered {
  metadata: KubeObject['metadata'];
  spec?: { notifications?: NotificationSpec[]; datadog?: { secretRef?: { name?: string } } };
  status?: { notifications?: NotificationRecord[] };
}

const MAX_STATUS_CONFLICTS = 5;
/** The caches are scanned at least this often (a change not seen, a recorded delivery's TTL running out). */
const SAFETY_SCAN_MS = 30_000;
/** Deliveries recorded by this sender are not looked at again for this long, while the cache catches up. */
const RECORDED_TTL_MS = 10 * 60_000;

export class NotificationSender {
  private readonly inFlight = new Set<string>();
  private readonly again = new Set<string>();
  private readonly recorded = new Map<string, number>();
  /** Results this instance could not record yet (the status write failed): recorded again, never sent again. */
  private readonly unrecorded = new Map<string, SinkDelivery>();
  private readonly stopper = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  private readonly backoff: BackoffPolicy;
  private readonly now: () => number;
  private stopped = false;
  private unsubscribe: (() => void) | undefined;

  constructor(private readonly o: SenderOptions) {
    this.backoff = o.backoff ?? DEFAULT_BACKOFF;
    this.now = o.now ?? Date.now;
  }

  start(): void {
    for (const [i, k] of this.o.kinds.entries()) {
      k.store.addHandler({
        onChange: (obj) => {
          this.consider(i, obj);
          this.wakeAt(this.nextDue(obj));
        },
      });
    }
    this.unsubscribe = this.o.leadership.subscribe((leading) => {
      if (leading) this.tick();
    });
    this.tick();
  }

  /**
   * Scans the caches and sleeps until the next delivery falls due (a retry's nextAttemptAt), at
   * least pollMs and at most SAFETY_SCAN_MS: a thousand idle Canaries are not walked every second.
   * A change in the caches is considered at once (the handler above).
   */
  private tick(): void {
    if (this.stopped) return;
    const next = this.scan();
    const now = this.now();
    const poll = this.o.pollMs ?? 1_000;
    this.schedule(next === undefined ? SAFETY_SCAN_MS : Math.min(SAFETY_SCAN_MS, Math.max(poll, next - now)));
  }

  private schedule(delayMs: number): void {
    if (!Number.isFinite(delayMs)) delayMs = this.o.pollMs ?? 1_000;
    clearTimeout(this.timer);
    this.timerAt = this.now() + delayMs;
    this.timer = setTimeout(() => this.tick(), delayMs);
    this.timer.unref?.();
  }

  /** Brings the next scan forward to `at` (not sooner than pollMs from now). */
  private wakeAt(at: number | undefined): void {
    if (at === undefined || this.stopped) return;
    const at2 = Math.max(at, this.now() + (this.o.pollMs ?? 1_000));
    if (at2 < this.timerAt) this.schedule(at2 - this.now());
  }

  /** When the object's earliest pending delivery this instance has not just recorded falls due. */
  private nextDue(obj: KubeObject): number | undefined {
    let next: number | undefined;
    for (const e of (obj as unknown as Ledgered).status?.notifications ?? []) {
      for (const d of e.sinks) {
        if (!isPending(d) || this.recorded.has(deliveryKey(e.id, d.sink))) continue;
        const parsed = d.nextAttemptAt ? Date.parse(d.nextAttemptAt) : 0;
        const t = Number.isFinite(parsed) ? parsed : 0; // an unreadable time (a hand edit) is due now
        next = next === undefined ? t : Math.min(next, t);
      }
    }
    return next;
  }

  /** No new deliveries; those in flight are aborted (their results, if any, are still recorded). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    clearTimeout(this.timer);
    this.stopper.abort(new Error('stopping'));
    while (this.inFlight.size) await new Promise((r) => setTimeout(r, 20));
  }

  /** Every object with a delivery due; returns when the next one falls due, if any is pending. */
  private scan(): number | undefined {
    if (!this.o.leadership.isLeader() || this.stopped) return undefined;
    const now = this.now();
    for (const [t, at] of this.recorded) if (now - at > RECORDED_TTL_MS) this.recorded.delete(t);
    let next: number | undefined;
    for (const [i, k] of this.o.kinds.entries()) {
      for (const obj of k.store.list()) {
        const due = this.nextDue(obj);
        if (due === undefined) continue;
        this.consider(i, obj);
        next = next === undefined ? due : Math.min(next, due);
      }
    }
    return next;
  }

  private consider(kindIndex: number, obj: KubeObject): void {
    if (!this.o.leadership.isLeader() || this.stopped) return;
    const o = obj as unknown as Ledgered;
    const due = dueDeliveries(o.status?.notifications, this.now()).filter((d) => !this.recorded.has(deliveryKey(d.id, d.sink)));
    if (!due.length) return;
    const key = `${kindIndex}/${obj.metadata.namespace ?? ''}/${obj.metadata.name}`;
    if (this.inFlight.has(key)) {
      this.again.add(key);
      return;
    }
    this.inFlight.add(key);
    void this.run(kindIndex, obj.metadata.namespace ?? '', obj.metadata.name)
      .catch((err: unknown) => this.o.logger.warn('Could not deliver notifications', { object: key, error: errorMessage(err) }))
      .finally(() => {
        this.inFlight.delete(key);
        if (this.again.delete(key)) {
          const cached = this.o.kinds[kindIndex]?.store.get(obj.metadata.name, obj.metadata.namespace);
          if (cached) this.consider(kindIndex, cached);
        }
      });
  }

  private async slot<T>(fn: () => Promise<T>): Promise<T> {
    const limit = this.o.concurrency ?? 4;
    if (this.running >= limit) await new Promise<void>((r) => this.waiting.push(r));
    this.running++;
    try {
      return await fn();
    } finally {
      this.running--;
      this.waiting.shift()?.();
    }
  }

  /** One object: read it live, send what is due, record the results. */
  private async run(kindIndex: number, namespace: string, name: string): Promise<void> {
    await this.slot(async () => {
      const kind = this.o.kinds[kindIndex]!;
      const log = this.o.logger.child({ [kind.kind.toLowerCase()]: `${namespace}/${name}` });
      if (!this.o.leadership.isLeader()) return;
      let live: KubeObject;
      try {
        live = await this.o.client.get<KubeObject>(kind.path(namespace, name), this.stopper.signal);
      } catch (err) {
        if (isNotFound(err)) return;
        throw err;
      }
      const obj = live as unknown as Ledgered;
      const ledger = obj.status?.notifications ?? [];
      const due = dueDeliveries(ledger, this.now());
      if (!due.length) return;
      const refs = sinksOf(obj.spec?.notifications, this.o.defaults());
      const results = new Map<string, SinkDelivery>();
      // Working copy: a Slack thread started by one entry is seen by the next of the same run.
      let working = ledger;
      const subject: PayloadSubject = { kind: kind.kind, namespace, name, uid: live.metadata.uid ?? '', ...kind.describe(live) };
      const serviceTags = kind.serviceTags(live);

      const bySink = new Map<string, string[]>();
      for (const d of due) bySink.set(d.sink, [...(bySink.get(d.sink) ?? []), d.id]);
      await Promise.all(
        [...bySink].map(async ([sinkName, ids]) => {
          const ref = refs.find((r) => r.sink === sinkName);
          let sink: Sink | undefined;
          let setupError: string | undefined;
          if (!ref) setupError = `sink ${sinkName} is not configured`;
          else {
            const made = await createSink(ref.spec, this.sinkContext(ref, namespace, obj));
            if (made.ok) sink = made.sink;
            else setupError = made.error;
          }
          for (const id of ids) {
            const entry = working.find((e) => e.id === id);
            const delivery = entry?.sinks.find((d) => d.sink === sinkName);
            if (!entry || !delivery || !isPending(delivery)) continue;
            const known = this.unrecorded.get(deliveryKey(id, sinkName));
            if (known && !isPending(known)) {
              results.set(deliveryKey(id, sinkName), known);
              continue;
            }
            if (!this.o.leadership.isLeader() || this.stopper.signal.aborted) return;
            let result: AttemptResult;
            // A sink removed from the spec (or not readable right now) is a failed attempt: it is
            // retried with backoff, so a sink put back in time still gets it; then it gives up.
            const kindLabel = ref ? (sinkKindOf(ref.spec) ?? 'invalid') : 'unknown';
            if (!sink) result = { ok: false, error: setupError ?? 'sink unavailable' };
            else {
              const threadTs = threadOf(working, entry.run, sinkName);
              const deadline = timedSignal(this.o.timeoutMs ?? 10_000, this.stopper.signal);
              try {
                result = await sink.send({ payload: buildPayload(subject, entry), serviceTags, ...(threadTs ? { threadTs } : {}) }, deadline.signal);
              } finally {
                deadline.release();
              }
            }
            const next = recordAttempt(delivery, result, this.now(), this.backoff);
            results.set(deliveryKey(id, sinkName), next);
            working = applyResults(working, new Map([[deliveryKey(id, sinkName), next]]));
            const outcome = result.ok ? 'sent' : next.gaveUpAt ? 'gave_up' : 'failed';
            this.o.metrics.deliveries.inc({ sink: kindLabel, result: outcome });
            if (result.ok) log.info('Sent a notification', { sink: sinkName, transition: entry.transition, eventId: id, attempts: next.attempts });
            else log.warn('Could not send a notification', { sink: sinkName, transition: entry.transition, eventId: id, attempts: next.attempts, error: next.lastError, nextAttemptAt: next.nextAttemptAt, gaveUp: next.gaveUpAt !== undefined });
          }
        }),
      );
      if (!results.size) return;
      // Until the results are in status, a sent delivery is not sent again by this instance.
      for (const [k, d] of results) if (!isPending(d)) this.unrecorded.set(k, d);
      if (await this.record(kind, live, results, log)) for (const k of results.keys()) this.unrecorded.delete(k);
    });
  }

  private sinkContext(ref: SinkRef, namespace: string, obj: Ledgered): SinkContext {
    const ns = ref.sink.startsWith(DEFAULT_SINK_PREFIX) ? this.o.operatorNamespace : namespace;
    const datadogSecret = ref.sink.startsWith(DEFAULT_SINK_PREFIX) ? undefined : obj.spec?.datadog?.secretRef?.name;
    return {
      secrets: (secretRef, defaultKey) => this.readSecretKey(ns, secretRef, defaultKey),
      ...(datadogSecret ? { datadogSecret } : {}),
      datadog: (secretName) => this.readDatadog(ns, secretName),
      slackApiUrl: this.o.slackApiUrl ?? 'https://slack.com/api',
    };
  }

  /** Records results by (id, sink) on the live object; a 409 re-reads and applies them again. */
  private async record(kind: NotifyKind, live: KubeObject, results: Map<string, SinkDelivery>, log: Logger): Promise<boolean> {
    let current = live;
    for (let i = 0; i < MAX_STATUS_CONFLICTS; i++) {
      const ledger = (current as unknown as Ledgered).status?.notifications ?? [];
      const next = applyResults(ledger, results);
      try {
        // The resourceVersion makes it a compare-and-swap: a status written meanwhile (by the
        // reconciler or another instance) is never overwritten.
        await this.o.client.patch(
          `${kind.path(current.metadata.namespace ?? '', current.metadata.name)}/status`,
          { metadata: { resourceVersion: current.metadata.resourceVersion }, status: { notifications: next } },
          PATCH.merge,
        );
        const now = this.now();
        for (const [k, d] of results) if (!isPending(d)) this.recorded.set(k, now);
        return true;
      } catch (err) {
        if (isNotFound(err)) return true;
        if (!isConflict(err)) {
          log.warn('Could not record notification results; they are recorded again on the next attempt', { error: errorMessage(err) });
          return false;
        }
        current = await this.o.client.get<KubeObject>(kind.path(current.metadata.namespace ?? '', current.metadata.name));
      }
    }
    log.warn('Could not record notification results: the status kept changing', { conflicts: MAX_STATUS_CONFLICTS });
    return false;
  }

  private async readSecret(namespace: string, name: string): Promise<{ ok: true; data: Record<string, string> } | { ok: false; error: string }> {
    try {
      const s = await this.o.client.get<{ data?: Record<string, string> }>(paths.secret(namespace, name), this.stopper.signal);
      return { ok: true, data: s.data ?? {} };
    } catch (err) {
      if (isNotFound(err)) return { ok: false, error: `Secret ${namespace}/${name} not found` };
      const code = errorCode(err);
      return { ok: false, error: `Secret ${namespace}/${name} could not be read${code ? ` (HTTP ${code})` : ''}` };
    }
  }

  private async readSecretKey(namespace: string, ref: SecretKeyRef, defaultKey: string): Promise<{ ok: true; value: string } | { ok: false; error: string }> {
    const s = await this.readSecret(namespace, ref.name);
    if (!s.ok) return s;
    const key = ref.key ?? defaultKey;
    const raw = s.data[key];
    if (raw === undefined) return { ok: false, error: `Secret ${namespace}/${ref.name} has no key ${key}` };
    const value = Buffer.from(raw, 'base64').toString('utf8').trim();
    if (!value) return { ok: false, error: `Secret ${namespace}/${ref.name} key ${key} is empty` };
    return { ok: true, value };
  }

  private async readDatadog(namespace: string, name: string): Promise<{ ok: true; apiKey: string; baseUrl: string } | { ok: false; error: string }> {
    const s = await this.readSecret(namespace, name);
    if (!s.ok) return s;
    const get = (k: string): string | undefined => (s.data[k] ? Buffer.from(s.data[k], 'base64').toString('utf8').trim() : undefined);
    const apiKey = get('api-key');
    if (!apiKey) return { ok: false, error: `Secret ${namespace}/${name} has no key api-key` };
    const url = get('url');
    if (url) {
      const checked = assessDatadogUrl(url, this.o.datadogUrlPolicy ?? STRICT_URL_POLICY);
      if (!checked.ok) return { ok: false, error: `Secret ${namespace}/${name} key url ${checked.message}` };
      return { ok: true, apiKey, baseUrl: checked.url };
    }
    const site = (get('site') ?? DEFAULT_DATADOG_SITE).toLowerCase();
    if (!(DATADOG_SITES as readonly string[]).includes(site)) return { ok: false, error: `Secret ${namespace}/${name} key site is not a known Datadog site` };
    return { ok: true, apiKey, baseUrl: `https://api.${site}` };
  }
}
