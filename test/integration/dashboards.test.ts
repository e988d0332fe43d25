// The Grafana dashboard's queries against Debian's real Prometheus: Prometheus scrapes an
// operator's /metrics while a Canary is promoted, the operator's connections to the API server
// drop (its watches restart), and a Canary is rolled back. Then every PromQL expression of the
// dashboard, with its template variables filled in as Grafana would, goes through
// /api/v1/query and must parse and return at least one series.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import type { CheckSpec } from '../../src/api/types.js';
import { eventually, repoRoot } from '../support/cluster.js';
import { Prometheus, ensurePrometheus } from '../support/prometheus.js';
import { World, versionMonitor } from '../support/world.js';

const JOB = 'deployer';
const STEPS = [{ setWeight: 34 }, { pause: { duration: '1s' } }, { setWeight: 50 }, { pause: { duration: '1s' } }];
const monitorCheck: CheckSpec = { name: 'errors', datadogMonitor: { id: 101 } };

interface GrafanaTarget {
  expr?: string;
  refId?: string;
}
interface GrafanaPanel {
  id: number;
  type: string;
  title: string;
  datasource?: { uid?: string };
  fieldConfig?: { defaults?: { unit?: string } };
  targets?: GrafanaTarget[];
  panels?: GrafanaPanel[];
}
interface GrafanaVariable {
  name: string;
  type: string;
  query: string | { query: string };
}
interface GrafanaDashboard {
  panels: GrafanaPanel[];
  templating: { list: GrafanaVariable[] };
}

const grafanaDashboardPath = join(repoRoot, 'deploy/dashboards/grafana-deployer.json');

/** Every panel, including those inside collapsed rows. */
function allPanels(d: GrafanaDashboard): GrafanaPanel[] {
  return d.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
}

/** Every PromQL expression of the dashboard, named by its panel and refId. */
function expressions(d: GrafanaDashboard): Array<{ where: string; expr: string }> {
  return allPanels(d).flatMap((p) => (p.targets ?? []).filter((t) => t.expr).map((t) => ({ where: `panel "${p.title}" (${t.refId ?? '?'})`, expr: t.expr! })));
}

/** Grafana's variable syntaxes: $name, ${name} and ${name:format}. Unknown names stay as they are. */
function substitute(expr: string, vars: Record<string, string>): string {
  return expr.replace(/\$\{(\w+)(?::\w+)?\}|\$(\w+)/g, (whole, braced: string | undefined, bare: string | undefined) => vars[braced ?? bare ?? ''] ?? whole);
}

/** A TCP relay in front of the API server whose connections the test can cut. */
class ApiRelay {
  private constructor(
    private readonly server: Server,
    readonly port: number,
    private readonly sockets: Set<Socket>,
  ) {}

  static async start(host: string, port: number): Promise<ApiRelay> {
    const sockets = new Set<Socket>();
    const server = createServer((down) => {
      const up = createConnection({ host, port });
      for (const s of [down, up]) {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
        s.on('error', () => {
          down.destroy();
          up.destroy();
        });
      }
      down.pipe(up);
      up.pipe(down);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const addr = server.address();
    return new ApiRelay(server, typeof addr === 'object' && addr ? addr.port : 0, sockets);
  }

  /** Resets every open connection (watches and requests alike); returns how many. */
  cut(): number {
    const n = this.sockets.size;
    for (const s of this.sockets) s.resetAndDestroy();
    return n;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function throughRelay(kc: KubeConfig, port: number): KubeConfig {
  const out = new KubeConfig();
  out.loadFromOptions({
    clusters: kc.clusters.map((c) => ({ ...c, server: `https://127.0.0.1:${port}` })),
    users: kc.users,
    contexts: kc.contexts,
    currentContext: kc.currentContext,
  });
  return out;
}

describe('Grafana dashboard against a real Prometheus', function () {
  this.timeout(180_000);
  const dashboard = JSON.parse(readFileSync(grafanaDashboardPath, 'utf8')) as GrafanaDashboard;
  let w: World;
  let relay: ApiRelay;
  let prom: Prometheus;
  let vars: Record<string, string>;

  before(async function () {
    this.timeout(900_000); // a cold machine installs the Debian package first
    const ensured = await ensurePrometheus();
    w = await World.create('dash');
    const api = new URL(w.kc.getCurrentCluster()!.server);
    relay = await ApiRelay.start(api.hostname, Number(api.port || 443));
    const op = await w.startOperator({ kubeconfig: throughRelay(w.kc, relay.port), health: { host: '127.0.0.1', port: 0 } });
    prom = await Prometheus.start(ensured.bin, [{ job: JOB, target: `127.0.0.1:${op.healthPort}`, labels: { namespace: w.ns } }]);
    console.log(`      prometheus: ${ensured.bin} available after ${ensured.ms} ms, ready ${prom.startMs} ms after start`);
    vars = { job: JOB, namespace: w.ns, datasource: 'prometheus', __rate_interval: '1m', __interval: '15s', __range: '1h' };
  });

  after(async function () {
    this.timeout(60_000);
    await prom?.stop();
    await w?.teardown();
    await relay?.close();
  });

  /** Waits until Prometheus returns at least one series for an expression. */
  async function seen(expr: string, timeoutMs = 30_000): Promise<void> {
    await eventually(
      async () => {
        const r = await prom.query(expr);
        if (!r.ok) throw new Error(`${expr}: ${r.error}`);
        if (r.data.result.length === 0) throw new Error(`no series yet for ${expr}`);
      },
      { timeoutMs, intervalMs: 500 },
    );
  }

  it('scrapes the operator through a promotion, dropped API connections and a rollback', async () => {
    const ns = `namespace="${w.ns}"`;
    await seen(`deployer_leader{${ns}} == 1`);

    w.dd.upsertMonitor(versionMonitor(101, 'web'));
    w.dd.setVersions(['1.0.0', '1.1.0', '2.0.0']);
    await w.datadogSecret();
    await w.deployment('web', 'example.com/web:1.0.0');
    await w.canary('web', { steps: STEPS, analysis: { interval: '1s', failureLimit: 0, checks: [monitorCheck] }, datadog: { secretRef: { name: 'datadog' } }, progressDeadline: '60s' });
    await w.waitPhase('web', 'Waiting');

    await w.setImage('web', 'example.com/web:1.1.0');
    await w.waitPhase('web', 'Succeeded');
    await w.waitNoCanaryPods('web');

    expect(relay.cut(), 'open connections to the API server').to.be.greaterThan(0);
    await seen(`deployer_watch_restarts_total{${ns}} > 0`);

    w.dd.setAlertVersions(['2.0.0']);
    await w.setImage('web', 'example.com/web:2.0.0');
    await w.waitPhase('web', 'RolledBack');

    for (const reason of ['Promoted', 'CheckFailed']) await seen(`deployer_canary_transitions_total{${ns}, reason="${reason}"} > 0`);
    await seen(`deployer_datadog_calls_total{${ns}, result="ok"}`);
    await seen(`deployer_webhook_requests_total{${ns}, outcome="held"}`);
    // rate() and increase() need two samples after the last change.
    await new Promise((r) => setTimeout(r, 2_500));
  });

  it('every PromQL expression of the dashboard parses and returns series, now and over a range', async () => {
    const all = expressions(dashboard);
    expect(all.length, 'expressions in the dashboard').to.be.greaterThan(15);
    const failures: string[] = [];
    for (const { where, expr } of all) {
      const q = substitute(expr, vars);
      if (q.includes('$')) {
        failures.push(`${where}: unknown template variable in ${expr}`);
        continue;
      }
      const r = await prom.query(q);
      if (!r.ok) failures.push(`${where}: ${q}\n        error: ${r.error}`);
      else if (r.data.result.length === 0) failures.push(`${where}: ${q}\n        returned no series`);
      // Graph panels ask for a range: the same expression over the last 30 s.
      const range = await prom.queryRange(q, 30, 5);
      if (!range.ok) failures.push(`${where} (range): ${q}\n        error: ${range.error}`);
      else if (range.data.result.length === 0) failures.push(`${where} (range): ${q}\n        returned no series`);
    }
    expect(failures, `${failures.length} of ${all.length} expressions failed:\n  ${failures.join('\n  ')}`).to.deep.equal([]);
  });

  /** The series of a panel's first query, as label set and value. */
  async function panelValues(title: string): Promise<Array<{ metric: Record<string, string>; value: number }>> {
    const panel = allPanels(dashboard).find((p) => p.title === title);
    expect(panel?.targets?.[0]?.expr, `panel "${title}"`).to.be.a('string');
    const r = await prom.query(substitute(panel!.targets![0]!.expr!, vars));
    if (!r.ok) throw new Error(`panel "${title}": ${r.error}`);
    return r.data.result.map((s) => ({ metric: s.metric, value: Number(s.value?.[1]) }));
  }

  it('the delivery panels count the one promotion and the one rollback', async () => {
    const [promotions] = await panelValues('Promotions');
    expect(promotions?.value, 'Promotions').to.be.closeTo(1, 0.2);
    const [rollbacks] = await panelValues('Rollbacks');
    expect(rollbacks?.value, 'Rollbacks').to.be.closeTo(1, 0.2);
    const [ratio] = await panelValues('Rollback ratio');
    expect(ratio?.value, 'Rollback ratio').to.be.closeTo(0.5, 0.1);
    const causes = await panelValues('Rollbacks by cause');
    expect(causes.find((s) => s.metric['reason'] === 'CheckFailed')?.value, 'rollbacks on a failed check').to.be.closeTo(1, 0.2);
    const byReason = (await panelValues('Canary transitions by reason')).filter((s) => s.value > 0).map((s) => s.metric['reason']);
    expect(byReason).to.include.members(['NewRevision', 'Promoted', 'CheckFailed']);
    const restarts = await panelValues('Watch restarts');
    expect(restarts.some((s) => s.value > 0), `watch restarts after the cut: ${JSON.stringify(restarts)}`).to.equal(true);
  });

  it('its template variables find the scraped job and namespace', async () => {
    const queries = dashboard.templating.list.filter((v) => v.type === 'query');
    expect(queries.map((v) => v.name)).to.include.members(['job', 'namespace']);
    const expected: Record<string, string> = { job: JOB, namespace: w.ns };
    for (const v of queries) {
      const text = typeof v.query === 'string' ? v.query : v.query.query;
      const m = /^label_values\((.+),\s*(\w+)\)$/.exec(text);
      expect(m, `variable ${v.name}: ${text} is label_values(selector, label)`).to.not.equal(null);
      const r = await prom.labelValues(m![2]!, substitute(m![1]!, vars));
      expect(r.ok ? r.data : r.error, `variable ${v.name}: ${text}`).to.include(expected[v.name]);
    }
  });

  it('gives every panel the data source variable and a unit', () => {
    const variables = dashboard.templating.list.map((v) => v.name);
    expect(variables).to.include('datasource');
    for (const p of allPanels(dashboard).filter((x) => x.type !== 'row')) {
      expect(p.datasource?.uid, `panel "${p.title}"`).to.equal('${datasource}');
      expect(p.fieldConfig?.defaults?.unit, `unit of panel "${p.title}"`).to.be.a('string');
    }
  });
});
