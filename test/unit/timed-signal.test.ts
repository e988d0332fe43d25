// A request's deadline goes away with the request: no timer fires after it (AbortSignal.timeout's
// does, ms later, building a TimeoutError for nobody), and the Kubernetes client leaves none behind.
import { expect } from 'chai';
import { createHook } from 'node:async_hooks';
import { createServer, type Server } from 'node:http';
import type { KubeConfig } from '@kubernetes/client-node';
import { RawClient } from '../../src/kube/raw-client.js';
import { timedSignal } from '../../src/runtime/timed-signal.js';
import { closeLocalApi, serveLocalApi } from '../support/local-api.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Runs fn, then waits `afterMs`, and counts the timers of `ms` (a deadline's: other timers, such as
 * the HTTP client's own, have other durations) created during fn whose callbacks ran afterwards.
 */
async function lateTimers(ms: number, fn: () => Promise<void>, afterMs: number): Promise<number> {
  const created = new Set<number>();
  let recording = true;
  let fired = 0;
  const hook = createHook({
    init(id, type, _trigger, resource) {
      if (recording && type === 'Timeout' && (resource as { _idleTimeout?: number })._idleTimeout === ms) created.add(id);
    },
    before(id) {
      if (!recording && created.has(id)) fired++;
    },
  });
  hook.enable();
  try {
    await fn();
    recording = false;
    await sleep(afterMs);
  } finally {
    hook.disable();
  }
  return fired;
}

describe('timedSignal', () => {
  it('aborts with a TimeoutError after ms', async () => {
    const t = timedSignal(20);
    await sleep(60);
    expect(t.signal.aborted).to.equal(true);
    expect((t.signal.reason as DOMException).name).to.equal('TimeoutError');
  });

  it('follows its parent, with the parent’s reason', () => {
    const parent = new AbortController();
    const t = timedSignal(10_000, parent.signal);
    parent.abort(new Error('leadership lost'));
    expect(t.signal.aborted).to.equal(true);
    expect((t.signal.reason as Error).message).to.equal('leadership lost');
    t.release();
    const already = timedSignal(10_000, parent.signal);
    expect(already.signal.aborted).to.equal(true);
  });

  it('released: no timer fires later and the parent no longer holds it', async () => {
    const parent = new AbortController();
    let t: ReturnType<typeof timedSignal> | undefined;
    const late = await lateTimers(30, async () => {
      t = timedSignal(30, parent.signal);
      t.release();
    }, 80);
    expect(late).to.equal(0);
    expect(t!.signal.aborted).to.equal(false);
    parent.abort();
    expect(t!.signal.aborted, 'released from the parent').to.equal(false);
  });
});

describe('RawClient deadlines', () => {
  let server: Server;
  let kc: KubeConfig;
  before(async () => {
    server = createServer((_req, res) => res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"kind":"Namespace","metadata":{"name":"a"}}'));
    kc = await serveLocalApi(server);
  });
  after(() => closeLocalApi(server));

  it('a finished request leaves no timer to fire after it (with and without a pass signal)', async () => {
    const client = new RawClient(kc, 173);
    const pass = new AbortController();
    const late = await lateTimers(173, async () => {
      for (let i = 0; i < 20; i++) await client.get('/api/v1/namespaces/a', i % 2 ? pass.signal : undefined);
    }, 400);
    expect(late).to.equal(0);
  });
});
