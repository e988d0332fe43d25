import { expect } from 'chai';
import { Registry, type Metric } from 'prom-client';
import winston from 'winston';
import Transport from 'winston-transport';
import { DeliveryExporter, type DeliveryEvent } from '../../src/metrics/delivery-exporter.js';
import { API_HISTORY, apiCanary, SHOP_HISTORY, shopRelease } from '../support/delivery-history.js';

const NOW = Date.parse('2026-12-01T00:00:00Z');
const SHOP = { kind: 'Release', namespace: 'prod', name: 'shop' };
const API = { kind: 'Canary', namespace: 'prod', name: 'api' };

class Capture extends Transport {
  readonly lines: Array<Record<string, unknown>> = [];
  override log(info: Record<string, unknown>, next: () => void): void {
    this.lines.push(info);
    next();
  }
}

function setUp(logFinishedAfter = 0): { exporter: DeliveryExporter; registry: Registry; logs: Capture; events: DeliveryEvent[] } {
  const registry = new Registry();
  const logs = new Capture();
  const logger = winston.createLogger({ transports: [logs] });
  const events: DeliveryEvent[] = [];
  const exporter = new DeliveryExporter({ registry, logger, now: () => NOW, logFinishedAfter, listeners: [(e) => events.push(e)] });
  return { exporter, registry, logs, events };
}

async function value(registry: Registry, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const base = name.replace(/_(sum|count)$/, '');
  const metric = registry.getSingleMetric(base) as Metric | undefined;
  if (!metric) throw new Error(`no metric ${base}`);
  const { values } = await metric.get();
  const match = values.find((v) => ((v as { metricName?: string }).metricName ?? base) === name && Object.entries(labels).every(([k, want]) => v.labels[k] === want));
  return match?.value;
}

describe('delivery metrics on /metrics', () => {
  it('exports counters, histograms and gauges computed from a literal set of objects', async () => {
    const { exporter, registry } = setUp();
    exporter.observeRelease(shopRelease());
    exporter.observeCanary(apiCanary());
    // Outcomes of the whole Release history: promoted g1 g2 g5 g6 g7 g8 g10; rolled back after
    // promotion g4; caught g3; abandoned g9; failed g11.
    expect(await value(registry, 'deployer_deploys_total', { ...SHOP, outcome: 'promoted' })).to.equal(7);
    expect(await value(registry, 'deployer_deploys_total', { ...SHOP, outcome: 'rolled_back' })).to.equal(1);
    expect(await value(registry, 'deployer_deploys_total', { ...SHOP, outcome: 'caught' })).to.equal(1);
    expect(await value(registry, 'deployer_deploys_total', { ...SHOP, outcome: 'abandoned' })).to.equal(1);
    expect(await value(registry, 'deployer_deploys_total', { ...SHOP, outcome: 'failed' })).to.equal(1);
    // The Canary alone: r1, r3, r1 promoted, r2 caught; the Release-driven record is not counted here.
    expect(await value(registry, 'deployer_deploys_total', { ...API, outcome: 'promoted' })).to.equal(3);
    expect(await value(registry, 'deployer_deploys_total', { ...API, outcome: 'caught' })).to.equal(1);
    // Durations of the 8 promoted (g1 1200 + 1800 2400 1200 3600 600 900 1800) = 13500 s.
    expect(await value(registry, 'deployer_deploy_duration_seconds_count', SHOP)).to.equal(8);
    expect(await value(registry, 'deployer_deploy_duration_seconds_sum', SHOP)).to.equal(13500);
    // Lead times: g1 87600 + 88200 9600 7200 4200 86400 326100 = 609300 s over 7.
    expect(await value(registry, 'deployer_lead_time_seconds_count', SHOP)).to.equal(7);
    expect(await value(registry, 'deployer_lead_time_seconds_sum', SHOP)).to.equal(609300);
    // Lines: 999 120 300 80 10 500 500 60 = 2569 over 8.
    expect(await value(registry, 'deployer_lines_changed_count', SHOP)).to.equal(8);
    expect(await value(registry, 'deployer_lines_changed_sum', SHOP)).to.equal(2569);
    // Recoveries: 1800 + 5400 + 86700.
    expect(await value(registry, 'deployer_time_to_recover_seconds_count', SHOP)).to.equal(3);
    expect(await value(registry, 'deployer_time_to_recover_seconds_sum', SHOP)).to.equal(93900);
    for (const cause of ['rolled_back', 'fix_forward', 'redeployed_previous']) {
      expect(await value(registry, 'deployer_change_failures_total', { ...SHOP, cause })).to.equal(1);
    }
    // Gauges over 30 days (from 1 Nov): 8 promoted (g1 … g10), 3 failures.
    expect(await value(registry, 'deployer_deploys_per_week', SHOP)).to.equal(8 / (30 / 7));
    expect(await value(registry, 'deployer_change_failure_rate', SHOP)).to.equal(3 / 8);
    expect(await value(registry, 'deployer_change_failure_rate', API)).to.equal(1 / 3);
    // Buckets reach hours and no series carries a version.
    const text = await registry.metrics();
    expect(text).to.include('deployer_deploy_duration_seconds_bucket{le="86400",kind="Release",namespace="prod",name="shop"} 8');
    expect(text).to.include('deployer_lead_time_seconds_bucket{le="3600",kind="Release",namespace="prod",name="shop"} 0');
    expect(text).to.include('deployer_lead_time_seconds_bucket{le="7200",kind="Release",namespace="prod",name="shop"} 2');
    expect(text).not.to.match(/version=/);
  });

  it('observes each record once: a second pass and a new record add only the new one', async () => {
    const { exporter, registry, events } = setUp();
    exporter.observeRelease(shopRelease());
    exporter.observeRelease(shopRelease());
    expect(await value(registry, 'deployer_deploys_total', { ...SHOP, outcome: 'promoted' })).to.equal(7);
    const g12 = { generation: 12, version: '1.6.1', startedAt: '2026-11-30T09:00:00Z', promotedAt: '2026-11-30T09:20:00Z', finishedAt: '2026-11-30T09:30:00Z', outcome: 'Succeeded' as const };
    exporter.observeRelease(shopRelease([g12, ...SHOP_HISTORY]));
    expect(await value(registry, 'deployer_deploys_total', { ...SHOP, outcome: 'promoted' })).to.equal(8);
    expect(await value(registry, 'deployer_deploy_duration_seconds_sum', SHOP)).to.equal(13500 + 1200);
    expect(events.filter((e) => e.type === 'Finished')).to.have.length(12);
    expect(events.filter((e) => e.type === 'ChangeFailure')).to.have.length(3);
  });

  it('rebuilds the same figures after a restart from the histories', async () => {
    const a = setUp();
    a.exporter.observeRelease(shopRelease());
    const b = setUp();
    b.exporter.observeRelease(shopRelease());
    for (const name of ['deployer_deploy_duration_seconds_sum', 'deployer_lead_time_seconds_sum', 'deployer_time_to_recover_seconds_sum']) {
      expect(await value(b.registry, name, SHOP)).to.equal(await value(a.registry, name, SHOP));
    }
  });

  it('logs one "Deploy finished" line per deploy finished after the start, with its figures', () => {
    const { exporter, logs } = setUp(Date.parse('2026-11-26T00:00:00Z'));
    exporter.observeRelease(shopRelease());
    exporter.observeRelease(shopRelease());
    exporter.observeCanary(apiCanary(API_HISTORY));
    // After 26 Nov: g8, g9, g10, g11 of the Release; nothing of the Canary.
    expect(logs.lines.map((l) => `${String(l.name)}/${String(l.revision)}`)).to.deep.equal(['shop/8', 'shop/9', 'shop/10', 'shop/11']);
    expect(logs.lines[0]).to.deep.include({
      message: 'Deploy finished',
      kind: 'Release',
      namespace: 'prod',
      name: 'shop',
      version: '1.3.1',
      revision: '8',
      outcome: 'promoted',
      durationSeconds: 900,
      leadTimeSeconds: 326100,
      linesChanged: 500,
    });
  });

  it('drops the gauges of a deleted object', async () => {
    const { exporter, registry } = setUp();
    exporter.observeCanary(apiCanary());
    exporter.forget('Canary', 'prod', 'api');
    expect(await value(registry, 'deployer_deploys_per_week', API)).to.equal(undefined);
  });
});
