import { expect } from 'chai';
import { ANNOTATIONS, CONDITIONS, FINALIZER, REASONS } from '../../src/api/constants.js';
import type { Canary, CanaryRecord, CanaryStatus, Measurement } from '../../src/api/types.js';
import { decide, type Decision, type Observed, type ObservedDeployment } from '../../src/canary/decide.js';
import { CHECK, dep, STABLE_REVISION } from '../support/canary-fixtures.js';
import { addRecord, inRollbackWindow } from '../../src/canary/history.js';

const T0 = Date.parse('2026-11-27T10:00:00.000Z');
const at = (s: number): number => T0 + s * 1000;
const iso = (s: number): string => new Date(at(s)).toISOString();

const V1 = STABLE_REVISION;
const V2 = 'bbbbbbbbbb';
const V3 = 'cccccccccc';
const V4 = 'dddddddddd';
const V5 = 'eeeeeeeeee';

function canary(over: { spec?: Partial<Canary['spec']>; status?: CanaryStatus; annotations?: Record<string, string> } = {}): Canary {
  return {
    apiVersion: 'deployer.dev/v1alpha1',
    kind: 'Canary',
    metadata: { name: 'checkout', namespace: 'shop', uid: 'u1', generation: 1, finalizers: [FINALIZER], ...(over.annotations ? { annotations: over.annotations } : {}) },
    spec: {
      targetRef: { name: 'checkout' },
      steps: [{ setWeight: 10 }, { pause: { duration: '2m' } }],
      analysis: { interval: '30s', checks: [{ name: 'errors', datadogMonitor: { id: 1 } }] },
      datadog: { secretRef: { name: 'datadog' } },
      ...over.spec,
    },
    ...(over.status ? { status: over.status } : {}),
  };
}

const observed = (over: Partial<Observed> = {}): Observed => ({ specProblems: [], deployment: dep(), canaryReplicaSets: [], credentials: { ok: true }, checks: [CHECK], measurements: {}, ...over });
const m = (verdict: Measurement['verdict'], s: number, value?: string): Measurement => ({ verdict, time: iso(s), ...(value ? { value } : {}) });
const rs = (revision: string, replicas: number, ready: number) => ({ name: `checkout-canary-${revision}`, revision, replicas, readyReplicas: ready });
const types = (d: Decision): string[] => d.actions.map((a) => a.type);
const cond = (d: Decision, type: string) => d.status.conditions?.find((c) => c.type === type);
const reasons = (d: Decision): string[] => d.events.map((e) => e.reason);

/** A canary of V2 (stable V1) at a step. */
function running(step: number, extra: Partial<CanaryStatus> = {}): CanaryStatus {
  return {
    stableRevision: V1,
    stableVersion: '1.0.0',
    canaryRevision: V2,
    canaryVersion: '1.1.0',
    currentStep: step,
    startedAt: iso(-600),
    stepStartedAt: iso(-60),
    analysisStartedAt: iso(-500),
    checks: [{ name: 'errors', failures: 0, errors: 0, consecutiveErrors: 0, inconclusive: 0, passes: 1, measurements: [m('Pass', -40, 'OK')] }],
    conditions: [{ type: CONDITIONS.Progressing, status: 'True', reason: REASONS.Analysing, message: '', lastTransitionTime: iso(-600) }],
    phase: 'Progressing',
    ...extra,
  };
}
const promoting = (extra: Partial<CanaryStatus> = {}): CanaryStatus =>
  running(2, {
    promotionStartedAt: iso(-10),
    conditions: [{ type: CONDITIONS.Progressing, status: 'True', reason: REASONS.Promoting, message: '', lastTransitionTime: iso(-10) }],
    phase: 'Promoting',
    ...extra,
  });
const testingV2 = (over: Partial<ObservedDeployment> = {}): ObservedDeployment => dep({ revision: V2, version: '1.1.0', paused: true, heldByUs: true, updatedReplicas: 0, ...over });

const promotedRecord = (revision: string, before: string, s: number, extra: Partial<CanaryRecord> = {}): CanaryRecord => ({
  revision,
  stableRevisionBefore: before,
  startedAt: iso(s - 600),
  finishedAt: iso(s),
  promotedAt: iso(s),
  outcome: 'Promoted',
  reason: 'Promoted',
  ...extra,
});

describe('decide(): status.history', () => {
  const cases: Array<{ name: string; c: Canary; o: Observed; record: Partial<CanaryRecord> }> = [
    {
      name: 'a completed promotion is Promoted, with the stable revision before it and the Release',
      c: canary({ status: promoting(), annotations: { [ANNOTATIONS.release]: 'shop' } }),
      o: observed({ deployment: dep({ revision: V2, version: '1.1.0', stableAnnotation: V2 }), canaryReplicaSets: [rs(V2, 9, 9)] }),
      record: { revision: V2, version: '1.1.0', stableRevisionBefore: V1, startedAt: iso(-600), finishedAt: iso(0), promotedAt: iso(0), outcome: 'Promoted', reason: REASONS.Promoted, result: 'promoted revision bbbbbbbbbb (version 1.1.0)', release: 'shop' },
    },
    {
      name: 'a failed check is RolledBack, its result the lastResult verbatim',
      c: canary({ status: running(1, { checks: [{ name: 'errors', failures: 0, errors: 0, consecutiveErrors: 0, inconclusive: 0, passes: 1, measurements: [m('Pass', -40, 'OK')] }] }) }),
      o: observed({ deployment: testingV2(), canaryReplicaSets: [rs(V2, 1, 1)], measurements: { errors: m('Fail', 0, 'Alert') } }),
      record: { revision: V2, version: '1.1.0', stableRevisionBefore: V1, startedAt: iso(-600), finishedAt: iso(0), outcome: 'RolledBack', reason: REASONS.CheckFailed },
    },
    {
      name: 'an abort request is RolledBack with reason AbortRequested',
      c: canary({ status: running(1), annotations: { [ANNOTATIONS.abort]: 'a1' } }),
      o: observed({ deployment: testingV2(), canaryReplicaSets: [rs(V2, 1, 1)] }),
      record: { revision: V2, outcome: 'RolledBack', reason: REASONS.AbortRequested },
    },
    {
      name: 'a newer template supersedes the canary in flight',
      c: canary({ status: running(1) }),
      o: observed({ deployment: dep({ revision: V3, version: '1.2.0', paused: true, heldByUs: true, updatedReplicas: 0 }), canaryReplicaSets: [rs(V2, 1, 1)] }),
      record: { revision: V2, version: '1.1.0', stableRevisionBefore: V1, startedAt: iso(-600), finishedAt: iso(0), outcome: 'Superseded', reason: REASONS.Superseded },
    },
    {
      name: 'the template going back to the stable revision is Reverted',
      c: canary({ status: running(1) }),
      o: observed({ deployment: dep({ paused: true, heldByUs: true }), canaryReplicaSets: [rs(V2, 1, 1)] }),
      record: { revision: V2, outcome: 'Reverted', reason: REASONS.RevertedToStable },
    },
  ];
  for (const tc of cases) {
    it(tc.name, () => {
      const d = decide(tc.c, tc.o, at(0));
      expect(d.status.history, 'history').to.have.length(1);
      expect(d.status.history![0]).to.include(tc.record);
      if (tc.record.outcome !== 'Superseded') expect(d.status.history![0]!.result).to.equal(d.status.lastResult);
    });
  }

  it('is newest first and bounded by spec.historyLimit', () => {
    const old = [promotedRecord(V1, V5, -2000), promotedRecord(V5, V4, -3000), promotedRecord(V4, V3, -4000)];
    const d = decide(canary({ spec: { historyLimit: 2 }, status: promoting({ history: old }) }), observed({ deployment: dep({ revision: V2, version: '1.1.0', stableAnnotation: V2 }) }), at(0));
    expect(d.status.history!.map((r) => r.revision)).to.deep.equal([V2, V1]);
    const none = decide(canary({ spec: { historyLimit: 0 }, status: promoting({ history: old }) }), observed({ deployment: dep({ revision: V2, version: '1.1.0', stableAnnotation: V2 }) }), at(0));
    expect(none.status.history).to.deep.equal([]);
  });

  it('is not recorded twice when a pass is repeated (its status write did not land)', () => {
    const r: CanaryRecord = { revision: V2, startedAt: iso(-600), finishedAt: iso(-5), outcome: 'RolledBack' };
    expect(addRecord([r], { ...r, finishedAt: iso(0) }, 10)).to.deep.equal([r]);
    expect(addRecord([r], { ...r, startedAt: iso(-10) }, 10)).to.have.length(2);
  });

  it('records the Release holding the Canary when no deployer.dev/release annotation names one', () => {
    const d = decide(canary({ status: running(1), annotations: { [ANNOTATIONS.abort]: 'a1', [ANNOTATIONS.heldBy]: 'release/shop' } }), observed({ deployment: testingV2(), canaryReplicaSets: [rs(V2, 1, 1)] }), at(0));
    expect(d.status.history![0]!.release).to.equal('shop');
  });
});

describe('inRollbackWindow(): the earlier stable revisions', () => {
  // V4 promoted over V3, V3 over V2, V2 over V1: stable now V4; before it V3, V2, V1.
  const history = [promotedRecord(V4, V3, -100), { revision: V5, startedAt: iso(-900), finishedAt: iso(-800), outcome: 'RolledBack' as const, stableRevisionBefore: V3 }, promotedRecord(V3, V2, -1000), promotedRecord(V2, V1, -2000)];
  const cases: Array<{ name: string; revision: string; n: number; hit: boolean; verified?: string }> = [
    { name: 'the revision just before the current one', revision: V3, n: 1, hit: true, verified: iso(-1000) },
    { name: 'two back, window 2', revision: V2, n: 2, hit: true, verified: iso(-2000) },
    { name: 'two back, window 1', revision: V2, n: 1, hit: false },
    { name: 'the adopted revision, stable before the first promotion', revision: V1, n: 3, hit: true },
    { name: 'three back, window 2', revision: V1, n: 2, hit: false },
    { name: 'a rolled-back revision is never trusted', revision: V5, n: 10, hit: false },
    { name: 'window 0 trusts nothing', revision: V3, n: 0, hit: false },
    { name: 'the current revision is not a revert', revision: V4, n: 3, hit: false },
  ];
  for (const tc of cases) {
    it(`${tc.name}: ${tc.hit ? 'in' : 'out'}`, () => {
      const w = inRollbackWindow(history, V4, tc.revision, tc.n);
      expect(w !== undefined).to.equal(tc.hit);
      if (tc.verified) expect(w?.promoted?.promotedAt).to.equal(tc.verified);
      if (tc.hit && !tc.verified) expect(w?.stableUntil?.revision).to.equal(V2);
    });
  }
});

describe('decide(): spec.rollbackWindow', () => {
  // V2 was promoted over V1 (adopted); stable is V2. The template goes back to V1.
  const afterV2 = (extra: Partial<CanaryStatus> = {}): CanaryStatus => ({
    stableRevision: V2,
    stableVersion: '1.1.0',
    canaryRevision: V2,
    canaryVersion: '1.1.0',
    phase: 'Succeeded',
    startedAt: iso(-1200),
    finishedAt: iso(-1000),
    lastResult: 'promoted revision bbbbbbbbbb (version 1.1.0)',
    conditions: [
      { type: CONDITIONS.Progressing, status: 'False', reason: REASONS.Promoted, message: '', lastTransitionTime: iso(-1000) },
      { type: CONDITIONS.Ready, status: 'True', reason: REASONS.Promoted, message: '', lastTransitionTime: iso(-1000) },
    ],
    history: [promotedRecord(V2, V1, -1000)],
    ...extra,
  });
  const backToV1 = (over: Partial<ObservedDeployment> = {}): ObservedDeployment =>
    dep({ revision: V1, version: '1.0.0', stableAnnotation: V2, paused: true, heldByUs: true, updatedReplicas: 0, revisionReplicaSetExists: true, ...over });

  const cases: Array<{ name: string; c: Canary; o: Observed; accepted: boolean }> = [
    { name: 'the revision stable before the last promotion rolls out at once', c: canary({ status: afterV2() }), o: observed({ deployment: backToV1() }), accepted: true },
    { name: 'rollbackWindow.revisions 0 runs a canary', c: canary({ spec: { rollbackWindow: { revisions: 0 } }, status: afterV2() }), o: observed({ deployment: backToV1() }), accepted: false },
    { name: 'without its ReplicaSet a canary runs', c: canary({ status: afterV2() }), o: observed({ deployment: backToV1({ revisionReplicaSetExists: false }) }), accepted: false },
    { name: 'without history a canary runs', c: canary({ status: afterV2({ history: [] }) }), o: observed({ deployment: backToV1() }), accepted: false },
    { name: 'a revision rolled back since is held, not trusted', c: canary({ status: afterV2({ failedRevision: V1 }) }), o: observed({ deployment: backToV1() }), accepted: false },
    { name: 'a new revision runs a canary', c: canary({ status: afterV2() }), o: observed({ deployment: backToV1({ revision: V3, version: '1.2.0' }) }), accepted: false },
  ];
  for (const tc of cases) {
    it(`${tc.name}`, () => {
      const d = decide(tc.c, tc.o, at(0));
      if (tc.accepted) {
        expect(types(d)).to.include('PromoteDeployment');
        expect(types(d)).not.to.include('EnsureCanaryReplicaSet');
        expect(d.status.phase).to.equal('Promoting');
        expect(d.status.message).to.equal(`revision ${V1} (version 1.0.0) was stable until 2026-11-27T09:43:20Z (within the rollback window of 3): rolled out without a new canary`);
        expect(reasons(d)).to.deep.equal([REASONS.RevertAccepted]);
        expect(d.events[0]!.onDeployment).to.equal(true);
      } else {
        expect(types(d)).not.to.include('PromoteDeployment');
        expect(reasons(d)).not.to.include(REASONS.RevertAccepted);
      }
    });
  }

  it('a revision verified by a canary is dated by its promotion', () => {
    const status = afterV2({ history: [promotedRecord(V2, V1, -1000), promotedRecord(V1, V5, -5000)] });
    const d = decide(canary({ status }), observed({ deployment: backToV1() }), at(0));
    expect(d.status.message).to.equal(`revision ${V1} (version 1.0.0) was verified on 2026-11-27T08:36:40Z (within the rollback window of 3): rolled out without a new canary`);
  });

  it('completes as a promotion recorded with reason RevertAccepted, the revision it replaced before it', () => {
    const first = decide(canary({ status: afterV2() }), observed({ deployment: backToV1() }), at(0));
    // The Deployment carries the annotation and rolls; then completes.
    const rolling = decide(canary({ status: first.status }), observed({ deployment: dep({ stableAnnotation: V1, rolloutComplete: false, rolloutMessage: '3/9 updated' }) }), at(5));
    expect(rolling.status.phase).to.equal('Promoting');
    expect(rolling.status.message).to.match(/rolled out without a new canary \(3\/9 updated\)$/);
    expect(types(rolling)).not.to.include('EnsureCanaryReplicaSet');
    const done = decide(canary({ status: rolling.status }), observed({ deployment: dep({ stableAnnotation: V1 }) }), at(10));
    expect(done.status.phase).to.equal('Succeeded');
    expect(done.status.stableRevision).to.equal(V1);
    expect(done.status.message).to.equal(first.status.message);
    expect(cond(done, CONDITIONS.Ready)).to.include({ status: 'True', reason: REASONS.RevertAccepted });
    expect(reasons(done)).to.deep.equal([]);
    expect(done.status.history![0]).to.include({ revision: V1, stableRevisionBefore: V2, outcome: 'Promoted', reason: REASONS.RevertAccepted, startedAt: iso(0), promotedAt: iso(10) });
    // And V2, the revision it replaced, is within the window now.
    const again = decide(canary({ status: done.status }), observed({ deployment: dep({ revision: V2, version: '1.1.0', stableAnnotation: V1, paused: true, heldByUs: true, updatedReplicas: 0, revisionReplicaSetExists: true }) }), at(20));
    expect(types(again)).to.include('PromoteDeployment');
    expect(again.status.message).to.match(/^revision bbbbbbbbbb \(version 1.1.0\) was verified on 2026-11-27T09:43:20Z/);
  });

  it('a canary in flight is superseded by a revert within the window', () => {
    const status = afterV2({ ...running(1, { stableRevision: V2, canaryRevision: V3, canaryVersion: '1.2.0' }), history: [promotedRecord(V2, V1, -1000)] });
    const d = decide(canary({ status }), observed({ deployment: backToV1(), canaryReplicaSets: [rs(V3, 1, 1)] }), at(0));
    expect(types(d)).to.include.members(['DeleteCanaryReplicaSets', 'PromoteDeployment']);
    expect(types(d)).not.to.include('EnsureCanaryReplicaSet');
    expect(d.status.history![0]).to.include({ revision: V3, outcome: 'Superseded' });
  });
});

describe('decide(): the deployer.dev/held-by annotation', () => {
  const held = { [ANNOTATIONS.heldBy]: 'release/shop' };
  const idle: CanaryStatus = {
    stableRevision: V1,
    stableVersion: '1.0.0',
    phase: 'Waiting',
    conditions: [{ type: CONDITIONS.Progressing, status: 'False', reason: REASONS.Idle, message: '', lastTransitionTime: iso(-100) }],
  };
  const msg = `revision ${V2} (version 1.1.0) held by release/shop until its group starts`;

  const cases: Array<{ name: string; status: CanaryStatus; d: ObservedDeployment; rsets?: ReturnType<typeof rs>[]; actions: string[]; events: string[] }> = [
    { name: 'a new revision is held, without canary pods', status: idle, d: testingV2({ paused: false, heldByUs: false }), actions: ['HoldDeployment'], events: [REASONS.HeldByRelease] },
    { name: 'already held by the gate: nothing to write', status: idle, d: testingV2(), actions: [], events: [REASONS.HeldByRelease] },
    { name: 'a second pass sends no second Event', status: { ...idle, phase: 'Waiting', message: msg }, d: testingV2(), actions: [], events: [] },
    { name: 'a canary of an older revision ends (its pods removed)', status: running(1, { canaryRevision: V3, canaryVersion: '1.2.0' }), d: testingV2(), rsets: [rs(V3, 1, 1)], actions: ['DeleteCanaryReplicaSets'], events: [REASONS.HeldByRelease] },
  ];
  for (const tc of cases) {
    it(tc.name, () => {
      const d = decide(canary({ status: tc.status, annotations: held }), observed({ deployment: tc.d, canaryReplicaSets: tc.rsets ?? [] }), at(0));
      expect(types(d)).to.deep.equal(tc.actions);
      expect(reasons(d)).to.deep.equal(tc.events);
      expect(d.status.phase).to.equal('Waiting');
      expect(d.status.message).to.equal(msg);
      expect(cond(d, CONDITIONS.Progressing)).to.include({ status: 'False', reason: REASONS.HeldByRelease, message: msg });
    });
  }

  it('a canary already running for the revision is unaffected', () => {
    const d = decide(canary({ status: running(1), annotations: held }), observed({ deployment: testingV2(), canaryReplicaSets: [rs(V2, 1, 1)] }), at(0));
    expect(d.status.phase).to.equal('Progressing');
    expect(types(d)).to.include('EnsureCanaryReplicaSet');
    expect(reasons(d)).not.to.include(REASONS.HeldByRelease);
  });

  it('without the annotation the held revision starts its canary', () => {
    const first = decide(canary({ status: idle, annotations: held }), observed({ deployment: testingV2() }), at(0));
    const d = decide(canary({ status: first.status }), observed({ deployment: testingV2() }), at(5));
    expect(reasons(d)).to.include(REASONS.NewRevision);
    expect(types(d)).to.include('EnsureCanaryReplicaSet');
    expect(d.status.history ?? []).to.deep.equal([]);
  });
});
