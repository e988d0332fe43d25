// The fast subset of the fault catalogue (npm run chaos runs all of it, repeated): a couple of
// faults that leave the shared control plane alone, each once over a small fleet of Canaries on
// the real control plane, with the four counters asserted to be zero.
import { expect } from 'chai';
import { clusterDir, kubeconfigPath } from '../support/cluster.js';
import { CATALOGUE } from '../chaos/catalogue.js';
import { runFault } from '../chaos/harness.js';

/**
 * The leader killed mid-analysis, the API refusing the operator's status writes, and Datadog
 * answering 5xx, its keys rotated and its Secret deleted mid-analysis.
 */
const FAST = [
  'operator SIGKILL (paused)',
  'Canary status writes refused (admission policy)',
  'Datadog 5xx',
  'Datadog keys rotated mid-analysis',
  'Datadog Secret deleted mid-analysis',
];

describe('fault catalogue, fast subset (real control plane, two operator replicas)', function () {
  this.timeout(240_000);

  for (const name of FAST) {
    it(`${name}: no false promotion, no lost revision, no duplicate canary ReplicaSet, nothing held without explanation`, async () => {
      const fault = CATALOGUE.find((f) => f.name === name);
      expect(fault, `${name} is in the catalogue`).to.not.equal(undefined);
      expect(fault!.fast).to.equal(true);
      const seed = Math.floor(Math.random() * 2 ** 31);
      const lines: string[] = [];
      const res = await runFault(fault!, {
        kubeconfig: process.env.KUBECONFIG ?? kubeconfigPath,
        clusterDir,
        seed,
        fleet: 3,
        warmupMs: 4_000,
        settleTimeoutMs: 120_000,
        log: (m) => void lines.push(m),
      });
      const why = `seed ${seed} (replay: npm run chaos -- --only "${name}" --seed ${seed} --repeats 1 --fleet 3)\n${res.counters.violations.map((v) => `${v.counter} ${v.deployment}: ${v.detail}`).join('\n')}\n${lines.slice(-20).join('\n')}`;
      expect(res.revisionsShipped, why).to.be.greaterThan(0);
      expect(
        { falsePromotions: res.counters.falsePromotions, lostRevisions: res.counters.lostRevisions, duplicateCanaryReplicaSets: res.counters.duplicateCanaryReplicaSets, heldWithoutExplanation: res.counters.heldWithoutExplanation },
        why,
      ).to.deep.equal({ falsePromotions: 0, lostRevisions: 0, duplicateCanaryReplicaSets: 0, heldWithoutExplanation: 0 });
      expect(res.settleMs, `settled after healing; ${why}`).to.be.a('number');
    });
  }
});
