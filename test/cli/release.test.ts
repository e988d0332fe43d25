// depctl's Release commands as users run them: the real bin/depctl.js against the real API server.
// No controller runs in this namespace; statuses are written with kubectl patch --subresource=status.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Release } from '../../src/api/release-types.js';
import { buildCli } from '../support/cli-build.js';
import { ensureCluster, kubectl, run, uniqueNamespace } from '../support/cluster.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function depctl(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin/depctl.js'), ...args], { cwd: ROOT, env: { ...process.env, DEPCTL_DEBUG: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function must(args: string[]): Promise<string> {
  const r = await kubectl(args);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

const getRelease = async (ns: string, name: string): Promise<Release> => JSON.parse(await must(['get', 'releases.deployer.dev', name, '-n', ns, '-o', 'json'])) as Release;
const setStatus = (ns: string, name: string, status: unknown): Promise<string> =>
  must(['patch', 'releases.deployer.dev', name, '-n', ns, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status })]);

async function git(dir: string, args: string[], date?: string): Promise<string> {
  const env = { GIT_AUTHOR_NAME: 'Ada Lovelace', GIT_AUTHOR_EMAIL: 'ada@example.com', GIT_COMMITTER_NAME: 'Ada Lovelace', GIT_COMMITTER_EMAIL: 'ada@example.com', ...(date ? { GIT_AUTHOR_DATE: date, GIT_COMMITTER_DATE: date } : {}) };
  const r = await run('git', ['-C', dir, ...args], { env: { ...process.env, ...env } });
  if (r.code !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}

describe('depctl release commands against the API server', function () {
  this.timeout(120_000);
  let ns = '';

  before(async function () {
    await ensureCluster();
    await buildCli();
    // The Release CRD: the repository's when it has one, else the cluster's, else a minimal one for these tests.
    const crd = join(ROOT, 'crds/deployer.dev_releases.yaml');
    if (existsSync(crd)) await must(['apply', '--server-side', '--force-conflicts', '-f', crd]);
    else if ((await kubectl(['get', 'crd', 'releases.deployer.dev'])).code !== 0) {
      const r = await kubectl(['create', '-f', join(ROOT, 'test/cli/fixtures/releases-crd.yaml')]);
      if (r.code !== 0 && !/AlreadyExists/.test(r.stderr)) throw new Error(r.stderr);
    }
    await must(['wait', '--for', 'condition=established', 'crd/releases.deployer.dev', '--timeout=60s']);
    ns = await uniqueNamespace('depctl-rel');
  });

  after(async () => {
    if (ns) await kubectl(['delete', 'namespace', ns, '--wait=false']);
  });

  it('release creates a Release from --image and --deployment, then updates it keeping the other targets', async () => {
    const created = await depctl(['release', 'shop', '-n', ns, '--version', '1.4.2', '--image', 'api=ghcr.io/acme/api:1.4.2', '--image', 'api/proxy=ghcr.io/acme/proxy:2.0', '--deployment', 'worker']);
    expect(created.code, created.stderr).to.equal(0);
    expect(created.stdout).to.include(`release ${ns}/shop version 1.4.2 created (generation 1); follow it with: depctl status release/shop -n ${ns} --watch`);
    let r = await getRelease(ns, 'shop');
    expect(r.spec.version).to.equal('1.4.2');
    expect(r.spec.targets).to.deep.equal([{ deployment: 'api', images: { api: 'ghcr.io/acme/api:1.4.2', proxy: 'ghcr.io/acme/proxy:2.0' } }, { deployment: 'worker' }]);

    const updated = await depctl(['release', 'shop', '-n', ns, '--version', '1.4.3', '--image', 'api=ghcr.io/acme/api:1.4.3', '--image', 'web=ghcr.io/acme/web:1.4.3']);
    expect(updated.code, updated.stderr).to.equal(0);
    expect(updated.stdout).to.include(`release ${ns}/shop version 1.4.3 updated (generation 2)`);
    r = await getRelease(ns, 'shop');
    expect(r.metadata.generation).to.equal(2);
    expect(r.spec.targets).to.deep.equal([
      { deployment: 'api', images: { api: 'ghcr.io/acme/api:1.4.3', proxy: 'ghcr.io/acme/proxy:2.0' } },
      { deployment: 'worker' },
      { deployment: 'web', images: { web: 'ghcr.io/acme/web:1.4.3' } },
    ]);
    const withFields = JSON.parse(await must(['get', 'releases.deployer.dev', 'shop', '-n', ns, '-o', 'json', '--show-managed-fields'])) as { metadata: { managedFields?: Array<{ manager: string }> } };
    const managers = withFields.metadata.managedFields?.map((m) => m.manager) ?? [];
    expect(managers).to.include('depctl');
  });

  it('refuses a bad --image, and a new Release without targets, as usage errors (exit 2) without writing', async () => {
    const bad = await depctl(['release', 'other', '-n', ns, '--version', '1', '--image', 'api']);
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.include('error: --image must be DEPLOYMENT=IMAGE or DEPLOYMENT/CONTAINER=IMAGE');
    const none = await depctl(['release', 'other', '-n', ns, '--version', '1']);
    expect(none.code).to.equal(2);
    expect(none.stderr).to.include('a new Release needs its targets');
    expect((await kubectl(['get', 'releases.deployer.dev', 'other', '-n', ns])).code).to.not.equal(0);
  });

  it('get releases, status release/NAME (targets, revisions, canary result; exit 1 when rolled back) and history', async () => {
    const now = new Date().toISOString();
    await setStatus(ns, 'shop', {
      observedGeneration: 2,
      releaseGeneration: 2,
      version: '1.4.3',
      phase: 'RolledBack',
      message: 'target web failed; every changed target was returned to its previous template',
      targetsDone: '1/3',
      currentGroup: 0,
      startedAt: now,
      finishedAt: now,
      failedTarget: 'web',
      failureReason: 'rolled back revision w2 (version 1.4.3): check errors failed 1 time(s) (limit 0): Fail Alert',
      targets: [
        { deployment: 'api', group: 0, phase: 'Reverted', canary: 'api', revisionBefore: 'a1', versionBefore: '1.4.2', revision: 'a2', version: '1.4.3', canaryResult: 'promoted revision a2 (version 1.4.3)' },
        { deployment: 'web', group: 0, phase: 'Failed', canary: 'web', revisionBefore: 'w1', revision: 'w2', canaryResult: 'rolled back revision w2 (version 1.4.3): check errors failed' },
        { deployment: 'worker', group: 0, phase: 'Skipped' },
      ],
      history: [
        { generation: 2, version: '1.4.3', startedAt: now, finishedAt: now, outcome: 'RolledBack', failedTarget: 'web', reason: 'check errors failed' },
        { generation: 1, version: '1.4.2', startedAt: now, finishedAt: now, outcome: 'Succeeded' },
      ],
    });
    const get = await depctl(['get', 'releases', '-n', ns]);
    expect(get.code, get.stderr).to.equal(0);
    expect(get.stdout).to.match(/^NAME\s+VERSION\s+PHASE\s+TARGETS\s+MESSAGE\s+AGE\n/);
    expect(get.stdout).to.match(/\nshop\s+1\.4\.3\s+RolledBack\s+1\/3\s+target web failed/);
    const one = await depctl(['get', 'releases', 'shop', '-n', ns, '-o', 'json']);
    expect((JSON.parse(one.stdout) as Release).spec.version).to.equal('1.4.3');

    const status = await depctl(['status', 'release/shop', '-n', ns]);
    expect(status.code, status.stderr).to.equal(1);
    expect(status.stdout).to.include('Phase:       RolledBack');
    expect(status.stdout).to.include('Failed:      target web: rolled back revision w2 (version 1.4.3): check errors failed 1 time(s) (limit 0): Fail Alert');
    expect(status.stdout).to.match(/api\s+1\s+Reverted\s+api\s+a1 \(1\.4\.2\) → a2 \(1\.4\.3\)\s+promoted revision a2/);
    expect(status.stdout).to.match(/worker\s+1\s+Skipped\s+-\s+- → -/);

    const history = await depctl(['history', 'shop', '-n', ns]);
    expect(history.code, history.stderr).to.equal(0);
    const lines = history.stdout.trimEnd().split('\n');
    expect(lines[0]).to.match(/^GENERATION\s+VERSION\s+OUTCOME/);
    expect(lines[1]).to.match(/^2\s+1\.4\.3\s+RolledBack\s+.*web\s+check errors failed$/);
    expect(lines[2]).to.match(/^1\s+1\.4\.2\s+Succeeded/);

    const missing = await depctl(['status', 'release/nope', '-n', ns]);
    expect(missing.code).to.equal(2);
    expect(missing.stderr).to.include(`error: release ${ns}/nope not found`);
  });

  it('status release/NAME --watch exits 0 once the current generation succeeds, 3 on --timeout', async () => {
    await setStatus(ns, 'shop', { phase: 'Progressing', observedGeneration: 2, releaseGeneration: 2, message: 'group 1/1' });
    const timedOut = await depctl(['status', 'release/shop', '-n', ns, '--watch', '--timeout', '2s']);
    expect(timedOut.code).to.equal(3);
    expect(timedOut.stdout).to.include(`timed out after 2s waiting for release ${ns}/shop to settle (phase Progressing)`);
    const watching = depctl(['status', 'release/shop', '-n', ns, '--watch', '--timeout', '60s']);
    await new Promise((r) => setTimeout(r, 2000));
    await setStatus(ns, 'shop', { phase: 'Succeeded', message: 'every target promoted' });
    const r = await watching;
    expect(r.code, r.stdout + r.stderr).to.equal(0);
    expect(r.stdout).to.include('Phase:       Progressing');
    expect(r.stdout).to.include('Phase:       Succeeded');
    expect(r.stdout.trimEnd().split('\n').at(-1)).to.equal(`release ${ns}/shop succeeded (phase Succeeded)`);
  });

  it('promote, abort and retry release/NAME set the annotations on the Release', async () => {
    for (const verb of ['promote', 'abort', 'retry']) {
      const r = await depctl([verb, 'release/shop', '-n', ns]);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.match(new RegExp(`^${verb} requested for release ${ns}/shop \\(request \\S+\\)`));
      const id = /request (\S+)\)/.exec(r.stdout)?.[1];
      expect((await getRelease(ns, 'shop')).metadata.annotations?.[`deployer.dev/${verb}`]).to.equal(id);
    }
  });

  it('history canary/NAME shows a Canary\'s status.history', async () => {
    await must(['apply', '--server-side', '--force-conflicts', '-f', join(ROOT, 'crds/deployer.dev_canaries.yaml')]);
    const canary = { apiVersion: 'deployer.dev/v1alpha1', kind: 'Canary', metadata: { name: 'api', namespace: ns }, spec: { targetRef: { name: 'api' }, steps: [] } };
    const created = await kubectl(['apply', '-f', '-'], { input: JSON.stringify(canary) });
    expect(created.code, created.stderr).to.equal(0);
    const now = new Date().toISOString();
    await must(['patch', 'canary', 'api', '-n', ns, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { history: [{ revision: 'r2', version: '1.1.0', startedAt: now, finishedAt: now, outcome: 'RolledBack', reason: 'CheckFailed', result: 'rolled back revision r2', release: 'shop' }] } })]);
    const r = await depctl(['history', 'canary/api', '-n', ns]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout.split('\n')[1]).to.match(/^r2\s+1\.1\.0\s+RolledBack\s+CheckFailed\s+\d+s ago\s+0s\s+shop\s+rolled back revision r2$/);
    // No controller here: drop a finalizer a controller elsewhere may have added, so the namespace can go.
    await kubectl(['patch', 'canary', 'api', '-n', ns, '--type=merge', '-p', '{"metadata":{"finalizers":null}}']);
  });

  it('--from-git fills spec.source: origin without credentials, HEAD, its time and author, lines changed over every commit since the last release', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'depctl-git-'));
    await git(dir, ['init', '-q', '-b', 'main']);
    await git(dir, ['remote', 'add', 'origin', 'https://x-access-token:ghp_notreal@github.com/acme/shop.git']);
    writeFileSync(join(dir, 'app.txt'), 'one\ntwo\nthree\n');
    await git(dir, ['add', '.']);
    await git(dir, ['commit', '-q', '-m', 'first'], '2026-11-30T09:00:00Z');
    const released = await git(dir, ['rev-parse', 'HEAD']);
    // Two commits since the release: +2 lines, then 1 changed line (+1 -1) and a new file of 3 lines.
    writeFileSync(join(dir, 'app.txt'), 'one\ntwo\nthree\nfour\nfive\n');
    await git(dir, ['commit', '-q', '-am', 'second'], '2026-12-01T09:00:00Z');
    writeFileSync(join(dir, 'app.txt'), 'one\nTWO\nthree\nfour\nfive\n');
    writeFileSync(join(dir, 'new.txt'), 'a\nb\nc\n');
    await git(dir, ['add', '.']);
    await git(dir, ['commit', '-q', '-m', 'third'], '2026-12-01T10:30:00+02:00');
    const head = await git(dir, ['rev-parse', 'HEAD']);

    await depctl(['release', 'gitapp', '-n', ns, '--version', '0.9.0', '--deployment', 'api']);
    const now = new Date().toISOString();
    await setStatus(ns, 'gitapp', { history: [{ generation: 1, version: '0.9.0', source: { revision: released }, startedAt: now, finishedAt: now, outcome: 'Succeeded' }] });

    const r = await depctl(['release', 'gitapp', '-n', ns, '--version', '1.0.0', '--from-git', dir]);
    expect(r.code, r.stderr).to.equal(0);
    const rel = await getRelease(ns, 'gitapp');
    expect(rel.spec.source).to.deep.equal({
      repository: 'https://github.com/acme/shop.git',
      revision: head,
      committedAt: '2026-12-01T08:30:00Z',
      author: 'Ada Lovelace',
      linesChanged: 2 + 2 + 3,
    });

    // Without a previous release in the checkout, the count is HEAD~1..HEAD.
    await setStatus(ns, 'gitapp', { history: [{ generation: 1, version: '0.9.0', source: { revision: 'deadbeef'.repeat(5) }, startedAt: now, finishedAt: now, outcome: 'Succeeded' }] });
    const again = await depctl(['release', 'gitapp', '-n', ns, '--version', '1.0.1', '--from-git', dir]);
    expect(again.code, again.stderr).to.equal(0);
    expect((await getRelease(ns, 'gitapp')).spec.source?.linesChanged).to.equal(2 + 3);

    const notGit = await depctl(['release', 'gitapp', '-n', ns, '--version', '1.0.2', '--from-git', tmpdir()]);
    expect(notGit.code).to.equal(2);
    expect(notGit.stderr).to.include(`--from-git ${tmpdir()}: not a git checkout`);
  });
});
