// The webhook serving certificate kept in a Secret: made once, shared, renewed before expiry.
import { KubeConfig } from '@kubernetes/client-node';
import { expect } from 'chai';
import { X509Certificate } from 'node:crypto';
import { RawClient } from '../../src/kube/raw-client.js';
import { ensureServingCertificate } from '../../src/webhook/configuration.js';
import { ensureCluster, kubectl, uniqueNamespace } from '../support/cluster.js';

describe('webhook serving certificate in a Secret', () => {
  let ns: string;
  let client: RawClient;
  before(async () => {
    const { kubeconfig } = await ensureCluster();
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfig);
    client = new RawClient(kc);
    ns = await uniqueNamespace('webhook-cert');
  });
  after(async () => {
    await kubectl(['delete', 'namespace', ns, '--wait=false']);
  });

  it('is created once, reused by every replica, and renewed 30 days before it expires', async () => {
    const opts = { namespace: ns, name: 'tls', dnsNames: ['deployer-webhook.deployer-system.svc'], ipAddresses: [] as string[] };
    const [a, b] = await Promise.all([ensureServingCertificate(client, opts), ensureServingCertificate(client, opts)]);
    expect(a.certPem, 'two replicas starting together end up with one certificate').to.equal(b.certPem);
    const again = await ensureServingCertificate(client, opts);
    expect(again.certPem).to.equal(a.certPem);
    const cert = new X509Certificate(a.certPem);
    expect(cert.checkHost('deployer-webhook.deployer-system.svc')).to.equal('deployer-webhook.deployer-system.svc');
    expect(cert.verify(new X509Certificate(a.caPem).publicKey)).to.equal(true);

    const nearExpiry = new Date(Date.parse(cert.validTo) - 10 * 24 * 3600 * 1000);
    const renewed = await ensureServingCertificate(client, { ...opts, now: nearExpiry });
    expect(renewed.certPem).to.not.equal(a.certPem);
    const stored = await ensureServingCertificate(client, opts);
    expect(stored.certPem, 'the renewed certificate is what the Secret holds').to.equal(renewed.certPem);
    const secret = await kubectl(['get', 'secret', 'tls', '-n', ns, '-o', 'jsonpath={.type}']);
    expect(secret.stdout).to.equal('kubernetes.io/tls');
  });
});
