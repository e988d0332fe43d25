// The informer against a local HTTP server that speaks the list/watch protocol and fails on
// purpose (watch errors, connection resets, slow and failing LISTs). The contract under test:
// the cache is never swapped empty, a relist replaces it only after a LIST succeeded, hasSynced
// only after a successful LIST, backoff grows on repeated failures, LISTs are paginated and
// managedFields are not kept.
import { KubeConfig } from '@kubernetes/client-node';
import { expect } from 'chai';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { RawClient, type KubeObject } from '../../src/kube/raw-client.js';
import { Informer, WATCH_INACTIVITY_MS, WATCH_TIMEOUT_SECONDS, type InformerOptions } from '../../src/runtime/informer.js';
import { createLogger } from '../../src/runtime/logger.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const obj = (name: string, rv: string, extra: Record<string, unknown> = {}) => ({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace: 'ns', resourceVersion: rv, ...extra } });
const json = (res: ServerResponse, code: number, body: unknown): void => {
  res.writeHead(code, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
};
const status = (code: number, message: string) => ({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code, message });

interface FakeApi {
  lists: Array<{ at: number; query: URLSearchParams }>;
  watches: Array<{ at: number; query: URLSearchParams }>;
}

/** A list/watch server; `onList` and `onWatch` get the 1-based call number. */
async function serve(
  onList: (n: number, req: IncomingMessage, res: ServerResponse, url: URL) => void,
  onWatch: (n: number, req: IncomingMessage, res: ServerResponse, url: URL) => void,
): Promise<{ server: Server; kc: KubeConfig; api: FakeApi }> {
  const api: FakeApi = { lists: [], watches: [] };
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.searchParams.get('watch') === 'true') {
      api.watches.push({ at: Date.now(), query: url.searchParams });
      onWatch(api.watches.length, req, res, url);
    } else {
      api.lists.push({ at: Date.now(), query: url.searchParams });
      onList(api.lists.length, req, res, url);
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const kc = new KubeConfig();
  const port = (server.address() as AddressInfo).port;
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: 'u' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return { server, kc, api };
}

async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
}

function informer(kc: KubeConfig, over: Partial<InformerOptions> = {}): Informer {
  return new Informer({
    kc,
    client: new RawClient(kc),
    path: '/apis/apps/v1/deployments',
    resource: 'deployments',
    logger: createLogger({ silent: true }),
    onChange: () => undefined,
    onDelete: () => undefined,
    ...over,
  });
}

async function until(cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(20);
  }
}

describe('Informer', () => {
  it('restarts after a watch error, relists and keeps delivering objects', async () => {
    const { server, kc, api } = await serve(
      (_n, _req, res) => json(res, 200, { kind: 'DeploymentList', apiVersion: 'apps/v1', metadata: { resourceVersion: '10' }, items: [obj('a', '10')] }),
      (n, _req, res) => {
        if (n === 1) return json(res, 500, status(500, 'etcd is sad'));
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.write(JSON.stringify({ type: 'ADDED', object: obj('b', '11') }) + '\n');
      },
    );
    const seen: string[] = [];
    let restarts = 0;
    const inf = informer(kc, { onChange: (o: KubeObject) => seen.push(o.metadata.name), onRestart: () => restarts++, backoff: { initialMs: 50, maxMs: 1_000 } });
    try {
      await inf.start();
      await until(() => seen.includes('b'));
      expect(inf.get('b', 'ns')?.metadata.name, 'the restarted informer caches new objects').to.equal('b');
      expect(restarts).to.equal(1);
      expect(api.lists.length).to.be.at.least(2);
      expect(seen).to.include.members(['a', 'b']);
    } finally {
      await inf.stop();
      await close(server);
    }
  });

  it('keeps the cache populated while it relists after a connection reset, then replaces it atomically', async () => {
    // LIST 1: a, c. Watch 1: b is added, then the connection is reset.
    // LIST 2: slow, then 503. LIST 3: slow, then a (changed) and b; c is gone.
    const { server, kc, api } = await serve(
      (n, _req, res) => {
        if (n === 1) return json(res, 200, { kind: 'DeploymentList', apiVersion: 'apps/v1', metadata: { resourceVersion: '10' }, items: [obj('a', '10'), obj('c', '10')] });
        if (n === 2) return void setTimeout(() => json(res, 503, status(503, 'overloaded')), 600);
        setTimeout(() => json(res, 200, { kind: 'DeploymentList', apiVersion: 'apps/v1', metadata: { resourceVersion: '20' }, items: [obj('a', '15'), obj('b', '11')] }), 600);
      },
      (n, _req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        if (n === 1) {
          res.write(JSON.stringify({ type: 'ADDED', object: obj('b', '11') }) + '\n');
          setTimeout(() => res.socket?.destroy(new Error('reset')), 300);
        }
        // later watches stay open and quiet
      },
    );
    const changes: string[] = [];
    const deletes: string[] = [];
    const inf = informer(kc, {
      onChange: (o) => changes.push(`${o.metadata.name}@${o.metadata.resourceVersion}`),
      onDelete: (o) => deletes.push(o.metadata.name),
      backoff: { initialMs: 100, maxMs: 1_000 },
    });
    const missing: string[] = [];
    let sampler: NodeJS.Timeout | undefined;
    try {
      await inf.start();
      await inf.waitForSync();
      sampler = setInterval(() => {
        if (!inf.get('a', 'ns')) missing.push(`a missing with ${api.lists.length} LISTs`);
        if (!inf.hasSynced) missing.push('not synced');
      }, 10);
      await until(() => api.lists.length >= 3 && inf.get('c', 'ns') === undefined);
      clearInterval(sampler);
      expect(missing, 'get() never misses an existing object during the relist').to.deep.equal([]);
      expect(inf.list().map((o) => o.metadata.name).sort()).to.deep.equal(['a', 'b']);
      expect(inf.get('a', 'ns')?.metadata.resourceVersion).to.equal('15');
      expect(deletes, 'an object gone from the relist is deleted').to.deep.equal(['c']);
      expect(changes, 'a changed object is updated; an unchanged one is not re-delivered').to.deep.equal(['a@10', 'c@10', 'b@11', 'a@15']);
    } finally {
      if (sampler) clearInterval(sampler);
      await inf.stop();
      await close(server);
    }
  });

  it('is not synced after a failed initial LIST, and is once a LIST succeeds', async () => {
    const { server, kc, api } = await serve(
      (n, _req, res) => {
        if (n === 1) return json(res, 503, status(503, 'overloaded'));
        json(res, 200, { kind: 'DeploymentList', apiVersion: 'apps/v1', metadata: { resourceVersion: '10' }, items: [obj('a', '10')] });
      },
      (_n, _req, res) => void res.writeHead(200, { 'Content-Type': 'application/json' }),
    );
    const inf = informer(kc, { backoff: { initialMs: 400, maxMs: 1_000 } });
    try {
      await inf.start();
      await until(() => api.lists.length >= 1);
      await sleep(100);
      expect(inf.hasSynced, 'a failed LIST is not a sync').to.equal(false);
      expect(inf.list()).to.deep.equal([]);
      await inf.waitForSync();
      expect(api.lists.length).to.equal(2);
      expect(inf.hasSynced).to.equal(true);
      expect(inf.get('a', 'ns')?.metadata.name).to.equal('a');
    } finally {
      await inf.stop();
      await close(server);
    }
  });

  it('backs off longer after each failed LIST, up to the cap', async () => {
    const { server, kc, api } = await serve(
      (n, _req, res) => {
        if (n <= 5) return json(res, 500, status(500, 'down'));
        json(res, 200, { kind: 'DeploymentList', apiVersion: 'apps/v1', metadata: { resourceVersion: '10' }, items: [] });
      },
      (_n, _req, res) => void res.writeHead(200, { 'Content-Type': 'application/json' }),
    );
    const inf = informer(kc, { backoff: { initialMs: 60, maxMs: 250 } });
    try {
      await inf.start();
      await inf.waitForSync();
      const gaps = api.lists.slice(1).map((l, i) => l.at - api.lists[i]!.at);
      // 60, 120, 240, 250 (capped), 250
      expect(gaps[0]).to.be.within(50, 200);
      expect(gaps[1]).to.be.within(110, 300);
      expect(gaps[2]).to.be.within(230, 450);
      expect(gaps[3]).to.be.within(240, 450);
      expect(gaps[4]).to.be.within(240, 450);
    } finally {
      await inf.stop();
      await close(server);
    }
  });

  it('lists in pages and drops managedFields', async () => {
    const items = Array.from({ length: 5 }, (_, i) => obj(`d${i}`, '10', { managedFields: [{ manager: 'kubectl', fieldsV1: { big: true } }] }));
    const { server, kc, api } = await serve(
      (_n, _req, res, url) => {
        const limit = Number(url.searchParams.get('limit') ?? 2);
        const from = Number(url.searchParams.get('continue') ?? 0);
        const page = items.slice(from, from + limit);
        const next = from + limit < items.length ? String(from + limit) : undefined;
        json(res, 200, { kind: 'DeploymentList', apiVersion: 'apps/v1', metadata: { resourceVersion: '10', ...(next ? { continue: next } : {}) }, items: page });
      },
      (_n, _req, res) => void res.writeHead(200, { 'Content-Type': 'application/json' }),
    );
    const inf = informer(kc, { pageSize: 2 });
    try {
      await inf.start();
      await inf.waitForSync();
      expect(inf.list().map((o) => o.metadata.name).sort()).to.deep.equal(['d0', 'd1', 'd2', 'd3', 'd4']);
      expect(api.lists.map((l) => l.query.get('limit'))).to.deep.equal(['2', '2', '2']);
      expect(inf.list().some((o) => 'managedFields' in o.metadata), 'managedFields are stripped').to.equal(false);
      expect(inf.get('d0', 'ns')?.kind).to.equal('Deployment');
    } finally {
      await inf.stop();
      await close(server);
    }
  });

  it('re-watches from the last resourceVersion after a clean close, and relists after 410 Gone', async () => {
    const { server, kc, api } = await serve(
      (_n, _req, res) => json(res, 200, { kind: 'DeploymentList', apiVersion: 'apps/v1', metadata: { resourceVersion: '10' }, items: [obj('a', '10')] }),
      (n, _req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        if (n === 1) {
          res.write(JSON.stringify({ type: 'BOOKMARK', object: { kind: 'Deployment', apiVersion: 'apps/v1', metadata: { resourceVersion: '12' } } }) + '\n');
          setTimeout(() => res.end(), 1_200);
        } else if (n === 2) {
          res.end(JSON.stringify({ type: 'ERROR', object: status(410, 'too old resource version') }) + '\n');
        }
      },
    );
    const inf = informer(kc);
    try {
      await inf.start();
      await until(() => api.watches.length >= 3);
      expect(api.watches[0]!.query.get('resourceVersion')).to.equal('10');
      expect(api.watches[1]!.query.get('resourceVersion'), 'a bookmark moves the resourceVersion on').to.equal('12');
      expect(api.lists.length, 'one relist after 410').to.equal(2);
      expect(inf.get('a', 'ns')?.metadata.name).to.equal('a');
    } finally {
      await inf.stop();
      await close(server);
    }
  });

  it('asks for watches of 5 to 10 minutes with bookmarks, as client-go does, and takes a minute and a half of silence as a dead watch', async () => {
    const { server, kc, api } = await serve(
      (_n, _req, res) => json(res, 200, { kind: 'DeploymentList', apiVersion: 'apps/v1', metadata: { resourceVersion: '10' }, items: [] }),
      (_n, _req, res) => res.writeHead(200, { 'Content-Type': 'application/json' }),
    );
    const infs = Array.from({ length: 8 }, () => informer(kc));
    try {
      await Promise.all(infs.map((i) => i.start()));
      await until(() => api.watches.length >= infs.length);
      for (const w of api.watches) {
        const timeout = Number(w.query.get('timeoutSeconds'));
        expect(timeout).to.be.within(WATCH_TIMEOUT_SECONDS[0], WATCH_TIMEOUT_SECONDS[1]);
        expect(w.query.get('allowWatchBookmarks')).to.equal('true');
      }
      expect(WATCH_TIMEOUT_SECONDS[0], 'each watch lives at least 5 minutes').to.be.at.least(300);
      expect(new Set(api.watches.map((w) => w.query.get('timeoutSeconds'))).size, 'spread, so watches do not all end together').to.be.above(1);
      // The apiserver sends a bookmark about once a minute; silence longer than that (with slack) means a dead connection.
      expect(WATCH_INACTIVITY_MS).to.be.within(75_000, 120_000);
      for (const i of infs) expect((i as unknown as { watch: { requestTimeoutMs: number } }).watch.requestTimeoutMs).to.equal(WATCH_INACTIVITY_MS);
    } finally {
      await Promise.all(infs.map((i) => i.stop()));
      await close(server);
    }
  });

  it('stops at once while a LIST is pending', async () => {
    const { server, kc, api } = await serve(
      () => undefined, // never answers
      (_n, _req, res) => void res.writeHead(200, { 'Content-Type': 'application/json' }),
    );
    const inf = informer(kc);
    try {
      await inf.start();
      await until(() => api.lists.length === 1);
      const t0 = Date.now();
      await inf.stop();
      expect(Date.now() - t0).to.be.below(1_000);
      expect(inf.hasSynced).to.equal(false);
    } finally {
      await close(server);
    }
  });
});
