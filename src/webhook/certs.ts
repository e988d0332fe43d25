// Certificates for the operator's admission webhook: a private CA and serving certificates
// signed by it (ECDSA P-256), made in-process with WebCrypto. The CA (its key kept) goes into the
// webhook configuration's caBundle; the serving pair into the HTTPS server.
import 'reflect-metadata'; // @peculiar/x509 (through tsyringe) needs the Reflect metadata API
import { createHash, webcrypto, X509Certificate as NodeX509 } from 'node:crypto';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const KEY_ALGORITHM: webcrypto.EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
const SIGNING_ALGORITHM: webcrypto.EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };
const DAY_MS = 24 * 60 * 60 * 1000;
/** Certificates start a little in the past so that a clock slightly behind still accepts them. */
const BACKDATE_MS = 5 * 60 * 1000;

export interface CertificateRequest {
  /** Subject common name of the serving certificate (e.g. 'deployer-webhook.deployer-system.svc'). */
  commonName: string;
  /** DNS subject alternative names (e.g. the Service's names). */
  dnsNames?: string[];
  /** IP subject alternative names (e.g. '127.0.0.1'). */
  ipAddresses?: string[];
  /** Validity of both certificates, in days. Default 365. */
  validityDays?: number;
  /** Start of validity. Default: now (minus a few minutes of clock-skew allowance). */
  now?: Date;
}

export interface GeneratedCertificates {
  /** PEM of the CA certificate (the webhook configuration's caBundle, base64-encoded there). */
  caCertPem: string;
  /** PEM of the serving certificate, signed by the CA. */
  certPem: string;
  /** PEM (PKCS#8) of the serving certificate's private key. */
  keyPem: string;
  /** End of validity of the serving certificate. */
  notAfter: Date;
}

export class CertificateError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CertificateError';
  }
}

export interface CertificateAuthority {
  /** PEM of the CA certificate. */
  certPem: string;
  /** PEM (PKCS#8) of the CA's private key. */
  keyPem: string;
}

export interface ServingCertificatePair {
  certPem: string;
  keyPem: string;
  notAfter: Date;
}

/** Creates a CA and a serving certificate (serverAuth) signed by it. */
export async function generateCertificates(request: CertificateRequest): Promise<GeneratedCertificates> {
  const ca = await generateCertificateAuthority(request);
  const leaf = await issueServingCertificate(ca, request);
  return { caCertPem: ca.certPem, certPem: leaf.certPem, keyPem: leaf.keyPem, notAfter: leaf.notAfter };
}

function validity(request: { validityDays?: number; now?: Date }): { notBefore: Date; notAfter: Date } {
  const validityDays = request.validityDays ?? 365;
  if (!Number.isFinite(validityDays) || validityDays <= 0) {
    throw new CertificateError(`validityDays must be a positive number, got ${validityDays}`);
  }
  const now = request.now ?? new Date();
  const notBefore = new Date(now.getTime() - BACKDATE_MS);
  const notAfter = new Date(now.getTime() + validityDays * DAY_MS);
  // ASN.1 times have a resolution of one second; keep the reported date identical to the certificate's.
  notAfter.setUTCMilliseconds(0);
  notBefore.setUTCMilliseconds(0);
  return { notBefore, notAfter };
}

/** A self-signed CA whose key is kept, so serving certificates can be re-signed by it. */
export async function generateCertificateAuthority(request: Pick<CertificateRequest, 'commonName' | 'validityDays' | 'now'>): Promise<CertificateAuthority> {
  if (request.commonName.trim() === '') throw new CertificateError('commonName must not be empty');
  const { notBefore, notAfter } = validity(request);
  const caKeys = await webcrypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify']);
  const caCert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=${escapeDnValue(`${request.commonName} CA`)}`,
    notBefore,
    notAfter,
    signingAlgorithm: SIGNING_ALGORITHM,
    keys: caKeys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', caKeys.privateKey);
  return { certPem: caCert.toString('pem') + '\n', keyPem: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY') + '\n' };
}

/** A serving certificate (serverAuth) for the requested names, signed by the CA. */
export async function issueServingCertificate(ca: CertificateAuthority, request: CertificateRequest): Promise<ServingCertificatePair> {
  const { commonName } = request;
  const dnsNames = request.dnsNames ?? [];
  const ipAddresses = request.ipAddresses ?? [];
  if (commonName.trim() === '') throw new CertificateError('commonName must not be empty');
  const badIp = ipAddresses.find((ip) => isIP(ip) === 0);
  if (badIp !== undefined) throw new CertificateError(`not an IP address: ${badIp}`);
  let { notBefore, notAfter } = validity(request);

  let caCert: x509.X509Certificate;
  let caKey: webcrypto.CryptoKey;
  try {
    caCert = new x509.X509Certificate(ca.certPem);
    caKey = await webcrypto.subtle.importKey('pkcs8', x509.PemConverter.decodeFirst(ca.keyPem), KEY_ALGORITHM, false, ['sign']);
  } catch (cause) {
    throw new CertificateError('cannot read the CA certificate or key', { cause });
  }
  // A certificate never outlives the CA that signed it.
  if (notAfter.getTime() > caCert.notAfter.getTime()) notAfter = new Date(caCert.notAfter);
  if (notBefore.getTime() < caCert.notBefore.getTime()) notBefore = new Date(caCert.notBefore);

  const keys = await webcrypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify']);
  const names: x509.JsonGeneralName[] = [
    ...dnsNames.map((value) => ({ type: 'dns' as const, value })),
    ...ipAddresses.map((value) => ({ type: 'ip' as const, value })),
  ];
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    await x509.AuthorityKeyIdentifierExtension.create(caCert, false),
  ];
  if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names, false));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: `CN=${escapeDnValue(commonName)}`,
    issuer: caCert.subject,
    notBefore,
    notAfter,
    signingAlgorithm: SIGNING_ALGORITHM,
    publicKey: keys.publicKey,
    signingKey: caKey,
    extensions,
  });

  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return {
    certPem: cert.toString('pem') + '\n',
    keyPem: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY') + '\n',
    notAfter: cert.notAfter,
  };
}

/** The certificates of a PEM bundle, one PEM each (unparseable blocks are left out). */
export function splitPemBundle(bundle: string): string[] {
  return (bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((p) => `${p}\n`);
}

const facts = new Map<string, { value: unknown } | { error: unknown }>();

/**
 * A fact about certificates and keys that cannot change (a validity end, a signature, a key pair),
 * computed once per input: the leader checks its certificate and the published bundle every minute,
 * and parsing and verifying them each time is most of what an idle minute costs. Keyed by a hash,
 * so no key material is kept twice. Errors are remembered too.
 */
export function certificateFact<T>(kind: string, inputs: readonly string[], compute: () => T): T {
  const h = createHash('sha256').update(kind);
  for (const i of inputs) h.update('\0').update(i);
  const key = h.digest('base64');
  let fact = facts.get(key);
  if (!fact) {
    try {
      fact = { value: compute() };
    } catch (error) {
      fact = { error };
    }
    if (facts.size >= 256) facts.clear();
    facts.set(key, fact);
  }
  if ('error' in fact) throw fact.error;
  return fact.value as T;
}

/** End of validity of a certificate, in ms since the epoch (throws on a PEM that does not parse). */
export function validUntilMs(certPem: string): number {
  return certificateFact('validTo', [certPem], () => new Date(new NodeX509(certPem).validTo).getTime());
}

/** True when `certPem` was signed by the CA `caPem` (checked once per pair). */
export function isSignedBy(certPem: string, caPem: string): boolean {
  return certificateFact('signedBy', [certPem, caPem], () => {
    try {
      const cert = new NodeX509(certPem);
      const ca = new NodeX509(caPem);
      return cert.checkIssued(ca) && cert.verify(ca.publicKey);
    } catch {
      return false;
    }
  });
}

/** End of validity of a certificate. */
export function certificateNotAfter(certPem: string): Date {
  try {
    return new Date(new NodeX509(certPem).validTo);
  } catch (cause) {
    throw new CertificateError('cannot parse the certificate PEM', { cause });
  }
}

/** True when the certificate is already expired, or expires within `withinDays` days of `now`. */
export function certificateExpiresSoon(certPem: string, now: Date, withinDays: number): boolean {
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(certPem);
  } catch (cause) {
    throw new CertificateError('cannot parse the certificate PEM', { cause });
  }
  return cert.notAfter.getTime() - now.getTime() <= withinDays * DAY_MS;
}

/** A positive 128-bit serial number, as hex (the top bit clear keeps the DER INTEGER positive). */
function randomSerial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x01;
  return Buffer.from(bytes).toString('hex');
}

/** Escapes the characters RFC 4514 reserves in a distinguished-name attribute value. */
function escapeDnValue(value: string): string {
  return value.replace(/[,+"\\<>;=]/g, (c) => `\\${c}`).replace(/^[ #]|[ ]$/g, (c) => `\\${c}`);
}
