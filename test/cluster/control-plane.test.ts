// The local control plane itself (test/cluster/up.sh): what the operator's tests rely on,
// checked with the real kubectl against the real kube-apiserver.
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { generateCertificates } from '../../src/webhook/certs.js';
import {
  NOT_READY_LABEL,
  deleteNamespace,
  eventually,
  kubectl,
  kubectlJson,
  kubectlOk,
  loadKubeConfig,
  repoRoot,
  uniqueNamespace,
} from '../support/cluster.js';

interface Condition {
  type: string;
  status: string;
}
interface Pod {
  metadata: { name: string; labels?: Record<string, string> };
  spec: { containers: Array<{ image: string }> };
  status: { phase?: string; conditions?: Condition[] };
}
interface ReplicaSet {
  metadata: { name: string; annotations?: Record<string, string> };
  spec: { replicas?: number };
  status: { replicas?: number; readyReplicas?: number };
}
interface List<T> {
  items: T[];
}

const conditionStatus = (conditions: Condition[] | undefined, type: string): string | undefined =>
  conditions?.find((c) => c.type === type)?.status;
const isRunningAndReady = (p: Pod): boolean =>
  p.status.phase === 'Running' && conditionStatus(p.status.conditions, 'Ready') === 'True';

describe('local control plane', function () {
  let ns = '';

  before(async () => {
    ns = await uniqueNamespace('control-plane');
  });

  after(async () => {
    if (ns) await deleteNamespace(ns);
  });

  it('has a Ready node', async () => {
    const nodes = await kubectlJson<List<{ metadata: { name: string }; status: { conditions?: Condition[] } }>>([
      'get',
      'nodes',
    ]);
    expect(nodes.items.filter((n) => conditionStatus(n.status.conditions, 'Ready') === 'True')).to.not.be.empty;
  });

  it('serves the same version as the kubectl the tests use, and client-node can read it', async () => {
    const v = JSON.parse(await kubectlOk(['version', '-o', 'json'])) as {
      clientVersion: { gitVersion: string };
      serverVersion: { gitVersion: string };
    };
    expect(v.serverVersion.gitVersion).to.match(/^v1\.\d+\.\d+$/);
    expect(v.clientVersion.gitVersion).to.equal(v.serverVersion.gitVersion);
    const kc = loadKubeConfig();
    expect(kc.getCurrentCluster()?.server).to.match(/^https:\/\/127\.0\.0\.1:\d+$/);
  });

  it('issues ServiceAccount tokens that the apiserver accepts', async () => {
    await kubectlOk(['create', 'serviceaccount', 'robot'], { namespace: ns });
    const token = (await kubectlOk(['create', 'token', 'robot', '--duration=10m'], { namespace: ns })).trim();
    expect(token.split('.')).to.have.length(3);
    // A kubeconfig with only the token (the admin one's client certificate would win).
    const kc = loadKubeConfig();
    const cluster = kc.getCurrentCluster();
    const dir = mkdtempSync(join(tmpdir(), 'deployer-token-'));
    const tokenConfig = join(dir, 'kubeconfig');
    writeFileSync(
      tokenConfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'c', cluster: { server: cluster?.server, 'certificate-authority-data': cluster?.caData } }],
        users: [{ name: 'robot', user: { token } }],
        contexts: [{ name: 'c', context: { cluster: 'c', user: 'robot' } }],
        'current-context': 'c',
      }),
    );
    const who = JSON.parse(await kubectlOk(['auth', 'whoami', '-o', 'json', `--kubeconfig=${tokenConfig}`])) as {
      status: { userInfo: { username: string } };
    };
    expect(who.status.userInfo.username).to.equal(`system:serviceaccount:${ns}:robot`);
    // RBAC is on: the new ServiceAccount may not list pods.
    const denied = await kubectl(['get', 'pods', '-n', ns, `--kubeconfig=${tokenConfig}`]);
    expect(denied.code).to.not.equal(0);
    expect(denied.stderr).to.match(/forbidden/i);
    rmSync(dir, { recursive: true, force: true });
  });

  describe('Deployments', () => {
    const pods = async (): Promise<Pod[]> => (await kubectlJson<List<Pod>>(['get', 'pods', '-l', 'app=web'], { namespace: ns })).items;
    const replicaSets = async (): Promise<ReplicaSet[]> =>
      (await kubectlJson<List<ReplicaSet>>(['get', 'replicasets', '-l', 'app=web'], { namespace: ns })).items;

    it('runs 3 replicas as 3 Running and Ready pods', async () => {
      await kubectlOk(['create', 'deployment', 'web', '--image=registry.example/web:1', '--replicas=3'], { namespace: ns });
      await kubectlOk(['rollout', 'status', 'deployment/web', '--timeout=60s'], { namespace: ns, timeoutMs: 70_000 });
      await eventually(async () => {
        const ps = await pods();
        expect(ps).to.have.length(3);
        expect(ps.every(isRunningAndReady), JSON.stringify(ps.map((p) => p.status))).to.equal(true);
      });
    });

    it('rolls a new image over through a new ReplicaSet', async () => {
      await kubectlOk(['set', 'image', 'deployment/web', 'web=registry.example/web:2'], { namespace: ns });
      await kubectlOk(['rollout', 'status', 'deployment/web', '--timeout=60s'], { namespace: ns, timeoutMs: 70_000 });
      await eventually(async () => {
        const rss = await replicaSets();
        expect(rss).to.have.length(2);
        const byRevision = (r: string): ReplicaSet | undefined =>
          rss.find((rs) => rs.metadata.annotations?.['deployment.kubernetes.io/revision'] === r);
        expect(byRevision('2')?.status.readyReplicas).to.equal(3);
        expect(byRevision('1')?.spec.replicas).to.equal(0);
        const ps = await pods();
        expect(ps).to.have.length(3);
        expect(ps.every((p) => isRunningAndReady(p) && p.spec.containers[0]?.image === 'registry.example/web:2')).to.equal(true);
      });
    });

    it('garbage-collects ReplicaSets and pods when the Deployment is deleted', async () => {
      await kubectlOk(['delete', 'deployment', 'web', '--wait=false'], { namespace: ns });
      await eventually(
        async () => {
          expect(await replicaSets()).to.be.empty;
          expect(await pods()).to.be.empty;
        },
        { timeoutMs: 45_000 },
      );
    });
  });

  it(`keeps a pod labelled ${NOT_READY_LABEL}=false Running but not Ready`, async function () {
    this.timeout(60_000);
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'stuck', labels: { [NOT_READY_LABEL]: 'false' } },
      spec: { containers: [{ name: 'app', image: 'registry.example/app:1' }] },
    };
    await kubectlOk(['create', '-f', '-'], { namespace: ns, input: JSON.stringify(pod) });
    const get = (): Promise<Pod & { status: { containerStatuses?: Array<{ ready: boolean }> } }> =>
      kubectlJson(['get', 'pod', 'stuck'], { namespace: ns });
    await eventually(async () => expect((await get()).status.phase).to.equal('Running'));
    const until = Date.now() + 5_500;
    while (Date.now() < until) {
      const p = await get();
      expect(p.status.phase).to.equal('Running');
      expect(conditionStatus(p.status.conditions, 'Ready')).to.equal('False');
      expect(conditionStatus(p.status.conditions, 'ContainersReady')).to.equal('False');
      expect(p.status.containerStatuses?.[0]?.ready).to.equal(false);
      await new Promise((r) => setTimeout(r, 500));
    }
    // Removing the label lets it become Ready.
    await kubectlOk(['label', 'pod', 'stuck', `${NOT_READY_LABEL}-`], { namespace: ns });
    await eventually(async () => expect(isRunningAndReady(await get())).to.equal(true));
  });

  describe('the Canary CRD (crds/)', () => {
    const canary = (name: string, steps: unknown[]): string =>
      JSON.stringify({
        apiVersion: 'deployer.dev/v1alpha1',
        kind: 'Canary',
        metadata: { name },
        spec: { targetRef: { name: 'web' }, steps },
      });
    interface Canary {
      metadata: { generation: number };
      spec: { paused?: boolean };
      status?: { phase?: string; canaryWeight?: number; message?: string };
    }
    const getCanary = (name: string): Promise<Canary> => kubectlJson<Canary>(['get', 'canary', name], { namespace: ns });

    before(async function () {
      this.timeout(60_000);
      await kubectlOk(['apply', '-f', join(repoRoot, 'crds')]);
      await kubectlOk(['wait', '--for=condition=Established', 'crd/canaries.deployer.dev', '--timeout=30s']);
      // Discovery may lag the Established condition for a moment.
      await eventually(async () => {
        await kubectlOk(['get', 'canaries'], { namespace: ns });
      });
    });

    it('accepts a valid Canary', async () => {
      await kubectlOk(['create', '-f', '-'], {
        namespace: ns,
        input: canary('good', [{ setWeight: 20 }, { pause: { duration: '30s' } }, { setWeight: 50 }]),
      });
      expect((await getCanary('good')).metadata.generation).to.equal(1);
    });

    it('rejects a Canary that breaks the schema, with the apiserver message', async () => {
      const r = await kubectl(['create', '-f', '-'], { namespace: ns, input: canary('bad', [{ setWeight: 150 }]) });
      expect(r.code).to.not.equal(0);
      expect(r.stderr).to.contain('The Canary "bad" is invalid');
      expect(r.stderr).to.match(/spec\.steps\[0\]\.setWeight.*should be less than or equal to 99/);
      const missing = await kubectl(['get', 'canary', 'bad'], { namespace: ns });
      expect(missing.stderr).to.match(/NotFound|not found/);
    });

    it('rejects a step with both setWeight and pause (CEL rule)', async () => {
      const r = await kubectl(['create', '-f', '-'], {
        namespace: ns,
        input: canary('both', [{ setWeight: 10, pause: {} }]),
      });
      expect(r.code).to.not.equal(0);
      expect(r.stderr).to.contain('a step must have exactly one of setWeight or pause');
    });

    it('changes status only through the status subresource', async () => {
      await kubectlOk(
        ['patch', 'canary', 'good', '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { phase: 'Progressing', canaryWeight: 20, message: 'step 1 of 3' } })],
        { namespace: ns },
      );
      let c = await getCanary('good');
      expect(c.status).to.include({ phase: 'Progressing', canaryWeight: 20, message: 'step 1 of 3' });
      expect(c.metadata.generation).to.equal(1);

      // A write to the main resource changes spec (and generation) but ignores status.
      await kubectlOk(
        ['patch', 'canary', 'good', '--type=merge', '-p', JSON.stringify({ spec: { paused: true }, status: { phase: 'Hacked', canaryWeight: 99 } })],
        { namespace: ns },
      );
      c = await getCanary('good');
      expect(c.spec.paused).to.equal(true);
      expect(c.metadata.generation).to.equal(2);
      expect(c.status).to.include({ phase: 'Progressing', canaryWeight: 20 });
    });

    it('prints its columns in kubectl get (and answers to the short name)', async () => {
      const out = await kubectlOk(['get', 'canaries'], { namespace: ns });
      const [header, row] = out.trim().split('\n');
      expect(header?.split(/\s{2,}/)).to.deep.equal(['NAME', 'TARGET', 'PHASE', 'WEIGHT', 'STEP', 'MESSAGE', 'AGE']);
      // Columns whose field is unset print empty (STEP here).
      expect(row).to.match(/^good\s+web\s+Progressing\s+20\s+step 1 of 3\s+\d+s$/);
      const wide = await kubectlOk(['get', 'can', '-o', 'wide'], { namespace: ns });
      expect(wide.split('\n')[0]).to.match(/NAME\s+TARGET\s+PHASE\s+WEIGHT\s+STEP\s+CANARY\s+STABLE\s+MESSAGE\s+AGE/);
    });
  });

  describe('admission webhooks', () => {
    const webhookName = `control-plane-test-${Math.random().toString(36).slice(2, 8)}.deployer.dev`;
    const ANNOTATION = 'webhook.test.deployer.dev/mutated';
    let server: Server | undefined;
    const seen: Array<{ kind: string; namespace: string; operation: string; user: string }> = [];
    let other = '';

    const review = (req: IncomingMessage, res: ServerResponse): void => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        const ar = JSON.parse(body) as {
          request: { uid: string; kind: { kind: string }; namespace: string; operation: string; userInfo: { username: string }; object: { metadata: { annotations?: Record<string, string> } } };
        };
        const r = ar.request;
        seen.push({ kind: r.kind.kind, namespace: r.namespace, operation: r.operation, user: r.userInfo.username });
        const patch = r.object.metadata.annotations
          ? [{ op: 'add', path: `/metadata/annotations/${ANNOTATION.replace(/~/g, '~0').replace(/\//g, '~1')}`, value: 'true' }]
          : [{ op: 'add', path: '/metadata/annotations', value: { [ANNOTATION]: 'true' } }];
        res.setHeader('Content-Type', 'application/json');
        res.end(
          JSON.stringify({
            apiVersion: 'admission.k8s.io/v1',
            kind: 'AdmissionReview',
            response: { uid: r.uid, allowed: true, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(patch)).toString('base64') },
          }),
        );
      });
    };

    before(async function () {
      this.timeout(60_000);
      other = await uniqueNamespace('control-plane-other');
      const certs = await generateCertificates({ commonName: '127.0.0.1', ipAddresses: ['127.0.0.1'], dnsNames: ['localhost'], validityDays: 1 });
      server = createServer({ cert: certs.certPem, key: certs.keyPem }, review);
      await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
      const { port } = server.address() as AddressInfo;
      const config = {
        apiVersion: 'admissionregistration.k8s.io/v1',
        kind: 'MutatingWebhookConfiguration',
        metadata: { name: webhookName },
        webhooks: [
          {
            name: webhookName,
            clientConfig: { url: `https://127.0.0.1:${port}/mutate`, caBundle: Buffer.from(certs.caCertPem).toString('base64') },
            rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['configmaps'], scope: 'Namespaced' }],
            // Only this test's namespace: the webhook must never touch anything else.
            namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } },
            objectSelector: { matchLabels: { 'test.deployer.dev/mutate': 'yes' } },
            failurePolicy: 'Fail',
            sideEffects: 'None',
            admissionReviewVersions: ['v1'],
            timeoutSeconds: 5,
          },
        ],
      };
      await kubectlOk(['create', '-f', '-'], { input: JSON.stringify(config) });
    });

    after(async function () {
      this.timeout(60_000);
      await kubectl(['delete', 'mutatingwebhookconfiguration', webhookName, '--ignore-not-found']);
      if (server) await new Promise((r) => server!.close(r));
      if (other) await deleteNamespace(other);
    });

    const configMap = (name: string, labels: Record<string, string>): string =>
      JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, labels }, data: { k: 'v' } });

    it('calls a mutating webhook served on 127.0.0.1 over TLS, and applies its patch', async () => {
      // The apiserver picks up a new webhook configuration within a moment: retry with new names.
      let n = 0;
      await eventually(
        async () => {
          const name = `mutated-${n++}`;
          await kubectlOk(['create', '-f', '-'], { namespace: ns, input: configMap(name, { 'test.deployer.dev/mutate': 'yes' }) });
          const cm = await kubectlJson<{ metadata: { annotations?: Record<string, string> } }>(['get', 'configmap', name], { namespace: ns });
          expect(cm.metadata.annotations?.[ANNOTATION]).to.equal('true');
        },
        { timeoutMs: 20_000, intervalMs: 500 },
      );
      expect(seen.at(-1)).to.include({ kind: 'ConfigMap', namespace: ns, operation: 'CREATE' });
      expect(seen.at(-1)?.user).to.match(/admin/);
    });

    it('leaves objects outside its selectors alone', async () => {
      const before = seen.length;
      await kubectlOk(['create', '-f', '-'], { namespace: ns, input: configMap('unlabelled', {}) });
      await kubectlOk(['create', '-f', '-'], { namespace: other, input: configMap('elsewhere', { 'test.deployer.dev/mutate': 'yes' }) });
      const a = await kubectlJson<{ metadata: { annotations?: Record<string, string> } }>(['get', 'configmap', 'unlabelled'], { namespace: ns });
      const b = await kubectlJson<{ metadata: { annotations?: Record<string, string> } }>(['get', 'configmap', 'elsewhere'], { namespace: other });
      expect(a.metadata.annotations?.[ANNOTATION]).to.equal(undefined);
      expect(b.metadata.annotations?.[ANNOTATION]).to.equal(undefined);
      expect(seen.length).to.equal(before);
    });
  });
});
