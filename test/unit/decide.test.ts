import { expect } from 'chai';
import { ANNOTATIONS, CONDITIONS, FINALIZER, RATE_LIMITED_VALUE, REASONS } from '../../src/api/constants.js';
import type { Canary, CanaryStatus, Measurement } from '../../src/api/types.js';
import type { ResolvedCheck } from '../../src/analysis/provider.js';
import { decide, emptyCheckStatus, recordMeasurement, type Action, type Decision, type Observed, type ObservedDeployment } from '../../src/canary/decide.js';
import { CHECK, dep, STABLE_REVISION } from '../support/canary-fixtures.js';

const T0 = Date.parse('2026-11-27T10:00:00.000Z');
const at = (s: number): number => T0 + s * 1000;
const iso = (s: number): string => new Date(at(s)).toISOString();

const STABLE = STABLE_REVISION;
const NEXT = 'bbbbbbbbbb';
const NEWER = 'cccccccccc';

function canary(over: { spec?: Partial<Canary['spec']>; status?: CanaryStatus; annotations?: Record<string, string>; finalizers?: string[]; deleting?: boolean } = {}): Canary {
  return {
    apiVersion: 'deployer.dev/v1alpha1',
    kind: 'Canary',
    metadata: {
      name: 'checkout',
      namespace: 'shop',
      uid: 'u1',
      generation: 1,
      resourceVersion: '10',
      finalizers: over.finalizers ?? [FINALIZER],
      ...(over.annotations ? { annotations: over.annotations } : {}),
      ...(over.deleting ? { deletionTimestamp: iso(0) } : {}),
    },
    spec: {
      targetRef: { name: 'checkout' },
      steps: [{ setWeight: 10 }, { pause: { duration: '2m' } }, { setWeight: 50 }, { pause: { duration: '5m' } }],
      analysis: { interval: '30s', failureLimit: 0, checks: [{ name: 'errors', datadogMonitor: { id: 1 } }] },
      datadog: { secretRef: { name: 'datadog' } },
      progressDeadline: '15m',
      ...over.spec,
    },
    ...(over.status ? { status: over.status } : {}),
  };
}

function observed(over: Partial<Observed> = {}): Observed {
  return { specProblems: [], deployment: dep(), canaryReplicaSets: [], credentials: { ok: true }, checks: [CHECK], measurements: {}, ...over };
}

const m = (verdict: Measurement['verdict'], s: number, value?: string): Measurement => ({ verdict, time: iso(s), ...(value ? { value } : {}) });

/** Status of a canary of NEXT that is running at a step. */
function running(step: number, extra: Partial<CanaryStatus> = {}): CanaryStatus {
  return {
    stableRevision: STABLE,
    stableVersion: '1.0.0',
    canaryRevision: NEXT,
    canaryVersion: '1.1.0',
    currentStep: step,
    startedAt: iso(-600),
    stepStartedAt: iso(-60),
    analysisStartedAt: iso(-500),
    checks: [{ name: 'errors', failures: 0, errors: 0, consecutiveErrors: 0, inconclusive: 0, passes: 1, measurements: [m('Pass', -20, 'OK')] }],
    conditions: [{ type: CONDITIONS.Progressing, status: 'True', reason: REASONS.Analysing, message: '', lastTransitionTime: iso(-600) }],
    phase: 'Progressing',
    ...extra,
  };
}

const testing = (over: Partial<ObservedDeployment> = {}): ObservedDeployment => dep({ revision: NEXT, version: '1.1.0', paused: true, heldByUs: true, updatedReplicas: 0, ...over });
const rs = (revision: string, replicas: number, ready: number) => ({ name: `checkout-canary-${revision}`, revision, replicas, readyReplicas: ready });
const types = (d: Decision): string[] => d.actions.map((a) => a.type);
const action = <T extends Action['type']>(d: Decision, t: T): Extract<Action, { type: T }> | undefined =>
  d.actions.find((a) => a.type === t) as Extract<Action, { type: T }> | undefined;
const cond = (d: Decision, type: string) => d.status.conditions?.find((c) => c.type === type);
const reasons = (d: Decision): string[] => d.events.map((e) => e.reason);

describe('decide(): the Canary state machine', () => {
  describe('configuration and adoption', () => {
    const cases: Array<{ name: string; c: Canary; o: Observed; phase: string; reason?: string; actions: string[]; requeue?: boolean }> = [
      { name: 'adds its finalizer first', c: canary({ finalizers: [] }), o: observed(), phase: 'Waiting', actions: ['AddFinalizer'] },
      { name: 'invalid spec is Failed with the problem', c: canary(), o: observed({ specProblems: ['spec.steps[0]: bad'] }), phase: 'Failed', reason: REASONS.InvalidSpec, actions: [] },
      { name: 'missing Deployment is Failed and looks again later', c: canary(), o: observed({ deployment: undefined }), phase: 'Failed', reason: REASONS.TargetNotFound, actions: [], requeue: true },
      { name: 'a second Canary for a guarded Deployment is Failed', c: canary(), o: observed({ guardedByOther: 'other', deployment: dep({ guardLabel: 'other' }) }), phase: 'Failed', reason: REASONS.TargetAlreadyGuarded, actions: [] },
      {
        name: 'a Deployment mid-rollout is first allowed to finish',
        c: canary(),
        o: observed({ deployment: dep({ guardLabel: undefined, stableAnnotation: undefined, rolloutComplete: false }) }),
        phase: 'Initializing',
        reason: REASONS.WaitingForRollout,
        actions: [],
        requeue: true,
      },
      {
        name: 'adopts a settled Deployment: its template is the stable revision (Ready once the label is seen)',
        c: canary(),
        o: observed({ deployment: dep({ guardLabel: undefined, stableAnnotation: undefined }) }),
        phase: 'Initializing',
        reason: REASONS.Adopting,
        actions: ['AdoptDeployment'],
        requeue: true,
      },
    ];
    for (const tc of cases) {
      it(tc.name, () => {
        const d = decide(tc.c, tc.o, at(0));
        expect(d.status.phase).to.equal(tc.phase);
        expect(types(d)).to.deep.equal(tc.actions);
        if (tc.reason) expect(cond(d, CONDITIONS.Ready)?.reason).to.equal(tc.reason);
        if (tc.reason && tc.phase === 'Failed') {
          expect(cond(d, CONDITIONS.Ready)?.status).to.equal('False');
          expect(reasons(d)).to.include(tc.reason);
        }
        expect(d.requeueAfterMs !== undefined).to.equal(tc.requeue ?? false);
      });
    }

    it('says it guards the Deployment only once a pass sees the label in place', () => {
      const adopting = decide(canary(), observed({ deployment: dep({ guardLabel: undefined, stableAnnotation: undefined }) }), at(0));
      expect(cond(adopting, CONDITIONS.Ready)).to.include({ status: 'False', reason: REASONS.Adopting });
      expect(reasons(adopting)).to.deep.equal([]);
      // The label write did not land (a conflict): still adopting, the write is made again.
      const again = decide(canary({ status: adopting.status }), observed({ deployment: dep({ guardLabel: undefined, stableAnnotation: undefined }) }), at(1));
      expect(types(again)).to.deep.equal(['AdoptDeployment']);
      expect(cond(again, CONDITIONS.Ready)?.reason).to.equal(REASONS.Adopting);
      // The label is there: guarding.
      const adopted = decide(canary({ status: again.status }), observed({ deployment: dep() }), at(2));
      expect(adopted.status.phase).to.equal('Waiting');
      expect(cond(adopted, CONDITIONS.Ready)).to.include({ status: 'True', reason: REASONS.Adopted });
      expect(reasons(adopted)).to.deep.equal([REASONS.Adopted]);
      const settled = decide(canary({ status: adopted.status }), observed({ deployment: dep() }), at(3));
      expect(settled.events).to.deep.equal([]);
    });

    it('records the adopted revision as stable', () => {
      const d = decide(canary(), observed({ deployment: dep({ guardLabel: undefined, stableAnnotation: undefined }) }), at(0));
      expect(action(d, 'AdoptDeployment')?.stableRevision).to.equal(STABLE);
      expect(d.status.stableRevision).to.equal(STABLE);
      expect(d.status.stableVersion).to.equal('1.0.0');
    });

    it('does not repeat a Failed event when nothing changed', () => {
      const first = decide(canary(), observed({ deployment: undefined }), at(0));
      const again = decide(canary({ status: first.status }), observed({ deployment: undefined }), at(10));
      expect(again.events).to.deep.equal([]);
    });
  });

  describe('a new revision', () => {
    it('starts the canary at step 1 with canary pods beside the stable ones', () => {
      const d = decide(canary({ status: { stableRevision: STABLE, phase: 'Waiting' } }), observed({ deployment: testing() }), at(0));
      expect(d.status.phase).to.equal('Progressing');
      expect(d.status.canaryRevision).to.equal(NEXT);
      expect(d.status.currentStep).to.equal(0);
      expect(d.status.canaryWeight).to.equal(10);
      expect(action(d, 'EnsureCanaryReplicaSet')).to.deep.equal({ type: 'EnsureCanaryReplicaSet', revision: NEXT, version: '1.1.0', replicas: 1 });
      expect(action(d, 'DeleteCanaryReplicaSets')?.keepRevision).to.equal(NEXT);
      expect(types(d)).to.not.include('HoldDeployment');
      expect(reasons(d)).to.include(REASONS.NewRevision);
      expect(cond(d, CONDITIONS.Ready)?.status).to.equal('False');
      expect(cond(d, CONDITIONS.Progressing)?.status).to.equal('True');
    });

    it('holds the Deployment itself if the gate was bypassed', () => {
      const d = decide(canary({ status: { stableRevision: STABLE } }), observed({ deployment: testing({ paused: false, heldByUs: false }) }), at(0));
      expect(types(d)).to.include('HoldDeployment');
    });

    it('waits for canary pods to be Ready before analysing', () => {
      const status = { ...running(0), analysisStartedAt: undefined, stepStartedAt: iso(-30) };
      const d = decide(canary({ status }), observed({ deployment: testing(), canaryReplicaSets: [rs(NEXT, 1, 0)] }), at(0));
      expect(d.status.phase).to.equal('Progressing');
      expect(cond(d, CONDITIONS.Progressing)?.reason).to.equal(REASONS.WaitingForCanaryPods);
      expect(d.status.analysisStartedAt).to.equal(undefined);
      expect(types(d)).to.not.include('Measure');
    });

    it('rolls back when canary pods are not Ready within the progress deadline', () => {
      const status = { ...running(0), analysisStartedAt: undefined, stepStartedAt: iso(-901), canaryPodsWaitingSince: iso(-901) };
      const d = decide(canary({ status }), observed({ deployment: testing(), canaryReplicaSets: [rs(NEXT, 1, 0)] }), at(0));
      expect(d.status.phase).to.equal('RolledBack');
      expect(d.status.message).to.match(/not Ready within the progress deadline: 0\/1/);
      expect(d.status.failedRevision).to.equal(NEXT);
      expect(reasons(d)).to.include(REASONS.ProgressDeadlineExceeded);
      expect(types(d)).to.include('DeleteCanaryReplicaSets');
    });

    it('starts analysis when the first pods are Ready, completes setWeight and asks for the first measurement', () => {
      const status = { ...running(0), analysisStartedAt: undefined, checks: [], stepStartedAt: iso(-5) };
      const d = decide(canary({ status }), observed({ deployment: testing(), canaryReplicaSets: [rs(NEXT, 1, 1)] }), at(0));
      expect(d.status.analysisStartedAt).to.equal(iso(0));
      expect(d.status.currentStep).to.equal(1);
      expect(action(d, 'Measure')?.checks).to.deep.equal(['errors']);
      expect(reasons(d)).to.include.members([REASONS.CanaryPodsReady, REASONS.StepCompleted]);
      expect(d.requeueAfterMs).to.be.at.most(5_000);
    });

    it('recomputes canary replicas when the HPA scales the Deployment', () => {
      const d = decide(canary({ status: running(1) }), observed({ deployment: testing({ replicas: 18 }), canaryReplicaSets: [rs(NEXT, 1, 1)] }), at(0));
      expect(action(d, 'EnsureCanaryReplicaSet')?.replicas).to.equal(2);
    });
  });

  describe('measurements', () => {
    const step1 = (checks: CanaryStatus['checks'], extra: Partial<CanaryStatus> = {}) => running(1, { ...(checks ? { checks } : {}), stepStartedAt: iso(-60), ...extra });
    const fresh = (verdict: Measurement['verdict'], value: string) => ({ errors: { verdict, value, time: iso(0), threshold: 'OK passes', message: 'monitor 1' } as Measurement });

    it('records a due measurement and looks again one interval later', () => {
      const d = decide(canary({ status: step1(undefined) }), observed({ deployment: testing(), canaryReplicaSets: [rs(NEXT, 1, 1)], measurements: fresh('Pass', 'OK') }), at(10));
      const c = d.status.checks?.[0];
      expect(c?.passes).to.equal(2);
      expect(c?.measurements.at(-1)?.value).to.equal('OK');
      expect(d.requeueAfterMs).to.equal(30_000 - 10_000);
      expect(cond(d, CONDITIONS.ChecksPassing)?.status).to.equal('True');
    });

    it('does not measure before the interval has passed', () => {
      const d = decide(canary({ status: step1(undefined) }), observed({ deployment: testing(), canaryReplicaSets: [rs(NEXT, 1, 1)] }), at(-10));
      expect(types(d)).to.not.include('Measure');
    });

    it('rolls back on a Fail beyond failureLimit and says which check, value and threshold', () => {
      const d = decide(canary({ status: step1(undefined) }), observed({ deployment: testing(), canaryReplicaSets: [rs(NEXT, 1, 1)], measurements: fresh('Fail', 'Alert') }), at(10));
      expect(d.status.phase).to.equal('RolledBack');
      expect(d.status.message).to.contain('check errors failed 1 time(s) (limit 0): Fail Alert (threshold OK passes)');
      expect(types(d)).to.include.members(['DeleteCanaryReplicaSets']);
      expect(cond(d, CONDITIONS.Ready)?.reason).to.equal(REASONS.RolledBack);
      expect(d.events.find((e) => e.reason === REASONS.CheckFailed)?.onDeployment).to.equal(true);
    });

    it('tolerates failures up to failureLimit', () => {
      const c = canary({ status: step1(undefined), spec: { analysis: { interval: '30s', failureLimit: 1, checks: [{ name: 'errors', datadogMonitor: { id: 1 } }] } } });
      const d = decide(c, observed({ deployment: testing(), canaryReplicaSets: [rs(NEXT, 1, 1)], measurements: fresh('Fail', 'Alert') }), at(10));
      expect(d.status.phase).to.equal('Progressing');
      expect(cond(d, CONDITIONS.ChecksPassing)?.status).to.equal('False');
    });

    it('rolls back after consecutive errors (default 3), never counting them as passes', () => {
      const checks = [{ name: 'errors', failures: 0, errors: 2, consecutiveErrors: 2, inconclusive: 0, passes: 0, measurements: [m('Error', -50), m('Error', -20)] }];
      const d = decide(canary({ status: step1(checks) }), observed({ deployment: testing(), canaryReplicaSets: [rs(NEXT, 1, 1)], measurements: fresh('Error', '') }), at(10));
      expect(d.status.phase).to.equal('RolledBack');
      expect(reasons(d)).to.include(REASONS.CheckErrors);
      expect(d.status.checks?.[0]?.passes).to.equal(0);
    });

    it('turns a Secret problem into Error measurements', () => {
      const d = decide(
        canary({ status: step1(undefined) }),
        observed({ deployment: testing(), canaryReplicaSets: [rs(NEXT, 1, 1)], credentials: { ok: false, reason: REASONS.SecretNotFound, message: 'Secret shop/datadog not found' } }),
        at(10),
      );
      const last = d.status.checks?.[0]?.measurements.at(-1);
      expect(last?.verdict).to.equal('Error');
      expect(last?.message).to.equal('Secret shop/datadog not found');
      expect(types(d)).to.not.include('Measure');
    });

    it('keeps a bounded history', () => {
      const many = Array.from({ length: 10 }, (_, i) => m('Pass', -400 + i * 30, 'OK'));
      const checks = [{ name: 'errors', failures: 0, errors: 0, consecutiveErrors: 0, inconclusive: 0, passes: 10, measurements: many }];
      const d = decide(canary({ status: step1(checks) }), observed({ deployment: testing(), canaryReplicaSets: [rs(NEXT, 1, 1)], measurements: fresh('Pass', 'OK') }), at(10));
      expect(d.status.checks?.[0]?.measurements).to.have.length(10);
      expect(d.status.checks?.[0]?.passes).to.equal(11);
    });
  });

  describe('pauses and steps', () => {
    it('completes a pause when it has elapsed and every check passes', () => {
      const status = running(1, { stepStartedAt: iso(-121) });
      const d = decide(canary({ status }), observed({ deployment: testing(), canaryReplicaSets: [rs(NEXT, 1, 1)] }), at(0));
      expect(d.status.currentStep).to.equal(2); // setWeight 50 completes only when its pods are Ready
      expect(action(d, 'EnsureCanaryReplicaSet')?.replicas).to.equal(9);
    });

    it('a Pass from long before the pause ended (Datadog rate limited or unreachable since) does not complete it', () => {
      const stale = [{ name: 'errors', failures: 0, errors: 0, consecutiveErrors: 0, inconclusive: 0, passes: 1, measurements: [m('Pass', -100, 'OK')] }];
      const waiting = decide(canary({ status: running(1, { checks: stale, stepStartedAt: iso(-121) }) }), observed({ deployment: testing(), canaryReplicaSets: [rs(NEXT, 1, 1)] }), at(0));
      expect(waiting.status.currentStep).to.equal(1);
      expect(cond(waiting, CONDITIONS.Progressing)?.reason).to.equal(REASONS.WaitingForChecks);
      expect(waiting.status.message).to.contain(`last Pass measured at ${iso(-100)}, waiting for a newer measurement`);
      expect(types(waiting)).to.include('Measure');
      const fresh = [{ ...stale[0]!, passes: 2, measurements: [m('Pass', -100, 'OK'), m('Pass', 0, 'OK')] }];
      const done = decide(canary({ status: running(1, { checks: fresh, stepStartedAt: iso(-121) }) }), observed({ deployment: testing(), canaryReplicaSets: [rs(NEXT, 1, 1)] }), at(0));
      expect(done.status.currentStep).to.equal(2);
    });

    it('waits for inconclusive checks after the pause, then rolls back at the deadline', () => {
      const checks = [{ name: 'errors', failures: 0, errors: 0, consecutiveErrors: 0, inconclusive: 1, passes: 0, measurements: [m('Inconclusive', -20, 'No Data')] }];
      const waiting = decide(canary({ status: running(1, { checks, stepStartedAt: iso(-130) }) }), observed({ deployment: testing(), canaryReplicaSets: [rs(NEXT, 1, 1)] }), at(0));
      expect(waiting.status.currentStep).to.equal(1);
      expect(cond(waiting, CONDITIONS.Progressing)?.reason).to.equal(REASONS.WaitingForChecks);
      expect(waiting.status.message).to.contain('No Data');
      const late = decide(canary({ status: running(1, { checks, stepStartedAt: iso(-120 - 901) }) }), observed({ deployment: testing(), canaryReplicaSets: [rs(NEXT, 1, 1)] }), at(0));
      expect(late.status.phase).to.equal('RolledBack');
      expect(reasons(late)).to.include(REASONS.ProgressDeadlineExceeded);
    });

    it('a pause without duration waits for a promote request', () => {
      const c = canary({ status: running(1), spec: { steps: [{ setWeight: 10 }, { pause: {} }] } });
      const d = decide(c, observed({ deployment: testing(), canaryReplicaSets: [rs(NEXT, 1, 1)] }), at(0));
      expect(d.status.phase).to.equal('Paused');
      expect(cond(d, CONDITIONS.Progressing)?.reason).to.equal(REASONS.WaitingForPromote);
    });

    it('spec.paused holds progress and keeps the canary pods', () => {
      const c = canary({ status: running(1, { stepStartedAt: iso(-500) }), spec: { paused: true } });
      const d = decide(c, observed({ deployment: testing(), canaryReplicaSets: [rs(NEXT, 1, 1)] }), at(0));
      expect(d.status.phase).to.equal('Paused');
      expect(d.status.currentStep).to.equal(1);
      expect(types(d)).to.not.include('DeleteCanaryReplicaSets');
    });

    it('after the last step promotes through the Deployment', () => {
      const d = decide(canary({ status: running(3, { stepStartedAt: iso(-301) }) }), observed({ deployment: testing(), canaryReplicaSets: [rs(NEXT, 9, 9)] }), at(0));
      expect(d.status.phase).to.equal('Promoting');
      expect(action(d, 'PromoteDeployment')?.revision).to.equal(NEXT);
      expect(types(d)).to.not.include('DeleteCanaryReplicaSets');
    });
  });

  describe('promotion', () => {
    const promoting = (extra: Partial<CanaryStatus> = {}) =>
      running(4, {
        promotionStartedAt: iso(-10),
        conditions: [{ type: CONDITIONS.Progressing, status: 'True', reason: REASONS.Promoting, message: '', lastTransitionTime: iso(-10) }],
        phase: 'Promoting',
        ...extra,
      });
    const promoted = (over: Partial<ObservedDeployment> = {}) => dep({ revision: NEXT, version: '1.1.0', stableAnnotation: NEXT, ...over });

    it('waits for the rollout to complete', () => {
      const d = decide(canary({ status: promoting() }), observed({ deployment: promoted({ rolloutComplete: false }), canaryReplicaSets: [rs(NEXT, 9, 9)] }), at(0));
      expect(d.status.phase).to.equal('Promoting');
      expect(types(d)).to.deep.equal([]);
    });

    it('then deletes the canary pods and succeeds', () => {
      const d = decide(canary({ status: promoting() }), observed({ deployment: promoted(), canaryReplicaSets: [rs(NEXT, 9, 9)] }), at(0));
      expect(d.status.phase).to.equal('Succeeded');
      expect(d.status.stableRevision).to.equal(NEXT);
      expect(d.status.stableVersion).to.equal('1.1.0');
      expect(types(d)).to.deep.equal(['DeleteCanaryReplicaSets']);
      expect(cond(d, CONDITIONS.Ready)?.status).to.equal('True');
      expect(reasons(d)).to.include(REASONS.Promoted);
    });

    it('restores the stable template when the promotion misses the deadline', () => {
      const d = decide(canary({ status: promoting({ promotionStartedAt: iso(-901) }) }), observed({ deployment: promoted({ rolloutComplete: false }), canaryReplicaSets: [rs(NEXT, 9, 9)] }), at(0));
      expect(d.status.phase).to.equal('RolledBack');
      expect(action(d, 'RestoreStableTemplate')?.revision).to.equal(STABLE);
      expect(d.status.failedRevision).to.equal(NEXT);
    });

    it('after restoring the stable template the rollback stands and the failed revision stays refused', () => {
      const rolled = decide(canary({ status: promoting({ promotionStartedAt: iso(-901) }) }), observed({ deployment: promoted({ rolloutComplete: false }), canaryReplicaSets: [] }), at(0));
      const restored = decide(canary({ status: rolled.status }), observed({ deployment: dep({ stableAnnotation: STABLE }) }), at(5));
      expect(restored.status.phase).to.equal('RolledBack');
      expect(restored.status.failedRevision).to.equal(NEXT);
      expect(types(restored)).to.deep.equal([]);
      const resynced = decide(canary({ status: restored.status }), observed({ deployment: testing({ stableAnnotation: STABLE }) }), at(10));
      expect(resynced.status.phase).to.equal('RolledBack');
      expect(types(resynced)).to.not.include('EnsureCanaryReplicaSet');
    });

    it('recognises a restore whose status write did not land', () => {
      const d = decide(canary({ status: promoting({ promotionStartedAt: iso(-901) }) }), observed({ deployment: dep(), canaryReplicaSets: [rs(NEXT, 9, 9)] }), at(0));
      expect(d.status.phase).to.equal('RolledBack');
      expect(d.status.failedRevision).to.equal(NEXT);
      expect(types(d)).to.include('DeleteCanaryReplicaSets');
    });

    it('a newer template during promotion is a new revision', () => {
      const d = decide(canary({ status: promoting() }), observed({ deployment: promoted({ revision: NEWER, version: '1.2.0', paused: true, heldByUs: true, updatedReplicas: 0 }), canaryReplicaSets: [rs(NEXT, 9, 9)] }), at(0));
      expect(d.status.canaryRevision).to.equal(NEWER);
      expect(d.status.stableRevision).to.equal(NEXT);
      expect(d.status.currentStep).to.equal(0);
    });
  });

  describe('newer revisions, reverts, requests', () => {
    it('a newer revision mid-analysis discards the canary pods and restarts from step 1', () => {
      const d = decide(canary({ status: running(2) }), observed({ deployment: testing({ revision: NEWER, version: '1.2.0' }), canaryReplicaSets: [rs(NEXT, 9, 9)] }), at(0));
      expect(d.status.canaryRevision).to.equal(NEWER);
      expect(d.status.currentStep).to.equal(0);
      expect(action(d, 'DeleteCanaryReplicaSets')?.keepRevision).to.equal(NEWER);
      expect(reasons(d)).to.include(REASONS.Superseded);
      expect(d.status.checks?.[0]?.measurements).to.deep.equal([]);
    });

    it('a change back to the stable template completes at once without analysis', () => {
      const d = decide(canary({ status: running(2) }), observed({ deployment: dep({ paused: true, heldByUs: true }), canaryReplicaSets: [rs(NEXT, 9, 9)] }), at(0));
      expect(d.status.phase).to.equal('Waiting');
      expect(types(d)).to.deep.equal(['DeleteCanaryReplicaSets', 'UnholdDeployment']);
      expect(reasons(d)).to.include(REASONS.RevertedToStable);
      expect(cond(d, CONDITIONS.Ready)?.status).to.equal('True');
    });

    const rolledBack = (): CanaryStatus => ({
      ...running(1),
      failedRevision: NEXT,
      phase: 'RolledBack',
      message: 'rolled back revision bbbbbbbbbb',
      conditions: [{ type: CONDITIONS.Progressing, status: 'False', reason: REASONS.RolledBack, message: '', lastTransitionTime: iso(-5) }],
    });

    it('the same revision is not tried again after a rollback', () => {
      const d = decide(canary({ status: rolledBack() }), observed({ deployment: testing() }), at(0));
      expect(d.status.phase).to.equal('RolledBack');
      expect(types(d)).to.deep.equal([]);
    });

    it('retry restarts the failed revision and is echoed once', () => {
      const d = decide(canary({ status: rolledBack(), annotations: { [ANNOTATIONS.retry]: 'r1' } }), observed({ deployment: testing() }), at(0));
      expect(d.status.phase).to.equal('Progressing');
      expect(d.status.failedRevision).to.equal(undefined);
      expect(d.status.requests?.retry).to.deep.equal({ id: 'r1', handledAt: iso(0) });
      const again = decide(canary({ status: d.status, annotations: { [ANNOTATIONS.retry]: 'r1' } }), observed({ deployment: testing(), canaryReplicaSets: [rs(NEXT, 1, 1)] }), at(1));
      expect(reasons(again)).to.not.include(REASONS.RetryRequested);
    });

    it('abort rolls back at once', () => {
      const d = decide(canary({ status: running(1), annotations: { [ANNOTATIONS.abort]: 'a1' } }), observed({ deployment: testing(), canaryReplicaSets: [rs(NEXT, 1, 1)] }), at(0));
      expect(d.status.phase).to.equal('RolledBack');
      expect(d.status.requests?.abort?.id).to.equal('a1');
      expect(reasons(d)).to.include(REASONS.AbortRequested);
    });

    it('promote skips the remaining steps', () => {
      const d = decide(canary({ status: running(1), annotations: { [ANNOTATIONS.promote]: 'p1' } }), observed({ deployment: testing(), canaryReplicaSets: [rs(NEXT, 1, 1)] }), at(0));
      expect(d.status.phase).to.equal('Promoting');
      expect(action(d, 'PromoteDeployment')?.revision).to.equal(NEXT);
      expect(d.status.requests?.promote?.id).to.equal('p1');
    });

    it('a request with nothing to act on is still echoed', () => {
      const d = decide(canary({ status: { stableRevision: STABLE, phase: 'Waiting' }, annotations: { [ANNOTATIONS.promote]: 'p2' } }), observed(), at(0));
      expect(d.status.requests?.promote?.id).to.equal('p2');
    });
  });

  describe('deletion', () => {
    it('releases a verified Deployment unpaused and removes the finalizer', () => {
      const d = decide(canary({ deleting: true, status: running(1) }), observed({ deployment: dep({ paused: true, heldByUs: true }), canaryReplicaSets: [rs(NEXT, 1, 1)] }), at(0));
      expect(d.actions).to.deep.equal([{ type: 'DeleteCanaryReplicaSets' }, { type: 'ReleaseDeployment', unpause: true }, { type: 'RemoveFinalizer' }]);
    });

    it('never rolls out an unverified revision as a side effect', () => {
      const d = decide(canary({ deleting: true, status: running(1) }), observed({ deployment: testing(), canaryReplicaSets: [rs(NEXT, 1, 1)] }), at(0));
      expect(action(d, 'ReleaseDeployment')?.unpause).to.equal(false);
      const e = d.events.find((x) => x.reason === REASONS.DeploymentLeftPaused);
      expect(e?.onDeployment).to.equal(true);
      expect(e?.message).to.contain('kubectl rollout resume');
    });

    it('does nothing once its finalizer is gone', () => {
      const d = decide(canary({ deleting: true, finalizers: [] }), observed(), at(0));
      expect(d.actions).to.deep.equal([]);
    });
  });
});

describe('decide(): canary pods readiness deadline', () => {
  const steps = [{ setWeight: 10 }, { pause: {} }];
  const cases: Array<{ name: string; replicas: number; rs: ReturnType<typeof rs>; extra: Partial<CanaryStatus>; phase: string; waitingSince?: string }> = [
    { name: 'the HPA scales 9 -> 18 twenty minutes into a pause: {} step', replicas: 18, rs: rs(NEXT, 1, 1), extra: {}, phase: 'Progressing', waitingSince: iso(0) },
    { name: 'one canary pod goes NotReady twenty minutes into a pause: {} step', replicas: 9, rs: rs(NEXT, 1, 0), extra: {}, phase: 'Progressing', waitingSince: iso(0) },
    { name: 'pods still not Ready 901 s after they stopped being Ready roll back', replicas: 9, rs: rs(NEXT, 1, 0), extra: { canaryPodsWaitingSince: iso(-901) }, phase: 'RolledBack' },
    { name: 'pods not Ready for 300 s keep waiting with the earlier start', replicas: 9, rs: rs(NEXT, 1, 0), extra: { canaryPodsWaitingSince: iso(-300) }, phase: 'Progressing', waitingSince: iso(-300) },
    { name: 'Ready pods clear the waiting start', replicas: 9, rs: rs(NEXT, 1, 1), extra: { canaryPodsWaitingSince: iso(-300) }, phase: 'Paused' },
  ];
  for (const tc of cases) {
    it(tc.name, () => {
      const c = canary({ spec: { steps }, status: running(1, { stepStartedAt: iso(-1200), ...tc.extra }) });
      const d = decide(c, observed({ deployment: testing({ replicas: tc.replicas }), canaryReplicaSets: [tc.rs] }), at(0));
      expect(d.status.phase).to.equal(tc.phase);
      expect(d.status.canaryPodsWaitingSince).to.equal(tc.waitingSince);
      if (tc.phase === 'Progressing') {
        expect(cond(d, CONDITIONS.Progressing)?.reason).to.equal(REASONS.WaitingForCanaryPods);
        expect(d.requeueAfterMs).to.be.at.most(Date.parse(tc.waitingSince!) + 900_000 + 1 - at(0));
      }
    });
  }
});

describe('decide(): a canary version of its own when the versions are equal', () => {
  const start = (over: Partial<ObservedDeployment>, stableVersion = '1.0.0') =>
    decide(canary({ status: { stableRevision: STABLE, stableVersion, phase: 'Waiting' } }), observed({ deployment: testing(over) }), at(0));
  const cases: Array<{ name: string; over: Partial<ObservedDeployment>; stableVersion?: string; version: string; distinct: boolean }> = [
    { name: 'a config-only change (same version) gets <version>-<revision>', over: { version: '1.0.0' }, version: `1.0.0-${NEXT}`, distinct: true },
    { name: 'the version of the stable ReplicaSet wins over the recorded one', over: { version: '1.1.0', stableVersion: '1.1.0' }, version: `1.1.0-${NEXT}`, distinct: true },
    { name: 'a mutable tag (latest on both) gets latest-<revision>', over: { version: 'latest' }, stableVersion: 'latest', version: `latest-${NEXT}`, distinct: true },
    { name: 'a new version keeps its own', over: { version: '1.1.0' }, version: '1.1.0', distinct: false },
  ];
  for (const tc of cases) {
    it(tc.name, () => {
      const d = start(tc.over, tc.stableVersion);
      expect(d.status.canaryVersion).to.equal(tc.version);
      expect(action(d, 'EnsureCanaryReplicaSet')?.version).to.equal(tc.version);
      expect(reasons(d).includes(REASONS.DistinctCanaryVersion)).to.equal(tc.distinct);
      if (tc.distinct) expect(d.events.find((e) => e.reason === REASONS.NewRevision)?.message).to.contain(`canary pods report version ${tc.version}`);
      if (tc.distinct) expect(cond(d, CONDITIONS.Ready)?.message).to.contain(`(version ${tc.version}; the template's version`);
    });
  }

  it('later passes keep the distinct version for the canary pods and say it once', () => {
    const first = start({ version: '1.0.0' });
    const again = decide(canary({ status: first.status }), observed({ deployment: testing({ version: '1.0.0' }), canaryReplicaSets: [rs(NEXT, 1, 0)] }), at(5));
    expect(action(again, 'EnsureCanaryReplicaSet')?.version).to.equal(`1.0.0-${NEXT}`);
    expect(reasons(again)).to.not.include(REASONS.DistinctCanaryVersion);
  });
});

describe('decide(): no promotion without a passing measurement at the final weight', () => {
  const steps = [{ setWeight: 20 }, { setWeight: 50 }];
  const fresh = (verdict: Measurement['verdict'], s: number) => ({ errors: { verdict, value: verdict === 'Pass' ? 'OK' : 'No Data', time: iso(s) } as Measurement });
  const atFifty = (extra: Partial<CanaryStatus> = {}) =>
    running(2, { stepStartedAt: iso(-40), weightReadyAt: iso(-40), checks: [{ name: 'errors', failures: 0, errors: 0, consecutiveErrors: 0, inconclusive: 0, passes: 1, measurements: [m('Pass', -50, 'OK')] }], ...extra });

  it('a setWeight-only step list reaches its last weight and waits for measurements, asking once', () => {
    const start = running(0, { analysisStartedAt: undefined, stepStartedAt: iso(-5), checks: [{ name: 'errors', failures: 0, errors: 0, consecutiveErrors: 0, inconclusive: 0, passes: 0, measurements: [] }] });
    const first = decide(canary({ spec: { steps }, status: start }), observed({ deployment: testing(), canaryReplicaSets: [rs(NEXT, 3, 3)] }), at(0));
    expect(types(first).filter((t) => t === 'Measure')).to.have.length(1);
    const second = decide(canary({ spec: { steps }, status: first.status }), observed({ deployment: testing(), canaryReplicaSets: [rs(NEXT, 9, 9)] }), at(1));
    expect(types(second)).to.not.include('PromoteDeployment');
    expect(types(second).filter((t) => t === 'Measure')).to.have.length(1);
    expect(second.status.phase).to.equal('Progressing');
    expect(cond(second, CONDITIONS.Progressing)?.reason).to.equal(REASONS.WaitingForChecks);
    expect(second.status.weightReadyAt).to.equal(iso(1));
  });

  const cases: Array<{ name: string; status: CanaryStatus; measured?: Observed['measurements']; now: number; phase: string; promote: boolean }> = [
    { name: 'a Pass taken before the last weight was Ready does not count', status: atFifty(), now: 0, phase: 'Progressing', promote: false },
    { name: 'a Pass taken after the last weight was Ready promotes', status: atFifty(), measured: fresh('Pass', -5), now: 0, phase: 'Promoting', promote: true },
    { name: 'an Inconclusive one keeps waiting', status: atFifty(), measured: fresh('Inconclusive', -5), now: 0, phase: 'Progressing', promote: false },
    { name: 'no Pass within the progress deadline rolls back', status: atFifty({ stepStartedAt: iso(-901), weightReadyAt: iso(-901), checks: [{ name: 'errors', failures: 0, errors: 0, consecutiveErrors: 0, inconclusive: 1, passes: 1, measurements: [m('Pass', -950, 'OK'), m('Inconclusive', -20, 'No Data')] }] }), now: 0, phase: 'RolledBack', promote: false },
  ];
  for (const tc of cases) {
    it(tc.name, () => {
      const d = decide(canary({ spec: { steps }, status: tc.status }), observed({ deployment: testing(), canaryReplicaSets: [rs(NEXT, 9, 9)], ...(tc.measured ? { measurements: tc.measured } : {}) }), at(tc.now));
      expect(d.status.phase).to.equal(tc.phase);
      expect(types(d).includes('PromoteDeployment')).to.equal(tc.promote);
    });
  }

  it('an empty step list with checks first runs one canary pod, then waits for a Pass of every check; without checks it promotes at once', () => {
    const fresh = { stableRevision: STABLE, stableVersion: '1.0.0', phase: 'Waiting' as const };
    const withChecks = decide(canary({ spec: { steps: [] }, status: fresh }), observed({ deployment: testing() }), at(0));
    expect(types(withChecks)).to.not.include('PromoteDeployment');
    expect(action(withChecks, 'EnsureCanaryReplicaSet')?.replicas).to.equal(1);
    expect(cond(withChecks, CONDITIONS.Progressing)?.reason).to.equal(REASONS.WaitingForCanaryPods);
    const podReady = decide(canary({ spec: { steps: [] }, status: withChecks.status }), observed({ deployment: testing(), canaryReplicaSets: [rs(NEXT, 1, 1)] }), at(5));
    expect(types(podReady)).to.not.include('PromoteDeployment');
    expect(cond(podReady, CONDITIONS.Progressing)?.reason).to.equal(REASONS.WaitingForChecks);
    const none = decide(canary({ spec: { steps: [], analysis: { interval: '30s' } }, status: fresh }), observed({ deployment: testing(), checks: [] }), at(0));
    expect(types(none)).to.include('PromoteDeployment');
  });

  it('without checks the last weight promotes once its pods are Ready', () => {
    const c = canary({ spec: { steps, analysis: { interval: '30s' } }, status: running(1, { checks: [] }) });
    const d = decide(c, observed({ deployment: testing(), checks: [], canaryReplicaSets: [rs(NEXT, 9, 9)] }), at(0));
    expect(d.status.phase).to.equal('Promoting');
  });
});

describe('decide(): checks without a setWeight measure one canary pod', () => {
  const passed = [{ name: 'errors', failures: 0, errors: 0, consecutiveErrors: 0, inconclusive: 0, passes: 1, measurements: [m('Pass', -20, 'OK')] }];
  const cases: Array<{ name: string; steps: Canary['spec']['steps']; status?: CanaryStatus; rsets: ReturnType<typeof rs>[]; checks?: ResolvedCheck[]; canaryPods: number | undefined; promote: boolean }> = [
    { name: 'an empty step list runs one canary pod and does not promote before it is Ready', steps: [], status: running(0, { checks: passed }), rsets: [], canaryPods: 1, promote: false },
    { name: 'a step list of pauses only runs one canary pod from the start', steps: [{ pause: { duration: '1m' } }], rsets: [], canaryPods: 1, promote: false },
    { name: 'a pause before the first setWeight runs one canary pod', steps: [{ pause: { duration: '1m' } }, { setWeight: 50 }], status: running(0, { stepStartedAt: iso(-10), checks: passed }), rsets: [rs(NEXT, 1, 1)], canaryPods: 1, promote: false },
    { name: 'an empty step list promotes on a Pass measured once that pod was Ready', steps: [], status: running(0, { checks: passed }), rsets: [rs(NEXT, 1, 1)], canaryPods: 1, promote: true },
    { name: 'without checks, an empty step list needs no canary pod', steps: [], status: running(0, { checks: [] }), rsets: [], checks: [], canaryPods: undefined, promote: true },
  ];
  for (const tc of cases) {
    it(tc.name, () => {
      const d = decide(canary({ spec: { steps: tc.steps }, ...(tc.status ? { status: tc.status } : {}) }), observed({ deployment: testing(), canaryReplicaSets: tc.rsets, ...(tc.checks ? { checks: tc.checks } : {}) }), at(0));
      expect(action(d, 'EnsureCanaryReplicaSet')?.replicas).to.equal(tc.canaryPods);
      expect(types(d).includes('PromoteDeployment')).to.equal(tc.promote);
      if (tc.canaryPods !== undefined) expect(d.status.canaryReplicas).to.equal(tc.canaryPods);
    });
  }
});

describe('decide(): an invalid spec during a promotion', () => {
  const promoting = running(2, { phase: 'Promoting', promotionStartedAt: iso(-10), conditions: [{ type: CONDITIONS.Progressing, status: 'True', reason: REASONS.Promoting, message: '', lastTransitionTime: iso(-10) }] });
  const cases: Array<{ name: string; d: ObservedDeployment; actions: string[]; events: string[]; progressing: string }> = [
    { name: 'that has not landed: the verified revision is promoted all the same', d: testing(), actions: ['PromoteDeployment'], events: [REASONS.InvalidSpec], progressing: REASONS.Promoting },
    { name: 'that landed: the rollout goes on', d: testing({ stableAnnotation: NEXT, paused: false, heldByUs: false, rolloutComplete: false }), actions: [], events: [REASONS.InvalidSpec], progressing: REASONS.Promoting },
    { name: 'that completed: the revision is promoted', d: testing({ stableAnnotation: NEXT, paused: false, heldByUs: false, updatedReplicas: 9 }), actions: [], events: [REASONS.Promoted, REASONS.InvalidSpec], progressing: REASONS.Promoted },
  ];
  for (const tc of cases) {
    it(tc.name, () => {
      const d = decide(canary({ status: promoting }), observed({ specProblems: ['spec.steps[0]: bad'], deployment: tc.d }), at(0));
      expect(types(d)).to.deep.equal(tc.actions);
      expect(reasons(d)).to.deep.equal(tc.events);
      expect(d.status.phase).to.equal('Failed');
      expect(cond(d, CONDITIONS.Ready)?.reason).to.equal(REASONS.InvalidSpec);
      expect(cond(d, CONDITIONS.Progressing)?.reason).to.equal(tc.progressing);
      expect(d.status.message).to.contain('invalid spec: spec.steps[0]: bad');
      expect(d.status.message).to.contain(`revision ${NEXT}`);
    });
  }
});

describe('decide(): status written before the actions, and writes that did not land', () => {
  const waitingForPromote = (extra: Partial<CanaryStatus> = {}) =>
    running(1, { phase: 'Paused', conditions: [{ type: CONDITIONS.Progressing, status: 'True', reason: REASONS.WaitingForPromote, message: '', lastTransitionTime: iso(-100) }], ...extra });
  const promotingStatus = (extra: Partial<CanaryStatus> = {}) =>
    running(2, { phase: 'Promoting', promotionStartedAt: iso(-10), conditions: [{ type: CONDITIONS.Progressing, status: 'True', reason: REASONS.Promoting, message: '', lastTransitionTime: iso(-10) }], ...extra });
  const landed = (over: Partial<ObservedDeployment> = {}) => dep({ revision: NEXT, version: '1.1.0', stableAnnotation: NEXT, ...over });
  const steps = [{ setWeight: 10 }, { pause: {} }];

  const cases: Array<{ name: string; status: CanaryStatus; o: Partial<Observed>; phase: string; actions: string[]; events: string[]; stableVersion?: string }> = [
    {
      name: 'a stable annotation naming the revision under test, written past the webhook while it waits for promote, is put back and the rollout held',
      status: waitingForPromote(),
      o: { deployment: landed({ rolloutComplete: false, updatedReplicas: 3 }), canaryReplicaSets: [rs(NEXT, 1, 1)] },
      phase: 'Paused',
      actions: ['AdoptDeployment', 'HoldDeployment', 'EnsureCanaryReplicaSet'],
      events: [REASONS.StableAnnotationRestored],
    },
    {
      name: 'the same write rolled out to every pod is not a promotion: the stable template is restored',
      status: waitingForPromote(),
      o: { deployment: landed(), canaryReplicaSets: [rs(NEXT, 1, 1)] },
      phase: 'RolledBack',
      actions: ['AdoptDeployment', 'DeleteCanaryReplicaSets', 'RestoreStableTemplate'],
      events: [REASONS.StableAnnotationRestored, REASONS.UnverifiedRollout],
    },
    {
      name: 'the same write of a distinct canary version completes nothing',
      status: waitingForPromote({ canaryVersion: `1.0.0-${NEXT}` }),
      o: { deployment: landed({ version: '1.0.0', rolloutComplete: false, updatedReplicas: 3 }), canaryReplicaSets: [rs(NEXT, 1, 1)] },
      phase: 'Paused',
      actions: ['AdoptDeployment', 'HoldDeployment', 'EnsureCanaryReplicaSet'],
      events: [REASONS.StableAnnotationRestored],
      stableVersion: '1.0.0',
    },
    {
      name: 'status Promoting while the Deployment still holds the revision re-issues the promotion, never restarts',
      status: promotingStatus(),
      o: { deployment: testing(), canaryReplicaSets: [rs(NEXT, 1, 1)] },
      phase: 'Promoting',
      actions: ['PromoteDeployment'],
      events: [],
    },
    {
      name: 'a stale analysing status with the canary ReplicaSet gone and a Fail rolls back without creating it again',
      status: running(1, { stepStartedAt: iso(-60), checks: [{ name: 'errors', failures: 0, errors: 0, consecutiveErrors: 0, inconclusive: 0, passes: 5, measurements: [m('Pass', -31, 'OK')] }] }),
      o: { deployment: testing(), canaryReplicaSets: [], measurements: { errors: m('Fail', -1, 'Alert') } },
      phase: 'RolledBack',
      actions: ['DeleteCanaryReplicaSets'],
      events: [REASONS.CheckFailed],
    },
    {
      name: 'status RolledBack with the canary ReplicaSet still there and the Deployment unpaused re-issues delete and hold',
      status: { ...running(1), failedRevision: NEXT, phase: 'RolledBack', conditions: [{ type: CONDITIONS.Progressing, status: 'False', reason: REASONS.RolledBack, message: '', lastTransitionTime: iso(-5) }] },
      o: { deployment: testing({ paused: false, heldByUs: false }), canaryReplicaSets: [rs(NEXT, 1, 1)] },
      phase: 'RolledBack',
      actions: ['HoldDeployment', 'DeleteCanaryReplicaSets'],
      events: [],
    },
    {
      name: 'status RolledBack after a promotion past its deadline re-issues the restore of the stable template',
      status: { ...running(2), failedRevision: NEXT, phase: 'RolledBack', conditions: [{ type: CONDITIONS.Progressing, status: 'False', reason: REASONS.RolledBack, message: '', lastTransitionTime: iso(-5) }] },
      o: { deployment: landed({ rolloutComplete: false }), canaryReplicaSets: [] },
      phase: 'RolledBack',
      actions: ['RestoreStableTemplate'],
      events: [],
    },
  ];
  for (const tc of cases) {
    it(tc.name, () => {
      const d = decide(canary({ spec: { steps }, status: tc.status }), observed(tc.o), at(0));
      expect(d.status.phase).to.equal(tc.phase);
      expect(types(d)).to.deep.equal(tc.actions);
      expect(reasons(d)).to.deep.equal(tc.events);
      expect(d.status.currentStep).to.equal(tc.status.currentStep);
      expect(d.status.startedAt).to.equal(tc.status.startedAt);
      if (tc.stableVersion) expect(d.status.stableVersion).to.equal(tc.stableVersion);
      if (tc.phase === 'RolledBack') expect(d.status.stableRevision).to.equal(STABLE);
    });
  }
});

describe('decide(): no HoldDeployment for a Deployment that is already paused', () => {
  const cases: Array<{ name: string; over: Partial<ObservedDeployment>; hold: boolean }> = [
    { name: 'held by the operator', over: { paused: true, heldByUs: true }, hold: false },
    { name: 'paused by someone else', over: { paused: true, heldByUs: false }, hold: false },
    { name: 'running (the gate was bypassed)', over: { paused: false, heldByUs: false }, hold: true },
  ];
  for (const tc of cases) {
    it(`an abort of a Deployment ${tc.name}`, () => {
      const d = decide(canary({ status: running(1), annotations: { [ANNOTATIONS.abort]: 'a1' } }), observed({ deployment: testing(tc.over), canaryReplicaSets: [rs(NEXT, 1, 1)] }), at(0));
      expect(d.status.phase).to.equal('RolledBack');
      expect(types(d).filter((t) => t === 'HoldDeployment')).to.have.length(tc.hold ? 1 : 0);
    });
  }
});

describe('decide(): canary ReplicaSets of other revisions are deleted in every pass', () => {
  const stray = { name: 'checkout-canary-0123456789', revision: '0123456789', replicas: 2, readyReplicas: 2 };
  const promotingStatus = running(2, { phase: 'Promoting', promotionStartedAt: iso(-10), conditions: [{ type: CONDITIONS.Progressing, status: 'True', reason: REASONS.Promoting, message: '', lastTransitionTime: iso(-10) }] });
  const cases: Array<{ name: string; status: CanaryStatus; d: ObservedDeployment; phase: string }> = [
    { name: 'during analysis', status: running(1), d: testing(), phase: 'Progressing' },
    { name: 'during a pause: {} step', status: running(3, { stepStartedAt: iso(-10) }), d: testing(), phase: 'Progressing' },
    { name: 'during the promotion', status: promotingStatus, d: dep({ revision: NEXT, version: '1.1.0', stableAnnotation: NEXT, rolloutComplete: false }), phase: 'Promoting' },
  ];
  for (const tc of cases) {
    it(tc.name, () => {
      const d = decide(canary({ status: tc.status }), observed({ deployment: tc.d, canaryReplicaSets: [stray, rs(NEXT, 1, 1)] }), at(0));
      expect(d.status.phase).to.equal(tc.phase);
      expect(d.actions).to.deep.include({ type: 'DeleteCanaryReplicaSets', keepRevision: NEXT });
    });
  }
});

describe('decide(): abort and pause during a promotion', () => {
  const promotingStatus = (extra: Partial<CanaryStatus> = {}) =>
    running(4, { phase: 'Promoting', promotionStartedAt: iso(-100), conditions: [{ type: CONDITIONS.Progressing, status: 'True', reason: REASONS.Promoting, message: '', lastTransitionTime: iso(-100) }], ...extra });
  const landed = (over: Partial<ObservedDeployment> = {}) => dep({ revision: NEXT, version: '1.1.0', stableAnnotation: NEXT, rolloutComplete: false, rolloutMessage: '3/9 updated', ...over });
  const cases: Array<{ name: string; c: Canary; d: ObservedDeployment; now?: number; phase: string; actions: string[]; events: string[] }> = [
    {
      name: 'abort restores the stable template and rolls back',
      c: canary({ status: promotingStatus(), annotations: { [ANNOTATIONS.abort]: 'a1' } }),
      d: landed(),
      phase: 'RolledBack',
      actions: ['DeleteCanaryReplicaSets', 'RestoreStableTemplate'],
      events: [REASONS.AbortRequested],
    },
    {
      name: 'abort with the stable template unknown pauses the Deployment',
      c: canary({ status: promotingStatus(), annotations: { [ANNOTATIONS.abort]: 'a1' } }),
      d: landed({ stableTemplateKnown: false }),
      phase: 'RolledBack',
      actions: ['DeleteCanaryReplicaSets', 'HoldDeployment'],
      events: [REASONS.AbortRequested],
    },
    {
      name: 'abort before the promotion reached the Deployment rolls back the held revision',
      c: canary({ status: promotingStatus(), annotations: { [ANNOTATIONS.abort]: 'a1' } }),
      d: testing(),
      phase: 'RolledBack',
      actions: ['DeleteCanaryReplicaSets'],
      events: [REASONS.AbortRequested],
    },
    {
      name: 'spec.paused holds the rolling update',
      c: canary({ status: promotingStatus(), spec: { paused: true } }),
      d: landed(),
      phase: 'Paused',
      actions: ['HoldDeployment'],
      events: [],
    },
    {
      name: 'spec.paused with the Deployment held: nothing to write, never unpaused',
      c: canary({ status: promotingStatus(), spec: { paused: true } }),
      d: landed({ paused: true, heldByUs: true }),
      phase: 'Paused',
      actions: [],
      events: [],
    },
    {
      name: 'a Deployment paused by someone else stays paused, even past the deadline',
      c: canary({ status: promotingStatus({ promotionStartedAt: iso(-2000) }) }),
      d: landed({ paused: true, heldByUs: false }),
      phase: 'Paused',
      actions: [],
      events: [],
    },
    {
      name: 'after spec.paused is cleared the promotion goes on',
      c: canary({ status: promotingStatus({ pausedSince: iso(-50) }) }),
      d: landed({ paused: true, heldByUs: true }),
      phase: 'Promoting',
      actions: ['PromoteDeployment'],
      events: [],
    },
  ];
  for (const tc of cases) {
    it(tc.name, () => {
      const d = decide(tc.c, observed({ deployment: tc.d, canaryReplicaSets: [rs(NEXT, 9, 9)] }), at(tc.now ?? 0));
      expect(d.status.phase).to.equal(tc.phase);
      expect(types(d)).to.deep.equal(tc.actions);
      expect(reasons(d)).to.deep.equal(tc.events);
      if (tc.phase === 'RolledBack') {
        expect(d.status.failedRevision).to.equal(NEXT);
        expect(action(d, 'RestoreStableTemplate')?.revision ?? STABLE).to.equal(STABLE);
      }
    });
  }

  it('time paused does not count against the promotion deadline', () => {
    const d = decide(canary({ status: promotingStatus({ promotionStartedAt: iso(-1000), pausedSince: iso(-600) }) }), observed({ deployment: landed({ paused: true, heldByUs: true }) }), at(0));
    expect(d.status.phase).to.equal('Promoting');
    expect(d.status.promotionStartedAt).to.equal(iso(-400));
    expect(d.status.pausedSince).to.equal(undefined);
  });
});

describe('decide(): smaller rules', () => {
  it('a revision that supersedes a promotion carries the promoted version as stable', () => {
    const promoting = running(4, { phase: 'Promoting', promotionStartedAt: iso(-10), conditions: [{ type: CONDITIONS.Progressing, status: 'True', reason: REASONS.Promoting, message: '', lastTransitionTime: iso(-10) }] });
    const d = decide(canary({ status: promoting }), observed({ deployment: dep({ revision: NEWER, version: '1.2.0', stableAnnotation: NEXT, stableVersion: '1.1.0', paused: true, heldByUs: true, updatedReplicas: 0 }) }), at(0));
    expect(d.status.stableRevision).to.equal(NEXT);
    expect(d.status.stableVersion).to.equal('1.1.0');
    expect(d.status.canaryVersion).to.equal('1.2.0');
    expect(d.events.find((e) => e.reason === REASONS.Superseded)?.message).to.contain(`revision ${NEXT} (version 1.1.0) superseded by revision ${NEWER}`);
  });

  it('a superseded promotion whose ReplicaSet was not found still carries the promoted version as stable', () => {
    const promoting = running(4, { phase: 'Promoting', promotionStartedAt: iso(-10), conditions: [{ type: CONDITIONS.Progressing, status: 'True', reason: REASONS.Promoting, message: '', lastTransitionTime: iso(-10) }] });
    const d = decide(canary({ status: promoting }), observed({ deployment: dep({ revision: NEWER, version: '1.1.0', stableAnnotation: NEXT, stableTemplateKnown: false, paused: true, heldByUs: true, updatedReplicas: 0 }) }), at(0));
    expect(d.status).to.deep.include({ stableRevision: NEXT, stableVersion: '1.1.0', canaryVersion: `1.1.0-${NEWER}` });
  });

  const early: Array<{ name: string; o: Partial<Observed> }> = [
    { name: 'Initializing', o: { deployment: dep({ guardLabel: undefined, stableAnnotation: undefined, rolloutComplete: false }) } },
    { name: 'TargetNotFound', o: { deployment: undefined } },
    { name: 'InvalidSpec', o: { specProblems: ['spec.steps[0]: bad'] } },
  ];
  for (const tc of early) {
    it(`a promote request left while ${tc.name} is acknowledged and never promotes a later revision`, () => {
      const annotations = { [ANNOTATIONS.promote]: 'p1', [ANNOTATIONS.abort]: 'a1' };
      const first = decide(canary({ annotations, status: { stableRevision: STABLE, stableVersion: '1.0.0', phase: 'Waiting' } }), observed(tc.o), at(0));
      expect(first.status.requests?.promote?.id).to.equal('p1');
      expect(first.status.requests?.abort?.id).to.equal('a1');
      const later = decide(canary({ annotations, status: first.status }), observed({ deployment: testing() }), at(10));
      expect(types(later)).to.not.include('PromoteDeployment');
      expect(later.status.phase).to.equal('Progressing');
    });
  }

  it('time paused by spec.paused does not count: resuming shifts the step clock', () => {
    const c = canary({ status: running(1, { stepStartedAt: iso(-100), pausedSince: iso(-60) }) });
    const d = decide(c, observed({ deployment: testing(), canaryReplicaSets: [rs(NEXT, 1, 1)] }), at(0));
    expect(d.status.stepStartedAt).to.equal(iso(-40));
    expect(d.status.pausedSince).to.equal(undefined);
    const waiting = decide(canary({ status: running(1, { stepStartedAt: iso(-100), pausedSince: iso(-60), canaryPodsWaitingSince: iso(-20) }) }), observed({ deployment: testing(), canaryReplicaSets: [rs(NEXT, 1, 0)] }), at(0));
    expect(waiting.status.canaryPodsWaitingSince, 'a wait that began during the hold starts now').to.equal(iso(0));
    const paused = decide(canary({ status: running(1, { stepStartedAt: iso(-100) }), spec: { paused: true } }), observed({ deployment: testing(), canaryReplicaSets: [rs(NEXT, 1, 1)] }), at(0));
    expect(paused.status.pausedSince).to.equal(iso(0));
    expect(paused.status.stepStartedAt).to.equal(iso(-100));
  });

  const recreate: Array<{ name: string; status?: CanaryStatus; d: ObservedDeployment; actions: string[] }> = [
    { name: 'is not adopted', d: dep({ strategy: 'Recreate', guardLabel: undefined, stableAnnotation: undefined }), actions: [] },
    { name: 'removes a running canary and keeps the revision held', status: running(1), d: testing({ strategy: 'Recreate' }), actions: ['DeleteCanaryReplicaSets'] },
  ];
  for (const tc of recreate) {
    it(`a Deployment with strategy Recreate ${tc.name}: Failed with a reason`, () => {
      const d = decide(canary({ ...(tc.status ? { status: tc.status } : {}) }), observed({ deployment: tc.d, canaryReplicaSets: tc.status ? [rs(NEXT, 1, 1)] : [] }), at(0));
      expect(d.status.phase).to.equal('Failed');
      expect(cond(d, CONDITIONS.Ready)?.reason).to.equal(REASONS.UnsupportedStrategy);
      expect(d.status.message).to.contain('Recreate');
      expect(types(d)).to.deep.equal(tc.actions);
    });
  }

  const zero: Array<{ name: string; status: CanaryStatus; rsets: ReturnType<typeof rs>[]; actions: string[] }> = [
    { name: 'a new revision', status: { stableRevision: STABLE, stableVersion: '1.0.0', phase: 'Waiting' }, rsets: [], actions: ['DeleteCanaryReplicaSets'] },
    { name: 'a running canary', status: running(1), rsets: [rs(NEXT, 1, 1)], actions: ['DeleteCanaryReplicaSets'] },
    { name: 'a canary past its last step', status: running(4, { stepStartedAt: iso(-400) }), rsets: [rs(NEXT, 1, 1)], actions: ['DeleteCanaryReplicaSets'] },
  ];
  for (const tc of zero) {
    it(`a Deployment scaled to zero holds ${tc.name}: no canary pod takes all the traffic, no promotion`, () => {
      const d = decide(canary({ status: tc.status }), observed({ deployment: testing({ replicas: 0, updatedReplicas: 0 }), canaryReplicaSets: tc.rsets }), at(0));
      expect(types(d)).to.deep.equal(tc.actions);
      expect(cond(d, CONDITIONS.Progressing)?.reason).to.equal(REASONS.ScaledToZero);
      expect(d.status.message).to.contain('scaled to zero');
      expect(d.status.phase).to.equal('Paused');
    });
  }
});

describe('decide(): configuration problems in the middle of a canary', () => {
  const cases: Array<{ name: string; d: ObservedDeployment; actions: string[] }> = [
    { name: 'an invalid spec removes the canary pods and keeps the revision held', d: testing(), actions: ['DeleteCanaryReplicaSets'] },
    { name: 'an invalid spec with the gate bypassed also holds the Deployment', d: testing({ paused: false, heldByUs: false }), actions: ['DeleteCanaryReplicaSets', 'HoldDeployment'] },
  ];
  for (const tc of cases) {
    it(tc.name, () => {
      const d = decide(canary({ status: running(1) }), observed({ specProblems: ['spec.analysis.checks[0]: unknown variable {{ foo }}'], deployment: tc.d, canaryReplicaSets: [rs(NEXT, 1, 1)] }), at(0));
      expect(d.status.phase).to.equal('Failed');
      expect(types(d)).to.deep.equal(tc.actions);
      expect(cond(d, CONDITIONS.Ready)?.reason).to.equal(REASONS.InvalidSpec);
      expect(cond(d, CONDITIONS.Progressing)?.status).to.equal('False');
      expect(d.events.find((e) => e.reason === REASONS.InvalidSpec)?.type).to.equal('Warning');
      expect(d.status.message).to.contain('canary of revision bbbbbbbbbb was stopped and its pods removed');
      // Once the spec is fixed the revision is verified from step 1.
      const fixed = decide(canary({ status: d.status }), observed({ deployment: testing() }), at(10));
      expect(fixed.status.phase).to.equal('Progressing');
      expect(fixed.status.currentStep).to.equal(0);
    });
  }

  it('an unreadable Secret becomes Error measurements up to the error limit', () => {
    const creds = { ok: false as const, reason: REASONS.SecretUnreadable, message: 'Secret shop/datadog could not be read: 403 Forbidden' };
    const checks = [{ name: 'errors', failures: 0, errors: 2, consecutiveErrors: 2, inconclusive: 0, passes: 0, measurements: [m('Error', -50), m('Error', -20)] }];
    const d = decide(canary({ status: running(1, { checks }) }), observed({ deployment: testing(), canaryReplicaSets: [rs(NEXT, 1, 1)], credentials: creds }), at(10));
    expect(d.status.phase).to.equal('RolledBack');
    expect(reasons(d)).to.include(REASONS.CheckErrors);
    expect(d.status.message).to.contain('403 Forbidden');
  });

  it('an unreadable Datadog Secret does not touch the measurements of a Prometheus check', () => {
    const creds = { ok: false as const, reason: REASONS.SecretUnreadable, message: 'Secret shop/datadog could not be read: 403 Forbidden' };
    const prom: ResolvedCheck = { kind: 'prometheusQuery', name: 'errors', address: 'http://prometheus:9090', query: 'up', max: 1, noData: 'Inconclusive', intervalMs: 30_000 };
    const checks = [{ name: 'errors', failures: 0, errors: 2, consecutiveErrors: 2, inconclusive: 0, passes: 0, measurements: [m('Error', -50), m('Error', -20)] }];
    const d = decide(
      canary({ status: running(1, { checks }) }),
      observed({ deployment: testing(), canaryReplicaSets: [rs(NEXT, 1, 1)], credentials: creds, checks: [prom], measurements: { errors: m('Pass', 10, '0.5') } }),
      at(10),
    );
    expect(d.status.phase).to.not.equal('RolledBack');
    expect(d.status.checks?.[0]).to.include({ passes: 1, consecutiveErrors: 0 });
  });
});

describe('decide(): a new template that already runs on every pod', () => {
  const everywhere = (over: Partial<ObservedDeployment> = {}) => testing({ paused: false, heldByUs: false, updatedReplicas: 9, replicas: 9, generationObserved: true, ...over });
  const waiting: CanaryStatus = { stableRevision: STABLE, stableVersion: '1.0.0', phase: 'Succeeded' };
  const cases: Array<{ name: string; status: CanaryStatus; d: ObservedDeployment; phase: string; actions: string[]; message?: string }> = [
    { name: 'is not canaried: the stable template is restored', status: waiting, d: everywhere(), phase: 'RolledBack', actions: ['RestoreStableTemplate'], message: 'restored the stable revision aaaaaaaaaa' },
    { name: 'is not canaried mid-canary either', status: running(1), d: everywhere(), phase: 'RolledBack', actions: ['DeleteCanaryReplicaSets', 'RestoreStableTemplate'] },
    { name: 'with the stable template unknown is held and explained', status: waiting, d: everywhere({ stableTemplateKnown: false }), phase: 'Paused', actions: ['HoldDeployment'], message: 'cannot be restored' },
    { name: 'already paused and unknown: nothing to write', status: waiting, d: everywhere({ stableTemplateKnown: false, paused: true }), phase: 'Paused', actions: [] },
    { name: 'half rolled out is canaried as usual', status: waiting, d: everywhere({ updatedReplicas: 4 }), phase: 'Progressing', actions: ['HoldDeployment', 'DeleteCanaryReplicaSets', 'EnsureCanaryReplicaSet'] },
    { name: 'a spec change not yet observed is canaried as usual', status: waiting, d: everywhere({ generationObserved: false }), phase: 'Progressing', actions: ['HoldDeployment', 'DeleteCanaryReplicaSets', 'EnsureCanaryReplicaSet'] },
  ];
  for (const tc of cases) {
    it(tc.name, () => {
      const d = decide(canary({ status: tc.status }), observed({ deployment: tc.d, canaryReplicaSets: tc.status.canaryRevision ? [rs(NEXT, 1, 1)] : [] }), at(0));
      expect(d.status.phase).to.equal(tc.phase);
      expect(types(d)).to.deep.equal(tc.actions);
      if (tc.phase !== 'Progressing') {
        expect(d.status.message).to.contain('already runs on all 9 pods');
        expect(cond(d, CONDITIONS.Ready)?.reason).to.equal(REASONS.UnverifiedRollout);
        expect(d.events.filter((e) => e.reason === REASONS.UnverifiedRollout)).to.have.length(1);
        expect(d.status.failedRevision).to.equal(undefined);
        const again = decide(canary({ status: d.status }), observed({ deployment: tc.d }), at(5));
        expect(again.events).to.deep.equal([]);
        expect(types(again).filter((t) => t !== 'DeleteCanaryReplicaSets')).to.deep.equal(tc.actions.filter((t) => t !== 'DeleteCanaryReplicaSets'));
      }
      if (tc.message) expect(d.status.message).to.contain(tc.message);
    });
  }

  it('a promote request accepts the held revision', () => {
    const d = decide(canary({ status: waiting, annotations: { [ANNOTATIONS.promote]: 'p1' } }), observed({ deployment: everywhere({ stableTemplateKnown: false, paused: true }) }), at(0));
    expect(action(d, 'PromoteDeployment')?.revision).to.equal(NEXT);
    expect(d.status.requests?.promote?.id).to.equal('p1');
  });
});

describe('decide(): a Deployment deleted and re-created is a new target', () => {
  const guarded: CanaryStatus = { stableRevision: STABLE, stableVersion: '1.0.0', phase: 'Succeeded', targetUID: 'uid-1', targetName: 'checkout' };
  it('records the uid it guards', () => {
    const d = decide(canary({ status: { stableRevision: STABLE, stableVersion: '1.0.0', phase: 'Waiting' } }), observed(), at(0));
    expect(d.status.targetUID).to.equal('uid-1');
    expect(d.status.targetName).to.equal('checkout');
  });

  const cases: Array<{ name: string; d: ObservedDeployment; ready: string; phase: string; trusted: boolean }> = [
    { name: 'with the verified template is guarded again', d: dep({ uid: 'uid-2', guardLabel: undefined, stableAnnotation: undefined }), ready: 'True', phase: 'Waiting', trusted: true },
    {
      name: 'with an unverified template is not adopted as stable',
      d: dep({ uid: 'uid-2', revision: NEXT, version: '1.1.0', guardLabel: undefined, stableAnnotation: undefined }),
      ready: 'False',
      phase: 'Paused',
      trusted: false,
    },
    {
      name: 'mid-rollout with an unverified template is guarded at once',
      d: dep({ uid: 'uid-2', revision: NEXT, version: '1.1.0', guardLabel: undefined, stableAnnotation: undefined, rolloutComplete: false, updatedReplicas: 3 }),
      ready: 'False',
      phase: 'Paused',
      trusted: false,
    },
    {
      name: 'with a copied label and stable annotation that were never verified',
      d: dep({ uid: 'uid-2', revision: NEXT, version: '1.1.0', stableAnnotation: NEXT }),
      ready: 'False',
      phase: 'Paused',
      trusted: false,
    },
  ];
  for (const tc of cases) {
    it(tc.name, () => {
      const d = decide(canary({ status: guarded }), observed({ deployment: tc.d }), at(0));
      // An unverified template is paused by the operator itself: its own writes skip the webhook.
      expect(d.actions).to.deep.equal([{ type: 'AdoptDeployment', stableRevision: STABLE }, ...(tc.trusted ? [] : [{ type: 'HoldDeployment' }])]);
      const e = d.events.find((x) => x.reason === REASONS.TargetRecreated);
      expect(e?.type).to.equal('Warning');
      expect(e?.message).to.contain('uid-1');
      expect(d.status.targetUID).to.equal('uid-2');
      expect(d.status.stableRevision).to.equal(STABLE);
      expect(d.status.phase).to.equal(tc.phase);
      expect(cond(d, CONDITIONS.Ready)?.status).to.equal(tc.ready);
      if (!tc.trusted) expect(d.status.message).to.contain(`revision ${NEXT} (version 1.1.0) was not verified`);
    });
  }

  it('then holds the unverified template that runs on every pod and says why', () => {
    const first = decide(canary({ status: guarded }), observed({ deployment: dep({ uid: 'uid-2', revision: NEXT, version: '1.1.0', guardLabel: undefined, stableAnnotation: undefined }) }), at(0));
    const next = decide(canary({ status: first.status }), observed({ deployment: dep({ uid: 'uid-2', revision: NEXT, version: '1.1.0', stableTemplateKnown: false }) }), at(1));
    expect(types(next)).to.deep.equal(['HoldDeployment']);
    expect(cond(next, CONDITIONS.Ready)?.reason).to.equal(REASONS.UnverifiedRollout);
  });

  it('a Canary pointed at another Deployment adopts it normally', () => {
    const d = decide(canary({ status: { ...guarded, targetName: 'old-name' } }), observed({ deployment: dep({ uid: 'uid-9', guardLabel: undefined, stableAnnotation: undefined }) }), at(0));
    expect(types(d)).to.include('AdoptDeployment');
    expect(cond(d, CONDITIONS.Ready)?.reason).to.equal(REASONS.Adopting);
    const labelled = decide(canary({ status: d.status }), observed({ deployment: dep({ uid: 'uid-9' }) }), at(1));
    expect(reasons(labelled)).to.deep.equal([REASONS.Adopted]);
  });
});

describe('decide(): a pass with nothing new writes nothing', () => {
  const cases: Array<{ name: string; status: CanaryStatus; rsets: ReturnType<typeof rs>[]; spec?: Partial<Canary['spec']>; says?: string }> = [
    { name: 'analysing in a pause', status: running(1, { stepStartedAt: iso(-30) }), rsets: [rs(NEXT, 1, 1)], says: 'until 2026-11-27T10:01:30Z' },
    { name: 'waiting for canary pods', status: running(1, { stepStartedAt: iso(-30), canaryPodsWaitingSince: iso(-30) }), rsets: [rs(NEXT, 1, 0)], says: 'deadline 2026-11-27T10:14:30Z' },
    { name: 'paused by spec.paused', status: running(1, { stepStartedAt: iso(-30) }), rsets: [rs(NEXT, 1, 1)], spec: { paused: true } },
  ];
  for (const tc of cases) {
    it(tc.name, () => {
      const o = observed({ deployment: testing(), canaryReplicaSets: tc.rsets });
      const first = decide(canary({ status: tc.status, ...(tc.spec ? { spec: tc.spec } : {}) }), o, at(0));
      const second = decide(canary({ status: first.status, ...(tc.spec ? { spec: tc.spec } : {}) }), o, at(5));
      expect(JSON.parse(JSON.stringify(second.status))).to.deep.equal(JSON.parse(JSON.stringify(first.status)));
      expect(first.status.message).to.not.match(/\d+s left/);
      if (tc.says) expect(first.status.message).to.contain(tc.says);
    });
  }
});

describe('decide(): a Deployment missing from a snapshot', () => {
  const cases: Array<{ name: string; extra: Partial<CanaryStatus>; deletes: boolean; since?: string }> = [
    { name: 'keeps the canary pods at first', extra: {}, deletes: false, since: iso(0) },
    { name: 'keeps them within a minute', extra: { targetMissingSince: iso(-30) }, deletes: false, since: iso(-30) },
    { name: 'removes them once it has been missing for over a minute', extra: { targetMissingSince: iso(-61) }, deletes: true, since: iso(-61) },
  ];
  for (const tc of cases) {
    it(tc.name, () => {
      const d = decide(canary({ status: running(1, { stepStartedAt: iso(-1000), ...tc.extra }) }), observed({ deployment: undefined, canaryReplicaSets: [rs(NEXT, 1, 1)] }), at(0));
      expect(d.status.phase).to.equal('Failed');
      expect(types(d).includes('DeleteCanaryReplicaSets')).to.equal(tc.deletes);
      expect(d.status.targetMissingSince).to.equal(tc.since);
      expect(d.requeueAfterMs).to.be.at.most(60_000);
    });
  }

  it('a Canary applied just before its Deployment looks again within seconds, a long-missing one once a minute', () => {
    const fresh = decide(canary(), observed({ deployment: undefined }), at(0));
    expect(fresh.status.phase).to.equal('Failed');
    expect(fresh.requeueAfterMs).to.equal(2_000);
    const later = decide(canary({ status: { ...fresh.status } }), observed({ deployment: undefined }), at(30));
    expect(later.requeueAfterMs).to.equal(15_000);
    const old = decide(canary({ status: { ...fresh.status } }), observed({ deployment: undefined }), at(600));
    expect(old.requeueAfterMs).to.equal(60_000);
  });

  it('back again, the canary goes on where it was', () => {
    const gone = decide(canary({ status: running(1, { stepStartedAt: iso(-60) }) }), observed({ deployment: undefined, canaryReplicaSets: [rs(NEXT, 1, 1)] }), at(0));
    const back = decide(canary({ status: gone.status }), observed({ deployment: testing(), canaryReplicaSets: [rs(NEXT, 1, 1)] }), at(2));
    expect(back.status.currentStep).to.equal(1);
    expect(back.status.targetMissingSince).to.equal(undefined);
    expect(types(back)).to.not.include('DeleteCanaryReplicaSets');
    expect(back.status.phase).to.equal('Progressing');
    expect(cond(back, CONDITIONS.Ready)?.reason).to.equal(REASONS.NewRevision);
  });
});

describe('decide(): the stable revision is never taken from a Deployment it did not verify', () => {
  it('a Deployment it guarded that lost its label is guarded again with the verified revision (a re-adoption that did not land)', () => {
    const status: CanaryStatus = { stableRevision: STABLE, stableVersion: '1.0.0', phase: 'Paused', targetUID: 'uid-2', targetName: 'checkout' };
    const d = decide(canary({ status }), observed({ deployment: dep({ uid: 'uid-2', revision: NEXT, version: '1.1.0', guardLabel: undefined, stableAnnotation: undefined, rolloutComplete: false }) }), at(0));
    expect(d.actions).to.deep.equal([{ type: 'AdoptDeployment', stableRevision: STABLE }, { type: 'HoldDeployment' }]);
    const paused = decide(canary({ status }), observed({ deployment: dep({ uid: 'uid-2', revision: NEXT, version: '1.1.0', guardLabel: undefined, stableAnnotation: undefined, paused: true }) }), at(0));
    expect(paused.actions, 'a paused Deployment is not paused again').to.deep.equal([{ type: 'AdoptDeployment', stableRevision: STABLE }]);
    expect(d.status.stableRevision).to.equal(STABLE);
    expect(d.status.message).to.contain(`revision ${NEXT} (version 1.1.0) was not verified`);
    expect(reasons(d)).to.not.include(REASONS.Adopted);
  });

  it('a stable annotation set to the revision under test by someone else is put back', () => {
    const d = decide(canary({ status: running(1) }), observed({ deployment: testing({ stableAnnotation: NEXT }), canaryReplicaSets: [rs(NEXT, 1, 1)] }), at(0));
    expect(types(d)).to.deep.equal(['AdoptDeployment', 'EnsureCanaryReplicaSet']);
    expect(action(d, 'AdoptDeployment')?.stableRevision).to.equal(STABLE);
    expect(d.status.phase).to.equal('Progressing');
    expect(d.events.find((e) => e.reason === REASONS.StableAnnotationRestored)?.type).to.equal('Warning');
  });
});

describe('decide(): a stable annotation written past the webhook', () => {
  const verified: CanaryStatus = { stableRevision: STABLE, stableVersion: '1.0.0', phase: 'Waiting', targetUID: 'uid-1', targetName: 'checkout' };
  const cases: Array<{ name: string; status: CanaryStatus; d: ObservedDeployment; actions: string[]; events: string[]; phase: string }> = [
    {
      name: 'template and annotation set together while idle: the verified revision is put back and the template held for a canary',
      status: verified,
      d: dep({ revision: NEXT, version: '1.1.0', stableAnnotation: NEXT, updatedReplicas: 2, rolloutComplete: false }),
      actions: ['AdoptDeployment', 'HoldDeployment', 'DeleteCanaryReplicaSets', 'EnsureCanaryReplicaSet'],
      events: [REASONS.StableAnnotationRestored, REASONS.NewRevision],
      phase: 'Progressing',
    },
    {
      name: 'only the annotation changed: put back, the stable template goes on',
      status: verified,
      d: dep({ stableAnnotation: NEXT }),
      actions: ['AdoptDeployment'],
      events: [REASONS.StableAnnotationRestored],
      phase: 'Waiting',
    },
  ];
  for (const tc of cases) {
    it(tc.name, () => {
      const d = decide(canary({ status: tc.status }), observed({ deployment: tc.d }), at(0));
      expect(types(d)).to.deep.equal(tc.actions);
      expect(action(d, 'AdoptDeployment')?.stableRevision).to.equal(STABLE);
      expect(reasons(d)).to.deep.equal(tc.events);
      expect(d.events[0]?.type).to.equal('Warning');
      expect(d.status.phase).to.equal(tc.phase);
      expect(d.status.stableRevision).to.equal(STABLE);
      expect(d.status.stableVersion).to.equal('1.0.0');
    });
  }

  it('the first adoption still takes the annotation of a Deployment guarded before the Canary had a status', () => {
    const d = decide(canary(), observed({ deployment: dep() }), at(0));
    expect(types(d)).to.not.include('AdoptDeployment');
    expect(d.status.stableRevision).to.equal(STABLE);
  });
});

describe('decide(): a canary ReplicaSet missing from a snapshot', () => {
  it('16 minutes into a 30m pause does not roll back; the ReplicaSet is ensured and the deadline starts now', () => {
    const c = canary({ spec: { steps: [{ setWeight: 10 }, { pause: { duration: '30m' } }] }, status: running(1, { stepStartedAt: iso(-1000) }) });
    const d = decide(c, observed({ deployment: testing(), canaryReplicaSets: [] }), at(0));
    expect(d.status.phase).to.equal('Progressing');
    expect(types(d)).to.deep.equal(['EnsureCanaryReplicaSet']);
    expect(d.status.canaryPodsWaitingSince).to.equal(iso(0));
  });
});

describe('recordMeasurement: a rate-limited call', () => {
  const at = (verdict: Measurement['verdict'], value?: string): Measurement => ({ verdict, time: '2026-11-27T10:00:00.000Z', ...(value !== undefined ? { value } : {}) });

  it('neither counts as an error nor clears the errors before it', () => {
    let c = emptyCheckStatus('errors');
    c = recordMeasurement(c, at('Error'));
    c = recordMeasurement(c, at('Error'));
    c = recordMeasurement(c, at('Inconclusive', RATE_LIMITED_VALUE));
    expect(c.consecutiveErrors).to.equal(2);
    expect(c.errors).to.equal(2);
    expect(c.inconclusive).to.equal(1);
    c = recordMeasurement(c, at('Error'));
    expect(c.consecutiveErrors, 'the third error in a row still reaches a limit of 3').to.equal(3);
  });

  it('any other Inconclusive measurement ends a run of errors', () => {
    let c = emptyCheckStatus('errors');
    c = recordMeasurement(c, at('Error'));
    c = recordMeasurement(c, at('Inconclusive', 'No Data'));
    expect(c.consecutiveErrors).to.equal(0);
  });
});

describe('decide(): the Reconciling condition kstatus reads follows Progressing', () => {
  const reconciling = (d: Decision) => cond(d, 'Reconciling');
  const same = (d: Decision) => {
    const p = cond(d, CONDITIONS.Progressing)!;
    const r = reconciling(d)!;
    expect({ status: r.status, reason: r.reason, message: r.message, observedGeneration: r.observedGeneration }).to.deep.equal({
      status: p.status,
      reason: p.reason,
      message: p.message,
      observedGeneration: 1,
    });
  };

  it('False on adoption (nothing to verify)', () => {
    const d = decide(canary(), observed({ deployment: dep({ guardLabel: undefined, stableAnnotation: undefined }) }), at(0));
    expect(reconciling(d)?.status).to.equal('False');
    same(d);
  });

  it('True when a new revision is held and its canary starts', () => {
    const idle = decide(canary(), observed({ deployment: dep({ guardLabel: undefined, stableAnnotation: undefined }) }), at(0));
    const d = decide(canary({ status: idle.status }), observed({ deployment: testing() }), at(1));
    expect(reconciling(d)?.status).to.equal('True');
    expect(reconciling(d)?.reason).to.equal(REASONS.WaitingForCanaryPods);
    same(d);
  });

  it('added to a status written without it (a canary in analysis), and kept on later passes', () => {
    const d = decide(canary({ status: running(1, { stepStartedAt: iso(-30) }) }), observed({ deployment: testing(), canaryReplicaSets: [rs(NEXT, 1, 1)] }), at(0));
    expect(reconciling(d)?.status).to.equal('True');
    same(d);
    const again = decide(canary({ status: d.status }), observed({ deployment: testing(), canaryReplicaSets: [rs(NEXT, 1, 1)] }), at(1));
    expect(again.status.conditions).to.deep.equal(d.status.conditions);
  });

  it('False after a rollback, with the rollback as its reason', () => {
    const c = canary({ status: running(1, { stepStartedAt: iso(-60) }) });
    const d = decide(c, observed({ deployment: testing(), canaryReplicaSets: [rs(NEXT, 1, 1)], measurements: { errors: { verdict: 'Fail', time: iso(0), value: 'Alert' } } }), at(10));
    expect(d.status.phase).to.equal('RolledBack');
    expect(reconciling(d)?.status).to.equal('False');
    same(d);
  });

  it('False while Stalled is True (kstatus reads the first True of the two), and back to Progressing once Stalled is gone', () => {
    const stalled = { type: CONDITIONS.Stalled, status: 'True' as const, reason: REASONS.ActionFailed, message: 'EnsureCanaryReplicaSet failed (HTTP 422)', lastTransitionTime: iso(-5) };
    const base = running(1, { stepStartedAt: iso(-30) });
    const d = decide(canary({ status: { ...base, conditions: [...base.conditions!, stalled] } }), observed({ deployment: testing(), canaryReplicaSets: [rs(NEXT, 1, 1)] }), at(0));
    expect(cond(d, CONDITIONS.Progressing)?.status).to.equal('True');
    expect(reconciling(d)).to.include({ status: 'False', reason: REASONS.ActionFailed, message: 'EnsureCanaryReplicaSet failed (HTTP 422)' });
    const cleared = decide(canary({ status: { ...d.status, conditions: d.status.conditions!.filter((c) => c.type !== CONDITIONS.Stalled) } }), observed({ deployment: testing(), canaryReplicaSets: [rs(NEXT, 1, 1)] }), at(1));
    expect(reconciling(cleared)?.status).to.equal('True');
    same(cleared);
  });
});

describe('decide(): baseline pods (spec.analysis.baseline)', () => {
  const withBaseline = (status?: CanaryStatus, annotations?: Record<string, string>): Canary => {
    const c = canary({ ...(status ? { status } : {}), ...(annotations ? { annotations } : {}) });
    c.spec.analysis = { ...c.spec.analysis, baseline: true };
    return c;
  };
  const baseRs = (revision: string, replicas: number, ready: number) => ({ name: `checkout-baseline-${revision}`, revision, role: 'baseline' as const, replicas, readyReplicas: ready });
  const failing = [{ name: 'errors', failures: 0, errors: 0, consecutiveErrors: 0, inconclusive: 0, passes: 1, measurements: [m('Pass', -40, 'OK')] }];

  const cases: Array<{
    name: string;
    c: Canary;
    o: Observed;
    baseline?: { revision: string; stableRevision: string; replicas: number } | 'none';
    canaryReplicas?: number;
    delete?: { keepRevision?: string } | 'none';
    status?: Partial<CanaryStatus>;
    phase?: string;
    message?: RegExp;
  }> = [
    {
      name: 'a new revision starts baseline pods of the stable template with the canary pods, as many',
      c: withBaseline({ stableRevision: STABLE, phase: 'Waiting' }),
      o: observed({ deployment: testing() }),
      baseline: { revision: NEXT, stableRevision: STABLE, replicas: 1 },
      canaryReplicas: 1,
      status: { baselineReplicas: 1, baselineReadyReplicas: 0 },
      phase: 'Progressing',
    },
    {
      name: 'analysis waits for the baseline pods too',
      c: withBaseline({ ...running(0), analysisStartedAt: undefined, stepStartedAt: iso(-30) }),
      o: observed({ deployment: testing(), canaryReplicaSets: [rs(NEXT, 1, 1), baseRs(NEXT, 1, 0)] }),
      baseline: { revision: NEXT, stableRevision: STABLE, replicas: 1 },
      delete: 'none',
      status: { analysisStartedAt: undefined, baselineReplicas: 1, baselineReadyReplicas: 0 },
      message: /waiting for canary pods \(1\/1 Ready, baseline pods 0\/1 Ready/,
    },
    {
      name: 'analysis starts when canary and baseline pods are Ready',
      c: withBaseline({ ...running(0), analysisStartedAt: undefined, checks: [], stepStartedAt: iso(-5) }),
      o: observed({ deployment: testing(), canaryReplicaSets: [rs(NEXT, 1, 1), baseRs(NEXT, 1, 1)] }),
      baseline: { revision: NEXT, stableRevision: STABLE, replicas: 1 },
      delete: 'none',
      status: { analysisStartedAt: iso(0), baselineReplicas: 1, baselineReadyReplicas: 1, currentStep: 1 },
    },
    {
      name: 'the baseline scales with the canary at a higher weight',
      c: withBaseline(running(2, { stepStartedAt: iso(-5) })),
      o: observed({ deployment: testing(), canaryReplicaSets: [rs(NEXT, 1, 1), baseRs(NEXT, 1, 1)] }),
      baseline: { revision: NEXT, stableRevision: STABLE, replicas: 9 },
      canaryReplicas: 9,
      status: { baselineReplicas: 9, baselineReadyReplicas: 1 },
    },
    {
      name: 'without the stable template the baseline cannot start and the canary waits',
      c: withBaseline({ ...running(0), analysisStartedAt: undefined, stepStartedAt: iso(-30) }),
      o: observed({ deployment: testing({ stableTemplateKnown: false }), canaryReplicaSets: [rs(NEXT, 1, 1)] }),
      baseline: 'none',
      status: { analysisStartedAt: undefined },
      message: /baseline pods cannot start: the stable revision's template \(aaaaaaaaaa\) was not found/,
    },
    {
      name: 'a failed check rolls back: canary and baseline ReplicaSets deleted, none ensured',
      c: withBaseline(running(1, { checks: failing })),
      o: observed({ deployment: testing(), canaryReplicaSets: [rs(NEXT, 1, 1), baseRs(NEXT, 1, 1)], measurements: { errors: m('Fail', 0, 'Alert') } }),
      baseline: 'none',
      delete: {},
      status: { baselineReplicas: 0, baselineReadyReplicas: 0, canaryReplicas: 0 },
      phase: 'RolledBack',
    },
    {
      name: 'an abort deletes the baseline with the canary pods',
      c: withBaseline(running(1, { baselineReplicas: 1, baselineReadyReplicas: 1 }), { [ANNOTATIONS.abort]: 'stop-1' }),
      o: observed({ deployment: testing(), canaryReplicaSets: [rs(NEXT, 1, 1), baseRs(NEXT, 1, 1)] }),
      baseline: 'none',
      delete: {},
      status: { baselineReplicas: 0, baselineReadyReplicas: 0 },
      phase: 'RolledBack',
    },
    {
      name: 'the promotion, once rolled out, deletes the baseline left behind',
      c: withBaseline(
        running(4, {
          promotionStartedAt: iso(-10),
          baselineReplicas: 9,
          conditions: [{ type: CONDITIONS.Progressing, status: 'True', reason: REASONS.Promoting, message: '', lastTransitionTime: iso(-10) }],
          phase: 'Promoting',
        }),
      ),
      o: observed({ deployment: dep({ revision: NEXT, version: '1.1.0', stableAnnotation: NEXT }), canaryReplicaSets: [baseRs(NEXT, 9, 9)] }),
      baseline: 'none',
      delete: {},
      status: { baselineReplicas: 0 },
      phase: 'Succeeded',
    },
    {
      name: 'the baseline of an earlier revision is deleted, that of the revision under test kept',
      c: withBaseline(running(1)),
      o: observed({ deployment: testing(), canaryReplicaSets: [rs(NEXT, 1, 1), baseRs(NEXT, 1, 1), baseRs(NEWER, 1, 1)] }),
      baseline: { revision: NEXT, stableRevision: STABLE, replicas: 1 },
      delete: { keepRevision: NEXT },
    },
    {
      name: 'without spec.analysis.baseline no baseline pods and no baseline status',
      c: canary({ status: { stableRevision: STABLE, phase: 'Waiting' } }),
      o: observed({ deployment: testing() }),
      baseline: 'none',
      status: { baselineReplicas: undefined },
    },
  ];
  for (const tc of cases) {
    it(tc.name, () => {
      const d = decide(tc.c, tc.o, at(0));
      const base = action(d, 'EnsureBaselineReplicaSet');
      if (tc.baseline === 'none') expect(base).to.equal(undefined);
      else if (tc.baseline) expect(base).to.deep.equal({ type: 'EnsureBaselineReplicaSet', ...tc.baseline });
      if (tc.canaryReplicas !== undefined) expect(action(d, 'EnsureCanaryReplicaSet')?.replicas).to.equal(tc.canaryReplicas);
      const del = action(d, 'DeleteCanaryReplicaSets');
      if (tc.delete === 'none') expect(del).to.equal(undefined);
      else if (tc.delete) expect(del).to.deep.equal({ type: 'DeleteCanaryReplicaSets', ...tc.delete });
      for (const [k, v] of Object.entries(tc.status ?? {})) expect(d.status[k as keyof CanaryStatus], k).to.deep.equal(v);
      if (tc.phase) expect(d.status.phase).to.equal(tc.phase);
      if (tc.message) expect(d.status.message).to.match(tc.message);
    });
  }
});
