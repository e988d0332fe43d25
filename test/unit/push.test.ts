// The push endpoint's pure parts, its request handling and its HTTPS server: parsing a Datadog
// notification, the token, replays and storms, which canaries a monitor reaches, and when a
// hinted check is due.
import { expect } from 'chai';
import https from 'node:https';
import { PUSH_RESULTS, type PushResult } from '../../src/api/push.js';
import type { Canary, CheckStatus } from '../../src/api/types.js';
import { hintedDueAt, hintedNotBefore, pendingHint } from '../../src/canary/due.js';
import { createLogger, type Logger } from '../../src/runtime/logger.js';
import { PushEndpoint } from '../../src/push/endpoint.js';
import { HintBoard } from '../../src/push/hints.js';
import { checksSelecting, targetsFor } from '../../src/push/match.js';
import { assessTransition, parseNotification } from '../../src/push/notification.js';
import { PushServer } from '../../src/push/server.js';
import { digestOf, fixedToken, MIN_TOKEN_LENGTH, tokenFromSecretData, tokenMatches } from '../../src/push/token.js';
import { generateCertificates } from '../../src/webhook/certs.js';

const T0 = Date.parse('2026-12-05T10:00:00.000Z');
const at = (s: number): number => T0 + s * 1000;
const iso = (s: number): string => new Date(at(s)).toISOString();
const TOKEN = 'push-token-0123456789abcdef';
const silent = createLogger({ level: 'error', silent: true });

function canary(name: string, checks: NonNullable<Canary['spec']['analysis']>['checks'], status: Partial<NonNullable<Canary['status']>> = {}, deleting = false): Canary {
  return {
    apiVersion: 'deployer.dev/v1alpha1',
    kind: 'Canary',
    metadata: { name, namespace: 'shop', ...(deleting ? { deletionTimestamp: iso(0) } : {}) },
    spec: { targetRef: { name }, analysis: { interval: '1m', checks } },
    status: { phase: 'Progressing', canaryRevision: 'bbbbbbbbbb', analysisStartedAt: iso(-100), ...status },
  } as Canary;
}

describe('push: a Datadog notification', () => {
  const cases: Array<{ name: string; body: string; ok: boolean; monitorId?: number; transition?: string; eventId?: string; scope?: string; date?: number; message?: RegExp }> = [
    {
      name: "the README's template, as Datadog fills it in",
      body: JSON.stringify({ event_id: '7412563210', monitor_id: '101', transition: 'Triggered', scope: 'version:1.4.2', date: '1406662672000' }),
      ok: true, monitorId: 101, transition: 'Triggered', eventId: '7412563210', scope: 'version:1.4.2', date: 1406662672000,
    },
    { name: "Datadog's variable names in lower case", body: JSON.stringify({ id: 9, alert_id: 55, alert_transition: 'Recovered', alert_scope: '' }), ok: true, monitorId: 55, transition: 'Recovered', eventId: '9' },
    { name: 'not JSON', body: '{"monitor_id": ', ok: false, message: /not JSON/ },
    { name: 'not an object', body: '[1,2]', ok: false, message: /not a JSON object/ },
    { name: 'no monitor id', body: JSON.stringify({ transition: 'Triggered' }), ok: false, message: /no monitor_id/ },
    { name: 'a monitor id that is not one', body: JSON.stringify({ monitor_id: '$ALERT_ID', transition: 'Triggered' }), ok: false, message: /not a monitor id/ },
    { name: 'a negative monitor id', body: JSON.stringify({ monitor_id: -3, transition: 'Triggered' }), ok: false, message: /not a monitor id/ },
    { name: 'no transition', body: JSON.stringify({ monitor_id: 101 }), ok: false, message: /no transition/ },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const p = parseNotification(c.body);
      expect(p.ok).to.equal(c.ok);
      if (p.ok) {
        expect(p.notification.monitorId).to.equal(c.monitorId);
        expect(p.notification.transition).to.equal(c.transition);
        expect(p.notification.eventId).to.equal(c.eventId);
        expect(p.notification.scope).to.equal(c.scope);
        expect(p.notification.date).to.equal(c.date);
      } else expect(p.message).to.match(c.message!);
    });
  }

  it('hints on the transitions a check can fail on and on a recovery; ignores Null and unknown values', () => {
    for (const t of ['Triggered', 'Re-Triggered', 'Warn', 'Re-Warn', 'No Data', 'Re-No Data', 'Renotify', 'Recovered']) expect(assessTransition(t), t).to.equal('hint');
    expect(assessTransition('Null')).to.equal('ignore');
    expect(assessTransition('toString')).to.equal('unknown');
    expect(assessTransition('Exploded')).to.equal('unknown');
  });
});

describe('push: the token', () => {
  it('matches only the configured token', () => {
    const expected = digestOf(TOKEN);
    expect(tokenMatches(TOKEN, expected)).to.equal(true);
    expect(tokenMatches(TOKEN.slice(0, -1), expected)).to.equal(false);
    expect(tokenMatches(`${TOKEN}x`, expected)).to.equal(false);
    expect(tokenMatches('', expected)).to.equal(false);
  });

  it('is read from the Secret key "token"; a missing or short one is refused with a message', () => {
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    const ok = tokenFromSecretData({ token: b64(`${TOKEN}\n`) }, 'ops/push');
    expect(ok.ok && ok.digest.equals(digestOf(TOKEN))).to.equal(true);
    const missing = tokenFromSecretData({ other: b64(TOKEN) }, 'ops/push');
    expect(missing.ok ? '' : missing.message).to.equal('Secret ops/push has no key "token"');
    const short = tokenFromSecretData({ token: b64('x'.repeat(MIN_TOKEN_LENGTH - 1)) }, 'ops/push');
    expect(short.ok ? '' : short.message).to.contain('shorter than 16 characters');
  });
});

describe('push: the hint board', () => {
  it('admits a notification once: its replay is a duplicate, also after the quiet interval', () => {
    const b = new HintBoard({ minIntervalMs: 10_000 });
    expect(b.admit(101, 'e1', at(0))).to.equal('admitted');
    b.hint(101, [{ canaryKey: 'shop/web', checks: ['errors'] }], at(0));
    expect(b.admit(101, 'e1', at(1))).to.equal('duplicate');
    expect(b.admit(101, 'e1', at(60))).to.equal('duplicate');
  });

  it('throttles a monitor for the quiet interval after a hint that reached a canary', () => {
    const b = new HintBoard({ minIntervalMs: 10_000 });
    expect(b.admit(101, 'e1', at(0))).to.equal('admitted');
    b.hint(101, [{ canaryKey: 'shop/web', checks: ['errors'] }], at(0));
    expect(b.admit(101, 'e2', at(9.999))).to.equal('throttled');
    expect(b.admit(202, 'e3', at(5)), 'another monitor').to.equal('admitted');
    expect(b.admit(101, 'e4', at(10))).to.equal('admitted');
  });

  it('does not throttle after a notification that reached no canary', () => {
    const b = new HintBoard({ minIntervalMs: 10_000 });
    expect(b.admit(101, 'e1', at(0))).to.equal('admitted');
    b.hint(101, [], at(0));
    expect(b.admit(101, 'e2', at(1))).to.equal('admitted');
  });

  it('keeps a hint per check until its time to live', () => {
    const b = new HintBoard({ ttlMs: 60_000 });
    b.hint(101, [{ canaryKey: 'shop/web', checks: ['errors', 'latency'] }], at(0));
    expect(b.hintsFor('shop/web', at(1))).to.deep.equal({ errors: at(0), latency: at(0) });
    expect(b.hintsFor('shop/api', at(1))).to.deep.equal({});
    expect(b.hintsFor('shop/web', at(61))).to.deep.equal({});
  });

  it('forgets the oldest notification ids beyond its bound', () => {
    const b = new HintBoard({ rememberedNotifications: 2 });
    b.admit(1, 'a', at(0));
    b.admit(1, 'b', at(0));
    b.admit(1, 'c', at(0));
    expect(b.admit(1, 'a', at(0))).to.equal('admitted');
    expect(b.admit(1, 'c', at(0))).to.equal('duplicate');
  });
});

describe('push: which canaries a monitor reaches', () => {
  const seen = (key: string, check: string): number[] | undefined => (key === 'shop/tagged' && check === 'errors' ? [101, 303] : undefined);

  it('matches a monitor check by id, and a tag or query selection by the monitors its last answer listed', () => {
    const byId = canary('by-id', [{ name: 'errors', datadogMonitor: { id: 101 } }, { name: 'latency', datadogMonitor: { id: 202 } }]);
    const tagged = canary('tagged', [{ name: 'errors', datadogMonitor: { tags: ['service:web'] } }]);
    const neverMeasured = canary('fresh', [{ name: 'errors', datadogMonitor: { query: 'tag:service:web' } }]);
    const query = canary('query', [{ name: 'rate', datadogQuery: { query: 'sum:errors{*}', max: 1 } }]);
    expect(checksSelecting(101, byId, seen)).to.deep.equal(['errors']);
    expect(checksSelecting(202, byId, seen)).to.deep.equal(['latency']);
    expect(checksSelecting(101, tagged, seen)).to.deep.equal(['errors']);
    expect(checksSelecting(202, tagged, seen)).to.deep.equal([]);
    expect(checksSelecting(101, neverMeasured, seen)).to.deep.equal([]);
    expect(checksSelecting(101, query, seen)).to.deep.equal([]);
    expect(targetsFor(101, [byId, tagged, neverMeasured, query], seen)).to.deep.equal([
      { canaryKey: 'shop/by-id', checks: ['errors'] },
      { canaryKey: 'shop/tagged', checks: ['errors'] },
    ]);
  });

  it('reaches only canaries in analysis', () => {
    const checks = [{ name: 'errors', datadogMonitor: { id: 101 } }];
    const cases: Array<[string, Canary, boolean]> = [
      ['progressing', canary('a', checks), true],
      ['paused (held)', canary('a', checks, { phase: 'Paused' }), true],
      ['pods not ready yet', canary('a', checks, { analysisStartedAt: undefined }), false],
      ['rolled back', canary('a', checks, { phase: 'RolledBack' }), false],
      ['succeeded', canary('a', checks, { phase: 'Succeeded' }), false],
      ['failed', canary('a', checks, { phase: 'Failed' }), false],
      ['being deleted', canary('a', checks, {}, true), false],
    ];
    for (const [name, c, reached] of cases) expect(checksSelecting(101, c, seen).length > 0, name).to.equal(reached);
  });
});

describe('push: when a hinted check is due', () => {
  const started = at(-100);
  const check = (lastAt?: number): CheckStatus => ({
    name: 'errors', failures: 0, errors: 0, consecutiveErrors: 0, inconclusive: 0, passes: 1,
    measurements: lastAt === undefined ? [] : [{ verdict: 'Pass', time: new Date(lastAt).toISOString() }],
  });
  const cases: Array<{ name: string; cs?: CheckStatus; hint?: number; pending?: number; due: number; notBefore: number }> = [
    { name: 'no hint: the regular slot', cs: check(at(-20)), due: at(40), notBefore: at(10) },
    { name: 'a hint after the last measurement: due at the hint, measured after it', cs: check(at(-20)), hint: at(-2), pending: at(-2), due: at(-2), notBefore: at(-2) },
    { name: 'a hint answered by a measurement taken after it', cs: check(at(1)), hint: at(0), due: at(61), notBefore: at(31) },
    { name: 'a measurement taken at the hint answers it', cs: check(at(0)), hint: at(0), due: at(60), notBefore: at(30) },
    { name: 'a hint from before this analysis started', cs: check(at(-20)), hint: at(-101), due: at(40), notBefore: at(10) },
    { name: 'a hint later than the regular slot does not delay it', cs: check(at(-70)), hint: at(0), pending: at(0), due: at(-10), notBefore: at(0) },
    { name: 'no measurement yet: due at the start anyway', cs: undefined, hint: at(-50), pending: at(-50), due: at(-100), notBefore: at(-50) },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const last = c.cs?.measurements.at(-1);
      const regularDue = last ? Date.parse(last.time) + 60_000 : started;
      const regularNotBefore = last ? Date.parse(last.time) + 30_000 : started;
      expect(pendingHint(c.cs, started, c.hint)).to.equal(c.pending);
      expect(hintedDueAt(regularDue, c.cs, started, c.hint)).to.equal(c.due);
      expect(hintedNotBefore(regularNotBefore, c.cs, started, c.hint)).to.equal(c.notBefore);
    });
  }
});

/** An endpoint over a fixed set of Canaries, recording what it enqueued and counted. */
function endpoint(over: { leader?: boolean; canaries?: Canary[]; tokenState?: 'missing' } = {}) {
  const enqueued: string[] = [];
  const results: PushResult[] = [];
  const board = new HintBoard({ minIntervalMs: 10_000 });
  let now = at(0);
  const e = new PushEndpoint({
    tokens: over.tokenState === 'missing' ? { current: async () => ({ ok: false, message: 'Secret ops/push not found' }) } : fixedToken(TOKEN),
    board,
    canaries: () => over.canaries ?? [canary('web', [{ name: 'errors', datadogMonitor: { id: 101 } }])],
    monitorsSeen: () => undefined,
    enqueue: (k) => enqueued.push(k),
    isLeader: () => over.leader ?? true,
    logger: silent,
    onResult: (r) => results.push(r),
    now: () => now,
  });
  return { e, enqueued, results, board, tick: (s: number) => (now = at(s)) };
}
const alert = (over: Record<string, unknown> = {}) => JSON.stringify({ event_id: 'e1', monitor_id: '101', transition: 'Triggered', scope: 'version:2.0.0', date: String(at(0)), ...over });

describe('push: the endpoint', () => {
  it('refuses a request without a token (401), with a wrong one (403), and when it has no token to check against (503)', async () => {
    const { e, results } = endpoint();
    expect((await e.authenticate(undefined))?.status).to.equal(401);
    expect((await e.authenticate(''))?.status).to.equal(401);
    expect((await e.authenticate('push-token-0123456789abcdeX'))?.status).to.equal(403);
    expect(await e.authenticate(TOKEN)).to.equal(undefined);
    expect(results).to.deep.equal([PUSH_RESULTS.unauthenticated, PUSH_RESULTS.unauthenticated, PUSH_RESULTS.forbidden]);
    const broken = endpoint({ tokenState: 'missing' });
    const a = await broken.e.authenticate(TOKEN);
    expect(a?.status).to.equal(503);
    expect(JSON.stringify(a?.body)).to.not.contain('ops/push');
  });

  it('hints the canaries whose checks select the monitor and wakes them', () => {
    const { e, enqueued, board } = endpoint();
    const a = e.handle(alert());
    expect(a.status).to.equal(202);
    expect(a.body).to.deep.equal({ result: 'accepted', monitor: 101, canaries: ['shop/web'] });
    expect(enqueued).to.deep.equal(['shop/web']);
    expect(board.hintsFor('shop/web', at(0))).to.deep.equal({ errors: at(0) });
  });

  it('a replay, a storm, a malformed body, an ignored transition, a standby: no hint', () => {
    const { e, enqueued, results, tick } = endpoint();
    expect(e.handle(alert()).status).to.equal(202);
    expect(e.handle(alert()).result, 'replay').to.equal(PUSH_RESULTS.duplicate);
    tick(5);
    expect(e.handle(alert({ event_id: 'e2' })).result, 'storm').to.equal(PUSH_RESULTS.throttled);
    expect(e.handle('not json').status).to.equal(400);
    expect(e.handle(alert({ event_id: 'e3', transition: 'Null' })).result).to.equal(PUSH_RESULTS.ignored);
    expect(enqueued, 'one early measurement').to.deep.equal(['shop/web']);
    tick(10);
    expect(e.handle(alert({ event_id: 'e4', monitor_id: 999 })).result, 'a monitor no canary selects').to.equal(PUSH_RESULTS.unmatched);
    expect(e.handle(alert({ event_id: 'e5' })).result, 'after the quiet interval').to.equal(PUSH_RESULTS.accepted);
    expect(results).to.deep.equal(['accepted', 'duplicate', 'throttled', 'malformed', 'ignored', 'unmatched', 'accepted']);
    const standby = endpoint({ leader: false });
    const s = standby.e.handle(alert());
    expect([s.status, s.headers?.['Retry-After']]).to.deep.equal([503, '1']);
    expect(standby.enqueued).to.deep.equal([]);
  });
});

describe('push: what it logs', () => {
  it('never a token or a body, and a flood of refusals sparsely', async () => {
    const lines: string[] = [];
    const capture = (level: string) => (message: string, meta?: unknown) => void lines.push(`${level} ${message} ${JSON.stringify(meta ?? {})}`);
    const logger = { warn: capture('warn'), info: capture('info'), debug: capture('debug'), error: capture('error'), child: () => logger } as unknown as Logger;
    let now = at(0);
    const e = new PushEndpoint({ tokens: fixedToken(TOKEN), board: new HintBoard(), canaries: () => [], monitorsSeen: () => undefined, enqueue: () => undefined, isLeader: () => true, logger, now: () => now });
    for (let i = 0; i < 50; i++) await e.authenticate(`forged-token-secret-${i}-xxxxxxxx`, '10.0.0.9');
    e.handle('{"monitor_id": "body-secret-value"', '10.0.0.9');
    e.handle(alert({ scope: 'scope-secret-value' }));
    now = at(11);
    await e.authenticate('forged-token-secret-late-xxxxxxxx', '10.0.0.9');
    const text = lines.join('\n');
    for (const secret of ['forged-token-secret', TOKEN, 'body-secret-value']) expect(text).to.not.contain(secret);
    expect(lines.filter((l) => l.includes('"result":"forbidden"'))).to.have.length(2);
    expect(text).to.contain('"alsoRefusedSinceLastLog":49');
  });
});

describe('push: the HTTPS server', function () {
  this.timeout(20_000);
  let server: PushServer;
  let port: number;
  let ctx: ReturnType<typeof endpoint>;
  before(async () => {
    const certs = await generateCertificates({ commonName: 'localhost', ipAddresses: ['127.0.0.1'] });
    ctx = endpoint();
    server = new PushServer({ host: '127.0.0.1', port: 0, path: '/datadog/webhook', certPem: certs.certPem, keyPem: certs.keyPem, endpoint: ctx.e, maxBodyBytes: 1024 });
    port = await server.start();
  });
  after(async () => server.stop());

  const post = (body: string, headers: Record<string, string>, path = '/datadog/webhook', method = 'POST'): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port, path, method, rejectUnauthorized: false, headers: { 'content-type': 'application/json', ...headers } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      });
      req.on('error', reject);
      req.end(body);
    });

  it('answers each request with its status and counts it', async () => {
    expect((await post(alert(), {})).status, 'no token').to.equal(401);
    expect((await post(alert(), { 'x-deployer-token': 'wrong-token-0123456789' })).status, 'forged').to.equal(403);
    expect((await post('x'.repeat(2048), { 'x-deployer-token': TOKEN })).status, 'too large').to.equal(413);
    expect((await post(alert(), { 'x-deployer-token': TOKEN }, '/other')).status, 'another path').to.equal(404);
    expect((await post('', { 'x-deployer-token': TOKEN }, '/datadog/webhook', 'GET')).status, 'GET').to.equal(404);
    expect((await post('{', { 'x-deployer-token': TOKEN })).status, 'malformed').to.equal(400);
    const ok = await post(alert(), { 'x-deployer-token': TOKEN });
    expect(ok.status).to.equal(202);
    expect(JSON.parse(ok.body)).to.deep.include({ result: 'accepted' });
    expect((await post(alert(), { 'x-deployer-token': TOKEN })).status, 'replayed').to.equal(200);
    expect(ctx.results).to.deep.equal(['unauthenticated', 'forbidden', 'too_large', 'not_found', 'not_found', 'malformed', 'accepted', 'duplicate']);
    expect(ctx.enqueued).to.deep.equal(['shop/web']);
  });
});
