// Scenarios against the real control plane, with the real kubectl and the real Datadog client
// talking to the local Datadog stand-in. Given / When / Then.
import { expect } from 'chai';
import type { Canary, CheckSpec } from '../../src/api/types.js';
import type { Notification } from '../../src/notify/notifier.js';
import { eventually, kubectl } from '../support/cluster.js';
import { API_KEY, World, versionMonitor } from '../support/world.js';

const FAST_STEPS = [{ setWeight: 34 }, { pause: { duration: '2s' } }, { setWeight: 50 }, { pause: { duration: '2s' } }];
const monitorCheck: CheckSpec = { name: 'errors', datadogMonitor: { id: 101 } };
const analysis = (checks: CheckSpec[], extra: Record<string, unknown> = {}) => ({ interval: '1s', failureLimit: 0, checks, ...extra });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Given: a Deployment "web" at 1.0.0 with 3 pods, a Datadog Secret, a monitor, a guarding Canary. */
async function given(w: World, spec: Partial<Canary['spec']> = {}, opts: { replicas?: number; secret?: Record<string, string> } = {}): Promise<string[]> {
  w.dd.upsertMonitor(versionMonitor(101, 'web'));
  w.dd.setVersions(['1.0.0', '1.1.0', '1.2.0', '2.0.0']);
  await w.datadogSecret('datadog', opts.secret);
  await w.deployment('web', 'example.com/web:1.0.0', opts);
  await w.canary('web', { steps: FAST_STEPS, analysis: analysis([monitorCheck]), datadog: { secretRef: { name: 'datadog' } }, progressDeadline: '60s', ...spec });
  await w.waitPhase('web', 'Waiting');
  return w.stablePodNames('web');
}

describe('Canary controller on the real control plane', function () {
  this.timeout(120_000);

  describe('promotion', () => {
    let w: World;
    const notified: Notification[] = [];
    before(async () => {
      w = await World.create('promote');
      await w.startOperator({ notifier: { notify: async (n) => void notified.push(n) } });
    });
    after(async () => w.teardown());

    it('verifies a new revision on canary pods, then promotes it through the Deployment', async () => {
      const stable = await given(w);
      await w.setImage('web', 'example.com/web:1.1.0');

      const during = await w.waitFor('web', (c) => (c.status?.canaryReadyReplicas ?? 0) > 0 && c.status?.phase === 'Progressing', 'analysing');
      expect(during.status?.canaryVersion).to.equal('1.1.0');
      const d = await w.deploymentObject('web');
      expect(d.spec.paused, 'the gate holds the rollout').to.equal(true);
      const canaryPods = await w.canaryPods('web');
      expect(canaryPods.length).to.be.greaterThan(0);
      expect(canaryPods[0]?.metadata.labels?.['tags.datadoghq.com/version']).to.equal('1.1.0');
      expect(canaryPods[0]?.metadata.labels?.['pod-template-hash']).to.equal(undefined);
      expect(canaryPods[0]?.metadata.labels?.app, 'the Service selects canary pods').to.equal('web');
      expect(await w.stablePodNames('web'), 'stable pods untouched during analysis').to.deep.equal(stable);

      const done = await w.waitPhase('web', 'Succeeded');
      expect(done.status?.stableVersion).to.equal('1.1.0');
      expect(done.status?.checks?.[0]?.measurements.length).to.be.greaterThan(0);
      expect(done.status?.checks?.[0]?.measurements.every((m) => m.verdict === 'Pass')).to.equal(true);
      expect(done.status?.checks?.[0]?.measurements[0]?.url).to.match(/monitors\/101/);

      const rollout = await kubectl(['rollout', 'status', 'deployment/web', '-n', w.ns, '--timeout=30s']);
      expect(rollout.code, rollout.stderr).to.equal(0);
      expect((await w.deploymentObject('web')).spec.paused ?? false).to.equal(false);
      await w.waitNoCanaryPods('web');
      const wait = await kubectl(['wait', '--for=condition=Ready', 'canary/web', '-n', w.ns, '--timeout=10s']);
      expect(wait.code, wait.stderr).to.equal(0);
      const get = await kubectl(['get', 'canaries', '-n', w.ns]);
      expect(get.stdout).to.match(/NAME\s+TARGET\s+PHASE\s+WEIGHT\s+STEP\s+MESSAGE\s+AGE/);
      expect(get.stdout).to.match(/web\s+web\s+Succeeded/);
      await w.waitForEvents('web', ['Adopted', 'NewRevision', 'CanaryPodsReady', 'StepCompleted', 'Promoting', 'Promoted']);
      expect(notified.map((n) => n.reason)).to.include.members(['NewRevision', 'Promoted']);
      expect(notified.find((n) => n.reason === 'Promoted')).to.include({ canary: `${w.ns}/web`, version: '1.1.0', severity: 'info' });
      // The Datadog stand-in saw the real client's calls with the real headers.
      expect(w.dd.requests('/api/v1/monitor/101').length).to.be.greaterThan(0);
    });

    it('a server-side apply by another field manager during analysis does not start a rollout', async () => {
      await w.setImage('web', 'example.com/web:1.2.0');
      await w.waitFor('web', (c) => c.status?.phase === 'Progressing' && c.status?.canaryVersion === '1.2.0', 'analysing 1.2.0');
      const before = (await w.replicaSets('app=web,!deployer.dev/role')).length;
      const manifest = w.deploymentManifest('web', 'example.com/web:1.2.0');
      (manifest.spec as Record<string, unknown>).paused = false;
      const r = await kubectl(['apply', '--server-side', '--field-manager=flux', '--force-conflicts', '-n', w.ns, '-f', '-'], { input: JSON.stringify(manifest) });
      expect(r.code, r.stderr).to.equal(0);
      const d = await w.deploymentObject('web');
      expect(d.spec.paused).to.equal(true);
      await sleep(1_000);
      expect((await w.replicaSets('app=web,!deployer.dev/role')).length, 'no new ReplicaSet from the Deployment controller').to.equal(before);
      await w.waitPhase('web', 'Succeeded');
    });
  });

  describe('rollback', () => {
    let w: World;
    before(async () => {
      w = await World.create('rollback');
      await w.startOperator();
    });
    after(async () => w.teardown());

    it('rolls back on Alert, keeps the stable pods and holds the failed template paused', async () => {
      const stable = await given(w);
      w.dd.setAlertVersions(['2.0.0']);
      await w.setImage('web', 'example.com/web:2.0.0');
      const c = await w.waitPhase('web', 'RolledBack');
      expect(c.status?.message).to.match(/check errors failed 1 time\(s\) \(limit 0\): Fail Alert/);
      expect(c.status?.conditions?.find((x) => x.type === 'Ready')).to.include({ status: 'False', reason: 'RolledBack' });
      await w.waitNoCanaryPods('web');
      expect(await w.stablePodNames('web')).to.deep.equal(stable);
      const d = await w.deploymentObject('web');
      expect(d.spec.paused).to.equal(true);
      expect(d.spec.template.spec.containers[0]?.image).to.equal('example.com/web:2.0.0');
      await w.waitForEvents('web', ['CheckFailed'], 'Deployment');
    });

    it('does not try the same revision again unless retried', async () => {
      await sleep(2_000);
      expect((await w.get('web')).status?.phase).to.equal('RolledBack');
      await w.waitNoCanaryPods('web');
      await w.annotate('web', 'deployer.dev/retry', 'retry-1');
      const c = await w.waitFor('web', (x) => x.status?.requests?.retry?.id === 'retry-1', 'retry handled');
      expect(c.status?.requests?.retry?.handledAt).to.be.a('string');
      await w.waitPhase('web', 'RolledBack');
    });

    it('a change back to the stable template completes at once without analysis', async () => {
      const calls = w.dd.requests().length;
      await w.setImage('web', 'example.com/web:1.0.0');
      await w.waitPhase('web', 'Waiting');
      const rollout = await kubectl(['rollout', 'status', 'deployment/web', '-n', w.ns, '--timeout=30s']);
      expect(rollout.code, rollout.stderr).to.equal(0);
      expect((await w.deploymentObject('web')).spec.paused ?? false).to.equal(false);
      expect(w.dd.requests().length).to.equal(calls);
      await w.waitForEvents('web', ['RevertedToStable']);
    });

    it('rolls back on a metric over its threshold, reporting the value', async () => {
      w.dd.setSeriesByVersion({ metric: 'trace.http.request.duration', values: { '1.1.0': 0.9 }, default: 0.1, intervalSec: 10 });
      await w.canary('web', {
        steps: FAST_STEPS,
        analysis: analysis([{ name: 'p99', datadogQuery: { query: 'p99:trace.http.request.duration{service:web,version:{{ version }}}', max: 0.5 } }]),
        datadog: { secretRef: { name: 'datadog' } },
      });
      await w.setImage('web', 'example.com/web:1.1.0');
      const c = await w.waitPhase('web', 'RolledBack');
      expect(c.status?.message).to.match(/check p99 failed.*Fail 0\.9.*<= 0\.5/);
      const q = w.dd.requests('/api/v1/query').at(-1);
      expect(q?.query.query).to.contain('version:1.1.0');
    });
  });

  describe('analysis edge cases', () => {
    let w: World;
    beforeEach(async () => {
      w = await World.create('edge');
      await w.startOperator();
    });
    afterEach(async () => w.teardown());

    it('no data keeps the canary waiting, then the progress deadline rolls it back', async () => {
      await given(w, {
        steps: [{ setWeight: 34 }, { pause: { duration: '1s' } }],
        analysis: analysis([{ name: 'p99', datadogQuery: { query: 'p99:absent.metric{version:{{ version }}}', max: 1 } }]),
        progressDeadline: '5s',
      });
      await w.setImage('web', 'example.com/web:1.1.0');
      const waiting = await w.waitFor('web', (c) => /waiting for checks/.test(c.status?.message ?? ''), 'waiting for checks');
      expect(waiting.status?.message).to.match(/no data/i);
      expect(waiting.status?.conditions?.find((x) => x.type === 'ChecksPassing')?.status).to.equal('Unknown');
      const c = await w.waitPhase('web', 'RolledBack');
      expect(c.status?.message).to.match(/checks did not pass within the progress deadline/);
    });

    it('canary pods that never become Ready roll back at the progress deadline', async () => {
      const stable = await given(w, { progressDeadline: '4s' });
      await w.apply(w.deploymentManifest('web', 'example.com/web:1.1.0', { podLabels: { 'sim.deployer.dev/ready': 'false' } }));
      const c = await w.waitPhase('web', 'RolledBack');
      expect(c.status?.message).to.match(/canary pods not Ready within the progress deadline: 0\/2/);
      expect(await w.stablePodNames('web')).to.deep.equal(stable);
      await w.waitForEvents('web', ['ProgressDeadlineExceeded']);
    });

    it('a promotion that does not complete in time restores the stable template', async () => {
      await given(w, { steps: [{ setWeight: 34 }, { pause: {} }], progressDeadline: '8s' });
      await w.apply(w.deploymentManifest('web', 'example.com/web:1.1.0', { podLabels: { 'sim.deployer.dev/ready': 'false' } }));
      await w.waitFor('web', (c) => c.status?.canaryVersion === '1.1.0', 'testing 1.1.0', 10_000);
      await w.annotate('web', 'deployer.dev/promote', 'now');
      await w.waitPhase('web', 'Promoting', 10_000);
      const c = await w.waitPhase('web', 'RolledBack', 30_000);
      expect(c.status?.message).to.match(/did not complete within the progress deadline.*restored stable revision/);
      // The status is written first; the same pass then restores the template.
      const d = await eventually(async () => {
        const dep = await w.deploymentObject('web');
        if (dep.spec.template.spec.containers[0]?.image !== 'example.com/web:1.0.0') throw new Error(`template still ${dep.spec.template.spec.containers[0]?.image}`);
        return dep;
      }, { timeoutMs: 10_000 });
      expect(d.spec.paused ?? false).to.equal(false);
      const rollout = await kubectl(['rollout', 'status', 'deployment/web', '-n', w.ns, '--timeout=30s']);
      expect(rollout.code, rollout.stderr).to.equal(0);
      await sleep(1_000);
      const after = await w.get('web');
      expect(after.status?.phase, 'the rollback stands').to.equal('RolledBack');
      expect(after.status?.failedRevision).to.equal(c.status?.canaryRevision);
    });

    it('a newer revision mid-analysis discards the canary pods and restarts from the first step', async () => {
      await given(w, { steps: [{ setWeight: 34 }, { pause: { duration: '4s' } }] });
      await w.setImage('web', 'example.com/web:1.1.0');
      const first = await w.waitFor('web', (c) => (c.status?.canaryReadyReplicas ?? 0) > 0, 'canary pods ready');
      await w.setImage('web', 'example.com/web:1.2.0');
      await w.waitFor('web', (c) => c.status?.canaryVersion === '1.2.0' && c.status?.canaryRevision !== first.status?.canaryRevision, 'restarted');
      // The status is written first; the same pass then deletes the superseded canary ReplicaSet.
      await eventually(async () => {
        const rs = await w.replicaSets('deployer.dev/canary-of=web');
        const stale = rs.filter((r) => r.metadata.labels?.['deployer.dev/revision'] === first.status?.canaryRevision && !r.metadata.deletionTimestamp);
        if (stale.length) throw new Error(`the superseded canary ReplicaSet ${stale[0]!.metadata.name} is still there`);
      }, { timeoutMs: 10_000 });
      await w.waitForEvents('web', ['Superseded']);
      const done = await w.waitPhase('web', 'Succeeded');
      expect(done.status?.stableVersion).to.equal('1.2.0');
    });

    it('abort and promote requests are acted on once and echoed in status', async () => {
      await given(w, { steps: [{ setWeight: 34 }, { pause: {} }] });
      await w.setImage('web', 'example.com/web:1.1.0');
      await w.waitPhase('web', 'Paused');
      await w.annotate('web', 'deployer.dev/promote', 'p-1');
      const c = await w.waitPhase('web', 'Succeeded');
      expect(c.status?.requests?.promote?.id).to.equal('p-1');
      await w.setImage('web', 'example.com/web:1.2.0');
      await w.waitPhase('web', 'Paused');
      await w.annotate('web', 'deployer.dev/abort', 'a-1');
      const r = await w.waitPhase('web', 'RolledBack');
      expect(r.status?.message).to.contain('aborted by request a-1');
    });

    it('spec.paused holds progress', async () => {
      await given(w, { steps: [{ setWeight: 34 }, { pause: { duration: '1s' } }], paused: true });
      await w.setImage('web', 'example.com/web:1.1.0');
      await w.waitPhase('web', 'Paused');
      await sleep(2_000);
      expect((await w.get('web')).status?.phase).to.equal('Paused');
      const r = await kubectl(['patch', 'canary', 'web', '-n', w.ns, '--type=merge', '-p', '{"spec":{"paused":false}}']);
      expect(r.code, r.stderr).to.equal(0);
      await w.waitPhase('web', 'Succeeded');
    });
  });

  describe('Datadog failures never pass and never touch stable pods', () => {
    const cases: Array<{ name: string; setup: (w: World) => Promise<void> | void; check?: CheckSpec; secret?: (w: World) => Record<string, string>; message: RegExp }> = [
      {
        name: '403 (wrong keys)',
        setup: () => undefined,
        secret: (w) => ({ 'api-key': 'wrong', 'app-key': 'wrong', url: w.dd.url }),
        message: /rejected the API or application key \(403/,
      },
      { name: '404 (unknown monitor)', setup: () => undefined, check: { name: 'errors', datadogMonitor: { id: 999 } }, message: /monitor 999 not found/ },
      { name: '500', setup: (w) => w.dd.addFault({ path: '/api/v1/monitor/*', status: 500, body: { errors: ['boom'] } }), message: /Datadog answered 500/ },
      { name: 'a timeout', setup: (w) => w.dd.addFault({ path: '/api/v1/monitor/*', delayMs: 2_500 }), message: /no answer from Datadog within/ },
    ];
    for (const tc of cases) {
      it(`rolls back after consecutive errors: ${tc.name}`, async () => {
        const w = await World.create('dderr');
        try {
          await w.startOperator();
          const stable = await given(w, tc.check ? { analysis: analysis([tc.check]) } : {}, tc.secret ? { secret: tc.secret(w) } : {});
          await tc.setup(w);
          await w.setImage('web', 'example.com/web:1.1.0');
          const c = await w.waitPhase('web', 'RolledBack');
          expect(c.status?.message).to.match(/could not be measured 3 times in a row/);
          expect(c.status?.message).to.match(tc.message);
          expect(c.status?.checks?.[0]?.passes).to.equal(0);
          expect(JSON.stringify(c.status)).to.not.contain(API_KEY);
          expect(await w.stablePodNames('web')).to.deep.equal(stable);
        } finally {
          await w.teardown();
        }
      });
    }

    it('a 429 that clears after its reset is retried and the canary completes', async () => {
      const w = await World.create('dd429');
      try {
        await w.startOperator();
        await given(w);
        w.dd.rateLimit({ path: '/api/v1/monitor/*', times: 1, resetSeconds: 1 });
        await w.setImage('web', 'example.com/web:1.1.0');
        const c = await w.waitPhase('web', 'Succeeded');
        expect(c.status?.checks?.[0]?.errors).to.equal(0);
        expect(w.dd.requests('/api/v1/monitor/101').some((r) => r.status === 429)).to.equal(true);
      } finally {
        await w.teardown();
      }
    });
  });

  describe('invalid input', () => {
    let w: World;
    before(async () => {
      w = await World.create('invalid');
      await w.startOperator();
    });
    after(async () => w.teardown());

    const rejected: Array<{ name: string; spec: Record<string, unknown>; message: RegExp }> = [
      { name: 'a weight outside 1–99', spec: { steps: [{ setWeight: 150 }] }, message: /should be less than or equal to 99|must be less than or equal to 99/ },
      { name: 'a step with two actions', spec: { steps: [{ setWeight: 10, pause: {} }] }, message: /exactly one of setWeight or pause/ },
      { name: 'a step with no action', spec: { steps: [{}] }, message: /exactly one of setWeight or pause/ },
      { name: 'a check with two kinds', spec: { steps: [], datadog: { secretRef: { name: 'd' } }, analysis: { checks: [{ name: 'a', datadogMonitor: { id: 1 }, datadogQuery: { query: 'q', max: 1 } }] } }, message: /exactly one of datadogMonitor, datadogQuery, compare, prometheusQuery or webhook/ },
      { name: 'duplicate check names', spec: { steps: [], datadog: { secretRef: { name: 'd' } }, analysis: { checks: [{ name: 'a', datadogMonitor: { id: 1 } }, { name: 'a', datadogMonitor: { id: 2 } }] } }, message: /Duplicate value/ },
      { name: 'a duration under 1s', spec: { steps: [{ pause: { duration: '500ms' } }] }, message: /at least 1s/ },
      { name: 'a malformed duration', spec: { steps: [], progressDeadline: '5 minutes' }, message: /should match|must match|pattern/ },
      { name: 'a negative failureLimit', spec: { steps: [], analysis: { failureLimit: -1 } }, message: /greater than or equal to 0/ },
      { name: 'no targetRef', spec: { steps: [] }, message: /targetRef: Required value/ },
    ];
    for (const tc of rejected) {
      it(`the apiserver rejects ${tc.name}`, async () => {
        const spec = tc.name === 'no targetRef' ? tc.spec : { targetRef: { name: 'web' }, ...tc.spec };
        const r = await kubectl(['apply', '-n', w.ns, '-f', '-'], { input: JSON.stringify({ apiVersion: 'deployer.dev/v1alpha1', kind: 'Canary', metadata: { name: 'bad' }, spec }) });
        expect(r.code).to.not.equal(0);
        expect(r.stderr).to.match(tc.message);
      });
    }

    it('a missing Deployment is a False condition with a clear reason and an Event', async () => {
      await w.canary('ghost', { steps: [{ setWeight: 10 }] });
      const c = await w.waitPhase('ghost', 'Failed');
      expect(c.status?.conditions?.find((x) => x.type === 'Ready')).to.include({ status: 'False', reason: 'TargetNotFound' });
      expect(c.status?.message).to.contain(`Deployment ${w.ns}/ghost not found`);
      await w.waitForEvents('ghost', ['TargetNotFound']);
    });

    it('a missing Secret, or one without its keys, is reported before any revision and touches no pod', async () => {
      await w.deployment('api', 'example.com/api:1.0.0');
      const pods = await w.stablePodNames('api');
      await w.apply({
        apiVersion: 'deployer.dev/v1alpha1',
        kind: 'Canary',
        metadata: { name: 'api' },
        spec: { targetRef: { name: 'api' }, steps: [{ setWeight: 10 }], analysis: analysis([monitorCheck]), datadog: { secretRef: { name: 'nope' } } },
      });
      const c = await w.waitFor('api', (x) => x.status?.conditions?.find((k) => k.type === 'Ready')?.reason === 'SecretNotFound', 'SecretNotFound');
      expect(c.status?.message).to.contain(`Secret ${w.ns}/nope not found`);
      await w.datadogSecret('nope', { 'api-key': 'x' });
      const c2 = await w.waitFor('api', (x) => x.status?.conditions?.find((k) => k.type === 'Ready')?.reason === 'SecretInvalid', 'SecretInvalid', 45_000);
      expect(c2.status?.message).to.contain('app-key');
      expect(c2.status?.message).to.not.contain('"x"');
      expect(await w.stablePodNames('api')).to.deep.equal(pods);
      await w.waitForEvents('api', ['SecretNotFound', 'SecretInvalid']);
    });

    it('a second Canary for a guarded Deployment is refused', async () => {
      await w.deployment('one', 'example.com/one:1.0.0');
      await w.canary('one', { steps: [{ setWeight: 10 }] });
      await w.waitPhase('one', 'Waiting');
      await w.apply({ apiVersion: 'deployer.dev/v1alpha1', kind: 'Canary', metadata: { name: 'one-again' }, spec: { targetRef: { name: 'one' }, steps: [{ setWeight: 10 }] } });
      const c = await w.waitPhase('one-again', 'Failed');
      expect(c.status?.conditions?.find((x) => x.type === 'Ready')?.reason).to.equal('TargetAlreadyGuarded');
      expect((await w.deploymentObject('one')).metadata.labels?.['deployer.dev/canary']).to.equal('one');
    });
  });

  describe('deleting a Canary', () => {
    let w: World;
    beforeEach(async () => {
      w = await World.create('delete');
      await w.startOperator();
    });
    afterEach(async () => w.teardown());

    it('while waiting: removes the gate and leaves an ordinary Deployment', async () => {
      await given(w);
      const r = await kubectl(['delete', 'canary', 'web', '-n', w.ns, '--timeout=30s']);
      expect(r.code, r.stderr).to.equal(0);
      const d = await w.deploymentObject('web');
      expect(d.metadata.labels?.['deployer.dev/canary']).to.equal(undefined);
      expect(d.metadata.annotations?.['deployer.dev/stable-revision']).to.equal(undefined);
      await w.setImage('web', 'example.com/web:1.1.0');
      const rollout = await kubectl(['rollout', 'status', 'deployment/web', '-n', w.ns, '--timeout=30s']);
      expect(rollout.code, 'no gate any more').to.equal(0);
    });

    it('mid-analysis: removes the canary pods and keeps the unverified revision paused, saying why', async () => {
      const stable = await given(w, { steps: [{ setWeight: 34 }, { pause: { duration: '30s' } }] });
      await w.setImage('web', 'example.com/web:1.1.0');
      await w.waitFor('web', (c) => (c.status?.canaryReadyReplicas ?? 0) > 0, 'canary pods ready');
      const r = await kubectl(['delete', 'canary', 'web', '-n', w.ns, '--timeout=30s']);
      expect(r.code, r.stderr).to.equal(0);
      const d = await w.deploymentObject('web');
      expect(d.spec.paused).to.equal(true);
      expect(d.metadata.labels?.['deployer.dev/canary']).to.equal(undefined);
      await w.waitForPodsGone('deployer.dev/canary-of=web');
      expect(await w.stablePodNames('web')).to.deep.equal(stable);
      await w.waitForEvents('web', ['DeploymentLeftPaused'], 'Deployment');
      const ev = (await w.events('web', 'Deployment')).find((e) => e.reason === 'DeploymentLeftPaused');
      expect(ev?.message).to.contain('kubectl rollout resume deployment/web');
    });

    it('after a rollback: the failed revision stays held', async () => {
      await given(w);
      w.dd.setAlertVersions(['2.0.0']);
      await w.setImage('web', 'example.com/web:2.0.0');
      await w.waitPhase('web', 'RolledBack');
      const r = await kubectl(['delete', 'canary', 'web', '-n', w.ns, '--timeout=30s']);
      expect(r.code, r.stderr).to.equal(0);
      expect((await w.deploymentObject('web')).spec.paused).to.equal(true);
    });
  });

  describe('restart safety', () => {
    let w: World;
    before(async () => {
      w = await World.create('restart');
    });
    after(async () => w.teardown());

    it('an operator killed mid-analysis resumes without duplicate canary pods or lost measurements', async () => {
      w.startOperatorProcess(['--no-leader-elect']);
      await given(w, { steps: [{ setWeight: 34 }, { pause: { duration: '12s' } }] });
      await w.setImage('web', 'example.com/web:1.1.0');
      const mid = await w.waitFor('web', (c) => (c.status?.checks?.[0]?.measurements.length ?? 0) >= 3, 'three measurements');
      const rsBefore = await w.replicaSets('deployer.dev/canary-of=web');
      expect(rsBefore).to.have.length(1);
      await w.killOperatorProcess(w.proc, 'SIGKILL');
      const kept = (await w.get('web')).status!.checks![0]!;
      w.startOperatorProcess(['--no-leader-elect'], 'operator-restarted');
      const resumed = await w.waitFor('web', (c) => (c.status?.checks?.[0]?.passes ?? 0) > kept.passes, 'measuring again');
      const rsAfter = await w.replicaSets('deployer.dev/canary-of=web');
      expect(rsAfter.map((r) => r.metadata.uid), 'the same canary ReplicaSet, no duplicate').to.deep.equal(rsBefore.map((r) => r.metadata.uid));
      expect((await w.canaryPods('web')).length).to.equal(mid.status?.canaryReplicas);
      const after = resumed.status!.checks![0]!;
      const times = after.measurements.map((m) => m.time);
      for (const m of kept.measurements.slice(-(10 - (after.passes - kept.passes)))) expect(times, 'measurements kept across the restart').to.include(m.time);
      const done = await w.waitPhase('web', 'Succeeded');
      expect(mid.status?.canaryRevision).to.equal(done.status?.canaryRevision);
      expect((await w.events('web')).filter((e) => e.reason === 'NewRevision')).to.have.length(1);
    });
  });
});
