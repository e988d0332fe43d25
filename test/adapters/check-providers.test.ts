// Prometheus and webhook checks through the MeasurementRunner against local node:http(s) servers
// on 127.0.0.1: answers, 5xx, malformed bodies, timeouts, refused connections, auth, TLS, sharing.
import { expect } from 'chai';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { CheckSecrets, MeasurementRequest, ResolvedPrometheusCheck, ResolvedWebhookCheck } from '../../src/analysis/provider.js';
import { generateCertificates } from '../../src/webhook/certs.js';
import { TestRunner, closedPort } from '../datadog/harness.js';

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

type Handler = (req: Seen, res: ServerResponse) => void;

/** A local server whose answers the test sets, recording every request. */
class Local {
  readonly seen: Seen[] = [];
  handler: Handler = (_req, res) => res.end();
  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(tls?: { cert: string; key: string }): Promise<Local> {
    let self: Local | undefined;
    const listener = (req: IncomingMessage, res: ServerResponse): void => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const seen = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
        self?.seen.push(seen);
        self?.handler(seen, res);
      });
    };
    const server = tls ? createHttpsServer(tls, listener) : createHttpServer(listener);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    self = new Local(server, `${tls ? 'https' : 'http'}://127.0.0.1:${port}`);
    return self;
  }

  json(status: number, body: unknown): void {
    this.handler = (_req, res) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(typeof body === 'string' ? body : JSON.stringify(body));
    };
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

const vector = (...series: Array<[Record<string, string>, string]>): unknown => ({
  status: 'success',
  data: { resultType: 'vector', result: series.map(([metric, value]) => ({ metric, value: [Date.now() / 1000, value] })) },
});

const promCheck = (address: string, over: Partial<ResolvedPrometheusCheck> = {}): ResolvedPrometheusCheck => ({
  kind: 'prometheusQuery',
  name: 'errors',
  address,
  query: 'sum(rate(http_errors_total{version="2.0.0"}[1m]))',
  max: 0.5,
  noData: 'Inconclusive',
  intervalMs: 60_000,
  ...over,
});

const hookCheck = (url: string, over: Partial<ResolvedWebhookCheck> = {}): ResolvedWebhookCheck => ({
  kind: 'webhook',
  name: 'smoke',
  url,
  method: 'GET',
  timeoutMs: 2000,
  intervalMs: 60_000,
  ...over,
});

const req = (canaryKey: string, check: MeasurementRequest['check'], secrets?: CheckSecrets): MeasurementRequest => ({ canaryKey, check, notBefore: Date.now(), ...(secrets ? { secrets } : {}) });

describe('Prometheus checks (runner, local server)', function () {
  let srv: Local;
  let t: TestRunner;
  beforeEach(async () => {
    srv = await Local.start();
    t = new TestRunner({ timeoutMs: 300 });
  });
  afterEach(async () => {
    t.close();
    await srv.close();
  });

  it('one sample within max passes; the query goes to /api/v1/query as a form', async () => {
    srv.json(200, vector([{}, '0.25']));
    const m = await t.measure(req('ns/a', promCheck(srv.url)));
    expect(m).to.deep.include({ verdict: 'Pass', value: '0.25', threshold: '<= 0.5' });
    expect(m.url).to.equal(`${srv.url}/graph?g0.expr=${encodeURIComponent('sum(rate(http_errors_total{version="2.0.0"}[1m]))')}&g0.tab=1`);
    expect(srv.seen).to.have.length(1);
    expect(srv.seen[0]).to.deep.include({ method: 'POST', url: '/api/v1/query' });
    const form = new URLSearchParams(srv.seen[0]!.body);
    expect(form.get('query')).to.equal('sum(rate(http_errors_total{version="2.0.0"}[1m]))');
    expect(Math.abs(Number(form.get('time')) * 1000 - Date.now())).to.be.below(5000);
  });

  it('a value above max fails', async () => {
    srv.json(200, vector([{}, '0.75']));
    expect(await t.measure(req('ns/a', promCheck(srv.url)))).to.deep.include({ verdict: 'Fail', value: '0.75' });
  });

  it('several series are an Error that shows them', async () => {
    srv.json(200, vector([{ version: '1.0.0' }, '0.1'], [{ version: '2.0.0' }, '0.9']));
    const m = await t.measure(req('ns/a', promCheck(srv.url)));
    expect(m.verdict).to.equal('Error');
    expect(m.message).to.match(/returned 2 series; a check needs exactly one .*\{version="1\.0\.0"\} 0\.1, \{version="2\.0\.0"\} 0\.9/);
  });

  it('an empty result is noData', async () => {
    srv.json(200, vector());
    expect(await t.measure(req('ns/a', promCheck(srv.url, { noData: 'Fail' })))).to.deep.include({ verdict: 'Fail', value: 'no data' });
  });

  it('a 5xx with Prometheus error body is an Error with its text', async () => {
    srv.json(503, { status: 'error', errorType: 'unavailable', error: 'TSDB not ready' });
    const m = await t.measure(req('ns/a', promCheck(srv.url)));
    expect(m).to.deep.include({ verdict: 'Error' });
    expect(m.message).to.equal(`Prometheus at ${new URL(srv.url).host} answered 503: unavailable: TSDB not ready`);
  });

  it('a bad query (400) is an Error with the parser message', async () => {
    srv.json(400, { status: 'error', errorType: 'bad_data', error: 'invalid parameter "query": 1:5: parse error: unexpected "}"' });
    const m = await t.measure(req('ns/a', promCheck(srv.url)));
    expect(m.verdict).to.equal('Error');
    expect(m.message).to.contain('answered 400: bad_data: invalid parameter "query"');
  });

  it('malformed JSON is an Error showing the start of the body', async () => {
    srv.json(200, '<html>proxy error</html>');
    const m = await t.measure(req('ns/a', promCheck(srv.url)));
    expect(m.verdict).to.equal('Error');
    expect(m.message).to.contain('with a body that is not JSON: <html>proxy error</html>');
  });

  it('a result of an unexpected shape is an Error', async () => {
    srv.json(200, { status: 'success', data: { resultType: 'vector', result: [{ metric: {}, value: 'x' }] } });
    const m = await t.measure(req('ns/a', promCheck(srv.url)));
    expect(m.verdict).to.equal('Error');
    expect(m.message).to.contain('sent a result that could not be read');
  });

  it('no answer within the timeout is an Error', async () => {
    srv.handler = () => undefined; // never answers
    const started = Date.now();
    const m = await t.measure(req('ns/a', promCheck(srv.url)));
    expect(m.verdict).to.equal('Error');
    expect(m.message).to.equal(`no answer from Prometheus at ${new URL(srv.url).host} within 300ms`);
    expect(Date.now() - started).to.be.below(2000);
  });

  it('a refused connection is an Error', async () => {
    const port = await closedPort();
    const m = await t.measure(req('ns/a', promCheck(`http://127.0.0.1:${port}`)));
    expect(m).to.deep.include({ verdict: 'Error', message: `cannot reach Prometheus at 127.0.0.1:${port}: ECONNREFUSED` });
  });

  it('sends the Authorization header and never shows it, even when the server echoes it', async () => {
    srv.handler = (seen, res) => {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: 'error', errorType: 'unauthorized', error: `bad credentials ${String(seen.headers.authorization)}` }));
    };
    const m = await t.measure(req('ns/a', promCheck(srv.url), { authorization: 'Bearer tok-0123456789' }));
    expect(srv.seen[0]?.headers.authorization).to.equal('Bearer tok-0123456789');
    expect(m.verdict).to.equal('Error');
    expect(m.message).to.not.contain('tok-0123456789');
    expect(m.message).to.contain('[redacted]');
  });

  it('two canaries with the same query share one call; other credentials make their own', async () => {
    srv.json(200, vector([{}, '0.1']));
    const a = req('ns/a', promCheck(srv.url));
    const b = req('ns/b', promCheck(srv.url, { name: 'other-name' }));
    const ready = Promise.all([t.ready('ns/a'), t.ready('ns/b')]);
    t.runner.request(a);
    t.runner.request(b);
    await ready;
    expect(t.runner.peek(a)?.verdict).to.equal('Pass');
    expect(t.runner.peek(b)?.verdict).to.equal('Pass');
    expect(srv.seen).to.have.length(1);
    await t.measure(req('ns/c', promCheck(srv.url), { authorization: 'Bearer other' }));
    expect(srv.seen).to.have.length(2);
    expect(t.runner.stats()).to.include({ calls: 2, sharedHits: 1 });
  });

  it('https with the check\'s CA bundle is verified; without it the call is an Error; insecureSkipVerify skips', async () => {
    const certs = await generateCertificates({ commonName: '127.0.0.1', ipAddresses: ['127.0.0.1'] });
    const tls = await Local.start({ cert: certs.certPem, key: certs.keyPem });
    try {
      tls.json(200, vector([{}, '0.1']));
      expect(await t.measure(req('ns/a', promCheck(tls.url), { ca: certs.caCertPem }))).to.deep.include({ verdict: 'Pass' });
      const untrusted = await t.measure(req('ns/b', promCheck(tls.url, { query: 'up' })));
      expect(untrusted.verdict).to.equal('Error');
      expect(untrusted.message).to.match(/cannot reach Prometheus at .*: (SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|DEPTH_ZERO_SELF_SIGNED_CERT)/);
      const skipped = await t.measure(req('ns/c', promCheck(tls.url, { query: 'vector(1)', tls: { insecureSkipVerify: true } })));
      expect(skipped.verdict).to.equal('Pass');
    } finally {
      await tls.close();
    }
  });

  it('never connects to a link-local address', async () => {
    const m = await t.measure(req('ns/a', promCheck('http://169.254.169.254')));
    expect(m.verdict).to.equal('Error');
    expect(m.message).to.contain('link-local');
  });
});

describe('Webhook checks (runner, local server)', function () {
  let srv: Local;
  let t: TestRunner;
  beforeEach(async () => {
    srv = await Local.start();
    t = new TestRunner();
  });
  afterEach(async () => {
    t.close();
    await srv.close();
  });

  it('2xx passes, with the status and the body in the measurement', async () => {
    srv.handler = (_r, res) => {
      res.writeHead(200);
      res.end('12 tests passed');
    };
    const m = await t.measure(req('ns/a', hookCheck(`${srv.url}/run?token=abc`)));
    expect(m).to.deep.include({ verdict: 'Pass', value: '200', threshold: '2xx', url: `${srv.url}/run` });
    expect(m.message).to.match(/^GET answered 200 in \d+ ms: 12 tests passed$/);
    expect(srv.seen[0]).to.deep.include({ method: 'GET', url: '/run?token=abc' });
  });

  it('another status fails, with the body truncated to 200 characters', async () => {
    srv.handler = (_r, res) => {
      res.writeHead(500);
      res.end(`checkout failed: ${'x'.repeat(1000)}`);
    };
    const m = await t.measure(req('ns/a', hookCheck(srv.url)));
    expect(m).to.deep.include({ verdict: 'Fail', value: '500' });
    const body = (m.message ?? '').replace(/^GET answered 500 in \d+ ms: /, '');
    expect(body.startsWith('checkout failed: xxx')).to.equal(true);
    expect(body.length).to.equal(200);
  });

  it('a redirect is not followed and fails', async () => {
    srv.handler = (_r, res) => {
      res.writeHead(302, { location: 'http://169.254.169.254/' });
      res.end();
    };
    expect(await t.measure(req('ns/a', hookCheck(srv.url)))).to.deep.include({ verdict: 'Fail', value: '302' });
    expect(srv.seen).to.have.length(1);
  });

  it('POSTs the body with the headers of the Secret, and redacts them when the answer echoes them', async () => {
    srv.handler = (seen, res) => {
      res.writeHead(200);
      res.end(`got ${String(seen.headers['x-api-token'])}`);
    };
    const check = hookCheck(srv.url, { method: 'POST', body: '{"version":"2.0.0"}' });
    const m = await t.measure(req('ns/a', check, { headers: { 'X-Api-Token': 'hook-secret-42' } }));
    expect(srv.seen[0]).to.deep.include({ method: 'POST', body: '{"version":"2.0.0"}' });
    expect(srv.seen[0]?.headers['content-type']).to.equal('application/json');
    expect(srv.seen[0]?.headers['x-api-token']).to.equal('hook-secret-42');
    expect(m.verdict).to.equal('Pass');
    expect(m.message).to.contain('got [redacted]');
    expect(m.message).to.not.contain('hook-secret-42');
  });

  it('no answer within the check\'s timeout is an Error', async () => {
    srv.handler = () => undefined;
    const started = Date.now();
    const m = await t.measure(req('ns/a', hookCheck(`${srv.url}/slow?t=1`, { timeoutMs: 250 })));
    expect(m).to.deep.include({ verdict: 'Error', message: `GET ${srv.url}/slow: no answer within 250ms` });
    expect(Date.now() - started).to.be.below(2000);
  });

  it('a host name is resolved and called (localhost)', async () => {
    srv.handler = (_r, res) => res.end('ok');
    const m = await t.measure(req('ns/a', hookCheck(srv.url.replace('127.0.0.1', 'localhost'))));
    expect(m).to.deep.include({ verdict: 'Pass', value: '200' });
  });

  it('a name that does not resolve is an Error', async () => {
    const m = await t.measure(req('ns/a', hookCheck('http://no-such-host.invalid/run')));
    expect(m).to.deep.include({ verdict: 'Error', message: 'GET http://no-such-host.invalid/run: ENOTFOUND' });
  });

  it('a refused connection is an Error', async () => {
    const port = await closedPort();
    const m = await t.measure(req('ns/a', hookCheck(`http://127.0.0.1:${port}/run`)));
    expect(m).to.deep.include({ verdict: 'Error', message: `GET http://127.0.0.1:${port}/run: ECONNREFUSED` });
  });

  it('canaries with the same request share one call; a different body makes its own', async () => {
    srv.handler = (_r, res) => res.end('ok');
    const a = req('ns/a', hookCheck(srv.url, { method: 'POST', body: '{"v":"1"}' }));
    const b = req('ns/b', hookCheck(srv.url, { method: 'POST', body: '{"v":"1"}' }));
    const ready = Promise.all([t.ready('ns/a'), t.ready('ns/b')]);
    t.runner.request(a);
    t.runner.request(b);
    await ready;
    expect(srv.seen).to.have.length(1);
    await t.measure(req('ns/c', hookCheck(srv.url, { method: 'POST', body: '{"v":"2"}' })));
    expect(srv.seen).to.have.length(2);
  });
});
