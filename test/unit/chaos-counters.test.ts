// The fault catalogue's four counters count what they are meant to: each one is shown a recorded
// violation (so a zero in the catalogue's table means something) and the same run without it.
import { expect } from 'chai';
import {
  countDuplicateCanaryReplicaSets,
  countFalsePromotions,
  countHeldWithoutExplanation,
  countLostRevisions,
  countViolations,
  type CanaryObservation,
  type ChaosObservations,
  type DeploymentObservation,
} from '../chaos/counters.js';

const T = Date.parse('2026-12-05T10:00:00Z');
const dep = (over: Partial<DeploymentObservation>): DeploymentObservation => ({ time: T, deployment: 'a', revision: 'r1', version: '1.0.0', paused: false, rolledOut: true, stableRevision: 'r1', ...over });
const can = (over: Partial<CanaryObservation>): CanaryObservation => ({ time: T, canary: 'a', phase: 'Waiting', message: 'waiting', stableRevision: 'r1', ...over });

/** A run in which a, at 1.0.0 (r1), got 2.0.0 (r2, good, promoted) and then 3.0.0 (r3, bad, rolled back). */
function cleanRun(): ChaosObservations {
  return {
    initialVersions: { a: '1.0.0' },
    badVersions: ['3.0.0'],
    deployments: [
      dep({}),
      dep({ time: T + 1_000, revision: 'r2', version: '2.0.0', paused: true, rolledOut: false }),
      dep({ time: T + 9_000, revision: 'r2', version: '2.0.0', rolledOut: true, stableRevision: 'r2' }),
      dep({ time: T + 12_000, revision: 'r3', version: '3.0.0', paused: true, rolledOut: false, stableRevision: 'r2' }),
    ],
    replicaSets: [
      { time: T + 1_500, deployment: 'a', uid: 'u2', name: 'a-canary-r2', revision: 'r2', live: true },
      { time: T + 10_000, deployment: 'a', uid: 'u2', name: 'a-canary-r2', revision: 'r2', live: false },
      { time: T + 12_500, deployment: 'a', uid: 'u3', name: 'a-canary-r3', revision: 'r3', live: true },
      { time: T + 15_000, deployment: 'a', uid: 'u3', name: 'a-canary-r3', revision: 'r3', live: false },
    ],
    canaries: [
      can({}),
      can({ time: T + 1_200, phase: 'Progressing', canaryRevision: 'r2', canaryVersion: '2.0.0' }),
      can({ time: T + 9_500, phase: 'Succeeded', canaryRevision: 'r2', canaryVersion: '2.0.0', stableRevision: 'r2' }),
      can({ time: T + 12_200, phase: 'Progressing', canaryRevision: 'r3', canaryVersion: '3.0.0', stableRevision: 'r2' }),
      can({ time: T + 15_000, phase: 'RolledBack', canaryRevision: 'r3', canaryVersion: '3.0.0', failedRevision: 'r3', stableRevision: 'r2', message: 'check errors failed' }),
    ],
    datadog: [
      { time: T + 4_000, status: 200 },
      { time: T + 14_000, status: 200 },
    ],
    final: {
      deployments: [dep({ time: T + 20_000, revision: 'r3', version: '3.0.0', paused: true, rolledOut: false, stableRevision: 'r2' })],
      canaries: [can({ time: T + 20_000, phase: 'RolledBack', canaryRevision: 'r3', canaryVersion: '3.0.0', failedRevision: 'r3', stableRevision: 'r2', message: 'check errors failed' })],
    },
  };
}

describe('fault catalogue counters', () => {
  it('a run where every revision was decided properly counts nothing', () => {
    const c = countViolations(cleanRun());
    expect(c.violations).to.deep.equal([]);
    expect([c.falsePromotions, c.lostRevisions, c.duplicateCanaryReplicaSets, c.heldWithoutExplanation]).to.deep.equal([0, 0, 0, 0]);
  });

  describe('false promotions', () => {
    it('counts a bad version that reached all pods', () => {
      const o = cleanRun();
      o.deployments.push(dep({ time: T + 16_000, revision: 'r3', version: '3.0.0', rolledOut: true, stableRevision: 'r3' }));
      const v = countFalsePromotions(o);
      expect(v).to.have.length(1);
      expect(v[0]!.detail).to.match(/version 3\.0\.0, whose monitor was Alert, reached all pods/);
    });

    it('counts a good version that reached all pods while Datadog never answered since its canary started', () => {
      const o = cleanRun();
      o.datadog = [{ time: T + 500, status: 200 }, { time: T + 4_000, status: 503 }];
      const v = countFalsePromotions(o);
      expect(v).to.have.length(1);
      expect(v[0]!.detail).to.match(/2\.0\.0 .* Datadog never answered/);
    });

    it('counts a good version promoted while every 200 Datadog sent was an injected fault (garbage)', () => {
      const o = cleanRun();
      o.datadog = [{ time: T + 500, status: 200 }, { time: T + 4_000, status: 200, fault: true }];
      const v = countFalsePromotions(o);
      expect(v).to.have.length(1);
      expect(v[0]!.detail).to.match(/2\.0\.0 .* Datadog never answered/);
    });

    it('counts a version that reached all pods without any canary', () => {
      const o = cleanRun();
      o.canaries = o.canaries.filter((c) => c.canaryVersion !== '2.0.0');
      expect(countFalsePromotions(o)).to.have.length(1);
    });

    it('does not count the stable template put back, nor the same promotion seen twice', () => {
      const o = cleanRun();
      o.deployments.push(dep({ time: T + 11_000, revision: 'r2', version: '2.0.0', rolledOut: true, stableRevision: 'r2' }));
      o.deployments.push(dep({ time: T + 30_000, revision: 'r1', version: '1.0.0', rolledOut: true, stableRevision: 'r1' }));
      expect(countFalsePromotions(o)).to.deep.equal([]);
    });
  });

  describe('lost revisions', () => {
    it('counts a held revision whose Canary is still analysing at the end', () => {
      const o = cleanRun();
      o.final.canaries = [can({ time: T + 20_000, phase: 'Progressing', canaryRevision: 'r3', canaryVersion: '3.0.0', message: 'step 1/4' })];
      const v = countLostRevisions(o);
      expect(v).to.have.length(1);
      expect(v[0]!.detail).to.match(/revision r3 \(3\.0\.0\) undecided/);
    });

    it('counts a rollback whose status names another revision', () => {
      const o = cleanRun();
      o.final.canaries = [can({ time: T + 20_000, phase: 'RolledBack', failedRevision: 'r9', message: 'rolled back' })];
      expect(countLostRevisions(o)).to.have.length(1);
    });

    it('counts a promoted revision that never reached all pods', () => {
      const o = cleanRun();
      o.final.deployments = [dep({ time: T + 20_000, revision: 'r2', version: '2.0.0', rolledOut: false, stableRevision: 'r2' })];
      o.final.canaries = [can({ time: T + 20_000, phase: 'Succeeded', canaryRevision: 'r2', stableRevision: 'r2' })];
      expect(countLostRevisions(o)).to.have.length(1);
    });
  });

  describe('duplicate canary ReplicaSets', () => {
    it('counts two live canary ReplicaSets of a Deployment at once, once per episode', () => {
      const o = cleanRun();
      o.replicaSets = [
        { time: T + 1_000, deployment: 'a', uid: 'u2', name: 'a-canary-r2', revision: 'r2', live: true },
        { time: T + 2_000, deployment: 'a', uid: 'u3', name: 'a-canary-r3', revision: 'r3', live: true },
        { time: T + 2_100, deployment: 'a', uid: 'u3', name: 'a-canary-r3', revision: 'r3', live: true },
        { time: T + 3_000, deployment: 'a', uid: 'u2', name: 'a-canary-r2', revision: 'r2', live: false },
        { time: T + 4_000, deployment: 'b', uid: 'u4', name: 'b-canary-r4', revision: 'r4', live: true },
      ];
      const v = countDuplicateCanaryReplicaSets(o);
      expect(v).to.have.length(1);
      expect(v[0]!.detail).to.match(/2 canary ReplicaSets .*a-canary-r2 \(r2\), a-canary-r3 \(r3\)/);
    });

    it('counts a re-created ReplicaSet of the same revision while the first is still live', () => {
      const o = cleanRun();
      o.replicaSets = [
        { time: T + 1_000, deployment: 'a', uid: 'u2', name: 'a-canary-r2', revision: 'r2', live: true },
        { time: T + 1_500, deployment: 'a', uid: 'u2b', name: 'a-canary-r2-x', revision: 'r2', live: true },
      ];
      expect(countDuplicateCanaryReplicaSets(o)).to.have.length(1);
    });

    it('does not count one replacing another after it is gone', () => {
      expect(countDuplicateCanaryReplicaSets(cleanRun())).to.deep.equal([]);
    });
  });

  describe('held without explanation', () => {
    it('counts a paused Deployment whose Canary says it succeeded', () => {
      const o = cleanRun();
      o.final.canaries = [can({ time: T + 20_000, phase: 'Succeeded', canaryRevision: 'r2', stableRevision: 'r2', message: 'promoted' })];
      const v = countHeldWithoutExplanation(o);
      expect(v).to.have.length(1);
      expect(v[0]!.detail).to.match(/paused at revision r3 \(3\.0\.0\); Canary phase=Succeeded/);
    });

    it('counts a paused Deployment without a Canary', () => {
      const o = cleanRun();
      o.final.canaries = [];
      expect(countHeldWithoutExplanation(o)).to.have.length(1);
    });

    it('a Stalled condition explains a held Deployment', () => {
      const o = cleanRun();
      o.final.canaries = [can({ time: T + 20_000, phase: 'Progressing', canaryRevision: 'r2', stalled: 'the API refused: denied by policy' })];
      expect(countHeldWithoutExplanation(o)).to.deep.equal([]);
    });
  });
});
