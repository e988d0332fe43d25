// Static checks of deploy/ and the Dockerfile; the apiserver's verdict is in test/cluster/deploy.test.ts.
import { expect } from 'chai';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const read = (rel: string): string => readFileSync(`${ROOT}${rel}`, 'utf8');

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function loadAll(rel: string): Obj[] {
  const docs = parseAllDocuments(read(rel));
  if (!Array.isArray(docs)) return [];
  return docs.map((d) => {
    expect(d.errors, `${rel}: ${d.errors.map((e) => e.message).join('; ')}`).to.deep.equal([]);
    return d.toJS() as Obj;
  }).filter((o) => o !== null);
}

const kustomization = loadAll('deploy/kustomization.yaml')[0] as Obj;
const resources = (kustomization.resources as string[]).flatMap((r) => loadAll(`deploy/${r}`));
const find = (kind: string, name: string): Obj => {
  const obj = resources.find((o) => o.kind === kind && o.metadata?.name === name);
  expect(obj, `${kind} ${name} in deploy/`).to.not.equal(undefined);
  return obj as Obj;
};

describe('deploy/ manifests', () => {
  it('keeps deploy/crds/ identical to crds/ (run deploy/sync-crds.sh)', () => {
    const source = readdirSync(`${ROOT}crds`).filter((f) => f.endsWith('.yaml')).sort();
    const copies = readdirSync(`${ROOT}deploy/crds`).filter((f) => f.endsWith('.yaml')).sort();
    expect(copies, 'deploy/crds/ files (run deploy/sync-crds.sh)').to.deep.equal(source);
    for (const f of source) expect(read(`deploy/crds/${f}`), `deploy/crds/${f} is stale: run deploy/sync-crds.sh`).to.equal(read(`crds/${f}`));
  });

  it('lists every CRD and puts everything in deployer-system', () => {
    expect(kustomization.namespace).to.equal('deployer-system');
    for (const f of readdirSync(`${ROOT}crds`)) expect(kustomization.resources).to.include(`crds/${f}`);
    for (const r of kustomization.resources as string[]) expect(existsSync(`${ROOT}deploy/${r}`), r).to.equal(true);
  });

  it('grants the ClusterRole only what the operator uses', () => {
    const rules = find('ClusterRole', 'deployer').rules as Obj[];
    const verbs = (group: string, resource: string, names?: string[]): string[] =>
      rules
        .filter((r) => r.apiGroups.includes(group) && r.resources.includes(resource) && JSON.stringify(r.resourceNames) === JSON.stringify(names))
        .flatMap((r) => r.verbs as string[])
        .sort();
    expect(verbs('deployer.dev', 'canaries')).to.deep.equal(['get', 'list', 'patch', 'update', 'watch']);
    expect(verbs('deployer.dev', 'canaries/status')).to.deep.equal(['get', 'patch', 'update']);
    expect(verbs('deployer.dev', 'canaries/finalizers')).to.deep.equal(['update']);
    expect(verbs('apps', 'deployments')).to.deep.equal(['get', 'list', 'patch', 'update', 'watch']);
    expect(verbs('apps', 'replicasets')).to.deep.equal(['create', 'delete', 'get', 'list', 'patch', 'update', 'watch']);
    expect(verbs('', 'secrets')).to.deep.equal(['get']);
    expect(verbs('', 'events')).to.deep.equal(['create', 'patch']);
    expect(verbs('events.k8s.io', 'events')).to.deep.equal(['create', 'patch']);
    expect(verbs('admissionregistration.k8s.io', 'mutatingwebhookconfigurations')).to.deep.equal(['create', 'get', 'list', 'watch']);
    expect(verbs('admissionregistration.k8s.io', 'mutatingwebhookconfigurations', ['deployer'])).to.deep.equal(['patch', 'update']);
    for (const r of rules) expect(r.verbs).to.not.include('*');
  });

  it('explains every RBAC rule with a comment', () => {
    const lines = read('deploy/rbac.yaml').split('\n');
    lines.forEach((line, i) => {
      if (/^\s+- apiGroups:/.test(line)) expect(lines[i - 1] ?? '', `comment above rbac.yaml line ${i + 1}`).to.match(/^\s*#/);
    });
  });

  it('grants the namespaced Role leases and secrets only', () => {
    const rules = find('Role', 'deployer').rules as Obj[];
    expect(rules.map((r) => [r.apiGroups[0], r.resources[0], [...r.verbs].sort()])).to.deep.equal([
      ['coordination.k8s.io', 'leases', ['create', 'get', 'update']],
      ['', 'secrets', ['create', 'get', 'patch', 'update']],
    ]);
    for (const b of ['ClusterRoleBinding', 'RoleBinding']) {
      expect(find(b, 'deployer').subjects).to.deep.equal([{ kind: 'ServiceAccount', name: 'deployer', namespace: 'deployer-system' }]);
    }
  });

  it('runs the operator hardened, with probes, leader election and two replicas', () => {
    const dep = find('Deployment', 'deployer');
    expect(dep.spec.replicas).to.equal(2);
    const pod = dep.spec.template.spec;
    expect(pod.serviceAccountName).to.equal('deployer');
    const c = pod.containers[0];
    expect(c.args).to.include.members(['--leader-elect', '--webhook-port=9443', '--metrics-port=8080', '--health-port=8081']);
    expect(c.securityContext).to.deep.include({ runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
    expect(c.securityContext.capabilities.drop).to.deep.equal(['ALL']);
    expect(c.securityContext.seccompProfile.type).to.equal('RuntimeDefault');
    expect(c.livenessProbe.httpGet.path).to.equal('/healthz');
    expect(c.readinessProbe.httpGet.path).to.equal('/readyz');
    const ports = Object.fromEntries((c.ports as Obj[]).map((p) => [p.name, p.containerPort]));
    expect(ports).to.deep.equal({ webhook: 9443, metrics: 8080, health: 8081 });
    expect(c.env.map((e: Obj) => e.name)).to.deep.equal(['POD_NAME', 'POD_NAMESPACE']);
    expect(find('PodDisruptionBudget', 'deployer').spec.minAvailable).to.equal(1);
  });

  it('routes the services to the operator pods', () => {
    const labels = find('Deployment', 'deployer').spec.template.metadata.labels as Record<string, string>;
    for (const [name, port, target] of [['deployer-metrics', 8080, 'metrics'], ['deployer-webhook', 443, 'webhook']] as const) {
      const svc = find('Service', name);
      for (const [k, v] of Object.entries(svc.spec.selector as Record<string, string>)) expect(labels[k], `${name} selector ${k}`).to.equal(v);
      expect(svc.spec.ports[0]).to.include({ port, targetPort: target });
    }
  });

  it('gates guarded Deployments with a fail-closed mutating webhook', () => {
    const cfg = find('MutatingWebhookConfiguration', 'deployer');
    expect(cfg.webhooks).to.have.length(1);
    const w = cfg.webhooks[0];
    expect(w).to.deep.include({
      name: 'deployments.deployer.dev',
      failurePolicy: 'Fail',
      sideEffects: 'None',
      timeoutSeconds: 5,
      reinvocationPolicy: 'IfNeeded',
      matchPolicy: 'Equivalent',
    });
    expect(w.admissionReviewVersions).to.deep.equal(['v1']);
    expect(w.clientConfig.service).to.deep.include({ namespace: 'deployer-system', name: 'deployer-webhook', path: '/mutate-deployments' });
    expect(w.clientConfig.caBundle).to.equal(undefined);
    expect(w.rules).to.deep.equal([{ apiGroups: ['apps'], apiVersions: ['v1'], resources: ['deployments'], operations: ['CREATE', 'UPDATE'], scope: 'Namespaced' }]);
    expect(w.objectSelector).to.deep.equal({ matchExpressions: [{ key: 'deployer.dev/canary', operator: 'Exists' }] });
  });
});

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');
  const instructions = dockerfile.split('\n').filter((l) => /^[A-Z]+\s/.test(l));

  it('copies only paths that exist and are not excluded by .dockerignore', () => {
    const ignored = read('.dockerignore').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    const copies = instructions.filter((l) => l.startsWith('COPY ') && !l.includes('--from='));
    expect(copies.length).to.be.greaterThan(0);
    for (const line of copies) {
      const sources = line.split(/\s+/).slice(1, -1);
      for (const src of sources) {
        expect(existsSync(`${ROOT}${src}`), `Dockerfile copies ${src}, which does not exist`).to.equal(true);
        expect(ignored, `${src} is excluded by .dockerignore`).to.not.include(src);
      }
    }
  });

  it('builds with npm ci and npm run build, runs as non-root', () => {
    expect(instructions.filter((l) => l.startsWith('FROM '))).to.have.length(2);
    expect(dockerfile).to.match(/RUN npm ci\n/);
    expect(dockerfile).to.include('RUN npm run build');
    expect(dockerfile).to.include('--omit=dev');
    expect(instructions.filter((l) => l.startsWith('USER '))).to.deep.equal(['USER 65532:65532']);
  });

  it('starts the compiled operator entry that the project runs from source', () => {
    const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
    const source = /tsx\s+(\S+\.ts)/.exec(pkg.scripts.start ?? '')?.[1];
    expect(source, 'npm start runs the operator with tsx').to.equal('src/main.ts');
    expect(existsSync(`${ROOT}${source}`), `${source} exists`).to.equal(true);
    const tsconfig = JSON.parse(read('tsconfig.json')) as { compilerOptions: { outDir: string; rootDir: string } };
    expect(tsconfig.compilerOptions.rootDir).to.equal('.');
    const compiled = `${tsconfig.compilerOptions.outDir}/${(source ?? '').replace(/\.ts$/, '.js')}`;
    const entry = instructions.find((l) => l.startsWith('ENTRYPOINT '));
    expect(JSON.parse((entry ?? '').slice('ENTRYPOINT '.length))).to.deep.equal(['node', compiled]);
  });

  it('ships crds/ beside dist/, where src/api/validate.ts finds the schema', () => {
    expect(dockerfile).to.match(/^COPY crds \.\/crds$/m);
    expect(dockerfile).to.match(/^WORKDIR \/app$/m);
  });
});
