// Prometheus and webhook checks on the real control plane. Debian's real Prometheus scrapes a
// small exporter on 127.0.0.1 whose values the test sets; the webhook is a local node:http server.
// The Canaries have no spec.datadog: these checks do not need Datadog. Given / When / Then.
import { expect } from 'chai';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Canary, CheckSpec } from '../../src/api/types.js';
import { closedPort } from '../datadog/harness.js';
import { eventually, kubectl, repoRoot } from '../support/cluster.js';
import { Prometheus, ensurePrometheus } from '../support/prometheus.js';
import { World } from '../support/world.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const STEPS = [{ setWeight: 34 }, { pause: { duration: '3s' } }];

/** A local HTTP server: /metrics for Prometheus (gauge app_error_ratio per version), any other path as the webhook. */
class TestServer {
  readonly errorRatio = new Map<string, number>();
  webhook: (req: IncomingMessage, body: string, res: ServerResponse) => void = (_q, _b, res) => res.end('ok');
  readonly hooks: Array<{ method: string; url: string; headers: IncomingMessage['headers']; body: string }> = [];
  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(): Promise<TestServer> {
    let self: TestServer | undefined;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (!self) return res.end();
        if (req.url === '/metrics') {
          const lines = ['# HELP app_error_ratio Share of failed requests.', '# TYPE app_error_ratio gauge'];
          for (const [version, v] of self.errorRatio) lines.push(`app_error_ratio{version="${version}"} ${v}`);
          res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
          return res.end(`${lines.join('\n')}\n`);
        }
        const body = Buffer.concat(chunks).toString('utf8');
        self.hooks.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
        self.webhook(req, body, res);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const a = server.address();
    self = new TestServer(server, typeof a === 'object' && a ? a.port : 0);
    return self;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * This tree's CRD, applied again before each scenario: the control plane is shared, and a run of
 * another tree may have applied an older schema that prunes these check kinds.
 */
async function applyOwnCrd(): Promise<void> {
  const knowsChecks = async (): Promise<boolean> => {
    const kinds = ['prometheusQuery', 'webhook'].map((k) => `{.spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.analysis.properties.checks.items.properties.${k}.type}`);
    const crd = await kubectl(['get', 'crd', 'canaries.deployer.dev', '-o', `jsonpath=${kinds.join(' ')}`]);
    return crd.stdout.trim() === 'object object';
  };
  if (await knowsChecks()) return;
  const r = await kubectl(['apply', '--server-side', '--force-conflicts', '-f', `${repoRoot}/crds/`]);
  if (r.code !== 0) throw new Error(`kubectl apply -f crds/ failed: ${r.stderr}`);
  await eventually(async () => {
    if (!(await knowsChecks())) throw new Error('the Canary CRD does not know Prometheus and webhook checks yet');
  }, { timeoutMs: 10_000, intervalMs: 200 });
  await sleep(500); // the apiserver's handlers pick up the new schema just after the object changes
}

/** The phases a Canary went through while sampling ran. */
function recordPhases(w: World): { phases: Set<string>; stop: () => void } {
  const phases = new Set<string>();
  let on = true;
  void (async () => {
    while (on) {
      const c = await w.get('web').catch(() => undefined);
      if (c?.status?.phase) phases.add(c.status.phase);
      await sleep(100);
    }
  })();
  return { phases, stop: () => void (on = false) };
}

/** Given: a Deployment "web" at 1.0.0 with 3 pods guarded by a Canary with these checks and no spec.datadog. */
async function given(w: World, checks: CheckSpec[], over: Partial<Canary['spec']['analysis']> = {}): Promise<void> {
  await w.deployment('web', 'example.com/web:1.0.0');
  await w.canary('web', { steps: STEPS, progressDeadline: '60s', analysis: { interval: '1s', failureLimit: 0, consecutiveErrorLimit: 2, checks, ...over } });
  await w.waitPhase('web', 'Waiting');
}

/** Then: rolled back, never promoted, canary pods gone, the new template held. */
async function expectRolledBack(w: World, seen: { phases: Set<string>; stop: () => void }, reason: 'CheckFailed' | 'CheckErrors'): Promise<Canary> {
  const c = await w.waitPhase('web', 'RolledBack');
  seen.stop();
  expect([...seen.phases]).to.not.include('Promoting');
  expect([...seen.phases]).to.not.include('Succeeded');
  await w.waitNoCanaryPods('web');
  expect((await w.deploymentObject('web')).spec.paused, 'the failed template stays held').to.equal(true);
  await w.waitForEvents('web', [reason]);
  return c;
}

describe('Prometheus checks on the real control plane', function () {
  this.timeout(180_000);
  let server: TestServer;
  let prom: Prometheus;
  let w: World;

  before(async function () {
    this.timeout(900_000); // the first run may install the Debian package
    const { bin } = await ensurePrometheus();
    server = await TestServer.start();
    prom = await Prometheus.start(bin, [{ job: 'app', target: `127.0.0.1:${server.port}` }]);
  });
  after(async () => {
    await prom?.stop();
    await server?.close();
  });
  beforeEach(async () => {
    server.errorRatio.clear();
    await applyOwnCrd();
    w = await World.create('promcheck');
    await w.startOperator();
  });
  afterEach(async () => w.teardown());

  const errorCheck = (address: () => string, query = 'app_error_ratio{version="{{ version }}"}'): CheckSpec => ({ name: 'errors', prometheusQuery: { address: address(), query, max: 0.05 } });

  /** Waits until Prometheus has scraped the value for the version. */
  async function scraped(version: string, value: number): Promise<void> {
    await eventually(async () => {
      const r = await prom.query(`app_error_ratio{version="${version}"}`);
      if (!r.ok || Number(r.data.result[0]?.value?.[1]) !== value) throw new Error(`Prometheus has not scraped ${version}=${value} yet: ${JSON.stringify(r)}`);
    }, { timeoutMs: 20_000, intervalMs: 200 });
  }

  it('promotes a canary whose error ratio stays under max', async () => {
    server.errorRatio.set('1.0.0', 0.01);
    server.errorRatio.set('2.0.0', 0.01);
    await scraped('2.0.0', 0.01);
    await given(w, [errorCheck(() => prom.url)]);
    await w.setImage('web', 'example.com/web:2.0.0');
    const done = await w.waitPhase('web', 'Succeeded');
    const passes = done.status?.checks?.[0]?.measurements.filter((m) => m.verdict === 'Pass') ?? [];
    expect(passes.length).to.be.greaterThan(0);
    expect(passes[0]?.message).to.match(/^query "app_error_ratio\{version="2\.0\.0"\}" was 0\.01 at .*, within <= 0\.05$/);
    expect(passes[0]?.url).to.equal(`${prom.url}/graph?g0.expr=${encodeURIComponent('app_error_ratio{version="2.0.0"}')}&g0.tab=1`);
    await w.waitForEvents('web', ['Promoted']);
    const rollout = await kubectl(['rollout', 'status', 'deployment/web', '-n', w.ns, '--timeout=30s']);
    expect(rollout.code, rollout.stderr).to.equal(0);
  });

  it('rolls back a canary whose error ratio goes above max', async () => {
    server.errorRatio.set('1.0.0', 0.01);
    server.errorRatio.set('2.0.0', 0.2);
    await scraped('2.0.0', 0.2);
    await given(w, [errorCheck(() => prom.url)]);
    const seen = recordPhases(w);
    await w.setImage('web', 'example.com/web:2.0.0');
    const c = await expectRolledBack(w, seen, 'CheckFailed');
    expect(c.status?.message).to.contain('check errors failed');
    const fail = c.status?.checks?.[0]?.measurements.find((m) => m.verdict === 'Fail');
    expect(fail).to.deep.include({ value: '0.2', threshold: '<= 0.05' });
    expect(fail?.message).to.contain('above max 0.05');
  });

  it('rolls back after consecutiveErrorLimit errors when the query returns several series, and shows them', async () => {
    server.errorRatio.set('1.0.0', 0.01);
    server.errorRatio.set('2.0.0', 0.01);
    await scraped('2.0.0', 0.01);
    await scraped('1.0.0', 0.01);
    await given(w, [errorCheck(() => prom.url, 'app_error_ratio')]);
    const seen = recordPhases(w);
    await w.setImage('web', 'example.com/web:2.0.0');
    const c = await expectRolledBack(w, seen, 'CheckErrors');
    const cs = c.status?.checks?.[0];
    expect(cs?.consecutiveErrors).to.equal(2);
    expect(cs?.passes).to.equal(0);
    const err = cs?.measurements.find((m) => m.verdict === 'Error');
    expect(err?.message).to.match(/returned 2 series; a check needs exactly one .*version="1\.0\.0".* 0\.01, .*version="2\.0\.0".* 0\.01/);
  });

  it('rolls back after consecutiveErrorLimit errors when Prometheus is down, never promoting', async () => {
    const port = await closedPort();
    await given(w, [errorCheck(() => `http://127.0.0.1:${port}`)]);
    const seen = recordPhases(w);
    await w.setImage('web', 'example.com/web:2.0.0');
    const c = await expectRolledBack(w, seen, 'CheckErrors');
    const cs = c.status?.checks?.[0];
    expect(cs?.consecutiveErrors).to.equal(2);
    expect(cs?.measurements.every((m) => m.verdict === 'Error')).to.equal(true);
    expect(cs?.measurements[0]?.message).to.equal(`cannot reach Prometheus at 127.0.0.1:${port}: ECONNREFUSED`);
  });

  it('a missing auth Secret is an Error measurement naming it, and rolls back', async () => {
    server.errorRatio.set('2.0.0', 0.01);
    await given(w, [{ name: 'errors', prometheusQuery: { address: prom.url, query: 'app_error_ratio{version="{{ version }}"}', max: 0.05, auth: { secretRef: { name: 'prom-auth' } } } }]);
    const seen = recordPhases(w);
    await w.setImage('web', 'example.com/web:2.0.0');
    const c = await expectRolledBack(w, seen, 'CheckErrors');
    expect(c.status?.checks?.[0]?.measurements[0]?.message).to.equal(`Secret ${w.ns}/prom-auth not found`);
  });
});

describe('Webhook checks on the real control plane', function () {
  this.timeout(180_000);
  let server: TestServer;
  let w: World;

  beforeEach(async () => {
    server = await TestServer.start();
    await applyOwnCrd();
    w = await World.create('hookcheck');
    await w.startOperator();
  });
  afterEach(async () => {
    await w.teardown();
    await server.close();
  });

  it('promotes when the webhook answers 2xx; the body is templated and the headers come from a Secret', async () => {
    server.webhook = (_req, _body, res) => {
      res.writeHead(200);
      res.end('smoke tests passed: 12/12');
    };
    await w.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'smoke-headers' }, stringData: { 'X-Smoke-Token': 'smoke-token-8c1f2e' } });
    await given(w, [{ name: 'smoke', webhook: { url: `${server.url}/run?target={{ target }}`, body: '{"version":"{{ version }}"}', headersFrom: { secretRef: { name: 'smoke-headers' } } } }]);
    await w.setImage('web', 'example.com/web:2.0.0');
    const done = await w.waitPhase('web', 'Succeeded');
    const pass = done.status?.checks?.[0]?.measurements.find((m) => m.verdict === 'Pass');
    expect(pass).to.deep.include({ value: '200', threshold: '2xx', url: `${server.url}/run` });
    expect(pass?.message).to.match(/^POST answered 200 in \d+ ms: smoke tests passed: 12\/12$/);
    const hook = server.hooks[0];
    expect(hook).to.deep.include({ method: 'POST', url: '/run?target=web', body: '{"version":"2.0.0"}' });
    expect(hook?.headers['x-smoke-token']).to.equal('smoke-token-8c1f2e');
    expect(JSON.stringify(done.status)).to.not.contain('smoke-token-8c1f2e');
    await w.waitForEvents('web', ['Promoted']);
  });

  it('rolls back when the webhook answers 500, with its body in the measurement', async () => {
    server.webhook = (_req, _body, res) => {
      res.writeHead(500);
      res.end('checkout test failed: payment answered 502');
    };
    await given(w, [{ name: 'smoke', webhook: { url: `${server.url}/run` } }]);
    const seen = recordPhases(w);
    await w.setImage('web', 'example.com/web:2.0.0');
    const c = await expectRolledBack(w, seen, 'CheckFailed');
    expect(c.status?.message).to.contain('check smoke failed');
    const fail = c.status?.checks?.[0]?.measurements.find((m) => m.verdict === 'Fail');
    expect(fail?.value).to.equal('500');
    expect(fail?.message).to.match(/^GET answered 500 in \d+ ms: checkout test failed: payment answered 502$/);
  });

  it('rolls back after consecutiveErrorLimit errors when the webhook times out, never promoting', async () => {
    server.webhook = () => undefined; // never answers
    await given(w, [{ name: 'smoke', webhook: { url: `${server.url}/slow`, timeout: '1s' } }]);
    const seen = recordPhases(w);
    await w.setImage('web', 'example.com/web:2.0.0');
    const c = await expectRolledBack(w, seen, 'CheckErrors');
    const cs = c.status?.checks?.[0];
    expect(cs?.consecutiveErrors).to.equal(2);
    expect(cs?.passes).to.equal(0);
    expect(cs?.measurements[0]?.message).to.equal(`GET ${server.url}/slow: no answer within 1s`);
  });
});
