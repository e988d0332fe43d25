// The runtime as a user meets it on a real control plane: `npm start` elects a leader by
// default and /readyz says what the instance does; the Deployment cache holds only guarded
// Deployments.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { paths, RawClient } from '../../src/kube/raw-client.js';
import { leaseNameFor } from '../../src/runtime/lease-location.js';
import { webhookConfigurationName } from '../../src/webhook/configuration.js';
import { eventually, kubectl } from '../support/cluster.js';
import { World } from '../support/world.js';

const ROOT = new URL('../../', import.meta.url).pathname;

function logOf(logName: string, ns: string): Array<Record<string, unknown> & { message?: string }> {
  return readFileSync(`${ROOT}.cluster/logs/${logName}-${ns}.log`, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function healthPortOf(logName: string, ns: string): Promise<number> {
  return eventually(() => {
    const started = logOf(logName, ns).find((l) => l.message === 'Operator started');
    if (typeof started?.healthPort !== 'number') throw new Error(`${logName} has not started yet`);
    return started.healthPort;
  }, { timeoutMs: 30_000, intervalMs: 200 });
}

async function get(port: number, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: await res.text() };
}

describe('the operator runtime on a real control plane', function () {
  this.timeout(120_000);

  it('npm start elects a leader by default on a Lease for its set of namespaces; --no-leader-elect does not', async () => {
    const w = await World.create('elect');
    const admin = new RawClient(w.kc);
    const installed = (await kubectl(['get', 'namespace', 'deployer-system', '-o', 'name'])).code === 0;
    const leaseNs = installed ? 'deployer-system' : 'default';
    const leaseName = leaseNameFor([w.ns]);
    try {
      const p = w.startOperatorProcess([], 'default-flags');
      const lease = await eventually(async () => {
        const l = await admin.get<{ spec: { holderIdentity?: string | null } }>(paths.lease(leaseNs, leaseName));
        if (!l.spec.holderIdentity) throw new Error('no holder yet');
        return l;
      }, { timeoutMs: 30_000, intervalMs: 200 });
      expect(lease.spec.holderIdentity).to.match(new RegExp(`-${p.pid}$`));
      const port = await healthPortOf('default-flags', w.ns);
      const ready = await eventually(async () => {
        const r = await get(port, '/readyz');
        if (!r.body.startsWith('ok: leader')) throw new Error(r.body);
        return r;
      }, { timeoutMs: 20_000, intervalMs: 200 });
      expect(ready.status).to.equal(200);
      expect(ready.body).to.equal(`ok: leader (lease ${leaseNs}/${leaseName}, identity ${lease.spec.holderIdentity})\n`);
      await w.killOperatorProcess(p, 'SIGTERM');
      const released = await admin.get<{ metadata: { resourceVersion: string }; spec: { holderIdentity?: string | null } }>(paths.lease(leaseNs, leaseName));
      expect(released.spec.holderIdentity ?? null, 'SIGTERM releases the lease').to.equal(null);

      const q = w.startOperatorProcess(['--no-leader-elect'], 'no-election');
      const qPort = await healthPortOf('no-election', w.ns);
      const qReady = await eventually(async () => {
        const r = await get(qPort, '/readyz');
        if (r.status !== 200) throw new Error(r.body);
        return r;
      }, { timeoutMs: 20_000, intervalMs: 200 });
      expect(qReady.body).to.equal('ok: leader (leader election is off)\n');
      const after = await admin.get<{ metadata: { resourceVersion: string } }>(paths.lease(leaseNs, leaseName));
      expect(after.metadata.resourceVersion, '--no-leader-elect leaves the Lease alone').to.equal(released.metadata.resourceVersion);
      await w.killOperatorProcess(q, 'SIGTERM');
    } finally {
      await w.teardown();
      await kubectl(['delete', 'lease', leaseName, '-n', leaseNs, '--ignore-not-found']);
    }
  });

  it('caches only guarded Deployments, and still adopts a target that is not guarded yet', async () => {
    const w = await World.create('cache');
    try {
      await w.deployment('other-1', 'example.com/other:1', { replicas: 1 });
      await w.deployment('other-2', 'example.com/other:1', { replicas: 1 });
      await w.deployment('web', 'example.com/web:1.0.0', { replicas: 2 });
      const op = await w.startOperator({ health: { host: '127.0.0.1', port: 0 } });
      await w.canary('web', { steps: [{ setWeight: 50 }, { pause: {} }] });
      await w.waitPhase('web', 'Waiting');
      const dep = await w.deploymentObject('web');
      expect(dep.metadata.labels?.['deployer.dev/canary'], 'adopted: guard label set').to.equal('web');
      const objects = async (resource: string): Promise<number> => {
        const text = await (await fetch(`http://127.0.0.1:${op.healthPort}/metrics`)).text();
        return Number(new RegExp(`^deployer_informer_objects\\{resource="${resource}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? NaN);
      };
      await eventually(async () => {
        if ((await objects('deployments')) !== 1) throw new Error(`deployments cached: ${await objects('deployments')}`);
      }, { timeoutMs: 10_000, intervalMs: 200 });
      expect(await objects('canaries')).to.equal(1);
    } finally {
      await w.teardown();
    }
  });

  it('a Canary applied before its Deployment (kubectl apply -f dir/ in file order) guards it within seconds of its creation', async () => {
    const w = await World.create('order');
    try {
      await w.startOperator();
      await w.canary('web', { steps: [{ setWeight: 50 }, { pause: {} }] });
      await w.waitFor('web', (c) => c.status?.conditions?.some((x) => x.reason === 'TargetNotFound') === true, 'TargetNotFound', 15_000);
      const created = Date.now();
      await w.deployment('web', 'example.com/web:1.0.0', { replicas: 2 });
      await w.waitPhase('web', 'Waiting', 20_000);
      const tookMs = Date.now() - created;
      expect(tookMs, 'adopted without waiting for a minute-long recheck').to.be.below(15_000);
      expect((await w.deploymentObject('web')).metadata.labels?.['deployer.dev/canary']).to.equal('web');
    } finally {
      await w.teardown();
    }
  });

  it("the demo's operator (its own flags, its own namespace) and a test's operator share one control plane without touching each other", async () => {
    // The flags npm run demo starts its operator with, read from the script a user runs.
    const script = readFileSync(`${ROOT}examples/demo/run.sh`, 'utf8');
    const line = /src\/main\.ts ([^\n\\]*)/.exec(script)?.[1] ?? '';
    const demoArgs = line.trim().split(/\s+/);
    expect(demoArgs.slice(0, 2), 'the demo operator watches only its namespace').to.deep.equal(['--namespaces', 'demo']);

    const demo = await World.create('demo-like');
    const mine = await World.create('suite');
    try {
      // The demo's flags, for a namespace of this test instead of demo (and any free health port).
      const flags = demoArgs.map((a) => (a === 'demo' ? demo.ns : a === '18081' ? '0' : a)).filter((a) => a !== '--namespaces' && a !== demo.ns);
      demo.startOperatorProcess(flags, 'demo-like');
      await healthPortOf('demo-like', demo.ns);
      const configs = await kubectl(['get', 'mutatingwebhookconfigurations', '-o', 'json']);
      const demoConfig = (JSON.parse(configs.stdout) as { items: Array<{ metadata: { name: string }; webhooks: Array<{ namespaceSelector?: { matchExpressions?: Array<{ values?: string[] }> } }> }> }).items.find(
        (c) => c.metadata.name === webhookConfigurationName({ url: 'https://127.0.0.1' }, [demo.ns]),
      );
      expect(demoConfig?.webhooks[0]?.namespaceSelector?.matchExpressions?.[0]?.values, "the demo's webhook is limited to its namespace").to.deep.equal([demo.ns]);

      await mine.startOperator();
      await mine.deployment('web', 'example.com/web:1.0.0', { replicas: 2 });
      await mine.canary('web', { steps: [{ setWeight: 50 }, { pause: { duration: '1s' } }] });
      await mine.waitPhase('web', 'Waiting', 30_000);
      await mine.setImage('web', 'example.com/web:1.1.0');
      await mine.waitPhase('web', 'Succeeded', 60_000);
      await mine.waitForEvents('web', ['Promoted']); // Events follow the status write
      const events = await mine.events('web');
      expect(events.filter((e) => e.reason === 'Promoted'), 'promoted once, by this suite\'s operator alone').to.have.length(1);
      expect(readFileSync(`${ROOT}.cluster/logs/demo-like-${demo.ns}.log`, 'utf8'), "the demo's operator never saw this suite's namespace").to.not.contain(mine.ns);
    } finally {
      await mine.teardown();
      await demo.teardown();
    }
  });
});
