// Expectations, after the Kubernetes ReplicaSet controller's ControllerExpectations: after this
// process writes an object, a pass reading a cache that does not show the write yet would decide
// on the past (re-create a ReplicaSet it just deleted, restart a canary it just promoted). So the
// controller records what it expects the cache to show, and a pass waits until it does, or until
// the expectation expires (the write may have been superseded in a way the cache never shows).

/** Kinds of objects a pass reads from a cache. */
export const CACHED_KINDS = { Canary: 'Canary', Deployment: 'Deployment', ReplicaSet: 'ReplicaSet' } as const;
export type CachedKind = (typeof CACHED_KINDS)[keyof typeof CACHED_KINDS];

export type Expectation =
  /** The cache must move past the resourceVersion the write was decided on (a watch delivers in order, so any other version is ours or later). */
  | { kind: CachedKind; name: string; expect: 'Changed'; fromResourceVersion: string }
  /** A created object must appear (with this uid when known). */
  | { kind: CachedKind; name: string; expect: 'Present'; uid?: string }
  /** A deleted object (this uid) must disappear. */
  | { kind: CachedKind; name: string; expect: 'Absent'; uid: string };

/** What the cache shows of one object. */
export type CacheLookup = (kind: CachedKind, name: string) => { uid?: string; resourceVersion?: string } | undefined;

export interface PendingExpectations {
  /** Not yet shown by the cache: skip the pass. */
  waiting: Expectation[];
  /** Not shown within the time limit: dropped; the pass goes ahead. */
  expired: Expectation[];
}

export const EXPECTATION_TTL_MS = 30_000;

export function isSatisfied(e: Expectation, lookup: CacheLookup): boolean {
  const seen = lookup(e.kind, e.name);
  switch (e.expect) {
    case 'Changed':
      // Absent: deleted since, or not cached at all (fetched live): nothing stale to read.
      return seen === undefined || seen.resourceVersion !== e.fromResourceVersion;
    case 'Present':
      return seen !== undefined && (e.uid === undefined || seen.uid === e.uid);
    case 'Absent':
      return seen === undefined || seen.uid !== e.uid;
    default: {
      const never: never = e;
      return never;
    }
  }
}

/** Per key (a Canary's namespace/name): the writes the cache has not shown yet. */
export class Expectations {
  private readonly byKey = new Map<string, Array<{ e: Expectation; at: number }>>();

  constructor(private readonly ttlMs = EXPECTATION_TTL_MS) {}

  expect(key: string, e: Expectation, now: number): void {
    const list = (this.byKey.get(key) ?? []).filter((x) => !(x.e.kind === e.kind && x.e.name === e.name));
    list.push({ e, at: now });
    this.byKey.set(key, list);
  }

  /** Drops what the cache shows and what expired; returns the rest and the expired ones. */
  pending(key: string, lookup: CacheLookup, now: number): PendingExpectations {
    const list = this.byKey.get(key);
    if (!list) return { waiting: [], expired: [] };
    const waiting: Array<{ e: Expectation; at: number }> = [];
    const expired: Expectation[] = [];
    for (const x of list) {
      if (isSatisfied(x.e, lookup)) continue;
      if (now - x.at >= this.ttlMs) expired.push(x.e);
      else waiting.push(x);
    }
    if (waiting.length) this.byKey.set(key, waiting);
    else this.byKey.delete(key);
    return { waiting: waiting.map((x) => x.e), expired };
  }

  /** When the earliest waiting expectation expires (to requeue no later than that). */
  nextExpiry(key: string): number | undefined {
    const list = this.byKey.get(key);
    return list?.length ? Math.min(...list.map((x) => x.at)) + this.ttlMs : undefined;
  }

  forget(key: string): void {
    this.byKey.delete(key);
  }
}
