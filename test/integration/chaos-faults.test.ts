// The Datadog and workload faults of the chaos catalogue (test/chaos/faults-datadog.ts,
// faults-workload.ts), each injected on one canary in analysis on the real control plane, with the
// operator in-process: no stable pod is touched, no revision reaches the Deployment's pods without
// passing, never two canary ReplicaSets at once, and the status says what happened. What each
// run saw (phases, messages, Events) is written to .cluster/logs/chaos-faults-<namespace>.log.
import { expect } from 'chai';
import { appendFileSync, mkdirSync } from 'node:fs';
import type { Canary } from '../../src/api/types.js';
import { paths } from '../../src/kube/raw-client.js';
import { datadogFaultsFor } from '../chaos/faults-datadog.js';
import { workloadFaultsFor } from '../chaos/faults-workload.js';
import type { ChaosContext, Fault } from '../chaos/fault.js';
import { clusterDir, eventually, kubeconfigPath, repoRoot } from '../support/cluster.js';
import { World, versionMonitor, type Pod } from '../support/world.js';

const TIMEOUT_MS = 2_000;
const STEPS = [{ setWeight: 34 }, { pause: { duration: '5s' } }];
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const byName = (faults: Fault[], name: string): Fault => {
  const f = faults.find((x) => x.name === name);
  if (!f) throw new Error(`no fault ${name}`);
  return f;
};

/** What a run saw, sampled every 100 ms while the fault lasted and until the canary settled. */
interface Seen {
  phases: Set<string>;
  messages: string[];
  /** Most canary ReplicaSets alive at once. */
  maxCanaryReplicaSets: number;
  /** Pods of the Deployment's own ReplicaSets that ran the new version before the canary was promoting. */
  earlyNewPods: string[];
  stop: () => Promise<void>;
}

function watch(w: World, name: string, newImage: string): Seen {
  const seen: Seen = { phases: new Set(), messages: [], maxCanaryReplicaSets: 0, earlyNewPods: [], stop: async () => undefined };
  let on = true;
  let promoting = false;
  const done = (async () => {
    while (on) {
      try {
        const c = await w.get(name);
        const phase = c.status?.phase ?? '';
        seen.phases.add(phase);
        const m = `${phase}: ${c.status?.message ?? ''}`;
        if (seen.messages[seen.messages.length - 1] !== m) seen.messages.push(m);
        const rss = (await w.replicaSets(`deployer.dev/canary-of=${name}`)).filter((r) => !r.metadata.deletionTimestamp);
        seen.maxCanaryReplicaSets = Math.max(seen.maxCanaryReplicaSets, rss.length);
        if (['Promoting', 'Succeeded'].includes(phase)) promoting = true;
        if (!promoting) {
          const pods = (await w.pods(`app=${name},!deployer.dev/role`)) as Array<Pod & { spec?: { containers?: Array<{ image: string }> } }>;
          for (const p of pods) if (p.spec?.containers?.[0]?.image === newImage && !seen.earlyNewPods.includes(p.metadata.name)) seen.earlyNewPods.push(p.metadata.name);
        }
      } catch {
        // the Deployment or Canary may be missing for a moment
      }
      await sleep(100);
    }
  })();
  seen.stop = async () => {
    on = false;
    await done;
  };
  return seen;
}

describe('Chaos catalogue: Datadog and workload faults on one canary', function () {
  this.timeout(240_000);
  let w: World;
  let n = 0;
  const datadog = datadogFaultsFor({ timeoutMs: TIMEOUT_MS });
  const workload = workloadFaultsFor();
  const logFile = (): string => `${repoRoot}/.cluster/logs/chaos-faults-${w.ns}.log`;
  const note = (text: string): void => appendFileSync(logFile(), `${text}\n`);

  before(async () => {
    w = await World.create('chaosdd');
    mkdirSync(`${repoRoot}/.cluster/logs`, { recursive: true });
    w.dd.upsertMonitor(versionMonitor(101, 'web'));
    await w.datadogSecret();
    await w.startOperator({ datadogTimeoutMs: TIMEOUT_MS });
  });
  after(async () => w.teardown());

  const ctxFor = (deployments: string[]): ChaosContext => {
    let seed = 12345 + n;
    return {
      kubeconfig: process.env.KUBECONFIG ?? kubeconfigPath,
      clusterDir,
      namespace: w.ns,
      client: w.client,
      datadog: w.dd,
      deployments,
      random: () => {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        return seed / 2 ** 31;
      },
      operators: {
        running: [0],
        kill: () => Promise.reject(new Error('not in this test')),
        start: () => Promise.reject(new Error('not in this test')),
        leader: () => Promise.resolve(0),
        freeze: () => Promise.reject(new Error('not in this test')),
        thaw: () => Promise.reject(new Error('not in this test')),
      },
      log: (m) => note(`  log: ${m}`),
      // These faults never use the apiserver proxy or freeze operators (the harness provides them).
      proxy: undefined as unknown as ChaosContext['proxy'],
      badVersions: [],
      waitForCanary: async (pred, what, timeoutMs) => {
        const c = await eventually(async () => {
          for (const d of deployments) {
            const got = await w.get(d);
            if (pred(got)) return got;
          }
          throw new Error(`no Canary ${what} yet`);
        }, { timeoutMs: timeoutMs ?? 60_000, intervalMs: 200 });
        return c.metadata.name ?? '';
      },
    };
  };

  /**
   * Given a Deployment with a Canary running a new revision in analysis, the fault strikes for
   * holdMs, heals, and the canary settles. Returns the settled Canary and what was seen.
   */
  async function strike(fault: Fault, opts: { holdMs: number; bad?: boolean; replicas?: number; canaries?: number; pause?: string; early?: boolean; settledPhases?: string[] }): Promise<{ name: string; settled: Canary; seen: Seen; stable: string[]; newImage: string }> {
    n++;
    const names = Array.from({ length: opts.canaries ?? 1 }, (_, i) => `web${n}${i ? `-${i}` : ''}`);
    const name = names[0]!;
    const version = `1.${n}.0`;
    w.dd.setVersions(['1.0.0', ...Array.from({ length: n }, (_, i) => `1.${i + 1}.0`)]);
    if (opts.bad) w.dd.setAlertVersions([version]);
    const stable: string[] = [];
    for (const d of names) {
      await w.deployment(d, `example.com/web:1.0.0`, { replicas: opts.replicas ?? 2 });
      await w.canary(d, {
        steps: opts.pause ? [STEPS[0]!, { pause: { duration: opts.pause } }] : STEPS,
        analysis: { interval: '1s', failureLimit: 0, checks: [{ name: 'errors', datadogMonitor: { id: 101 } }] },
        datadog: { secretRef: { name: 'datadog' } },
        progressDeadline: '60s',
      });
    }
    for (const d of names) await w.waitPhase(d, 'Waiting');
    stable.push(...(await w.stablePodNames(name)));
    const newImage = `example.com/web:${version}`;
    for (const d of names) await w.setImage(d, newImage);
    await w.waitFor(name, (c) => (c.status?.checks?.[0]?.measurements.length ?? 0) > 0 && c.status?.canaryVersion === version, 'measuring the new revision');
    const seen = watch(w, name, newImage);
    note(`\n=== ${fault.name} on ${names.join(', ')} (${version}${opts.bad ? ', bad' : ''}) at ${new Date().toISOString()}`);
    const ctx = ctxFor(names);
    await fault.inject(ctx);
    await sleep(opts.holdMs);
    const during = await w.get(name);
    note(`  during: ${during.status?.phase}: ${during.status?.message}`);
    note(`  during, last measurement: ${JSON.stringify(during.status?.checks?.[0]?.measurements.at(-1))}`);
    await fault.heal(ctx);
    note(`  healed at ${new Date().toISOString()}`);
    const settled = await w.waitFor(name, (c) => (opts.settledPhases ?? ['Succeeded', 'RolledBack', 'Failed']).includes(c.status?.phase ?? ''), 'settled', 150_000);
    await sleep(1_000);
    await seen.stop();
    note(`  settled: ${settled.status?.phase}: ${settled.status?.message}`);
    note(`  checks: ${JSON.stringify(settled.status?.checks?.map(({ measurements: _m, ...c }) => c))}`);
    note(`  phases: ${[...seen.phases].join(', ')}`);
    for (const m of seen.messages) note(`  status: ${m}`);
    for (const e of await w.events(name)) note(`  event: ${e.type} ${e.reason}: ${e.message}`);
    for (const e of await w.events(name, 'Deployment')) note(`  deployment event: ${e.type} ${e.reason}: ${e.message}`);
    expect(seen.maxCanaryReplicaSets, 'never two canary ReplicaSets at once').to.be.at.most(1);
    if (!opts.early) expect(seen.earlyNewPods, 'no pod of the Deployment ran the new revision before its promotion').to.deep.equal([]);
    expect(JSON.stringify(settled.status)).to.not.contain(w.dd.apiKey);
    return { name, settled, seen, stable, newImage };
  }

  const rolledBackFor = async (r: Awaited<ReturnType<typeof strike>>, message: RegExp): Promise<void> => {
    expect(r.settled.status?.phase, r.settled.status?.message).to.equal('RolledBack');
    expect(r.settled.status?.message).to.match(message);
    expect([...r.seen.phases]).to.not.include('Succeeded');
    expect(r.settled.status?.checks?.[0]?.passes ?? 0, 'no Pass while the fault lasted').to.be.at.most(1);
    await w.waitNoCanaryPods(r.name);
    expect(await w.stablePodNames(r.name), 'stable pods untouched').to.deep.equal(r.stable);
    expect((await w.deploymentObject(r.name)).spec.paused, 'the failed template stays held').to.equal(true);
  };

  const promoted = async (r: Awaited<ReturnType<typeof strike>>): Promise<void> => {
    expect(r.settled.status?.phase, r.settled.status?.message).to.equal('Succeeded');
    expect(r.settled.status?.checks?.[0]?.measurements.at(-1)?.verdict).to.equal('Pass');
  };

  describe('Datadog', () => {
    it('blackholed: errors, never a pass, then a rollback that leaves the stable pods', async () => {
      const r = await strike(byName(datadog, 'Datadog blackholed'), { holdMs: 3 * TIMEOUT_MS + 4_000 });
      await rolledBackFor(r, /could not be measured 3 times in a row.*no answer from Datadog within 2s at 127\.0\.0\.1:\d+: the connection failed or timed out/);
      expect(w.dd.heldRequests).to.equal(0);
    });

    it('slow beyond the timeout: errors, then a rollback', async () => {
      const r = await strike(byName(datadog, 'Datadog slow beyond the timeout'), { holdMs: 3 * (TIMEOUT_MS + 2_000) + 2_000 });
      await rolledBackFor(r, /no answer from Datadog within 2s/);
    });

    it('slow within the timeout: real measurements, the good revision is promoted', async () => {
      const r = await strike(byName(datadog, 'Datadog slow within the timeout'), { holdMs: 8_000 });
      await promoted(r);
      expect(r.settled.status?.checks?.[0]?.errors).to.equal(0);
    });

    it('slow within the timeout: a bad revision still fails on its measurement', async () => {
      const r = await strike(byName(datadog, 'Datadog slow within the timeout'), { holdMs: 3_000, bad: true });
      await rolledBackFor(r, /check errors failed 1 time\(s\) \(limit 0\): Fail Alert/);
    });

    it('5xx: errors quoting the answer, then a rollback', async () => {
      const r = await strike(byName(datadog, 'Datadog 5xx'), { holdMs: 6_000 });
      await rolledBackFor(r, /Datadog answered 50[023]/);
    });

    it('garbage with 200: errors, never a pass, then a rollback', async () => {
      const r = await strike(byName(datadog, 'Datadog garbage JSON'), { holdMs: 6_000 });
      await rolledBackFor(r, /could not be read/);
    });

    it('a 429 storm shared by several canaries: inconclusive, no error, then promoted once it ends', async () => {
      const r = await strike(byName(datadog, 'Datadog 429 storm (50 canaries)'), { holdMs: 12_000, canaries: 3 });
      await promoted(r);
      expect(r.settled.status?.checks?.[0]?.errors).to.equal(0);
      expect(r.settled.status?.checks?.[0]?.inconclusive).to.be.greaterThan(0);
      expect(w.dd.requests('/api/v1/monitor/101').some((q) => q.status === 429)).to.equal(true);
    });

    it('keys rotated mid-analysis: the new Secret is picked up, no rollback', async () => {
      const r = await strike(byName(datadog, 'Datadog keys rotated mid-analysis'), { holdMs: 10_000 });
      await promoted(r);
      const secret = await w.client.get<{ data: Record<string, string> }>(paths.secret(w.ns, 'datadog'));
      expect(Buffer.from(secret.data['api-key'] ?? '', 'base64').toString()).to.equal(w.dd.apiKey);
    });
  });

  describe('workload', () => {
    it('the Deployment deleted (ReplicaSets orphaned) and re-created mid-canary: held from its create (it adopts its ReplicaSets), the canary completes', async () => {
      const r = await strike(byName(workload, 'Deployment deleted (ReplicaSets orphaned) and re-created'), { holdMs: 5_000 });
      expect(r.settled.status?.phase, r.settled.status?.message).to.equal('Succeeded');
      expect((await w.events(r.name)).map((e) => e.reason), 'nothing rolled out unverified').to.not.include('UnverifiedRollout');
    });

    it('the Deployment deleted with its ReplicaSets and re-created: not created paused (it would have no pod), guarded again, serving, and said so', async () => {
      const r = await strike(byName(workload, 'Deployment deleted with its ReplicaSets and re-created'), { holdMs: 5_000, early: true, settledPhases: ['Paused', 'Succeeded', 'RolledBack', 'Failed'] });
      expect(r.settled.status?.message).to.match(/rolled out without a canary/);
      const d = await w.deploymentObject(r.name);
      expect(d.metadata.labels?.['deployer.dev/canary'], 'guarded again').to.equal(r.name);
      await eventually(async () => expect((await w.deploymentObject(r.name)).status?.['availableReplicas'] ?? 0, 'pods serving').to.be.at.least(1), { timeoutMs: 30_000 });
    });

    it('an HPA-like writer scaling every second: the canary follows and completes', async () => {
      const r = await strike(byName(workload, 'HPA-like scaler every second'), { holdMs: 8_000, replicas: 3 });
      await promoted(r);
    });

    it('a GitOps server-side apply loop: the held revision stays held until promoted, nothing else rolls out', async () => {
      const r = await strike(byName(workload, 'GitOps server-side apply loop'), { holdMs: 10_000 });
      await promoted(r);
      expect(await w.stablePodNames(r.name)).to.not.deep.equal(r.stable);
    });

    it('the Datadog Secret deleted mid-analysis and restored: said so, and the next revision passes', async () => {
      const r = await strike(byName(workload, 'Datadog Secret deleted mid-analysis'), { holdMs: 12_000, pause: '30s' });
      expect(r.settled.status?.phase).to.equal('RolledBack');
      expect(r.settled.status?.message).to.match(/Secret chaosdd-[a-z0-9]+\/datadog not found/);
      expect(await w.stablePodNames(r.name), 'stable pods untouched').to.deep.equal(r.stable);
      note(`  (then a new revision after the Secret came back)`);
      await w.setImage(r.name, 'example.com/web:1.99.0');
      w.dd.setVersions(['1.99.0']);
      const done = await w.waitFor(r.name, (c) => c.status?.phase === 'Succeeded' && c.status?.canaryVersion === '1.99.0', 'the next revision promoted', 90_000);
      note(`  next revision: ${done.status?.phase}: ${done.status?.message}`);
      await eventually(async () => expect(await w.stablePodNames(r.name)).to.not.deep.equal(r.stable), { timeoutMs: 30_000 });
    });
  });
});
