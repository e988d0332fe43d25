// Leader election against (1) a tiny Lease server on 127.0.0.1 that speaks the Lease API with
// resourceVersion compare-and-swap and can hang or skew on purpose, and (2) an in-memory Lease
// store on a fake clock, to check the fencing margin step by step.
import type { KubeConfig } from '@kubernetes/client-node';
import { expect } from 'chai';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { Writable } from 'node:stream';
import winston from 'winston';
import { KubeApiError } from '../../src/kube/errors.js';
import { RawClient } from '../../src/kube/raw-client.js';
import { FakeClock } from '../../src/runtime/clock.js';
import { KubeLeaseStore, LeaderElector, type LeaseRecord, type LeaseStore } from '../../src/runtime/leader-election.js';
import { leaseNameFor, leaseNamespaceFor } from '../../src/runtime/lease-location.js';
import { closeLocalApi, serveLocalApi } from '../support/local-api.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function capturingLogger(): { logger: winston.Logger; messages: string[] } {
  const messages: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      messages.push((JSON.parse(chunk.toString()) as { message: string }).message);
      cb();
    },
  });
  return { logger: winston.createLogger({ level: 'debug', format: winston.format.json(), transports: [new winston.transports.Stream({ stream })] }), messages };
}

/** One Lease at /apis/coordination.k8s.io/v1/namespaces/ns/leases/lease. */
class LeaseServer {
  server!: Server;
  kc!: KubeConfig;
  lease: { metadata: { name: string; namespace: string; resourceVersion: string }; spec: LeaseRecord } | undefined;
  private rv = 1;
  /** PUTs get no answer while set. */
  hangPuts = false;
  abortedPuts = 0;
  /** Requests by method. */
  readonly methods: Record<string, number> = {};

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => this.handle(req.method ?? 'GET', body, res));
    });
    this.kc = await serveLocalApi(this.server);
  }

  set(spec: LeaseRecord): void {
    this.lease = { metadata: { name: 'lease', namespace: 'ns', resourceVersion: String(++this.rv) }, spec };
  }

  private reply(res: ServerResponse, code: number, body: unknown): void {
    res.writeHead(code, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
  }

  private handle(method: string, body: string, res: ServerResponse): void {
    this.methods[method] = (this.methods[method] ?? 0) + 1;
    if (method === 'GET') {
      if (!this.lease) return this.reply(res, 404, { kind: 'Status', code: 404, reason: 'NotFound', message: 'not found' });
      return this.reply(res, 200, this.lease);
    }
    const obj = JSON.parse(body) as { metadata: { resourceVersion?: string }; spec: LeaseRecord };
    if (method === 'POST') {
      if (this.lease) return this.reply(res, 409, { kind: 'Status', code: 409, reason: 'AlreadyExists', message: 'exists' });
      this.set(obj.spec);
      return this.reply(res, 201, this.lease);
    }
    if (method === 'PUT') {
      if (this.hangPuts) {
        res.on('close', () => this.abortedPuts++);
        return;
      }
      if (!this.lease || obj.metadata.resourceVersion !== this.lease.metadata.resourceVersion) return this.reply(res, 409, { kind: 'Status', code: 409, reason: 'Conflict', message: 'the object has been modified' });
      this.set(obj.spec);
      return this.reply(res, 200, this.lease);
    }
    this.reply(res, 405, {});
  }

  async stop(): Promise<void> {
    await closeLocalApi(this.server);
  }
}

const micro = (ms: number): string => new Date(ms).toISOString().replace('Z', '000Z');

function elector(s: LeaseServer, identity: string, timing: { lease: number; deadline: number; retry: number }, logger = capturingLogger().logger): LeaderElector {
  return new LeaderElector({
    lease: new KubeLeaseStore(new RawClient(s.kc), 'ns', 'lease'),
    identity,
    leaseDurationMs: timing.lease,
    renewDeadlineMs: timing.deadline,
    retryPeriodMs: timing.retry,
    logger,
  });
}

/** An elector 'me' on s (lease 1 s, deadline 600 ms, retry 100 ms), started, with its leadership changes and log messages. */
function startedElector(s: LeaseServer): { me: LeaderElector; events: boolean[]; messages: string[] } {
  const { logger, messages } = capturingLogger();
  const me = elector(s, 'me', { lease: 1_000, deadline: 600, retry: 100 }, logger);
  const events: boolean[] = [];
  me.subscribe((l) => events.push(l));
  me.start();
  return { me, events, messages };
}

describe('LeaderElector against a Lease server', function () {
  this.timeout(20_000);
  let s: LeaseServer;
  beforeEach(async () => {
    s = new LeaseServer();
    await s.start();
  });
  afterEach(async () => s.stop());

  it("does not take a healthy lease whose holder's clock is behind, and takes it once renewals stop", async () => {
    // The holder renews every 200 ms, but its clock is a minute behind ours.
    const skew = -60_000;
    const renew = (): void => s.set({ holderIdentity: 'other', leaseDurationSeconds: 1, acquireTime: micro(Date.now() + skew), renewTime: micro(Date.now() + skew) });
    renew();
    const holderRenews = setInterval(renew, 200);
    const { me, events, messages } = startedElector(s);
    try {
      await sleep(1_500);
      expect(s.lease?.spec.holderIdentity, 'a renewed lease is not stolen').to.equal('other');
      expect(events).to.deep.equal([]);
      expect(messages).to.include('Waiting for the leader lease held by other');
      expect(me.describe()).to.deep.equal({ leading: false, message: 'standby: waiting for the leader lease ns/lease held by other' });
      clearInterval(holderRenews);
      const stoppedAt = Date.now();
      while (!me.isLeader() && Date.now() - stoppedAt < 5_000) await sleep(20);
      const waited = Date.now() - stoppedAt;
      expect(me.isLeader()).to.equal(true);
      expect(waited, 'takes over one lease duration after the record stopped changing').to.be.within(900, 2_000);
      expect(s.lease?.spec.holderIdentity).to.equal('me');
      expect(s.lease?.spec.leaseTransitions).to.equal(1);
      expect(events).to.deep.equal([true]);
    } finally {
      clearInterval(holderRenews);
      await me.release();
    }
  });

  it('stops leading when a renewal hangs past the renew deadline, aborts it, and leads again (new term) when renewals go through', async () => {
    const me = elector(s, 'me', { lease: 3_000, deadline: 800, retry: 100 });
    const events: Array<{ leading: boolean; at: number }> = [];
    const t0 = Date.now();
    me.subscribe((leading) => events.push({ leading, at: Date.now() - t0 }));
    me.start();
    try {
      while (!me.isLeader()) await sleep(10);
      expect(me.term).to.equal(1);
      await sleep(300);
      s.hangPuts = true;
      const hungAt = Date.now() - t0;
      while (events.length < 2 && Date.now() - t0 < 5_000) await sleep(10);
      expect(me.isLeader()).to.equal(false);
      expect(events.map((e) => e.leading)).to.deep.equal([true, false]);
      expect(events[1]!.at - hungAt, 'lost within the renew deadline of the last renewal').to.be.below(800 + 150);
      await sleep(50);
      expect(s.abortedPuts, 'the hung renewal was aborted').to.be.at.least(1);
      s.hangPuts = false;
      while (events.length < 3 && Date.now() - t0 < 5_000) await sleep(10);
      expect(events.map((e) => e.leading), 'a recovered renewal makes it leader again').to.deep.equal([true, false, true]);
      expect(me.term).to.equal(2);
      expect(s.lease?.spec.leaseTransitions, 'still its own lease: no transition').to.equal(0);
    } finally {
      s.hangPuts = false;
      await me.release();
    }
  });

  it('a leader renews with one PUT on the record it wrote; a conflict makes it read the Lease and step down for the new holder', async () => {
    const { me, events, messages } = startedElector(s);
    try {
      while (!me.isLeader()) await sleep(10);
      const before = { ...s.methods };
      await sleep(1_000);
      const puts = (s.methods.PUT ?? 0) - (before.PUT ?? 0);
      expect(puts, `renewals in a second at a 100 ms retry period (${JSON.stringify(before)} → ${JSON.stringify(s.methods)})`).to.be.at.least(5);
      expect((s.methods.GET ?? 0) - (before.GET ?? 0), 'no read while the renewals go through').to.equal(0);
      expect(me.isLeader()).to.equal(true);
      // Someone else writes the Lease (an operator taking it by hand): the next renewal conflicts.
      s.set({ holderIdentity: 'other', leaseDurationSeconds: 1, renewTime: micro(Date.now()) });
      const gets = s.methods.GET ?? 0;
      const changedAt = Date.now();
      while (me.isLeader() && Date.now() - changedAt < 2_000) await sleep(10);
      expect(me.isLeader()).to.equal(false);
      expect(s.methods.GET ?? 0, 'the conflict made it read the Lease').to.be.greaterThan(gets);
      expect(events).to.deep.equal([true, false]);
      expect(messages).to.include('Lost leader lease');
    } finally {
      await me.release();
    }
  });

  it('release hands over at once', async () => {
    const a = elector(s, 'a', { lease: 5_000, deadline: 3_000, retry: 100 });
    const b = elector(s, 'b', { lease: 5_000, deadline: 3_000, retry: 100 });
    a.start();
    while (!a.isLeader()) await sleep(10);
    b.start();
    await sleep(300);
    expect(b.isLeader()).to.equal(false);
    await a.release();
    const released = Date.now();
    while (!b.isLeader() && Date.now() - released < 3_000) await sleep(10);
    expect(b.isLeader()).to.equal(true);
    expect(Date.now() - released).to.be.below(1_000);
    await b.release();
    expect(s.lease?.spec.holderIdentity).to.equal(null);
  });
});

/** A Lease in memory; calls from an identity listed in `partitioned` fail as if the network were down. */
class MemoryLease implements LeaseStore {
  readonly description = 'ns/lease';
  record: LeaseRecord | undefined;
  private rv = 0;
  readonly partitioned = new Set<string>();
  constructor(private readonly who: () => string) {}

  private check(): void {
    if (this.partitioned.has(this.who())) throw new KubeApiError('connection refused', 0, 'Unreachable');
  }
  async get(): Promise<{ record: LeaseRecord; resourceVersion: string } | undefined> {
    this.check();
    return this.record ? { record: { ...this.record }, resourceVersion: String(this.rv) } : undefined;
  }
  async create(record: LeaseRecord): Promise<string> {
    this.check();
    if (this.record) throw new KubeApiError('exists', 409, 'AlreadyExists');
    this.record = { ...record };
    return String(++this.rv);
  }
  async update(record: LeaseRecord, resourceVersion: string): Promise<string> {
    this.check();
    if (resourceVersion !== String(this.rv)) throw new KubeApiError('conflict', 409, 'Conflict');
    this.record = { ...record };
    return String(++this.rv);
  }
}

describe('LeaderElector fencing (fake clock)', () => {
  function pair(): { clock: FakeClock; store: Record<string, LeaseStore>; mem: MemoryLease; a: LeaderElector; b: LeaderElector } {
    const clock = new FakeClock();
    let caller = '';
    const mem = new MemoryLease(() => caller);
    const as = (id: string): LeaseStore => ({
      description: mem.description,
      get: async (signal) => ((caller = id), mem.get()).then((r) => (signal.throwIfAborted(), r)),
      create: async (r) => ((caller = id), mem.create(r)),
      update: async (r, rv) => ((caller = id), mem.update(r, rv)),
    });
    const store = { a: as('a'), b: as('b') };
    const logger = capturingLogger().logger;
    const mk = (id: 'a' | 'b'): LeaderElector => new LeaderElector({ lease: store[id], identity: id, leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000, logger, clock });
    return { clock, store, mem, a: mk('a'), b: mk('b') };
  }

  it('a cut-off leader stops acting a safety margin before a standby may take over; never two leaders', async () => {
    const { clock, mem, a, b } = pair();
    a.start();
    await clock.tick(0);
    expect(a.isLeader()).to.equal(true);
    b.start();
    await clock.tick(5_000);
    const aEvents: boolean[] = [];
    a.subscribe((l) => aEvents.push(l));
    mem.partitioned.add('a');
    const cutAt = clock.now();
    let aStoppedAt: number | undefined;
    let bStartedAt: number | undefined;
    for (let t = 0; t < 40_000; t += 100) {
      await clock.tick(100);
      expect(a.isLeader() && b.isLeader(), `two leaders at +${t} ms`).to.equal(false);
      if (aStoppedAt === undefined && !a.isLeader()) aStoppedAt = clock.now() - cutAt;
      if (bStartedAt === undefined && b.isLeader()) bStartedAt = clock.now() - cutAt;
    }
    expect(aEvents).to.deep.equal([false]);
    // The last renewal before the cut started at most one retry period earlier.
    expect(aStoppedAt).to.be.at.most(10_000);
    expect(bStartedAt).to.be.at.least(aStoppedAt! + 15_000 - 10_000 - 2_000);
    expect(mem.record?.holderIdentity).to.equal('b');
    await a.release();
    await b.release();
  });

  it('a standby ignores renewTime: a holder whose clock is far ahead or behind keeps the lease while it renews', async () => {
    const { clock, mem, b } = pair();
    mem.record = { holderIdentity: 'x', leaseDurationSeconds: 15, renewTime: micro(clock.now() - 3_600_000) };
    b.start();
    for (let i = 0; i < 20; i++) {
      // x renews every 2 s with a clock an hour behind
      await mem.update({ ...mem.record, renewTime: micro(clock.now() - 3_600_000 + i) }, String((mem as unknown as { rv: number }).rv));
      await clock.tick(2_000);
      expect(b.isLeader()).to.equal(false);
    }
    await clock.tick(15_000 + 2_400);
    expect(b.isLeader()).to.equal(true);
    await b.release();
  });
});

describe('where the leader Lease lives by default', () => {
  let server: Server;
  let installExists = true;
  let kc: KubeConfig;
  before(async () => {
    server = createServer((req, res) => {
      if (req.url?.startsWith('/api/v1/namespaces/deployer-system') && installExists) return void res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"kind":"Namespace","metadata":{"name":"deployer-system"}}');
      res.writeHead(404, { 'Content-Type': 'application/json' }).end('{"kind":"Status","code":404,"reason":"NotFound"}');
    });
    kc = await serveLocalApi(server);
  });
  after(() => closeLocalApi(server));

  it('uses the Pod namespace in the cluster, deployer-system when installed, and default on a fresh cluster', async () => {
    const client = new RawClient(kc);
    expect((await leaseNamespaceFor(client, { POD_NAMESPACE: 'ops' })).namespace).to.equal('ops');
    installExists = true;
    expect((await leaseNamespaceFor(client, {})).namespace).to.equal('deployer-system');
    installExists = false;
    expect((await leaseNamespaceFor(client, {})).namespace).to.equal('default');
  });

  it('names one Lease per set of watched namespaces', () => {
    expect(leaseNameFor()).to.equal('deployer');
    expect(leaseNameFor([])).to.equal('deployer');
    expect(leaseNameFor(['b', 'a'])).to.equal(leaseNameFor(['a', 'b']));
    expect(leaseNameFor(['a'])).to.match(/^deployer-[0-9a-f]{10}$/);
    expect(leaseNameFor(['a'])).not.to.equal(leaseNameFor(['a', 'b']));
  });
});
