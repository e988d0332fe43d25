// Leader election on a coordination.k8s.io/v1 Lease, as client-go does it: acquire when the
// lease is free or expired, renew well inside the lease duration, compare-and-swap through
// resourceVersion, and release on shutdown so a standby takes over at once.
import { isConflict, isNotFound } from '../kube/errors.js';
import { paths, type RawClient } from '../kube/raw-client.js';
import type { Leadership, LeadershipState } from './leadership.js';
import type { Logger } from './logger.js';

export interface LeaderElectionOptions {
  client: RawClient;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  logger: Logger;
}

interface Lease {
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: {
    holderIdentity?: string | null;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

const microTime = (ms: number): string => new Date(ms).toISOString().replace('Z', '000Z');

export class LeaderElector implements Leadership {
  term = 0;
  private readonly listeners = new Set<(leading: boolean) => void>();

  subscribe(fn: (leading: boolean) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  describe(): LeadershipState {
    return { leading: this.isLeader(), message: this.isLeader() ? 'leader' : 'standby' };
  }

  private leading = false;
  private lastRenew = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly leaseMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryMs: number;

  constructor(private readonly o: LeaderElectionOptions) {
    this.leaseMs = o.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = o.renewDeadlineMs ?? 10_000;
    this.retryMs = o.retryPeriodMs ?? 2_000;
  }

  /** True while the lease is held and was renewed within the renew deadline. */
  isLeader(): boolean {
    return this.leading && Date.now() - this.lastRenew < this.renewDeadlineMs;
  }

  start(): void {
    this.stopped = false;
    void this.tick();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.tick(), this.retryMs);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    try {
      const ok = await this.tryAcquireOrRenew();
      if (ok) {
        this.lastRenew = Date.now();
        if (!this.leading) {
          this.leading = true;
          this.o.logger.info('Acquired leader lease', { lease: `${this.o.namespace}/${this.o.name}`, identity: this.o.identity });
          this.term++;
          for (const l of this.listeners) l(true);
        }
      } else if (this.leading) {
        this.lose('another instance holds the lease');
      }
    } catch (err) {
      if (this.leading && Date.now() - this.lastRenew >= this.renewDeadlineMs) this.lose(`renewal failed: ${(err as Error).message}`);
      else if (!isConflict(err)) this.o.logger.warn('Could not renew or acquire the leader lease', { error: (err as Error).message });
    }
    this.schedule();
  }

  private lose(why: string): void {
    this.leading = false;
    this.o.logger.warn('Lost leader lease', { reason: why });
    for (const l of this.listeners) l(false);
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { client, namespace, name, identity } = this.o;
    const now = Date.now();
    let lease: Lease | undefined;
    try {
      lease = await client.get<Lease>(paths.lease(namespace, name));
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    const spec = {
      holderIdentity: identity,
      leaseDurationSeconds: Math.ceil(this.leaseMs / 1000),
      acquireTime: microTime(now),
      renewTime: microTime(now),
      leaseTransitions: 0,
    };
    if (!lease) {
      await client.create(paths.leases(namespace), { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace }, spec });
      return true;
    }
    const holder = lease.spec.holderIdentity;
    const renewed = lease.spec.renewTime ? Date.parse(lease.spec.renewTime) : 0;
    const duration = (lease.spec.leaseDurationSeconds ?? 15) * 1000;
    const expired = !holder || renewed + duration < now;
    if (holder !== identity && !expired) return false;
    const next: Lease = {
      ...lease,
      spec: {
        ...lease.spec,
        holderIdentity: identity,
        leaseDurationSeconds: spec.leaseDurationSeconds,
        renewTime: spec.renewTime,
        ...(holder !== identity ? { acquireTime: spec.acquireTime, leaseTransitions: (lease.spec.leaseTransitions ?? 0) + 1 } : {}),
      },
    };
    await client.update(paths.lease(namespace, name), next); // resourceVersion in the body: compare-and-swap
    return true;
  }

  /** Stops renewing and gives the lease up so a standby can take over at once. */
  async release(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (!this.leading) return;
    this.leading = false;
    try {
      const lease = await this.o.client.get<Lease>(paths.lease(this.o.namespace, this.o.name));
      if (lease.spec.holderIdentity === this.o.identity) {
        await this.o.client.update(paths.lease(this.o.namespace, this.o.name), {
          ...lease,
          spec: { ...lease.spec, holderIdentity: null, leaseDurationSeconds: 1, renewTime: microTime(Date.now()) },
        });
      }
      this.o.logger.info('Released leader lease', { lease: `${this.o.namespace}/${this.o.name}` });
    } catch (err) {
      this.o.logger.warn('Could not release the leader lease', { error: (err as Error).message });
    }
  }
}
