// The informer against a local HTTP server that speaks the list/watch protocol and fails on
// purpose: client-node's ListWatch stops on any error but 410; ours restarts with backoff.
import { KubeConfig } from '@kubernetes/client-node';
import { expect } from 'chai';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { RawClient, type KubeObject } from '../../src/kube/raw-client.js';
import { Informer } from '../../src/runtime/informer.js';
import { createLogger } from '../../src/runtime/logger.js';

const obj = (name: string, rv: string) => ({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace: 'ns', resourceVersion: rv } });

describe('Informer restarts after watch errors', () => {
  let server: Server;
  let watches = 0;
  let lists = 0;

  before(async () => {
    server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.searchParams.get('watch') !== 'true') {
        lists++;
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ kind: 'DeploymentList', apiVersion: 'apps/v1', metadata: { resourceVersion: '10' }, items: [obj('a', '10')] }));
        return;
      }
      watches++;
      if (watches === 1) {
        res.writeHead(500, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ kind: 'Status', code: 500, message: 'etcd is sad' }));
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.write(JSON.stringify({ type: 'ADDED', object: obj('b', '11') }) + '\n');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('reports the error, restarts, relists and keeps delivering objects', async () => {
    const kc = new KubeConfig();
    const port = (server.address() as AddressInfo).port;
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
      users: [{ name: 'u' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    const seen: string[] = [];
    let restarts = 0;
    const informer = new Informer({
      kc,
      client: new RawClient(kc),
      path: '/apis/apps/v1/deployments',
      resource: 'deployments',
      logger: createLogger({ silent: true }),
      onChange: (o: KubeObject) => seen.push(o.metadata.name),
      onDelete: () => undefined,
      onRestart: () => restarts++,
    });
    await informer.start();
    const deadline = Date.now() + 10_000;
    while (!seen.includes('b') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(informer.get('b', 'ns')?.metadata.name, 'the restarted informer caches new objects').to.equal('b');
    await informer.stop();
    expect(restarts).to.equal(1);
    expect(lists).to.be.at.least(2);
    expect(seen).to.include.members(['a', 'b']);
  });
});
