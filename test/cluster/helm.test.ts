// The Helm chart (deploy/helm/deployer) with the real helm (test/tools/build-helm.sh): lint, the
// same objects as the kustomize base deploy/ for the default values, accepted by the API server,
// and a release installed, upgraded and uninstalled on the local control plane.
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { RawClient } from '../../src/kube/raw-client.js';
import { ensureWebhookConfiguration, notTheOperator } from '../../src/webhook/configuration.js';
import { clusterCaPem, deleteNamespace, ensureCluster, eventually, kubectl, kubectlJson, loadKubeConfig, uniqueNamespace } from '../support/cluster.js';
import { ensureHelm, helm } from '../support/helm.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHART = `${ROOT}deploy/helm/deployer`;

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function parseObjects(text: string): Obj[] {
  const docs = parseAllDocuments(text);
  return (Array.isArray(docs) ? docs : [])
    .map((d) => {
      expect(d.errors.map((e) => e.message)).to.deep.equal([]);
      return d.toJS() as Obj;
    })
    .filter((o) => o !== null && typeof o === 'object');
}
const key = (o: Obj): string => `${o.kind}/${o.metadata?.namespace ?? ''}/${o.metadata?.name}`;

/** Labels Helm's conventions add to every object; the kustomize base has no release to name. */
const HELM_LABELS = ['helm.sh/chart', 'app.kubernetes.io/managed-by', 'app.kubernetes.io/instance', 'app.kubernetes.io/version'];
function withoutHelmLabels(o: Obj): Obj {
  const copy = structuredClone(o);
  for (const l of HELM_LABELS) delete copy.metadata?.labels?.[l];
  return copy;
}

async function render(release: string, namespace: string, extra: string[] = []): Promise<Obj[]> {
  const r = await helm(['template', release, CHART, '--namespace', namespace, ...extra]);
  expect(r.code, r.stderr).to.equal(0);
  return parseObjects(r.stdout);
}

describe('Helm chart deploy/helm/deployer', function () {
  const tmp = mkdtempSync(join(tmpdir(), 'deployer-helm-test-'));
  const valuesFile = (name: string, values: Obj): string => {
    const f = join(tmp, `${name}.yaml`);
    writeFileSync(f, JSON.stringify(values)); // JSON is YAML
    return f;
  };

  before(async function () {
    this.timeout(0); // a cold cache builds helm first
    await ensureHelm();
    await ensureCluster();
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('passes helm lint --strict, with the default values and with every value set', async () => {
    const all = valuesFile('lint', {
      image: { repository: 'registry.example/deployer', tag: '0.1.0-rc.1', pullPolicy: 'Always' },
      imagePullSecrets: [{ name: 'pull' }],
      replicas: 3,
      watchNamespaces: ['shop', 'billing'],
      webhook: { failurePolicy: 'Ignore' },
      logLevel: 'debug',
      commonLabels: { team: 'platform' },
      commonAnnotations: { 'example.com/owner': 'platform' },
      podLabels: { tier: 'control' },
      podAnnotations: { 'example.com/scrape': 'true' },
      nodeSelector: { 'kubernetes.io/os': 'linux' },
      tolerations: [{ key: 'dedicated', operator: 'Exists', effect: 'NoSchedule' }],
      priorityClassName: 'system-cluster-critical',
    });
    for (const args of [[], ['-f', all]]) {
      const r = await helm(['lint', '--strict', CHART, ...args]);
      expect(r.code, `helm lint ${args.join(' ')}\n${r.stdout}${r.stderr}`).to.equal(0);
      expect(r.stdout).to.match(/1 chart\(s\) linted, 0 chart\(s\) failed/);
    }
  });

  it('renders the kustomize base\'s objects for the default values (CRDs as in crds/, RBAC, flags, webhooks: no drift)', async () => {
    const chart = await render('deployer', 'deployer-system', ['--include-crds']);
    const k = await kubectl(['kustomize', `${ROOT}deploy`]);
    expect(k.code, k.stderr).to.equal(0);
    const base = parseObjects(k.stdout);

    // CRDs: the chart's crds/ holds crds/ itself (Helm installs them as they are).
    const sourceCrds = readdirSync(`${ROOT}crds`).filter((f) => f.endsWith('.yaml')).sort().flatMap((f) => parseObjects(readFileSync(`${ROOT}crds/${f}`, 'utf8')));
    expect(chart.filter((o) => o.kind === 'CustomResourceDefinition'), 'CRDs identical to crds/ (run deploy/sync-crds.sh)').to.deep.equal(sourceCrds);

    // Everything else: the same objects, equal but for Helm's labels. The release namespace is made
    // by `helm install --create-namespace` (or beforehand), not by the chart.
    const chartObjects = new Map(chart.filter((o) => o.kind !== 'CustomResourceDefinition').map((o) => [key(o), withoutHelmLabels(o)]));
    const baseObjects = new Map(base.filter((o) => !['CustomResourceDefinition', 'Namespace'].includes(o.kind as string)).map((o) => [key(o), o]));
    expect([...chartObjects.keys()].sort(), 'the same objects').to.deep.equal([...baseObjects.keys()].sort());
    for (const [k, o] of baseObjects) expect(chartObjects.get(k), `${k} differs between the chart and deploy/`).to.deep.equal(o);
    for (const o of chart.filter((x) => x.kind !== 'CustomResourceDefinition')) {
      expect(o.metadata.labels, key(o)).to.include({ 'app.kubernetes.io/managed-by': 'Helm', 'app.kubernetes.io/instance': 'deployer' });
    }
  });

  it('turns the values into the operator\'s flags, the webhooks\' selector and policy, and names of its own', async () => {
    const objects = await render('shop-ops', 'ops', [
      '-f',
      valuesFile('values', {
        image: { repository: 'registry.example/deployer', tag: '1.2.3' },
        replicas: 3,
        watchNamespaces: ['shop', 'billing'],
        webhook: { failurePolicy: 'Ignore' },
        logLevel: 'debug',
        // Values merge into the defaults; null drops a default (here the limits).
        resources: { requests: { cpu: '100m', memory: '256Mi' }, limits: null },
        commonLabels: { team: 'platform' },
        commonAnnotations: { 'example.com/owner': 'platform' },
        podLabels: { tier: 'control' },
      }),
    ]);
    const get = (kind: string): Obj => {
      const o = objects.find((x) => x.kind === kind);
      expect(o, kind).to.not.equal(undefined);
      return o as Obj;
    };
    const dep = get('Deployment');
    expect(dep.metadata).to.deep.include({ name: 'shop-ops-deployer', namespace: 'ops' });
    expect(dep.spec.replicas).to.equal(3);
    const c = dep.spec.template.spec.containers[0];
    expect(c.image).to.equal('registry.example/deployer:1.2.3');
    expect(c.resources).to.deep.equal({ requests: { cpu: '100m', memory: '256Mi' } });
    expect(c.args).to.deep.equal([
      '--leader-elect',
      '--webhook-service=ops/shop-ops-deployer-webhook',
      '--webhook-secret=ops/shop-ops-deployer-webhook-tls',
      '--webhook-port=9443',
      '--metrics-port=8080',
      '--health-port=8081',
      '--webhook-configuration-name=shop-ops-deployer',
      '--namespaces=billing,shop',
      '--webhook-failure-policy=Ignore',
      '--log-level=debug',
    ]);
    expect(dep.spec.template.metadata.labels).to.deep.equal({ 'app.kubernetes.io/name': 'deployer', 'app.kubernetes.io/component': 'operator', tier: 'control' });
    expect(dep.spec.selector.matchLabels).to.deep.equal({ 'app.kubernetes.io/name': 'deployer', 'app.kubernetes.io/component': 'operator' });
    for (const o of objects) {
      expect(o.metadata.labels, key(o)).to.include({ team: 'platform' });
      expect(o.metadata.annotations, key(o)).to.deep.equal({ 'example.com/owner': 'platform' });
    }
    expect(get('ClusterRole').rules.find((r: Obj) => r.resourceNames).resourceNames).to.deep.equal(['shop-ops-deployer']);
    expect(get('ClusterRoleBinding').subjects).to.deep.equal([{ kind: 'ServiceAccount', name: 'shop-ops-deployer', namespace: 'ops' }]);
    for (const kind of ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']) {
      const cfg = get(kind);
      expect(cfg.metadata.name).to.equal('shop-ops-deployer');
      const w = cfg.webhooks[0];
      expect(w.failurePolicy, kind).to.equal('Ignore');
      expect(w.clientConfig.service, kind).to.deep.include({ namespace: 'ops', name: 'shop-ops-deployer-webhook' });
      // The selector and the exemption the operator applies itself (src/webhook/configuration.ts).
      expect(w.namespaceSelector, kind).to.deep.equal({ matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['billing', 'shop'] }] });
      expect(w.matchConditions[0], kind).to.deep.equal({ name: 'not-the-operator', expression: notTheOperator('system:serviceaccount:ops:shop-ops-deployer') });
    }
  });

  it('refuses values the operator cannot honour (schema), and notification sinks until the operator has them', async () => {
    for (const [name, values, error] of [
      ['policy', { webhook: { failurePolicy: 'Sometimes' } }, /failurePolicy/],
      ['level', { logLevel: 'verbose' }, /logLevel/],
      ['typo', { replica: 3 }, /replica/],
      ['sinks', { notifications: { slack: { channel: '#deploys' } } }, /notifications/],
    ] as const) {
      const r = await helm(['template', 'deployer', CHART, '-f', valuesFile(name, values)]);
      expect(r.code, `${name}: ${r.stdout}`).to.not.equal(0);
      expect(r.stderr, name).to.match(error);
    }
  });

  it('renders manifests the API server accepts (helm template | kubectl apply --dry-run=server)', async () => {
    const ns = await uniqueNamespace('helm-dry-run');
    try {
      const release = `deployer-${ns.slice(-8)}`;
      const r = await helm(['template', release, CHART, '--namespace', ns, '--include-crds']);
      expect(r.code, r.stderr).to.equal(0);
      const applied = await kubectl(['apply', '--dry-run=server', '-f', '-'], { input: r.stdout });
      expect(applied.code, applied.stderr).to.equal(0);
      for (const kind of ['deployment.apps', 'clusterrole.rbac.authorization.k8s.io', 'mutatingwebhookconfiguration.admissionregistration.k8s.io', 'validatingwebhookconfiguration.admissionregistration.k8s.io']) {
        expect(applied.stdout).to.match(new RegExp(`${kind.replace(/\./g, '\\.')}/${release} (created|configured|unchanged) \\(server dry run\\)`));
      }
      expect(applied.stdout).to.match(/customresourcedefinition\.apiextensions\.k8s\.io\/canaries\.deployer\.dev (created|configured|unchanged) \(server dry run\)/);
    } finally {
      await deleteNamespace(ns);
    }
  });

  describe('a release on the local control plane', function () {
    this.timeout(300_000);
    let ns = '';
    let watched = '';
    let release = '';
    // The chart with its CRD under a group of its own: the shared control plane's
    // canaries.deployer.dev belongs to the other suites (and to other branches' CRDs), so this
    // release must neither own nor change it. Everything else is the chart as it is.
    let chart = '';
    let crd = '';
    /** Every CRD of the chart, renamed into the release's own group. */
    const crds: string[] = [];
    let installed = false;
    const caBundles: Record<string, string> = {};
    const clusterScoped = (): string[] => [
      `clusterrole/${release}`,
      `clusterrolebinding/${release}`,
      `mutatingwebhookconfiguration/${release}`,
      `validatingwebhookconfiguration/${release}`,
    ];
    const namespaced = (): string[] => [
      `deployment/${release}`,
      `serviceaccount/${release}`,
      `role/${release}`,
      `rolebinding/${release}`,
      `service/${release}-metrics`,
      `service/${release}-webhook`,
      `poddisruptionbudget/${release}`,
    ];

    before(async () => {
      ns = await uniqueNamespace('helm-release');
      // The release's webhooks see only this namespace and never refuse a request: no operator pod
      // serves them (the nodes are simulated), and other tests share the control plane.
      watched = await uniqueNamespace('helm-watched');
      const id = randomBytes(4).toString('hex');
      release = `deployer-${id}`;
      const group = `helm-${id}.deployer.test`;
      crd = `canaries.${group}`;
      chart = join(tmp, 'deployer');
      cpSync(CHART, chart, { recursive: true });
      for (const f of readdirSync(join(chart, 'crds'))) {
        const text = readFileSync(join(chart, 'crds', f), 'utf8');
        const plural = /^ {2}name: ([a-z]+)\.deployer\.dev$/m.exec(text)?.[1];
        expect(plural, `${f}: a CRD of deployer.dev`).to.be.a('string');
        crds.push(`${plural}.${group}`);
        const renamed = text.replace(/^ {2}name: [a-z]+\.deployer\.dev$/m, `  name: ${plural}.${group}`).replace(/^ {2}group: deployer\.dev$/m, `  group: ${group}`);
        expect(renamed.match(new RegExp(group.replace(/\./g, '\\.'), 'g')), `${f}: name and group renamed`).to.have.length(2);
        writeFileSync(join(chart, 'crds', f), renamed);
      }
    });
    after(async () => {
      if (installed) await helm(['uninstall', release, '--namespace', ns, '--wait']);
      await deleteNamespace(ns);
      await deleteNamespace(watched);
      for (const c of crds) await kubectl(['delete', 'crd', c, '--ignore-not-found', '--wait=false']);
    });

    it('installs: the operator Deployment ready (simulated pods), webhook configurations and CRD in place', async () => {
      const values = valuesFile('install', { watchNamespaces: [watched], webhook: { failurePolicy: 'Ignore' } });
      const r = await helm(['install', release, chart, '--namespace', ns, '-f', values, '--wait', '--timeout', '3m']);
      expect(r.code, r.stderr).to.equal(0);
      installed = true;
      expect(r.stdout).to.match(/STATUS: deployed/);

      const dep = await kubectlJson<Obj>(['get', 'deployment', release], { namespace: ns });
      expect(dep.status).to.deep.include({ replicas: 2, readyReplicas: 2, availableReplicas: 2, updatedReplicas: 2 });
      const rollout = await kubectl(['rollout', 'status', `deployment/${release}`, '--timeout=60s'], { namespace: ns });
      expect(rollout.code, rollout.stderr).to.equal(0);
      for (const kind of ['mutatingwebhookconfiguration', 'validatingwebhookconfiguration']) {
        const cfg = await kubectlJson<Obj>(['get', kind, release]);
        const w = cfg.webhooks[0];
        expect(w.failurePolicy, kind).to.equal('Ignore');
        expect(w.namespaceSelector.matchExpressions[0].values, kind).to.deep.equal([watched]);
        expect(w.clientConfig.service, kind).to.deep.include({ namespace: ns, name: `${release}-webhook` });
      }
      for (const name of [...clusterScoped(), ...namespaced().map((n) => `-n ${ns} ${n}`)]) {
        const got = await kubectl(['get', ...name.split(' '), '-o', 'name']);
        expect(got.code, `${name}: ${got.stderr}`).to.equal(0);
      }
      // Installed by helm from the chart's crds/.
      const installedCrd = await kubectlJson<Obj>(['get', 'crd', crd]);
      expect(installedCrd.status.conditions.find((c: Obj) => c.type === 'Established')?.status).to.equal('True');
      expect(installedCrd.spec.names.kind).to.equal('Canary');
    });

    it('shares the webhook configurations with the operator: its own server-side apply (as at start) meets no conflict', async () => {
      expect(installed, 'installed by the previous test').to.equal(true);
      // What a replica of this release applies at start (src/webhook/admission-component.ts), with a CA.
      await ensureWebhookConfiguration(new RawClient(loadKubeConfig()), {
        name: release,
        target: { service: { namespace: ns, name: `${release}-webhook` } },
        caPem: clusterCaPem(),
        failurePolicy: 'Ignore',
        namespaces: [watched],
        operatorUser: `system:serviceaccount:${ns}:${release}`,
      });
      for (const kind of ['mutatingwebhookconfiguration', 'validatingwebhookconfiguration']) {
        const cfg = await kubectlJson<Obj>(['get', kind, release, '--show-managed-fields']);
        expect(cfg.webhooks[0].clientConfig.caBundle, kind).to.be.a('string').and.not.equal('');
        caBundles[kind] = cfg.webhooks[0].clientConfig.caBundle as string;
        const managers = (cfg.metadata.managedFields as Obj[]).map((f) => f.manager as string);
        expect(managers, kind).to.include.members(['helm', 'deployer']);
      }
    });

    it('upgrades: more replicas and another log level reach the Deployment; the operator\'s caBundle stays', async () => {
      expect(installed, 'installed by the previous test').to.equal(true);
      const r = await helm(['upgrade', release, chart, '--namespace', ns, '--reuse-values', '--set', 'replicas=3', '--set', 'logLevel=debug', '--wait', '--timeout', '3m']);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.match(/REVISION: 2/);
      const dep = await kubectlJson<Obj>(['get', 'deployment', release], { namespace: ns });
      expect(dep.spec.replicas).to.equal(3);
      expect(dep.spec.template.spec.containers[0].args).to.include('--log-level=debug');
      expect(dep.status).to.deep.include({ replicas: 3, readyReplicas: 3, updatedReplicas: 3 });
      for (const kind of ['mutatingwebhookconfiguration', 'validatingwebhookconfiguration']) {
        const cfg = await kubectlJson<Obj>(['get', kind, release]);
        expect(cfg.webhooks[0].clientConfig.caBundle, kind).to.equal(caBundles[kind]);
      }
      const history = await helm(['history', release, '--namespace', ns, '-o', 'json']);
      expect((JSON.parse(history.stdout) as Obj[]).map((h) => h.status)).to.deep.equal(['superseded', 'deployed']);
    });

    it('changes the webhook failure policy: helm reports the operator\'s ownership of it, and --force-conflicts takes it', async () => {
      expect(installed, 'installed by the first test').to.equal(true);
      const args = ['upgrade', release, chart, '--namespace', ns, '--reuse-values', '--set', 'webhook.failurePolicy=Fail', '--wait', '--timeout', '3m'];
      const refused = await helm(args);
      expect(refused.code, refused.stdout).to.not.equal(0);
      expect(refused.stderr).to.match(/conflict with "deployer"/);
      const r = await helm([...args, '--force-conflicts']);
      expect(r.code, r.stderr).to.equal(0);
      const dep = await kubectlJson<Obj>(['get', 'deployment', release], { namespace: ns });
      expect(dep.spec.template.spec.containers[0].args.filter((a: string) => a.startsWith('--webhook-failure-policy')), 'Fail is the operator\'s default').to.deep.equal([]);
      // The restarted operator applies the new policy too, without a conflict.
      await ensureWebhookConfiguration(new RawClient(loadKubeConfig()), {
        name: release,
        target: { service: { namespace: ns, name: `${release}-webhook` } },
        caPem: clusterCaPem(),
        failurePolicy: 'Fail',
        namespaces: [watched],
        operatorUser: `system:serviceaccount:${ns}:${release}`,
      });
      for (const kind of ['mutatingwebhookconfiguration', 'validatingwebhookconfiguration']) {
        const cfg = await kubectlJson<Obj>(['get', kind, release]);
        expect(cfg.webhooks[0].failurePolicy, kind).to.equal('Fail');
        expect(cfg.webhooks[0].namespaceSelector.matchExpressions[0].values, kind).to.deep.equal([watched]);
      }
    });

    it('uninstalls: every object of the release gone, the CRD kept', async () => {
      expect(installed, 'installed by the first test').to.equal(true);
      const r = await helm(['uninstall', release, '--namespace', ns, '--wait', '--timeout', '3m']);
      expect(r.code, r.stderr).to.equal(0);
      installed = false;
      for (const name of [...clusterScoped(), ...namespaced().map((n) => `-n ${ns} ${n}`)]) {
        await eventually(async () => {
          const got = await kubectl(['get', ...name.split(' '), '--ignore-not-found', '-o', 'name']);
          expect(got.stdout.trim(), `${name} is gone`).to.equal('');
        });
      }
      const kept = await kubectl(['get', 'crd', crd, '-o', 'name']);
      expect(kept.stdout.trim(), 'Helm keeps CRDs on uninstall').to.equal(`customresourcedefinition.apiextensions.k8s.io/${crd}`);
      const list = await helm(['list', '--namespace', ns, '--all', '-q']);
      expect(list.stdout.trim()).to.equal('');
    });
  });
});
