// Sinks against local receivers: the Slack incoming webhook and chat.postMessage shapes, the
// generic webhook (event id header, HMAC over the raw body), the Datadog stand-in's events
// endpoint; failures as data, secrets never in the error text.
import { expect } from 'chai';
import { createHmac } from 'node:crypto';
import type { NotificationRecord, NotificationSpec } from '../../src/api/notification-types.js';
import type { AttemptResult } from '../../src/notify/ledger.js';
import { buildPayload } from '../../src/notify/payload.js';
import { createSink, type SinkContext } from '../../src/notify/sinks/sink.js';
import { DatadogStandIn } from '../datadog/server.js';
import { Receiver } from '../support/receivers.js';

const ENTRY: NotificationRecord = {
  id: 'uid-1:bbbbbbbbbb:m0abc:Promoted',
  transition: 'Promoted',
  at: '2026-12-05T10:00:00.000Z',
  from: 'Promoting',
  to: 'Succeeded',
  reason: 'Promoted',
  message: 'promoted revision bbbbbbbbbb',
  version: '1.1',
  revision: 'bbbbbbbbbb',
  previousVersion: '1.0',
  previousRevision: 'aaaaaaaaaa',
  run: 'bbbbbbbbbb@m0abc',
  sinks: [],
};
const PAYLOAD = buildPayload({ kind: 'Canary', namespace: 'shop', name: 'checkout', uid: 'uid-1', target: 'checkout' }, ENTRY);
const TOKEN = 'xoxb-secret-token-0123456789';
const SIGNING = 'signing-key-abcdef';

describe('notification sinks (local receivers)', () => {
  let rx: Receiver;
  let dd: DatadogStandIn;
  let secrets: Record<string, string>;
  const ctx = (): SinkContext => ({
    secrets: async (ref, key) => {
      const v = secrets[`${ref.name}/${ref.key ?? key}`];
      return v === undefined ? { ok: false, error: `Secret ${ref.name} has no key ${ref.key ?? key}` } : { ok: true, value: v };
    },
    datadogSecret: 'dd',
    datadog: async (name) => (name === 'dd' ? { ok: true, apiKey: 'dd-api-key-123', baseUrl: dd.url } : { ok: false, error: `Secret ${name} not found` }),
    slackApiUrl: `${rx.url}/api`,
  });
  const send = async (spec: NotificationSpec, threadTs?: string, timeoutMs = 2_000): Promise<AttemptResult> => {
    const made = await createSink(spec, ctx());
    if (!made.ok) throw new Error(made.error);
    return made.sink.send({ payload: PAYLOAD, serviceTags: { service: 'checkout', env: 'prod' }, ...(threadTs ? { threadTs } : {}) }, AbortSignal.timeout(timeoutMs));
  };

  before(async () => {
    rx = await Receiver.start();
    dd = await DatadogStandIn.start({ apiKey: 'dd-api-key-123', appKey: 'dd-app-key-123' });
  });
  after(async () => {
    await rx.close();
    await dd.close();
  });
  beforeEach(() => {
    rx.received.length = 0;
    rx.refused.length = 0;
    rx.respond(undefined);
    secrets = {
      'slack-hook/url': `${rx.url}/services/T000/B000/XXXXSECRETPATH`,
      'slack-bot/token': TOKEN,
      'hook/url': `${rx.url}/hooks/deployer?token=urlsecret`,
      'hook/secret': SIGNING,
    };
  });

  describe('Slack incoming webhook', () => {
    const spec: NotificationSpec = { name: 'chat', slack: { webhookSecretRef: { name: 'slack-hook' } } };
    it('posts text and blocks, the event id in the context line', async () => {
      expect(await send(spec)).to.deep.equal({ ok: true });
      const [r] = rx.accepted('/services/');
      const body = r?.json as { text: string; blocks: Array<{ type: string; elements?: Array<{ text: string }> }> };
      expect(body.text).to.contain('Canary shop/checkout: version 1.1 promoted');
      expect(JSON.stringify(body.blocks.at(-1))).to.contain(ENTRY.id);
    });
    it('a 500 is a failed attempt whose error holds neither the URL nor its secret path', async () => {
      rx.respond(() => ({ status: 500, body: `upstream ${secrets['slack-hook/url']} broken` }));
      const r = await send(spec);
      expect(r.ok).to.equal(false);
      if (!r.ok) {
        expect(r.error).to.match(/^HTTP 500/);
        expect(r.error).to.not.contain('XXXXSECRETPATH');
        expect(r.error).to.not.contain('127.0.0.1');
      }
    });
    it('a receiver that does not answer in time is a timeout, not a hang', async () => {
      rx.respond(() => new Promise((resolve) => setTimeout(() => resolve({ status: 200, body: 'ok' }), 1_500)));
      const r = await send(spec, undefined, 300);
      expect(r).to.deep.equal({ ok: false, error: 'timed out' });
    });
  });

  describe('Slack chat.postMessage', () => {
    const spec: NotificationSpec = { name: 'chat', slack: { tokenSecretRef: { name: 'slack-bot' }, channel: 'C123' } };
    it('posts to the channel with the bot token, returns the thread ts, and replies in a given thread', async () => {
      const first = await send(spec);
      expect(first.ok).to.equal(true);
      const root = first.ok ? first.threadTs : undefined;
      expect(root).to.match(/^\d+\.\d+$/);
      const second = await send(spec, root);
      expect(second).to.deep.equal({ ok: true, threadTs: root });
      const calls = rx.accepted('/api/chat.postMessage');
      expect(calls).to.have.length(2);
      expect(calls[0]?.headers.authorization).to.equal(`Bearer ${TOKEN}`);
      expect(calls[0]?.json).to.include({ channel: 'C123' });
      expect(calls[0]?.json).to.not.have.property('thread_ts');
      expect(calls[1]?.json).to.include({ channel: 'C123', thread_ts: root });
    });
    it('ok:false is a failed attempt naming Slack\'s error, never the token', async () => {
      rx.respond(() => ({ status: 200, body: JSON.stringify({ ok: false, error: `invalid_auth for ${TOKEN}` }) }));
      const r = await send(spec);
      expect(r.ok).to.equal(false);
      if (!r.ok) {
        expect(r.error).to.contain('chat.postMessage: invalid_auth');
        expect(r.error).to.not.contain(TOKEN);
      }
    });
    it('a body that is not JSON is a failed attempt', async () => {
      rx.respond(() => ({ status: 200, body: '<html>' }));
      expect(await send(spec)).to.deep.equal({ ok: false, error: 'chat.postMessage answered with a body that is not JSON' });
    });
  });

  describe('generic webhook', () => {
    const spec: NotificationSpec = { name: 'hook', webhook: { urlSecretRef: { name: 'hook' }, signingSecretRef: { name: 'hook' } } };
    it('posts the versioned payload with the event id header and an HMAC-SHA256 signature of the raw body', async () => {
      expect(await send(spec)).to.deep.equal({ ok: true });
      const [r] = rx.accepted('/hooks/');
      expect(r?.headers['x-deployer-event-id']).to.equal(ENTRY.id);
      expect(r?.headers['x-deployer-signature']).to.equal(`sha256=${createHmac('sha256', SIGNING).update(r!.body).digest('hex')}`);
      expect(r?.json).to.deep.equal(JSON.parse(JSON.stringify(PAYLOAD)));
      expect(r?.json).to.include({ schemaVersion: 'deployer.dev/notification/v1', eventId: ENTRY.id });
    });
    it('without a signing secret, no signature header', async () => {
      expect(await send({ name: 'hook', webhook: { urlSecretRef: { name: 'hook' } } })).to.deep.equal({ ok: true });
      expect(rx.accepted('/hooks/')[0]?.headers).to.not.have.property('x-deployer-signature');
    });
    it('a 429 with Retry-After asks to wait that long; the error holds no URL or key', async () => {
      rx.respond(() => ({ status: 429, body: `slow down ${SIGNING}`, headers: { 'Retry-After': '7' } }));
      const r = await send(spec);
      expect(r.ok).to.equal(false);
      if (!r.ok) {
        expect(r.retryAfterMs).to.equal(7_000);
        expect(r.error).to.equal('HTTP 429: slow down <redacted>');
      }
    });
    it('an unreachable receiver is a failed attempt without the URL', async () => {
      const closed = await Receiver.start();
      const url = closed.url;
      await closed.close();
      secrets['hook/url'] = `${url}/hooks/deployer?token=urlsecret`;
      const r = await send(spec);
      expect(r).to.deep.equal({ ok: false, error: 'connection refused' });
    });
    it('a missing Secret key fails sink creation, naming the key only', async () => {
      delete secrets['hook/secret'];
      const made = await createSink(spec, ctx());
      expect(made).to.deep.equal({ ok: false, error: 'Secret hook has no key secret' });
    });
  });

  describe('Datadog events (stand-in)', () => {
    it('posts an info event on promotion with unified service tags and aggregation_key = event id', async () => {
      const before = dd.events().length;
      expect(await send({ name: 'dd', datadogEvents: { tags: ['team:pay'] } })).to.deep.equal({ ok: true });
      const ev = dd.events().slice(before)[0] as Record<string, unknown>;
      expect(ev).to.include({ alert_type: 'info', aggregation_key: ENTRY.id, source_type_name: 'deployer' });
      expect(ev.tags).to.include.members(['service:checkout', 'env:prod', 'version:1.1', 'source:deployer', 'team:pay']);
      const req = dd.requests('/api/v1/events').at(-1) as unknown as Record<string, unknown>;
      expect(JSON.stringify(req)).to.not.contain('dd-api-key-123');
    });
  });
});
