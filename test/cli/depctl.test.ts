// depctl as users run it: the real bin/depctl.js in a child process, against the real API server.
// No controller runs in this namespace; statuses are written with kubectl patch --subresource=status.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { buildCli } from '../support/cli-build.js';
import { ensureCluster, eventually, kubectl, uniqueNamespace } from '../support/cluster.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs bin/depctl.js with the project's Node; KUBECONFIG comes from the environment ensureCluster set. */
function depctl(args: string[], opts: { input?: string; env?: Record<string, string> } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin/depctl.js'), ...args], {
      cwd: ROOT,
      env: { ...process.env, DEPCTL_DEBUG: '', ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(opts.input ?? '');
  });
}

async function must(args: string[], input?: string): Promise<string> {
  const r = await kubectl(args, input === undefined ? {} : { input });
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

function canaryManifest(name: string, ns: string): Record<string, unknown> {
  return {
    apiVersion: 'deployer.dev/v1alpha1',
    kind: 'Canary',
    metadata: { name, namespace: ns },
    spec: {
      targetRef: { name: `${name}-app` },
      steps: [{ setWeight: 20 }, { pause: { duration: '5m' } }, { setWeight: 50 }, { pause: {} }],
      analysis: { interval: '1m', checks: [{ name: 'error-rate', datadogQuery: { query: 'sum:errors{version:{{ version }}}', max: 0.5 } }] },
      datadog: { secretRef: { name: 'datadog' } },
    },
  };
}

async function setStatus(ns: string, name: string, status: Record<string, unknown>): Promise<void> {
  await must(['patch', 'canary', name, '-n', ns, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status })]);
}

async function getCanary(ns: string, name: string): Promise<{ metadata: { annotations?: Record<string, string> }; spec: { paused?: boolean } }> {
  return JSON.parse(await must(['get', 'canary', name, '-n', ns, '-o', 'json'])) as never;
}

describe('depctl against the API server', function () {
  let ns = '';

  before(async function () {
    await ensureCluster();
    await buildCli();
    await must(['apply', '--server-side', '--force-conflicts', '-f', join(ROOT, 'crds')]);
    await must(['wait', '--for', 'condition=established', 'crd/canaries.deployer.dev', '--timeout=60s']);
    ns = await uniqueNamespace('depctl');
    for (const name of ['checkout', 'web']) await must(['apply', '-f', '-'], stringify(canaryManifest(name, ns), { version: '1.1' }));
    // The target of "web": `status --watch` reads its template to tell which revision a status is about.
    await must(['create', 'deployment', 'web-app', '-n', ns, '--image=example.com/web:1.0.0', '--replicas=0']);
  });

  after(async () => {
    if (!ns) return;
    // A controller elsewhere in the cluster may have added its finalizer; let the namespace go.
    for (const name of ['checkout', 'web']) {
      await kubectl(['patch', 'canary', name, '-n', ns, '--type=merge', '-p', '{"metadata":{"finalizers":null}}']);
    }
    await kubectl(['delete', 'namespace', ns, '--wait=false']);
  });

  describe('get', () => {
    it('prints a table of the namespace', async () => {
      const now = new Date().toISOString();
      await setStatus(ns, 'checkout', { phase: 'Progressing', canaryWeight: 20, stepProgress: '1/4', message: 'step 1/4: waiting for canary pods', startedAt: now });
      const r = await depctl(['get', '-n', ns]);
      expect(r.code, r.stderr).to.equal(0);
      const lines = r.stdout.trimEnd().split('\n');
      expect(lines[0]).to.match(/^NAME\s+TARGET\s+PHASE\s+WEIGHT\s+STEP\s+MESSAGE\s+AGE$/);
      expect(lines[1]).to.match(/^checkout\s+checkout-app\s+Progressing\s+20\s+1\/4\s+step 1\/4: waiting for canary pods\s+\d+s$/);
      expect(lines[2]).to.match(/^web\s+web-app\s+\d+s$/);
    });

    it('lists all namespaces with -A', async () => {
      const r = await depctl(['get', '-A']);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout.split('\n')[0]).to.match(/^NAMESPACE\s+NAME/);
      expect(r.stdout).to.match(new RegExp(`\\n${ns}\\s+checkout\\s`));
    });

    it('prints objects with -o json and -o yaml', async () => {
      const list = await depctl(['get', '-n', ns, '-o', 'json']);
      expect(list.code, list.stderr).to.equal(0);
      const parsed = JSON.parse(list.stdout) as { kind: string; items: Array<{ metadata: { name: string } }> };
      expect(parsed.kind).to.equal('List');
      expect(parsed.items.map((i) => i.metadata.name)).to.deep.equal(['checkout', 'web']);
      const one = await depctl(['get', 'web', '-n', ns, '-o', 'yaml']);
      expect(one.code, one.stderr).to.equal(0);
      expect(one.stdout).to.match(/^apiVersion: deployer.dev\/v1alpha1\nkind: Canary\n/);
    });

    it('says when a canary does not exist, with exit code 2 and no stack trace', async () => {
      const r = await depctl(['get', 'missing', '-n', ns]);
      expect(r.code).to.equal(2);
      expect(r.stderr).to.equal(`error: canary ${ns}/missing not found\n`);
      expect(r.stdout).to.equal('');
    });

    it('says so when the namespace has no canaries', async () => {
      const r = await depctl(['get', '-n', 'kube-public']);
      expect(r.code).to.equal(0);
      expect(r.stderr).to.equal('No canaries found in namespace kube-public.\n');
    });
  });

  describe('status', () => {
    it('shows revisions, steps, checks, conditions and events', async () => {
      const now = new Date().toISOString();
      await setStatus(ns, 'checkout', {
        observedGeneration: 1,
        phase: 'Progressing',
        message: 'step 2/4: analysing, 240s left in pause',
        stableRevision: '5d8f7c9b4',
        stableVersion: '1.4.1',
        canaryRevision: '7b9c2a6d1',
        canaryVersion: '1.4.2',
        currentStep: 1,
        stepProgress: '2/4',
        canaryWeight: 20,
        canaryReplicas: 1,
        canaryReadyReplicas: 1,
        checks: [
          {
            name: 'error-rate',
            failures: 0,
            errors: 0,
            consecutiveErrors: 0,
            inconclusive: 0,
            passes: 2,
            measurements: [{ verdict: 'Pass', value: '0.12', threshold: '<= 0.5', time: now, url: 'https://app.datadoghq.com/metric/explorer' }],
          },
        ],
        conditions: [{ type: 'Ready', status: 'False', reason: 'Analysing', message: 'canary in progress', lastTransitionTime: now }],
      });
      const uid = (await must(['get', 'canary', 'checkout', '-n', ns, '-o', 'jsonpath={.metadata.uid}'])).trim();
      await must(
        ['create', '-f', '-'],
        stringify({
          apiVersion: 'v1',
          kind: 'Event',
          metadata: { name: 'checkout.started', namespace: ns },
          involvedObject: { apiVersion: 'deployer.dev/v1alpha1', kind: 'Canary', name: 'checkout', namespace: ns, uid },
          reason: 'CanaryStarted',
          message: 'started canary of revision 7b9c2a6d1',
          type: 'Normal',
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
          source: { component: 'deployer' },
        }),
      );
      const r = await depctl(['status', 'checkout', '-n', ns]);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.include('Target:      Deployment checkout-app');
      expect(r.stdout).to.include('Phase:       Progressing');
      expect(r.stdout).to.include('Stable:      revision 5d8f7c9b4, version 1.4.1');
      expect(r.stdout).to.include('Canary:      revision 7b9c2a6d1, version 1.4.2  (1/1 pods ready)');
      expect(r.stdout).to.include('  ✓ 1. setWeight 20%\n  ▶ 2. pause 5m\n  · 3. setWeight 50%');
      expect(r.stdout).to.include('error-rate: Pass  value 0.12  threshold <= 0.5');
      expect(r.stdout).to.match(/Ready\s+False\s+Analysing/);
      expect(r.stdout).to.match(/Normal\s+CanaryStarted\s+started canary of revision 7b9c2a6d1/);
    });

    it('exits 1 for a rolled-back canary and prints JSON with -o json', async () => {
      await setStatus(ns, 'web', { phase: 'RolledBack', message: 'check error-rate failed' });
      const r = await depctl(['status', 'web', '-n', ns, '-o', 'json']);
      expect(r.code).to.equal(1);
      expect((JSON.parse(r.stdout) as { status: { phase: string } }).status.phase).to.equal('RolledBack');
    });

    it('--watch follows changes and exits 0 when the canary succeeds', async () => {
      await setStatus(ns, 'web', { phase: 'Progressing', currentStep: 0, stepProgress: '1/4' });
      const watching = depctl(['status', 'web', '-n', ns, '--watch', '--timeout', '60s']);
      await new Promise((r) => setTimeout(r, 2500));
      await setStatus(ns, 'web', { phase: 'Promoting', currentStep: 4, stepProgress: '4/4' });
      await new Promise((r) => setTimeout(r, 1500));
      await setStatus(ns, 'web', { phase: 'Succeeded' });
      const r = await watching;
      expect(r.code, r.stdout + r.stderr).to.equal(0);
      expect(r.stdout).to.not.include('\x1b['); // no screen clearing when not a terminal
      expect(r.stdout).to.include('Phase:       Progressing');
      expect(r.stdout).to.include('Phase:       Succeeded');
      expect(r.stdout.trimEnd().split('\n').at(-1)).to.equal(`canary ${ns}/web succeeded (phase Succeeded)`);
    });

    it('--watch exits 1 on a rollback and 3 on --timeout', async () => {
      await setStatus(ns, 'web', { phase: 'Progressing' });
      const timedOut = await depctl(['status', 'web', '-n', ns, '--watch', '--timeout', '2s']);
      expect(timedOut.code).to.equal(3);
      expect(timedOut.stdout).to.include(`timed out after 2s waiting for canary ${ns}/web to settle (phase Progressing)`);
      const watching = depctl(['status', 'web', '-n', ns, '-w', '-o', 'json', '--timeout', '60s']);
      await new Promise((r) => setTimeout(r, 2500));
      await setStatus(ns, 'web', { phase: 'RolledBack' });
      const r = await watching;
      expect(r.code, r.stderr).to.equal(1);
      expect(r.stderr).to.include('rolled back');
    });

    it('--watch exits 2 and says why when this identity cannot read the target Deployment, instead of accepting a previous Succeeded', async () => {
      const kubeconfig = await restrictedKubeconfig(ns, 'canary-reader', [
        { apiGroups: ['deployer.dev'], resources: ['canaries'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: [''], resources: ['events'], verbs: ['list'] },
      ]);
      await setStatus(ns, 'web', { phase: 'Succeeded', message: 'promoted an earlier revision' });
      const r = await depctl(['status', 'web', '-n', ns, '--watch', '--timeout', '30s'], { env: { KUBECONFIG: kubeconfig } });
      expect(r.code, r.stdout + r.stderr).to.equal(2);
      expect(r.stderr).to.match(new RegExp(`cannot read Deployment ${ns}/web-app to tell which revision the status is about .*forbidden`));
      expect(r.stdout).to.not.include('succeeded (phase Succeeded)');
    });

    it('--watch exits 2 when the target Deployment does not exist', async () => {
      await setStatus(ns, 'checkout', { phase: 'Succeeded' });
      const r = await depctl(['status', 'checkout', '-n', ns, '--watch', '--timeout', '30s']);
      expect(r.code, r.stdout + r.stderr).to.equal(2);
      expect(r.stderr).to.include(`Deployment ${ns}/checkout-app, the target of canary ${ns}/checkout, not found`);
    });

    it('prints status messages, monitor names and Event messages without terminal escapes', async () => {
      const hostile = '\x1b]0;pwned\x07\x1b[2J\x1b[31mred\x1b[0m\u009b6n\u202e';
      await setStatus(ns, 'web', {
        phase: 'Progressing',
        message: `step 1/4 ${hostile}`,
        checks: [{ name: 'error-rate', failures: 0, errors: 0, consecutiveErrors: 0, inconclusive: 0, passes: 1, measurements: [{ verdict: 'Pass', time: new Date().toISOString(), message: `monitor 7 "${hostile}" is OK` }] }],
      });
      const uid = (await must(['get', 'canary', 'web', '-n', ns, '-o', 'jsonpath={.metadata.uid}'])).trim();
      const now = new Date().toISOString();
      await must(['create', '-f', '-'], JSON.stringify({
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name: `web.escape-${Date.now()}`, namespace: ns },
        involvedObject: { apiVersion: 'deployer.dev/v1alpha1', kind: 'Canary', name: 'web', namespace: ns, uid },
        reason: 'CheckFailed',
        message: `check failed ${hostile}`,
        type: 'Warning',
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
        source: { component: 'deployer' },
      }));
      const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e]/;
      for (const args of [['status', 'web'], ['get'], ['status', 'web', '-o', 'yaml'], ['status', 'web', '-o', 'json']]) {
        const r = await depctl([...args, '-n', ns]);
        expect(r.stdout, args.join(' ')).to.not.match(CONTROL);
        expect(r.stdout).to.include('red');
      }
      const status = await depctl(['status', 'web', '-n', ns]);
      expect(status.stdout).to.include('check failed red');
    });

    it('rejects a bad --timeout as a usage error', async () => {
      const r = await depctl(['status', 'web', '-n', ns, '--watch', '--timeout', 'soon']);
      expect(r.code).to.equal(2);
      expect(r.stderr).to.include('--timeout must be a duration');
    });
  });

  describe('requests', () => {
    for (const verb of ['promote', 'abort', 'retry'] as const) {
      it(`${verb} sets deployer.dev/${verb} to a new request id`, async () => {
        const r = await depctl([verb, 'checkout', '-n', ns]);
        expect(r.code, r.stderr).to.equal(0);
        const id = /\(request (\S+)\)/.exec(r.stdout)?.[1];
        expect(r.stdout).to.equal(`${verb} requested for ${ns}/checkout (request ${id})\n`);
        const canary = await getCanary(ns, 'checkout');
        expect(canary.metadata.annotations?.[`deployer.dev/${verb}`]).to.equal(id);
      });
    }

    it('--wait returns once status.requests echoes the id', async () => {
      const before = (await getCanary(ns, 'checkout')).metadata.annotations?.['deployer.dev/promote'];
      const waiting = depctl(['promote', 'checkout', '-n', ns, '--wait', '--timeout', '30s']);
      // Play the controller: acknowledge the id the CLI wrote.
      const id = await eventually(async () => {
        const value = (await getCanary(ns, 'checkout')).metadata.annotations?.['deployer.dev/promote'];
        if (!value || value === before) throw new Error('no new request yet');
        return value;
      });
      await setStatus(ns, 'checkout', { requests: { promote: { id, handledAt: new Date().toISOString() } } });
      const r = await waiting;
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.include(`promote requested for ${ns}/checkout (request ${id})`);
      expect(r.stdout).to.include('promote handled at');
    });

    it('--wait times out with exit code 3 when nothing handles the request', async () => {
      const r = await depctl(['abort', 'web', '-n', ns, '--wait', '--timeout', '2s']);
      expect(r.code).to.equal(3);
      expect(r.stderr).to.match(/timed out after 2s waiting for the controller to handle abort request/);
    });

    it('pause and resume flip spec.paused', async () => {
      const p = await depctl(['pause', 'checkout', '-n', ns]);
      expect(p.code, p.stderr).to.equal(0);
      expect((await getCanary(ns, 'checkout')).spec.paused).to.equal(true);
      const r = await depctl(['resume', 'checkout', '-n', ns]);
      expect(r.code, r.stderr).to.equal(0);
      expect((await getCanary(ns, 'checkout')).spec.paused).to.equal(false);
    });

    it('reports a missing canary on write', async () => {
      const r = await depctl(['promote', 'missing', '-n', ns]);
      expect(r.code).to.equal(2);
      expect(r.stderr).to.equal(`error: canary ${ns}/missing not found\n`);
    });
  });

  describe('errors', () => {
    it('names the server it cannot reach', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'depctl-'));
      const kubeconfig = join(dir, 'config');
      writeFileSync(
        kubeconfig,
        stringify({
          apiVersion: 'v1',
          kind: 'Config',
          clusters: [{ name: 'c', cluster: { server: 'https://127.0.0.1:1' } }],
          users: [{ name: 'u', user: { token: 't' } }],
          contexts: [{ name: 'x', context: { cluster: 'c', user: 'u', namespace: 'team' } }],
          'current-context': 'x',
        }),
      );
      const r = await depctl(['get', '--kubeconfig', kubeconfig]);
      expect(r.code).to.equal(2);
      expect(r.stderr).to.match(/^error: cannot reach the Kubernetes API at https:\/\/127\.0\.0\.1:1/);
      expect(r.stderr).to.not.match(/\n\s+at /);
    });

    it('rejects an unknown context', async () => {
      const r = await depctl(['get', '--context', 'nope']);
      expect(r.code).to.equal(2);
      expect(r.stderr).to.match(/context "nope" not found in the kubeconfig/);
    });

    it('passes the apiserver\'s Forbidden message through', async () => {
      const r = await depctl(['get', '-n', ns], { env: { KUBECONFIG: await restrictedKubeconfig(ns) } });
      expect(r.code).to.equal(2);
      expect(r.stderr).to.match(/^error: .*forbidden: User "system:serviceaccount:.*" cannot list resource "canaries"/);
    });
  });

  describe('validate', () => {
    it('accepts the valid examples', async () => {
      const r = await depctl(['validate', 'examples/canary-basic.yaml', 'examples/canary-metrics.yaml', 'examples/canary-no-checks.yaml']);
      expect(r.code, r.stdout + r.stderr).to.equal(0);
      expect(r.stdout).to.equal(
        'examples/canary-basic.yaml: ok (1 Canary)\nexamples/canary-metrics.yaml: ok (1 Canary)\nexamples/canary-no-checks.yaml: ok (1 Canary)\n',
      );
    });

    it('reports file:line:column for the invalid example', async () => {
      const r = await depctl(['validate', 'examples/canary-invalid.yaml']);
      expect(r.code).to.equal(1);
      expect(r.stdout).to.include('examples/canary-invalid.yaml:12:7: spec.steps[0].setWeight: must be at most 99, got 120\n');
      expect(r.stdout).to.include('examples/canary-invalid.yaml:17:5: spec.analysis.interval: Invalid value: "500ms": analysis.interval must be at least 1s\n');
      expect(r.stdout).to.match(/canary-invalid\.yaml:21:11: spec\.analysis\.checks\[0\]\.datadogQuery\.query: unknown variable "release"/);
    });

    it('reads standard input', async () => {
      const r = await depctl(['validate', '-'], { input: 'apiVersion: deployer.dev/v1alpha1\nkind: Canary\nmetadata: {name: x}\nspec:\n  targetRef: {name: x}\n  steps:\n    - setWeight: 0\n' });
      expect(r.code).to.equal(1);
      expect(r.stdout).to.equal('<stdin>:7:7: spec.steps[0].setWeight: must be at least 1, got 0\n');
    });

    it('agrees with the API server on the invalid example', async () => {
      const r = await kubectl(['apply', '--dry-run=server', '-n', ns, '-f', '-'], {
        input: (await import('node:fs')).readFileSync(join(ROOT, 'examples/canary-invalid.yaml'), 'utf8').replace(/namespace: shop/, `namespace: ${ns}`),
      });
      expect(r.code).to.not.equal(0);
      for (const path of ['spec.steps[0].setWeight', 'spec.steps[1].pause.duration', 'spec.steps[2]', 'spec.analysis.interval']) expect(r.stderr).to.include(path);
      // The CEL rules' failures read the same from both.
      expect(r.stderr).to.include('spec.analysis.interval: Invalid value: "500ms": analysis.interval must be at least 1s\n');
    });
  });
});

/** A kubeconfig for a ServiceAccount with only these rules in the namespace (none by default), to provoke a 403. */
async function restrictedKubeconfig(ns: string, account = 'nobody', rules: Array<Record<string, string[]>> = []): Promise<string> {
  await must(['create', 'serviceaccount', account, '-n', ns]);
  if (rules.length > 0) {
    await must(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: account, namespace: ns }, rules }));
    await must(['create', 'rolebinding', account, '-n', ns, `--role=${account}`, `--serviceaccount=${ns}:${account}`]);
  }
  const token = (await must(['create', 'token', account, '-n', ns, '--duration=10m'])).trim();
  const server = (await must(['config', 'view', '--minify', '-o', 'jsonpath={.clusters[0].cluster.server}'])).trim();
  const ca = (await must(['config', 'view', '--minify', '--raw', '-o', 'jsonpath={.clusters[0].cluster.certificate-authority-data}'])).trim();
  const caFile = (await must(['config', 'view', '--minify', '-o', 'jsonpath={.clusters[0].cluster.certificate-authority}'])).trim();
  const cluster: Record<string, unknown> = { server };
  if (ca) cluster['certificate-authority-data'] = ca;
  else if (caFile) cluster['certificate-authority'] = caFile;
  else cluster['insecure-skip-tls-verify'] = true;
  const dir = mkdtempSync(join(tmpdir(), 'depctl-'));
  const file = join(dir, 'config');
  writeFileSync(
    file,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster }],
      users: [{ name: account, user: { token } }],
      contexts: [{ name: account, context: { cluster: 'c', user: account, namespace: ns } }],
      'current-context': account,
    }),
  );
  return file;
}
