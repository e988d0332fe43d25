// Faults of the control plane and of the operator itself: an operator replica SIGKILLed in each
// phase of a canary, a leader that hangs (failover), both replicas restarted at once, the
// kube-apiserver and etcd restarted, a slow and lossy network to the apiserver, and the Canary's
// status subresource refusing writes (an admission policy).
import { spawn } from 'node:child_process';
import { existsSync, openSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Canary } from '../../src/api/types.js';
import { eventually, kubectlPath, run } from '../support/cluster.js';
import { denyPolicy } from '../support/policies.js';
import type { ChaosContext, Fault } from './fault.js';

const ROOT = new URL('../../', import.meta.url).pathname;

/** The operator replica that was stopped by inject(), to be started again by heal(). */
function restartingFault(name: string, userSees: string, pred: (c: Canary, ctx: ChaosContext) => boolean, what: string): Fault {
  const killed = new Map<string, number>();
  return {
    name,
    userSees,
    fast: true,
    async inject(ctx) {
      await ctx.waitForCanary((c) => pred(c, ctx), what);
      const leader = await ctx.operators.leader();
      if (leader === undefined) throw new Error('no leader to kill');
      await ctx.operators.kill(leader);
      killed.set(ctx.namespace, leader);
    },
    async heal(ctx) {
      const i = killed.get(ctx.namespace);
      killed.delete(ctx.namespace);
      if (i !== undefined) await ctx.operators.start(i);
    },
  };
}

/** A canary in analysis whose current step is a setWeight (progressing) or a timed pause (paused). */
const atStep = (kind: 'setWeight' | 'pause') => (c: Canary): boolean => {
  if (c.status?.phase !== 'Progressing' || (c.status.canaryReadyReplicas ?? 0) === 0) return false;
  const step = c.spec.steps?.[c.status.currentStep ?? 0] as Record<string, unknown> | undefined;
  return step !== undefined && kind in step;
};

const KILL_SEES =
  'Nothing while the standby takes the Lease (a few seconds; status and the canary pods stay as they are), then the canary goes on from where it was: same canary ReplicaSet, measurements kept.';

export const operatorKilledProgressing = restartingFault('operator SIGKILL (progressing)', KILL_SEES, atStep('setWeight'), 'at a setWeight step with Ready canary pods');
export const operatorKilledPaused = restartingFault('operator SIGKILL (paused)', KILL_SEES, atStep('pause'), 'in a pause step with Ready canary pods');
export const operatorKilledPromoting = restartingFault(
  'operator SIGKILL (promoting)',
  'The Deployment\'s rolling update, already unpaused, goes on without the operator; the new leader sees it complete and removes the canary pods.',
  (c) => c.status?.phase === 'Promoting',
  'promoting',
);
export const operatorKilledRollingBack = restartingFault(
  'operator SIGKILL (rolling back)',
  'A bad revision\'s canary, its check about to fail, loses its operator: the new leader measures Alert and rolls back (canary pods deleted, Deployment left paused on the failed revision, RolledBack).',
  // Its pods Ready, the first measurement (Alert, failureLimit 0) is at most an interval away.
  (c, ctx) => c.status?.phase === 'Progressing' && ctx.badVersions.includes(c.status.canaryVersion ?? '') && (c.status.canaryReadyReplicas ?? 0) > 0,
  'analysing a bad revision with Ready canary pods',
);

/** The leader hangs (SIGSTOP, as a process stuck in a long pause) past its Lease; then it wakes. */
export const leaderFailover: Fault = (() => {
  const frozen = new Map<string, number>();
  return {
    name: 'leader failover (leader hangs past its Lease)',
    userSees:
      'Canaries stand still for about a Lease duration (6 s) until the standby takes over, then go on; the old leader, woken, stands down (no duplicate canary ReplicaSet, no repeated action seen).',
    fast: true,
    durationMs: 12_000,
    async inject(ctx) {
      await ctx.waitForCanary((c) => ['Progressing', 'Paused', 'Promoting'].includes(c.status?.phase ?? ''), 'active');
      frozen.set(ctx.namespace, await ctx.operators.freeze());
    },
    async heal(ctx) {
      const i = frozen.get(ctx.namespace);
      frozen.delete(ctx.namespace);
      if (i !== undefined) await ctx.operators.thaw(i);
    },
  };
})();

export const bothReplicasRestarted: Fault = {
  name: 'both replicas restarted at once',
  userSees:
    'No operator for the fault\'s length: new revisions are refused by the webhook (failure policy Fail) and canaries stand still; once a replica is back, canaries resume and the refused revisions can be applied again.',
  fast: true,
  async inject(ctx) {
    await ctx.waitForCanary((c) => ['Progressing', 'Paused', 'Promoting'].includes(c.status?.phase ?? ''), 'active');
    await Promise.all(ctx.operators.running.map((i) => ctx.operators.kill(i)));
  },
  async heal(ctx) {
    await Promise.all([0, 1].map((i) => ctx.operators.start(i)));
  },
};

// ---------- processes of the control plane (only a control plane of the run's own) ----------

interface Stopped {
  args: string[];
  log: string;
  pidFile: string;
}

function assertOwnControlPlane(clusterDir: string): void {
  const shared = `${ROOT}.cluster`;
  if (existsSync(shared) && realpathSync(shared) === realpathSync(clusterDir) && process.env.CHAOS_ALLOW_SHARED_RESTART !== '1') {
    throw new Error(
      `refusing to restart processes of the shared control plane ${realpathSync(clusterDir)}: start one of your own (CLUSTER_DIR=... bash test/cluster/up.sh with other ports) and run with CLUSTER_DIR and KUBECONFIG pointing at it`,
    );
  }
}

/** Stops a component of the control plane (up.sh's pid file) and returns how to start it again. */
async function stopComponent(clusterDir: string, component: string): Promise<Stopped> {
  assertOwnControlPlane(clusterDir);
  const pidFile = join(clusterDir, `${component}.pid`);
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  if (!args[0]?.endsWith(`/${component}`)) throw new Error(`pid ${pid} in ${pidFile} is not ${component}: ${args[0]}`);
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 20_000;
  while (existsSync(`/proc/${pid}`) && Date.now() < deadline) {
    const state = /State:\s+(\w)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8').toString())?.[1];
    if (state === 'Z') break;
    await new Promise((r) => setTimeout(r, 100));
  }
  if (existsSync(`/proc/${pid}`)) process.kill(pid, 'SIGKILL');
  return { args, log: join(clusterDir, 'logs', `${component}.log`), pidFile };
}

function startComponent(s: Stopped): void {
  const fd = openSync(s.log, 'a');
  const child = spawn(s.args[0]!, s.args.slice(1), { detached: true, stdio: ['ignore', fd, fd] });
  writeFileSync(s.pidFile, `${child.pid}\n`);
  child.unref();
}

async function apiserverReady(kubeconfig: string): Promise<void> {
  await eventually(
    async () => {
      const r = await run(kubectlPath(), [`--kubeconfig=${kubeconfig}`, 'get', '--raw=/readyz'], { timeoutMs: 5_000 });
      if (r.code !== 0) throw new Error(`apiserver not ready: ${r.stderr.trim()}`);
    },
    { timeoutMs: 120_000, intervalMs: 500 },
  );
}

function restartFault(name: string, component: 'kube-apiserver' | 'etcd', userSees: string): Fault {
  const stopped = new Map<string, Stopped>();
  return {
    name,
    userSees,
    fast: false,
    durationMs: 3_000,
    async inject(ctx) {
      await ctx.waitForCanary((c) => ['Progressing', 'Paused', 'Promoting'].includes(c.status?.phase ?? ''), 'active');
      stopped.set(ctx.namespace, await stopComponent(ctx.clusterDir, component));
      ctx.log(`${component} stopped`);
    },
    async heal(ctx) {
      const s = stopped.get(ctx.namespace);
      stopped.delete(ctx.namespace);
      if (s) startComponent(s);
      await apiserverReady(ctx.kubeconfig);
      ctx.log(`${component} started again and the apiserver is ready`);
    },
  };
}

export const apiserverRestarted = restartFault(
  'kube-apiserver restarted',
  'kube-apiserver',
  'kubectl and the operator get connection errors for the outage; watches break and the operator re-lists; canaries resume where they were.',
);
export const etcdRestarted = restartFault(
  'etcd restarted',
  'etcd',
  'The apiserver answers errors (or hangs) until etcd is back; canaries stand still, then resume where they were.',
);

export const apiserverSlow: Fault = {
  name: 'apiserver slow and lossy (proxy: 0.3–1 s per chunk, connections cut)',
  userSees:
    'Canaries advance more slowly (every pass waits on the API); cut watches re-list; writes that time out are retried; no action is repeated.',
  fast: true,
  durationMs: 15_000,
  async inject(ctx) {
    ctx.proxy.set({ latencyMs: 300, jitterMs: 700, dropPerSecond: 0.15 });
  },
  async heal(ctx) {
    ctx.proxy.clear();
    ctx.log(`proxy healed (${ctx.proxy.dropped} connections cut)`);
  },
};

/** A ValidatingAdmissionPolicy that refuses every update of Canary status in the run's namespace. */
export const canaryStatusRefused: Fault = (() => {
  const policy = (ns: string): string => `chaos-no-canary-status-${ns}`;
  const k = (ctx: ChaosContext, args: string[], input?: string) =>
    run(kubectlPath(), [`--kubeconfig=${ctx.kubeconfig}`, ...args], input === undefined ? {} : { input });
  return {
    name: 'Canary status writes refused (admission policy)',
    userSees:
      'Canaries stand still at their last status (status first, then act: no action without its status); one StatusWriteRefused Warning Event on each Canary and its Deployment quotes the policy; once the policy goes, they go on.',
    fast: true,
    durationMs: 12_000,
    async inject(ctx) {
      const name = policy(ctx.namespace);
      const rule = { apiGroups: ['deployer.dev'], apiVersions: ['*'], operations: ['UPDATE'], resources: ['canaries/status'] };
      const objects = denyPolicy(name, ctx.namespace, rule, 'false', 'chaos: Canary status is read-only for now');
      for (const o of objects) {
        const r = await k(ctx, ['apply', '-f', '-'], JSON.stringify(o));
        if (r.code !== 0) throw new Error(`kubectl apply failed: ${r.stderr}`);
      }
      const probe = ctx.deployments[0]!;
      await eventually(
        async () => {
          const r = await k(ctx, ['patch', 'canary', probe, '-n', ctx.namespace, '--subresource=status', '--type=merge', '--dry-run=server', '-p', '{"status":{"message":"probe"}}']);
          if (r.code === 0) throw new Error('policy not in force yet');
        },
        { timeoutMs: 30_000, intervalMs: 300 },
      );
    },
    async heal(ctx) {
      const r = await k(ctx, ['delete', 'validatingadmissionpolicybinding,validatingadmissionpolicy', policy(ctx.namespace), '--ignore-not-found']);
      if (r.code !== 0) throw new Error(`kubectl delete failed: ${r.stderr}`);
    },
  };
})();

export const KUBE_FAULTS: Fault[] = [
  operatorKilledProgressing,
  operatorKilledPaused,
  operatorKilledPromoting,
  operatorKilledRollingBack,
  leaderFailover,
  bothReplicasRestarted,
  apiserverSlow,
  canaryStatusRefused,
  apiserverRestarted,
  etcdRestarted,
];
