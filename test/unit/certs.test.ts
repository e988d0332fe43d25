import { X509Certificate, createPrivateKey } from 'node:crypto';
import { createServer, request, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { ensureServingCertificate, MemoryCertificateStore, planCertificate, type CertificateState } from '../../src/webhook/certificate-rotation.js';
import {
  CertificateError,
  certificateExpiresSoon,
  certificateFact,
  generateCertificateAuthority,
  generateCertificates,
  isSignedBy,
  issueServingCertificate,
  splitPemBundle,
  type CertificateAuthority,
} from '../../src/webhook/certs.js';
import { mergeCaBundles } from '../../src/webhook/configuration.js';

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

describe('serving certificates re-signed by a kept CA', () => {
  const now = new Date('2026-03-01T12:00:00Z');
  const DAY = 24 * 60 * 60 * 1000;
  const subject = { commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] };

  it('signs a renewed certificate with the same CA, never past the CA\'s own end', async () => {
    const ca = await generateCertificateAuthority({ commonName: 'deployer', validityDays: 100, now });
    const a = await issueServingCertificate(ca, { ...subject, validityDays: 365, now });
    const b = await issueServingCertificate(ca, { ...subject, validityDays: 365, now: new Date(now.getTime() + DAY) });
    expect(isSignedBy(a.certPem, ca.certPem) && isSignedBy(b.certPem, ca.certPem)).to.equal(true);
    expect(a.certPem).to.not.equal(b.certPem);
    expect(a.notAfter.getTime()).to.equal(new Date(new X509Certificate(ca.certPem).validTo).getTime());
  });

  describe('planCertificate()', () => {
    let ca: CertificateAuthority;
    let leaf: { certPem: string; keyPem: string };
    let other: CertificateAuthority;
    before(async () => {
      ca = await generateCertificateAuthority({ commonName: 'deployer', validityDays: 3650, now });
      other = await generateCertificateAuthority({ commonName: 'deployer', validityDays: 3650, now });
      leaf = await issueServingCertificate(ca, { ...subject, validityDays: 365, now });
    });
    const at = (days: number): Date => new Date(now.getTime() + days * DAY);
    const cases: Array<{ name: string; state: () => CertificateState | undefined; now: Date; action: string; reason?: string }> = [
      { name: 'nothing yet: a CA first', state: () => undefined, now, action: 'newCa' },
      { name: 'a CA without its key (written before keys were kept): a new CA', state: () => ({ caBundlePem: ca.certPem, ...leaf }), now, action: 'newCa' },
      { name: 'a key that is not the CA\'s: a new CA', state: () => ({ caBundlePem: ca.certPem, caKeyPem: other.keyPem, ...leaf }), now, action: 'newCa' },
      { name: 'CA without a serving certificate: issue one', state: () => ({ caBundlePem: ca.certPem, caKeyPem: ca.keyPem }), now, action: 'newServingCertificate', reason: 'none yet' },
      { name: 'current', state: () => ({ caBundlePem: ca.certPem, caKeyPem: ca.keyPem, ...leaf }), now, action: 'current' },
      { name: 'serving certificate within 30 days of its end: renew', state: () => ({ caBundlePem: ca.certPem, caKeyPem: ca.keyPem, ...leaf }), now: at(340), action: 'newServingCertificate', reason: 'expires soon' },
      { name: 'CA within a year of its end: a new CA', state: () => ({ caBundlePem: ca.certPem, caKeyPem: ca.keyPem, ...leaf }), now: at(3300), action: 'newCa' },
      {
        name: 'a new CA signs, the certificate is the old CA\'s: issue one (after publishing)',
        state: () => ({ caBundlePem: ca.certPem + other.certPem, caKeyPem: other.keyPem, ...leaf }),
        now,
        action: 'newServingCertificate',
        reason: 'signed by an older CA',
      },
    ];
    for (const c of cases) {
      it(c.name, () => {
        const plan = planCertificate(c.state(), subject, c.now);
        expect(plan.action).to.equal(c.action);
        if (c.reason) expect(plan).to.deep.include({ reason: c.reason });
      });
    }

    it('a new certificate is needed when the names change', () => {
      expect(planCertificate({ caBundlePem: ca.certPem, caKeyPem: ca.keyPem, ...leaf }, { ...subject, dnsNames: ['deployer-webhook.deployer-system.svc'] }, now)).to.deep.equal({
        action: 'newServingCertificate',
        reason: 'names changed',
      });
    });
  });

  it('ensureServingCertificate publishes a new CA before it stores a certificate signed by it, and keeps the old CA', async () => {
    const store = new MemoryCertificateStore();
    const events: string[] = [];
    const published: string[] = [];
    const writes = store.write.bind(store);
    store.write = async (state, version) => {
      const cas = splitPemBundle(state.caBundlePem);
      events.push(state.certPem && isSignedBy(state.certPem, cas.at(-1)!) ? `store certificate of CA #${cas.length}` : 'store CA');
      return writes(state, version);
    };
    const publish = async (bundle: string): Promise<void> => {
      published.push(bundle);
      events.push(`publish ${splitPemBundle(bundle).length} CA(s)`);
    };
    const first = await ensureServingCertificate(store, { ...subject, publish, now });
    const caEnd = new Date(new X509Certificate(splitPemBundle(first.caPem)[0]!).validTo).getTime();
    events.length = 0;
    const rotated = await ensureServingCertificate(store, { ...subject, publish, now: new Date(caEnd - 200 * DAY) });
    expect(events).to.deep.equal(['store CA', 'publish 2 CA(s)', 'store certificate of CA #2']);
    expect(published.at(-1)).to.equal(rotated.caPem);
    expect(isSignedBy(rotated.certPem, splitPemBundle(rotated.caPem)[1]!)).to.equal(true);
    expect(splitPemBundle(rotated.caPem)[0]).to.equal(splitPemBundle(first.caPem)[0]);
  });

  it('mergeCaBundles keeps the CAs already published that are still valid, drops expired ones, and bounds the bundle', async () => {
    const old = await generateCertificateAuthority({ commonName: 'a', validityDays: 10, now });
    const expired = await generateCertificateAuthority({ commonName: 'b', validityDays: 1, now: new Date(now.getTime() - 5 * DAY) });
    const wanted = await generateCertificateAuthority({ commonName: 'c', validityDays: 10, now });
    const merged = splitPemBundle(mergeCaBundles(old.certPem + expired.certPem, wanted.certPem, now));
    expect(merged).to.deep.equal([old.certPem, wanted.certPem]);
    expect(splitPemBundle(mergeCaBundles(wanted.certPem, wanted.certPem, now))).to.have.length(1);
    const many = await Promise.all([1, 2, 3, 4, 5].map((i) => generateCertificateAuthority({ commonName: `m${i}`, validityDays: 10, now })));
    const bounded = splitPemBundle(mergeCaBundles(many.map((c) => c.certPem).join(''), wanted.certPem, now));
    expect(bounded).to.have.length(4);
    expect(bounded.at(-1)).to.equal(wanted.certPem);
  });
});

describe('certificateFact(): what cannot change is computed once (the leader checks its certificate every minute)', () => {
  it('computes once per kind and inputs, errors included', () => {
    let runs = 0;
    const twice = (x: string): number => certificateFact('test-twice', [x], () => (runs++, x.length * 2));
    expect([twice('abc'), twice('abc'), twice('abcd')]).to.deep.equal([6, 6, 8]);
    expect(runs).to.equal(2);
    let failures = 0;
    const bad = (): number => certificateFact('test-bad', ['x'], () => {
      failures++;
      throw new Error('unparseable');
    });
    expect(bad).to.throw('unparseable');
    expect(bad).to.throw('unparseable');
    expect(failures).to.equal(1);
    expect(certificateFact('test-other-kind', ['abc'], () => 'kind is part of the key')).to.equal('kind is part of the key');
  });
});
