// How a reconcile pass reads the world and acts, on the real control plane: the status is
// written before the actions, a refused action reaches the user, labels made from image tags are
// always valid, orphaned gates are released, and a pass on a cache that lags behind the
// controller's own writes (or lacks an object) never repeats or reverses an action.
// Given / When / Then.
import { KubeConfig } from '@kubernetes/client-node';
import { expect } from 'chai';
import { ANNOTATIONS, LABELS } from '../../src/api/constants.js';
import type { Canary } from '../../src/api/types.js';
import type { MeasurementSource } from '../../src/analysis/provider.js';
import { CanaryReconciler } from '../../src/canary/reconciler.js';
import { observe, SecretCache } from '../../src/canary/observe.js';
import { revisionOf, type PodTemplate } from '../../src/canary/revision.js';
import { KubeEventRecorder } from '../../src/kube/events.js';
import { paths, type KubeObject, type RawClient } from '../../src/kube/raw-client.js';
import type { ObjectStore } from '../../src/runtime/informer.js';
import { createLogger } from '../../src/runtime/logger.js';
import { OperatorMetrics } from '../../src/runtime/metrics.js';
import { eventually, kubectl, serviceAccountKubeConfig } from '../support/cluster.js';
import { World } from '../support/world.js';
import { refuseCanaryReplicaSets } from '../support/policies.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A kubeconfig for a ServiceAccount with what an operator watching only `w.ns` needs, except
 * reading Secrets (as when a cluster binds the Secret rule per namespace and forgot one).
 */
async function operatorWithoutSecretAccess(w: World): Promise<{ kc: KubeConfig; remove: () => Promise<void> }> {
  const name = `deployer-${w.ns}`;
  const docs = [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'operator', namespace: w.ns } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'operator', namespace: w.ns },
      rules: [
        { apiGroups: ['deployer.dev'], resources: ['canaries'], verbs: ['get', 'list', 'watch', 'update', 'patch'] },
        { apiGroups: ['deployer.dev'], resources: ['canaries/status'], verbs: ['get', 'update', 'patch'] },
        { apiGroups: ['deployer.dev'], resources: ['canaries/finalizers'], verbs: ['update'] },
        { apiGroups: ['deployer.dev'], resources: ['releases'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: ['apps'], resources: ['deployments'], verbs: ['get', 'list', 'watch', 'patch'] },
        { apiGroups: ['apps'], resources: ['replicasets'], verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete'] },
        { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
      ],
    },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'operator', namespace: w.ns }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'operator' }, subjects: [{ kind: 'ServiceAccount', name: 'operator', namespace: w.ns }] },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name }, rules: [
        { apiGroups: ['admissionregistration.k8s.io'], resources: ['mutatingwebhookconfigurations', 'validatingwebhookconfigurations'], verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'] },
        { apiGroups: ['authorization.k8s.io'], resources: ['subjectaccessreviews'], verbs: ['create'] },
      ] },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name }, subjects: [{ kind: 'ServiceAccount', name: 'operator', namespace: w.ns }] },
  ];
  for (const d of docs) {
    const r = await kubectl(['apply', '-f', '-'], { input: JSON.stringify(d) });
    if (r.code !== 0) throw new Error(`kubectl apply failed: ${r.stderr}`);
  }
  const kc = await serviceAccountKubeConfig(w.kc, w.ns, 'operator', '1h');
  return {
    kc,
    remove: async () => {
      await kubectl(['delete', 'clusterrolebinding', name, '--ignore-not-found']);
      await kubectl(['delete', 'clusterrole', name, '--ignore-not-found']);
    },
  };
}

const conditionOf = (c: Canary, type: string) => c.status?.conditions?.find((x) => x.type === type);

describe('Reconcile passes on the real control plane', function () {
  this.timeout(120_000);

  describe('an action the API refuses', () => {
    let w: World;
    let unbind: (() => Promise<void>) | undefined;
    before(async () => {
      w = await World.create('refused');
      await w.startOperator();
    });
    after(async () => {
      await unbind?.();
      await w.teardown();
    });

    it('is reported in a Stalled condition and one Warning Event, and the progress deadline still rolls the canary back', async () => {
      await w.deployment('web', 'example.com/web:1.0.0');
      await w.canary('web', { steps: [{ setWeight: 34 }, { pause: { duration: '2s' } }], progressDeadline: '10s' });
      await w.waitPhase('web', 'Waiting');
      const stable = await w.stablePodNames('web');
      unbind = await refuseCanaryReplicaSets(w.ns);

      await w.setImage('web', 'example.com/web:1.1.0');

      const stalled = await w.waitFor('web', (c) => conditionOf(c, 'Stalled')?.status === 'True', 'Stalled', 30_000);
      const cond = conditionOf(stalled, 'Stalled')!;
      expect(cond.reason).to.equal('ActionFailed');
      expect(cond.message).to.match(/EnsureCanaryReplicaSet on canary ReplicaSet web-canary-\w+ failed \(HTTP 422\): .*ValidatingAdmissionPolicy .* denied request: no bare ReplicaSets/);
      expect(cond.message.length).to.be.at.most(300);
      expect(stalled.status?.startedAt, 'the canary start was persisted before acting').to.be.a('string');
      expect(stalled.status?.canaryRevision).to.be.a('string');
      await w.waitForEvents('web', ['ActionFailed']);
      await w.waitForEvents('web', ['ActionFailed'], 'Deployment');

      const rolledBack = await w.waitPhase('web', 'RolledBack', 40_000);
      expect(rolledBack.status?.message).to.match(/canary pods not Ready within the progress deadline/);
      expect((await w.events('web')).filter((e) => e.reason === 'ActionFailed'), 'one Warning Event per distinct failure').to.have.length(1);
      await w.waitFor('web', (c) => conditionOf(c, 'Stalled') === undefined, 'Stalled cleared', 20_000);
      expect(await w.stablePodNames('web')).to.deep.equal(stable);
      expect((await w.deploymentObject('web')).spec.paused).to.equal(true);
    });
  });

  describe('labels made from versions and names', () => {
    let w: World;
    before(async () => {
      w = await World.create('labels');
      await w.startOperator();
    });
    after(async () => w.teardown());

    it('a canary of an image with a 100-character tag is created and promoted', async () => {
      const tag = `feature-payments-refactor-20260115-${'7c3d9e1f2a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d'}-build-00012345678901-rc1`;
      expect(tag).to.have.length(100);
      await w.deployment('web', 'example.com/web:1.0.0');
      await w.canary('web', { steps: [{ setWeight: 34 }, { pause: { duration: '3s' } }], progressDeadline: '60s' });
      await w.waitPhase('web', 'Waiting');

      await w.setImage('web', `example.com/web:${tag}`);

      await w.waitFor('web', (c) => (c.status?.canaryReadyReplicas ?? 0) > 0, 'canary pods Ready');
      const pods = await w.canaryPods('web');
      expect(pods.length).to.be.greaterThan(0);
      const version = pods[0]!.metadata.labels?.['tags.datadoghq.com/version'] ?? '';
      expect(version.length).to.be.at.most(63);
      expect(version).to.match(/^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/);
      expect(pods[0]!.metadata.annotations?.[ANNOTATIONS.version], 'the full version in an annotation').to.equal(tag);
      const rs = await w.replicaSets('deployer.dev/canary-of=web');
      expect(rs[0]?.metadata.annotations?.[ANNOTATIONS.version]).to.equal(tag);

      const done = await w.waitPhase('web', 'Succeeded');
      expect(done.status?.conditions?.find((c) => c.type === 'Stalled')).to.equal(undefined);
      const rollout = await kubectl(['rollout', 'status', 'deployment/web', '-n', w.ns, '--timeout=30s']);
      expect(rollout.code, rollout.stderr).to.equal(0);
      expect((await w.deploymentObject('web')).spec.template.spec.containers[0]?.image).to.equal(`example.com/web:${tag}`);
    });
  });

  describe('labels made from a long Canary name', () => {
    let w: World;
    before(async () => {
      w = await World.create('longname');
      await w.startOperator();
    });
    after(async () => w.teardown());

    it('a Canary with the longest name the schema allows (63 characters) guards its Deployment and promotes a canary', async () => {
      const name = `checkout-payments-eu-west-${'0123456789'.repeat(5)}`.slice(0, 63);
      expect(name.length).to.equal(63);
      await w.deployment('web', 'example.com/web:1.0.0');
      await w.apply({ apiVersion: 'deployer.dev/v1alpha1', kind: 'Canary', metadata: { name }, spec: { targetRef: { name: 'web' }, steps: [{ setWeight: 34 }, { pause: { duration: '2s' } }], progressDeadline: '60s' } });
      await w.waitPhase(name, 'Waiting', 30_000);
      expect((await w.deploymentObject('web')).metadata.labels?.[LABELS.canary]).to.equal(name);

      await w.setImage('web', 'example.com/web:1.1.0');

      await w.waitFor(name, (c) => (c.status?.canaryReadyReplicas ?? 0) > 0, 'canary pods Ready', 30_000);
      const done = await w.waitPhase(name, 'Succeeded', 30_000);
      expect(done.status?.stableVersion).to.equal('1.1.0');
    });
  });

  describe('a Datadog Secret the operator may not read', () => {
    let w: World;
    let cleanup: (() => Promise<void>) | undefined;
    before(async () => {
      w = await World.create('secret403');
    });
    after(async () => {
      await w.teardown();
      await cleanup?.();
    });

    it('is reported as SecretUnreadable in status, with the API\'s answer', async () => {
      const { kc, remove } = await operatorWithoutSecretAccess(w);
      cleanup = remove;
      await w.startOperator({ kubeconfig: kc });
      await w.datadogSecret();
      await w.deployment('web', 'example.com/web:1.0.0');
      await w.canary('web', { steps: [{ setWeight: 34 }], analysis: { interval: '1s', checks: [{ name: 'errors', datadogMonitor: { id: 101 } }] }, datadog: { secretRef: { name: 'datadog' } } });

      const c = await w.waitFor('web', (x) => conditionOf(x, 'Ready')?.reason === 'SecretUnreadable', 'SecretUnreadable', 30_000);
      expect(c.status?.message).to.match(new RegExp(`Secret ${w.ns}/datadog could not be read \\(HTTP 403: .*forbidden`));
      expect(conditionOf(c, 'Ready')?.status).to.equal('False');
      await w.waitForEvents('web', ['SecretUnreadable']);
    });
  });

  describe('an orphaned gate', () => {
    let w: World;
    before(async () => {
      w = await World.create('orphan');
      await w.startOperator();
    });
    after(async () => w.teardown());

    it('left by a Canary whose finalizer was removed by hand is released, and kubectl rollout resume then works', async () => {
      await w.deployment('web', 'example.com/web:1.0.0');
      await w.deployment('api', 'example.com/api:1.0.0');
      await w.canary('web', { steps: [{ setWeight: 34 }, { pause: {} }] });
      await w.canary('api', { steps: [{ setWeight: 34 }, { pause: {} }] });
      await w.waitPhase('api', 'Waiting');
      await w.setImage('web', 'example.com/web:1.1.0');
      await w.waitPhase('web', 'Paused');

      // The operator is gone; someone removes the finalizers by hand and deletes the Canaries.
      await w.stopOperator();
      for (const name of ['web', 'api']) {
        const r1 = await kubectl(['patch', 'canary', name, '-n', w.ns, '--type=merge', '-p', '{"metadata":{"finalizers":null}}']);
        expect(r1.code, r1.stderr).to.equal(0);
        const r2 = await kubectl(['delete', 'canary', name, '-n', w.ns, '--timeout=30s']);
        expect(r2.code, r2.stderr).to.equal(0);
      }
      expect((await w.deploymentObject('web')).metadata.labels?.[LABELS.canary]).to.equal('web');

      await w.startOperator();

      await eventually(
        async () => {
          const d = await w.deploymentObject('web');
          if (d.metadata.labels?.[LABELS.canary] !== undefined) throw new Error('gate label still on web');
        },
        { timeoutMs: 30_000, intervalMs: 200 },
      );
      const web = await w.deploymentObject('web');
      expect(web.metadata.annotations?.[ANNOTATIONS.stableRevision]).to.equal(undefined);
      expect(web.spec.paused, 'an unverified revision is not rolled out by the clean-up').to.equal(true);
      await w.waitForEvents('web', ['DeploymentLeftPaused'], 'Deployment');
      const ev = (await w.events('web', 'Deployment')).find((e) => e.reason === 'DeploymentLeftPaused');
      expect(ev?.type).to.equal('Warning');
      expect(ev?.message).to.contain('kubectl rollout resume deployment/web');

      await eventually(
        async () => {
          const d = await w.deploymentObject('api');
          if (d.metadata.labels?.[LABELS.canary] !== undefined) throw new Error('gate label still on api');
        },
        { timeoutMs: 30_000, intervalMs: 200 },
      );
      await w.waitForEvents('api', ['DeploymentReleased'], 'Deployment');

      const resume = await kubectl(['rollout', 'resume', 'deployment/web', '-n', w.ns]);
      expect(resume.code, resume.stderr).to.equal(0);
      const rollout = await kubectl(['rollout', 'status', 'deployment/web', '-n', w.ns, '--timeout=60s']);
      expect(rollout.code, rollout.stderr).to.equal(0);
      expect((await w.deploymentObject('web')).spec.paused ?? false).to.equal(false);
    });
  });
});

// ---------- passes driven one by one, on caches the test controls ----------

/** A cache the test refreshes from the API when it chooses: what an informer shows at some moment. */
class SnapshotStore implements ObjectStore {
  items: KubeObject[] = [];
  constructor(
    private readonly client: RawClient,
    private readonly path: string,
    private readonly labelSelector?: string,
  ) {}

  async refresh(): Promise<void> {
    this.items = (await this.client.list<KubeObject>(this.path, this.labelSelector ? { labelSelector: this.labelSelector } : undefined)).items;
  }

  get(name: string, namespace?: string): KubeObject | undefined {
    return this.items.find((o) => o.metadata.name === name && (namespace === undefined || o.metadata.namespace === namespace));
  }

  list(namespace?: string): KubeObject[] {
    return this.items.filter((o) => namespace === undefined || o.metadata.namespace === namespace);
  }
}

/** Measurements the test hands out: the verdict it sets, taken now. */
class ScriptedMeasurements implements MeasurementSource {
  verdict: 'Pass' | 'Fail' | undefined;
  peek(): ReturnType<MeasurementSource['peek']> {
    return this.verdict ? { verdict: this.verdict, time: new Date().toISOString(), message: 'scripted by the test' } : undefined;
  }
  request(): void {}
}

interface Harness {
  w: World;
  canaries: SnapshotStore;
  deployments: SnapshotStore;
  replicaSets: SnapshotStore;
  measurements: ScriptedMeasurements;
  reconciler: CanaryReconciler;
  stableRevision: string;
  /** Refreshes every cache, then runs one pass. */
  pass(): ReturnType<CanaryReconciler['reconcile']>;
  liveCanaryReplicaSets(): Promise<KubeObject[]>;
}

/**
 * Given: Deployment web guarded by Canary web (gate label, stable annotation of 1.0.0), held
 * paused on 1.1.0, no operator running; a reconciler on the real API with test-driven caches.
 */
async function harness(prefix: string, steps: Canary['spec']['steps']): Promise<Harness> {
  const w = await World.create(prefix);
  await w.datadogSecret();
  await w.deployment('web', 'example.com/web:1.0.0');
  const d = await w.deploymentObject('web');
  const stableRevision = revisionOf((d.spec as unknown as { template: PodTemplate }).template);
  const r = await kubectl(['patch', 'deployment', 'web', '-n', w.ns, '--type=merge', '-p', JSON.stringify({ metadata: { labels: { [LABELS.canary]: 'web' }, annotations: { [ANNOTATIONS.stableRevision]: stableRevision } }, spec: { paused: true } })]);
  if (r.code !== 0) throw new Error(r.stderr);
  await w.setImage('web', 'example.com/web:1.1.0');
  await w.canary('web', { steps, analysis: { interval: '1s', checks: [{ name: 'errors', datadogMonitor: { id: 101 } }] }, datadog: { secretRef: { name: 'datadog' } }, progressDeadline: '5m' });
  const canaries = new SnapshotStore(w.client, paths.canaries(w.ns));
  const deployments = new SnapshotStore(w.client, paths.deployments(w.ns));
  const replicaSets = new SnapshotStore(w.client, paths.replicaSets(w.ns), LABELS.canaryOf);
  const measurements = new ScriptedMeasurements();
  const reconciler = new CanaryReconciler({
    client: w.client,
    canaries,
    deployments,
    replicaSets,
    secrets: new SecretCache(w.client),
    measurements,
    events: new KubeEventRecorder(w.client, 'deployer', 'reconcile-test'),
    logger: createLogger({ silent: true }),
    metrics: new OperatorMetrics(),
    mayAct: () => true,
  });
  const h: Harness = {
    w,
    canaries,
    deployments,
    replicaSets,
    measurements,
    reconciler,
    stableRevision,
    async pass() {
      await Promise.all([canaries.refresh(), deployments.refresh(), replicaSets.refresh()]);
      return reconciler.reconcile(`${w.ns}/web`);
    },
    async liveCanaryReplicaSets() {
      return (await w.replicaSets('deployer.dev/canary-of=web')).filter((rs) => !rs.metadata.deletionTimestamp);
    },
  };
  return h;
}

/** Passes until the canary's pods are Ready and its analysis has started. */
async function untilAnalysing(h: Harness): Promise<Canary> {
  let c: Canary | undefined;
  await eventually(
    async () => {
      await h.pass();
      c = await h.w.get('web');
      if (!c.status?.analysisStartedAt) throw new Error(`not analysing yet: ${c.status?.phase} ${c.status?.message}`);
    },
    { timeoutMs: 40_000, intervalMs: 300 },
  );
  return c!;
}

describe('Reconcile passes on caches that lag or lack objects', function () {
  this.timeout(120_000);

  it('right after a rollback, a pass on a cache without the new status does not re-create the canary ReplicaSet', async () => {
    const h = await harness('stale-rollback', [{ setWeight: 34 }, { pause: { duration: '1h' } }]);
    try {
      await untilAnalysing(h);
      expect(await h.liveCanaryReplicaSets()).to.have.length(1);
      h.measurements.verdict = 'Fail';
      await h.pass();
      const rolledBack = await h.w.get('web');
      expect(rolledBack.status?.phase).to.equal('RolledBack');
      await eventually(async () => expect(await h.liveCanaryReplicaSets()).to.have.length(0), { timeoutMs: 10_000 });

      // The ReplicaSet delete reached the cache, the status write did not yet.
      await h.replicaSets.refresh();
      await h.deployments.refresh();
      const r = await h.reconciler.reconcile(`${h.w.ns}/web`);

      expect(await h.liveCanaryReplicaSets(), 'no canary ReplicaSet of the failed revision').to.have.length(0);
      expect(r.conflict, 'skipped, not a conflict').to.not.equal(true);
      expect(r.requeueAfterMs).to.be.at.most(1_000);
      expect((await h.w.get('web')).status?.phase).to.equal('RolledBack');
    } finally {
      await h.w.teardown();
    }
  });

  it('right after a promotion starts, a pass on a cache without the new status does not take it for a revert', async () => {
    const h = await harness('stale-promote', [{ setWeight: 34 }, { pause: {} }]);
    try {
      await untilAnalysing(h);
      await h.w.annotate('web', ANNOTATIONS.promote, 'p-1');
      await Promise.all([h.canaries.refresh(), h.deployments.refresh(), h.replicaSets.refresh()]);
      const beforePromotion = h.canaries.items;
      const rs = await h.liveCanaryReplicaSets();
      expect(rs).to.have.length(1);
      await h.reconciler.reconcile(`${h.w.ns}/web`);
      expect((await h.w.get('web')).status?.phase).to.equal('Promoting');

      // The Deployment patch reached the cache, the Canary status write did not yet.
      await Promise.all([h.deployments.refresh(), h.replicaSets.refresh()]);
      h.canaries.items = beforePromotion;
      await h.reconciler.reconcile(`${h.w.ns}/web`);

      expect((await h.liveCanaryReplicaSets()).map((r) => r.metadata.uid), 'canary pods kept while the rolling update starts').to.deep.equal(rs.map((r) => r.metadata.uid));
      expect((await h.w.events('web')).map((e) => e.reason)).to.not.include('RevertedToStable');
    } finally {
      await h.w.teardown();
    }
  });

  it('a target Deployment missing from the cache is read from the API before the canary is judged', async () => {
    const h = await harness('no-cached-target', [{ setWeight: 34 }, { pause: { duration: '1h' } }]);
    try {
      await untilAnalysing(h);
      const before = await h.liveCanaryReplicaSets();
      expect(before).to.have.length(1);

      // The Deployment cache is empty (restarting, or it holds only labelled Deployments).
      await Promise.all([h.canaries.refresh(), h.replicaSets.refresh()]);
      h.deployments.items = [];
      await h.reconciler.reconcile(`${h.w.ns}/web`);

      const c = await h.w.get('web');
      expect(c.status?.phase).to.equal('Progressing');
      expect(c.status?.conditions?.find((x) => x.type === 'Ready')?.reason).to.not.equal('TargetNotFound');
      expect((await h.liveCanaryReplicaSets()).map((rs) => rs.metadata.uid), 'canary pods kept').to.deep.equal(before.map((rs) => rs.metadata.uid));
    } finally {
      await h.w.teardown();
    }
  });

  it('status churn on the Deployment does not make a promotion conflict', async () => {
    const h = await harness('churn', [{ setWeight: 34 }, { pause: {} }]);
    try {
      await untilAnalysing(h);
      await h.w.annotate('web', ANNOTATIONS.promote, 'p-1');
      await Promise.all([h.canaries.refresh(), h.deployments.refresh(), h.replicaSets.refresh()]);
      // Something unrelated to the decision changes the Deployment after the cache saw it.
      const r1 = await kubectl(['annotate', 'deployment', 'web', '-n', h.w.ns, 'example.com/touched=yes']);
      expect(r1.code, r1.stderr).to.equal(0);

      const r = await h.reconciler.reconcile(`${h.w.ns}/web`);

      expect(r.conflict, 'no conflict').to.not.equal(true);
      const d = await h.w.deploymentObject('web');
      expect(d.metadata.annotations?.[ANNOTATIONS.stableRevision]).to.equal(revisionOf((d.spec as unknown as { template: PodTemplate }).template));
      expect(d.spec.paused ?? false).to.equal(false);
      expect((await h.w.get('web')).status?.phase).to.equal('Promoting');
    } finally {
      await h.w.teardown();
    }
  });

  it('status churn on the Deployment does not turn restoring the stable template into an error', async () => {
    const h = await harness('churn-restore', [{ setWeight: 34 }, { pause: {} }]);
    try {
      // Given: a promotion of 1.1.0 (pods that never become Ready) that started an hour ago.
      const notReady = { spec: { template: { metadata: { labels: { 'sim.deployer.dev/ready': 'false' } } } } };
      const r1 = await kubectl(['patch', 'deployment', 'web', '-n', h.w.ns, '--type=merge', '-p', JSON.stringify(notReady)]);
      expect(r1.code, r1.stderr).to.equal(0);
      const d1 = await h.w.deploymentObject('web');
      const promoted = revisionOf((d1.spec as unknown as { template: PodTemplate }).template);
      const r2 = await kubectl(['patch', 'deployment', 'web', '-n', h.w.ns, '--type=merge', '-p', JSON.stringify({ metadata: { annotations: { [ANNOTATIONS.stableRevision]: promoted } }, spec: { paused: false } })]);
      expect(r2.code, r2.stderr).to.equal(0);
      const c = await h.w.get('web');
      const hourAgo = new Date(Date.now() - 3_600_000).toISOString();
      await h.w.client.update(paths.canary(h.w.ns, 'web') + '/status', {
        ...c,
        status: {
          phase: 'Promoting',
          message: 'promoting',
          stableRevision: h.stableRevision,
          stableVersion: '1.0.0',
          canaryRevision: promoted,
          canaryVersion: '1.1.0',
          currentStep: 2,
          startedAt: hourAgo,
          stepStartedAt: hourAgo,
          promotionStartedAt: hourAgo,
          conditions: [
            { type: 'Ready', status: 'False', reason: 'NewRevision', message: 'verifying', lastTransitionTime: hourAgo },
            { type: 'Progressing', status: 'True', reason: 'Promoting', message: 'promoting', lastTransitionTime: hourAgo },
          ],
        },
      });
      await Promise.all([h.canaries.refresh(), h.deployments.refresh(), h.replicaSets.refresh()]);
      // Something unrelated to the decision changes the Deployment after the cache saw it.
      const r3 = await kubectl(['annotate', 'deployment', 'web', '-n', h.w.ns, 'example.com/touched=yes']);
      expect(r3.code, r3.stderr).to.equal(0);

      const r = await h.reconciler.reconcile(`${h.w.ns}/web`);

      expect(r.conflict, 'no conflict').to.not.equal(true);
      const d = await h.w.deploymentObject('web');
      expect(revisionOf((d.spec as unknown as { template: PodTemplate }).template), 'the stable template is back').to.equal(h.stableRevision);
      expect(d.spec.template.spec.containers[0]?.image).to.equal('example.com/web:1.0.0');
      const after = await h.w.get('web');
      expect(after.status?.phase).to.equal('RolledBack');
      expect(after.status?.message).to.match(/restored stable revision/);
    } finally {
      await h.w.teardown();
    }
  });

  it('an abort of a promotion the operator holds (spec.paused) restores the stable template and the rollback stands', async () => {
    const h = await harness('abort-held-promotion', [{ setWeight: 34 }, { pause: {} }]);
    try {
      await untilAnalysing(h);
      await h.w.annotate('web', ANNOTATIONS.promote, 'p-1');
      await h.pass();
      expect((await h.w.get('web')).status?.phase).to.equal('Promoting');
      const promoted = revisionOf(((await h.w.deploymentObject('web')).spec as unknown as { template: PodTemplate }).template);
      // Given: the promotion paused by spec.paused, the Deployment held by the operator (paused, with its held annotation).
      const r1 = await kubectl(['patch', 'canary', 'web', '-n', h.w.ns, '--type=merge', '-p', JSON.stringify({ spec: { paused: true } })]);
      expect(r1.code, r1.stderr).to.equal(0);
      const hold = { metadata: { annotations: { [ANNOTATIONS.heldReason]: `revision ${promoted} awaits canary analysis` } }, spec: { paused: true } };
      const r2 = await kubectl(['patch', 'deployment', 'web', '-n', h.w.ns, '--type=merge', '-p', JSON.stringify(hold)]);
      expect(r2.code, r2.stderr).to.equal(0);
      await h.pass();
      expect((await h.w.get('web')).status?.phase).to.equal('Paused');

      // When: the promotion is aborted.
      await h.w.annotate('web', ANNOTATIONS.abort, 'a-1');
      await h.pass();
      const aborted = await h.w.get('web');
      expect(aborted.status?.phase).to.equal('RolledBack');
      expect(aborted.status?.failedRevision).to.equal(promoted);

      // Then: the stable template is back, no longer held, and later passes keep the rollback.
      const d = await h.w.deploymentObject('web');
      expect(revisionOf((d.spec as unknown as { template: PodTemplate }).template)).to.equal(h.stableRevision);
      expect(d.metadata.annotations?.[ANNOTATIONS.heldReason], 'the hold went with the restore').to.equal(undefined);
      expect(d.spec.paused ?? false).to.equal(false);
      for (let i = 0; i < 2; i++) await h.pass();
      const after = await h.w.get('web');
      expect(after.status?.phase).to.equal('RolledBack');
      expect(after.status?.failedRevision).to.equal(promoted);
      expect((await h.w.events('web')).map((e) => e.reason)).to.not.include('RevertedToStable');
    } finally {
      await h.w.teardown();
    }
  });

  it('observe reports the stable revision\'s version from the Deployment\'s own ReplicaSet, and says when none runs it', async () => {
    const h = await harness('stable-rs', [{ setWeight: 34 }, { pause: {} }]);
    try {
      await Promise.all([h.canaries.refresh(), h.deployments.refresh(), h.replicaSets.refresh()]);
      const ctx = { client: h.w.client, canaries: h.canaries, deployments: h.deployments, replicaSets: h.replicaSets, secrets: new SecretCache(h.w.client), measurements: h.measurements };
      const canary = h.canaries.get('web', h.w.ns) as unknown as Canary;
      const snap = await observe(canary, ctx, Date.now());
      expect(snap.observed.deployment?.stableVersion).to.equal('1.0.0');
      expect(snap.observed.deployment?.stableTemplateKnown).to.equal(true);
      expect(revisionOf(snap.stableTemplate)).to.equal(h.stableRevision);

      const r = await kubectl(['delete', 'replicasets', '-n', h.w.ns, '-l', 'app=web,!deployer.dev/role', '--wait=true']);
      expect(r.code, r.stderr).to.equal(0);
      await sleep(500);
      const gone = await observe(canary, ctx, Date.now());
      expect(gone.observed.deployment?.stableTemplateKnown).to.equal(false);
      expect(gone.observed.deployment?.stableVersion).to.equal(undefined);
    } finally {
      await h.w.teardown();
    }
  });
});
