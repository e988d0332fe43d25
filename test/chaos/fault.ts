// One fault of the catalogue (npm run chaos): what it breaks, what the user should see, and how
// it is injected and healed while canaries run. The harness (test/chaos/harness.ts) runs each
// fault N times over a fleet of Canaries in every phase and counts the four things that must
// stay at zero: false promotions, lost revisions, duplicate canary ReplicaSets and Deployments
// held with no status explaining why.
import type { RawClient } from '../../src/kube/raw-client.js';
import type { Canary } from '../../src/api/types.js';
import type { DatadogStandIn } from '../datadog/server.js';
import type { FlakyProxy } from './proxy.js';

/** What a fault may touch while it runs. */
export interface ChaosContext {
  /** Kubeconfig path of the control plane the run uses. */
  kubeconfig: string;
  /** State directory of that control plane (pid files of etcd, kube-apiserver, …). */
  clusterDir: string;
  namespace: string;
  client: RawClient;
  datadog: DatadogStandIn;
  /** Names of the Deployments (each guarded by a Canary of the same name) in the namespace. */
  deployments: string[];
  /** Seeded; every timing choice a fault makes comes from it, so a failing run can be replayed. */
  random: () => number;
  /** The operator replicas the harness runs; a fault may kill or restart them. */
  operators: OperatorFleet;
  log: (message: string) => void;
  /** The TCP proxy between the operators and the apiserver (pass-through until told otherwise). */
  proxy: FlakyProxy;
  /** Versions whose monitor group is Alert (bad revisions), as the driver ships them. */
  badVersions: readonly string[];
  /** Waits (from the harness's watch) for a Canary matching pred; resolves to its name. */
  waitForCanary(pred: (c: Canary) => boolean, what: string, timeoutMs?: number): Promise<string>;
}

export interface OperatorFleet {
  /** Running replicas, by index. */
  readonly running: number[];
  /** SIGKILL one replica (the leader if index is omitted). */
  kill(index?: number): Promise<void>;
  /** Start a replica again. */
  start(index: number): Promise<void>;
  /** Index of the replica holding the lease, if any. */
  leader(): Promise<number | undefined>;
  /** SIGSTOP one replica (the leader if index is omitted): a process that hangs; resolves to its index. */
  freeze(index?: number): Promise<number>;
  /** SIGCONT a frozen replica. */
  thaw(index: number): Promise<void>;
}

export interface Fault {
  /** Short name for the table, e.g. "operator SIGKILL (paused)". */
  name: string;
  /** What the user sees while it lasts and after it heals (for the README table). */
  userSees: string;
  /** Fast faults form the subset run by npm test. */
  fast: boolean;
  /** Deployments (each with a Canary) the fault needs; the harness runs at least this many (default 6). */
  fleet?: number;
  /** How long the fault lasts between inject and heal (default: seeded, 4–10 s). */
  durationMs?: number;
  /** Start the fault; may return before it ends (e.g. a background writer). */
  inject(ctx: ChaosContext): Promise<void>;
  /** End it and restore what it broke (restart what it stopped, stop what it started). */
  heal(ctx: ChaosContext): Promise<void>;
}
