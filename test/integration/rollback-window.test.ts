// The Canary's rollback window and the deployer.dev/held-by annotation on the real control
// plane: what a Release relies on to return a promoted target to its previous template without
// a second analysis, and to hold a target until its group starts. Given / When / Then.
import { expect } from 'chai';
import type { Canary, CheckSpec } from '../../src/api/types.js';
import { eventually, kubectl } from '../support/cluster.js';
import { World, versionMonitor } from '../support/world.js';

const FAST_STEPS = [{ setWeight: 34 }, { pause: { duration: '2s' } }];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function given(w: World, name: string, monitorId: number, spec: Partial<Canary['spec']> = {}): Promise<void> {
  w.dd.upsertMonitor(versionMonitor(monitorId, name));
  const check: CheckSpec = { name: 'errors', datadogMonitor: { id: monitorId } };
  await w.deployment(name, `example.com/${name}:1.0.0`);
  await w.canary(name, { steps: FAST_STEPS, analysis: { interval: '1s', checks: [check] }, datadog: { secretRef: { name: 'datadog' } }, progressDeadline: '60s', ...spec });
  await w.waitPhase(name, 'Waiting');
}

/** Records every canary ReplicaSet of `canary` seen until stopped. */
function watchCanaryReplicaSets(w: World, canary: string): { stop: () => Promise<string[]> } {
  const seen = new Set<string>();
  let running = true;
  const loop = (async () => {
    while (running) {
      for (const rs of await w.replicaSets(`deployer.dev/canary-of=${canary}`)) seen.add(rs.metadata.name);
      await sleep(100);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return [...seen];
    },
  };
}

describe('Canary rollback window and held-by on the real control plane', function () {
  this.timeout(150_000);
  let w: World;
  before(async () => {
    w = await World.create('rbwindow');
    w.dd.setVersions(['1.0.0', '1.1.0']);
    await w.datadogSecret();
    await w.startOperator();
  });
  after(async () => w.teardown());

  it('a promoted target written back to its previous template rolls back at once, without a canary', async () => {
    await given(w, 'web', 201);
    await w.setImage('web', 'example.com/web:1.1.0');
    const promoted = await w.waitFor('web', (c) => c.status?.phase === 'Succeeded' && c.status.stableVersion === '1.1.0', 'promoted 1.1.0');
    const v1 = promoted.status?.history?.[0]?.stableRevisionBefore;
    expect(promoted.status?.history?.[0]).to.include({ outcome: 'Promoted', reason: 'Promoted', version: '1.1.0', revision: promoted.status?.stableRevision });
    expect(v1).to.be.a('string');
    await w.waitNoCanaryPods('web');
    const before = (await w.replicaSets('deployer.dev/canary-of=web')).length;
    expect(before).to.equal(0);

    const watch = watchCanaryReplicaSets(w, 'web');
    const start = Date.now();
    await w.setImage('web', 'example.com/web:1.0.0');
    const back = await w.waitFor('web', (c) => c.status?.phase === 'Succeeded' && c.status.stableRevision === v1, 'back on 1.0.0', 30_000);
    const rollout = await kubectl(['rollout', 'status', 'deployment/web', '-n', w.ns, '--timeout=30s']);
    const elapsed = Date.now() - start;
    const created = await watch.stop();

    expect(rollout.code, rollout.stderr).to.equal(0);
    expect(created, 'no canary ReplicaSet for the revert').to.deep.equal([]);
    expect(back.status?.message).to.match(/^revision \w+ \(version 1\.0\.0\) was stable until \S+ \(within the rollback window of 3\): rolled out without a new canary$/);
    expect(back.status?.history?.[0]).to.include({ revision: v1, outcome: 'Promoted', reason: 'RevertAccepted', version: '1.0.0' });
    const d = await w.deploymentObject('web');
    expect(d.spec.template.spec.containers[0]?.image).to.equal('example.com/web:1.0.0');
    expect(d.metadata.annotations?.['deployer.dev/stable-revision']).to.equal(v1);
    expect(d.spec.paused ?? false).to.equal(false);
    expect(elapsed, 'no analysis: well under the canary steps and the rollout of a held revision').to.be.lessThan(20_000);
    await w.waitForEvents('web', ['RevertAccepted']);
  });

  it('with rollbackWindow.revisions 0 the same revert runs a canary', async () => {
    await given(w, 'api', 202, { rollbackWindow: { revisions: 0 } });
    // The cluster is shared: a Canary CRD without spec.rollbackWindow would prune the field.
    expect((await w.get('api')).spec.rollbackWindow, 'the applied CRD keeps spec.rollbackWindow').to.deep.equal({ revisions: 0 });
    await w.setImage('api', 'example.com/api:1.1.0');
    await w.waitFor('api', (c) => c.status?.phase === 'Succeeded' && c.status.stableVersion === '1.1.0', 'promoted 1.1.0');
    await w.setImage('api', 'example.com/api:1.0.0');
    await w.waitFor('api', (c) => c.status?.phase === 'Progressing' && c.status.canaryVersion === '1.0.0', 'a canary of 1.0.0');
    await eventually(async () => {
      const rs = await w.replicaSets('deployer.dev/canary-of=api');
      if (rs.length === 0) throw new Error('no canary ReplicaSet yet');
    });
    await w.waitFor('api', (c) => c.status?.phase === 'Succeeded' && c.status.stableVersion === '1.0.0', 'promoted 1.0.0 after its canary');
    const events = await w.events('api');
    expect(events.map((e) => e.reason), JSON.stringify(events.map((e) => [e.reason, e.message]))).not.to.include('RevertAccepted');
  });

  it('a revision whose ReplicaSet is gone (revisionHistoryLimit 0) runs a canary', async () => {
    w.dd.upsertMonitor(versionMonitor(204, 'shop'));
    const manifest = w.deploymentManifest('shop', 'example.com/shop:1.0.0');
    (manifest.spec as Record<string, unknown>).revisionHistoryLimit = 0;
    await w.apply(manifest);
    const ready = await kubectl(['rollout', 'status', 'deployment/shop', '-n', w.ns, '--timeout=60s']);
    expect(ready.code, ready.stderr).to.equal(0);
    await w.canary('shop', { steps: FAST_STEPS, analysis: { interval: '1s', checks: [{ name: 'errors', datadogMonitor: { id: 204 } }] }, datadog: { secretRef: { name: 'datadog' } }, progressDeadline: '60s' });
    await w.waitPhase('shop', 'Waiting');
    await w.setImage('shop', 'example.com/shop:1.1.0');
    await w.waitFor('shop', (c) => c.status?.phase === 'Succeeded' && c.status.stableVersion === '1.1.0', 'promoted 1.1.0');
    await eventually(async () => {
      const own = (await w.replicaSets('app=shop,!deployer.dev/role')).length;
      if (own !== 1) throw new Error(`${own} ReplicaSets of shop, waiting for the old one to go`);
    });
    await w.setImage('shop', 'example.com/shop:1.0.0');
    await w.waitFor('shop', (c) => c.status?.phase === 'Progressing' && c.status.canaryVersion === '1.0.0', 'a canary of 1.0.0');
    expect((await w.events('shop')).map((e) => e.reason)).not.to.include('RevertAccepted');
    await w.waitFor('shop', (c) => c.status?.phase === 'Succeeded' && c.status.stableVersion === '1.0.0', 'promoted 1.0.0 after its canary');
  });

  it('deployer.dev/held-by holds a new revision without canary pods until it is removed; a running canary is unaffected', async () => {
    await given(w, 'worker', 203);
    await w.annotate('worker', 'deployer.dev/held-by', 'release/shop');
    await w.setImage('worker', 'example.com/worker:1.1.0');
    const held = await w.waitFor('worker', (c) => /held by release\/shop until its group starts$/.test(c.status?.message ?? ''), 'held by the release');
    expect(held.status?.phase).to.equal('Waiting');
    expect(held.status?.conditions?.find((c) => c.type === 'Progressing')).to.include({ status: 'False', reason: 'HeldByRelease' });
    await sleep(3_000); // a canary would have started by now
    expect(await w.replicaSets('deployer.dev/canary-of=worker')).to.have.length(0);
    expect((await w.deploymentObject('worker')).spec.paused, 'held by the gate').to.equal(true);
    await w.waitForEvents('worker', ['HeldByRelease']);

    const r = await kubectl(['annotate', 'canary', 'worker', 'deployer.dev/held-by-', '-n', w.ns]);
    expect(r.code, r.stderr).to.equal(0);
    await w.waitFor('worker', (c) => c.status?.phase === 'Progressing' && (c.status.canaryReadyReplicas ?? 0) > 0, 'canary running');
    // Held again while its canary runs: the canary goes on.
    await w.annotate('worker', 'deployer.dev/held-by', 'release/shop');
    const done = await w.waitFor('worker', (c) => c.status?.phase === 'Succeeded' && c.status.stableVersion === '1.1.0', 'promoted 1.1.0');
    expect(done.status?.history?.[0]).to.include({ outcome: 'Promoted', release: 'shop' });
  });
});
