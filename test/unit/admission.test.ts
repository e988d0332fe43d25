import { expect } from 'chai';
import { ANNOTATIONS, LABELS } from '../../src/api/constants.js';
import { revisionOf } from '../../src/canary/revision.js';
import { decideAdmission, type AdmissionRequest, type DeploymentLike } from '../../src/webhook/admission.js';

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
