import { expect } from 'chai';
import { ANNOTATIONS, REASONS } from '../../src/api/constants.js';
import type { Release, ReleaseSpec, ReleaseStatus } from '../../src/api/release-types.js';
import { canaryRequestId, decide, type Action, type Decision, type Observed, type ObservedCanary, type ObservedTarget } from '../../src/release/decide.js';

const T0 = Date.parse('2026-12-05T10:00:00.000Z');
const at = (s: number): number => T0 + s * 1000;
const iso = (s: number): string => new Date(at(s)).toISOString();

// Revisions: <deployment>-<version>.
const R = (d: string, v: string): string => `${d}-${v}`;

const SPEC: ReleaseSpec = {
  version: '2.0.0',
  targets: [
    { deployment: 'api', images: { api: 'acme/api:2.0.0' } },
    { deployment: 'web', images: { web: 'acme/web:2.0.0' } },
    { deployment: 'worker', images: { worker: 'acme/worker:2.0.0' } },
  ],
  order: [['api'], ['web', 'worker']],
};

function release(o: { spec?: Partial<ReleaseSpec>; status?: ReleaseStatus; generation?: number; annotations?: Record<string, string> } = {}): Release {
  return {
    apiVersion: 'deployer.dev/v1alpha1',
    kind: 'Release',
    metadata: { name: 'shop', namespace: 'shop', generation: o.generation ?? 1, ...(o.annotations ? { annotations: o.annotations } : {}) },
    spec: { ...SPEC, ...o.spec },
    ...(o.status ? { status: o.status } : {}),
  };
}

function canary(d: string, o: Partial<ObservedCanary> = {}): ObservedCanary {
  return { name: d, stableRevision: R(d, '1'), stableVersion: '1.0.0', phase: 'Waiting', ready: true, annotations: {}, handled: {}, ...o };
}

/** A Deployment running version `v` (rolled out); images give the revision after the release's images. */
function target(d: string, o: Partial<ObservedTarget> & { v?: string; guarded?: boolean } = {}): ObservedTarget {
  const v = o.v ?? '1';
  const { v: _v, guarded, ...rest } = o;
  return {
    deployment: d,
    exists: true,
    containers: [d],
    revision: R(d, v),
    version: `${v}.0.0`,
    revisionWithImages: R(d, '2'),
    versionWithImages: '2.0.0',
    rolledOut: true,
    ...(guarded === false ? {} : { canary: canary(d) }),
    ...rest,
  };
}

function observed(targets: ObservedTarget[], o: Partial<Observed> = {}): Observed {
  return { targets: Object.fromEntries(targets.map((t) => [t.deployment, t])), specProblems: [], checks: [], measurements: {}, ...o };
}

/** api and web guarded, worker not. */
const world = (o: { api?: Partial<ObservedTarget> & { v?: string }; web?: Partial<ObservedTarget> & { v?: string }; worker?: Partial<ObservedTarget> & { v?: string } } = {}): ObservedTarget[] => [
  target('api', o.api),
  target('web', o.web),
  target('worker', { guarded: false, ...o.worker }),
];

const after = (r: Release, d: Decision): Release => ({ ...r, status: d.status });
const types = (d: Decision): string[] => d.actions.map((a) => a.type);
const targetOf = (d: Decision, name: string) => d.status.targets?.find((t) => t.deployment === name);
const reasons = (d: Decision): string[] => d.events.map((e) => e.reason);

describe('Release decide()', () => {
  describe('a release in two groups', () => {
    it('starts group 1: applies api images, holds the guarded Canary of group 2, writes the status', () => {
      const d = decide(release(), observed(world()), at(0));
      expect(d.status.phase).to.equal('Progressing');
      expect(d.status.releaseGeneration).to.equal(1);
      expect(d.status.version).to.equal('2.0.0');
      expect(d.status.targetsDone).to.equal('0/3');
      expect(d.status.currentGroup).to.equal(0);
      expect(targetOf(d, 'api')).to.deep.include({ phase: 'Canary', revisionBefore: R('api', '1'), revision: R('api', '2'), canary: 'api', group: 0, startedAt: iso(0) });
      expect(targetOf(d, 'web')).to.deep.include({ phase: 'Pending', group: 1 });
      expect(d.actions).to.deep.include({ type: 'ApplyImages', deployment: 'api', images: { api: 'acme/api:2.0.0' } });
      expect(d.actions).to.deep.include({ type: 'HoldCanary', canary: 'web', holder: 'release/shop' });
      expect(types(d)).to.not.include('RevertTemplate');
      expect(d.actions.filter((a) => a.type === 'ApplyImages')).to.have.length(1);
      expect(reasons(d)).to.include(REASONS.ReleaseStarted);
      expect(d.status.conditions?.find((c) => c.type === 'Progressing')?.status).to.equal('True');
      expect(d.status.conditions?.find((c) => c.type === 'Ready')?.status).to.equal('False');
      expect(d.requeueAfterMs).to.be.a('number');
    });

    it('waits while the Canary verifies, and applies the images again if they were lost', () => {
      const r1 = after(release(), decide(release(), observed(world()), at(0)));
      const d = decide(r1, observed(world({ api: { v: '2', canary: canary('api', { phase: 'Progressing', ready: false }) } })), at(30));
      expect(targetOf(d, 'api')?.phase).to.equal('Canary');
      expect(types(d)).to.not.include('ApplyImages');
      const lost = decide(r1, observed(world()), at(30));
      expect(lost.actions).to.deep.include({ type: 'ApplyImages', deployment: 'api', images: { api: 'acme/api:2.0.0' } });
    });

    it('starts group 2 once the Canary promoted api: releases the hold, applies both images', () => {
      const r1 = after(release(), decide(release(), observed(world()), at(0)));
      const web = canary('web', { annotations: { [ANNOTATIONS.heldBy]: 'release/shop' } });
      const d = decide(r1, observed(world({ api: { v: '2', canary: canary('api', { stableRevision: R('api', '2'), lastResult: 'promoted: errors Pass 0.1' }) }, web: { canary: web } })), at(120));
      expect(targetOf(d, 'api')).to.deep.include({ phase: 'Promoted', finishedAt: iso(120), canaryResult: 'promoted: errors Pass 0.1' });
      expect(d.status.currentGroup).to.equal(1);
      expect(targetOf(d, 'web')).to.deep.include({ phase: 'Canary', revision: R('web', '2'), startedAt: iso(120) });
      expect(targetOf(d, 'worker')).to.deep.include({ phase: 'RollingOut', revisionBefore: R('worker', '1'), revision: R('worker', '2') });
      expect(d.actions).to.deep.include({ type: 'ReleaseCanary', canary: 'web' });
      expect(types(d)).to.not.include('HoldCanary');
      expect(d.actions.filter((a) => a.type === 'ApplyImages').map((a) => (a as { deployment: string }).deployment)).to.deep.equal(['web', 'worker']);
      expect(d.status.targetsDone).to.equal('1/3');
      expect(reasons(d)).to.include.members([REASONS.TargetPromoted, REASONS.GroupStarted]);
    });

    it('succeeds once every target is promoted: history, Ready, no actions', () => {
      let r = after(release(), decide(release(), observed(world()), at(0)));
      const promotedApi = { v: '2', canary: canary('api', { stableRevision: R('api', '2') }) };
      r = after(r, decide(r, observed(world({ api: promotedApi })), at(120)));
      // worker still rolling: not done.
      const mid = decide(r, observed(world({ api: promotedApi, web: { v: '2', canary: canary('web', { stableRevision: R('web', '2') }) }, worker: { v: '2', rolledOut: false } })), at(200));
      expect(mid.status.phase).to.equal('Progressing');
      expect(targetOf(mid, 'worker')?.phase).to.equal('RollingOut');
      const d = decide(after(r, mid), observed(world({ api: promotedApi, web: { v: '2', canary: canary('web', { stableRevision: R('web', '2') }) }, worker: { v: '2' } })), at(240));
      expect(d.status.phase).to.equal('Succeeded');
      expect(d.status.targetsDone).to.equal('3/3');
      expect(d.status.finishedAt).to.equal(iso(240));
      expect(d.status.history?.[0]).to.deep.include({ generation: 1, version: '2.0.0', outcome: 'Succeeded', startedAt: iso(0), finishedAt: iso(240) });
      expect(d.status.conditions?.find((c) => c.type === 'Ready')?.status).to.equal('True');
      expect(d.actions).to.deep.equal([]);
      expect(reasons(d)).to.include(REASONS.ReleaseSucceeded);
      // Nothing more happens.
      const again = decide(after(r, d), observed(world({ api: promotedApi, web: { v: '2' }, worker: { v: '2' } })), at(300));
      expect(again.actions).to.deep.equal([]);
      expect(again.events).to.deep.equal([]);
    });

    it('marks a target whose revision is already verified and running Unchanged', () => {
      const d = decide(release(), observed(world({ api: { v: '2', canary: canary('api', { stableRevision: R('api', '2') }) } })), at(0));
      expect(targetOf(d, 'api')?.phase).to.equal('Unchanged');
      expect(d.status.currentGroup).to.equal(1);
      expect(types(d)).to.not.include('HoldCanary');
    });
  });

  describe('RollbackAll', () => {
    const inGroup2 = (): Release => {
      let r = after(release(), decide(release(), observed(world()), at(0)));
      r = after(r, decide(r, observed(world({ api: { v: '2', canary: canary('api', { stableRevision: R('api', '2') }) } })), at(120)));
      return r;
    };

    it('a failed canary in group 2 returns the promoted api to its previous template and names the Canary\'s own result', () => {
      const r = inGroup2();
      const result = 'check errors failed 1 time(s) (limit 0): Fail 12.5 (threshold <= 5)';
      const d = decide(
        r,
        observed(world({ api: { v: '2', canary: canary('api', { stableRevision: R('api', '2') }) }, web: { canary: canary('web', { failedRevision: R('web', '2'), phase: 'RolledBack', lastResult: result }) }, worker: { v: '2', rolledOut: false } })),
        at(300),
      );
      expect(d.status.phase).to.equal('RollingBack');
      expect(d.status.failedTarget).to.equal('web');
      expect(d.status.failureReason).to.equal(result);
      // web: its Canary already restored the stable template.
      expect(targetOf(d, 'web')).to.deep.include({ phase: 'Reverted', canaryResult: result });
      expect(targetOf(d, 'api')).to.deep.include({ phase: 'Reverting', revisionBefore: R('api', '1') });
      expect(targetOf(d, 'worker')).to.deep.include({ phase: 'Reverting', revisionBefore: R('worker', '1') });
      expect(d.actions).to.deep.include({ type: 'RevertTemplate', deployment: 'api', revision: R('api', '1') });
      expect(d.actions).to.deep.include({ type: 'RevertTemplate', deployment: 'worker', revision: R('worker', '1') });
      // web: its Canary already restored the stable template.
      expect(d.actions.filter((a) => a.type === 'RevertTemplate' && a.deployment === 'web')).to.deep.equal([]);
      expect(reasons(d)).to.include.members([REASONS.TargetFailed, REASONS.ReleaseRollingBack]);
    });

    it('aborts the canary in flight and skips targets of groups not started', () => {
      const spec: Partial<ReleaseSpec> = { order: [['api', 'web'], ['worker']] };
      let r = after(release({ spec }), decide(release({ spec }), observed(world()), at(0)));
      const d = decide(r, observed(world({ api: { v: '2', canary: canary('api', { failedRevision: R('api', '2'), lastResult: 'boom' }) }, web: { v: '2', canary: canary('web', { phase: 'Progressing' }) } })), at(60));
      r = after(r, d);
      expect(targetOf(d, 'worker')?.phase).to.equal('Skipped');
      const abortId = canaryRequestId(r, d.status, 'abort');
      expect(d.actions).to.deep.include({ type: 'AnnotateCanary', canary: 'web', request: 'abort', id: abortId });
      expect(d.actions).to.deep.include({ type: 'RevertTemplate', deployment: 'web', revision: R('web', '1') });
      expect(types(d)).to.not.include('ApplyImages');
      // The annotation landed: not sent again.
      const d2 = decide(r, observed(world({ api: { canary: canary('api', { failedRevision: R('api', '2') }) }, web: { v: '2', canary: canary('web', { phase: 'Progressing', annotations: { [ANNOTATIONS.abort]: abortId } }) } })), at(61));
      expect(d2.actions.filter((a) => a.type === 'AnnotateCanary')).to.deep.equal([]);
    });

    it('ends RolledBack once every changed target runs its previous revision, and holds the failed generation', () => {
      let r = inGroup2();
      const failedWeb = canary('web', { failedRevision: R('web', '2'), lastResult: 'boom' });
      r = after(r, decide(r, observed(world({ api: { v: '2', canary: canary('api', { stableRevision: R('api', '2') }) }, web: { canary: failedWeb }, worker: { v: '2' } })), at(300)));
      // api reverted but its Canary has not accepted it yet.
      const waiting = decide(r, observed(world({ api: { v: '1', canary: canary('api', { stableRevision: R('api', '2') }) }, web: { canary: failedWeb } })), at(310));
      expect(waiting.status.phase).to.equal('RollingBack');
      expect(targetOf(waiting, 'worker')?.phase).to.equal('Reverted');
      r = after(r, waiting);
      const d = decide(r, observed(world({ web: { canary: failedWeb } })), at(320));
      expect(d.status.phase).to.equal('RolledBack');
      expect(d.status.failedGeneration).to.equal(1);
      expect(d.status.message).to.equal('rolled back: web failed: boom');
      expect(d.status.history?.[0]).to.deep.include({ outcome: 'RolledBack', failedTarget: 'web', reason: REASONS.RolledBack, message: 'boom' });
      expect(d.status.targets?.map((t) => t.phase)).to.deep.equal(['Reverted', 'Reverted', 'Reverted']);
      expect(reasons(d)).to.include(REASONS.ReleaseRolledBack);
      // Held: nothing is released again for the same generation.
      const held = decide(after(r, d), observed(world()), at(400));
      expect(held.actions).to.deep.equal([]);
      expect(held.status.phase).to.equal('RolledBack');
    });

    it('a rollback that does not finish ends after the deadline, naming what is left; it is never rolled back', () => {
      let r = inGroup2();
      r = after(r, decide(r, observed(world({ api: { v: '2', canary: canary('api', { stableRevision: R('api', '2') }) }, web: { canary: canary('web', { failedRevision: R('web', '2'), lastResult: 'boom' }) } })), at(300)));
      const d = decide(r, observed(world({ api: { v: '1', rolledOut: false, canary: canary('api', { stableRevision: R('api', '2') }) } })), at(300 + 1800));
      expect(d.status.phase).to.equal('RolledBack');
      expect(d.status.message).to.contain('not yet back on their previous revision: api');
    });

    it('a newer generation waits for a rollback in progress, then starts', () => {
      let r = inGroup2();
      r = after(r, decide(r, observed(world({ api: { v: '2', canary: canary('api', { stableRevision: R('api', '2') }) }, web: { canary: canary('web', { failedRevision: R('web', '2'), lastResult: 'boom' }) } })), at(300)));
      const newer = { ...r, metadata: { ...r.metadata, generation: 2 }, spec: { ...r.spec, version: '2.0.1' } };
      const d = decide(newer, observed(world({ api: { v: '2', rolledOut: false, canary: canary('api', { stableRevision: R('api', '2') }) } })), at(310));
      expect(d.status.phase).to.equal('RollingBack');
      expect(d.status.releaseGeneration).to.equal(1);
      const d2 = decide(after(newer, d), observed(world({ web: { canary: canary('web', { failedRevision: R('web', '2') }) } })), at(320));
      expect(d2.status.releaseGeneration).to.equal(2);
      expect(d2.status.phase).to.equal('Progressing');
      expect(d2.status.history?.map((h) => h.outcome)).to.deep.equal(['RolledBack']);
    });

    it('an unguarded rollout that misses the deadline fails the release', () => {
      const spec: Partial<ReleaseSpec> = { order: [['worker'], ['api', 'web']], progressDeadline: '5m' };
      const r = after(release({ spec }), decide(release({ spec }), observed(world()), at(0)));
      const ok = decide(r, observed(world({ worker: { v: '2', rolledOut: false } })), at(299));
      expect(ok.status.phase).to.equal('Progressing');
      const d = decide(r, observed(world({ worker: { v: '2', rolledOut: false } })), at(300));
      expect(d.status.phase).to.equal('RollingBack');
      expect(d.status.failureReason).to.equal('the rolling update of Deployment worker to revision worker-2 did not complete within the progress deadline (5m)');
      expect(d.actions).to.deep.include({ type: 'RevertTemplate', deployment: 'worker', revision: R('worker', '1') });
      expect(targetOf(d, 'api')?.phase).to.equal('Skipped');
    });

    it('an abort request rolls back; a retry releases the same generation again and retries the Canary', () => {
      let r = after(release(), decide(release(), observed(world()), at(0)));
      const aborting = { ...r, metadata: { ...r.metadata, annotations: { [ANNOTATIONS.abort]: 'a1' } } };
      const d = decide(aborting, observed(world({ api: { v: '2', canary: canary('api', { phase: 'Progressing' }) } })), at(30));
      expect(d.status.phase).to.equal('RollingBack');
      expect(d.status.failureReason).to.equal('abort requested (annotation deployer.dev/abort)');
      expect(d.status.requests?.abort).to.deep.equal({ id: 'a1', handledAt: iso(30) });
      expect(types(d)).to.include('AnnotateCanary');
      r = after(aborting, d);
      const apiFailed = canary('api', { failedRevision: R('api', '2'), lastResult: 'aborted' });
      r = after(r, decide(r, observed(world({ api: { canary: apiFailed } })), at(60)));
      expect(r.status?.phase).to.equal('RolledBack');
      const retrying = { ...r, metadata: { ...r.metadata, annotations: { ...r.metadata.annotations, [ANNOTATIONS.retry]: 'r1' } } };
      const d2 = decide(retrying, observed(world({ api: { canary: apiFailed } })), at(100));
      expect(d2.status.phase).to.equal('Progressing');
      expect(d2.status.startedAt).to.equal(iso(100));
      expect(d2.actions).to.deep.include({ type: 'ApplyImages', deployment: 'api', images: { api: 'acme/api:2.0.0' } });
      expect(d2.actions).to.deep.include({ type: 'AnnotateCanary', canary: 'api', request: 'retry', id: canaryRequestId(retrying, d2.status, 'retry') });
      expect(targetOf(d2, 'api')?.phase).to.equal('Canary');
      expect(reasons(d2)).to.include(REASONS.RetryRequested);

      // The pass stopped after its status write, before the retry reached the Canary (leadership
      // lost, a refused write): the next pass sends it again rather than failing on the old rollback.
      const r3 = after(retrying, d2);
      const d3 = decide(r3, observed(world({ api: { v: '2', canary: apiFailed } })), at(105));
      expect(d3.status.phase).to.equal('Progressing');
      expect(d3.actions).to.deep.include({ type: 'AnnotateCanary', canary: 'api', request: 'retry', id: canaryRequestId(retrying, d2.status, 'retry') });
      // Once the Canary has handled it, a rollback of the same revision is this attempt's failure.
      const handled = canary('api', { failedRevision: R('api', '2'), lastResult: 'check errors failed again', handled: { retry: canaryRequestId(retrying, d2.status, 'retry') } });
      const d4 = decide(after(r3, d3), observed(world({ api: { v: '2', canary: handled } })), at(140));
      expect(d4.status.phase).to.equal('RollingBack');
      expect(d4.status.failureReason).to.equal('check errors failed again');
    });
  });

  it('HaltInPlace stops where it is, with a clear status', () => {
    const spec: Partial<ReleaseSpec> = { failurePolicy: 'HaltInPlace' };
    const r = after(release({ spec }), decide(release({ spec }), observed(world()), at(0)));
    const d = decide(r, observed(world({ api: { canary: canary('api', { failedRevision: R('api', '2'), lastResult: 'check errors failed: Fail 9' }) } })), at(60));
    expect(d.status.phase).to.equal('Halted');
    expect(d.status.message).to.equal('halted in place after api failed: check errors failed: Fail 9');
    expect(d.actions).to.deep.equal([]);
    expect(d.status.history?.[0]?.outcome).to.equal('Halted');
  });

  it('a newer generation supersedes the release in progress: recorded, its canaries aborted, then it starts', () => {
    let r = after(release(), decide(release(), observed(world()), at(0)));
    r = after(r, decide(r, observed(world({ api: { v: '2', canary: canary('api', { stableRevision: R('api', '2') }) } })), at(120)));
    const newer: Release = { ...r, metadata: { ...r.metadata, generation: 2 }, spec: { ...r.spec, version: '2.0.1', targets: SPEC.targets.map((t) => ({ ...t, images: { [t.deployment]: `acme/${t.deployment}:2.0.1` } })) } };
    const web = canary('web', { phase: 'Progressing' });
    const d = decide(newer, observed(world({ api: { v: '2', revisionWithImages: R('api', '3'), canary: canary('api', { stableRevision: R('api', '2') }) }, web: { v: '2', revisionWithImages: R('web', '3'), canary: web }, worker: { v: '2', revisionWithImages: R('worker', '3') } })), at(200));
    expect(d.status.history?.[0]).to.deep.include({ generation: 1, version: '2.0.0', outcome: 'Superseded' });
    expect(d.actions).to.deep.include({ type: 'AnnotateCanary', canary: 'web', request: 'abort', id: `release/shop@1/abort/${iso(0)}` });
    expect(d.status).to.deep.include({ releaseGeneration: 2, version: '2.0.1', phase: 'Progressing', startedAt: iso(200) });
    expect(targetOf(d, 'api')).to.deep.include({ phase: 'Canary', revisionBefore: R('api', '2'), revision: R('api', '3') });
    expect(reasons(d)).to.include.members([REASONS.ReleaseSuperseded, REASONS.ReleaseStarted]);
  });

  it('a newer generation that cannot start (its configuration) still aborts the canaries of the one it supersedes', () => {
    const r = after(release(), decide(release(), observed(world()), at(0)));
    expect(r.status?.targets?.find((t) => t.deployment === 'api')?.phase).to.equal('Canary');
    const newer: Release = { ...r, metadata: { ...r.metadata, generation: 2 }, spec: { ...r.spec, version: '2.0.1', targets: SPEC.targets.map((t) => ({ ...t, images: { [t.deployment]: `acme/${t.deployment}:2.0.1` } })) } };
    const d = decide(newer, observed(world({ api: { v: '2', canary: canary('api', { phase: 'Progressing' }) } }), { specProblems: ['postRelease: interval "1x" is not a duration'] }), at(30));
    expect(d.status.phase).to.equal('Failed');
    expect(d.actions, 'nothing replaces the old canary, so it is aborted').to.deep.include({ type: 'AnnotateCanary', canary: 'api', request: 'abort', id: `release/shop@1/abort/${iso(0)}` });
  });

  it('a Canary it holds whose Deployment the spec no longer lists is let go; the holds of its targets stay', () => {
    const r = after(release(), decide(release(), observed(world()), at(0)));
    const d = decide(r, observed(world({ web: { canary: canary('web', { annotations: { [ANNOTATIONS.heldBy]: 'release/shop' } }) } }), { heldCanaries: ['web', 'billing'] }), at(10));
    const released = d.actions.filter((a) => a.type === 'ReleaseCanary').map((a) => (a as { canary: string }).canary);
    expect(released).to.deep.equal(['billing']);
  });

  describe('GitOps (targets without images)', () => {
    const gitops: Partial<ReleaseSpec> = { targets: [{ deployment: 'api' }, { deployment: 'web' }], order: [['api'], ['web']] };

    it('the Release arrives first: the target waits for its template to carry the version, then its Canary verifies it', () => {
      const r0 = release({ spec: gitops });
      const d = decide(r0, observed([target('api', { versionLabel: '1.0.0' }), target('web', { versionLabel: '1.0.0' })]), at(0));
      expect(targetOf(d, 'api')).to.deep.include({ phase: 'WaitingForTemplate', revisionBefore: R('api', '1') });
      expect(types(d)).to.deep.equal(['HoldCanary']);
      const d2 = decide(after(r0, d), observed([target('api', { v: '2', versionLabel: '2.0.0' }), target('web', { v: '2', versionLabel: '2.0.0' })]), at(10));
      expect(targetOf(d2, 'api')).to.deep.include({ phase: 'Canary', revisionBefore: R('api', '1'), revision: R('api', '2') });
      expect(targetOf(d2, 'web')?.phase).to.equal('Pending');
      expect(types(d2)).to.not.include('ApplyImages');
    });

    it('all or nothing when the sync was early: a later group\'s canary started before its hold is aborted; one already promoted goes back', () => {
      const r0 = release({ spec: gitops });
      const web2 = { v: '2', versionLabel: '2.0.0', rolledOut: false };
      const r = after(r0, decide(r0, observed([target('api', { v: '2', versionLabel: '2.0.0', rolledOut: false }), target('web', web2)]), at(0)));
      const apiFailed = target('api', { v: '2', versionLabel: '2.0.0', canary: canary('api', { failedRevision: R('api', '2'), lastResult: 'check errors failed: Fail 9' }) });

      // web's Canary started on the early template before the hold arrived, and is still analysing.
      const running = decide(r, observed([apiFailed, target('web', { ...web2, canary: canary('web', { phase: 'Progressing', canaryRevision: R('web', '2') }) })]), at(30));
      expect(running.status.phase).to.equal('RollingBack');
      expect(running.actions).to.deep.include({ type: 'AnnotateCanary', canary: 'web', request: 'abort', id: canaryRequestId(r, running.status, 'abort') });
      expect(targetOf(running, 'web')?.phase).to.equal('Skipped');

      // web's Canary had already promoted it: web returns to what it ran before, like api.
      const promoted = canary('web', { stableRevision: R('web', '2'), phase: 'Succeeded', promotions: [{ revision: R('web', '2'), stableRevisionBefore: R('web', '1') }] });
      const back = decide(r, observed([apiFailed, target('web', { v: '2', versionLabel: '2.0.0', canary: promoted })]), at(30));
      expect(targetOf(back, 'web')).to.deep.include({ phase: 'Reverting', revisionBefore: R('web', '1'), revision: R('web', '2') });
      expect(back.actions).to.deep.include({ type: 'RevertTemplate', deployment: 'web', revision: R('web', '1') });
    });

    it('the Deployments change first: the release takes their templates at once, exactly once', () => {
      const r0 = release({ spec: gitops });
      const d = decide(r0, observed([target('api', { v: '2', versionLabel: '2.0.0', rolledOut: false }), target('web', { v: '2', versionLabel: '2.0.0', rolledOut: false })]), at(0));
      expect(targetOf(d, 'api')).to.deep.include({ phase: 'Canary', revisionBefore: R('api', '1'), revision: R('api', '2') });
      expect(d.actions).to.deep.include({ type: 'HoldCanary', canary: 'web', holder: 'release/shop' });
    });

    it('a later group changed by the sync before its turn: what it ran before comes from the Canary\'s history or the previous ReplicaSet', () => {
      const spec: Partial<ReleaseSpec> = { targets: [{ deployment: 'api' }, { deployment: 'web' }, { deployment: 'worker' }], order: [['api'], ['web', 'worker']] };
      let r = release({ spec });
      const apiPromoted = target('api', { v: '2', versionLabel: '2.0.0', canary: canary('api', { stableRevision: R('api', '2') }) });
      r = after(r, decide(r, observed([target('api', { v: '2', versionLabel: '2.0.0', rolledOut: false }), target('web', { versionLabel: '1.0.0' }), target('worker', { guarded: false, versionLabel: '1.0.0' })]), at(0)));
      // The Canary of web was not held (it promoted the new template before its group), the worker rolled out.
      const webCanary = canary('web', { stableRevision: R('web', '2'), promotions: [{ revision: R('web', '2'), stableRevisionBefore: R('web', '1') }] });
      const d = decide(r, observed([apiPromoted, target('web', { v: '2', versionLabel: '2.0.0', canary: webCanary }), target('worker', { guarded: false, v: '2', versionLabel: '2.0.0', previousRevision: R('worker', '1'), previousVersionLabel: '1.0.0' })]), at(60));
      expect(targetOf(d, 'web')).to.deep.include({ phase: 'Promoted', revisionBefore: R('web', '1'), revision: R('web', '2') });
      expect(targetOf(d, 'worker')).to.deep.include({ phase: 'Promoted', revisionBefore: R('worker', '1'), revision: R('worker', '2') });
      expect(d.status.phase).to.equal('Succeeded');
    });

    it('never gets its template: fails at the deadline', () => {
      const spec = { ...gitops, progressDeadline: '1m' };
      const r = after(release({ spec }), decide(release({ spec }), observed([target('api', { versionLabel: '1.0.0' }), target('web')]), at(0)));
      const d = decide(r, observed([target('api', { versionLabel: '1.0.0' }), target('web')]), at(60));
      expect(d.status.failureReason).to.equal('the template of Deployment api never carried version 2.0.0 within the progress deadline (1m)');
      expect(d.status.phase).to.equal('RolledBack');
    });
  });

  describe('bad input: Failed before anything changes', () => {
    const cases: Array<[string, ObservedTarget[], string]> = [
      ['a missing Deployment', [target('api'), target('web')], 'Deployment worker not found'],
      ['a container not in the template', [target('api', { containers: ['main'] }), target('web'), target('worker')], 'Deployment api has no container api (containers: main)'],
      ['a Deployment claimed by an older Release', [target('api'), target('web', { claimedBy: 'legacy' }), target('worker')], 'Deployment web is a target of Release legacy, which is older'],
    ];
    for (const [name, targets, message] of cases) {
      it(name, () => {
        const d = decide(release(), observed(targets), at(0));
        expect(d.status.phase).to.equal('Failed');
        expect(d.status.message).to.equal(message);
        expect(d.actions).to.deep.equal([]);
        expect(d.events).to.deep.equal([{ type: 'Warning', reason: REASONS.ReleaseFailed, message }]);
      });
    }

    it('what the schema refuses is refused here too, and a fixed problem lets the release start', () => {
      const bad = release({ spec: { order: [['api'], []] } });
      const d = decide(bad, observed(world()), at(0));
      expect(d.status.message).to.equal('order group 2 is empty; target web is missing from order; target worker is missing from order');
      const r = after(release(), decide(release(), observed([target('api'), target('web')]), at(0)));
      const again = decide(r, observed([target('api'), target('web')]), at(30));
      expect(again.events).to.deep.equal([]);
      const fixed = decide(r, observed(world()), at(60));
      expect(fixed.status.phase).to.equal('Progressing');
      expect(types(fixed)).to.include('ApplyImages');
    });
  });

  it('a promote request skips the remaining analysis of the canaries in flight', () => {
    const r = after(release(), decide(release(), observed(world()), at(0)));
    const promoting = { ...r, metadata: { ...r.metadata, annotations: { [ANNOTATIONS.promote]: 'p1' } } };
    const d = decide(promoting, observed(world({ api: { v: '2', canary: canary('api', { phase: 'Progressing' }) } })), at(30));
    expect(d.actions).to.deep.include({ type: 'AnnotateCanary', canary: 'api', request: 'promote', id: canaryRequestId(promoting, d.status, 'promote') });
    expect(d.status.requests?.promote?.id).to.equal('p1');
  });

  describe('post-release checks', () => {
    const spec: Partial<ReleaseSpec> = { targets: [{ deployment: 'worker', images: { worker: 'acme/worker:2.0.0' } }], order: [['worker']], postRelease: { duration: '10m', interval: '1m', checks: [{ name: 'errors', datadogMonitor: { id: 1 } }] }, datadog: { secretRef: { name: 'dd' } } };
    const verifying = (): Release => {
      const r = after(release({ spec }), decide(release({ spec }), observed([target('worker', { guarded: false })]), at(0)));
      const d = decide(r, observed([target('worker', { guarded: false, v: '2' })], { checks: ['errors'] }), at(60));
      expect(d.status.phase).to.equal('Verifying');
      expect(d.actions).to.deep.equal([{ type: 'Measure', checks: ['errors'] }]);
      return after(r, d);
    };

    it('a failed check rolls the whole release back, naming the check and value', () => {
      const d = decide(verifying(), observed([target('worker', { guarded: false, v: '2' })], { checks: ['errors'], measurements: { errors: { verdict: 'Fail', value: 'Alert', threshold: 'OK passes', time: iso(61) } } }), at(62));
      expect(d.status.phase).to.equal('RollingBack');
      expect(d.status.failureReason).to.equal('post-release check errors failed 1 time(s) (limit 0): Fail Alert (threshold OK passes)');
      expect(d.actions).to.deep.include({ type: 'RevertTemplate', deployment: 'worker', revision: R('worker', '1') });
      expect(reasons(d)).to.include(REASONS.PostReleaseCheckFailed);
      const done = decide({ ...verifying(), status: d.status }, observed([target('worker', { guarded: false })], { checks: ['errors'] }), at(70));
      expect(done.status.phase).to.equal('RolledBack');
      expect(done.status.history?.[0]).to.deep.include({ outcome: 'RolledBack', reason: REASONS.PostReleaseCheckFailed, promotedAt: iso(60) });
    });

    it('a check that cannot be measured (its Secret) is an Error each interval; the error limit rolls back, the others keep measuring', () => {
      const problem = { checks: ['errors', 'smoke'], checkProblems: { smoke: 'Secret ns/hooks not found' } };
      let r = verifying();
      const first = decide(r, observed([target('worker', { guarded: false, v: '2' })], problem), at(61));
      expect(first.status.checks?.find((c) => c.name === 'smoke')).to.deep.include({ errors: 1, consecutiveErrors: 1 });
      expect(first.status.checks?.find((c) => c.name === 'smoke')?.measurements[0]).to.deep.include({ verdict: 'Error', message: 'Secret ns/hooks not found' });
      expect(first.actions, 'the measurable check is still measured').to.deep.equal([{ type: 'Measure', checks: ['errors'] }]);
      r = after(r, first);
      r = after(r, decide(r, observed([target('worker', { guarded: false, v: '2' })], problem), at(121)));
      expect(r.status?.phase).to.equal('Verifying');
      const third = decide(r, observed([target('worker', { guarded: false, v: '2' })], problem), at(181));
      expect(third.status.phase).to.equal('RollingBack');
      expect(third.status.failureReason).to.match(/^post-release check smoke errored 3 time\(s\) in a row \(limit 3\): Error.*Secret ns\/hooks not found/);
    });

    it('the window ends with a verdict only once every check is measured (an operator restarted across the deadline)', () => {
      const r = verifying();
      // The first pass after a restart comes after the deadline, with no measurement yet.
      const d = decide(r, observed([target('worker', { guarded: false, v: '2' })], { checks: ['errors'], measurements: {} }), at(700));
      expect(d.status.phase).to.equal('Verifying');
      expect(d.status.message).to.match(/waiting for a measurement of errors/);
      expect(d.actions).to.deep.equal([{ type: 'Measure', checks: ['errors'] }]);
      const next = decide(after(r, d), observed([target('worker', { guarded: false, v: '2' })], { checks: ['errors'], measurements: { errors: { verdict: 'Fail', value: 'Alert', time: iso(701) } } }), at(702));
      expect(next.status.phase, 'the late measurement still decides').to.equal('RollingBack');
    });

    it('passing checks for the duration: Succeeded, promotedAt when the last group was promoted', () => {
      let r = verifying();
      r = after(r, decide(r, observed([target('worker', { guarded: false, v: '2' })], { checks: ['errors'], measurements: { errors: { verdict: 'Pass', value: 'OK', time: iso(61) } } }), at(62)));
      expect(r.status?.phase).to.equal('Verifying');
      // The measurement due last in the window is in (the ones between are not needed for the verdict).
      const d = decide(r, observed([target('worker', { guarded: false, v: '2' })], { checks: ['errors'], measurements: { errors: { verdict: 'Pass', value: 'OK', time: iso(659) } } }), at(660));
      expect(d.status.phase).to.equal('Succeeded');
      expect(d.status.promotedAt).to.equal(iso(60));
      expect(d.status.history?.[0]?.promotedAt).to.equal(iso(60));
    });
  });

  it('keeps at most historyLimit records, newest first', () => {
    const history = Array.from({ length: 3 }, (_, i) => ({ generation: i + 1, version: `0.${i}`, startedAt: iso(0), finishedAt: iso(1), outcome: 'Succeeded' as const }));
    const r = release({ generation: 4, spec: { historyLimit: 3 }, status: { releaseGeneration: 3, phase: 'Succeeded', history: [...history].reverse() } });
    const d = decide(r, observed(world()), at(0));
    expect(d.status.history?.map((h) => h.generation)).to.deep.equal([3, 2, 1]);
    const d2 = decide({ ...r, metadata: { ...r.metadata, generation: 5 }, status: { ...r.status, phase: 'Progressing', releaseGeneration: 4, startedAt: iso(0), targets: [] } }, observed(world()), at(10));
    expect(d2.status.history?.map((h) => h.generation)).to.deep.equal([4, 3, 2]);
  });

  it('actions are never repeated in one decision', () => {
    const d = decide(release(), observed(world()), at(0));
    const keys = d.actions.map((a: Action) => JSON.stringify(a));
    expect(new Set(keys).size).to.equal(keys.length);
  });
});
