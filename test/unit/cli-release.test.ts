import { expect } from 'chai';
import type { Release } from '../../src/api/release-types.js';
import { CliError } from '../../src/cli/errors.js';
import { assessReleaseOutcome, releaseExitCode, renderReleaseHistory, renderReleaseStatus, renderReleaseTable } from '../../src/cli/format/release-view.js';
import { linesChangedOf, previousReleaseRevision, withoutCredentials } from '../../src/cli/git-source.js';
import { releaseRef } from '../../src/cli/release-kube.js';
import { parseImageFlag, releaseSpec } from '../../src/cli/release-spec.js';

const NOW = Date.parse('2026-12-01T12:00:00Z');

describe('depctl release: flags', () => {
  const good: Array<[string, { deployment: string; container: string; image: string }]> = [
    ['api=ghcr.io/acme/api:1.4.2', { deployment: 'api', container: 'api', image: 'ghcr.io/acme/api:1.4.2' }],
    ['api/proxy=ghcr.io/acme/proxy:2.0', { deployment: 'api', container: 'proxy', image: 'ghcr.io/acme/proxy:2.0' }],
    ['shop.api/api=registry:5000/api@sha256:abc', { deployment: 'shop.api', container: 'api', image: 'registry:5000/api@sha256:abc' }],
  ];
  for (const [text, want] of good) it(`--image ${text}`, () => expect(parseImageFlag(text)).to.deep.equal(want));

  const bad = ['api', '=img', 'api=', 'a/b/c=img', 'API=img', 'api/Proxy=img', 'api=has space'];
  for (const text of bad) it(`--image ${text} is a usage error`, () => expect(() => parseImageFlag(text)).to.throw(CliError, /--image/));

  it('release/NAME names a Release; other words do not', () => {
    expect(releaseRef('release/shop')).to.equal('shop');
    expect(releaseRef('rel/shop')).to.equal('shop');
    expect(releaseRef('releases.deployer.dev/shop')).to.equal('shop');
    expect(releaseRef('shop')).to.equal(undefined);
    expect(releaseRef('canary/shop')).to.equal(undefined);
  });
});

describe('depctl release: the spec it writes', () => {
  const img = (t: string) => parseImageFlag(t);
  it('a new Release lists the targets given', () => {
    const spec = releaseSpec(undefined, { version: '1.4.2', images: [img('api=a:1.4.2'), img('api/proxy=p:2'), img('web=w:1.4.2')], deployments: ['worker'] });
    expect(spec).to.deep.equal({
      version: '1.4.2',
      targets: [{ deployment: 'api', images: { api: 'a:1.4.2', proxy: 'p:2' } }, { deployment: 'web', images: { web: 'w:1.4.2' } }, { deployment: 'worker' }],
    });
  });

  it('an existing Release keeps its targets, order and policy; images given are set; the old source goes', () => {
    const existing = {
      version: '1.4.1',
      source: { revision: 'abc' },
      targets: [{ deployment: 'api', images: { api: 'a:1.4.1', proxy: 'p:1' } }, { deployment: 'worker' }],
      order: [['api'], ['worker']],
      failurePolicy: 'HaltInPlace' as const,
    };
    const spec = releaseSpec(existing, { version: '1.4.2', images: [img('api=a:1.4.2'), img('web=w:1.4.2')], deployments: [] });
    expect(spec).to.deep.equal({
      version: '1.4.2',
      targets: [{ deployment: 'api', images: { api: 'a:1.4.2', proxy: 'p:1' } }, { deployment: 'worker' }, { deployment: 'web', images: { web: 'w:1.4.2' } }],
      order: [['api'], ['worker', 'web']],
      failurePolicy: 'HaltInPlace',
    });
    expect(existing.targets[0]?.images?.api, 'the input is not changed').to.equal('a:1.4.1');
  });

  it('sets the source given', () => {
    expect(releaseSpec(undefined, { version: '1', images: [], deployments: ['api'], source: { revision: 'def', linesChanged: 3 } }).source).to.deep.equal({ revision: 'def', linesChanged: 3 });
  });

  it('refuses a new Release without targets, an empty version and two images for one container', () => {
    expect(() => releaseSpec(undefined, { version: '1', images: [], deployments: [] })).to.throw(CliError, /needs its targets/);
    expect(() => releaseSpec(undefined, { version: ' ', images: [], deployments: ['api'] })).to.throw(CliError, /--version/);
    expect(() => releaseSpec(undefined, { version: '1', images: [img('api=a:1'), img('api/api=a:2')], deployments: [] })).to.throw(CliError, /two images/);
  });
});

describe('depctl release --from-git: pure parts', () => {
  it('counts added and deleted lines, binary files as 0', () => {
    expect(linesChangedOf('3\t1\tsrc/a.ts\n10\t0\tREADME.md\n-\t-\tlogo.png\n')).to.equal(14);
    expect(linesChangedOf('')).to.equal(0);
  });
  it("takes the newest Succeeded release's commit, else the newest with a commit", () => {
    const rel = (history: unknown[]): Release => ({ status: { history } }) as unknown as Release;
    const h = (outcome: string, revision?: string) => ({ generation: 1, version: '1', startedAt: '', outcome, ...(revision ? { source: { revision } } : {}) });
    expect(previousReleaseRevision(rel([h('RolledBack', 'c3'), h('Succeeded'), h('Succeeded', 'c1')]))).to.equal('c1');
    expect(previousReleaseRevision(rel([h('RolledBack', 'c3'), h('Failed', 'c2')]))).to.equal('c3');
    expect(previousReleaseRevision(undefined)).to.equal(undefined);
  });
  it('keeps credentials of the origin URL out of the Release', () => {
    expect(withoutCredentials('https://x-access-token:ghp_secret@github.com/acme/shop.git')).to.equal('https://github.com/acme/shop.git');
    expect(withoutCredentials('git@github.com:acme/shop.git')).to.equal('git@github.com:acme/shop.git');
  });
});

const release = (over: Partial<Release> = {}): Release => ({
  apiVersion: 'deployer.dev/v1alpha1',
  kind: 'Release',
  metadata: { name: 'shop', namespace: 'shop', generation: 3, creationTimestamp: '2026-12-01T11:00:00Z' },
  spec: { version: '1.4.2', targets: [{ deployment: 'api' }, { deployment: 'worker' }], order: [['api'], ['worker']], source: { repository: 'https://github.com/acme/shop', revision: '3f2c1e9d0a1b2c3d', linesChanged: 42, author: 'Ada' } },
  status: {
    observedGeneration: 3,
    releaseGeneration: 3,
    phase: 'RolledBack',
    message: 'worker failed: check errors failed',
    currentGroup: 1,
    targetsDone: '1/2',
    startedAt: '2026-12-01T11:50:00Z',
    finishedAt: '2026-12-01T11:58:00Z',
    failedTarget: 'worker',
    failureReason: 'rolled back revision bb (version 1.4.2): check errors failed 1 time(s) (limit 0): Fail Alert',
    targets: [
      { deployment: 'worker', group: 1, phase: 'Failed', canary: 'worker', revisionBefore: 'w1', versionBefore: '1.4.1', revision: 'w2', version: '1.4.2', canaryResult: 'rolled back revision w2: check errors failed' },
      { deployment: 'api', group: 0, phase: 'Reverted', canary: 'api', revisionBefore: 'a1', versionBefore: '1.4.1', revision: 'a2', version: '1.4.2', canaryResult: 'promoted revision a2 (version 1.4.2)' },
    ],
    history: [
      { generation: 3, version: '1.4.2', source: { revision: '3f2c1e9d0a1b2c3d', linesChanged: 42 }, startedAt: '2026-12-01T11:50:00Z', finishedAt: '2026-12-01T11:58:00Z', outcome: 'RolledBack', failedTarget: 'worker', reason: 'check errors failed' },
      { generation: 2, version: '1.4.1', startedAt: '2026-11-30T10:00:00Z', finishedAt: '2026-11-30T10:12:30Z', outcome: 'Succeeded' },
    ],
  },
  ...over,
});

describe('depctl views of a Release', () => {
  it('get: the printer columns', () => {
    const text = renderReleaseTable([release()], { now: NOW, allNamespaces: false });
    const [head, row] = text.split('\n');
    expect(head).to.match(/^NAME\s+VERSION\s+PHASE\s+TARGETS\s+MESSAGE\s+AGE$/);
    expect(row).to.match(/^shop\s+1\.4\.2\s+RolledBack\s+1\/2\s+worker failed: check errors failed\s+60m$/);
    expect(renderReleaseTable([release()], { now: NOW, allNamespaces: true }).split('\n')[1]).to.match(/^shop\s+shop\s+1\.4\.2/);
  });

  it('status: the targets in group order, revisions before → after, the canary result, the failure', () => {
    const text = renderReleaseStatus(release(), { now: NOW, width: 200 });
    expect(text).to.include('Release:     shop/shop');
    expect(text).to.include('Phase:       RolledBack');
    expect(text).to.include('Group:       2/2');
    expect(text).to.include('Source:      https://github.com/acme/shop, commit 3f2c1e9d0a1b, by Ada, 42 lines changed');
    expect(text).to.include('Failed:      target worker: rolled back revision bb (version 1.4.2): check errors failed 1 time(s) (limit 0): Fail Alert');
    const lines = text.split('\n');
    const header = lines.findIndex((l) => /DEPLOYMENT\s+GROUP\s+PHASE\s+CANARY\s+REVISION \(BEFORE → AFTER\)\s+RESULT/.test(l));
    expect(header).to.be.greaterThan(0);
    expect(lines[header + 1]).to.match(/^\s+api\s+1\s+Reverted\s+api\s+a1 \(1\.4\.1\) → a2 \(1\.4\.2\)\s+promoted revision a2/);
    expect(lines[header + 2]).to.match(/^\s+worker\s+2\s+Failed\s+worker\s+w1 \(1\.4\.1\) → w2 \(1\.4\.2\)\s+rolled back revision w2: check errors failed$/);
  });

  it('status: no status yet says so and lists the targets', () => {
    const text = renderReleaseStatus(release({ status: {} }), { now: NOW });
    expect(text).to.include('Unknown (no status yet');
    expect(text).to.include('  api (not started)');
  });

  it('history: newest first with outcome, duration, commit, lines and failed target', () => {
    const lines = renderReleaseHistory(release().status?.history ?? [], { now: NOW, width: 200 }).split('\n');
    expect(lines[0]).to.match(/^GENERATION\s+VERSION\s+OUTCOME\s+STARTED\s+DURATION\s+COMMIT\s+LINES\s+FAILED TARGET\s+REASON$/);
    expect(lines[1]).to.match(/^3\s+1\.4\.2\s+RolledBack\s+10m ago\s+8m\s+3f2c1e9d0a1b\s+42\s+worker\s+check errors failed$/);
    expect(lines[2]).to.match(/^2\s+1\.4\.1\s+Succeeded\s+26h ago\s+12m\s+-\s+-\s+-$/);
  });

  it('strips terminal escapes from what the cluster sent', () => {
    const r = release();
    r.status!.message = 'bad \x1b]0;title\x07news';
    expect(renderReleaseTable([r], { now: NOW, allNamespaces: false })).not.to.include('\x1b');
  });

  const outcomes: Array<{ name: string; status: Release['status']; generation?: number; done: boolean; code?: number }> = [
    { name: 'Succeeded for the current generation: 0', status: { phase: 'Succeeded', observedGeneration: 3, releaseGeneration: 3 }, done: true, code: 0 },
    { name: 'RolledBack: 1', status: { phase: 'RolledBack', observedGeneration: 3, releaseGeneration: 3 }, done: true, code: 1 },
    { name: 'Halted: 1', status: { phase: 'Halted', observedGeneration: 3, releaseGeneration: 3 }, done: true, code: 1 },
    { name: 'Failed: 1', status: { phase: 'Failed', observedGeneration: 3 }, done: true, code: 1 },
    { name: 'Progressing: not yet', status: { phase: 'Progressing', observedGeneration: 3, releaseGeneration: 3 }, done: false },
    { name: 'Succeeded for an older generation: not yet', status: { phase: 'Succeeded', observedGeneration: 2, releaseGeneration: 2 }, done: false },
    { name: 'a status about an older release: not yet', status: { phase: 'Succeeded', observedGeneration: 3, releaseGeneration: 2 }, done: false },
    { name: 'Superseded: not yet', status: { phase: 'Superseded', observedGeneration: 3, releaseGeneration: 2 }, done: false },
    { name: 'no status: not yet', status: {}, done: false },
  ];
  for (const tc of outcomes) {
    it(`status --watch: ${tc.name}`, () => {
      const o = assessReleaseOutcome({ metadata: { name: 'shop', namespace: 'shop', generation: 3 }, ...(tc.status ? { status: tc.status } : {}) });
      expect(o.done).to.equal(tc.done);
      if (o.done) expect(o.exitCode).to.equal(tc.code);
    });
  }
  it('one-shot status exit codes', () => {
    expect(['Succeeded', 'Progressing', 'Verifying', 'RolledBack', 'Failed', 'Halted', undefined].map(releaseExitCode)).to.deep.equal([0, 0, 0, 1, 1, 1, 0]);
  });
});

describe('depctl history canary/NAME', () => {
  it('one row per finished canary, newest first, with the Release and the result', async () => {
    const { renderCanaryHistory } = await import('../../src/cli/format/canary-history.js');
    const lines = renderCanaryHistory(
      [
        { revision: 'aaaa', version: '1.0.0', stableRevisionBefore: 'bbbb', startedAt: '2026-12-01T11:58:00Z', finishedAt: '2026-12-01T11:58:30Z', promotedAt: '2026-12-01T11:58:30Z', outcome: 'Promoted', reason: 'RevertAccepted', result: 'revision aaaa (version 1.0.0) was verified on 2026-12-01T10:00:00Z (within the rollback window of 3): rolled out without a new canary', release: 'shop' },
        { revision: 'bbbb', version: '1.1.0', startedAt: '2026-12-01T11:00:00Z', finishedAt: '2026-12-01T11:06:00Z', outcome: 'RolledBack', reason: 'CheckFailed', result: 'rolled back revision bbbb' },
      ],
      { now: NOW, width: 250 },
    ).split('\n');
    expect(lines[0]).to.match(/^REVISION\s+VERSION\s+OUTCOME\s+REASON\s+STARTED\s+DURATION\s+RELEASE\s+RESULT$/);
    expect(lines[1]).to.match(/^aaaa\s+1\.0\.0\s+Promoted\s+RevertAccepted\s+2m ago\s+30s\s+shop\s+revision aaaa \(version 1\.0\.0\) was verified on/);
    expect(lines[2]).to.match(/^bbbb\s+1\.1\.0\s+RolledBack\s+CheckFailed\s+60m ago\s+6m\s+-\s+rolled back revision bbbb$/);
  });
});
