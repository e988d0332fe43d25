// A stand-in Kubernetes API on a loopback port (a plain node:http server the test writes), and the
// KubeConfig that reaches it.
import { KubeConfig } from '@kubernetes/client-node';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Starts `server` on a free loopback port and returns a KubeConfig for it (plain http). */
export async function serveLocalApi(server: Server): Promise<KubeConfig> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
    users: [{ name: 'u' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kc;
}

/** Stops it, dropping kept-alive connections. */
export async function closeLocalApi(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
}
