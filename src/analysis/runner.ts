// Runs Datadog calls off the work queue and shares them between Canaries and checks.
import type { Measurement } from '../api/types.js';
import type { CheckProvider, CheckSecrets, DatadogCredentials, MeasurementRequest, MeasurementSource, Observation, ResolvedCheck } from './provider.js';
import { checkProvider } from './providers.js';
import { credentialFingerprint } from './datadog/client.js';
import { describeCall, fetchObservation, redact, remoteCallFor, remoteCallKey, type FetchResult, type Quota, type RemoteCall } from './datadog/fetch.js';
import { judgeObservation } from './datadog/judge.js';
import { timedSignal } from '../runtime/timed-signal.js';
import { formatDuration } from './duration.js';
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { assessDatadogUrl, forbiddenAddress, STRICT_URL_POLICY, type DatadogUrlPolicy } from './secret.js';

export const CALL_RESULTS = { ok: 'ok', error: 'error', rateLimited: 'rate_limited' } as const;
export type CallResult = (typeof CALL_RESULTS)[keyof typeof CALL_RESULTS];

/** The subset of a winston logger the runner uses. */
export interface RunnerLogger {
  debug(message: string, meta?: Record<string, unknown>): unknown;
  info(message: string, meta?: Record<string, unknown>): unknown;
  warn(message: string, meta?: Record<string, unknown>): unknown;
}

export type Fetcher = (credentials: DatadogCredentials, call: RemoteCall, opts: { timeoutMs: number; now: () => number }) => Promise<FetchResult>;

export interface MeasurementRunnerOptions {
  /** Called with a Canary's key when a result it asked for is in. */
  onReady: (canaryKey: string) => void;
  /** Timeout of each remote call; default 10 s. */
  timeoutMs?: number;
  now?: () => number;
  logger?: RunnerLogger;
  metrics?: { onCall(result: CallResult): void };
  /** Retries of a rate-limited call after the reset; default 2. */
  maxRateLimitRetries?: number;
  /** How long a finished observation is kept for sharing; default 5 min. */
  cacheTtlMs?: number;
  /** Most observations kept; default 1000. */
  maxCacheEntries?: number;
  /** The remote call; default the Datadog client. */
  fetcher?: Fetcher;
  /** What a Secret's url may be beyond https; default: plain http only to loopback hosts. */
  urlPolicy?: DatadogUrlPolicy;
  /**
   * Most calls per credential in a period (bursts up to `calls`, then evenly spread), so many
   * Canaries sharing an organisation cannot use up its rate limits. Default 300 per minute.
   */
  callBudget?: CallBudget;
  /** Most calls in flight per credential; default 4. */
  maxConcurrentCalls?: number;
  /** Resolves a url's host name to its addresses; default the system resolver. */
  lookup?: (hostname: string) => Promise<string[]>;
}

export interface CallBudget {
  calls: number;
  perMs: number;
}

export interface RunnerStats {
  /** Remote calls started (a retry after a 429 counts again). */
  calls: number;
  /** Requests and peeks served by a call another request started (joined in flight or reused). */
  sharedHits: number;
  /** request() calls. */
  requests: number;
  /** 429 answers seen. */
  rateLimited: number;
  /** Calls that waited for the per-credential budget. */
  budgetDelayed: number;
  inFlight: number;
  cached: number;
}

interface Flight {
  key: string;
  fingerprint: string;
  call: RemoteCall;
  credentials: DatadogCredentials;
  waiters: Set<string>;
  notBefore: number;
  rateLimitRetries: number;
  running: boolean;
  timer?: NodeJS.Timeout;
  /** The time the call budget reserved for this flight's next call. */
  slotAt?: number;
}

/** A call of a provider other than Datadog (no budget, no rate limits: one call, shared). */
interface ProviderFlight {
  key: string;
  provider: CheckProvider;
  check: ResolvedCheck;
  secrets: CheckSecrets | undefined;
  waiters: Set<string>;
  notBefore: number;
  running: boolean;
  timer?: NodeJS.Timeout;
}

interface CacheEntry {
  observation: Observation;
  storedAt: number;
  /** Canaries that asked for this call or already read the result; others reading it count as shared. */
  readers: Set<string>;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_RATE_LIMIT_RETRIES = 2;
const DEFAULT_CACHE_TTL_MS = 5 * 60_000;
const DEFAULT_MAX_CACHE_ENTRIES = 1000;
const DEFAULT_CALL_BUDGET: CallBudget = { calls: 300, perMs: 60_000 };
const DEFAULT_MAX_CONCURRENT_CALLS = 4;
/** Answers whose resets are this close belong to one rate-limit window. */
const SAME_WINDOW_MS = 1_500;

/**
 * A MeasurementSource that shares calls: requests whose credentials and remote call are
 * equal share one call in flight, and a finished observation serves every request whose
 * notBefore is at or before the time it was taken. A 429 blocks the credential until
 * x-ratelimit-reset; its calls are retried then, up to maxRateLimitRetries times, and a 429
 * that persists is recorded as rate limited (Inconclusive), not as an error. An answer saying
 * the organisation's quota is used up (x-ratelimit-remaining 0) blocks the credential until the
 * reset as well, before any 429. Each credential also has a call budget (callBudget).
 */
export class MeasurementRunner implements MeasurementSource {
  private readonly onReady: (canaryKey: string) => void;
  private readonly timeoutMs: number;
  private readonly now: () => number;
  private readonly logger: RunnerLogger | undefined;
  private readonly metrics: { onCall(result: CallResult): void } | undefined;
  private readonly maxRateLimitRetries: number;
  private readonly cacheTtlMs: number;
  private readonly maxCacheEntries: number;
  private readonly fetcher: Fetcher;
  private readonly urlPolicy: DatadogUrlPolicy;
  private readonly budget: CallBudget;
  private readonly maxConcurrentCalls: number;
  private readonly lookup: (hostname: string) => Promise<string[]>;

  private readonly cache = new Map<string, CacheEntry>();
  private readonly flights = new Map<string, Flight>();
  private readonly providerFlights = new Map<string, ProviderFlight>();
  /** Credential fingerprint -> time until which no call goes out. */
  private readonly blockedUntil = new Map<string, number>();
  /** Credential fingerprint -> theoretical arrival time of the next call (GCRA). */
  private readonly budgetTat = new Map<string, number>();
  /** Credential fingerprint -> calls left in the organisation's current window, as Datadog last said. */
  private readonly quotas = new Map<string, { remaining: number; resetAt: number }>();
  /** Credential fingerprint -> calls running, and flights waiting for one of them to finish. */
  private readonly running = new Map<string, number>();
  private readonly parked = new Map<string, Set<Flight>>();
  /** `canaryKey\ncheckName` -> the monitor ids its last observation listed (newest last). */
  private readonly monitorsByCheck = new Map<string, readonly number[]>();
  private readonly counters = { calls: 0, sharedHits: 0, requests: 0, rateLimited: 0, budgetDelayed: 0 };
  private closed = false;

  constructor(options: MeasurementRunnerOptions) {
    this.onReady = options.onReady;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.now = options.now ?? Date.now;
    this.logger = options.logger;
    this.metrics = options.metrics;
    this.maxRateLimitRetries = options.maxRateLimitRetries ?? DEFAULT_MAX_RATE_LIMIT_RETRIES;
    this.cacheTtlMs = options.cacheTtlMs ?? DEFAULT_CACHE_TTL_MS;
    this.maxCacheEntries = options.maxCacheEntries ?? DEFAULT_MAX_CACHE_ENTRIES;
    this.fetcher = options.fetcher ?? fetchObservation;
    this.urlPolicy = options.urlPolicy ?? STRICT_URL_POLICY;
    const budget = options.callBudget ?? DEFAULT_CALL_BUDGET;
    this.budget = budget.calls > 0 && budget.perMs > 0 ? budget : DEFAULT_CALL_BUDGET;
    this.maxConcurrentCalls = Math.max(1, options.maxConcurrentCalls ?? DEFAULT_MAX_CONCURRENT_CALLS);
    this.lookup = options.lookup ?? (async (hostname) => (await dnsLookup(hostname, { all: true })).map((a) => a.address));
  }

  peek(req: MeasurementRequest): Measurement | undefined {
    try {
      const key = this.keyOf(req);
      const entry = this.freshEntry(key, req.notBefore);
      if (!entry) return undefined;
      if (!entry.readers.has(req.canaryKey)) {
        entry.readers.add(req.canaryKey);
        this.counters.sharedHits++;
      }
      if (entry.observation.kind === 'monitors') this.rememberMonitors(req, entry.observation.monitors.map((m) => m.id));
      const choice = checkProvider(req.check);
      return choice.kind === 'datadog' ? judgeObservation(choice.check, entry.observation) : choice.provider.judge(choice.check, entry.observation);
    } catch (err) {
      this.logger?.warn('Failed to read a measurement', { canary: req?.canaryKey, error: errorText(err) });
      return undefined;
    }
  }

  request(req: MeasurementRequest): void {
    try {
      if (this.closed) return;
      this.counters.requests++;
      const key = this.keyOf(req);
      const entry = this.freshEntry(key, req.notBefore);
      if (entry) {
        // Already there: wake the Canary as if the call had just finished.
        if (!entry.readers.has(req.canaryKey)) this.counters.sharedHits++;
        entry.readers.add(req.canaryKey);
        this.wake([req.canaryKey]);
        return;
      }
      const choice = checkProvider(req.check);
      if (choice.kind === 'provider') {
        this.requestProvider(req, key, choice.provider);
        return;
      }
      if (!req.credentials) {
        this.logger?.warn('Skipped a Datadog check without credentials', { canary: req.canaryKey, check: req.check.name });
        return;
      }
      const flight = this.flights.get(key);
      if (flight) {
        if (!flight.waiters.has(req.canaryKey)) this.counters.sharedHits++;
        flight.waiters.add(req.canaryKey);
        if (req.notBefore > flight.notBefore && !flight.running) {
          flight.notBefore = req.notBefore;
          this.schedule(flight);
        }
        return;
      }
      const call = remoteCallFor(choice.check);
      const created: Flight = {
        key,
        fingerprint: credentialFingerprint(req.credentials),
        call,
        credentials: req.credentials,
        waiters: new Set([req.canaryKey]),
        notBefore: req.notBefore,
        rateLimitRetries: 0,
        running: false,
      };
      this.flights.set(key, created);
      this.schedule(created);
    } catch (err) {
      this.logger?.warn('Failed to start a measurement', { canary: req?.canaryKey, error: errorText(err) });
    }
  }

  /** The monitor ids the last observation a check of this Canary read listed (a push names a monitor). */
  monitorsSeen(canaryKey: string, checkName: string): readonly number[] | undefined {
    return this.monitorsByCheck.get(`${canaryKey}\n${checkName}`);
  }

  private rememberMonitors(req: MeasurementRequest, ids: number[]): void {
    const key = `${req.canaryKey}\n${req.check.name}`;
    this.monitorsByCheck.delete(key);
    this.monitorsByCheck.set(key, ids);
    if (this.monitorsByCheck.size > this.maxCacheEntries) this.monitorsByCheck.delete(this.monitorsByCheck.keys().next().value!);
  }

  stats(): RunnerStats {
    return { ...this.counters, inFlight: this.flights.size + this.providerFlights.size, cached: this.cache.size };
  }

  /** Stops timers and drops pending calls (calls already running finish but wake no one). */
  close(): void {
    this.closed = true;
    for (const flight of this.flights.values()) if (flight.timer) clearTimeout(flight.timer);
    for (const flight of this.providerFlights.values()) if (flight.timer) clearTimeout(flight.timer);
    this.flights.clear();
    this.providerFlights.clear();
    this.parked.clear();
  }

  /** Equal for requests that make the same remote call: the provider, its endpoint, the request and a hash of the credentials. */
  private keyOf(req: MeasurementRequest): string {
    const choice = checkProvider(req.check);
    if (choice.kind === 'provider') return `${req.check.kind} ${choice.provider.callKey(choice.check, req.secrets)}`;
    const fingerprint = req.credentials ? credentialFingerprint(req.credentials) : '-';
    return `datadog ${fingerprint} ${remoteCallKey(remoteCallFor(choice.check))}`;
  }

  /** Starts or joins the call of a provider other than Datadog. */
  private requestProvider(req: MeasurementRequest, key: string, provider: CheckProvider): void {
    const flight = this.providerFlights.get(key);
    if (flight) {
      if (!flight.waiters.has(req.canaryKey)) this.counters.sharedHits++;
      flight.waiters.add(req.canaryKey);
      if (req.notBefore > flight.notBefore && !flight.running) {
        flight.notBefore = req.notBefore;
        this.scheduleProvider(flight);
      }
      return;
    }
    const created: ProviderFlight = { key, provider, check: req.check, secrets: req.secrets, waiters: new Set([req.canaryKey]), notBefore: req.notBefore, running: false };
    this.providerFlights.set(key, created);
    this.scheduleProvider(created);
  }

  private scheduleProvider(flight: ProviderFlight): void {
    if (flight.timer) clearTimeout(flight.timer);
    flight.timer = undefined;
    const wait = flight.notBefore - this.now();
    if (wait <= 0) {
      void this.runProvider(flight);
      return;
    }
    flight.timer = setTimeout(() => {
      flight.timer = undefined;
      void this.runProvider(flight);
    }, wait);
    flight.timer.unref?.();
  }

  private async runProvider(flight: ProviderFlight): Promise<void> {
    if (this.closed || this.providerFlights.get(flight.key) !== flight || flight.running) return;
    flight.running = true;
    this.counters.calls++;
    const timeoutMs = flight.provider.timeoutMs(flight.check) ?? this.timeoutMs;
    let obs: Observation;
    const deadline = timedSignal(timeoutMs);
    try {
      obs = await flight.provider.fetch(flight.check, flight.secrets, { signal: deadline.signal, timeoutMs, now: this.now });
    } catch (err) {
      // Providers do not throw; should one, its message may not be fit for status.
      this.logger?.warn('A check provider threw', { kind: flight.check.kind, error: errorText(err) });
      obs = { kind: 'error', takenAt: this.now(), message: `the ${flight.check.kind} call failed unexpectedly` };
    } finally {
      deadline.release();
    }
    flight.running = false;
    if (this.closed) return;
    if (obs.kind === 'error') this.logger?.warn('Check call failed', { kind: flight.check.kind, check: flight.check.name, error: obs.message });
    else this.logger?.debug('Check call finished', { kind: flight.check.kind, check: flight.check.name });
    this.providerFlights.delete(flight.key);
    this.store(flight.key, obs, flight.waiters);
  }

  private freshEntry(key: string, notBefore: number): CacheEntry | undefined {
    const entry = this.cache.get(key);
    if (!entry) return undefined;
    if (this.now() - entry.storedAt > this.cacheTtlMs) {
      this.cache.delete(key);
      return undefined;
    }
    return entry.observation.takenAt >= notBefore ? entry : undefined;
  }

  /** Starts the flight now, or when its notBefore has come and its credential is no longer blocked. */
  private schedule(flight: Flight): void {
    if (flight.timer) clearTimeout(flight.timer);
    flight.timer = undefined;
    const now = this.now();
    const at = Math.max(flight.notBefore, this.blockedUntil.get(flight.fingerprint) ?? 0);
    if (at <= now) {
      void this.run(flight);
      return;
    }
    flight.timer = setTimeout(() => {
      flight.timer = undefined;
      void this.run(flight);
    }, at - now);
    flight.timer.unref?.();
  }

  private async run(flight: Flight): Promise<void> {
    if (this.closed || this.flights.get(flight.key) !== flight || flight.running) return;
    const blocked = this.blockedUntil.get(flight.fingerprint) ?? 0;
    if (blocked > this.now()) {
      this.schedule(flight);
      return;
    }
    const fp = flight.fingerprint;
    const inFlight = this.running.get(fp) ?? 0;
    if (inFlight >= this.maxConcurrentCalls) {
      this.park(flight);
      return;
    }
    const quota = this.quotas.get(fp);
    if (quota && quota.resetAt > this.now() && quota.remaining - inFlight <= 0) {
      // Datadog said the organisation's window is used up: wait for its reset rather than draw a 429.
      this.block(fp, quota.resetAt - this.now());
      this.schedule(flight);
      return;
    }
    flight.slotAt ??= this.reserveCall(fp);
    if (flight.slotAt > this.now()) {
      this.waitForSlot(flight, flight.slotAt);
      return;
    }
    flight.slotAt = undefined;
    flight.running = true;
    this.running.set(fp, inFlight + 1);
    if (quota && quota.resetAt > this.now()) quota.remaining--;
    let result: FetchResult;
    const refused = await this.refusedUrl(flight.credentials);
    if (refused !== undefined) {
      this.logger?.warn('Refused a Datadog url', { credential: flight.fingerprint, reason: refused });
      result = { observation: { kind: 'error', takenAt: this.now(), message: refused } };
    } else {
      this.counters.calls++;
      try {
        result = await this.fetcher(flight.credentials, flight.call, { timeoutMs: this.timeoutMs, now: this.now });
      } catch (err) {
        result = { observation: { kind: 'error', takenAt: this.now(), message: redact(`the call failed: ${errorText(err)}`, flight.credentials) } };
      }
    }
    flight.running = false;
    this.callEnded(fp, result.quota);
    if (this.closed) return;
    const obs = result.observation;
    if (result.rateLimitResetMs !== undefined) {
      this.counters.rateLimited++;
      this.count(CALL_RESULTS.rateLimited);
      const until = this.block(flight.fingerprint, result.rateLimitResetMs);
      if (flight.rateLimitRetries < this.maxRateLimitRetries) {
        flight.rateLimitRetries++;
        this.logger?.warn('Rate limited by Datadog', {
          credential: flight.fingerprint,
          call: describeCall(flight.call),
          retryIn: formatDuration(result.rateLimitResetMs),
          retry: flight.rateLimitRetries,
        });
        this.schedule(flight);
        return;
      }
      // Still limited: the organisation's quota, not this check, is the problem. Recorded as
      // rate limited (Inconclusive) so that it never counts toward the check's error limit.
      this.logger?.warn('Rate limited by Datadog after retries', {
        credential: flight.fingerprint,
        call: describeCall(flight.call),
        until: new Date(until).toISOString(),
        retries: flight.rateLimitRetries,
      });
      this.finish(flight, {
        kind: 'rateLimited',
        takenAt: obs.takenAt,
        until,
        retries: flight.rateLimitRetries,
        ...(obs.url ? { url: obs.url } : {}),
      });
      return;
    }
    this.count(obs.kind === 'error' ? CALL_RESULTS.error : CALL_RESULTS.ok);
    if (obs.kind === 'error') {
      this.logger?.warn('Datadog call failed', {
        credential: flight.fingerprint,
        call: describeCall(flight.call),
        error: obs.message,
        status: obs.status,
        ...(result.logDetail ? { detail: result.logDetail } : {}),
      });
    } else {
      this.logger?.debug('Datadog call finished', { credential: flight.fingerprint, call: describeCall(flight.call) });
    }
    this.finish(flight, obs);
  }

  /** Parks a flight until a call of its credential ends. */
  private park(flight: Flight): void {
    let set = this.parked.get(flight.fingerprint);
    if (!set) this.parked.set(flight.fingerprint, (set = new Set()));
    set.add(flight);
  }

  /** Records the quota an answer stated and lets a parked flight of the credential go. */
  private callEnded(fp: string, stated: Quota | undefined): void {
    const left = (this.running.get(fp) ?? 1) - 1;
    if (left > 0) this.running.set(fp, left);
    else this.running.delete(fp);
    if (stated) {
      const resetAt = this.now() + stated.resetMs;
      const known = this.quotas.get(fp);
      // Answers to concurrent calls arrive in any order: within one window the lowest count wins.
      const sameWindow = known && known.resetAt > this.now() && Math.abs(known.resetAt - resetAt) < SAME_WINDOW_MS;
      this.quotas.set(fp, { remaining: sameWindow ? Math.min(known.remaining, stated.remaining) : stated.remaining, resetAt });
    }
    const set = this.parked.get(fp);
    const next = set?.values().next().value;
    if (set && next) {
      set.delete(next);
      if (set.size === 0) this.parked.delete(fp);
      if (!this.closed && this.flights.get(next.key) === next) this.schedule(next);
    }
  }

  /** Blocks the credential for ms (never shortens a block); returns the time it is blocked until. */
  private block(fingerprint: string, ms: number): number {
    const until = Math.max(this.now() + ms, this.blockedUntil.get(fingerprint) ?? 0);
    this.blockedUntil.set(fingerprint, until);
    return until;
  }

  /**
   * Reserves the credential's next call in its budget (a generic cell rate algorithm: bursts of
   * up to `calls`, then one call every perMs / calls) and returns when that call may go out.
   */
  private reserveCall(fingerprint: string): number {
    const now = this.now();
    const increment = this.budget.perMs / this.budget.calls;
    const tolerance = this.budget.perMs - increment;
    const tat = Math.max(this.budgetTat.get(fingerprint) ?? now, now);
    this.budgetTat.set(fingerprint, tat + increment);
    return Math.max(now, tat - tolerance);
  }

  private waitForSlot(flight: Flight, at: number): void {
    this.counters.budgetDelayed++;
    if (flight.timer) clearTimeout(flight.timer);
    flight.timer = setTimeout(() => {
      flight.timer = undefined;
      void this.run(flight);
    }, at - this.now());
    flight.timer.unref?.();
  }

  /**
   * Why the credentials' url may not be called, or undefined when it may: the url rules, and a
   * host name must not resolve to a link-local or unspecified address. (A failed lookup is left to
   * the call, which reports it like any connection failure.)
   */
  private async refusedUrl(credentials: DatadogCredentials): Promise<string | undefined> {
    if (!credentials.url) return undefined;
    const verdict = assessDatadogUrl(credentials.url, this.urlPolicy);
    if (!verdict.ok) return `the Datadog Secret's url ${verdict.message}; no call was made`;
    const hostname = new URL(verdict.url).hostname.replace(/^\[|\]$/g, '');
    if (isIP(hostname) !== 0) return undefined;
    let addresses: string[];
    try {
      addresses = await this.lookup(hostname);
    } catch {
      return undefined;
    }
    for (const address of addresses) {
      const why = forbiddenAddress(address);
      if (why) return `the Datadog Secret's url names a host that resolves to ${why}; no call was made`;
    }
    return undefined;
  }

  private finish(flight: Flight, observation: Observation): void {
    this.flights.delete(flight.key);
    this.store(flight.key, observation, flight.waiters);
  }

  private store(key: string, observation: Observation, waiters: Set<string>): void {
    this.cache.delete(key);
    this.cache.set(key, { observation, storedAt: this.now(), readers: new Set(waiters) });
    this.evict();
    this.wake([...waiters]);
  }

  private evict(): void {
    const now = this.now();
    for (const [key, entry] of this.cache) {
      if (this.cache.size <= this.maxCacheEntries && now - entry.storedAt <= this.cacheTtlMs) break;
      this.cache.delete(key);
    }
    for (const [fp, until] of this.blockedUntil) if (until <= now) this.blockedUntil.delete(fp);
    for (const [fp, tat] of this.budgetTat) if (tat <= now) this.budgetTat.delete(fp);
    for (const [fp, q] of this.quotas) if (q.resetAt <= now) this.quotas.delete(fp);
  }

  private wake(keys: string[]): void {
    for (const key of keys) {
      queueMicrotask(() => {
        try {
          this.onReady(key);
        } catch (err) {
          this.logger?.warn('Failed to wake a Canary', { canary: key, error: errorText(err) });
        }
      });
    }
  }

  private count(result: CallResult): void {
    try {
      this.metrics?.onCall(result);
    } catch {
      // Metrics must never break measurements.
    }
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
