// One informer per resource (and label selector), shared by every controller that reads it,
// over the namespaces the operator watches.
import type { KubeConfig } from '@kubernetes/client-node';
import type { RawClient } from '../kube/raw-client.js';
import { Informer, InformerGroup } from './informer.js';
import type { Logger } from './logger.js';
import type { OperatorMetrics } from './metrics.js';

export interface ResourceDescriptor {
  /** Plural name for logs and metrics, e.g. deployments. */
  resource: string;
  /** Collection path, for one namespace or (undefined) all. */
  path: (namespace?: string) => string;
  /** Only objects matching it are cached, e.g. deployer.dev/canary (the label exists). */
  labelSelector?: string;
}

export interface SharedInformersOptions {
  kc: KubeConfig;
  client: RawClient;
  logger: Logger;
  metrics: OperatorMetrics;
  /** Watch only these namespaces (default: all). */
  namespaces?: string[];
}

export class SharedInformers {
  private readonly groups = new Map<string, { descriptor: ResourceDescriptor; group: InformerGroup }>();
  private started = false;

  constructor(private readonly o: SharedInformersOptions) {}

  /** The informer for a resource; asking twice gives the same one. */
  for(d: ResourceDescriptor): InformerGroup {
    const id = `${d.resource}?${d.labelSelector ?? ''}`;
    const existing = this.groups.get(id);
    if (existing) return existing.group;
    const { kc, client, logger, metrics } = this.o;
    const group = new InformerGroup(this.o.namespaces, (ns) =>
      new Informer({
        kc,
        client,
        path: d.path(ns),
        resource: d.resource,
        ...(d.labelSelector ? { labelSelector: d.labelSelector } : {}),
        logger,
        onRestart: () => metrics.watchRestarts.inc({ resource: d.resource }),
        onWatching: () => metrics.watchStarted.set({ resource: d.resource }, Date.now() / 1000),
      }),
    );
    this.groups.set(id, { descriptor: d, group });
    metrics.watchRestarts.inc({ resource: d.resource }, 0); // from 0, so the first restart shows in increase()
    if (this.started) void group.start();
    return group;
  }

  get hasSynced(): boolean {
    return [...this.groups.values()].every((g) => g.group.hasSynced);
  }

  /** Resources whose first LIST has not succeeded yet. */
  unsynced(): string[] {
    return [...this.groups.values()].filter((g) => !g.group.hasSynced).map((g) => g.descriptor.resource);
  }

  /** Objects cached per resource (for the deployer_informer_objects metric). */
  sizes(): Array<{ resource: string; objects: number }> {
    return [...this.groups.values()].map((g) => ({ resource: g.descriptor.resource, objects: g.group.size }));
  }

  async start(): Promise<void> {
    this.started = true;
    await Promise.all([...this.groups.values()].map((g) => g.group.start()));
  }

  async waitForSync(): Promise<void> {
    await Promise.all([...this.groups.values()].map((g) => g.group.waitForSync()));
  }

  async stop(): Promise<void> {
    await Promise.all([...this.groups.values()].map((g) => g.group.stop()));
  }
}
