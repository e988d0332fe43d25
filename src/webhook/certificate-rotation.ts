// The webhook's serving certificate over time: a long-lived CA whose key is kept beside the
// serving certificate, so a renewed serving certificate is signed by a CA the apiserver already
// trusts and the caBundle does not change. When the CA itself is due, the new CA is added to the
// bundle (old CA + new CA), the bundle is published to the webhook configurations, and only
// then is a serving certificate of the new CA written where the replicas load it.
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { isAlreadyExists, isConflict, isNotFound } from '../kube/errors.js';
import { paths, type RawClient } from '../kube/raw-client.js';
import { certificateFact, generateCertificateAuthority, issueServingCertificate, isSignedBy, splitPemBundle, validUntilMs } from './certs.js';

const DAY_MS = 24 * 60 * 60 * 1000;

/** What the replicas share: the trusted CAs (oldest first; the last one signs), its key, and the serving pair. */
export interface CertificateState {
  caBundlePem: string;
  caKeyPem?: string;
  certPem?: string;
  keyPem?: string;
}

export interface ServingCertificate {
  /** Every CA the webhook configurations must trust (PEM bundle). */
  caPem: string;
  certPem: string;
  keyPem: string;
}

export interface CertificateStore {
  read(): Promise<{ state?: CertificateState; version?: string }>;
  /** Writes if nobody else wrote since `version` was read; false when someone did. */
  write(state: CertificateState, version: string | undefined): Promise<boolean>;
}

export interface RotationPolicy {
  caValidityDays: number;
  /** A new CA is made this long before the signing CA expires. */
  caRenewBeforeDays: number;
  servingValidityDays: number;
  /** A new serving certificate is issued this long before the current one expires. */
  servingRenewBeforeDays: number;
}

export const DEFAULT_ROTATION: RotationPolicy = { caValidityDays: 3650, caRenewBeforeDays: 365, servingValidityDays: 365, servingRenewBeforeDays: 30 };

export interface CertificateSubject {
  commonName: string;
  dnsNames: string[];
  ipAddresses: string[];
}

export type CertificatePlan =
  | { action: 'current' }
  /** Add a new CA to the bundle (keeping the CAs still valid) and make it the signer. */
  | { action: 'newCa'; keep: string[] }
  /** Publish the bundle, then issue a serving certificate signed by the last CA. */
  | { action: 'newServingCertificate'; reason: string };

const expiresWithin = (pem: string, now: Date, days: number): boolean => validUntilMs(pem) - now.getTime() <= days * DAY_MS;
const expired = (pem: string, now: Date): boolean => validUntilMs(pem) <= now.getTime();

function keyMatches(certPem: string, keyPem: string): boolean {
  return certificateFact('keyMatches', [certPem, keyPem], () => {
    try {
      const fromKey = createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' });
      const fromCert = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
      return fromKey.equals(fromCert);
    } catch {
      return false;
    }
  });
}

function coversNames(certPem: string, subject: CertificateSubject): boolean {
  return certificateFact('coversNames', [certPem, ...subject.dnsNames, '\0', ...subject.ipAddresses], () => {
    const cert = new X509Certificate(certPem);
    return subject.dnsNames.every((n) => cert.checkHost(n, { wildcards: false }) === n) && subject.ipAddresses.every((ip) => cert.checkIP(ip) === ip);
  });
}

/** What the shared certificate needs now. Pure. */
export function planCertificate(state: CertificateState | undefined, subject: CertificateSubject, now: Date, policy: RotationPolicy = DEFAULT_ROTATION): CertificatePlan {
  const cas = splitPemBundle(state?.caBundlePem ?? '').filter((pem) => {
    try {
      return !expired(pem, now);
    } catch {
      return false;
    }
  });
  const signer = cas[cas.length - 1];
  if (!signer || !state?.caKeyPem || !keyMatches(signer, state.caKeyPem) || expiresWithin(signer, now, policy.caRenewBeforeDays)) {
    return { action: 'newCa', keep: cas };
  }
  if (!state.certPem || !state.keyPem) return { action: 'newServingCertificate', reason: 'none yet' };
  try {
    if (!keyMatches(state.certPem, state.keyPem)) return { action: 'newServingCertificate', reason: 'its key does not match' };
    if (!isSignedBy(state.certPem, signer)) return { action: 'newServingCertificate', reason: 'signed by an older CA' };
    if (expiresWithin(state.certPem, now, policy.servingRenewBeforeDays)) return { action: 'newServingCertificate', reason: 'expires soon' };
    if (!coversNames(state.certPem, subject)) return { action: 'newServingCertificate', reason: 'names changed' };
  } catch {
    return { action: 'newServingCertificate', reason: 'unreadable' };
  }
  return { action: 'current' };
}

export class CertificateRotationError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CertificateRotationError';
  }
}

/**
 * Returns the serving certificate to use now, making or renewing it in the store when due.
 * `publish` must make the webhook configurations trust the bundle it is given; it runs before a
 * serving certificate of a new CA is written, so no replica ever serves a certificate the
 * apiserver does not trust yet.
 */
export async function ensureServingCertificate(
  store: CertificateStore,
  opts: CertificateSubject & { publish: (caBundlePem: string) => Promise<void>; now?: Date; policy?: RotationPolicy },
): Promise<ServingCertificate> {
  const policy = opts.policy ?? DEFAULT_ROTATION;
  for (let attempt = 0; attempt < 8; attempt++) {
    const now = opts.now ?? new Date();
    const { state, version } = await store.read();
    const plan = planCertificate(state, opts, now, policy);
    if (plan.action === 'current' && state?.certPem && state.keyPem) return { caPem: state.caBundlePem, certPem: state.certPem, keyPem: state.keyPem };
    if (plan.action === 'newCa') {
      const ca = await generateCertificateAuthority({ commonName: opts.commonName, validityDays: policy.caValidityDays, now });
      // The current serving certificate stays until the new CA is published.
      const next: CertificateState = { ...state, caBundlePem: [...plan.keep, ca.certPem].join(''), caKeyPem: ca.keyPem };
      await store.write(next, version);
      continue; // read back what was stored (ours, or another replica's)
    }
    if (plan.action === 'newServingCertificate' && state?.caKeyPem) {
      await opts.publish(state.caBundlePem);
      const cas = splitPemBundle(state.caBundlePem);
      const signer = cas[cas.length - 1] ?? '';
      const leaf = await issueServingCertificate({ certPem: signer, keyPem: state.caKeyPem }, { ...opts, validityDays: policy.servingValidityDays, now });
      const next: CertificateState = { ...state, certPem: leaf.certPem, keyPem: leaf.keyPem };
      if (await store.write(next, version)) return { caPem: next.caBundlePem, certPem: leaf.certPem, keyPem: leaf.keyPem };
    }
  }
  throw new CertificateRotationError('the webhook certificate kept changing under this replica; will retry');
}

/** The state of one process (an operator run outside the cluster without --webhook-secret). */
export class MemoryCertificateStore implements CertificateStore {
  private state: CertificateState | undefined;
  private version = 0;

  async read(): Promise<{ state?: CertificateState; version?: string }> {
    return { ...(this.state ? { state: { ...this.state } } : {}), version: String(this.version) };
  }

  async write(state: CertificateState, version: string | undefined): Promise<boolean> {
    if (version !== String(this.version)) return false;
    this.state = { ...state };
    this.version++;
    return true;
  }
}

interface SecretObject {
  metadata: { name: string; namespace: string; resourceVersion?: string };
  data?: Record<string, string>;
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const unb64 = (s: string | undefined): string | undefined => (s === undefined ? undefined : Buffer.from(s, 'base64').toString('utf8'));

/**
 * The state in a Secret shared by the replicas (kubernetes.io/tls: tls.crt, tls.key, ca.crt with
 * every trusted CA, ca.key with the signing CA's key). Writes carry the resourceVersion read.
 */
export class SecretCertificateStore implements CertificateStore {
  constructor(
    private readonly client: RawClient,
    private readonly secret: { namespace: string; name: string },
  ) {}

  async read(): Promise<{ state?: CertificateState; version?: string }> {
    try {
      const s = await this.client.get<SecretObject>(paths.secret(this.secret.namespace, this.secret.name));
      const d = s.data ?? {};
      const state: CertificateState = { caBundlePem: unb64(d['ca.crt']) ?? '' };
      const caKey = unb64(d['ca.key']);
      const cert = unb64(d['tls.crt']);
      const key = unb64(d['tls.key']);
      if (caKey) state.caKeyPem = caKey;
      if (cert) state.certPem = cert;
      if (key) state.keyPem = key;
      return { state, ...(s.metadata.resourceVersion ? { version: s.metadata.resourceVersion } : {}) };
    } catch (err) {
      if (isNotFound(err)) return {};
      throw err;
    }
  }

  async write(state: CertificateState, version: string | undefined): Promise<boolean> {
    const { namespace, name } = this.secret;
    const body = {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/tls',
      metadata: { name, namespace, labels: { 'app.kubernetes.io/name': 'deployer' }, ...(version ? { resourceVersion: version } : {}) },
      data: {
        'ca.crt': b64(state.caBundlePem),
        ...(state.caKeyPem ? { 'ca.key': b64(state.caKeyPem) } : {}),
        // kubernetes.io/tls requires both keys; an empty pair means "none issued yet".
        'tls.crt': b64(state.certPem ?? ''),
        'tls.key': b64(state.keyPem ?? ''),
      },
    };
    try {
      if (version) await this.client.update(paths.secret(namespace, name), body);
      else await this.client.create(paths.secrets(namespace), body);
      return true;
    } catch (err) {
      if (isAlreadyExists(err) || isConflict(err)) return false;
      throw err;
    }
  }
}
