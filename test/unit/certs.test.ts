import { X509Certificate, createPrivateKey } from 'node:crypto';
import { createServer, request, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { CertificateError, certificateExpiresSoon, generateCertificates } from '../../src/webhook/certs.js';

describe('webhook certificates', () => {
  const now = new Date('2026-03-01T12:00:00Z');

  it('creates a CA and a serving certificate signed by it, with the requested names', async () => {
    const c = await generateCertificates({
      commonName: 'deployer-webhook.deployer-system.svc',
      dnsNames: ['deployer-webhook.deployer-system.svc', 'localhost'],
      ipAddresses: ['127.0.0.1', '::1'],
      validityDays: 30,
      now,
    });
    const ca = new X509Certificate(c.caCertPem);
    const cert = new X509Certificate(c.certPem);

    expect(ca.ca).to.equal(true);
    expect(cert.ca).to.equal(false);
    expect(cert.checkIssued(ca)).to.equal(true);
    expect(cert.verify(ca.publicKey)).to.equal(true);
    expect(ca.verify(ca.publicKey)).to.equal(true);
    expect(cert.subject).to.equal('CN=deployer-webhook.deployer-system.svc');
    expect(cert.checkHost('deployer-webhook.deployer-system.svc')).to.equal('deployer-webhook.deployer-system.svc');
    expect(cert.checkHost('localhost')).to.equal('localhost');
    expect(cert.checkHost('other.example')).to.equal(undefined);
    expect(cert.checkIP('127.0.0.1')).to.equal('127.0.0.1');
    expect(cert.checkIP('::1')).to.equal('::1');
    expect(cert.checkIP('10.0.0.1')).to.equal(undefined);
    expect(cert.keyUsage ?? []).to.include('1.3.6.1.5.5.7.3.1'); // serverAuth
    expect(cert.publicKey.asymmetricKeyType).to.equal('ec');

    const key = createPrivateKey(c.keyPem);
    expect(key.asymmetricKeyType).to.equal('ec');
    expect(cert.checkPrivateKey(key)).to.equal(true);

    // Validity: from a few minutes before `now` (clock skew) to `now` + 30 days.
    expect(c.notAfter.toISOString()).to.equal('2026-03-31T12:00:00.000Z');
    expect(new Date(cert.validTo).getTime()).to.equal(c.notAfter.getTime());
    expect(new Date(cert.validFrom).getTime()).to.be.at.most(now.getTime());
    expect(new Date(ca.validTo).getTime()).to.equal(c.notAfter.getTime());
  });

  it('gives every certificate a new key and serial number', async () => {
    const a = await generateCertificates({ commonName: 'a', dnsNames: ['a'] });
    const b = await generateCertificates({ commonName: 'a', dnsNames: ['a'] });
    expect(new X509Certificate(a.certPem).serialNumber).to.not.equal(new X509Certificate(b.certPem).serialNumber);
    expect(a.keyPem).to.not.equal(b.keyPem);
    expect(new X509Certificate(a.certPem).verify(new X509Certificate(b.caCertPem).publicKey)).to.equal(false);
  });

  it('serves TLS that a client trusting only the CA accepts for 127.0.0.1 and localhost', async () => {
    const c = await generateCertificates({ commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], validityDays: 1 });
    const server: Server = createServer({ cert: c.certPem, key: c.keyPem }, (_req, res) => res.end('ok'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    const get = (host: string, ca: string): Promise<string> =>
      new Promise((resolve, reject) => {
        const req = request({ host: '127.0.0.1', servername: host === '127.0.0.1' ? undefined : host, port, ca, path: '/' }, (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve(body));
        });
        req.on('error', reject);
        req.end();
      });
    try {
      expect(await get('127.0.0.1', c.caCertPem)).to.equal('ok');
      expect(await get('localhost', c.caCertPem)).to.equal('ok');
      const other = await generateCertificates({ commonName: 'x', dnsNames: ['localhost'] });
      let error: unknown;
      await get('localhost', other.caCertPem).catch((e: unknown) => (error = e));
      expect(String(error)).to.match(/self-signed|unable to verify|certificate/i);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('rejects bad requests', async () => {
    for (const bad of [
      { commonName: '' },
      { commonName: 'x', validityDays: 0 },
      { commonName: 'x', validityDays: -3 },
      { commonName: 'x', ipAddresses: ['localhost'] },
    ]) {
      let error: unknown;
      await generateCertificates(bad).catch((e: unknown) => (error = e));
      expect(error, JSON.stringify(bad)).to.be.instanceOf(CertificateError);
    }
  });

  describe('certificateExpiresSoon', () => {
    let pem = '';
    before(async () => {
      pem = (await generateCertificates({ commonName: 'x', dnsNames: ['x'], validityDays: 30, now })).certPem;
    });
    const day = 24 * 60 * 60 * 1000;
    const cases: Array<{ name: string; at: Date; withinDays: number; expected: boolean }> = [
      { name: 'fresh, 30-day window before the end', at: now, withinDays: 29, expected: false },
      { name: 'fresh, window reaching the end exactly', at: now, withinDays: 30, expected: true },
      { name: 'fresh, window past the end', at: now, withinDays: 31, expected: true },
      { name: '10 days left, 7-day window', at: new Date(now.getTime() + 20 * day), withinDays: 7, expected: false },
      { name: '5 days left, 7-day window', at: new Date(now.getTime() + 25 * day), withinDays: 7, expected: true },
      { name: 'already expired, 0-day window', at: new Date(now.getTime() + 31 * day), withinDays: 0, expected: true },
    ];
    for (const c of cases) {
      it(c.name, () => {
        expect(certificateExpiresSoon(pem, c.at, c.withinDays)).to.equal(c.expected);
      });
    }

    it('throws a CertificateError on something that is not a certificate', () => {
      expect(() => certificateExpiresSoon('not a pem', now, 1)).to.throw(CertificateError);
    });
  });
});
