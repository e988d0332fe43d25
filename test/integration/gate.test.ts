// The admission side on the real control plane: what a user's kubectl sees when it touches a
// guarded Deployment or creates a Canary. Given / When / Then.
import { expect } from 'chai';
import { ANNOTATIONS, LABELS } from '../../src/api/constants.js';
import type { Canary } from '../../src/api/types.js';
import { revisionOf, type PodTemplate } from '../../src/canary/revision.js';
import { webhookConfigurationName } from '../../src/webhook/configuration.js';
import { eventually, kubectl } from '../support/cluster.js';
import { World, versionMonitor } from '../support/world.js';

const STEPS = [{ setWeight: 34 }, { pause: { duration: '3s' } }];
/** A person with every right, who is not the operator (the tests' admin kubeconfig is also the in-process operator's). */
const ALICE = ['--as=alice', '--as-group=system:masters'];
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function given(w: World): Promise<void> {
  w.dd.upsertMonitor(versionMonitor(101, 'web'));
  w.dd.setVersions(['1.0.0', '1.1.0', '1.2.0']);
  await w.datadogSecret();
  await w.deployment('web', 'example.com/web:1.0.0');
  await w.canary('web', {
    steps: STEPS,
    analysis: { interval: '1s', checks: [{ name: 'errors', datadogMonitor: { id: 101 } }] },
    datadog: { secretRef: { name: 'datadog' } },
    progressDeadline: '60s',
  } as Partial<Canary['spec']>);
  await w.waitPhase('web', 'Waiting');
}

/** The template as the apiserver stores it (defaults filled in), as `kubectl get -o yaml` in another cluster would show it. */
async function exportedTemplate(w: World, image: string): Promise<PodTemplate> {
  const m = w.deploymentManifest('web-staging', image);
  const spec = m.spec as { selector: unknown; template: { metadata: { labels: Record<string, string> } } };
  spec.selector = { matchLabels: { app: 'web' } };
  spec.template.metadata.labels = { app: 'web' };
  const r = await kubectl(['create', '--dry-run=server', '-o', 'json', '-n', w.ns, '-f', '-'], { input: JSON.stringify(m) });
  expect(r.code, r.stderr).to.equal(0);
  return (JSON.parse(r.stdout) as { spec: { template: PodTemplate } }).spec.template;
}

describe('the admission gate as users meet it', function () {
  this.timeout(120_000);

  describe('the stable revision belongs to the operator', () => {
    let w: World;
    before(async () => {
      w = await World.create('gate');
      await w.startOperator();
    });
    after(async () => w.teardown());

    it('a copied manifest that declares its new template stable is still held and canaried, never promoted without analysis', async () => {
      await given(w);
      const stable = (await w.deploymentObject('web')).metadata.annotations?.[ANNOTATIONS.stableRevision];
      expect(stable, 'adopted').to.be.a('string');

      // Given a manifest exported from staging, where 1.1.0 was verified: its annotation is 1.1.0's hash.
      const template = await exportedTemplate(w, 'example.com/web:1.1.0');
      const copied = w.deploymentManifest('web', 'example.com/web:1.1.0');
      copied.metadata = { name: 'web', labels: { [LABELS.canary]: 'web' }, annotations: { [ANNOTATIONS.stableRevision]: revisionOf(template) } };
      // When it is applied to production.
      const r = await kubectl(['apply', '-n', w.ns, '-f', '-'], { input: JSON.stringify(copied) });
      expect(r.code, r.stderr).to.equal(0);

      // Then the Deployment is held and keeps the revision the operator verified.
      const d = await w.deploymentObject('web');
      expect(d.spec.paused, 'held').to.equal(true);
      expect(d.metadata.annotations?.[ANNOTATIONS.stableRevision]).to.equal(stable);
      expect(r.stderr, 'kubectl shows why').to.contain(`${ANNOTATIONS.stableRevision} is kept by the operator`);
      const during = await w.waitFor('web', (c) => c.status?.phase === 'Progressing' && c.status?.canaryVersion === '1.1.0', 'canarying 1.1.0');
      expect(during.status?.canaryRevision).to.equal(revisionOf(template));
      const done = await w.waitPhase('web', 'Succeeded');
      expect(done.status?.stableVersion).to.equal('1.1.0');
      expect(done.status?.checks?.[0]?.passes ?? 0, 'promoted after analysis').to.be.greaterThan(0);
      await w.waitForEvents('web', ['NewRevision', 'Promoted']);
    });

    it('kubectl annotate --overwrite of the stable revision is put back and the held revision stays held', async () => {
      await w.setImage('web', 'example.com/web:1.2.0');
      const held = await w.waitFor('web', (c) => c.status?.phase === 'Progressing' && c.status?.canaryVersion === '1.2.0', 'canarying 1.2.0');
      const stable = (await w.deploymentObject('web')).metadata.annotations?.[ANNOTATIONS.stableRevision];
      const r = await kubectl(['annotate', 'deployment', 'web', `${ANNOTATIONS.stableRevision}=${held.status?.canaryRevision}`, '--overwrite', '-n', w.ns]);
      expect(r.code, r.stderr).to.equal(0);
      const d = await w.deploymentObject('web');
      expect(d.metadata.annotations?.[ANNOTATIONS.stableRevision]).to.equal(stable);
      expect(d.spec.paused).to.equal(true);
      expect(r.stderr).to.contain('kept by the operator');
      await sleep(1_000);
      expect((await w.deploymentObject('web')).spec.paused, 'still held a second later').to.equal(true);
      const done = await w.waitPhase('web', 'Succeeded');
      expect(done.status?.checks?.[0]?.passes ?? 0).to.be.greaterThan(0);
    });
  });

  describe('orphaned gates and dry runs', () => {
    let w: World;
    before(async () => {
      w = await World.create('orphan');
      await w.startOperator();
    });
    after(async () => w.teardown());

    it('the gate label of a Canary that does not exist can be removed with kubectl label', async () => {
      await w.deployment('api', 'example.com/api:1.0.0');
      const labelled = await kubectl(['label', 'deployment', 'api', `${LABELS.canary}=gone`, '-n', w.ns, ...ALICE]);
      expect(labelled.code, labelled.stderr).to.equal(0);
      const r = await kubectl(['label', 'deployment', 'api', `${LABELS.canary}-`, '-n', w.ns, ...ALICE]);
      expect(r.code, r.stderr).to.equal(0);
      expect((await w.deploymentObject('api')).metadata.labels?.[LABELS.canary]).to.equal(undefined);
    });

    it('the gate label of a Canary that exists is put back', async () => {
      await given(w);
      const r = await kubectl(['label', 'deployment', 'web', `${LABELS.canary}-`, '-n', w.ns, ...ALICE]);
      expect(r.code, r.stderr).to.equal(0);
      expect((await w.deploymentObject('web')).metadata.labels?.[LABELS.canary]).to.equal('web');
    });

    it('a server-side dry run (a GitOps diff) shows the hold without holding anything or counting a hold', async () => {
      const held = async (): Promise<number> => ((await w.op!.metrics.webhookRequests.get()).values.find((v) => v.labels.outcome === 'held')?.value ?? 0);
      const before = await held();
      const r = await kubectl(['set', 'image', 'deployment/web', 'app=example.com/web:9.9.9', '--dry-run=server', '-o', 'json', '-n', w.ns, ...ALICE]);
      expect(r.code, r.stderr).to.equal(0);
      expect((JSON.parse(r.stdout) as { spec: { paused?: boolean } }).spec.paused, 'the diff shows the hold').to.equal(true);
      expect(await held()).to.equal(before);
      expect((await w.deploymentObject('web')).spec.template.spec.containers[0]?.image).to.equal('example.com/web:1.0.0');
    });
  });

  describe('a Canary may only guard a Deployment its author could update', () => {
    let w: World;
    before(async () => {
      w = await World.create('sar');
      await w.startOperator();
    });
    after(async () => w.teardown());

    it('refuses a user who may create Canaries but not update the Deployment, naming the permission; accepts once granted', async () => {
      await w.deployment('web', 'example.com/web:1.0.0');
      const role = (deploymentVerbs: string[]): Record<string, unknown> => ({
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: { name: 'canary-author' },
        rules: [
          { apiGroups: ['deployer.dev'], resources: ['canaries'], verbs: ['get', 'list', 'watch', 'create', 'update', 'patch'] },
          { apiGroups: ['apps'], resources: ['deployments'], verbs: ['get', 'list', 'watch', ...deploymentVerbs] },
        ],
      });
      await w.apply(role([]));
      await w.apply({
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: 'canary-author' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'canary-author' },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'bob' }],
      });
      const canary = JSON.stringify({ apiVersion: 'deployer.dev/v1alpha1', kind: 'Canary', metadata: { name: 'web' }, spec: { targetRef: { name: 'web' }, steps: STEPS } });
      const denied = await kubectl(['apply', '--as=bob', '-n', w.ns, '-f', '-'], { input: canary });
      expect(denied.code).to.not.equal(0);
      expect(denied.stderr).to.contain('bob may not update or patch deployments.apps "web"');
      expect((await w.canaries()).map((c) => c.metadata.name)).to.deep.equal([]);

      await w.apply(role(['update', 'patch']));
      const accepted = await kubectl(['apply', '--as=bob', '-n', w.ns, '-f', '-'], { input: canary });
      expect(accepted.code, accepted.stderr).to.equal(0);
      expect((await w.canaries()).map((c) => c.metadata.name)).to.deep.equal(['web']);
    });
  });

  describe('with the operator gone (killed, its configurations left behind)', () => {
    let w: World;
    before(async () => {
      w = await World.create('gone');
    });
    after(async () => {
      for (const kind of ['mutatingwebhookconfiguration', 'validatingwebhookconfiguration']) {
        await kubectl(['delete', kind, webhookConfigurationName({ url: 'https://127.0.0.1:1' }, [w.ns]), '--ignore-not-found']);
      }
      await w.teardown();
    });

    it('a finalizer can still be removed by hand (an uninstall), while a change to what a Canary guards is refused', async () => {
      await w.deployment('web', 'example.com/web:1.0.0');
      const proc = w.startOperatorProcess();
      await eventually(async () => {
        const r = await kubectl(['get', 'validatingwebhookconfiguration', webhookConfigurationName({ url: 'https://127.0.0.1:1' }, [w.ns])]);
        if (r.code !== 0) throw new Error('no configuration yet');
      }, { timeoutMs: 30_000, intervalMs: 200 });
      await w.canary('web', { steps: STEPS });
      await w.waitFor('web', (c) => (c.metadata.finalizers ?? []).length > 0, 'finalized');
      await w.killOperatorProcess(proc, 'SIGKILL');

      const edit = await kubectl(['patch', 'canary', 'web', '-n', w.ns, '--type=merge', '-p', '{"spec":{"steps":[{"setWeight":50}]}}', ...ALICE]);
      expect(edit.code, 'fail-closed while the webhook is gone').to.not.equal(0);
      const unfinalized = await kubectl(['patch', 'canary', 'web', '-n', w.ns, '--type=merge', '-p', '{"metadata":{"finalizers":null}}', ...ALICE]);
      expect(unfinalized.code, unfinalized.stderr).to.equal(0);
      const deleted = await kubectl(['delete', 'canary', 'web', '-n', w.ns, '--wait=true', '--timeout=20s', ...ALICE]);
      expect(deleted.code, deleted.stderr).to.equal(0);
    });
  });
});
