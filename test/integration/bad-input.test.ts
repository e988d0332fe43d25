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
import { stringify } from 'yaml';
import type { Canary, CheckSpec } from '../../src/api/types.js';
import { validateCanaryFile } from '../../src/api/validate.js';
import { kubectl, run, type RunResult } from '../support/cluster.js';
import { closedPort } from '../datadog/harness.js';
import { API_KEY, APP_KEY, World, versionMonitor } from '../support/world.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FAST_STEPS = [{ setWeight: 34 }, { pause: { duration: '2s' } }];
const monitorCheck: CheckSpec = { name: 'errors', datadogMonitor: { id: 101 } };
const analysis = (checks: CheckSpec[]): Record<string, unknown> => ({ interval: '1s', checks });
const withChecks = (checks: CheckSpec[] = [monitorCheck]): Record<string, unknown> => ({ analysis: analysis(checks), datadog: { secretRef: { name: 'datadog' } } });
const readyReason = (c: Canary): string | undefined => c.status?.conditions?.find((k) => k.type === 'Ready')?.reason;

/** A Canary manifest as YAML; `edit` may rewrite the text (for numbers JavaScript cannot hold). */
function manifest(name: string, spec: Record<string, unknown>, edit: (yaml: string) => string = (y) => y): string {
  return edit(stringify({ apiVersion: 'deployer.dev/v1alpha1', kind: 'Canary', metadata: { name }, spec: { targetRef: { name: 'web' }, steps: [{ setWeight: 10 }], ...spec } }, { version: '1.1' }));
}

interface ApplyCase {
  name: string;
  /** The Canary's name; default "bad". */
  canary?: string;
  spec: Record<string, unknown>;
  edit?: (yaml: string) => string;
  /** The apiserver's message; undefined: the apiserver accepts it (a boundary). */
  message?: RegExp;
  /** The path depctl validate reports. */
  path?: string;
}

const long = (n: number, c = 'a'): string => c.repeat(n);
const check = (over: Record<string, unknown>): Record<string, unknown> => withChecks([{ name: 'errors', ...over } as CheckSpec]);

const APPLY_CASES: ApplyCase[] = [
  { name: 'a name of 64 characters', canary: long(64, 'n'), spec: {}, message: /metadata.name must be at most 63 characters: the Canary's name becomes a label value/, path: 'metadata.name' },
  { name: 'a name of exactly 63 characters (accepted)', canary: long(63, 'n'), spec: {} },
  { name: 'a target name with capitals and _', spec: { targetRef: { name: 'Web_App' } }, message: /targetRef.name must be a Deployment name/, path: 'spec.targetRef.name' },
  { name: 'a unicode target name', spec: { targetRef: { name: 'kasse-ü' } }, message: /targetRef.name must be a Deployment name/, path: 'spec.targetRef.name' },
  { name: 'a target name of 254 characters', spec: { targetRef: { name: long(254) } }, message: /spec.targetRef.name: Too long: may not be (longer|more) than 253/, path: 'spec.targetRef.name' },
  { name: 'an empty target name', spec: { targetRef: { name: '' } }, message: /spec.targetRef.name: Invalid value: "": spec.targetRef.name in body should be at least 1 chars long/, path: 'spec.targetRef.name' },
  { name: 'a Secret name with a slash', spec: { ...withChecks(), datadog: { secretRef: { name: 'shop/datadog' } } }, message: /datadog.secretRef.name must be a Secret name/, path: 'spec.datadog.secretRef.name' },
  { name: 'a pause over 168h', spec: { steps: [{ setWeight: 10 }, { pause: { duration: '169h' } }] }, message: /pause.duration must be at most 168h \(7 days\)/, path: 'spec.steps[1].pause.duration' },
  { name: 'a pause of exactly 168h (accepted)', spec: { steps: [{ setWeight: 10 }, { pause: { duration: '168h' } }] } },
  { name: 'a pause of exactly 1s (accepted)', spec: { steps: [{ setWeight: 10 }, { pause: { duration: '1s' } }] } },
  { name: 'a pause of 999ms', spec: { steps: [{ pause: { duration: '999ms' } }] }, message: /pause.duration must be at least 1s/, path: 'spec.steps[0].pause.duration' },
  { name: 'a duration with a day unit', spec: { progressDeadline: '1d' }, message: /spec.progressDeadline in body should match/, path: 'spec.progressDeadline' },
  { name: 'a duration too long to be a number', spec: { progressDeadline: '99999999999999999999h' }, message: /spec.progressDeadline: Too long: may not be (longer|more) than 16/, path: 'spec.progressDeadline' },
  { name: 'a progressDeadline over 24h', spec: { progressDeadline: '24h1s' }, message: /progressDeadline must be at most 24h/, path: 'spec.progressDeadline' },
  { name: 'a progressDeadline of 0s', spec: { progressDeadline: '0s' }, message: /progressDeadline must be at least 1s/, path: 'spec.progressDeadline' },
  { name: 'an interval over 1h', spec: { ...withChecks(), analysis: { interval: '61m', checks: [monitorCheck] } }, message: /analysis.interval must be at most 1h/, path: 'spec.analysis.interval' },
  { name: 'a query window over 24h', spec: check({ datadogQuery: { query: 'avg:x{*}', max: 1, window: '1441m' } }), message: /datadogQuery.window must be at most 24h/, path: 'spec.analysis.checks[0].datadogQuery.window' },
  { name: 'a monitor id of 2^53', spec: check({ datadogMonitor: { id: 1111 } }), edit: (y) => y.replace('id: 1111', 'id: 9007199254740992'), message: /should be less than or equal to 9007199254740991/, path: 'spec.analysis.checks[0].datadogMonitor.id' },
  { name: 'a monitor id of 2^53-1 (accepted)', spec: check({ datadogMonitor: { id: 1111 } }), edit: (y) => y.replace('id: 1111', 'id: 9007199254740991') },
  { name: 'a monitor id beyond int64', spec: check({ datadogMonitor: { id: 1111 } }), edit: (y) => y.replace('id: 1111', 'id: 99999999999999999999999'), message: /datadogMonitor.id in body must be of type int64/, path: 'spec.analysis.checks[0].datadogMonitor.id' },
  { name: 'a monitor id of 0', spec: check({ datadogMonitor: { id: 0 } }), message: /datadogMonitor.id in body should be greater than or equal to 1/, path: 'spec.analysis.checks[0].datadogMonitor.id' },
  { name: 'a monitor id as a string', spec: check({ datadogMonitor: { id: '101' } }), message: /datadogMonitor.id: Invalid value: "string": spec.analysis.checks\[0\].datadogMonitor.id in body must be of type integer/, path: 'spec.analysis.checks[0].datadogMonitor.id' },
  { name: 'a monitor id with a fraction', spec: check({ datadogMonitor: { id: 101.5 } }), message: /datadogMonitor.id in body must be of type int64: "float64"/, path: 'spec.analysis.checks[0].datadogMonitor.id' },
  { name: 'a monitor with id and tags', spec: check({ datadogMonitor: { id: 1, tags: ['service:web'] } }), message: /datadogMonitor needs exactly one of id, tags or query/, path: 'spec.analysis.checks[0].datadogMonitor' },
  { name: 'a monitor with no selector', spec: check({ datadogMonitor: { group: 'version:1' } }), message: /datadogMonitor needs exactly one of id, tags or query/, path: 'spec.analysis.checks[0].datadogMonitor' },
  { name: 'an empty tag list', spec: check({ datadogMonitor: { tags: [] } }), message: /datadogMonitor.tags in body should have at least 1 items/, path: 'spec.analysis.checks[0].datadogMonitor.tags' },
  { name: 'a tag of 201 characters', spec: check({ datadogMonitor: { tags: [long(201, 't')] } }), message: /datadogMonitor.tags\[0\]: Too long: may not be (longer|more) than 200/, path: 'spec.analysis.checks[0].datadogMonitor.tags[0]' },
  { name: 'a query of 2001 characters', spec: check({ datadogQuery: { query: long(2001, 'q'), max: 1 } }), message: /datadogQuery.query: Too long: may not be (longer|more) than 2000/, path: 'spec.analysis.checks[0].datadogQuery.query' },
  { name: 'a query check without min or max', spec: check({ datadogQuery: { query: 'avg:x{*}' } }), message: /datadogQuery needs min, max or both/, path: 'spec.analysis.checks[0].datadogQuery' },
  { name: 'a query check with min above max', spec: check({ datadogQuery: { query: 'avg:x{*}', min: 5, max: 1 } }), message: /datadogQuery.min must not exceed max/, path: 'spec.analysis.checks[0].datadogQuery.min' },
  { name: 'a unicode check name', spec: withChecks([{ name: 'fehlerrate-ä', datadogMonitor: { id: 1 } }]), message: /checks\[0\].name in body should match/, path: 'spec.analysis.checks[0].name' },
  { name: 'a check name of 64 characters', spec: withChecks([{ name: long(64, 'e'), datadogMonitor: { id: 1 } }]), message: /checks\[0\].name: Too long: may not be (longer|more) than 63/, path: 'spec.analysis.checks[0].name' },
  { name: '21 checks', spec: withChecks(Array.from({ length: 21 }, (_, i) => ({ name: `c${i}`, datadogMonitor: { id: i + 1 } }))), message: /spec.analysis.checks: Too many: 21: must have at most 20 items/, path: 'spec.analysis.checks' },
  { name: 'checks without a Datadog Secret', spec: { analysis: analysis([monitorCheck]) }, message: /datadog.secretRef is required when analysis has checks/, path: 'spec.datadog' },
  { name: 'a verdict in lower case', spec: check({ datadogMonitor: { id: 1, verdicts: { warn: 'fail' } } }), message: /verdicts.warn: Unsupported value: "fail": supported values: "Pass", "Fail", "Inconclusive"/, path: 'spec.analysis.checks[0].datadogMonitor.verdicts.warn' },
  { name: 'a failureLimit of 1001', spec: { analysis: { failureLimit: 1001 } }, message: /failureLimit in body should be less than or equal to 1000/, path: 'spec.analysis.failureLimit' },
  { name: 'a consecutiveErrorLimit of 0', spec: { analysis: { consecutiveErrorLimit: 0 } }, message: /consecutiveErrorLimit in body should be greater than or equal to 1/, path: 'spec.analysis.consecutiveErrorLimit' },
  { name: 'a weight of 0', spec: { steps: [{ setWeight: 0 }] }, message: /setWeight in body should be greater than or equal to 1/, path: 'spec.steps[0].setWeight' },
  { name: 'a weight of 99 (accepted)', spec: { steps: [{ setWeight: 99 }] } },
  { name: 'a weight as a string', spec: { steps: [{ setWeight: '20' }] }, message: /setWeight: Invalid value: "string": spec.steps\[0\].setWeight in body must be of type integer/, path: 'spec.steps[0].setWeight' },
  { name: '51 steps', spec: { steps: Array.from({ length: 51 }, () => ({ setWeight: 10 })) }, message: /spec.steps: Too many: 51: must have at most 50 items/, path: 'spec.steps' },
  { name: '50 steps (accepted)', spec: { steps: Array.from({ length: 50 }, (_, i) => (i % 2 ? { pause: { duration: '1s' } } : { setWeight: 10 })) } },
  { name: 'an unknown field', spec: { progresDeadline: '5m' }, message: /unknown field "spec.progresDeadline"/, path: 'spec.progresDeadline' },
  { name: 'steps as a string', spec: { steps: 'setWeight 10' }, message: /spec.steps: Invalid value: "string": spec.steps in body must be of type array/, path: 'spec.steps' },
];

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

    interface SpecCase {
      name: string;
      checks: CheckSpec[];
      message: RegExp;
    }
    // CEL cannot parse templates: these pass the apiserver and the controller says InvalidSpec.
    const SPEC_CASES: SpecCase[] = [
      { name: 'an unknown template variable', checks: [{ name: 'errors', datadogQuery: { query: 'avg:errors{version:{{ release }}}', max: 1 } }], message: /unknown variable "release" in "avg:errors\{version:\{\{ release \}\}\}"; known: name, namespace, revision, stableVersion, target, version/ },
      { name: 'an unclosed template', checks: [{ name: 'errors', datadogMonitor: { id: 101, group: 'version:{{ version' } }], message: /"\{\{" without a matching "\}\}" in "version:\{\{ version"/ },
      { name: 'an unknown variable in a tag', checks: [{ name: 'errors', datadogMonitor: { tags: ['service:{{ service }}'] } }], message: /unknown variable "service"/ },
    ];
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
    const VALID = manifest('checkout', { steps: [{ setWeight: 20 }, { pause: { duration: '5m' } }], ...withChecks() });
    interface CliCase {
      name: string;
      text: string;
      /** Expected line of output (exact), after the file name. */
      line: string;
      code: number;
    }
    const CLI_CASES: CliCase[] = [
      { name: 'a name of 64 characters', text: VALID.replace('name: checkout', `name: ${long(64, 'n')}`), line: `4:3: metadata.name: metadata.name must be at most 63 characters: the Canary's name becomes a label value on its Deployment and canary pods (is 64)`, code: 1 },
      { name: 'a pause over 168h', text: VALID.replace('duration: 5m', 'duration: 169h'), line: '11:9: spec.steps[1].pause.duration: pause.duration must be at most 168h (7 days); for longer, use a pause without a duration and promote by hand, got "169h"', code: 1 },
      { name: 'a monitor id beyond int64', text: VALID.replace('id: 101', 'id: 99999999999999999999999'), line: '17:11: spec.analysis.checks[0].datadogMonitor.id: must be at most 9007199254740991, got 1e+23', code: 1 },
      { name: 'an unknown template variable', text: VALID.replace('id: 101', 'query: "tag:\\"version:{{ release }}\\""'), line: '17:11: spec.analysis.checks[0].datadogMonitor.query: unknown variable "release" in "tag:"version:{{ release }}""; known: name, namespace, revision, stableVersion, target, version', code: 1 },
      { name: 'a unicode target name', text: VALID.replace('name: web', 'name: kasse-ü'), line: `7:5: spec.targetRef.name: targetRef.name must be a Deployment name: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, got "kasse-ü"`, code: 1 },
      { name: 'checks with no pause after the last setWeight (a warning, exit 0)', text: VALID.replace('    - pause:\n        duration: 5m\n', ''), line: '9:7: warning: spec.steps[0]: no pause after the last setWeight: the canary is watched only until there is one passing measurement of every check, then promoted; add a pause after it (e.g. "- pause: {duration: 10m}") to watch it for longer', code: 0 },
      { name: 'broken YAML', text: 'kind: Canary\nspec:\n  steps: [\n', line: '4:1: invalid YAML', code: 1 },
    ];
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
