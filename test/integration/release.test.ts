// The Release controller on the real control plane, with the real kubectl, the Canary controller
// and the Datadog stand-in. Given / When / Then.
import { expect } from 'chai';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Release, ReleaseSpec } from '../../src/api/release-types.js';
import type { CheckSpec } from '../../src/api/types.js';
import { revisionOf } from '../../src/canary/revision.js';
import { paths } from '../../src/kube/raw-client.js';
import { eventually, kubectl } from '../support/cluster.js';
import { World } from '../support/world.js';

const FAST_STEPS = [{ setWeight: 34 }, { pause: { duration: '2s' } }];
const SLOW_STEPS = [{ setWeight: 34 }, { pause: { duration: '10m' } }];
const check = (id: number): CheckSpec => ({ name: 'errors', datadogMonitor: { id } });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A multi-alert monitor per service whose group for each version is OK unless told to alert. */
function monitor(w: World, id: number, service: string): void {
  w.dd.upsertMonitor({ id, name: `${service} errors`, tags: [`service:${service}`], query: `avg(last_5m):sum:trace.errors{service:${service}} by {version} > 5`, groupByVersion: true });
}

async function guarded(w: World, name: string, id: number, steps = FAST_STEPS): Promise<void> {
  monitor(w, id, name);
  await w.canary(name, { steps, analysis: { interval: '1s', failureLimit: 0, checks: [check(id)] }, datadog: { secretRef: { name: 'datadog' } }, progressDeadline: '60s' });
  await w.waitFor(name, (c) => c.status?.phase === 'Waiting' || c.status?.phase === 'Succeeded', 'guarding');
}

async function release(w: World, spec: ReleaseSpec, name = 'shop'): Promise<void> {
  await w.apply({ apiVersion: 'deployer.dev/v1alpha1', kind: 'Release', metadata: { name }, spec });
}

async function getRelease(w: World, name = 'shop'): Promise<Release> {
  return w.client.get<Release>(paths.release(w.ns, name));
}

async function waitRelease(w: World, pred: (r: Release) => boolean, what: string, name = 'shop', timeoutMs = 90_000): Promise<Release> {
  let last: Release | undefined;
  await eventually(
    async () => {
      last = await getRelease(w, name);
      if (!pred(last)) throw new Error(`release ${name} is not yet ${what}: phase=${last.status?.phase} message=${last.status?.message} targets=${JSON.stringify(last.status?.targets?.map((t) => [t.deployment, t.phase]))}`);
    },
    { timeoutMs, intervalMs: 200 },
  );
  return last!;
}

const waitReleasePhase = (w: World, phase: string, name = 'shop', timeoutMs = 90_000): Promise<Release> => waitRelease(w, (r) => r.status?.phase === phase, phase, name, timeoutMs);

async function image(w: World, name: string): Promise<string | undefined> {
  return (await w.deploymentObject(name)).spec.template.spec.containers[0]?.image;
}

async function rolloutStatus(w: World, name: string): Promise<void> {
  const r = await kubectl(['rollout', 'status', `deployment/${name}`, '-n', w.ns, '--timeout=60s']);
  expect(r.code, `${name}: ${r.stderr}`).to.equal(0);
}

const pushSpec = (tags: Record<string, string>, order: string[][], extra: Partial<ReleaseSpec> = {}): ReleaseSpec => ({
  version: '2.0.0',
  targets: Object.entries(tags).map(([d, tag]) => ({ deployment: d, images: { app: `example.com/${d}:${tag}` } })),
  order,
  progressDeadline: '90s',
  ...extra,
});

describe('Release controller on the real control plane', function () {
  this.timeout(240_000);

  describe('a three-Deployment application in two groups', () => {
    let w: World;
    before(async () => {
      w = await World.create('rel-push');
      await w.startOperator();
      w.dd.setVersions(['1.0.0', '2.0.0']);
      await w.datadogSecret('datadog');
      for (const d of ['api', 'web', 'worker']) await w.deployment(d, `example.com/${d}:1.0.0`);
      await guarded(w, 'api', 101);
      await guarded(w, 'web', 102);
    });
    after(async () => w.teardown());

    it('promotes group after group through the Canaries and the rolling update; kubectl shows it', async () => {
      const workerPods = await w.stablePodNames('worker');
      // Another field manager owns the rest of the Deployments (as a GitOps tool or a person applying them would).
      for (const d of ['api', 'web', 'worker']) {
        const m = w.deploymentManifest(d, `example.com/${d}:1.0.0`);
        const r = await kubectl(['apply', '--server-side', '--field-manager=team-tool', '--force-conflicts', '-n', w.ns, '-f', '-'], { input: JSON.stringify(m) });
        expect(r.code, r.stderr).to.equal(0);
      }
      await release(w, pushSpec({ api: '2.0.0', web: '2.0.0', worker: '2.0.0' }, [['api'], ['web', 'worker']]));

      const started = await waitRelease(w, (r) => r.status?.targets?.find((t) => t.deployment === 'api')?.phase === 'Canary', 'api in canary');
      expect(started.status?.phase).to.equal('Progressing');
      expect(started.status?.targets?.find((t) => t.deployment === 'web')?.phase).to.equal('Pending');
      expect(await image(w, 'web'), 'group 2 waits for group 1').to.equal('example.com/web:1.0.0');
      expect(await w.stablePodNames('worker')).to.deep.equal(workerPods);

      const done = await waitReleasePhase(w, 'Succeeded');
      const t = Object.fromEntries((done.status?.targets ?? []).map((x) => [x.deployment, x]));
      expect(t.api).to.include({ phase: 'Promoted', canary: 'api', group: 0 });
      expect(t.web).to.include({ phase: 'Promoted', canary: 'web', group: 1 });
      expect(t.worker).to.include({ phase: 'Promoted', group: 1 });
      expect(Date.parse(t.web!.startedAt!), 'group 2 started after api was promoted').to.be.at.least(Date.parse(t.api!.finishedAt!));
      for (const d of ['api', 'web', 'worker']) {
        expect(await image(w, d)).to.equal(`example.com/${d}:2.0.0`);
        const dep = await w.deploymentObject(d);
        expect(t[d]?.revision).to.equal(revisionOf(dep.spec.template as never));
        await rolloutStatus(w, d);
      }
      expect(done.status).to.include({ targetsDone: '3/3', version: '2.0.0', releaseGeneration: 1 });
      expect(done.status?.history?.[0]).to.include({ outcome: 'Succeeded', version: '2.0.0', generation: 1 });
      expect((await w.get('api')).status?.stableVersion).to.equal('2.0.0');

      const get = await kubectl(['get', 'releases', '-n', w.ns]);
      expect(get.stdout).to.match(/NAME\s+VERSION\s+PHASE\s+TARGETS\s+MESSAGE\s+AGE/);
      expect(get.stdout).to.match(/shop\s+2\.0\.0\s+Succeeded\s+3\/3/);
      const short = await kubectl(['get', 'rel', 'shop', '-n', w.ns, '-o', 'name']);
      expect(short.stdout.trim()).to.equal('release.deployer.dev/shop');
      const wait = await kubectl(['wait', '--for=condition=Ready', 'release/shop', '-n', w.ns, '--timeout=10s']);
      expect(wait.code, wait.stderr).to.equal(0);
      await w.waitForEvents('shop', ['ReleaseStarted', 'GroupStarted', 'TargetPromoted', 'ReleaseSucceeded'], 'Release');

      // Server-side apply without conflicts: the images belong to deployer-release, the rest to the other manager.
      const dep = await w.deploymentObject('api');
      const managers = ((dep.metadata as { managedFields?: Array<{ manager: string }> }).managedFields ?? []).map((f) => f.manager);
      expect(managers).to.include.members(['deployer-release', 'team-tool']);
      const again = await kubectl(['apply', '--server-side', '--field-manager=team-tool', '-n', w.ns, '-f', '-'], {
        input: JSON.stringify({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'api' }, spec: { replicas: 3, selector: { matchLabels: { app: 'api' } }, template: { metadata: { labels: { app: 'api' } }, spec: { containers: [{ name: 'app' }] } } } }),
      });
      expect(again.code, `the other manager applies its fields without conflict: ${again.stderr}`).to.equal(0);
      expect(await image(w, 'api')).to.equal('example.com/api:2.0.0');
    });

    it('a newer version during a release supersedes it', async () => {
      w.dd.setVersions(['1.0.0', '2.0.0', '3.0.0', '3.0.1']);
      await guarded(w, 'api', 101, SLOW_STEPS);
      const before = (await getRelease(w).catch(() => undefined))?.metadata.generation ?? 0;
      await release(w, pushSpec({ api: '3.0.0', web: '3.0.0', worker: '3.0.0' }, [['api'], ['web', 'worker']], { version: '3.0.0' }));
      const g = before + 1;
      await waitRelease(w, (r) => r.status?.releaseGeneration === g && r.status?.targets?.[0]?.phase === 'Canary', `generation ${g} in canary`);
      await w.waitFor('api', (c) => c.status?.phase === 'Progressing' && c.status?.canaryVersion === '3.0.0', 'analysing 3.0.0');
      await release(w, pushSpec({ api: '3.0.1', web: '3.0.1', worker: '3.0.1' }, [['api'], ['web', 'worker']], { version: '3.0.1' }));
      await waitRelease(w, (r) => r.status?.releaseGeneration === g + 1 && r.status?.targets?.[0]?.phase === 'Canary', `generation ${g + 1} in canary`);
      await w.waitFor('api', (c) => c.status?.phase === 'Progressing' && c.status?.canaryVersion === '3.0.1', 'analysing 3.0.1');
      // The api canary pauses for 10 minutes: a promote request on the Release skips the rest of its analysis.
      const r = await kubectl(['annotate', 'release', 'shop', 'deployer.dev/promote=p1', '--overwrite', '-n', w.ns]);
      expect(r.code, r.stderr).to.equal(0);
      const done = await waitRelease(w, (x) => x.status?.phase === 'Succeeded' && x.status.version === '3.0.1', '3.0.1 Succeeded');
      expect(done.status?.releaseGeneration).to.equal(g + 1);
      expect(done.status?.history?.slice(0, 2).map((h) => [h.generation, h.outcome, h.version])).to.deep.equal([
        [g + 1, 'Succeeded', '3.0.1'],
        [g, 'Superseded', '3.0.0'],
      ]);
      expect(done.status?.requests?.promote?.id).to.equal('p1');
      for (const d of ['api', 'web', 'worker']) expect(await image(w, d)).to.equal(`example.com/${d}:3.0.1`);
      await w.waitForEvents('shop', ['ReleaseSuperseded'], 'Release');
    });
  });

  describe('a canary of the second group fails', () => {
    let w: World;
    before(async () => {
      w = await World.create('rel-fail');
      await w.startOperator();
      w.dd.setVersions(['1.0.0', '2.0.0', '2.0.1']);
      await w.datadogSecret('datadog');
      for (const d of ['api', 'worker', 'web', 'admin']) await w.deployment(d, `example.com/${d}:1.0.0`);
      await guarded(w, 'api', 101);
      await guarded(w, 'web', 102);
      await guarded(w, 'admin', 103, SLOW_STEPS);
    });
    after(async () => w.teardown());

    it('returns every changed target to its previous template, never rolls out the rest, and names the check and value', async () => {
      const before = { web: await w.stablePodNames('web'), admin: await w.stablePodNames('admin') };
      w.dd.setAlertVersions(['2.0.1']);
      await release(w, pushSpec({ api: '2.0.0', worker: '2.0.0', web: '2.0.1', admin: '2.0.0' }, [['api', 'worker'], ['web', 'admin']]));
      await waitRelease(w, (r) => r.status?.currentGroup === 1, 'in group 2');
      expect(await image(w, 'api')).to.equal('example.com/api:2.0.0');

      const r = await waitReleasePhase(w, 'RolledBack', 'shop', 120_000);
      expect(r.status?.failedTarget).to.equal('web');
      expect(r.status?.failureReason).to.match(/check errors failed 1 time\(s\) \(limit 0\): Fail Alert/);
      // The Canary's own explanation, verbatim.
      expect(r.status?.failureReason).to.match(/^rolled back revision \w+ \(version 2\.0\.1\): check errors failed 1 time\(s\) \(limit 0\): Fail Alert .*monitor 102 "web errors" group version:2\.0\.1 is Alert$/);
      expect(r.status?.message).to.match(/^rolled back: web failed: rolled back revision \w+ \(version 2\.0\.1\): check errors failed/);
      const t = Object.fromEntries((r.status?.targets ?? []).map((x) => [x.deployment, x]));
      expect(t.web?.canaryResult).to.equal(r.status?.failureReason);
      for (const d of ['api', 'worker', 'web', 'admin']) {
        expect(t[d]?.phase, d).to.equal('Reverted');
        expect(await image(w, d), d).to.equal(`example.com/${d}:1.0.0`);
        await rolloutStatus(w, d);
      }
      expect(r.status?.failedGeneration).to.equal(1);
      expect(r.status?.history?.[0]).to.include({ outcome: 'RolledBack', failedTarget: 'web' });
      // The promoted api went back at once: its Canary accepted the verified revision without a second canary.
      const api = await w.get('api');
      expect(api.status?.history?.[0], JSON.stringify(api.status?.history?.[0])).to.include({ outcome: 'Promoted', reason: 'RevertAccepted', revision: t.api?.revisionBefore });
      expect(api.status?.history?.filter((h) => h.revision === t.api?.revisionBefore && h.reason !== 'RevertAccepted'), 'no canary of the revision it returned to').to.deep.equal([]);
      // The failed group's stable pods never restarted.
      expect(await w.stablePodNames('web')).to.deep.equal(before.web);
      expect(await w.stablePodNames('admin')).to.deep.equal(before.admin);
      expect((await w.get('admin')).status?.requests?.abort?.id).to.match(/^release\/shop@1\/abort\//);
      await w.waitForEvents('shop', ['TargetFailed', 'ReleaseRollingBack', 'ReleaseRolledBack'], 'Release');

      // The failed version is held: nothing is released again.
      await sleep(3_000);
      const held = await getRelease(w);
      expect(held.status?.phase).to.equal('RolledBack');
      expect(await image(w, 'api')).to.equal('example.com/api:1.0.0');
    });
  });

  describe('post-release checks', () => {
    let w: World;
    before(async () => {
      w = await World.create('rel-post');
      await w.startOperator();
      w.dd.setVersions(['1.0.0', '2.0.0']);
      await w.datadogSecret('datadog');
      for (const d of ['api', 'worker']) await w.deployment(d, `example.com/${d}:1.0.0`);
      await guarded(w, 'api', 101);
      w.dd.upsertMonitor({ id: 201, name: 'shop checkout errors', tags: ['service:shop'], overallState: 'OK' });
    });
    after(async () => w.teardown());

    it('a post-release check that fails returns every target to the previous version', async () => {
      const before = { api: revisionOf((await w.deploymentObject('api')).spec.template as never), worker: revisionOf((await w.deploymentObject('worker')).spec.template as never) };
      await release(
        w,
        pushSpec({ api: '2.0.0', worker: '2.0.0' }, [['api', 'worker']], {
          postRelease: { duration: '5m', interval: '1s', checks: [{ name: 'checkout', datadogMonitor: { id: 201 } }] },
          datadog: { secretRef: { name: 'datadog' } },
        }),
      );
      const verifying = await waitReleasePhase(w, 'Verifying');
      expect(verifying.status?.promotedAt).to.be.a('string');
      await waitRelease(w, (r) => (r.status?.checks?.[0]?.passes ?? 0) > 0, 'measured');
      expect(await image(w, 'api')).to.equal('example.com/api:2.0.0');

      w.dd.upsertMonitor({ id: 201, name: 'shop checkout errors', tags: ['service:shop'], overallState: 'Alert' });
      const r = await waitReleasePhase(w, 'RolledBack', 'shop', 120_000);
      expect(r.status?.failureReason).to.match(/^post-release check checkout failed 1 time\(s\) \(limit 0\): Fail Alert/);
      expect(r.status?.failedTarget).to.equal(undefined);
      expect(r.status?.history?.[0]).to.include({ outcome: 'RolledBack', reason: 'PostReleaseCheckFailed' });
      expect(r.status?.history?.[0]?.promotedAt, 'a change failure: it had been promoted').to.be.a('string');
      for (const d of ['api', 'worker'] as const) {
        expect(await image(w, d)).to.equal(`example.com/${d}:1.0.0`);
        expect(revisionOf((await w.deploymentObject(d)).spec.template as never)).to.equal(before[d]);
        await rolloutStatus(w, d);
      }
      await w.waitForEvents('shop', ['ReleaseVerifying', 'PostReleaseCheckFailed', 'ReleaseRolledBack'], 'Release');
    });
  });

  describe('a post-release webhook check, without Datadog', () => {
    let w: World;
    let server: Server;
    let status = 200;
    const seen: string[] = [];
    before(async () => {
      server = createServer((req, res) => {
        seen.push(req.url ?? '');
        res.statusCode = status;
        res.end(status === 200 ? 'ok' : 'smoke test failed: checkout answered 502');
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      w = await World.create('rel-hook');
      await w.startOperator();
      await w.deployment('api', 'example.com/api:1.0.0');
    });
    after(async () => {
      await w.teardown();
      await new Promise((r) => server.close(r));
    });

    it('a smoke test that starts failing after the promotion returns the target to its previous version', async () => {
      const port = (server.address() as AddressInfo).port;
      await release(w, pushSpec({ api: '2.0.0' }, [['api']], { postRelease: { duration: '5m', interval: '1s', checks: [{ name: 'smoke', webhook: { url: `http://127.0.0.1:${port}/smoke?version={{ version }}` } }] } }));
      await waitReleasePhase(w, 'Verifying');
      await waitRelease(w, (r) => (r.status?.checks?.[0]?.passes ?? 0) > 0, 'a passing smoke test');
      expect(seen[0]).to.equal('/smoke?version=2.0.0');
      expect(await image(w, 'api')).to.equal('example.com/api:2.0.0');

      status = 500;
      const r = await waitReleasePhase(w, 'RolledBack', 'shop', 120_000);
      expect(r.spec.datadog, 'no Datadog Secret needed').to.equal(undefined);
      expect(r.status?.failureReason).to.match(/^post-release check smoke failed 1 time\(s\) \(limit 0\): Fail .*smoke test failed: checkout answered 502/);
      expect(r.status?.history?.[0]).to.include({ outcome: 'RolledBack', reason: 'PostReleaseCheckFailed' });
      expect(await image(w, 'api')).to.equal('example.com/api:1.0.0');
      await rolloutStatus(w, 'api');
    });
  });

  describe('GitOps: the sync applies the templates, the Release names the version', () => {
    let w: World;
    const VERSION = 'app.kubernetes.io/version';
    const names = ['api', 'web', 'worker'];
    const gitopsSpec = (version: string): ReleaseSpec => ({ version, targets: names.map((d) => ({ deployment: d })), order: [['api'], ['web', 'worker']], progressDeadline: '90s' });
    /** What a sync does: server-side apply of every Deployment's manifest at a version. */
    async function sync(version: string): Promise<void> {
      for (const d of names) {
        const m = w.deploymentManifest(d, `example.com/${d}:${version}`, { podLabels: { [VERSION]: version } });
        const r = await kubectl(['apply', '--server-side', '--field-manager=argocd', '--force-conflicts', '-n', w.ns, '-f', '-'], { input: JSON.stringify(m) });
        expect(r.code, r.stderr).to.equal(0);
      }
    }
    const revisions = async (): Promise<Record<string, string>> =>
      Object.fromEntries(await Promise.all(names.map(async (d) => [d, revisionOf((await w.deploymentObject(d)).spec.template as never)] as const)));

    before(async () => {
      w = await World.create('rel-gitops');
      await w.startOperator();
      w.dd.setVersions(['1.0.0', '2.0.0', '3.0.0', '4.0.0']);
      await w.datadogSecret('datadog');
      for (const d of names) await w.deployment(d, `example.com/${d}:1.0.0`, { podLabels: { [VERSION]: '1.0.0' } });
      await guarded(w, 'api', 101);
      await guarded(w, 'web', 102);
    });
    after(async () => w.teardown());

    async function releasedOnce(version: string, before: Record<string, string>): Promise<void> {
      const r = await waitRelease(w, (x) => x.status?.phase === 'Succeeded' && x.status.version === version && x.status.releaseGeneration === x.metadata.generation, `${version} Succeeded`);
      const after = await revisions();
      const t = Object.fromEntries((r.status?.targets ?? []).map((x) => [x.deployment, x]));
      for (const d of names) {
        expect(await image(w, d), d).to.equal(`example.com/${d}:${version}`);
        expect(t[d]?.revision, d).to.equal(after[d]);
        await rolloutStatus(w, d);
        // One ReplicaSet of the Deployment runs the version's template: it rolled out once.
        const rs = (await w.replicaSets(`app=${d},${VERSION}=${version},!deployer.dev/role`)).filter((x) => (x.spec as { replicas?: number }).replicas);
        expect(rs.length, `${d}: ReplicaSets of ${version}`).to.equal(1);
      }
      // What a rollback would return to is what ran before the release.
      expect(t.api?.revisionBefore).to.equal(before.api);
      expect(t.worker?.revisionBefore).to.equal(before.worker);
      expect(r.status?.history?.filter((h) => h.version === version).map((h) => h.outcome)).to.deep.equal(['Succeeded']);
    }

    it('the Release first, then the Deployments: the release waits for the templates and takes them once', async () => {
      const before = await revisions();
      await release(w, gitopsSpec('2.0.0'));
      const waiting = await waitRelease(w, (r) => r.status?.targets?.find((t) => t.deployment === 'api')?.phase === 'WaitingForTemplate', 'waiting for the template');
      expect(waiting.status?.targets?.find((t) => t.deployment === 'api')?.message).to.equal('waiting for the template of Deployment api to carry version 2.0.0 (it has 1.0.0)');
      await sleep(1_000);
      expect(await revisions(), 'the Release changes no template').to.deep.equal(before);
      await sync('2.0.0');
      await releasedOnce('2.0.0', before);
    });

    it('the Deployments first, then the Release: the release takes the templates once', async () => {
      const before = await revisions();
      await sync('3.0.0');
      await release(w, gitopsSpec('3.0.0'));
      await releasedOnce('3.0.0', before);
    });

    it('a guarded target of a later group changed by the sync waits for its group (held-by; needs the Canary to honour it)', async () => {
      const before = await revisions();
      await release(w, gitopsSpec('4.0.0'));
      await waitRelease(w, (r) => r.status?.targets?.find((t) => t.deployment === 'api')?.phase === 'WaitingForTemplate', 'waiting for the template');
      await eventually(async () => expect((await w.get('web')).metadata.annotations?.['deployer.dev/held-by']).to.equal('release/shop'));
      await sync('4.0.0');
      await waitRelease(w, (r) => r.status?.targets?.find((t) => t.deployment === 'api')?.phase === 'Canary', 'api in canary');
      await sleep(1_000);
      expect((await w.canaryPods('web')).length, 'no canary of web before its group').to.equal(0);
      const r = await waitRelease(w, (x) => x.status?.phase === 'Succeeded' && x.status.version === '4.0.0', '4.0.0 Succeeded');
      const t = Object.fromEntries((r.status?.targets ?? []).map((x) => [x.deployment, x]));
      expect(t.web).to.include({ phase: 'Promoted', revisionBefore: before.web });
      expect(Date.parse(t.web!.startedAt!)).to.be.at.least(Date.parse(t.api!.finishedAt!));
      expect((await w.get('web')).metadata.annotations?.['deployer.dev/held-by']).to.equal(undefined);
    });
  });

  describe('an operator killed at each phase', () => {
    let w: World;
    const STEPS_4S = [{ setWeight: 34 }, { pause: { duration: '4s' } }];
    const restart = async (label: string): Promise<void> => {
      await w.killOperatorProcess(w.proc, 'SIGKILL');
      w.startOperatorProcess(['--no-leader-elect'], `operator-${label}`);
    };
    const paused = async (): Promise<string[]> => {
      const out: string[] = [];
      for (const d of ['api', 'web', 'worker']) if ((await w.deploymentObject(d)).spec.paused) out.push(d);
      return out;
    };
    before(async () => {
      w = await World.create('rel-kill');
      w.startOperatorProcess(['--no-leader-elect'], 'operator-first');
      w.dd.setVersions(['1.0.0', '2.0.0', '3.0.0']);
      await w.datadogSecret('datadog');
      for (const d of ['api', 'web', 'worker']) await w.deployment(d, `example.com/${d}:1.0.0`);
      await guarded(w, 'api', 101, STEPS_4S);
      await guarded(w, 'web', 102, STEPS_4S);
      w.dd.upsertMonitor({ id: 201, name: 'shop checkout errors', tags: ['service:shop'], overallState: 'OK' });
    });
    after(async () => w.teardown());

    it('killed while group 1, group 2 and the post-release checks run, it resumes and releases exactly once', async () => {
      await release(w, pushSpec({ api: '2.0.0', web: '2.0.0', worker: '2.0.0' }, [['api'], ['web', 'worker']], {
        postRelease: { duration: '6s', interval: '1s', checks: [{ name: 'checkout', datadogMonitor: { id: 201 } }] },
        datadog: { secretRef: { name: 'datadog' } },
      }));
      await waitRelease(w, (r) => r.status?.targets?.[0]?.phase === 'Canary', 'group 1 in canary');
      await restart('group1');
      await waitRelease(w, (r) => r.status?.currentGroup === 1 && r.status?.phase === 'Progressing', 'group 2 running');
      await restart('group2');
      await waitReleasePhase(w, 'Verifying');
      await restart('verifying');
      const r = await waitReleasePhase(w, 'Succeeded', 'shop', 120_000);
      expect(r.status?.history?.map((h) => [h.generation, h.outcome])).to.deep.equal([[1, 'Succeeded']]);
      expect(r.status?.targets?.map((t) => t.phase)).to.deep.equal(['Promoted', 'Promoted', 'Promoted']);
      for (const d of ['api', 'web', 'worker']) {
        expect(await image(w, d)).to.equal(`example.com/${d}:2.0.0`);
        await rolloutStatus(w, d);
        const rs = (await w.replicaSets(`app=${d},!deployer.dev/role`)).filter((x) => JSON.stringify(x.spec).includes(`${d}:2.0.0`));
        expect(rs.length, `${d}: one ReplicaSet of 2.0.0`).to.equal(1);
      }
      expect(await paused(), 'no target left paused').to.deep.equal([]);
      expect((await w.events('shop', 'Release')).filter((e) => e.reason === 'ReleaseStarted').length).to.equal(1);
    });

    it('killed while rolling back, it resumes and leaves no target half-reverted or paused', async () => {
      w.dd.setAlertVersions(['3.0.0']);
      await release(w, pushSpec({ api: '2.0.0', web: '3.0.0', worker: '3.0.0' }, [['api', 'worker'], ['web']], { version: '3.0.0' }));
      await waitRelease(w, (r) => r.status?.releaseGeneration === 2 && (r.status.phase === 'RollingBack' || r.status.phase === 'RolledBack'), 'rolling back');
      await restart('rollingback');
      const r = await waitRelease(w, (x) => x.status?.releaseGeneration === 2 && x.status.phase === 'RolledBack', 'rolled back', 'shop', 120_000);
      expect(r.status?.failedTarget).to.equal('web');
      expect(r.status?.history?.map((h) => [h.generation, h.outcome])).to.deep.equal([
        [2, 'RolledBack'],
        [1, 'Succeeded'],
      ]);
      for (const d of ['api', 'web', 'worker']) {
        expect(await image(w, d)).to.equal(`example.com/${d}:2.0.0`);
        await rolloutStatus(w, d);
      }
      expect(await paused(), 'no target left paused').to.deep.equal([]);
    });
  });

  describe('bad input', () => {
    let w: World;
    before(async () => {
      w = await World.create('rel-bad');
      await w.startOperator();
      await w.deployment('api', 'example.com/api:1.0.0', { replicas: 1 });
    });
    after(async () => w.teardown());

    const refused: Array<[string, Partial<ReleaseSpec>, RegExp]> = [
      ['a Deployment listed twice', { targets: [{ deployment: 'api' }, { deployment: 'api' }] }, /a Deployment is listed twice in targets/],
      ['an empty order group', { targets: [{ deployment: 'api' }], order: [['api'], []] }, /order has an empty group/],
      ['a target missing from order', { targets: [{ deployment: 'api' }, { deployment: 'web' }], order: [['api']] }, /a target is missing from order/],
      ['order naming an unknown target', { targets: [{ deployment: 'api' }], order: [['api', 'nope']] }, /order names a Deployment that is not a target/],
      ['an unknown failure policy', { targets: [{ deployment: 'api' }], failurePolicy: 'Panic' as never }, /failurePolicy: Unsupported value: "Panic"/],
      ['a post-release check of two kinds', { targets: [{ deployment: 'api' }], postRelease: { duration: '1m', checks: [{ name: 'c', prometheusQuery: { address: 'http://p:9090', query: 'up', max: 1 }, webhook: { url: 'http://tests/run' } }] } }, /a check must have exactly one of datadogMonitor, datadogQuery, prometheusQuery or webhook/],
      ['a Datadog post-release check without a Datadog Secret', { targets: [{ deployment: 'api' }], postRelease: { duration: '1m', checks: [{ name: 'c', datadogMonitor: { id: 1 } }] } }, /datadog.secretRef is required when a post-release check uses Datadog/],
    ];
    for (const [name, spec, message] of refused) {
      it(`the schema refuses ${name}`, async () => {
        const r = await kubectl(['apply', '-n', w.ns, '-f', '-'], { input: JSON.stringify({ apiVersion: 'deployer.dev/v1alpha1', kind: 'Release', metadata: { name: 'bad' }, spec: { version: '1', ...spec } }) });
        expect(r.code).to.not.equal(0);
        expect(r.stderr).to.match(message);
      });
    }

    const failed: Array<[string, Partial<ReleaseSpec>, string]> = [
      ['a missing Deployment', { targets: [{ deployment: 'api', images: { app: 'example.com/api:2.0.0' } }, { deployment: 'ghost', images: { app: 'x:1' } }] }, 'Deployment ghost not found'],
      ['a container not in the template', { targets: [{ deployment: 'api', images: { main: 'example.com/api:2.0.0' } }] }, 'Deployment api has no container main (containers: app)'],
    ];
    for (const [name, spec, message] of failed) {
      it(`fails on ${name} before changing anything`, async () => {
        const rel = name.replace(/[^a-z]+/g, '-').replace(/^-|-$/g, '');
        await release(w, { version: '2.0.0', ...spec } as ReleaseSpec, rel);
        const r = await waitReleasePhase(w, 'Failed', rel, 30_000);
        expect(r.status?.message).to.equal(message);
        expect(r.status?.conditions?.find((c) => c.type === 'Ready')).to.include({ status: 'False', reason: 'ReleaseFailed' });
        expect(await image(w, 'api')).to.equal('example.com/api:1.0.0');
        await w.waitForEvents(rel, ['ReleaseFailed'], 'Release');
        await kubectl(['delete', 'release', rel, '-n', w.ns]);
      });
    }

    it('two Releases claiming one Deployment: the oldest wins, the other fails', async () => {
      await release(w, { version: '1.0.0', targets: [{ deployment: 'api' }] }, 'first');
      await waitReleasePhase(w, 'Succeeded', 'first', 30_000);
      await sleep(1_100); // creation timestamps have a resolution of one second
      await release(w, { version: '2.0.0', targets: [{ deployment: 'api', images: { app: 'example.com/api:2.0.0' } }] }, 'second');
      const r = await waitReleasePhase(w, 'Failed', 'second', 30_000);
      expect(r.status?.message).to.equal('Deployment api is a target of Release first, which is older');
      expect(await image(w, 'api')).to.equal('example.com/api:1.0.0');
    });
  });
});
