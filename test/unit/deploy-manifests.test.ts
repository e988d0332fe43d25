// Static checks of deploy/ and the Dockerfile; the apiserver's verdict is in test/cluster/deploy.test.ts.
import { expect } from 'chai';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { CANARY_CHANGES_WHAT_IT_GUARDS, notTheOperator, VALIDATE_CANARIES_PATH, webhookConfiguration } from '../../src/webhook/configuration.js';

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

/** The operator's source (depctl, which runs as its user, left out): what the RBAC grants must be used here. */
function sourceFiles(dir: string): string[] {
  return readdirSync(`${ROOT}${dir}`, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? (e.name === 'cli' ? [] : sourceFiles(`${dir}/${e.name}`)) : e.name.endsWith('.ts') ? [`${dir}/${e.name}`] : [],
  );
}
const SOURCE = sourceFiles('src').map(read).join('\n');

interface Permission {
  scope: 'cluster' | 'install-namespace';
  group: string;
  resource: string;
  verb: string;
  names?: string[];
  why: string;
  /** Each must match somewhere in src/: the call that needs the permission. */
  evidence: RegExp[];
}
const call = (method: string, path: string): RegExp => new RegExp(`client\\.${method}(<[^(]*>)?\\(\\s*${path}`);
const request = (method: string, path: string): RegExp => new RegExp(`client\\.request(<[^(]*>)?\\(\\s*'${method}',\\s*${path}`);
const permissionKey = (p: Pick<Permission, 'scope' | 'group' | 'resource' | 'verb' | 'names'>): string =>
  `${p.scope} ${p.group || 'core'}/${p.resource} ${p.verb}${p.names?.length ? ` [${[...p.names].sort().join(',')}]` : ''}`;
const informer = (pathFn: string): RegExp => new RegExp(`path:\\s*paths\\.${pathFn}\\b`);
const cluster = (group: string, resource: string, verb: string, why: string, evidence: RegExp[], names?: string[]): Permission => ({
  scope: 'cluster',
  group,
  resource,
  verb,
  why,
  evidence,
  ...(names ? { names } : {}),
});
const installNs = (group: string, resource: string, verb: string, why: string, evidence: RegExp[]): Permission => ({ scope: 'install-namespace', group, resource, verb, why, evidence });

/** Every (group, resource, verb) the operator needs, with the code that needs it. */
const PERMISSIONS: Permission[] = [
  cluster('deployer.dev', 'canaries', 'get', 'webhook confirms a Canary is gone', [call('get', 'paths\\.canary\\(')]),
  cluster('deployer.dev', 'canaries', 'list', 'Canary informer', [informer('canaries')]),
  cluster('deployer.dev', 'canaries', 'watch', 'Canary informer', [informer('canaries')]),
  cluster('deployer.dev', 'canaries', 'patch', 'finalizer', [call('patch', 'paths\\.canary\\(')]),
  cluster('deployer.dev', 'canaries/status', 'update', 'status write', [/persistStatus\(this\.o\.client,\s*paths\.canary\([^)]*\)\s*\+\s*'\/status'/]),
  cluster('deployer.dev', 'canaries/finalizers', 'update', 'blockOwnerDeletion on canary ReplicaSets', [/blockOwnerDeletion:\s*true/]),
  cluster('deployer.dev', 'releases', 'get', 'a Release read live at the start of a pass', [call('get', 'paths\\.release\\(')]),
  cluster('deployer.dev', 'releases', 'list', 'Release informer', [informer('releases')]),
  cluster('deployer.dev', 'releases', 'watch', 'Release informer', [informer('releases')]),
  cluster('deployer.dev', 'releases/status', 'update', 'Release status write', [/persistStatus\(this\.o\.client,\s*paths\.release\([^)]*\)\s*\+\s*'\/status'/]),
  cluster('apps', 'deployments', 'get', 'live read of a target the cache lacks (not guarded yet, or confirming it is gone)', [call('get', 'paths\\.deployment\\(')]),
  cluster('apps', 'deployments', 'list', 'Deployment informer', [informer('deployments')]),
  cluster('apps', 'deployments', 'watch', 'Deployment informer', [informer('deployments')]),
  cluster('apps', 'deployments', 'patch', 'hold, release, promote, restore', [call('patch', 'paths\\.deployment\\(')]),
  cluster('apps', 'replicasets', 'list', 'ReplicaSet informer and stable template lookup', [informer('replicaSets'), call('list', 'paths\\.replicaSets\\(')]),
  cluster('apps', 'replicasets', 'watch', 'ReplicaSet informer', [informer('replicaSets')]),
  cluster('apps', 'replicasets', 'create', 'canary ReplicaSet', [call('create', 'paths\\.replicaSets\\(')]),
  cluster('apps', 'replicasets', 'patch', 'scale the canary ReplicaSet', [call('patch', 'paths\\.replicaSet\\(')]),
  cluster('apps', 'replicasets', 'delete', 'remove canary ReplicaSets', [call('delete', 'paths\\.replicaSet\\(')]),
  cluster('', 'secrets', 'get', 'Datadog credentials', [call('get', 'paths\\.secret\\(')]),
  cluster('', 'events', 'create', 'Events', [call('create', 'paths\\.events\\(')]),
  ...(['mutatingwebhookconfigurations', 'validatingwebhookconfigurations'] as const).flatMap((resource) => {
    const helper = resource.startsWith('mutating') ? 'mutating' : 'validating';
    const evidence = [new RegExp(`configurationPaths\\.${helper}\\(`), call('get', 'path\\b'), call('patch', 'path, body, PATCH\\.apply')];
    return [
      cluster('admissionregistration.k8s.io', resource, 'get', 'read the CAs already published', evidence, ['deployer']),
      cluster('admissionregistration.k8s.io', resource, 'create', 'server-side apply of a missing configuration', evidence, ['deployer']),
      cluster('admissionregistration.k8s.io', resource, 'patch', 'server-side apply of the configuration', evidence, ['deployer']),
    ];
  }),
  cluster('authorization.k8s.io', 'subjectaccessreviews', 'create', 'Canary author check', [call('create', "'/apis/authorization\\.k8s\\.io/v1/subjectaccessreviews'")]),
  installNs('coordination.k8s.io', 'leases', 'get', 'leader election', [request('GET', 'paths\\.lease\\(')]),
  installNs('coordination.k8s.io', 'leases', 'create', 'leader election', [request('POST', 'paths\\.leases\\(')]),
  installNs('coordination.k8s.io', 'leases', 'update', 'leader election', [request('PUT', 'paths\\.lease\\(')]),
  installNs('', 'secrets', 'get', 'webhook certificate', [call('get', 'paths\\.secret\\(')]),
  installNs('', 'secrets', 'create', 'webhook certificate', [call('create', 'paths\\.secrets\\(')]),
  installNs('', 'secrets', 'update', 'webhook certificate', [call('update', 'paths\\.secret\\(')]),
  cluster('deployer.dev', 'canaries/status', 'patch', 'notification delivery results', [/`\$\{kind\.path\([^`]*\)\}\/status`/]),
  cluster('deployer.dev', 'releases/status', 'patch', 'notification delivery results (Releases)', [/`\$\{kind\.path\([^`]*\)\}\/status`/, /path: paths\.release\b/]),
];
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

  it('grants the ClusterRole and the Role exactly what the code uses (each grant has evidence in src/)', () => {
    const granted: string[] = [];
    for (const [kind, scope] of [['ClusterRole', 'cluster'], ['Role', 'install-namespace']] as const) {
      for (const r of find(kind, 'deployer').rules as Obj[]) {
        expect(r.verbs, `${kind} rule ${JSON.stringify(r)}`).to.not.include('*');
        for (const group of r.apiGroups as string[]) {
          for (const resource of r.resources as string[]) {
            for (const verb of r.verbs as string[]) granted.push(permissionKey({ scope, group, resource, verb, names: r.resourceNames }));
          }
        }
      }
    }
    const needed = PERMISSIONS.map(permissionKey);
    const unused = granted.filter((g) => !needed.includes(g));
    expect(unused, 'granted in deploy/rbac.yaml, but no code in src/ needs it: drop it').to.deep.equal([]);
    const missing = needed.filter((n) => !granted.includes(n));
    expect(missing, 'needed by src/ but not granted in deploy/rbac.yaml').to.deep.equal([]);
    const noEvidence = PERMISSIONS.filter((p) => !p.evidence.every((re) => re.test(SOURCE))).map((p) => `${permissionKey(p)} (${p.why})`);
    expect(noEvidence, 'the code no longer does this: drop the permission from the table and from deploy/rbac.yaml').to.deep.equal([]);
  });

  it('explains every RBAC rule with a comment', () => {
    const lines = read('deploy/rbac.yaml').split('\n');
    lines.forEach((line, i) => {
      if (/^\s+- apiGroups:/.test(line)) expect(lines[i - 1] ?? '', `comment above rbac.yaml line ${i + 1}`).to.match(/^\s*#/);
    });
  });

  it('binds the roles to the operator\'s ServiceAccount only', () => {
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

  it('exempts only the operator\'s own writes (its ServiceAccount and field manager) from both webhooks', () => {
    for (const kind of ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']) {
      const w = find(kind, 'deployer').webhooks[0];
      expect(w.matchConditions[0], kind).to.deep.equal({ name: 'not-the-operator', expression: notTheOperator('system:serviceaccount:deployer-system:deployer') });
    }
    const sa = find('ServiceAccount', 'deployer');
    expect(`system:serviceaccount:${kustomization.namespace}:${sa.metadata.name}`).to.equal('system:serviceaccount:deployer-system:deployer');
  });

  it('checks Canary authors with a fail-closed validating webhook on the same Service', () => {
    const w = find('ValidatingWebhookConfiguration', 'deployer').webhooks[0];
    expect(w).to.deep.include({ name: 'canaries.deployer.dev', failurePolicy: 'Fail', sideEffects: 'None', timeoutSeconds: 5 });
    expect(w.clientConfig.service).to.deep.include({ namespace: 'deployer-system', name: 'deployer-webhook', path: VALIDATE_CANARIES_PATH });
    expect(w.rules).to.deep.equal([{ apiGroups: ['deployer.dev'], apiVersions: ['*'], resources: ['canaries'], operations: ['CREATE', 'UPDATE'], scope: 'Namespaced' }]);
    expect(w.matchConditions.slice(1), 'the same conditions the operator applies').to.deep.equal([...CANARY_CHANGES_WHAT_IT_GUARDS]);
    const args = find('Deployment', 'deployer').spec.template.spec.containers[0].args as string[];
    expect(args.some((a) => a.startsWith('--webhook-secret=')), 'replicas share one certificate').to.equal(true);
  });

  it('gates guarded Deployments with a fail-closed mutating webhook', () => {
    const cfg = find('MutatingWebhookConfiguration', 'deployer');
    expect(cfg.webhooks).to.have.length(2);
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

  it('sends creates of unlabelled Deployments too (a guarded one re-created), without ever refusing them', () => {
    const w = find('MutatingWebhookConfiguration', 'deployer').webhooks[1];
    const operatorUser = 'system:serviceaccount:deployer-system:deployer';
    const built = (webhookConfiguration({ name: 'deployer', target: { service: { namespace: 'deployer-system', name: 'deployer-webhook' } }, caPem: 'ca', operatorUser }) as { webhooks: Array<Record<string, unknown>> }).webhooks[1]!;
    const { clientConfig: _c, ...published } = built;
    const { clientConfig, ...declared } = w;
    expect(declared, 'the same entry the operator publishes').to.deep.equal(published);
    expect(declared).to.deep.include({ name: 'recreated-deployments.deployer.dev', failurePolicy: 'Ignore' });
    expect(clientConfig.service).to.deep.include({ namespace: 'deployer-system', name: 'deployer-webhook', path: '/mutate-deployments' });
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

  it("caps V8's young generation, which otherwise stays committed after a burst (test/bench/memory-profile.ts)", () => {
    expect(instructions).to.include('ENV NODE_OPTIONS=--max-semi-space-size=8');
    const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
    expect(pkg.scripts.start).to.include('--max-semi-space-size=8');
  });

  it('ships crds/ beside dist/, where src/api/validate.ts finds the schema', () => {
    expect(dockerfile).to.match(/^COPY crds \.\/crds$/m);
    expect(dockerfile).to.match(/^WORKDIR \/app$/m);
  });
});
