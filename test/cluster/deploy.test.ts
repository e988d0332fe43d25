// The kustomize base as the API server sees it: kubectl apply -k deploy/ --dry-run=server.
import { expect } from 'chai';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { ensureCluster, kubectl } from '../support/cluster.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

describe('deploy/ kustomize base', function () {
  let createdNamespace = false;

  before(async function () {
    await ensureCluster();
    const crds = await kubectl(['apply', '--server-side', '--force-conflicts', '-f', `${ROOT}crds`]);
    expect(crds.code, crds.stderr).to.equal(0);
    // A server-side dry run does not create the namespace, so the namespaced objects need it to exist.
    if ((await kubectl(['get', 'namespace', 'deployer-system'])).code !== 0) {
      const r = await kubectl(['create', 'namespace', 'deployer-system']);
      expect(r.code, r.stderr).to.equal(0);
      createdNamespace = true;
    }
  });

  after(async () => {
    // Wait until it is gone: later suites install the operator's RBAC into this namespace.
    if (createdNamespace) await kubectl(['delete', 'namespace', 'deployer-system', '--wait=true', '--timeout=120s']);
  });

  it('is accepted by the API server (apply -k --dry-run=server)', async () => {
    const rendered = await kubectl(['kustomize', `${ROOT}deploy`]);
    expect(rendered.code, rendered.stderr).to.equal(0);
    const docs = parseAllDocuments(rendered.stdout);
    const objects = (Array.isArray(docs) ? docs : []).map((d) => d.toJS() as { kind: string; metadata: { name: string; namespace?: string } });
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`)).to.include.members([
      'Namespace/deployer-system',
      'CustomResourceDefinition/canaries.deployer.dev',
      'ServiceAccount/deployer',
      'ClusterRole/deployer',
      'ClusterRoleBinding/deployer',
      'Role/deployer',
      'RoleBinding/deployer',
      'Deployment/deployer',
      'Service/deployer-metrics',
      'Service/deployer-webhook',
      'PodDisruptionBudget/deployer',
      'MutatingWebhookConfiguration/deployer',
    ]);
    for (const o of objects) {
      if (!['Namespace', 'CustomResourceDefinition', 'ClusterRole', 'ClusterRoleBinding', 'MutatingWebhookConfiguration'].includes(o.kind)) {
        expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).to.equal('deployer-system');
      }
    }

    // Operators run out of cluster by other tests register a "deployer" webhook with a url instead
    // of a Service; no operator runs now, so drop that leftover and dry-run the base as written.
    const del = await kubectl(['delete', 'mutatingwebhookconfiguration', 'deployer', '--ignore-not-found']);
    expect(del.code, del.stderr).to.equal(0);
    const r = await kubectl(['apply', '-k', `${ROOT}deploy`, '--dry-run=server']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/deployment.apps\/deployer (created|configured|unchanged) \(server dry run\)/);
    expect(r.stdout).to.match(/mutatingwebhookconfiguration.admissionregistration.k8s.io\/deployer (created|configured|unchanged) \(server dry run\)/);
  });
});
