// The kustomize base as the API server sees it: kubectl apply -k deploy/ --dry-run=server, also
// while and after an operator runs outside the cluster (it keeps configurations of its own).
import { KubeConfig } from '@kubernetes/client-node';
import { expect } from 'chai';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { startOperator } from '../../src/operator.js';
import { createLogger } from '../../src/runtime/logger.js';
import { WEBHOOK_CONFIGURATION_NAME } from '../../src/webhook/configuration.js';
import { ensureCluster, kubectl, uniqueNamespace } from '../support/cluster.js';

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
      'ValidatingWebhookConfiguration/deployer',
    ]);
    for (const o of objects) {
      if (!['Namespace', 'CustomResourceDefinition', 'ClusterRole', 'ClusterRoleBinding', 'MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration'].includes(o.kind)) {
        expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).to.equal('deployer-system');
      }
    }

    await dropServiceAccountScenarioLeftovers();
    const r = await kubectl(['apply', '-k', `${ROOT}deploy`, '--dry-run=server']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/deployment.apps\/deployer (created|configured|unchanged) \(server dry run\)/);
    expect(r.stdout).to.match(/mutatingwebhookconfiguration.admissionregistration.k8s.io\/deployer (created|configured|unchanged) \(server dry run\)/);
    expect(r.stdout).to.match(/validatingwebhookconfiguration.admissionregistration.k8s.io\/deployer (created|configured|unchanged) \(server dry run\)/);
  });

  it('is still accepted while and after an operator runs outside the cluster (it never writes the install\'s configurations)', async () => {
    await dropServiceAccountScenarioLeftovers();
    const before = await configurations(WEBHOOK_CONFIGURATION_NAME);
    const ns = await uniqueNamespace('deploy-local');
    const kc = new KubeConfig();
    kc.loadFromFile(process.env.KUBECONFIG!);
    const op = await startOperator({ kubeconfig: kc, namespaces: [ns], webhook: { port: 0, target: { urlFromPort: '127.0.0.1' } }, logger: createLogger({ silent: true }) });
    try {
      const local = (await kubectl(['get', 'mutatingwebhookconfigurations,validatingwebhookconfigurations', '-o', 'name'])).stdout;
      expect(local).to.match(/mutatingwebhookconfiguration.admissionregistration.k8s.io\/deployer-local-[0-9a-f]{10}/);
      expect(local).to.match(/validatingwebhookconfiguration.admissionregistration.k8s.io\/deployer-local-[0-9a-f]{10}/);
      expect(await configurations(WEBHOOK_CONFIGURATION_NAME), 'the install\'s configurations are untouched').to.deep.equal(before);
      const during = await kubectl(['apply', '-k', `${ROOT}deploy`, '--dry-run=server']);
      expect(during.code, during.stderr).to.equal(0);
    } finally {
      await op.stop();
      await kubectl(['delete', 'namespace', ns, '--wait=false']);
    }
    const after = await kubectl(['apply', '-k', `${ROOT}deploy`, '--dry-run=server']);
    expect(after.code, after.stderr).to.equal(0);
    expect(await configurations(WEBHOOK_CONFIGURATION_NAME)).to.deep.equal(before);
  });
});

describe('examples/namespaced-install: the operator bound to some namespaces only', function () {
  const created: string[] = [];
  type Rule = { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] };
  type Obj = { kind: string; metadata: { name: string; namespace?: string }; rules?: Rule[]; roleRef?: { name: string }; spec?: any; webhooks?: any[] }; // eslint-disable-line @typescript-eslint/no-explicit-any

  before(async function () {
    await ensureCluster();
    const crds = await kubectl(['apply', '--server-side', '--force-conflicts', '-f', `${ROOT}crds`]);
    expect(crds.code, crds.stderr).to.equal(0);
    // A server-side dry run creates no namespace: the install's and the watched one must exist.
    for (const ns of ['deployer-system', 'shop']) {
      if ((await kubectl(['get', 'namespace', ns])).code === 0) continue;
      const r = await kubectl(['create', 'namespace', ns]);
      expect(r.code, r.stderr).to.equal(0);
      created.push(ns);
    }
  });
  after(async () => {
    for (const ns of created) await kubectl(['delete', 'namespace', ns, '--wait=true', '--timeout=120s']);
  });

  it('grants the deployer ClusterRole per namespace, keeps only cluster-scoped rights cluster-wide, and is accepted by the API server', async () => {
    const rendered = await kubectl(['kustomize', `${ROOT}examples/namespaced-install`]);
    expect(rendered.code, rendered.stderr).to.equal(0);
    const docs = parseAllDocuments(rendered.stdout);
    const objects = (Array.isArray(docs) ? docs : []).map((d) => d.toJS() as Obj);
    const get = (kind: string, name: string, namespace?: string): Obj | undefined =>
      objects.find((o) => o.kind === kind && o.metadata.name === name && (namespace === undefined || o.metadata.namespace === namespace));
    expect(get('ClusterRoleBinding', 'deployer'), 'no cluster-wide binding of the deployer ClusterRole').to.equal(undefined);
    expect(get('RoleBinding', 'deployer', 'shop')?.roleRef?.name).to.equal('deployer');
    const bindings = objects.filter((o) => o.kind === 'ClusterRoleBinding').map((o) => o.roleRef?.name);
    expect(bindings).to.deep.equal(['deployer-cluster']);
    const wide = get('ClusterRole', 'deployer')!.rules!;
    for (const r of get('ClusterRole', 'deployer-cluster')!.rules!) {
      expect(r.apiGroups.every((g) => ['admissionregistration.k8s.io', 'authorization.k8s.io'].includes(g)), JSON.stringify(r)).to.equal(true);
      expect(wide, 'a subset of deploy/rbac.yaml').to.deep.include(r);
    }
    const args = get('Deployment', 'deployer')!.spec.template.spec.containers[0].args as string[];
    expect(args).to.include('--namespaces=shop');
    for (const kind of ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']) {
      expect(get(kind, 'deployer')!.webhooks![0].namespaceSelector, kind).to.deep.equal({ matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['shop'] }] });
    }
    await dropServiceAccountScenarioLeftovers();
    const r = await kubectl(['apply', '-k', `${ROOT}examples/namespaced-install`, '--dry-run=server']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/rolebinding.rbac.authorization.k8s.io\/deployer (created|configured|unchanged) \(server dry run\)/);
  });
});

/** resourceVersions of both configurations with this name ('' when absent). */
async function configurations(name: string): Promise<string[]> {
  const out: string[] = [];
  for (const kind of ['mutatingwebhookconfiguration', 'validatingwebhookconfiguration']) {
    const r = await kubectl(['get', kind, name, '--ignore-not-found', '-o', 'jsonpath={.metadata.resourceVersion}']);
    out.push(r.stdout.trim());
  }
  return out;
}

/**
 * The ServiceAccount scenario (test/integration/operator.test.ts) runs an operator outside the
 * cluster under the install's name, since its RBAC allows only that name, and its ServiceAccount
 * may not delete it afterwards: drop such a url-based leftover. A Service-based one stays.
 */
async function dropServiceAccountScenarioLeftovers(): Promise<void> {
  for (const kind of ['mutatingwebhookconfiguration', 'validatingwebhookconfiguration']) {
    const r = await kubectl(['get', kind, WEBHOOK_CONFIGURATION_NAME, '--ignore-not-found', '-o', 'jsonpath={.webhooks[*].clientConfig.url}']);
    if (r.stdout.trim()) {
      const del = await kubectl(['delete', kind, WEBHOOK_CONFIGURATION_NAME, '--ignore-not-found']);
      expect(del.code, del.stderr).to.equal(0);
    }
  }
}
