// What a controller needs to know about leadership: whether it may write now, which term it
// is in, and when that changes. The leader elector implements it; without election the
// instance always leads.

export interface LeadershipState {
  /** Leading and allowed to write. */
  leading: boolean;
  /** For people (/readyz, logs): who holds the lease and what this instance does. */
  message: string;
}

export interface Leadership {
  /** True while the lease is held and not within the safety margin of its expiry: writes are allowed. */
  isLeader(): boolean;
  /** Changes each time leadership is gained; a pass that started in an older term must not write. */
  readonly term: number;
  /** Called with true when leadership is gained (also again after a renewal recovered) and false when lost. */
  subscribe(listener: (leading: boolean) => void): () => void;
  describe(): LeadershipState;
}

/** A single instance without election: always the leader. */
export const alwaysLeader: Leadership = {
  isLeader: () => true,
  term: 1,
  subscribe: () => () => undefined,
  describe: () => ({ leading: true, message: 'leader (leader election is off)' }),
};
