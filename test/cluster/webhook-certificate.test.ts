// The webhook serving certificate kept in a Secret: made once, shared, renewed before expiry by
// the same CA, and a new CA is published (beside the old one) before any certificate it signed
// is stored where the replicas load it.
import { KubeConfig } from '@kubernetes/client-node';
import { expect } from 'chai';
import { X509Certificate } from 'node:crypto';
import { connect } from 'node:tls';
import { RawClient, paths } from '../../src/kube/raw-client.js';
import { createLogger } from '../../src/runtime/logger.js';
import { OperatorMetrics } from '../../src/runtime/metrics.js';
import { AdmissionComponent } from '../../src/webhook/admission-component.js';
import { ensureServingCertificate, SecretCertificateStore, type CertificateState } from '../../src/webhook/certificate-rotation.js';
import { generateCertificates, splitPemBundle } from '../../src/webhook/certs.js';
import { configurationPaths, ensureWebhookConfiguration } from '../../src/webhook/configuration.js';
import { ensureCluster, kubectl, uniqueNamespace } from '../support/cluster.js';

const DAY = 24 * 3600 * 1000;
const trusts = (bundlePem: string, certPem: string): boolean =>
  splitPemBundle(bundlePem).some((ca) => {
    const cert = new X509Certificate(certPem);
    const issuer = new X509Certificate(ca);
    return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
  });

describe('webhook serving certificate in a Secret', function () {
  this.timeout(120_000);
  let ns: string;
  let client: RawClient;
  let kc: KubeConfig;
  const configName = (): string => `cert-test-${ns}`;
  before(async () => {
    const { kubeconfig } = await ensureCluster();
    kc = new KubeConfig();
    kc.loadFromFile(kubeconfig);
    client = new RawClient(kc);
    ns = await uniqueNamespace('webhook-cert');
  });
  after(async () => {
    for (const kind of ['mutatingwebhookconfiguration', 'validatingwebhookconfiguration']) await kubectl(['delete', kind, configName(), '--ignore-not-found']);
    await kubectl(['delete', 'namespace', ns, '--wait=false']);
  });

  /** What the apiserver trusts right now for this test's configuration. */
  const publishedBundle = async (): Promise<string> => {
    const c = await client.get<{ webhooks: Array<{ clientConfig: { caBundle?: string } }> }>(configurationPaths.mutating(configName()));
    return Buffer.from(c.webhooks[0]?.clientConfig.caBundle ?? '', 'base64').toString('utf8');
  };

  /** A Secret store that checks, at the moment of each write, that the apiserver trusts the certificate being stored. */
  class CheckedStore extends SecretCertificateStore {
    readonly violations: string[] = [];
    writes = 0;
    override async write(state: CertificateState, version: string | undefined): Promise<boolean> {
      if (state.certPem) {
        const bundle = await publishedBundle().catch(() => '');
        if (!trusts(bundle, state.certPem)) this.violations.push(`write ${this.writes}: the stored certificate is not trusted by the published caBundle`);
      }
      this.writes++;
      return super.write(state, version);
    }
  }

  const subject = { commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] };
  const publish = (caPem: string): Promise<void> =>
    ensureWebhookConfiguration(client, { name: configName(), target: { url: 'https://127.0.0.1:1' }, caPem, namespaces: [ns] });

  it('is created once, shared by replicas, and renewed 30 days before it expires by the same CA (the caBundle does not change)', async () => {
    const secret = { namespace: ns, name: 'tls' };
    const opts = { ...subject, publish };
    const [a, b] = await Promise.all([ensureServingCertificate(new SecretCertificateStore(client, secret), opts), ensureServingCertificate(new SecretCertificateStore(client, secret), opts)]);
    expect(a.certPem, 'two replicas starting together end up with one certificate').to.equal(b.certPem);
    const again = await ensureServingCertificate(new SecretCertificateStore(client, secret), opts);
    expect(again.certPem).to.equal(a.certPem);
    const cert = new X509Certificate(a.certPem);
    expect(cert.checkIP('127.0.0.1')).to.equal('127.0.0.1');
    expect(trusts(a.caPem, a.certPem)).to.equal(true);

    const store = new CheckedStore(client, secret);
    const nearExpiry = new Date(Date.parse(cert.validTo) - 10 * DAY);
    const renewed = await ensureServingCertificate(store, { ...opts, now: nearExpiry });
    expect(renewed.certPem).to.not.equal(a.certPem);
    expect(renewed.caPem, 'same CA: nothing to publish').to.equal(a.caPem);
    expect(store.violations).to.deep.equal([]);
    const stored = await ensureServingCertificate(new SecretCertificateStore(client, secret), opts);
    expect(stored.certPem, 'the renewed certificate is what the Secret holds').to.equal(renewed.certPem);
    const type = await kubectl(['get', 'secret', 'tls', '-n', ns, '-o', 'jsonpath={.type}']);
    expect(type.stdout).to.equal('kubernetes.io/tls');
  });

  it('a certificate of a new CA verifies against the caBundle published when it is stored (CA near expiry; a Secret without the CA key)', async () => {
    const secret = { namespace: ns, name: 'tls-rotation' };
    const first = await ensureServingCertificate(new SecretCertificateStore(client, secret), { ...subject, publish });
    await publish(first.caPem);

    // The CA is a year from expiry: a new CA is added and published before it signs anything stored.
    const store = new CheckedStore(client, secret);
    const caExpiry = Date.parse(new X509Certificate(splitPemBundle(first.caPem)[0]!).validTo);
    const rotated = await ensureServingCertificate(store, { ...subject, publish, now: new Date(caExpiry - 300 * DAY) });
    expect(splitPemBundle(rotated.caPem), 'old CA + new CA').to.have.length(2);
    expect(store.violations).to.deep.equal([]);
    expect(trusts(await publishedBundle(), rotated.certPem)).to.equal(true);

    // A Secret written before the CA key was kept (ca.crt, tls.crt, tls.key only).
    const legacy = await generateCertificates({ commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    const legacySecret = { namespace: ns, name: 'tls-legacy' };
    await client.create(paths.secrets(ns), {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/tls',
      metadata: { name: legacySecret.name },
      data: { 'ca.crt': Buffer.from(legacy.caCertPem).toString('base64'), 'tls.crt': Buffer.from(legacy.certPem).toString('base64'), 'tls.key': Buffer.from(legacy.keyPem).toString('base64') },
    });
    await publish(legacy.caCertPem);
    const upgraded = new CheckedStore(client, legacySecret);
    const next = await ensureServingCertificate(upgraded, { ...subject, publish });
    expect(next.certPem).to.not.equal(legacy.certPem);
    expect(upgraded.violations).to.deep.equal([]);
    const bundle = await publishedBundle();
    expect(trusts(bundle, next.certPem), 'new certificate trusted').to.equal(true);
    expect(trusts(bundle, legacy.certPem), 'the old certificate, still served by replicas that have not reloaded, stays trusted').to.equal(true);
  });

  it('writes the configurations only when they differ from what is wanted (the leader checks every minute), and repairs an edit', async () => {
    const name = `cert-idle-${ns}`;
    const { caCertPem } = await generateCertificates(subject);
    const counting = new RawClient(kc);
    const calls: string[] = [];
    counting.onRequest = (method, resource) => calls.push(`${method} ${resource}`);
    const ensure = (): Promise<void> => ensureWebhookConfiguration(counting, { name, target: { url: 'https://127.0.0.1:1' }, caPem: caCertPem, namespaces: [ns] });
    const versions = async (): Promise<string[]> =>
      Promise.all([configurationPaths.mutating(name), configurationPaths.validating(name)].map(async (p) => (await client.get(p)).metadata.resourceVersion ?? ''));
    try {
      await ensure();
      expect(calls.filter((c) => c.startsWith('PATCH')), 'created by server-side apply').to.have.length(2);
      const created = await versions();
      for (let i = 0; i < 3; i++) {
        calls.length = 0;
        await ensure();
        expect(calls, 'as wanted: read, not written').to.deep.equal(['GET mutatingwebhookconfigurations', 'GET validatingwebhookconfigurations']);
      }
      expect(await versions(), 'no new resourceVersion').to.deep.equal(created);

      // Someone turns the gate off: the next check puts it back.
      const edited = await kubectl(['patch', 'mutatingwebhookconfiguration', name, '--type=json', '-p', '[{"op":"replace","path":"/webhooks/0/failurePolicy","value":"Ignore"}]']);
      expect(edited.code, edited.stderr).to.equal(0);
      calls.length = 0;
      await ensure();
      expect(calls).to.deep.equal(['GET mutatingwebhookconfigurations', 'PATCH mutatingwebhookconfigurations', 'GET validatingwebhookconfigurations']);
      const repaired = await client.get<{ webhooks: Array<{ failurePolicy: string }> }>(configurationPaths.mutating(name));
      expect(repaired.webhooks[0]!.failurePolicy).to.equal('Fail');

      // The operator now watches every namespace: the selector it set before must go, though the
      // live object still holds every field it wants now.
      const everywhere = (): Promise<void> => ensureWebhookConfiguration(counting, { name, target: { url: 'https://127.0.0.1:1' }, caPem: caCertPem });
      calls.length = 0;
      await everywhere();
      expect(calls).to.deep.equal(['GET mutatingwebhookconfigurations', 'PATCH mutatingwebhookconfigurations', 'GET validatingwebhookconfigurations', 'PATCH validatingwebhookconfigurations']);
      for (const path of [configurationPaths.mutating(name), configurationPaths.validating(name)]) {
        const widened = await client.get<{ webhooks: Array<{ namespaceSelector?: { matchExpressions?: unknown[] } }> }>(path);
        for (const w of widened.webhooks) expect(w.namespaceSelector?.matchExpressions ?? [], path).to.deep.equal([]);
      }
      calls.length = 0;
      await everywhere();
      expect(calls, 'then as wanted again').to.deep.equal(['GET mutatingwebhookconfigurations', 'GET validatingwebhookconfigurations']);
    } finally {
      for (const kind of ['mutatingwebhookconfiguration', 'validatingwebhookconfiguration']) await kubectl(['delete', kind, name, '--ignore-not-found']);
    }
  });

  it('the apiserver keeps calling the webhook across a CA rotation (a live webhook, fail-closed)', async () => {
    const name = `cert-live-${ns}`;
    // The configuration of the tests above points nowhere and would refuse the Deployment below.
    for (const kind of ['mutatingwebhookconfiguration', 'validatingwebhookconfiguration']) await kubectl(['delete', kind, configName(), '--ignore-not-found']);
    const secret = { namespace: ns, name: 'tls-live' };
    const logger = createLogger({ level: 'error', silent: true });
    const admission = await AdmissionComponent.start({
      kc,
      client,
      logger,
      metrics: new OperatorMetrics(),
      webhook: { port: 0, target: { urlFromPort: '127.0.0.1' }, secret, configurationName: name, refreshMs: 3_600_000 },
      namespaces: [ns],
      canaryExists: () => true,
      isLeader: () => true,
    });
    const servedCertificate = (): Promise<string> =>
      new Promise((resolve, reject) => {
        const s = connect({ host: '127.0.0.1', port: admission.port, rejectUnauthorized: false }, () => {
          resolve(s.getPeerX509Certificate()?.toString() ?? '');
          s.end();
        });
        s.on('error', reject);
      });
    const touch = async (value: string): Promise<void> => {
      const r = await kubectl(['annotate', 'deployment', 'web', `touched=${value}`, '--overwrite', '-n', ns]);
      expect(r.code, r.stderr).to.equal(0);
    };
    try {
      const dep = {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'web', labels: { 'deployer.dev/canary': 'web' } },
        spec: { replicas: 1, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'app', image: 'example.com/web:1' }] } } },
      };
      const created = await kubectl(['apply', '-n', ns, '-f', '-'], { input: JSON.stringify(dep) });
      expect(created.code, created.stderr).to.equal(0);
      await touch('1');
      const before = await servedCertificate();

      // The CA key is gone (a Secret from before it was kept): the next refresh makes a new CA.
      await client.patch(paths.secret(ns, secret.name), [{ op: 'remove', path: '/data/ca.key' }], 'application/json-patch+json');
      await admission.refresh();
      const after = await servedCertificate();
      expect(after, 'serves a certificate of the new CA').to.not.equal(before);
      await touch('2');
      const published = Buffer.from(
        (await client.get<{ webhooks: Array<{ clientConfig: { caBundle: string } }> }>(configurationPaths.mutating(name))).webhooks[0]!.clientConfig.caBundle,
        'base64',
      ).toString('utf8');
      expect(splitPemBundle(published), 'old CA + new CA').to.have.length(2);
    } finally {
      await admission.stop();
      for (const kind of ['mutatingwebhookconfiguration', 'validatingwebhookconfiguration']) await kubectl(['delete', kind, name, '--ignore-not-found']);
    }
  });
});
