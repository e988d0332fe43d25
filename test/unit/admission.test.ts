import { KubeConfig } from '@kubernetes/client-node';
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request as httpsRequest } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import { ANNOTATIONS, LABELS } from '../../src/api/constants.js';
import { revisionOf } from '../../src/canary/revision.js';
import { createLogger } from '../../src/runtime/logger.js';
import { OperatorMetrics } from '../../src/runtime/metrics.js';
import { decideAdmission, formerGuardOf, type AdmissionRequest, type DeploymentLike } from '../../src/webhook/admission.js';
import { accessChecksFor, decideCanaryAccess, subjectAccessReview, type CanaryLike } from '../../src/webhook/canary-access.js';
import { generateCertificates } from '../../src/webhook/certs.js';
import { OperatorIdentity, serviceAccountUser, serviceAccountUserFromToken } from '../../src/webhook/identity.js';
import type { RawClient } from '../../src/kube/raw-client.js';
import { MUTATE_PATH, WebhookServer } from '../../src/webhook/server.js';

const template = (image: string) => ({ metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image }] } });
const STABLE = revisionOf(template('web:1.0.0'));

function deployment(image: string, over: { labels?: Record<string, string> | null; annotations?: Record<string, string> | null; paused?: boolean } = {}): DeploymentLike {
  const labels = over.labels === null ? undefined : (over.labels ?? { [LABELS.canary]: 'web' });
  const annotations = over.annotations === null ? undefined : (over.annotations ?? { [ANNOTATIONS.stableRevision]: STABLE });
  return {
    metadata: { name: 'web', ...(labels ? { labels } : {}), ...(annotations ? { annotations } : {}) },
    spec: { ...(over.paused !== undefined ? { paused: over.paused } : {}), template: template(image) },
  };
}

const req = (object: DeploymentLike, oldObject?: DeploymentLike, user = 'alice'): AdmissionRequest => ({
  uid: 'u',
  kind: { group: 'apps', kind: 'Deployment' },
  operation: oldObject ? 'UPDATE' : 'CREATE',
  userInfo: { username: user },
  object,
  oldObject: oldObject ?? null,
});

describe('decideAdmission(): the revision gate', () => {
  const cases: Array<{ name: string; r: AdmissionRequest; outcome: string; paused?: boolean }> = [
    { name: 'holds an update that moves the template away from the stable revision', r: req(deployment('web:2.0.0'), deployment('web:1.0.0')), outcome: 'held', paused: true },
    { name: 'holds a server-side apply that sets paused: false explicitly', r: req(deployment('web:2.0.0', { paused: false }), deployment('web:1.0.0')), outcome: 'held', paused: true },
    { name: 'lets a scale or metadata change of the stable template through', r: req(deployment('web:1.0.0'), deployment('web:1.0.0')), outcome: 'allowed' },
    { name: 'lets the stable template back through (a revert)', r: req(deployment('web:1.0.0', { paused: true }), deployment('web:2.0.0', { paused: true })), outcome: 'allowed' },
    { name: 'ignores Deployments without a stable revision yet', r: req(deployment('web:2.0.0', { annotations: null })), outcome: 'allowed' },
    { name: 'ignores other kinds', r: { ...req(deployment('web:2.0.0')), kind: { group: '', kind: 'ConfigMap' } }, outcome: 'allowed' },
  ];
  for (const tc of cases) {
    it(tc.name, () => {
      const d = decideAdmission(tc.r, 'operator');
      expect(d.outcome).to.equal(tc.outcome);
      const paused = d.patch.find((p) => p.path === '/spec/paused');
      expect(paused?.value).to.equal(tc.paused);
    });
  }

  it('puts back the gate when a full replace drops its label and annotation', () => {
    const d = decideAdmission(req(deployment('web:2.0.0', { labels: null, annotations: null }), deployment('web:1.0.0')), 'operator');
    expect(d.outcome).to.equal('held');
    expect(d.patch.map((p) => p.path)).to.include.members([
      '/metadata/labels',
      '/metadata/labels/deployer.dev~1canary',
      '/metadata/annotations',
      '/metadata/annotations/deployer.dev~1stable-revision',
      '/spec/paused',
    ]);
  });

  it('lets the operator itself remove the gate', () => {
    const d = decideAdmission({ ...req(deployment('web:2.0.0', { labels: {}, annotations: {} }), deployment('web:1.0.0'), 'operator'), options: { fieldManager: 'deployer' } }, 'operator');
    expect(d.patch).to.deep.equal([]);
  });

  it('warns the client that the revision is held', () => {
    const d = decideAdmission(req(deployment('web:2.0.0'), deployment('web:1.0.0')), 'operator');
    expect(d.warnings[0]).to.contain('held (paused) for canary analysis');
  });
});

describe('decideAdmission(): the stable revision belongs to the operator', () => {
  const R2 = revisionOf(template('web:2.0.0'));
  const annotationPatch = (d: ReturnType<typeof decideAdmission>) => d.patch.find((p) => p.path === '/metadata/annotations/deployer.dev~1stable-revision');

  it('holds an update whose manifest declares the new template stable (a copied export)', () => {
    const d = decideAdmission(req(deployment('web:2.0.0', { annotations: { [ANNOTATIONS.stableRevision]: R2 } }), deployment('web:1.0.0')), 'operator');
    expect(d.outcome).to.equal('held');
    expect(annotationPatch(d)).to.deep.equal({ op: 'add', path: '/metadata/annotations/deployer.dev~1stable-revision', value: STABLE });
    expect(d.patch.find((p) => p.path === '/spec/paused')?.value).to.equal(true);
  });

  it('puts back a stable revision changed by kubectl annotate --overwrite, template unchanged', () => {
    const d = decideAdmission(req(deployment('web:2.0.0', { paused: true, annotations: { [ANNOTATIONS.stableRevision]: R2 } }), deployment('web:2.0.0', { paused: true })), 'operator');
    expect(annotationPatch(d)?.value).to.equal(STABLE);
    expect(d.warnings.join(' ')).to.contain('stable-revision');
  });

  it('removes a stable revision added by someone else to a Deployment that had none', () => {
    const old = deployment('web:2.0.0', { annotations: null });
    const d = decideAdmission(req(deployment('web:2.0.0', { annotations: { [ANNOTATIONS.stableRevision]: R2 } }), old), 'operator');
    expect(annotationPatch(d)).to.deep.equal({ op: 'remove', path: '/metadata/annotations/deployer.dev~1stable-revision' });
  });

  it('ignores the stable revision on a new Deployment: a copied manifest cannot declare itself verified', () => {
    const d = decideAdmission(req(deployment('web:2.0.0', { annotations: { [ANNOTATIONS.stableRevision]: R2 } })), 'operator');
    expect(annotationPatch(d)).to.deep.equal({ op: 'remove', path: '/metadata/annotations/deployer.dev~1stable-revision' });
  });

  it('lets the operator record a new stable revision (promotion)', () => {
    const d = decideAdmission(
      { ...req(deployment('web:2.0.0', { annotations: { [ANNOTATIONS.stableRevision]: R2 } }), deployment('web:2.0.0', { paused: true }), 'operator'), options: { fieldManager: 'deployer' } },
      'operator',
    );
    expect(d.patch).to.deep.equal([]);
  });

  it('treats the operator\'s user name with another field manager as a person (an operator run with its user\'s own kubeconfig)', () => {
    const d = decideAdmission({ ...req(deployment('web:2.0.0'), deployment('web:1.0.0'), 'operator'), options: { fieldManager: 'kubectl-set' } }, 'operator');
    expect(d.outcome).to.equal('held');
  });
});

describe('decideAdmission(): a guarded Deployment deleted and re-created', () => {
  const former = { canary: 'web', verifiedRevision: STABLE };
  const recreate = (image: string, over: Parameters<typeof deployment>[1] = {}): AdmissionRequest => ({
    ...req(deployment(image, { labels: { app: 'web' }, annotations: null, ...over })),
    namespace: 'shop',
  });
  const guardOf = (ns: string, name: string) => (ns === 'shop' && name === 'web' ? former : undefined);
  const value = (d: ReturnType<typeof decideAdmission>, path: string) => d.patch.filter((p) => p.path === path).at(-1);

  it('holds a new template at once when a ReplicaSet of the verified revision survives: the gate label, the verified revision and paused', () => {
    const d = decideAdmission(recreate('web:2.0.0'), { operatorUser: 'operator', guardOf, stableSurvives: true });
    expect(d.outcome).to.equal('held');
    expect(value(d, '/metadata/labels/deployer.dev~1canary')).to.deep.include({ op: 'add', value: 'web' });
    expect(value(d, '/metadata/annotations/deployer.dev~1stable-revision')).to.deep.include({ op: 'add', value: STABLE });
    expect(value(d, '/spec/paused')?.value).to.equal(true);
    expect(d.warnings.join(' ')).to.match(/held \(paused\) for canary analysis by Canary web/);
  });

  it('guards the verified template again without holding it', () => {
    const d = decideAdmission(recreate('web:1.0.0'), { operatorUser: 'operator', guardOf });
    expect(d.outcome).to.equal('restored');
    expect(value(d, '/metadata/labels/deployer.dev~1canary')?.value).to.equal('web');
    expect(value(d, '/spec/paused')).to.equal(undefined);
  });

  it('a manifest declaring another revision verified gets the Canary\'s verified one', () => {
    const d = decideAdmission(recreate('web:2.0.0', { annotations: { [ANNOTATIONS.stableRevision]: revisionOf(template('web:2.0.0')) } }), { operatorUser: 'operator', guardOf, stableSurvives: true });
    expect(value(d, '/metadata/annotations/deployer.dev~1stable-revision')).to.deep.include({ op: 'add', value: STABLE });
    expect(value(d, '/spec/paused')?.value).to.equal(true);
  });

  it('does not hold a new template with no ReplicaSet of the verified revision left (created paused, it would serve nothing): guarded again, said so', () => {
    for (const stableSurvives of [false, undefined]) {
      const d = decideAdmission(recreate('web:2.0.0'), { operatorUser: 'operator', guardOf, ...(stableSurvives === false ? { stableSurvives } : {}) });
      expect(d.outcome).to.equal('restored');
      expect(value(d, '/metadata/labels/deployer.dev~1canary')?.value).to.equal('web');
      expect(value(d, '/metadata/annotations/deployer.dev~1stable-revision')?.value).to.equal(STABLE);
      expect(value(d, '/spec/paused'), 'not paused').to.equal(undefined);
      expect(d.warnings.join(' ')).to.match(/no ReplicaSet of its verified revision \w+ survives to keep serving: it rolls out now, unverified/);
    }
  });

  it('leaves alone a new Deployment no Canary guarded before', () => {
    const d = decideAdmission({ ...recreate('web:2.0.0'), namespace: 'other' }, { operatorUser: 'operator', guardOf });
    expect(d).to.deep.equal({ patch: [], outcome: 'allowed', warnings: [] });
  });

  it('formerGuardOf: only a Canary of that target that verified a revision of it, not being deleted', () => {
    const c = (name: string, target: string, status: Record<string, string> = { stableRevision: STABLE, targetUID: 'u1', targetName: target }, deleting = false) => ({
      metadata: { name, ...(deleting ? { deletionTimestamp: '2026-12-01T00:00:00Z' } : {}) },
      spec: { targetRef: { name: target } },
      status,
    });
    expect(formerGuardOf([c('a', 'api'), c('w', 'web')], 'web')).to.deep.equal({ canary: 'w', verifiedRevision: STABLE });
    expect(formerGuardOf([c('w', 'web', {})], 'web'), 'never adopted anything').to.equal(undefined);
    expect(formerGuardOf([c('w', 'web', undefined, true)], 'web'), 'being deleted').to.equal(undefined);
  });
});

describe('decideAdmission(): orphaned gates and an unknown operator identity', () => {
  const orphanCheck = { operatorUser: 'operator', canaryExists: (_ns: string, name: string) => name !== 'web' };

  it('allows removing the gate label when the Canary it names does not exist', () => {
    const d = decideAdmission(req(deployment('web:2.0.0', { labels: {}, paused: true }), deployment('web:2.0.0', { paused: true })), orphanCheck);
    expect(d).to.deep.include({ outcome: 'allowed', patch: [] });
  });

  it('puts the gate label back while its Canary exists, or when the cache cannot tell', () => {
    for (const canaryExists of [() => true, () => undefined]) {
      const d = decideAdmission(req(deployment('web:2.0.0', { labels: {}, paused: true }), deployment('web:2.0.0', { paused: true })), { operatorUser: 'operator', canaryExists });
      expect(d.patch.map((p) => p.path)).to.include('/metadata/labels/deployer.dev~1canary');
    }
  });

  it('refuses, rather than rewrites, a gate change while the operator\'s identity is not known', () => {
    const r = { ...req(deployment('web:2.0.0', { labels: {}, annotations: {} }), deployment('web:2.0.0'), 'system:serviceaccount:deployer-system:deployer'), options: { fieldManager: 'deployer' } };
    const d = decideAdmission(r, {});
    expect(d.outcome).to.equal('denied');
    expect(d.message).to.match(/identity/);
    expect(d.patch).to.deep.equal([]);
  });
});

describe('Canary access: a Canary may only guard a Deployment its author could update', () => {
  const canary = (target: string, over: Record<string, unknown> = {}): CanaryLike => ({ metadata: { name: 'web' }, spec: { targetRef: { name: target }, ...over } });
  const creq = (object: CanaryLike, oldObject?: CanaryLike): AdmissionRequest<CanaryLike> => ({
    uid: 'u',
    kind: { group: 'deployer.dev', kind: 'Canary' },
    operation: oldObject ? 'UPDATE' : 'CREATE',
    namespace: 'shop',
    userInfo: { username: 'alice', uid: '42', groups: ['dev', 'system:authenticated'], extra: { scopes: ['a'] } },
    object,
    oldObject: oldObject ?? null,
  });

  it('asks for update and patch of the target Deployment on create', () => {
    expect(accessChecksFor(creq(canary('web')))).to.deep.equal([
      { verb: 'update', namespace: 'shop', deployment: 'web' },
      { verb: 'patch', namespace: 'shop', deployment: 'web' },
    ]);
  });

  it('asks again when the spec or a deployer.dev/ request annotation changes, not for other metadata or a deletion', () => {
    expect(accessChecksFor(creq(canary('web', { steps: [{ setWeight: 99 }] }), canary('web')))).to.have.length(2);
    const promote: CanaryLike = { metadata: { name: 'web', annotations: { 'deployer.dev/promote': '1' } }, spec: { targetRef: { name: 'web' } } };
    expect(accessChecksFor(creq(promote, canary('web')))).to.have.length(2);
    const labelled: CanaryLike = { metadata: { name: 'web', annotations: { team: 'a' } }, spec: { targetRef: { name: 'web' } } };
    expect(accessChecksFor(creq(labelled, canary('web')))).to.deep.equal([]);
    const deleting: CanaryLike = { metadata: { name: 'web', deletionTimestamp: '2026-01-01T00:00:00Z' }, spec: { targetRef: { name: 'web' } } };
    expect(accessChecksFor(creq(deleting, canary('web')))).to.deep.equal([]);
  });

  it('reviews the requesting user with their groups, uid and extra', () => {
    const sar = subjectAccessReview(creq(canary('web')).userInfo, { verb: 'update', namespace: 'shop', deployment: 'web' }) as { spec: Record<string, unknown> };
    expect(sar.spec).to.deep.equal({
      user: 'alice',
      uid: '42',
      groups: ['dev', 'system:authenticated'],
      extra: { scopes: ['a'] },
      resourceAttributes: { group: 'apps', resource: 'deployments', verb: 'update', namespace: 'shop', name: 'web' },
    });
  });

  it('refuses with a message naming the missing permission; refuses when it could not ask', () => {
    const r = creq(canary('web'));
    const checks = accessChecksFor(r);
    expect(decideCanaryAccess(r, checks, [true, true])).to.deep.equal({ allowed: true });
    const denied = decideCanaryAccess(r, checks, [false, true]);
    expect(denied.allowed).to.equal(false);
    expect(denied.message).to.contain('alice may not update deployments.apps "web" in namespace shop');
    expect(decideCanaryAccess(r, checks, [false, false]).message).to.contain('may not update or patch');
    const unknown = decideCanaryAccess(r, checks, [new Error('timeout'), true]);
    expect(unknown.allowed).to.equal(false);
    expect(unknown.message).to.contain('SubjectAccessReview failed: timeout');
  });
});

describe('the operator\'s identity', () => {
  const jwt = (claims: Record<string, unknown>): string => `h.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.s`;

  it('is read from a ServiceAccount token (in the cluster, no API call)', () => {
    expect(serviceAccountUserFromToken(jwt({ sub: 'system:serviceaccount:deployer-system:deployer' }))).to.equal('system:serviceaccount:deployer-system:deployer');
    expect(serviceAccountUserFromToken(jwt({ sub: 'alice' }))).to.equal(undefined);
    expect(serviceAccountUserFromToken('not-a-jwt')).to.equal(undefined);
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: 'https://127.0.0.1:1', skipTLSVerify: true }],
      users: [{ name: 'in-cluster', authProvider: { name: 'tokenFile', config: { tokenFile: '/var/run/secrets/kubernetes.io/serviceaccount/token' } } }],
      contexts: [{ name: 'x', cluster: 'c', user: 'in-cluster' }],
      currentContext: 'x',
    });
    expect(serviceAccountUser(kc, () => jwt({ sub: 'system:serviceaccount:ops:deployer' }))).to.equal('system:serviceaccount:ops:deployer');
  });
});

describe('the webhook server', () => {
  let server: WebhookServer;
  let port: number;
  let metrics: OperatorMetrics;
  const logs: Array<{ message: string }> = [];
  before(async () => {
    const c = await generateCertificates({ commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    metrics = new OperatorMetrics();
    const logger = createLogger({ level: 'info', silent: true });
    logger.info = ((message: string) => (logs.push({ message }), logger)) as typeof logger.info;
    server = new WebhookServer({ host: '127.0.0.1', port: 0, certPem: c.certPem, keyPem: c.keyPem, logger, metrics, operatorUser: () => 'operator', maxBodyBytes: 64 * 1024, headersTimeoutMs: 300, requestTimeoutMs: 500 });
    port = await server.start();
  });
  after(() => server.stop());

  const post = (body: string | Buffer, path = MUTATE_PATH): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      const r = httpsRequest({ host: '127.0.0.1', port, path, method: 'POST', rejectUnauthorized: false, headers: { 'Content-Type': 'application/json' } }, (res) => {
        let b = '';
        res.on('data', (d: Buffer) => (b += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: b }));
      });
      r.on('error', reject);
      r.end(body);
    });
  const held = async (): Promise<number> => ((await metrics.webhookRequests.get()).values.find((v) => v.labels.outcome === 'held')?.value ?? 0);

  it('answers a dry run like a real request, but neither counts nor logs it as a hold', async () => {
    const review = (dryRun: boolean): string => JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { ...req(deployment('web:2.0.0'), deployment('web:1.0.0')), dryRun } });
    const before = await held();
    logs.length = 0;
    const dry = JSON.parse((await post(review(true))).body) as { response: { patch?: string } };
    expect(dry.response.patch, 'the diff still shows the hold').to.be.a('string');
    expect(await held()).to.equal(before);
    expect(logs.filter((l) => l.message === 'Admitted Deployment with gate')).to.deep.equal([]);
    await post(review(false));
    expect(await held()).to.equal(before + 1);
    expect(logs.map((l) => l.message)).to.include('Admitted Deployment with gate');
  });

  it('refuses a body over the limit with 413', async () => {
    const r = await post(Buffer.alloc(100 * 1024, 'a'));
    expect(r.status).to.equal(413);
  });

  it('drops a client that sends its headers too slowly', async () => {
    const closed = await new Promise<boolean>((resolve) => {
      const s = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => s.write('POST /mutate-deployments HTTP/1.1\r\nHost: x\r\n'));
      const t = setTimeout(() => resolve(false), 3_000);
      s.on('close', () => (clearTimeout(t), resolve(true)));
      s.on('data', () => undefined);
      s.on('error', () => undefined);
    });
    expect(closed).to.equal(true);
  });

  it('keeps answering for the drain time after stop begins', async () => {
    const c = await generateCertificates({ commonName: 'localhost', ipAddresses: ['127.0.0.1'] });
    const s = new WebhookServer({ host: '127.0.0.1', port: 0, certPem: c.certPem, keyPem: c.keyPem, logger: createLogger({ silent: true }), metrics: new OperatorMetrics() });
    const p = await s.start();
    const stopping = s.stop(400);
    const during = await new Promise<number>((resolve, reject) => {
      const r = httpsRequest({ host: '127.0.0.1', port: p, path: '/healthz', rejectUnauthorized: false, agent: false }, (res) => resolve(res.statusCode ?? 0));
      r.on('error', reject);
      r.end();
    });
    expect(during).to.equal(200);
    await stopping;
    const after = await new Promise<string>((resolve) => {
      const r = httpsRequest({ host: '127.0.0.1', port: p, path: '/healthz', rejectUnauthorized: false, agent: false }, () => resolve('answered'));
      r.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
      r.end();
    });
    expect(after).to.equal('ECONNREFUSED');
  });
});

describe('the operator command in the cluster', () => {
  it('refuses to start with a Service target but no shared certificate Secret, and says why', async () => {
    const root = new URL('../../', import.meta.url).pathname;
    const r = spawnSync(`${root}node_modules/.bin/node`, ['--import', 'tsx', `${root}src/main.ts`, '--webhook-service', 'deployer-system/deployer-webhook', '--webhook-port', '0', '--health-port', '0'], {
      cwd: root,
      encoding: 'utf8',
      timeout: 20_000,
      // No kubeconfig at all: the check comes before any call to an apiserver.
      env: { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'KUBECONFIG')), HOME: mkdtempSync(join(tmpdir(), 'deployer-home-')) },
    });
    expect(r.status).to.equal(1);
    expect(r.stdout + r.stderr).to.contain('--webhook-secret');
    expect(r.stdout + r.stderr).to.contain('Operator could not start');
  });
});

describe('the operator\'s identity without a ServiceAccount token', () => {
  it('keeps asking (SelfSubjectReview) in the background until it is known, and says so', async () => {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: 'https://127.0.0.1:1', skipTLSVerify: true }],
      users: [{ name: 'person', token: 'opaque-token' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'person' }],
      currentContext: 'x',
    });
    let calls = 0;
    const apiserver = {
      create: async (): Promise<unknown> => {
        calls++;
        if (calls < 3) throw new Error('connection reset');
        return { status: { userInfo: { username: 'alice' } } };
      },
    } as unknown as RawClient;
    const known: string[] = [];
    const identity = new OperatorIdentity({ kc, client: apiserver, logger: createLogger({ silent: true }), onKnown: (u) => known.push(u), retryMs: { min: 20, max: 40 } });
    await identity.start();
    expect(identity.current, 'not known after a failed first attempt').to.equal(undefined);
    expect(identity.unknownBecause).to.contain('SelfSubjectReview failed: connection reset');
    const deadline = Date.now() + 2_000;
    while (identity.current === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(identity.current).to.equal('alice');
    expect(known).to.deep.equal(['alice']);
    expect(identity.unknownBecause).to.equal(undefined);
    expect(calls).to.equal(3);
    identity.stop();
  });
});
