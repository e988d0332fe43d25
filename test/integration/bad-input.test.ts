// Bad input on the real control plane: what a user sees when a Canary, its Secret or Datadog is
// wrong. Table-driven: one row per case with the input and the message expected.
//   1. `kubectl apply` (the real kubectl): the CRD's schema and CEL rules refuse the Canary, and
//      `depctl validate` finds a problem at the same path before anything reaches the cluster;
//   2. the controller: the Canary's phase, condition, message and Event, and the stable pods untouched;
//   3. `depctl validate` (the real bin/depctl.js): file:line:column and the message.
import { expect } from 'chai';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Canary, CheckSpec } from '../../src/api/types.js';
import { validateCanaryFile } from '../../src/api/validate.js';
import { kubectl, run, type RunResult } from '../support/cluster.js';
import { APPLY_CASES, CLI_CASES, SPEC_CASES, analysis, long, manifest, withChecks } from './bad-input-cases.js';
import { closedPort } from '../datadog/harness.js';
import { API_KEY, APP_KEY, World, versionMonitor } from '../support/world.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FAST_STEPS = [{ setWeight: 34 }, { pause: { duration: '2s' } }];
const readyReason = (c: Canary): string | undefined => c.status?.conditions?.find((k) => k.type === 'Ready')?.reason;

function depctl(args: string[]): Promise<RunResult> {
  return run(process.execPath, [join(ROOT, 'bin/depctl.js'), ...args], { cwd: ROOT });
}

describe('Bad input on the real control plane', function () {
  this.timeout(120_000);
  let w: World;
  before(async () => {
    w = await World.create('badin');
    await w.startOperator();
  });
  after(async () => w?.teardown());

  describe('kubectl apply: the apiserver refuses the Canary, and depctl validate agrees', () => {
    // The control plane may be shared with runs of other trees that apply their own CRD: make sure
    // this tree's CRD is the one the apiserver enforces before each case.
    let appliedGeneration = '';
    const crdGeneration = async (): Promise<string> =>
      (await kubectl(['get', 'crd', 'canaries.deployer.dev', '-o', 'jsonpath={.metadata.generation}'])).stdout.trim();
    beforeEach(async () => {
      if (appliedGeneration !== '' && (await crdGeneration()) === appliedGeneration) return;
      const r = await kubectl(['apply', '--server-side', '--force-conflicts', '-f', join(ROOT, 'crds/')]);
      if (r.code !== 0) throw new Error(`kubectl apply -f crds/ failed: ${r.stderr}`);
      await kubectl(['wait', '--for=condition=Established', 'crd/canaries.deployer.dev', '--timeout=30s']);
      appliedGeneration = await crdGeneration();
    });
    for (const tc of APPLY_CASES) {
      it(`${tc.message ? 'refuses' : 'accepts'} ${tc.name}`, async () => {
        const yaml = manifest(tc.canary ?? 'bad', tc.spec, tc.edit);
        const offline = validateCanaryFile(yaml, 'canary.yaml').filter((p) => p.severity !== 'warning');
        if (!tc.message) {
          const r = await kubectl(['apply', '--dry-run=server', '-n', w.ns, '-f', '-'], { input: yaml });
          expect(r.code, r.stderr).to.equal(0);
          expect(offline, JSON.stringify(offline)).to.deep.equal([]);
          return;
        }
        const r = await kubectl(['apply', '-n', w.ns, '-f', '-'], { input: yaml });
        expect(r.code).to.not.equal(0);
        expect(r.stderr).to.match(tc.message);
        expect(offline.map((p) => p.path), JSON.stringify(offline)).to.include(tc.path);
      });
    }

    it('refuses an edit of targetRef, which would leave the first Deployment gated', async () => {
      await w.apply({ apiVersion: 'deployer.dev/v1alpha1', kind: 'Canary', metadata: { name: 'moving' }, spec: { targetRef: { name: 'first' }, steps: [{ setWeight: 10 }] } });
      const r = await kubectl(['apply', '-n', w.ns, '-f', '-'], { input: manifest('moving', { targetRef: { name: 'second' } }) });
      expect(r.code).to.not.equal(0);
      expect(r.stderr).to.match(/spec.targetRef: Invalid value: .*targetRef is immutable: delete this Canary \(it releases its Deployment\) and create a new one/);
      expect((await w.get('moving')).spec.targetRef.name).to.equal('first');
    });
  });

  describe('the controller: phase, condition, message and Event; stable pods untouched', () => {
    interface SecretCase {
      name: string;
      secret: (w: World) => Record<string, string>;
      reason: string;
      message: RegExp;
      /** Text that must not reach status. */
      hidden?: string;
    }
    const SECRET_CASES: SecretCase[] = [
      { name: 'a url at the cloud metadata address', secret: () => ({ 'api-key': API_KEY, 'app-key': APP_KEY, url: 'http://169.254.169.254/latest/meta-data/' }), reason: 'SecretInvalid', message: /key url must not point at a link-local address/, hidden: 'meta-data' },
      { name: 'a url with user info', secret: () => ({ 'api-key': API_KEY, 'app-key': APP_KEY, url: 'https://admin:hunter2@dd-proxy.example' }), reason: 'SecretInvalid', message: /key url must not contain a user name or password/, hidden: 'hunter2' },
      { name: 'a url with a query', secret: () => ({ 'api-key': API_KEY, 'app-key': APP_KEY, url: 'https://collector.example/x?target=' }), reason: 'SecretInvalid', message: /key url must not contain a query/ },
      { name: 'a url that is not https', secret: () => ({ 'api-key': API_KEY, 'app-key': APP_KEY, url: 'gopher://dd-proxy.example' }), reason: 'SecretInvalid', message: /key url must be an https:\/\/ URL/ },
      { name: 'an unknown site', secret: () => ({ 'api-key': API_KEY, 'app-key': APP_KEY, site: 'datadog.example' }), reason: 'SecretInvalid', message: /key site is not a known Datadog site/ },
      { name: 'an empty api-key', secret: (x) => ({ 'api-key': '', 'app-key': APP_KEY, url: x.dd.url }), reason: 'SecretInvalid', message: /is missing key api-key/ },
    ];
    for (const [i, tc] of SECRET_CASES.entries()) {
      it(`a Secret with ${tc.name} is ${tc.reason}, before any revision, with an Event`, async () => {
        const name = `sec${i}`;
        await w.datadogSecret(`dd-${name}`, tc.secret(w));
        await w.deployment(name, `example.com/${name}:1.0.0`, { replicas: 1 });
        const pods = await w.stablePodNames(name);
        await w.canary(name, { steps: FAST_STEPS, ...withChecks(), datadog: { secretRef: { name: `dd-${name}` } } });
        const c = await w.waitFor(name, (x) => readyReason(x) === tc.reason, tc.reason, 30_000);
        expect(c.status?.phase).to.equal('Failed');
        expect(c.status?.message).to.match(tc.message);
        expect(c.status?.message).to.contain(`Secret "${w.ns}/dd-${name}"`);
        if (tc.hidden) expect(JSON.stringify(c.status)).to.not.contain(tc.hidden);
        expect(JSON.stringify(c.status)).to.not.contain(API_KEY).and.not.contain(APP_KEY);
        await w.waitForEvents(name, [tc.reason]);
        expect(await w.stablePodNames(name)).to.deep.equal(pods);
      });
    }

    it('a Secret made with kubectl create secret --from-file from files ending in a newline works', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'dd-secret-'));
      writeFileSync(join(dir, 'api-key'), `${API_KEY}\n`);
      writeFileSync(join(dir, 'app-key'), `${APP_KEY}\r\n`);
      writeFileSync(join(dir, 'url'), `${w.dd.url}\n`);
      const r = await kubectl(['create', 'secret', 'generic', 'dd-files', '-n', w.ns, ...['api-key', 'app-key', 'url'].map((k) => `--from-file=${k}=${join(dir, k)}`)]);
      expect(r.code, r.stderr).to.equal(0);
      w.dd.upsertMonitor(versionMonitor(101, 'files'));
      w.dd.setVersions(['1.0.0', '1.1.0']);
      await w.deployment('files', 'example.com/files:1.0.0', { replicas: 1 });
      await w.canary('files', { steps: FAST_STEPS, ...withChecks(), datadog: { secretRef: { name: 'dd-files' } }, progressDeadline: '60s' });
      await w.waitPhase('files', 'Waiting');
      await w.setImage('files', 'example.com/files:1.1.0');
      const c = await w.waitPhase('files', 'Succeeded');
      expect(c.status?.checks?.[0]?.passes).to.be.greaterThan(0);
      expect(c.status?.checks?.[0]?.errors).to.equal(0);
    });

    it('a Canary named with 63 characters guards its Deployment (its name is a valid label value)', async () => {
      const name = long(63, 'l');
      await w.deployment(name, 'example.com/long:1.0.0', { replicas: 1 });
      await w.canary(name, { steps: FAST_STEPS });
      const c = await w.waitPhase(name, 'Waiting');
      expect(readyReason(c)).to.equal('Idle');
      expect((await w.deploymentObject(name)).metadata.labels?.['deployer.dev/canary']).to.equal(name);
    });

    for (const [i, tc] of SPEC_CASES.entries()) {
      it(`${tc.name} is InvalidSpec with the variable named`, async () => {
        const name = `tpl${i}`;
        await w.datadogSecret(`dd-${name}`);
        await w.deployment(name, `example.com/${name}:1.0.0`, { replicas: 1 });
        const pods = await w.stablePodNames(name);
        await w.canary(name, { steps: FAST_STEPS, analysis: analysis(tc.checks), datadog: { secretRef: { name: `dd-${name}` } } });
        const c = await w.waitFor(name, (x) => readyReason(x) === 'InvalidSpec', 'InvalidSpec', 30_000);
        expect(c.status?.phase).to.equal('Failed');
        expect(c.status?.message).to.match(tc.message);
        await w.waitForEvents(name, ['InvalidSpec']);
        expect(await w.stablePodNames(name)).to.deep.equal(pods);
      });
    }

    interface DatadogCase {
      name: string;
      /** Secret data; default the stand-in with the right keys. */
      secret?: (w: World) => Promise<Record<string, string>> | Record<string, string>;
      setup?: (w: World) => void;
      message: RegExp;
      hidden?: RegExp;
    }
    const DATADOG_CASES: DatadogCase[] = [
      {
        name: 'plain http to a host other than loopback',
        secret: () => ({ 'api-key': API_KEY, 'app-key': APP_KEY, url: 'http://dd-proxy.invalid:8080' }),
        message: /the Datadog Secret's url must use https: plain http would send the API and application keys in clear text.*--datadog-allow-http; no call was made/,
      },
      {
        name: 'Datadog unreachable (nothing listens)',
        secret: async () => ({ 'api-key': API_KEY, 'app-key': APP_KEY, url: `http://127.0.0.1:${await closedPort()}` }),
        message: /no answer from Datadog within \d+(\.\d+)?m?s at 127\.0\.0\.1:\d+: the connection failed or timed out/,
        hidden: /ECONNREFUSED/,
      },
      {
        name: 'an error body with terminal escapes, the keys and 5000 characters',
        setup: (x) => x.dd.addFault({ path: '/api/v1/monitor/*', status: 502, body: { errors: [`\u001b[2J\u001b]0;owned\u0007 proxy said ${API_KEY} ${'x'.repeat(5000)}`] } }),
        message: /Datadog answered 502 Bad Gateway: \[2J\]0;owned proxy said \[redacted\] x+…/,
        hidden: /[\u0000-\u001f]|x{300}/,
      },
    ];
    for (const [i, tc] of DATADOG_CASES.entries()) {
      it(`${tc.name}: the checks are errors, the canary rolls back saying why, stable pods untouched`, async () => {
        const name = `dd${i}`;
        w.dd.upsertMonitor(versionMonitor(101, name));
        w.dd.setVersions(['1.0.0', '1.1.0']);
        await w.datadogSecret(`dd-${name}`, tc.secret ? await tc.secret(w) : undefined);
        await w.deployment(name, `example.com/${name}:1.0.0`, { replicas: 2 });
        await w.canary(name, { steps: FAST_STEPS, ...withChecks(), datadog: { secretRef: { name: `dd-${name}` } }, progressDeadline: '60s' });
        await w.waitPhase(name, 'Waiting');
        const stable = await w.stablePodNames(name);
        tc.setup?.(w);
        try {
          await w.setImage(name, `example.com/${name}:1.1.0`);
          const c = await w.waitPhase(name, 'RolledBack');
          expect(c.status?.message).to.match(/could not be measured 3 times in a row/);
          expect(c.status?.message).to.match(tc.message);
          const last = c.status?.checks?.[0]?.measurements.at(-1);
          expect(last?.message).to.match(tc.message);
          if (tc.hidden) for (const m of c.status?.checks?.[0]?.measurements ?? []) expect(m.message ?? '').to.not.match(tc.hidden);
          expect(JSON.stringify(c.status)).to.not.contain(API_KEY);
          expect(await w.stablePodNames(name)).to.deep.equal(stable);
          await w.waitForEvents(name, ['CheckErrors']);
        } finally {
          w.dd.clearFaults();
        }
      });
    }

    it('a 429 that persists is Inconclusive "rate limited until …", never counts as an error, and the progress deadline ends it', async () => {
      const name = 'limited';
      w.dd.upsertMonitor(versionMonitor(101, name));
      w.dd.setVersions(['1.0.0', '1.1.0']);
      await w.datadogSecret(`dd-${name}`);
      await w.deployment(name, `example.com/${name}:1.0.0`, { replicas: 2 });
      await w.canary(name, { steps: FAST_STEPS, ...withChecks(), datadog: { secretRef: { name: `dd-${name}` } }, progressDeadline: '12s' });
      await w.waitPhase(name, 'Waiting');
      const stable = await w.stablePodNames(name);
      w.dd.rateLimit({ path: '/api/v1/monitor/*', times: 100_000, resetSeconds: 0 });
      try {
        await w.setImage(name, `example.com/${name}:1.1.0`);
        // More rate-limited measurements than consecutiveErrorLimit (3) would allow as errors.
        const c = await w.waitFor(name, (x) => (x.status?.checks?.[0]?.inconclusive ?? 0) >= 5, 'five rate-limited measurements', 60_000);
        const cs = c.status?.checks?.[0];
        expect(cs?.errors).to.equal(0);
        expect(cs?.passes).to.equal(0);
        expect(cs?.measurements.at(-1)).to.deep.include({ verdict: 'Inconclusive', value: 'rate limited' });
        expect(cs?.measurements.at(-1)?.message).to.match(/^rate limited by Datadog \(429\) until \d{4}-\d\d-\d\dT[\d:.]+Z after 2 retries; not counted as an error$/);
        expect(c.status?.phase).to.not.equal('Succeeded');
        expect(c.status?.message ?? '').to.not.match(/could not be measured/);
        const ended = await w.waitPhase(name, 'RolledBack', 60_000);
        expect(readyReason(ended)).to.equal('RolledBack');
        expect(ended.status?.message).to.match(/checks did not pass within the progress deadline after the pause: errors: .*rate limited by Datadog \(429\) until/);
        expect(ended.status?.checks?.[0]?.errors).to.equal(0);
        expect(await w.stablePodNames(name)).to.deep.equal(stable);
      } finally {
        w.dd.clearFaults();
      }
    });
  });

  describe('depctl validate: file:line:column and the message', () => {
    const dir = mkdtempSync(join(tmpdir(), 'depctl-validate-'));
    mkdirSync(dir, { recursive: true });
    for (const [i, tc] of CLI_CASES.entries()) {
      it(`reports ${tc.name}`, async () => {
        const file = join(dir, `case-${i}.yaml`);
        writeFileSync(file, tc.text);
        const r = await depctl(['validate', file]);
        expect(r.code, r.stdout + r.stderr).to.equal(tc.code);
        const lines = r.stdout.split('\n').filter((l) => l.startsWith(`${file}:`)).map((l) => l.slice(file.length + 1));
        expect(lines.some((l) => l.startsWith(tc.line)), lines.join('\n')).to.equal(true);
      });
    }
  });
});
