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
    const d = decideAdmission(req(deployment('web:2.0.0', { labels: {}, annotations: {} }), deployment('web:1.0.0'), 'operator'), 'operator');
    expect(d.patch).to.deep.equal([]);
  });

  it('warns the client that the revision is held', () => {
    const d = decideAdmission(req(deployment('web:2.0.0'), deployment('web:1.0.0')), 'operator');
    expect(d.warnings[0]).to.contain('held (paused) for canary analysis');
  });
});
