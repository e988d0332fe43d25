// What a Deployment's own ReplicaSets say about a revision, remembered between passes. A
// revision is a hash of its pod template, so once found, its template and version never change
// (and the template can be restored from here even after its ReplicaSet is pruned). That no
// ReplicaSet runs it can change (the Deployment controller may not have created it yet), so a
// miss is looked up again, at most once per recheck interval.
import type { PodTemplate } from './revision.js';

export interface StableRevision {
  version: string;
  template: PodTemplate;
}

export class StableRevisionCache {
  /** Found revisions by `${deploymentUid}/${revision}`, least recently used first. */
  private readonly found = new Map<string, StableRevision>();
  /** When a revision was last looked up and not found. */
  private readonly missing = new Map<string, number>();

  constructor(
    private readonly maxEntries = 512,
    private readonly recheckMs = 30_000,
  ) {}

  /** The cached answer for `revision` of Deployment `uid`, calling `load` only when it may have changed. */
  async lookup(uid: string, revision: string, now: number, load: () => Promise<StableRevision | undefined>): Promise<StableRevision | undefined> {
    const key = `${uid}/${revision}`;
    const hit = this.found.get(key);
    if (hit) {
      this.found.delete(key);
      this.found.set(key, hit);
      return hit;
    }
    const missedAt = this.missing.get(key);
    if (missedAt !== undefined && now - missedAt < this.recheckMs && now >= missedAt) return undefined;
    const loaded = await load();
    if (loaded) {
      this.missing.delete(key);
      this.found.set(key, loaded);
      this.evict(this.found);
    } else {
      this.missing.delete(key);
      this.missing.set(key, now);
      this.evict(this.missing);
    }
    return loaded;
  }

  /** How many answers are kept (found and missing). */
  get size(): number {
    return this.found.size + this.missing.size;
  }

  private evict(map: Map<string, unknown>): void {
    while (map.size > this.maxEntries) {
      const oldest = map.keys().next().value;
      if (oldest === undefined) return;
      map.delete(oldest);
    }
  }
}
