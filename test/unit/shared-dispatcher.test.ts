import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { expect } from 'chai';
import { RawClient } from '../../src/kube/raw-client.js';
import { dispatcherKey } from '../../src/kube/shared-dispatcher.js';
import { generateCertificates } from '../../src/webhook/certs.js';

describe('RawClient connections to the API server', () => {
  let server: Server;
  let handshakes = 0;
  let caPem = '';
  let port = 0;

  before(async () => {
    const c = await generateCertificates({ commonName: 'apiserver', ipAddresses: ['127.0.0.1'], validityDays: 2 });
    caPem = c.caCertPem;
    server = createServer({ cert: c.certPem, key: c.keyPem }, (_req, res) => {
      res.setHeader('Content-Type', 'application/json');
      res.end('{"kind":"Status"}');
    });
    server.on('secureConnection', () => handshakes++);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const kubeConfig = (): KubeConfig => {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: `https://127.0.0.1:${port}`, caData: Buffer.from(caPem).toString('base64'), skipTLSVerify: false }],
      users: [{ name: 'u', token: 'a-token' }],
      contexts: [{ name: 'ctx', cluster: 'c', user: 'u' }],
      currentContext: 'ctx',
    });
    return kc;
  };

  it('reuses one TLS connection for requests made one after another (not a TLS handshake per request)', async () => {
    handshakes = 0;
    const client = new RawClient(kubeConfig());
    for (let i = 0; i < 10; i++) await client.get('/api/v1/namespaces/default');
    // undici may open a second connection while the first is being handed back to its pool;
    // without a shared dispatcher each of the 10 requests makes its own handshake.
    expect(handshakes).to.be.at.most(2);
  });

  it('keys the shared dispatcher by server and TLS material: a rotated certificate gets its own', () => {
    const cluster = { server: 'https://10.0.0.1:6443' };
    const a = dispatcherKey(cluster, { ca: Buffer.from('ca-1'), cert: Buffer.from('cert-1') });
    expect(dispatcherKey(cluster, { ca: Buffer.from('ca-1'), cert: Buffer.from('cert-1') })).to.equal(a);
    expect(dispatcherKey(cluster, { ca: Buffer.from('ca-1'), cert: Buffer.from('cert-2') })).to.not.equal(a);
    expect(dispatcherKey({ server: 'https://10.0.0.2:6443' }, { ca: Buffer.from('ca-1'), cert: Buffer.from('cert-1') })).to.not.equal(a);
  });
});
