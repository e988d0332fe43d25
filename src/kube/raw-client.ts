// A small JSON client over client-node's KubeConfig (auth, TLS, dispatcher).
// It keeps objects exactly as the apiserver sends them: no typed (de)serialization that
// would turn timestamps into Dates or drop fields newer than the generated models, which
// matters because revisions are hashes of raw pod templates.
import type { KubeConfig } from '@kubernetes/client-node';
// Deep imports: the package root loads every generated API client (see src/runtime/lean-modules.ts).
import { HttpMethod, RequestContext } from '@kubernetes/client-node/dist/gen/http/http.js';
import { fetch } from 'undici';
import { KubeApiError } from './errors.js';
import { timedSignal } from '../runtime/timed-signal.js';
import { shareDispatchers } from './shared-dispatcher.js';

export const PATCH = {
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  apply: 'application/apply-patch+yaml',
} as const;
export type PatchType = (typeof PATCH)[keyof typeof PATCH];

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  signal?: AbortSignal;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    finalizers?: string[];
    ownerReferences?: Array<Record<string, unknown>>;
    deletionTimestamp?: string;
    creationTimestamp?: string;
    [k: string]: unknown;
  };
  [k: string]: unknown;
}

export interface KubeList<T> {
  items: T[];
  metadata: { resourceVersion?: string; continue?: string };
}

const DEFAULT_TIMEOUT_MS = 30_000;

export class RawClient {
  /** Told of every request before it is sent (for a metric of requests by verb and resource). */
  onRequest: ((method: string, resource: string) => void) | undefined;

  constructor(readonly kc: KubeConfig, private readonly timeoutMs = DEFAULT_TIMEOUT_MS) {
    shareDispatchers(kc);
  }

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    this.onRequest?.(method, resourceOfPath(path));
    const cluster = this.kc.getCurrentCluster();
    if (!cluster) throw new Error('the kubeconfig has no current cluster');
    const url = new URL(cluster.server.replace(/\/$/, '') + path);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const ctx = new RequestContext(url.toString(), method as (typeof HttpMethod)[keyof typeof HttpMethod]);
    await this.kc.applySecurityAuthentication(ctx);
    const headers: Record<string, string> = { ...ctx.getHeaders(), Accept: 'application/json' };
    let body: string | undefined;
    if (opts.body !== undefined) {
      body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
      headers['Content-Type'] = opts.contentType ?? 'application/json';
    }
    const deadline = timedSignal(this.timeoutMs, opts.signal);
    let res;
    let text: string;
    try {
      try {
        res = await fetch(url, { method, headers, body, dispatcher: ctx.getDispatcher(), signal: deadline.signal });
      } catch (err) {
        throw new KubeApiError(`${method} ${path}: cannot reach the Kubernetes API at ${url.origin}: ${causeOf(err)}`, 0, 'Unreachable', { cause: err });
      }
      text = await res.text();
    } finally {
      deadline.release();
    }
    if (res.status >= 400) {
      let reason = res.statusText;
      let message = text;
      try {
        const status = JSON.parse(text) as { reason?: string; message?: string };
        reason = status.reason ?? reason;
        message = status.message ?? message;
      } catch {
        // not a Status object
      }
      throw new KubeApiError(message || `${method} ${path}: HTTP ${res.status}`, res.status, reason);
    }
    return (text ? JSON.parse(text) : undefined) as T;
  }

  // Each call takes an optional AbortSignal (a reconcile pass's: aborted when leadership is lost),
  // combined with the client's own timeout.
  get<T = KubeObject>(path: string, signal?: AbortSignal): Promise<T> {
    return this.request<T>('GET', path, signal ? { signal } : {});
  }

  list<T = KubeObject>(path: string, query?: RequestOptions['query'], signal?: AbortSignal): Promise<KubeList<T>> {
    return this.request<KubeList<T>>('GET', path, { ...(query ? { query } : {}), ...(signal ? { signal } : {}) });
  }

  create<T = KubeObject>(path: string, body: unknown, query?: RequestOptions['query'], signal?: AbortSignal): Promise<T> {
    return this.request<T>('POST', path, { body, query: { fieldManager: 'deployer', ...query }, ...(signal ? { signal } : {}) });
  }

  update<T = KubeObject>(path: string, body: unknown, signal?: AbortSignal): Promise<T> {
    return this.request<T>('PUT', path, { body, query: { fieldManager: 'deployer' }, ...(signal ? { signal } : {}) });
  }

  patch<T = KubeObject>(path: string, body: unknown, type: PatchType = PATCH.merge, query?: RequestOptions['query'], signal?: AbortSignal): Promise<T> {
    return this.request<T>('PATCH', path, { body, contentType: type, query: { fieldManager: 'deployer', ...query }, ...(signal ? { signal } : {}) });
  }

  delete(path: string, body?: unknown, signal?: AbortSignal): Promise<unknown> {
    return this.request('DELETE', path, { ...(body === undefined ? {} : { body }), ...(signal ? { signal } : {}) });
  }
}

/**
 * The resource a request path names, with its subresource: /apis/apps/v1/namespaces/a/deployments/web → deployments,
 * /apis/deployer.dev/v1alpha1/namespaces/a/canaries/web/status → canaries/status.
 */
export function resourceOfPath(path: string): string {
  const parts = path.split('?')[0]!.split('/').filter(Boolean);
  let i = parts[0] === 'api' ? 2 : parts[0] === 'apis' ? 3 : parts.length;
  if (parts[i] === 'namespaces' && parts.length > i + 2) i += 2;
  const resource = parts[i];
  if (!resource) return 'other';
  const sub = parts[i + 2];
  return sub ? `${resource}/${sub}` : resource;
}

function causeOf(err: unknown): string {
  const e = err as { cause?: { code?: string; message?: string }; message?: string };
  return e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(err);
}

export const paths = {
  canaries: (ns?: string): string => (ns ? `/apis/deployer.dev/v1alpha1/namespaces/${ns}/canaries` : '/apis/deployer.dev/v1alpha1/canaries'),
  canary: (ns: string, name: string): string => `/apis/deployer.dev/v1alpha1/namespaces/${ns}/canaries/${name}`,
  deployments: (ns?: string): string => (ns ? `/apis/apps/v1/namespaces/${ns}/deployments` : '/apis/apps/v1/deployments'),
  deployment: (ns: string, name: string): string => `/apis/apps/v1/namespaces/${ns}/deployments/${name}`,
  replicaSets: (ns?: string): string => (ns ? `/apis/apps/v1/namespaces/${ns}/replicasets` : '/apis/apps/v1/replicasets'),
  replicaSet: (ns: string, name: string): string => `/apis/apps/v1/namespaces/${ns}/replicasets/${name}`,
  secret: (ns: string, name: string): string => `/api/v1/namespaces/${ns}/secrets/${name}`,
  secrets: (ns: string): string => `/api/v1/namespaces/${ns}/secrets`,
  events: (ns: string): string => `/api/v1/namespaces/${ns}/events`,
  lease: (ns: string, name: string): string => `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/${name}`,
  leases: (ns: string): string => `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`,
  mutatingWebhook: (name: string): string => `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${name}`,
  mutatingWebhooks: (): string => '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations',
  releases: (ns?: string): string => (ns ? `/apis/deployer.dev/v1alpha1/namespaces/${ns}/releases` : '/apis/deployer.dev/v1alpha1/releases'),
  release: (ns: string, name: string): string => `/apis/deployer.dev/v1alpha1/namespaces/${ns}/releases/${name}`,
};
