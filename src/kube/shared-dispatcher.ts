// One HTTP dispatcher (undici Agent: connection pool, TLS sessions) per API server and TLS
// identity, shared by every request and watch made with a KubeConfig.
//
// client-node's KubeConfig.applySecurityAuthentication builds a new undici Agent for each request:
// each request then opens its own TLS connection (a handshake, a fresh OpenSSL context holding the
// CA and client certificate) that nobody reuses and that lingers until its keep-alive ends. At
// 1,000 Canaries that is most of the operator's native memory and much of its CPU. Here the Agent
// is kept per (server, proxy, TLS material): keep-alive connections are reused, and a rotated
// client certificate or CA (read again on each request) still gets a new Agent.
import { createHash } from 'node:crypto';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Dispatcher } from 'undici';

type CreateDispatcher = (cluster: { server?: string; proxyUrl?: string; skipTLSVerify?: boolean } | null, agentOptions: Record<string, unknown>) => Dispatcher | undefined;

const SHARED = Symbol.for('deployer.sharedDispatcher');
/** Agents kept per KubeConfig at most (older ones are closed once their requests end). */
const MAX_AGENTS = 4;

/** What makes two requests able to share connections: the server, the proxy and the TLS options. */
export function dispatcherKey(cluster: { server?: string; proxyUrl?: string; skipTLSVerify?: boolean } | null, agentOptions: Record<string, unknown>): string {
  const h = createHash('sha256');
  h.update(JSON.stringify([cluster?.server ?? '', cluster?.proxyUrl ?? '', cluster?.skipTLSVerify ?? false]));
  for (const k of Object.keys(agentOptions).sort()) {
    const v = agentOptions[k];
    if (v === undefined) continue;
    h.update(`\0${k}=`);
    if (Buffer.isBuffer(v) || typeof v === 'string') h.update(v);
    else h.update(JSON.stringify(v) ?? '');
  }
  return h.digest('hex');
}

/** Makes `kc` reuse one dispatcher per server and TLS identity (idempotent); returns kc. */
export function shareDispatchers(kc: KubeConfig): KubeConfig {
  const target = kc as unknown as { createDispatcher: CreateDispatcher; [SHARED]?: true };
  if (target[SHARED]) return kc;
  const create = target.createDispatcher.bind(kc);
  const agents = new Map<string, Dispatcher | undefined>();
  target.createDispatcher = (cluster, agentOptions) => {
    const key = dispatcherKey(cluster, agentOptions);
    if (agents.has(key)) return agents.get(key);
    const agent = create(cluster, agentOptions);
    agents.set(key, agent);
    while (agents.size > MAX_AGENTS) {
      const [oldest, old] = agents.entries().next().value as [string, Dispatcher | undefined];
      agents.delete(oldest);
      void old?.close().catch(() => undefined);
    }
    return agent;
  };
  target[SHARED] = true;
  return kc;
}
