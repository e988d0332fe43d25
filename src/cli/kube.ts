// The CLI's connection to the cluster. Everything here is loaded lazily (client-node is large), so
// commands that never talk to the cluster, and --help, start fast.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Canary } from '../api/types.js';
import type { KubeApiError } from '../kube/errors.js';
import type { RawClient } from '../kube/raw-client.js';
import { CliError, EXIT } from './errors.js';
import { revisionOf, type PodTemplate } from '../canary/revision.js';
import { terminalSafe, terminalSafeDeep } from './terminal.js';

export interface ConnectOptions {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
}

/** Field manager for the CLI's writes, so managedFields tell them apart from the controller's. */
export const CLI_FIELD_MANAGER = 'depctl';

export interface KubeEvent {
  type?: string;
  reason?: string;
  message?: string;
  note?: string;
  count?: number;
  firstTimestamp?: string;
  lastTimestamp?: string;
  eventTime?: string;
  series?: { lastObservedTime?: string; count?: number };
  metadata: { name: string; creationTimestamp?: string };
}

export class Cluster {
  constructor(
    readonly kc: KubeConfig,
    readonly client: RawClient,
    /** The namespace from -n, else the context's, else "default". */
    readonly namespace: string,
    readonly server: string,
    private readonly paths: typeof import('../kube/raw-client.js').paths,
  ) {}

  async getCanary(namespace: string, name: string): Promise<Canary> {
    try {
      return terminalSafeDeep(await this.client.get<Canary>(this.paths.canary(namespace, name)));
    } catch (err) {
      throw this.explain(err, { namespace, name });
    }
  }

  /** Canaries in a namespace, or in all namespaces when namespace is undefined. Sorted by namespace and name. */
  async listCanaries(namespace: string | undefined): Promise<Canary[]> {
    try {
      const list = await this.client.list<Canary>(this.paths.canaries(namespace));
      return terminalSafeDeep(list.items).sort(
        (a, b) => a.metadata.namespace.localeCompare(b.metadata.namespace) || a.metadata.name.localeCompare(b.metadata.name),
      );
    } catch (err) {
      throw this.explain(err);
    }
  }

  /** A JSON merge patch on the Canary (metadata and spec only; the status subresource is never touched). */
  async patchCanary(namespace: string, name: string, patch: unknown): Promise<Canary> {
    try {
      return await this.client.patch<Canary>(this.paths.canary(namespace, name), patch, 'application/merge-patch+json', {
        fieldManager: CLI_FIELD_MANAGER,
      });
    } catch (err) {
      throw this.explain(err, { namespace, name });
    }
  }

  /**
   * Revision (pod template hash) the target Deployment asks for now. Throws a CliError when it cannot
   * be read: without it a status about an older revision (a previous Succeeded) could pass for the new one.
   */
  async targetRevision(canary: Canary): Promise<string> {
    const ns = canary.metadata.namespace;
    const name = canary.spec.targetRef.name;
    let d: { spec?: { template?: PodTemplate } };
    try {
      d = await this.client.get<{ spec?: { template?: PodTemplate } }>(this.paths.deployment(ns, name));
    } catch (err) {
      const e = err as Partial<KubeApiError> & { message?: string };
      const why = terminalSafe(e.message ?? String(err));
      if (e.code === 404) {
        throw new CliError(`Deployment ${ns}/${name}, the target of canary ${ns}/${canary.metadata.name}, not found: cannot tell which revision the status is about`, EXIT.error, { cause: err });
      }
      if (e.code === 401 || e.code === 403) {
        throw new CliError(
          `cannot read Deployment ${ns}/${name} to tell which revision the status is about (grant get on deployments to this identity): ${why}`,
          EXIT.error,
          { cause: err },
        );
      }
      throw new CliError(`cannot read Deployment ${ns}/${name} to tell which revision the status is about: ${why}`, EXIT.error, { cause: err });
    }
    return revisionOf(d.spec?.template);
  }

  /** The newest `limit` Events about this Canary, oldest first. */
  async listCanaryEvents(canary: Canary, limit: number): Promise<KubeEvent[]> {
    const selector = [`involvedObject.name=${canary.metadata.name}`, `involvedObject.kind=Canary`];
    if (canary.metadata.uid) selector.push(`involvedObject.uid=${canary.metadata.uid}`);
    try {
      const list = await this.client.list<KubeEvent>(this.paths.events(canary.metadata.namespace), { fieldSelector: selector.join(',') });
      return terminalSafeDeep(list.items).sort((a, b) => eventTime(a).localeCompare(eventTime(b))).slice(-limit);
    } catch (err) {
      throw this.explain(err);
    }
  }

  /**
   * Watches one Canary. Calls onChange with each new version and onEnd when the stream ends or fails
   * (the caller reconnects). Returns a function that stops the watch.
   */
  async watchCanary(namespace: string, name: string, onChange: (c: Canary | undefined) => void, onEnd: (err: unknown) => void): Promise<() => void> {
    const { Watch } = await import('@kubernetes/client-node');
    const watch = new Watch(this.kc);
    const controller = await watch.watch(
      this.paths.canaries(namespace),
      { fieldSelector: `metadata.name=${name}`, allowWatchBookmarks: true },
      (type: string, obj: unknown) => {
        if (type === 'ADDED' || type === 'MODIFIED') onChange(terminalSafeDeep(obj as Canary));
        else if (type === 'DELETED') onChange(undefined);
      },
      (err: unknown) => onEnd(err),
    );
    return () => controller.abort();
  }

  /** Turns an API or transport error into a message for people. */
  explain(err: unknown, canary?: { namespace: string; name: string }): CliError {
    const e = err as Partial<KubeApiError> & { message?: string };
    const code = typeof e.code === 'number' ? e.code : undefined;
    const message = terminalSafe(e.message ?? String(err));
    if (code === 0 || code === undefined) {
      if (/cannot reach/.test(message)) return new CliError(message.replace(/^\w+ \S+: /, ''), EXIT.error, { cause: err });
      return new CliError(`cannot reach the Kubernetes API server at ${this.server}: ${message}`, EXIT.error, { cause: err });
    }
    if (code === 404) {
      if (canary && e.reason === 'NotFound' && /canar/.test(message)) {
        return new CliError(`canary ${canary.namespace}/${canary.name} not found`, EXIT.error, { cause: err });
      }
      return new CliError(
        `the Canary resource (canaries.deployer.dev) is not installed in the cluster at ${this.server}; apply crds/ first (${message})`,
        EXIT.error,
        { cause: err },
      );
    }
    if (code === 401) {
      return new CliError(`unauthorized by ${this.server}: check the credentials of the kubeconfig context (${message})`, EXIT.error, { cause: err });
    }
    // 403 and 422 carry the apiserver's own explanation, which names the user, verb and field.
    return new CliError(message, EXIT.error, { cause: err });
  }
}

function eventTime(e: KubeEvent): string {
  return e.series?.lastObservedTime ?? e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? e.metadata.creationTimestamp ?? '';
}

/** When an Event last happened, for display. */
export function lastSeen(e: KubeEvent): string | undefined {
  return eventTime(e) || undefined;
}

/** Loads the kubeconfig (KUBECONFIG, ~/.kube/config or in-cluster, or --kubeconfig) and picks the context. */
export async function connect(opts: ConnectOptions): Promise<Cluster> {
  const [{ KubeConfig: KubeConfigClass }, { RawClient: RawClientClass, paths }] = await Promise.all([
    import('@kubernetes/client-node'),
    import('../kube/raw-client.js'),
  ]);
  const kc = new KubeConfigClass();
  try {
    if (opts.kubeconfig) kc.loadFromFile(opts.kubeconfig);
    else kc.loadFromDefault();
  } catch (err) {
    throw new CliError(`cannot load kubeconfig${opts.kubeconfig ? ` ${opts.kubeconfig}` : ''}: ${(err as Error).message}`, EXIT.error, { cause: err });
  }
  if (opts.context) {
    if (!kc.getContextObject(opts.context)) {
      const known = kc.getContexts().map((c) => c.name);
      throw new CliError(`context "${opts.context}" not found in the kubeconfig (contexts: ${known.join(', ') || 'none'})`);
    }
    kc.setCurrentContext(opts.context);
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster) {
    throw new CliError('no Kubernetes cluster configured: set KUBECONFIG, pass --kubeconfig, or run inside a cluster');
  }
  const contextNamespace = kc.getContextObject(kc.getCurrentContext())?.namespace;
  const namespace = opts.namespace || contextNamespace || 'default';
  return new Cluster(kc, new RawClientClass(kc), namespace, cluster.server, paths);
}
