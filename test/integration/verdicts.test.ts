// Verdicts on the real control plane: the two ways a canary could be promoted without being
// judged (canary and stable reporting the same version; a step list without pauses), with the
// real kubectl and the real Datadog client talking to the local Datadog stand-in.
// Given / When / Then.
import { Watch } from '@kubernetes/client-node';
import { expect } from 'chai';
import type { Canary, CheckSpec } from '../../src/api/types.js';
import { eventually, kubectl } from '../support/cluster.js';
import { World, versionMonitor } from '../support/world.js';

const monitorCheck: CheckSpec = { name: 'errors', datadogMonitor: { id: 101 } };
const analysis = (checks: CheckSpec[]) => ({ interval: '1s', failureLimit: 0, checks });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const DISTINCT = /^1\.0\.0-[0-9a-f]{10}$/;

/** Given: a Deployment "web" at 1.0.0 with 3 pods, a Datadog Secret, a per-version monitor, a guarding Canary. */
async function given(w: World, spec: Partial<Canary['spec']>): Promise<string[]> {
  w.dd.upsertMonitor(versionMonitor(101, 'web'));
  w.dd.setVersions(['1.0.0']);
  w.dd.setAlertVersions([]);
  await w.datadogSecret('datadog');
  await w.deployment('web', 'example.com/web:1.0.0');
  await w.canary('web', { analysis: analysis([monitorCheck]), datadog: { secretRef: { name: 'datadog' } }, progressDeadline: '60s', ...spec });
  await w.waitPhase('web', 'Waiting');
  return w.stablePodNames('web');
}

async function setEnv(w: World, name: string, value: string): Promise<void> {
  const r = await kubectl(['set', 'env', 'deployment/web', `${name}=${value}`, '-n', w.ns]);
  if (r.code !== 0) throw new Error(`kubectl set env failed: ${r.stderr}`);
}

/** The phases a Canary went through while `until` was pending, sampled. */
function recordPhases(w: World): { phases: Set<string>; stop: () => void } {
  const phases = new Set<string>();
  let on = true;
  void (async () => {
    while (on) {
      const c = await w.get('web').catch(() => undefined);
      if (c?.status?.phase) phases.add(c.status.phase);
      await sleep(100);
    }
  })();
  return { phases, stop: () => void (on = false) };
}

describe('Verdicts on the real control plane', function () {
  this.timeout(150_000);

  describe('a configuration-only change (the canary and stable versions are equal)', () => {
    const steps = [{ setWeight: 34 }, { pause: { duration: '3s' } }];
    let w: World;
    beforeEach(async () => {
      w = await World.create('equalver');
      await w.startOperator();
    });
    afterEach(async () => w.teardown());

    it('is rolled back when the canary pods alert while the aggregate of the version is OK', async () => {
      const stable = await given(w, { steps });
      const seen = recordPhases(w);
      await setEnv(w, 'FEATURE_FLAG', 'broken');

      // The canary gets a version of its own, and its pods report it.
      const started = await w.waitFor('web', (c) => DISTINCT.test(c.status?.canaryVersion ?? ''), 'given a distinct canary version');
      const canaryVersion = started.status!.canaryVersion!;
      w.dd.setVersions(['1.0.0', canaryVersion]);
      w.dd.setAlertVersions([canaryVersion]); // version:1.0.0, where ~2/3 of the traffic is, stays OK

      const c = await w.waitPhase('web', 'RolledBack');
      seen.stop();
      expect([...seen.phases]).to.not.include('Promoting');
      expect([...seen.phases]).to.not.include('Succeeded');
      expect(c.status?.message).to.contain('check errors failed');
      const fail = c.status?.checks?.[0]?.measurements.find((m) => m.verdict === 'Fail');
      expect(fail?.message).to.contain(`group version:${canaryVersion} is Alert`);
      await w.waitNoCanaryPods('web');
      expect(await w.stablePodNames('web'), 'stable pods untouched').to.deep.equal(stable);
      const d = await w.deploymentObject('web');
      expect(d.spec.paused, 'the failed template stays held').to.equal(true);
      const events = await w.events('web');
      expect(events.find((e) => e.reason === 'DistinctCanaryVersion')?.message).to.contain(canaryVersion);
    });

    it('is promoted when the canary pods are healthy, judged on their own group', async () => {
      await given(w, { steps });
      await setEnv(w, 'FEATURE_FLAG', 'fine');
      const started = await w.waitFor('web', (c) => DISTINCT.test(c.status?.canaryVersion ?? ''), 'given a distinct canary version');
      const canaryVersion = started.status!.canaryVersion!;
      const pods = await w.canaryPods('web');
      for (const p of pods) expect(p.metadata.labels?.['tags.datadoghq.com/version']).to.equal(canaryVersion);
      w.dd.setVersions(['1.0.0', canaryVersion]);

      const done = await w.waitPhase('web', 'Succeeded');
      expect(done.status?.stableVersion, 'the stable pods report the template version').to.equal('1.0.0');
      const passes = done.status?.checks?.[0]?.measurements.filter((m) => m.verdict === 'Pass') ?? [];
      expect(passes.length).to.be.greaterThan(0);
      expect(passes.every((m) => (m.message ?? '').includes(`group version:${canaryVersion} is OK`))).to.equal(true);
      const rollout = await kubectl(['rollout', 'status', 'deployment/web', '-n', w.ns, '--timeout=30s']);
      expect(rollout.code, rollout.stderr).to.equal(0);
      await w.waitNoCanaryPods('web');
    });
  });

  describe('a step list without pauses', () => {
    const steps = [{ setWeight: 34 }, { setWeight: 50 }];
    let w: World;
    beforeEach(async () => {
      w = await World.create('nopause');
      await w.startOperator();
    });
    afterEach(async () => w.teardown());

    it('is not promoted before every check has recorded a Pass at the last weight', async () => {
      await given(w, { steps });
      // No group for 1.1.0 yet: the monitor says No Data (Inconclusive) for the canary.
      await w.setImage('web', 'example.com/web:1.1.0');
      const waiting = await w.waitFor(
        'web',
        (c) => c.status?.conditions?.some((x) => x.type === 'Progressing' && x.reason === 'WaitingForChecks') === true,
        'waiting for checks at the last weight',
      );
      expect(waiting.status?.canaryWeight).to.equal(50);
      await sleep(4_000);
      const still = await w.get('web');
      expect(still.status?.phase, still.status?.message).to.equal('Progressing');
      expect(still.status?.checks?.[0]?.passes).to.equal(0);
      expect((await w.deploymentObject('web')).spec.paused, 'the new template is still held').to.equal(true);

      w.dd.setVersions(['1.0.0', '1.1.0']);
      const done = await w.waitPhase('web', 'Succeeded');
      const weightReadyAt = Date.parse(done.status?.weightReadyAt ?? '');
      const passes = done.status?.checks?.[0]?.measurements.filter((m) => m.verdict === 'Pass') ?? [];
      expect(passes.some((m) => Date.parse(m.time) >= weightReadyAt), 'a Pass measured at the last weight').to.equal(true);
      await w.waitForEvents('web', ['Promoted']);
    });

    it('is rolled back when the monitor alerts for the canary', async () => {
      const stable = await given(w, { steps });
      w.dd.setVersions(['1.0.0', '2.0.0']);
      w.dd.setAlertVersions(['2.0.0']);
      const seen = recordPhases(w);
      await w.setImage('web', 'example.com/web:2.0.0');
      const c = await w.waitPhase('web', 'RolledBack');
      seen.stop();
      expect([...seen.phases]).to.not.include('Promoting');
      expect(c.status?.message).to.match(/check errors failed 1 time\(s\) \(limit 0\): Fail Alert/);
      await w.waitNoCanaryPods('web');
      expect(await w.stablePodNames('web')).to.deep.equal(stable);
      expect((await w.deploymentObject('web')).spec.template.spec.containers[0]?.image).to.equal('example.com/web:2.0.0');
    });
  });

  describe('checks without a setWeight', () => {
    let w: World;
    beforeEach(async () => {
      w = await World.create('noweight');
      await w.startOperator();
    });
    afterEach(async () => w.teardown());

    it('an empty step list runs one canary pod and promotes only after a Pass measured on it', async () => {
      await given(w, { steps: [] });
      w.dd.setVersions(['1.0.0', '1.1.0']);
      // Every status written, seen by a watch (the 1-pod state can last less than a poll interval).
      const written: Array<{ replicas?: number; ready?: number }> = [];
      const watching = await new Watch(w.kc).watch(
        `/apis/deployer.dev/v1alpha1/namespaces/${w.ns}/canaries`,
        { fieldSelector: 'metadata.name=web' },
        (_type: string, obj: Canary) => void written.push({ replicas: obj.status?.canaryReplicas, ready: obj.status?.canaryReadyReplicas }),
        () => undefined,
      );
      try {
        await w.setImage('web', 'example.com/web:1.1.0');
        const c = await w.waitPhase('web', 'Succeeded', 30_000);
        // Then: one canary pod ran the new revision (weight 0 would have run none), never more ...
        expect(written.some((s) => s.replicas === 1 && s.ready === 1), 'one canary pod Ready').to.equal(true);
        expect(written.every((s) => (s.replicas ?? 0) <= 1)).to.equal(true);
        // ... and the promotion followed a Pass measured once it was Ready.
        const ready = Date.parse(c.status?.analysisStartedAt ?? '');
        expect(c.status?.checks?.[0]?.measurements.some((m) => m.verdict === 'Pass' && Date.parse(m.time) >= ready)).to.equal(true);
        await w.waitForEvents('web', ['CanaryPodsReady', 'Promoted']);
      } finally {
        watching.abort();
      }
    });
  });

  describe('a long step and a promotion under way', () => {
    let w: World;
    beforeEach(async () => {
      w = await World.create('holding');
      await w.startOperator();
    });
    afterEach(async () => w.teardown());

    it('an HPA-style resize late in a pause: {} step gives the canary pods time instead of rolling back', async () => {
      await given(w, { steps: [{ setWeight: 34 }, { pause: {} }], progressDeadline: '8s' });
      w.dd.setVersions(['1.0.0', '1.1.0']);
      await w.setImage('web', 'example.com/web:1.1.0');
      await w.waitPhase('web', 'Paused');
      await sleep(10_000); // the step is now older than the progress deadline
      const seen = recordPhases(w);
      const r = await kubectl(['scale', 'deployment/web', '--replicas=6', '-n', w.ns]);
      expect(r.code, r.stderr).to.equal(0);
      const c = await w.waitFor('web', (x) => x.status?.canaryReplicas === 4 && x.status?.canaryReadyReplicas === 4 && x.status?.phase === 'Paused', '4 canary pods Ready, paused');
      await sleep(2_000);
      seen.stop();
      expect([...seen.phases]).to.not.include('RolledBack');
      expect(c.status?.failedRevision).to.equal(undefined);
      expect((await w.get('web')).status?.phase).to.equal('Paused');
    });

    it('abort during the promotion restores the stable template', async () => {
      await given(w, { steps: [{ setWeight: 34 }, { pause: {} }] });
      w.dd.setVersions(['1.0.0', '1.1.0']);
      // The new pods never become Ready, so the rolling update stays under way.
      await w.apply(w.deploymentManifest('web', 'example.com/web:1.1.0', { podLabels: { 'sim.deployer.dev/ready': 'false' } }));
      await w.waitFor('web', (c) => c.status?.canaryVersion === '1.1.0', 'testing 1.1.0', 10_000);
      await w.annotate('web', 'deployer.dev/promote', 'p-1');
      await w.waitPhase('web', 'Promoting', 10_000);

      // Someone pauses the rollout to look: it stays paused.
      const pause = await kubectl(['rollout', 'pause', 'deployment/web', '-n', w.ns]);
      expect(pause.code, pause.stderr).to.equal(0);
      await w.waitFor('web', (c) => c.status?.phase === 'Paused' && (c.status?.message ?? '').includes('paused by someone else'), 'held by the human pause', 10_000);
      await sleep(2_000);
      expect((await w.deploymentObject('web')).spec.paused, 'a human pause is not undone').to.equal(true);

      await w.annotate('web', 'deployer.dev/abort', 'a-1');
      const c = await w.waitPhase('web', 'RolledBack', 15_000);
      expect(c.status?.message).to.match(/aborted by request a-1 during the promotion; restored stable revision/);
      expect(c.status?.requests?.abort?.id).to.equal('a-1');
      // The status is written before the restore, so the template follows it shortly.
      await eventually(
        async () => expect((await w.deploymentObject('web')).spec.template.spec.containers[0]?.image).to.equal('example.com/web:1.0.0'),
        { timeoutMs: 10_000 },
      );
      const rollout = await kubectl(['rollout', 'status', 'deployment/web', '-n', w.ns, '--timeout=30s']);
      expect(rollout.code, rollout.stderr).to.equal(0);
      await w.waitNoCanaryPods('web');
      await w.waitForEvents('web', ['AbortRequested']);
    });
  });
});
