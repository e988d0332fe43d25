import { expect } from 'chai';
import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import winston from 'winston';
import type { DatadogCredentials } from '../../src/analysis/provider.js';
import type { Release } from '../../src/api/release-types.js';
import { deploysOfRelease } from '../../src/metrics/delivery.js';
import { DeliveryExporter } from '../../src/metrics/delivery-exporter.js';
import { datadogDoraClient } from '../../src/metrics/dora-client.js';
import { doraDeployment, doraDeploymentId, toNanoseconds } from '../../src/metrics/dora-payload.js';
import { DoraSender } from '../../src/metrics/dora-sender.js';
import { DatadogStandIn } from '../datadog/server.js';
import { API_KEY, APP_KEY } from '../datadog/harness.js';
import { NOW, shopRelease } from '../support/delivery-history.js';

const quiet = winston.createLogger({ silent: true });
const doraShop = (): Release => {
  const r = shopRelease();
  return { ...r, spec: { ...r.spec, datadog: { secretRef: { name: 'datadog' } }, dora: { enabled: true, service: 'shop-web', env: 'prod' } } as Release['spec'] };
};
const STARTS: Record<string, string> = Object.fromEntries(shopRelease().status!.history!.map((r) => [String(r.generation), r.startedAt]));
const id = (revision: string): string => doraDeploymentId({ uid: 'uid-shop', revision, startedAt: Date.parse(STARTS[revision.replace('-rollback', '')]!) });

async function eventually(check: () => void, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      check();
      return;
    } catch (e) {
      if (Date.now() > until) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

describe('Datadog DORA Metrics', () => {
  describe('payloads', () => {
    it('a promoted release: deterministic id, ns at whole seconds, service, env, version, git and tags', () => {
      const g8 = deploysOfRelease(shopRelease()).find((d) => d.revision === '8');
      expect(g8).not.to.equal(undefined);
      const p = doraDeployment(g8!, { enabled: true, service: 'shop-web', env: 'prod' });
      expect(p).to.deep.equal({
        id: id('8'),
        service: 'shop-web',
        env: 'prod',
        version: '1.3.1',
        // 2026-11-26T09:00:00Z and 09:15:00Z in ns.
        startedAt: Date.parse('2026-11-26T09:00:00Z') * 1e6,
        finishedAt: Date.parse('2026-11-26T09:15:00Z') * 1e6,
        git: { repositoryUrl: 'https://github.com/acme/shop', commitSha: 'shaB' },
        customTags: ['deployer_kind:release', 'deployer_namespace:prod', 'deployer_name:shop', 'deployer_revision:8'],
      });
      expect(p?.id).to.match(/^deployer-[0-9a-f]{32}$/);
      expect(id('8')).to.equal(id('8')).and.not.equal(id('7'));
      // The same revision deployed again later is another deployment.
      expect(doraDeploymentId({ uid: 'u', revision: 'abc', startedAt: 1000 })).not.to.equal(doraDeploymentId({ uid: 'u', revision: 'abc', startedAt: 2000 }));
      // Exact on the wire: a multiple of 10^9 below 2^62 is a float without rounding.
      expect(String(toNanoseconds(Date.parse('2026-11-26T09:15:00.999Z')))).to.equal('1795684500000000000');
    });

    it('no deployment for a deploy that was never promoted; service defaults to the name', () => {
      const [g3] = deploysOfRelease(shopRelease()).filter((d) => d.revision === '3');
      expect(doraDeployment(g3!, { enabled: true })).to.equal(undefined);
      const [g2] = deploysOfRelease(shopRelease()).filter((d) => d.revision === '2');
      expect(doraDeployment(g2!, { enabled: true })?.service).to.equal('shop');
    });
  });

  describe('sent by the real client to the stand-in', () => {
    let dd: DatadogStandIn;
    let creds: DatadogCredentials;
    before(async () => {
      dd = await DatadogStandIn.start({ apiKey: API_KEY, appKey: APP_KEY });
      creds = { apiKey: API_KEY, appKey: APP_KEY, url: dd.url };
    });
    after(() => dd.close());
    beforeEach(() => dd.reset());

    function operator(o: { leader?: () => boolean; credentials?: DatadogCredentials; logger?: winston.Logger } = {}): { exporter: DeliveryExporter; sender: DoraSender; registry: Registry } {
      const registry = new Registry();
      const sender = new DoraSender({
        client: datadogDoraClient,
        credentials: async () => ({ ok: true, credentials: o.credentials ?? creds }),
        isLeader: o.leader ?? (() => true),
        logger: o.logger ?? quiet,
        registry,
        now: () => NOW,
        horizonMs: 365 * 24 * 3600_000,
        retry: { initialMs: 20, maxMs: 100, maxAttempts: 5 },
      });
      const exporter = new DeliveryExporter({ registry, logger: quiet, now: () => NOW, listeners: [(e) => sender.onEvent(e)] });
      return { exporter, sender, registry };
    }

    const deployments = (): Array<Record<string, unknown>> => dd.doraEvents().deployments.map((d) => (d as { data: { attributes: Record<string, unknown> } }).data.attributes);

    it('reports every promotion once and each change failure with its remediation, in Datadog wire format', async () => {
      const { exporter, sender } = operator();
      exporter.observeRelease(doraShop());
      // Promoted: g1 g2 g4 g5 g6 g7 g8 g10, and the rollback of g4 (back to 1.1.0 when it finished).
      await eventually(() => expect(dd.doraEvents().patches).to.have.length(3));
      const sent = deployments();
      expect(sent.map((a) => a.id)).to.have.members([...['1', '2', '4', '5', '6', '7', '8', '10'].map(id), id('4-rollback')]);
      const g4 = sent.find((a) => a.id === id('4'));
      expect(g4).to.deep.equal({
        id: id('4'),
        service: 'shop-web',
        env: 'prod',
        version: '1.2.1',
        started_at: Date.parse('2026-11-20T10:00:00Z') * 1e6,
        finished_at: Date.parse('2026-11-20T10:40:00Z') * 1e6,
        git: { repository_url: 'https://github.com/acme/shop', commit_sha: 'sha300' },
        custom_tags: ['deployer_kind:release', 'deployer_namespace:prod', 'deployer_name:shop', 'deployer_revision:4'],
      });
      const rollback = sent.find((a) => a.id === id('4-rollback'));
      expect(rollback).to.deep.include({ version: '1.1.0', started_at: Date.parse('2026-11-20T11:10:00Z') * 1e6, finished_at: Date.parse('2026-11-20T11:10:00Z') * 1e6 });
      expect(dd.doraEvents().patches.map((p) => [p.id, (p.body as { data: { attributes: unknown } }).data.attributes])).to.have.deep.members([
        [id('4'), { change_failure: true, remediation: { type: 'rollback', id: id('4-rollback') } }],
        [id('5'), { change_failure: true, remediation: { type: 'rollforward', id: id('6') } }],
        [id('7'), { change_failure: true, remediation: { type: 'rollback', id: id('8') } }],
      ]);
      expect(sender.pending()).to.deep.equal([]);
      sender.close();
    });

    it('a restart sends the same ids again: still one deployment each', async () => {
      for (let i = 0; i < 2; i++) {
        const { exporter, sender } = operator();
        exporter.observeRelease(doraShop());
        await eventually(() => expect(dd.doraEvents().patches).to.have.length(3 * (i + 1)));
        sender.close();
      }
      expect(deployments()).to.have.length(9);
    });

    it('retries failed calls with backoff and records the error meanwhile', async () => {
      dd.addFault({ path: '/api/v2/dora/deployment', method: 'POST', status: 503, times: 4 });
      const { exporter, sender, registry } = operator();
      exporter.observeRelease(doraShop());
      await eventually(() => expect(dd.doraEvents().patches).to.have.length(3));
      expect(deployments()).to.have.length(9);
      const calls = await registry.getSingleMetric('deployer_dora_calls_total')?.get();
      const errors = calls?.values.find((v) => v.labels.call === 'Deployment' && v.labels.result === 'error');
      expect(errors?.value).to.equal(4);
      sender.close();
    });

    it('sends nothing while not the leader, and everything once it leads', async () => {
      let leading = false;
      const { exporter, sender } = operator({ leader: () => leading });
      exporter.observeRelease(doraShop());
      await new Promise((r) => setTimeout(r, 200));
      expect(dd.doraEvents().deployments).to.have.length(0);
      expect(sender.pending().length).to.equal(12);
      leading = true;
      sender.kick();
      await eventually(() => expect(dd.doraEvents().patches).to.have.length(3));
      sender.close();
    });

    it('a wrong application key: deployments are sent (API key only), the patches are refused and given up, keys never in the error', async () => {
      const lines: string[] = [];
      const logger = winston.createLogger({ format: winston.format.json(), transports: [new winston.transports.Stream({ stream: new Writable({ write: (c: Buffer, _e, cb) => (lines.push(c.toString()), cb()) }) })] });
      const { exporter, sender } = operator({ credentials: { apiKey: API_KEY, appKey: 'wrong-app-key-123456', url: dd.url }, logger });
      exporter.observeRelease(doraShop());
      await eventually(() => expect(sender.pending()).to.deep.equal([]));
      const given = lines.filter((l) => l.includes('Gave up a Datadog DORA call'));
      expect(given).to.have.length(3);
      expect(given[0]).to.include('HTTP 403');
      for (const l of lines) expect(l).not.to.include(API_KEY).and.not.to.include('wrong-app-key-123456');
      expect(deployments()).to.have.length(9);
      expect(dd.doraEvents().patches).to.have.length(0);
      sender.close();
    });
  });
});
