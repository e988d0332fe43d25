// Delivery metrics on the real control plane: a Canary whose status.history is a scripted delivery
// history (written through the status subresource), read by `depctl metrics -o json`, by a running
// operator's /metrics, and reported to the Datadog stand-in's DORA endpoints. Every expected figure
// is computed by hand below.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { CanaryRecord } from '../../src/api/types.js';
import type { ReleaseRecord } from '../../src/api/release-types.js';
import { paths } from '../../src/kube/raw-client.js';
import { doraDeploymentId } from '../../src/metrics/dora-payload.js';
import { eventually, kubeconfigPath } from '../support/cluster.js';
import { World } from '../support/world.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const MIN = 60_000;

function depctl(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args], { cwd: ROOT, env: { ...process.env, KUBECONFIG: kubeconfigPath } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('delivery metrics from a scripted history', function () {
  this.timeout(120_000);
  let w: World;
  before(async () => {
    w = await World.create('metrics');
  });
  after(() => w.teardown());

  it('depctl metrics, /metrics and the DORA payloads equal the figures computed by hand', async () => {
    // Whole minutes, so that times survive RFC 3339 at second precision and ns on the wire exactly.
    const now = Math.floor(Date.now() / MIN) * MIN;
    const at = (minutesAgo: number): string => new Date(now - minutesAgo * MIN).toISOString();
    // Newest first. r1 promoted (5 min), r2 caught, r3 promoted (10 min), r1 deployed again 70 min
    // after r3's promotion (promoted in 2 min): r3 is a change failure (what ran before it came back),
    // recovered 72 min (4320 s) after its promotion.
    const history: CanaryRecord[] = [
      { revision: 'r1', version: '1.0.0', stableRevisionBefore: 'r3', startedAt: at(40), promotedAt: at(38), finishedAt: at(38), outcome: 'Promoted' },
      { revision: 'r3', version: '3.0.0', stableRevisionBefore: 'r1', startedAt: at(120), promotedAt: at(110), finishedAt: at(110), outcome: 'Promoted' },
      { revision: 'r2', version: '2.0.0', stableRevisionBefore: 'r1', startedAt: at(210), finishedAt: at(208), outcome: 'RolledBack', reason: 'CheckFailed' },
      { revision: 'r1', version: '1.0.0', stableRevisionBefore: 'r0', startedAt: at(300), promotedAt: at(295), finishedAt: at(295), outcome: 'Promoted' },
    ];
    await w.datadogSecret();
    await w.canary('api', {
      steps: [{ setWeight: 50 }],
      datadog: { secretRef: { name: 'datadog' } },
      dora: { enabled: true, service: 'api-svc', env: 'test' },
    });
    await w.client.patch(paths.canary(w.ns, 'api') + '/status', { status: { history } });
    const canary = await w.get('api');
    expect(canary.status?.history).to.deep.equal(history);
    const uid = canary.metadata.uid ?? '';

    // depctl metrics -o json (30 days): 3 deploys, 1 catch, 1 failure of 3, durations 300 600 120.
    const r = await depctl(['metrics', 'api', '-n', w.ns, '-o', 'json']);
    expect(r.code, r.stderr).to.equal(0);
    const [f] = (JSON.parse(r.stdout) as { items: Array<Record<string, unknown>> }).items;
    expect(f).to.deep.include({
      kind: 'Canary',
      namespace: w.ns,
      name: 'api',
      deploys: 3,
      deploysPerWeek: 3 / (30 / 7),
      canaryCatches: 1,
      canaryCatchRate: 0.25,
      changeFailures: 1,
      changeFailureRate: 1 / 3,
      unrecovered: 0,
    });
    expect(f?.durationSeconds).to.deep.equal({ count: 3, median: 300, p90: 600 });
    expect(f?.timeToRecoverSeconds).to.deep.equal({ count: 1, median: 4320 });
    expect(f?.failures).to.deep.equal([{ revision: 'r3', version: '3.0.0', cause: 'redeployed_previous', promotedAt: at(110), recoveredAt: at(38) }]);

    // The operator's /metrics.
    const op = await w.startOperator({ health: { host: '127.0.0.1', port: 0 } });
    const labels = `kind="Canary",namespace="${w.ns}",name="api"`;
    const text = await eventually(async () => {
      const body = await (await fetch(`http://127.0.0.1:${op.healthPort}/metrics`)).text();
      expect(body).to.include(`deployer_deploys_total{${labels},outcome="promoted"} 3`);
      return body;
    });
    expect(text).to.include(`deployer_deploys_total{${labels},outcome="caught"} 1`);
    expect(text).to.include(`deployer_deploy_duration_seconds_sum{${labels}} 1020`);
    expect(text).to.include(`deployer_deploy_duration_seconds_count{${labels}} 3`);
    expect(text).to.include(`deployer_time_to_recover_seconds_sum{${labels}} 4320`);
    expect(text).to.include(`deployer_change_failures_total{${labels},cause="redeployed_previous"} 1`);
    expect(text).to.include(`deployer_change_failure_rate{${labels}} 0.3333333333333333`);
    expect(text).to.include(`deployer_deploys_per_week{${labels}} ${3 / (30 / 7)}`);

    // DORA: the evidence of the last hour (r1 again, and r3 found failed with it) is reported; r1's
    // first promotion, 5 h ago, was reported before (the horizon keeps a restart from replaying it).
    const id = (revision: string, startedAt: string): string => doraDeploymentId({ uid, revision, startedAt: Date.parse(startedAt) });
    await eventually(() => expect(w.dd.doraEvents().patches).to.have.length(1));
    const ns = (iso: string): number => Date.parse(iso) * 1e6;
    const tags = (rev: string): string[] => ['deployer_kind:canary', `deployer_namespace:${w.ns}`, 'deployer_name:api', `deployer_revision:${rev}`];
    expect(w.dd.doraEvents().deployments.map((d) => (d as { data: { attributes: unknown } }).data.attributes)).to.have.deep.members([
      { id: id('r1', at(40)), service: 'api-svc', env: 'test', version: '1.0.0', started_at: ns(at(40)), finished_at: ns(at(38)), custom_tags: tags('r1') },
      { id: id('r3', at(120)), service: 'api-svc', env: 'test', version: '3.0.0', started_at: ns(at(120)), finished_at: ns(at(110)), custom_tags: tags('r3') },
    ]);
    expect(w.dd.doraEvents().patches).to.deep.equal([
      {
        id: id('r3', at(120)),
        body: { data: { id: id('r3', at(120)), type: 'dora_deployment_patch_request', attributes: { change_failure: true, remediation: { type: 'rollback', id: id('r1', at(40)) } } } },
      },
    ]);
  });
});

describe('delivery metrics of a Release from a scripted history', function () {
  this.timeout(120_000);
  let w: World;
  before(async () => {
    w = await World.create('metrics-rel');
  });
  after(() => w.teardown());

  it('a Release: depctl metrics, /metrics and the DORA payloads of an application equal the figures computed by hand', async () => {
    const now = Math.floor(Date.now() / MIN) * MIN;
    const at = (minutesAgo: number): string => new Date(now - minutesAgo * MIN).toISOString();
    const repo = 'https://github.com/acme/shop';
    // Newest first. g2 promoted (10 min, lead time 110 min, 100 lines); g3 caught by a canary;
    // g4 promoted (5 min, lead time 65 min, 300 lines), then a post-release check failed and it was
    // rolled back 5 min after its promotion: a change failure, recovered in 300 s. (The controller
    // adds a record of the object's own generation 1, Failed on its missing Deployment: no deploy.)
    const history: ReleaseRecord[] = [
      { generation: 4, version: '1.2.1', source: { repository: repo, revision: 'c3', committedAt: at(100), linesChanged: 300 }, startedAt: at(40), promotedAt: at(35), finishedAt: at(30), outcome: 'RolledBack', reason: 'PostReleaseCheckFailed' },
      { generation: 3, version: '1.2.0', source: { repository: repo, revision: 'c2', committedAt: at(130), linesChanged: 20 }, startedAt: at(120), finishedAt: at(115), outcome: 'RolledBack', failedTarget: 'web', reason: 'TargetFailed' },
      { generation: 2, version: '1.1.0', source: { repository: repo, revision: 'c1', committedAt: at(300), linesChanged: 100 }, startedAt: at(200), promotedAt: at(190), finishedAt: at(190), outcome: 'Succeeded' },
    ];
    await w.datadogSecret();
    await w.apply({
      apiVersion: 'deployer.dev/v1alpha1',
      kind: 'Release',
      metadata: { name: 'shop', namespace: w.ns },
      spec: { version: '1.2.1', targets: [{ deployment: 'web' }], datadog: { secretRef: { name: 'datadog' } }, dora: { enabled: true, env: 'test' } },
    });
    await w.client.patch(paths.release(w.ns, 'shop') + '/status', { status: { history } });
    const release = (await w.client.get(paths.release(w.ns, 'shop'))) as { metadata: { uid?: string }; status?: { history?: unknown } };
    expect(release.status?.history).to.deep.equal(history);
    const uid = release.metadata.uid ?? '';

    // depctl metrics -o json: 2 deploys, 1 catch of 3, 1 change failure of 2.
    const r = await depctl(['metrics', 'shop', '-n', w.ns, '-o', 'json']);
    expect(r.code, r.stderr).to.equal(0);
    const f = (JSON.parse(r.stdout) as { items: Array<Record<string, unknown>> }).items.find((x) => x.kind === 'Release');
    expect(f, r.stdout).to.deep.include({ kind: 'Release', namespace: w.ns, name: 'shop', deploys: 2, deploysPerWeek: 2 / (30 / 7), canaryCatches: 1, canaryCatchRate: 1 / 3, changeFailures: 1, changeFailureRate: 0.5, unrecovered: 0 });
    expect(f?.durationSeconds).to.deep.include({ count: 2, median: 450 });
    expect(f?.leadTimeSeconds).to.deep.include({ count: 2, median: (6600 + 3900) / 2 });
    expect(f?.linesChanged).to.deep.include({ count: 2, median: 200 });
    expect(f?.timeToRecoverSeconds).to.deep.include({ count: 1, median: 300 });

    // The operator's /metrics.
    const op = await w.startOperator({ health: { host: '127.0.0.1', port: 0 } });
    const labels = `kind="Release",namespace="${w.ns}",name="shop"`;
    const text = await eventually(async () => {
      const body = await (await fetch(`http://127.0.0.1:${op.healthPort}/metrics`)).text();
      expect(body).to.include(`deployer_deploys_total{${labels},outcome="promoted"} 1`);
      // The controller's own record of generation 1 (its Deployment is missing): failed, changed nothing.
      expect(body).to.include(`deployer_deploys_total{${labels},outcome="failed"} 1`);
      return body;
    });
    // By outcome: g2 promoted, g4 rolled back after its promotion, g3 caught (g1, Failed, changed nothing).
    expect(text).to.include(`deployer_deploys_total{${labels},outcome="rolled_back"} 1`);
    expect(text).to.include(`deployer_deploys_total{${labels},outcome="caught"} 1`);
    expect(text).to.include(`deployer_change_failures_total{${labels},cause="rolled_back"} 1`);
    expect(text).to.include(`deployer_deploy_duration_seconds_sum{${labels}} 900`);
    expect(text).to.include(`deployer_lead_time_seconds_sum{${labels}} 10500`);
    expect(text).to.include(`deployer_lines_changed_sum{${labels}} 400`);
    expect(text).to.include(`deployer_time_to_recover_seconds_sum{${labels}} 300`);
    expect(text).to.include(`deployer_change_failure_rate{${labels}} 0.5`);

    // DORA, the last hour: g4's deployment, the rollback's deployment, and the patch naming it.
    const id = (revision: string, startedAt: string): string => doraDeploymentId({ uid, revision, startedAt: Date.parse(startedAt) });
    await eventually(() => expect(w.dd.doraEvents().patches).to.have.length(1));
    const deployments = w.dd.doraEvents().deployments.map((d) => (d as { data: { attributes: Record<string, unknown> } }).data.attributes);
    const ns = (iso: string): number => Date.parse(iso) * 1e6;
    expect(deployments.find((d) => d.id === id('4', at(40)))).to.deep.equal({
      id: id('4', at(40)),
      service: 'shop',
      env: 'test',
      version: '1.2.1',
      started_at: ns(at(40)),
      finished_at: ns(at(35)),
      git: { repository_url: repo, commit_sha: 'c3' },
      custom_tags: ['deployer_kind:release', `deployer_namespace:${w.ns}`, 'deployer_name:shop', 'deployer_revision:4'],
    });
    const rollbackId = id('4-rollback', at(40));
    expect(deployments.find((d) => d.id === rollbackId), 'the rollback is a deployment of the previous version').to.deep.include({ version: '1.1.0', started_at: ns(at(30)), finished_at: ns(at(30)) });
    expect(deployments.find((d) => d.id === id('2', at(200))), 'g2 is older than the horizon').to.equal(undefined);
    expect(w.dd.doraEvents().patches).to.deep.equal([
      { id: id('4', at(40)), body: { data: { id: id('4', at(40)), type: 'dora_deployment_patch_request', attributes: { change_failure: true, remediation: { type: 'rollback', id: rollbackId } } } } },
    ]);
  });
});
