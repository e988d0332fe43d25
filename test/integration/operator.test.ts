// The deployable operator: its RBAC is enough (it runs with the ServiceAccount's token only),
// and with two replicas exactly one leads, a standby takes over when the leader dies, and the
// canary still completes once.
import { KubeConfig } from '@kubernetes/client-node';
import { expect } from 'chai';
import { readFileSync, writeFileSync } from 'node:fs';
import { parseAllDocuments, stringify } from 'yaml';
import { paths, RawClient } from '../../src/kube/raw-client.js';
import { eventually, kubectl, serviceAccountKubeConfig } from '../support/cluster.js';
import { World, versionMonitor } from '../support/world.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const RBAC_KINDS = new Set(['Namespace', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding']);

/** Applies deploy/'s namespace, ServiceAccount and RBAC, and returns a kubeconfig file for the ServiceAccount's token. */
async function serviceAccountKubeconfig(): Promise<{ file: string; kc: KubeConfig }> {
  const built = await kubectl(['kustomize', `${ROOT}deploy`]);
  expect(built.code, built.stderr).to.equal(0);
  const docs = parseAllDocuments(built.stdout).map((d) => d.toJS() as { kind: string });
  const rbac = docs.filter((d) => RBAC_KINDS.has(d.kind));
  expect(rbac.map((d) => d.kind)).to.include.members(['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding']);
  const applied = await kubectl(['apply', '-f', '-'], { input: rbac.map((d) => stringify(d, { version: '1.1' })).join('---\n') });
  expect(applied.code, applied.stderr).to.equal(0);
  const admin = new KubeConfig();
  admin.loadFromFile(process.env.KUBECONFIG!);
  const kc = await serviceAccountKubeConfig(admin, 'deployer-system', 'deployer');
  const file = `${ROOT}.cluster/deployer-sa.kubeconfig`;
  writeFileSync(file, kc.exportConfig(), { mode: 0o600 });
  return { file, kc };
}

/** The health port an operator process logged ("Operator started"). */
async function healthPortOf(logName: string, ns: string): Promise<number> {
  return eventually(() => {
    const lines = readFileSync(`${ROOT}.cluster/logs/${logName}-${ns}.log`, 'utf8').split('\n');
    const started = lines.map((l) => (l.startsWith('{') ? (JSON.parse(l) as { message?: string; healthPort?: number }) : {})).find((l) => l.message === 'Operator started');
    if (!started?.healthPort) throw new Error(`${logName} has not started yet`);
    return started.healthPort;
  }, { timeoutMs: 30_000, intervalMs: 200 });
}

async function readyz(port: number): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}/readyz`);
  return { status: res.status, body: await res.text() };
}

describe('the deployable operator', function () {
  this.timeout(180_000);
  let sa: { file: string; kc: KubeConfig };
  before(async () => {
    sa = await serviceAccountKubeconfig();
  });

  it('completes a canary with only its ServiceAccount permissions', async () => {
    const w = await World.create('rbac');
    try {
      const who = await kubectl(['auth', 'can-i', 'create', 'pods', '--as=system:serviceaccount:deployer-system:deployer', '-n', w.ns]);
      expect(who.stdout.trim(), 'least privilege: no pod creation').to.equal('no');
      await w.startOperator({ kubeconfig: sa.kc, webhook: { port: 0, target: { urlFromPort: '127.0.0.1' }, configurationName: 'deployer', secret: { namespace: 'deployer-system', name: `webhook-tls-${w.ns}` } }, leaderElection: { namespace: 'deployer-system', name: `lease-${w.ns}` } });
      w.dd.upsertMonitor(versionMonitor(101, 'web'));
      w.dd.setVersions(['1.0.0', '1.1.0']);
      await w.datadogSecret();
      await w.deployment('web', 'example.com/web:1.0.0');
      await w.canary('web', { steps: [{ setWeight: 34 }, { pause: { duration: '2s' } }], analysis: { interval: '1s', checks: [{ name: 'errors', datadogMonitor: { id: 101 } }] }, datadog: { secretRef: { name: 'datadog' } } });
      await w.waitPhase('web', 'Waiting');
      await w.setImage('web', 'example.com/web:1.1.0');
      const c = await w.waitPhase('web', 'Succeeded');
      expect(c.status?.checks?.[0]?.passes).to.be.greaterThan(0);
      await w.waitForEvents('web', ['Promoted']);
      const tls = await kubectl(['get', 'secret', `webhook-tls-${w.ns}`, '-n', 'deployer-system', '-o', 'jsonpath={.type}']);
      expect(tls.stdout).to.equal('kubernetes.io/tls');
    } finally {
      await w.teardown();
      await kubectl(['delete', 'secret', `webhook-tls-${w.ns}`, '-n', 'deployer-system', '--ignore-not-found']);
    }
  });

  it('two replicas: one leads, killing it hands over, and the canary completes once', async () => {
    const w = await World.create('leader');
    const lease = `lease-${w.ns}`;
    const args = ['--leader-elect', '--lease-namespace', 'deployer-system', '--lease-name', lease, '--lease-duration', '3s', '--webhook-secret', `deployer-system/webhook-tls-${w.ns}`, '--webhook-configuration-name', 'deployer'];
    const admin = new RawClient(w.kc);
    const env = process.env.KUBECONFIG;
    try {
      process.env.KUBECONFIG = sa.file;
      const a = w.startOperatorProcess(args, 'replica-a');
      const b = w.startOperatorProcess(args, 'replica-b');
      process.env.KUBECONFIG = env;
      const holder = async (): Promise<string> => {
        const l = await admin.get<{ spec: { holderIdentity?: string } }>(paths.lease('deployer-system', lease));
        if (!l.spec.holderIdentity) throw new Error('no holder yet');
        return l.spec.holderIdentity;
      };
      let first = '';
      await eventually(async () => {
        first = await holder();
      }, { timeoutMs: 30_000, intervalMs: 200 });
      const leader = first.endsWith(`-${a.pid}`) ? a : b;
      const standby = leader === a ? b : a;
      expect(first.endsWith(`-${leader.pid}`)).to.equal(true);
      const [leaderName, standbyName] = leader === a ? ['replica-a', 'replica-b'] : ['replica-b', 'replica-a'];
      const standbyReady = await eventually(async () => {
        const r = await readyz(await healthPortOf(standbyName, w.ns));
        if (!r.body.includes('standby') || !r.body.includes('held by')) throw new Error(`standby not yet settled: ${r.body}`);
        return r;
      }, { timeoutMs: 20_000, intervalMs: 200 });
      expect(standbyReady.status, 'a standby is Ready: it serves the webhook').to.equal(200);
      expect(standbyReady.body).to.equal(`ok: standby: waiting for the leader lease deployer-system/${lease} held by ${first}; serving the admission webhook, not reconciling\n`);
      const leaderReady = await readyz(await healthPortOf(leaderName, w.ns));
      expect(leaderReady.status).to.equal(200);
      expect(leaderReady.body).to.match(new RegExp(`^ok: leader \\(lease deployer-system/${lease}, identity ${first}\\)`));
      expect(readFileSync(`${ROOT}.cluster/logs/${standbyName}-${w.ns}.log`, 'utf8'), 'the standby says so in its log').to.include(`Waiting for the leader lease held by ${first}`);

      w.dd.upsertMonitor(versionMonitor(101, 'web'));
      w.dd.setVersions(['1.0.0', '1.1.0']);
      await w.datadogSecret();
      await w.deployment('web', 'example.com/web:1.0.0');
      await w.canary('web', { steps: [{ setWeight: 34 }, { pause: { duration: '8s' } }], analysis: { interval: '1s', checks: [{ name: 'errors', datadogMonitor: { id: 101 } }] }, datadog: { secretRef: { name: 'datadog' } } });
      await w.waitPhase('web', 'Waiting', 60_000);
      await w.setImage('web', 'example.com/web:1.1.0');
      await w.waitFor('web', (c) => (c.status?.checks?.[0]?.passes ?? 0) >= 2, 'analysing');

      const killedAt = Date.now();
      await w.killOperatorProcess(leader, 'SIGKILL');
      await eventually(async () => {
        const h = await holder();
        if (!h.endsWith(`-${standby.pid}`)) throw new Error(`holder still ${h}`);
      }, { timeoutMs: 20_000, intervalMs: 100 });
      const takeoverMs = Date.now() - killedAt;
      expect(takeoverMs, 'standby takes over within the lease duration plus a retry').to.be.below(3_000 + 3_000);

      const done = await w.waitPhase('web', 'Succeeded', 90_000);
      expect(done.status?.stableVersion).to.equal('1.1.0');
      const reasons = await w.waitForEvents('web', ['NewRevision', 'Promoted']);
      expect(reasons.filter((r) => r === 'NewRevision'), 'started once').to.have.length(1);
      expect(reasons.filter((r) => r === 'Promoted'), 'promoted once').to.have.length(1);
      await w.killOperatorProcess(standby, 'SIGTERM');
      const released = await admin.get<{ spec: { holderIdentity?: string | null } }>(paths.lease('deployer-system', lease));
      expect(released.spec.holderIdentity ?? null, 'SIGTERM releases the lease').to.equal(null);
    } finally {
      process.env.KUBECONFIG = env;
      await w.teardown();
      await kubectl(['delete', 'secret', `webhook-tls-${w.ns}`, '-n', 'deployer-system', '--ignore-not-found']);
      await kubectl(['delete', 'lease', lease, '-n', 'deployer-system', '--ignore-not-found']);
    }
  });
});
