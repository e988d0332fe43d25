// Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it:
//  - a candidate takes the lease when it is free, or when the record has not changed for a
//    whole lease duration as measured on the local clock since this instance last saw it
//    change (observedTime); the holder's renewTime, written with the holder's clock, is never
//    compared with the local clock;
//  - the leader renews every retry period; each attempt is bounded by an AbortSignal that fires
//    when the renew deadline runs out. Like client-go's fast path, a leader renews with one
//    compare-and-swap PUT on the record it wrote last; only when that conflicts (someone else
//    wrote the Lease) does it read the Lease (GET) and decide as a candidate would;
//  - fencing: isLeader() is true only until the last successful renewal's start plus the renew
//    deadline, that is leaseDuration - renewDeadline before any standby may take over; then the
//    instance stops leading (subscribers hear false) and keeps trying as a candidate. A renewal
//    that recovers later makes it leader again (subscribers hear true, a new term);
//  - release on shutdown, so a standby takes over at once.
import { isConflict, isNotFound, errorMessage } from '../kube/errors.js';
import { paths, type RawClient } from '../kube/raw-client.js';
import { realClock, type Clock, type TimerHandle } from './clock.js';
import type { Leadership, LeadershipState } from './leadership.js';
import type { Logger } from './logger.js';

export interface LeaseRecord {
  holderIdentity?: string | null;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

/** The Lease API as the elector uses it. */
export interface LeaseStore {
  /** namespace/name, for logs. */
  readonly description: string;
  /** undefined when the Lease does not exist. */
  get(signal: AbortSignal): Promise<{ record: LeaseRecord; resourceVersion: string } | undefined>;
  /** Fails with 409 AlreadyExists when someone else created it first. Resolves to the new resourceVersion. */
  create(record: LeaseRecord, signal: AbortSignal): Promise<string>;
  /** Compare-and-swap: fails with 409 Conflict when the Lease changed since resourceVersion. Resolves to the new resourceVersion. */
  update(record: LeaseRecord, resourceVersion: string, signal: AbortSignal): Promise<string>;
}

interface LeaseObject {
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: LeaseRecord;
}

/** A Lease in the cluster. */
export class KubeLeaseStore implements LeaseStore {
  readonly description: string;
  constructor(
    private readonly client: RawClient,
    private readonly namespace: string,
    private readonly name: string,
  ) {
    this.description = `${namespace}/${name}`;
  }

  async get(signal: AbortSignal): Promise<{ record: LeaseRecord; resourceVersion: string } | undefined> {
    try {
      const l = await this.client.request<LeaseObject>('GET', paths.lease(this.namespace, this.name), { signal });
      return { record: l.spec ?? {}, resourceVersion: l.metadata.resourceVersion ?? '' };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async create(record: LeaseRecord, signal: AbortSignal): Promise<string> {
    const l = await this.client.request<LeaseObject>('POST', paths.leases(this.namespace), {
      body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: this.name, namespace: this.namespace }, spec: record },
      query: { fieldManager: 'deployer' },
      signal,
    });
    return l.metadata.resourceVersion ?? '';
  }

  async update(record: LeaseRecord, resourceVersion: string, signal: AbortSignal): Promise<string> {
    const l = await this.client.request<LeaseObject>('PUT', paths.lease(this.namespace, this.name), {
      body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: this.name, namespace: this.namespace, resourceVersion }, spec: record },
      query: { fieldManager: 'deployer' },
      signal,
    });
    return l.metadata.resourceVersion ?? '';
  }
}

export interface LeaderElectionOptions {
  lease: LeaseStore;
  identity: string;
  /** How long a standby waits after the record last changed before it takes over (default 15 s). */
  leaseDurationMs?: number;
  /** How long the leader keeps acting without a successful renewal (default 10 s). */
  renewDeadlineMs?: number;
  /** Between attempts (default 2 s). */
  retryPeriodMs?: number;
  logger: Logger;
  clock?: Clock;
}

const microTime = (ms: number): string => new Date(ms).toISOString().replace('Z', '000Z');

export class LeaderElector implements Leadership {
  term = 0;
  private leading = false;
  /** Local time until which the leader may act: start of the last successful renewal + renew deadline. */
  private validUntil = 0;
  private observedRaw: string | undefined;
  /** Local time at which the record was last seen to change. */
  private observedAt = 0;
  private holder: string | null | undefined;
  /** The record this instance wrote last and its resourceVersion: what a leader renews on. */
  private written: { record: LeaseRecord; resourceVersion: string } | undefined;
  private loggedHolder: string | null | undefined;
  private stopped = true;
  private timer: TimerHandle | undefined;
  private loseTimer: TimerHandle | undefined;
  private attempt: AbortController | undefined;
  private readonly listeners = new Set<(leading: boolean) => void>();
  private readonly leaseMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryMs: number;
  private readonly clock: Clock;

  constructor(private readonly o: LeaderElectionOptions) {
    this.leaseMs = o.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = o.renewDeadlineMs ?? 10_000;
    this.retryMs = o.retryPeriodMs ?? 2_000;
    this.clock = o.clock ?? realClock;
    if (this.renewDeadlineMs >= this.leaseMs) throw new Error('the renew deadline must be shorter than the lease duration');
  }

  /** True while the lease is held and the last renewal is within the renew deadline: writes are safe. */
  isLeader(): boolean {
    return this.leading && this.clock.now() < this.validUntil;
  }

  subscribe(listener: (leading: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  describe(): LeadershipState {
    const lease = this.o.lease.description;
    if (this.isLeader()) return { leading: true, message: `leader (lease ${lease}, identity ${this.o.identity})` };
    if (this.holder && this.holder !== this.o.identity) return { leading: false, message: `standby: waiting for the leader lease ${lease} held by ${this.holder}` };
    return { leading: false, message: `standby: trying to acquire the leader lease ${lease}` };
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.o.logger.info('Trying to acquire the leader lease', { lease: this.o.lease.description, identity: this.o.identity });
    void this.tick();
  }

  private schedule(): void {
    if (this.stopped) return;
    // Candidates spread their attempts a little (client-go's JitterFactor 1.2).
    const delay = this.leading ? this.retryMs : Math.round(this.retryMs * (1 + Math.random() * 0.2));
    this.timer = this.clock.setTimeout(() => void this.tick(), delay);
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    const started = this.clock.now();
    const ac = new AbortController();
    const deadline = this.leading ? this.validUntil : started + this.renewDeadlineMs;
    const bound = this.clock.setTimeout(() => ac.abort(new Error('the renew deadline ran out')), Math.max(0, deadline - started));
    this.attempt = ac;
    let acquired = false;
    try {
      acquired = await this.tryAcquireOrRenew(ac.signal);
    } catch (err) {
      if (!this.stopped && !isConflict(err)) {
        this.o.logger.warn(this.leading ? 'Could not renew the leader lease' : 'Could not acquire the leader lease', { lease: this.o.lease.description, error: errorMessage(err) });
      }
    } finally {
      this.clock.clearTimeout(bound);
      this.attempt = undefined;
    }
    if (this.stopped) return;
    if (acquired && !ac.signal.aborted) {
      this.validUntil = started + this.renewDeadlineMs;
      this.armLoseTimer();
      if (!this.leading) {
        this.leading = true;
        this.term++;
        this.loggedHolder = undefined;
        this.o.logger.info('Acquired leader lease', { lease: this.o.lease.description, identity: this.o.identity, term: this.term });
        this.notify(true);
      }
    } else if (this.leading && this.holder !== undefined && this.holder !== this.o.identity) {
      this.lose(`the lease is held by ${this.holder}`);
    } else if (this.leading && this.clock.now() >= this.validUntil) {
      this.lose('no renewal succeeded within the renew deadline');
    } else if (!this.leading && this.holder && this.holder !== this.o.identity && this.loggedHolder !== this.holder) {
      this.loggedHolder = this.holder;
      this.o.logger.info(`Waiting for the leader lease held by ${this.holder}`, { lease: this.o.lease.description, holder: this.holder, identity: this.o.identity });
    }
    this.schedule();
  }

  private armLoseTimer(): void {
    this.clock.clearTimeout(this.loseTimer);
    this.loseTimer = this.clock.setTimeout(() => {
      if (!this.leading || this.clock.now() < this.validUntil) return;
      this.attempt?.abort(new Error('the renew deadline ran out'));
      this.lose('no renewal succeeded within the renew deadline');
    }, Math.max(0, this.validUntil - this.clock.now()));
  }

  private lose(why: string): void {
    if (!this.leading) return;
    this.leading = false;
    this.written = undefined;
    this.clock.clearTimeout(this.loseTimer);
    this.o.logger.warn('Lost leader lease', { lease: this.o.lease.description, reason: why });
    this.notify(false);
  }

  private notify(leading: boolean): void {
    for (const l of [...this.listeners]) {
      try {
        l(leading);
      } catch (err) {
        this.o.logger.error('A leadership listener failed', { error: errorMessage(err) });
      }
    }
  }

  private async tryAcquireOrRenew(signal: AbortSignal): Promise<boolean> {
    const { lease, identity } = this.o;
    if (this.leading && this.written) {
      const now = this.clock.now();
      const { record: last, resourceVersion } = this.written;
      const next: LeaseRecord = { ...last, leaseDurationSeconds: Math.ceil(this.leaseMs / 1000), renewTime: microTime(now) };
      try {
        await this.write(next, now, () => lease.update(next, resourceVersion, signal));
        return true;
      } catch (err) {
        if (!isConflict(err)) throw err;
        // Someone else wrote the Lease: read it, as a candidate would.
        this.written = undefined;
      }
    }
    const got = await lease.get(signal);
    const now = this.clock.now();
    const record: LeaseRecord = {
      holderIdentity: identity,
      leaseDurationSeconds: Math.ceil(this.leaseMs / 1000),
      acquireTime: microTime(now),
      renewTime: microTime(now),
      leaseTransitions: 0,
    };
    if (!got) {
      await this.write(record, now, () => lease.create(record, signal));
      return true;
    }
    const raw = JSON.stringify(got.record);
    if (raw !== this.observedRaw) this.observe(got.record, now);
    const holder = got.record.holderIdentity;
    const durationMs = (got.record.leaseDurationSeconds ?? Math.ceil(this.leaseMs / 1000)) * 1000;
    if (holder && holder !== identity && now < this.observedAt + durationMs) return false;
    const next: LeaseRecord =
      holder === identity
        ? { ...got.record, holderIdentity: identity, leaseDurationSeconds: record.leaseDurationSeconds, renewTime: record.renewTime }
        : { ...record, leaseTransitions: (got.record.leaseTransitions ?? 0) + 1 };
    await this.write(next, now, () => lease.update(next, got.resourceVersion, signal));
    return true;
  }

  private async write(record: LeaseRecord, now: number, put: () => Promise<string>): Promise<void> {
    this.written = undefined;
    const resourceVersion = await put();
    this.written = { record, resourceVersion };
    this.observe(record, now);
  }

  private observe(record: LeaseRecord, now: number): void {
    this.observedRaw = JSON.stringify(record);
    this.observedAt = now;
    this.holder = record.holderIdentity;
  }

  /** Stops renewing and gives the lease up so a standby can take over at once. */
  async release(): Promise<void> {
    this.stopped = true;
    this.clock.clearTimeout(this.timer);
    this.clock.clearTimeout(this.loseTimer);
    this.attempt?.abort(new Error('stopping'));
    if (!this.leading) return;
    this.leading = false;
    this.notify(false);
    try {
      const signal = AbortSignal.timeout(5_000);
      const got = await this.o.lease.get(signal);
      if (got && got.record.holderIdentity === this.o.identity) {
        const now = this.clock.now();
        await this.o.lease.update({ ...got.record, holderIdentity: null, leaseDurationSeconds: 1, renewTime: microTime(now), acquireTime: microTime(now) }, got.resourceVersion, signal);
      }
      this.o.logger.info('Released leader lease', { lease: this.o.lease.description });
    } catch (err) {
      this.o.logger.warn('Could not release the leader lease', { error: errorMessage(err) });
    }
  }
}
