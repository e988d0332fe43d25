// Health as the GitOps tools compute it, with their own libraries: Argo CD's health.lua for
// deployer.dev/Canary run by gopher-lua (the interpreter Argo CD embeds), and kstatus
// (sigs.k8s.io/cli-utils, the library behind Flux's health checks), on objects captured from the
// real control plane in every phase of a scripted release.
//
// The fixtures in deploy/argocd/resource_customizations/deployer.dev/Canary/testdata are those
// captured objects. DEPLOYER_UPDATE_FIXTURES=1 rewrites them from the live run; otherwise the
// run checks that each fixture still has the live object's shape (phase, conditions, observed
// generation) and that health_test.yaml expects what the live object yields.
import { expect } from 'chai';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import type { CheckSpec } from '../../src/api/types.js';
import { kubectl, kubectlJson } from '../support/cluster.js';
import { ARGOCD_CANARY_DIR, argoHealth, healthTool, kstatus, luaTest, type Health } from '../support/health.js';
import { World, versionMonitor } from '../support/world.js';
import { refuseCanaryReplicaSets } from '../support/policies.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('Argo CD health.lua for deployer.dev/Canary, run by gopher-lua', function () {
  this.timeout(20 * 60_000); // a cold machine builds the helper first

  it('every case of health_test.yaml, with the standard libraries (built-in) and without (argocd-cm)', async () => {
    const r = await luaTest(ARGOCD_CANARY_DIR);
    const listed = (parse(readFileSync(join(ARGOCD_CANARY_DIR, 'health_test.yaml'), 'utf8')) as { tests: unknown[] }).tests.length;
    expect(r.cases.length, r.stderr).to.equal(listed);
    for (const c of r.cases) {
      expect(c.openLibs, `${c.inputPath} (open libs)`).to.deep.equal(c.expected);
      expect(c.argocdCm, `${c.inputPath} (argocd-cm)`).to.deep.equal(c.expected);
    }
    expect(r.code, r.stderr).to.equal(0);
    // One case per Argo CD status the script can return.
    expect(new Set(r.cases.map((c) => c.expected.status))).to.deep.equal(new Set(['Progressing', 'Healthy', 'Suspended', 'Degraded']));
  });

  it('a case whose expectation differs fails, and a script that needs the string library fails as argocd-cm runs it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'deployer-lua-'));
    try {
      mkdirSync(join(dir, 'testdata'));
      copyFileSync(join(ARGOCD_CANARY_DIR, 'testdata/degraded_rolledBack.yaml'), join(dir, 'testdata/o.yaml'));
      copyFileSync(join(ARGOCD_CANARY_DIR, 'health.lua'), join(dir, 'health.lua'));
      writeFileSync(join(dir, 'health_test.yaml'), stringify({ tests: [{ healthStatus: { status: 'Healthy' }, inputPath: 'testdata/o.yaml' }] }));
      const wrong = await luaTest(dir);
      expect(wrong.code).to.equal(1);
      expect(wrong.cases.map((c) => [c.ok, (c.openLibs as Health).status])).to.deep.equal([[false, 'Degraded']]);

      writeFileSync(join(dir, 'health.lua'), 'return { status = "Healthy", message = obj.status.phase:lower() }\n');
      writeFileSync(join(dir, 'health_test.yaml'), stringify({ tests: [{ healthStatus: { status: 'Healthy', message: 'rolledback' }, inputPath: 'testdata/o.yaml' }] }));
      const strings = await luaTest(dir);
      expect(strings.code).to.equal(1);
      expect(strings.cases[0]?.openLibs).to.deep.equal({ status: 'Healthy', message: 'rolledback' });
      expect((strings.cases[0]?.argocdCm as { error: string }).error).to.match(/attempt to index a non-table object\(string\) with key 'lower'/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** What a fixture must share with the live object it stands for. */
function shape(o: Obj): unknown {
  return {
    phase: o.status?.phase,
    specPaused: o.spec?.paused ?? false,
    generationObserved: o.status?.observedGeneration === undefined ? undefined : o.status.observedGeneration === o.metadata.generation,
    // The conditions the health checks read (ChecksPassing varies with the moment of capture).
    conditions: ((o.status?.conditions ?? []) as Obj[])
      .filter((c) => ['Ready', 'Progressing', 'Reconciling', 'Stalled'].includes(c.type))
      .map((c) => `${c.type}=${c.status}/${c.reason}`)
      .sort(),
  };
}

/** A captured object as a fixture: no server bookkeeping, the namespace renamed "shop". */
function fixture(o: Obj, ns: string): Obj {
  const copy = JSON.parse(JSON.stringify(o).replaceAll(ns, 'shop')) as Obj;
  for (const k of ['managedFields', 'uid', 'resourceVersion', 'creationTimestamp']) delete copy.metadata[k];
  return copy;
}

interface Row {
  state: string;
  file: string;
  argo: Health;
  argoCm: Health;
  canary: Health;
  deployment: Health;
  /** The Canary as captured. */
  obj: Obj;
}

describe('GitOps health of a Canary and its Deployment through a release, on the real control plane', function () {
  this.timeout(20 * 60_000);
  let w: World;
  const rows: Row[] = [];
  const tests = (parse(readFileSync(join(ARGOCD_CANARY_DIR, 'health_test.yaml'), 'utf8')) as { tests: Array<{ inputPath: string; healthStatus: Health }> }).tests;
  const update = process.env.DEPLOYER_UPDATE_FIXTURES === '1';

  before(async () => {
    await healthTool();
    w = await World.create('gitops-health');
  });
  after(async () => w.teardown());

  const get = (kind: string, name: string) => kubectlJson<Obj>(['get', kind, name, '-n', w.ns, '-o', 'json']);

  /** Captures the Canary (and its Deployment) now, computes every health, checks the fixture. */
  async function capture(state: string, file: string, canaryName = 'web', deployment: string | null = 'web'): Promise<Row> {
    const canary = await get('canary', canaryName);
    const dep = deployment ? await get('deployment', deployment) : undefined;
    const [argo] = await argoHealth([canary], true);
    const [argoCm] = await argoHealth([canary], false);
    const [kc, kd] = await kstatus(dep ? [canary, dep] : [canary]);
    const row: Row = { state, file, argo: argo!, argoCm: argoCm!, canary: kc!, deployment: kd ?? { status: '-' }, obj: canary };
    rows.push(row);
    expect(argoCm, 'argocd-cm and built-in runs agree').to.deep.equal(argo);
    const path = join(ARGOCD_CANARY_DIR, 'testdata', file);
    if (update) writeFileSync(path, stringify(fixture(canary, w.ns)));
    expect(existsSync(path), `fixture ${file}`).to.equal(true);
    const fx = parse(readFileSync(path, 'utf8')) as Obj;
    expect(shape(fx), `fixture ${file} has the live object's shape`).to.deep.equal(shape(canary));
    const tc = tests.find((t) => t.inputPath === `testdata/${file}`);
    expect(tc, `health_test.yaml lists testdata/${file}`).to.not.equal(undefined);
    expect(tc!.healthStatus.status, `health_test.yaml expects for ${file} what the live object yields`).to.equal(argo!.status);
    return row;
  }

  it('Argo CD and kstatus in every phase: new, adopted, analysing, gate, spec change, paused, promoting, promoted, paused between releases, rolled back, misconfigured, stalled', async () => {
    const check: CheckSpec = { name: 'errors', datadogMonitor: { id: 101 } };
    w.dd.upsertMonitor(versionMonitor(101, 'web'));
    w.dd.setVersions(['1.0.0', '1.1.0', '2.0.0']);
    await w.datadogSecret('datadog');
    // minReadySeconds keeps the promotion's rolling update in flight long enough to be seen.
    const manifest = w.deploymentManifest('web', 'example.com/web:1.0.0', { replicas: 3 }) as Obj;
    manifest.spec.minReadySeconds = 2;
    await w.apply(manifest);
    expect((await kubectl(['rollout', 'status', 'deployment/web', '-n', w.ns, '--timeout=60s'])).code).to.equal(0);
    await w.canary('web', {
      steps: [{ setWeight: 34 }, { pause: { duration: '5s' } }, { pause: {} }],
      analysis: { interval: '1s', failureLimit: 0, checks: [check] },
      datadog: { secretRef: { name: 'datadog' } },
      progressDeadline: '60s',
    });

    // No controller yet: no status.
    let r = await capture('created, not yet observed', 'progressing_notObserved.yaml');
    expect(r.argo).to.deep.equal({ status: 'Progressing', message: 'Waiting for the Canary to be observed by its controller' });
    expect(r.canary.status, 'kstatus cannot tell a Canary without status from a current one').to.equal('Current');

    await w.startOperator();
    await w.waitFor('web', (x) => x.status?.phase === 'Waiting' && x.status?.conditions?.some((k) => k.type === 'Ready' && k.reason === 'Idle') === true, 'guarding, settled');
    r = await capture('adopted (Waiting)', 'healthy_waiting.yaml');
    expect(r.argo).to.deep.equal({ status: 'Healthy', message: r.obj.status.message });
    expect([r.canary.status, r.deployment.status]).to.deep.equal(['Current', 'Current']);

    await w.setImage('web', 'example.com/web:1.1.0');
    await w.waitFor(
      'web',
      (x) => x.status?.phase === 'Progressing' && x.status?.currentStep === 1 && x.status?.conditions?.some((k) => k.type === 'ChecksPassing' && k.status === 'True') === true,
      'analysing in the timed pause with passing checks',
      60_000,
    );
    r = await capture('canary in analysis (Progressing)', 'progressing_analysis.yaml');
    expect(r.argo.status).to.equal('Progressing');
    expect([r.canary.status, r.deployment.status]).to.deep.equal(['InProgress', 'InProgress']);

    await w.waitPhase('web', 'Paused');
    r = await capture('pause: {} gate (Paused)', 'suspended_waitingForPromote.yaml');
    expect(r.argo).to.deep.equal({ status: 'Suspended', message: r.obj.status.message });
    expect([r.canary.status, r.deployment.status]).to.deep.equal(['InProgress', 'InProgress']);

    // A spec change the controller has not observed yet.
    await w.stopOperator();
    expect((await kubectl(['patch', 'canary', 'web', '-n', w.ns, '--type=merge', '-p', '{"spec":{"paused":true}}'])).code).to.equal(0);
    r = await capture('spec changed, not yet observed', 'progressing_newGeneration.yaml');
    expect(r.argo.status).to.equal('Progressing');
    expect(r.argo.message).to.match(/^Waiting for spec generation \d+ to be observed \(observed \d+\)$/);
    expect(r.canary.status).to.equal('InProgress');
    expect(r.canary.message).to.match(/generation is \d+, but latest observed generation is \d+/);

    await w.startOperator();
    await w.waitFor('web', (x) => x.status?.observedGeneration === x.metadata.generation && x.status?.conditions?.some((k) => k.type === 'Progressing' && k.reason === 'PausedBySpec') === true, 'paused by spec');
    r = await capture('spec.paused during a canary (Paused)', 'suspended_pausedBySpec.yaml');
    expect(r.argo).to.deep.equal({ status: 'Suspended', message: r.obj.status.message });
    expect(r.canary.status).to.equal('InProgress');

    expect((await kubectl(['patch', 'canary', 'web', '-n', w.ns, '--type=merge', '-p', '{"spec":{"paused":false}}'])).code).to.equal(0);
    await w.annotate('web', 'deployer.dev/promote', 'promote-1');
    await w.waitFor('web', (x) => x.status?.phase === 'Promoting' && x.status?.observedGeneration === x.metadata.generation, 'promoting', 30_000);
    r = await capture('promoting (Promoting)', 'progressing_promoting.yaml');
    expect(r.argo.status).to.equal('Progressing');
    expect([r.canary.status, r.deployment.status]).to.deep.equal(['InProgress', 'InProgress']);

    await w.waitPhase('web', 'Succeeded');
    expect((await kubectl(['rollout', 'status', 'deployment/web', '-n', w.ns, '--timeout=60s'])).code).to.equal(0);
    await w.waitFor('web', (x) => x.status?.phase === 'Succeeded' && (x.status?.canaryReplicas ?? 0) === 0, 'promoted');
    r = await capture('promoted (Succeeded)', 'healthy_succeeded.yaml');
    expect(r.argo).to.deep.equal({ status: 'Healthy', message: r.obj.status.message });
    expect([r.canary.status, r.deployment.status]).to.deep.equal(['Current', 'Current']);

    expect((await kubectl(['patch', 'canary', 'web', '-n', w.ns, '--type=merge', '-p', '{"spec":{"paused":true}}'])).code).to.equal(0);
    await w.waitFor('web', (x) => x.spec.paused === true && x.status?.observedGeneration === x.metadata.generation, 'pause observed');
    r = await capture('spec.paused between releases', 'suspended_pausedBetweenReleases.yaml');
    expect(r.argo.status).to.equal('Suspended');
    expect([r.canary.status, r.deployment.status]).to.deep.equal(['Current', 'Current']);
    expect((await kubectl(['patch', 'canary', 'web', '-n', w.ns, '--type=merge', '-p', '{"spec":{"paused":false}}'])).code).to.equal(0);
    await w.waitFor('web', (x) => x.status?.observedGeneration === x.metadata.generation, 'resume observed');

    w.dd.setAlertVersions(['2.0.0']);
    await w.setImage('web', 'example.com/web:2.0.0');
    await w.waitPhase('web', 'RolledBack');
    await w.waitNoCanaryPods('web');
    r = await capture('rolled back (RolledBack)', 'degraded_rolledBack.yaml');
    expect(r.argo).to.deep.equal({ status: 'Degraded', message: r.obj.status.message });
    // Nothing is in progress, but the Canary has no Stalled condition: kstatus reads Ready=False as InProgress.
    expect(r.canary.status).to.equal('InProgress');
    // The Deployment stays paused holding the failed template: none of its replicas is updated.
    expect(r.deployment).to.deep.equal({ status: 'InProgress', message: 'Updated: 0/3' });

    await w.canary('orphan', { steps: [{ setWeight: 10 }], targetRef: { name: 'missing' } });
    await w.waitPhase('orphan', 'Failed');
    r = await capture('misconfigured (Failed, TargetNotFound)', 'degraded_targetNotFound.yaml', 'orphan', null);
    expect(r.argo).to.deep.equal({ status: 'Degraded', message: r.obj.status.message });
    expect(r.canary.status).to.equal('InProgress');

    // The controller's actions keep failing (an admission policy refuses canary ReplicaSets).
    await w.deployment('stall', 'example.com/stall:1.0.0');
    await w.canary('stall', { steps: [{ setWeight: 34 }], progressDeadline: '60s' });
    await w.waitPhase('stall', 'Waiting');
    const unbind = await refuseCanaryReplicaSets(w.ns);
    try {
      await w.setImage('stall', 'example.com/stall:1.1.0');
      const is = (x: { status?: { conditions?: Array<{ type: string; status: string }> } }, type: string, status: string) => x.status?.conditions?.some((k) => k.type === type && k.status === status) === true;
      // Reconciling turns False on the pass after Stalled appears.
      await w.waitFor('stall', (x) => is(x, 'Stalled', 'True') && is(x, 'Reconciling', 'False'), 'Stalled', 30_000);
      r = await capture('actions failing (Stalled)', 'degraded_stalled.yaml', 'stall', 'stall');
      const stalled = (r.obj.status.conditions as Obj[]).find((k) => k.type === 'Stalled')!;
      expect(r.argo).to.deep.equal({ status: 'Degraded', message: stalled.message });
      expect(r.canary).to.deep.equal({ status: 'Failed', message: stalled.message });
      expect(r.deployment.status).to.equal('InProgress');
    } finally {
      await unbind();
    }
  });

  after(() => {
    // The table for the README: state → Argo CD → kstatus of the Canary and of the Deployment.
    if (rows.length) {
      const lines = rows.map((x) => `| ${x.state} | ${x.argo.status} | ${x.canary.status} | ${x.deployment.status} |`);
      process.stderr.write(`\n| Canary | Argo CD | kstatus Canary | kstatus Deployment |\n|---|---|---|---|\n${lines.join('\n')}\n`);
    }
  });
});
