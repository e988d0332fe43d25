// decide() with a push's hint: the hinted check is measured now instead of at its next slot,
// and the verdict still comes only from the measurement.
import { expect } from 'chai';
import { CONDITIONS, FINALIZER, REASONS } from '../../src/api/constants.js';
import type { Canary, CanaryStatus, Measurement } from '../../src/api/types.js';
import type { ResolvedCheck } from '../../src/analysis/provider.js';
import { decide, type Action, type Decision, type Observed, type ObservedDeployment } from '../../src/canary/decide.js';

const T0 = Date.parse('2026-12-05T10:00:00.000Z');
const at = (s: number): number => T0 + s * 1000;
const iso = (s: number): string => new Date(at(s)).toISOString();
const STABLE = 'aaaaaaaaaa';
const NEXT = 'bbbbbbbbbb';

const canary = (status: CanaryStatus): Canary => ({
  apiVersion: 'deployer.dev/v1alpha1',
  kind: 'Canary',
  metadata: { name: 'checkout', namespace: 'shop', uid: 'u1', generation: 1, resourceVersion: '10', finalizers: [FINALIZER] },
  spec: { targetRef: { name: 'checkout' }, steps: [{ setWeight: 10 }, { pause: {} }], analysis: { interval: '1m', failureLimit: 0, checks: [{ name: 'errors', datadogMonitor: { id: 101 } }] } },
  status,
});

const deployment: ObservedDeployment = {
  name: 'checkout', uid: 'uid-1', strategy: 'RollingUpdate', updatedReplicas: 0, generationObserved: true, revision: NEXT, version: '1.1.0', paused: true,
  replicas: 9, guardLabel: 'checkout', stableAnnotation: STABLE, heldByUs: true, rolloutComplete: true, rolloutMessage: '', stableTemplateKnown: true,
};
const CHECK: ResolvedCheck = {
  kind: 'datadogMonitor', name: 'errors', monitor: { id: 101 }, group: 'version:1.1.0',
  verdicts: { OK: 'Pass', Alert: 'Fail', Warn: 'Inconclusive', 'No Data': 'Inconclusive', Skipped: 'Inconclusive', Ignored: 'Inconclusive', Unknown: 'Inconclusive' },
  intervalMs: 60_000,
};
const observed = (over: Partial<Observed> = {}): Observed => ({
  specProblems: [], deployment, canaryReplicaSets: [{ name: `checkout-canary-${NEXT}`, revision: NEXT, replicas: 1, readyReplicas: 1 }],
  credentials: { ok: true }, checks: [CHECK], measurements: {}, ...over,
});
/** A canary paused at step 1 whose check passed 20 s ago: the next slot is 40 s away. */
const status: CanaryStatus = {
  stableRevision: STABLE, stableVersion: '1.0.0', canaryRevision: NEXT, canaryVersion: '1.1.0', currentStep: 1,
  startedAt: iso(-600), stepStartedAt: iso(-300), analysisStartedAt: iso(-500),
  checks: [{ name: 'errors', failures: 0, errors: 0, consecutiveErrors: 0, inconclusive: 0, passes: 1, measurements: [{ verdict: 'Pass', value: 'OK', time: iso(-20) }] }],
  conditions: [{ type: CONDITIONS.Progressing, status: 'True', reason: REASONS.Analysing, message: '', lastTransitionTime: iso(-600) }],
  phase: 'Paused',
};
const measure = (d: Decision): Extract<Action, { type: 'Measure' }> | undefined => d.actions.find((a): a is Extract<Action, { type: 'Measure' }> => a.type === 'Measure');
const fresh = (verdict: Measurement['verdict'], value: string, s: number): Record<string, Measurement> => ({ errors: { verdict, value, time: iso(s), threshold: 'OK passes', message: 'monitor 101' } });

describe('decide() with a push hint', () => {
  it('without a hint, waits for the next slot', () => {
    const d = decide(canary(status), observed(), at(0));
    expect(measure(d)).to.equal(undefined);
    expect(d.requeueAfterMs).to.equal(40_000);
  });

  it('a hint after the last measurement asks for a measurement now', () => {
    const d = decide(canary(status), observed({ hints: { errors: at(-1) } }), at(0));
    expect(measure(d)?.checks).to.deep.equal(['errors']);
    expect(d.requeueAfterMs).to.be.at.most(5_000);
    expect(d.status.phase).to.equal('Paused');
  });

  it('the measurement taken after the hint decides: Alert rolls back', () => {
    const d = decide(canary(status), observed({ hints: { errors: at(-1) }, measurements: fresh('Fail', 'Alert', 0) }), at(0));
    expect(d.status.phase).to.equal('RolledBack');
    expect(d.actions.map((a) => a.type)).to.include('DeleteCanaryReplicaSets');
  });

  it('the measurement taken after the hint decides: OK keeps the canary, next slot one interval later', () => {
    const d = decide(canary(status), observed({ hints: { errors: at(-1) }, measurements: fresh('Pass', 'OK', 0) }), at(0));
    expect(d.status.phase).to.equal('Paused');
    expect(d.status.checks?.[0]?.passes).to.equal(2);
    expect(d.requeueAfterMs).to.equal(60_000);
  });

  it('a hint already answered by a later measurement asks for nothing', () => {
    const answered = { ...status, checks: [{ ...status.checks![0]!, measurements: [{ verdict: 'Pass' as const, value: 'OK', time: iso(-5) }] }] };
    const d = decide(canary(answered), observed({ hints: { errors: at(-6) } }), at(0));
    expect(measure(d)).to.equal(undefined);
    expect(d.requeueAfterMs).to.equal(55_000);
  });

  it('a hint for a check the canary does not have is ignored', () => {
    const d = decide(canary(status), observed({ hints: { latency: at(-1) } }), at(0));
    expect(measure(d)).to.equal(undefined);
  });
});
