// The Controller's queue, leadership and error policy, without a cluster: in-memory sources,
// a leadership the test flips, and a fake clock.
import { expect } from 'chai';
import { Writable } from 'node:stream';
import winston from 'winston';
import { SecretCache } from '../../src/canary/observe.js';
import { CanaryReconciler } from '../../src/canary/reconciler.js';
import type { KubeObject, RawClient } from '../../src/kube/raw-client.js';
import { FakeClock, settle } from '../../src/runtime/clock.js';
import { Controller, ownerByLabel, ownerByReference, PERSISTENT_CONFLICTS, type ControllerDefinition, type PassContext, type ReconcileResult, type Source } from '../../src/runtime/controller.js';
import type { InformerHandler } from '../../src/runtime/informer.js';
import type { Leadership } from '../../src/runtime/leadership.js';
import { OperatorMetrics } from '../../src/runtime/metrics.js';
import { decideReadiness } from '../../src/runtime/readiness.js';

class MemorySource implements Source {
  private readonly objects = new Map<string, KubeObject>();
  private readonly handlers: InformerHandler[] = [];
  hasSynced = false;
  private waiters: Array<() => void> = [];

  addHandler(h: InformerHandler): void {
    this.handlers.push(h);
  }
  waitForSync(): Promise<void> {
    return this.hasSynced ? Promise.resolve() : new Promise((r) => this.waiters.push(r));
  }
  sync(): void {
    this.hasSynced = true;
    for (const w of this.waiters.splice(0)) w();
  }
  get(name: string, namespace?: string): KubeObject | undefined {
    return this.objects.get(`${namespace ?? ''}/${name}`);
  }
  list(namespace?: string): KubeObject[] {
    return [...this.objects.values()].filter((o) => !namespace || o.metadata.namespace === namespace);
  }
  put(obj: KubeObject): void {
    this.objects.set(`${obj.metadata.namespace ?? ''}/${obj.metadata.name}`, obj);
    for (const h of this.handlers) h.onChange?.(obj);
  }
  remove(obj: KubeObject): void {
    this.objects.delete(`${obj.metadata.namespace ?? ''}/${obj.metadata.name}`);
    for (const h of this.handlers) h.onDelete?.(obj);
  }
}

class TestLeadership implements Leadership {
  term = 1;
  leading: boolean;
  private readonly listeners = new Set<(l: boolean) => void>();
  constructor(leading = true) {
    this.leading = leading;
  }
  isLeader(): boolean {
    return this.leading;
  }
  subscribe(fn: (l: boolean) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
  describe(): { leading: boolean; message: string } {
    return { leading: this.leading, message: this.leading ? 'leader' : 'standby' };
  }
  gain(): void {
    this.leading = true;
    this.term++;
    for (const l of this.listeners) l(true);
  }
  lose(): void {
    this.leading = false;
    for (const l of this.listeners) l(false);
  }
}

function capturingLogger(): { logger: winston.Logger; lines: Array<{ level: string; message: string; [k: string]: unknown }> } {
  const lines: Array<{ level: string; message: string }> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(JSON.parse(chunk.toString()) as { level: string; message: string });
      cb();
    },
  });
  return { logger: winston.createLogger({ level: 'debug', format: winston.format.json(), transports: [new winston.transports.Stream({ stream })] }), lines };
}

const canary = (name: string, ns = 'ns'): KubeObject => ({ metadata: { name, namespace: ns } });

interface Harness {
  clock: FakeClock;
  canaries: MemorySource;
  children: MemorySource;
  others: MemorySource;
  leadership: TestLeadership;
  controller: Controller;
  runs: Array<{ key: string; at: number }>;
  lines: Array<{ level: string; message: string; [k: string]: unknown }>;
  metrics: OperatorMetrics;
}

function harness(reconcile: (key: string, ctx: PassContext, h: Harness) => Promise<ReconcileResult>, over: Partial<ControllerDefinition> = {}, leading = true): Harness {
  const clock = new FakeClock();
  const canaries = new MemorySource();
  const children = new MemorySource();
  const others = new MemorySource();
  const leadership = new TestLeadership(leading);
  const { logger, lines } = capturingLogger();
  const metrics = new OperatorMetrics();
  const h = { clock, canaries, children, others, leadership, runs: [], lines, metrics } as unknown as Harness;
  h.controller = new Controller(
    {
      name: 'test',
      for: canaries,
      owns: [{ source: children, owner: ownerByLabel('example.dev/owner') }],
      watches: [{ source: others, map: (o) => (o.metadata.labels?.['example.dev/for'] ?? '').split(',').filter(Boolean).map((n) => `${o.metadata.namespace}/${n}`) }],
      reconcile: async (key, ctx) => {
        h.runs.push({ key, at: clock.now() - T0 });
        return reconcile(key, ctx, h);
      },
      resyncMs: 0,
      queue: { baseDelayMs: 100, maxDelayMs: 10_000 },
      ...over,
    },
    { logger, metrics, leadership, clock },
  );
  const T0 = clock.now();
  return h;
}

async function started(h: Harness): Promise<void> {
  h.canaries.sync();
  h.children.sync();
  h.others.sync();
  await h.controller.start();
  await settle();
}

const keys = (h: Harness): string[] => h.runs.map((r) => r.key);

describe('Controller', () => {
  it('maps events of what it reconciles, owns and watches to keys, and waits for its informers to sync', async () => {
    const h = harness(async () => ({}));
    h.canaries.put(canary('a'));
    const start = h.controller.start();
    await settle();
    h.canaries.sync();
    h.children.sync();
    await settle();
    expect(keys(h), 'nothing runs before every informer has synced').to.deep.equal([]);
    h.others.sync();
    await start;
    await settle();
    expect(keys(h)).to.deep.equal(['ns/a']);
    h.children.put({ metadata: { name: 'a-rs', namespace: 'ns', labels: { 'example.dev/owner': 'b' } } });
    h.children.put({ metadata: { name: 'stray', namespace: 'ns' } });
    h.others.put({ metadata: { name: 'dep', namespace: 'ns', labels: { 'example.dev/for': 'c,d' } } });
    await settle();
    expect(keys(h)).to.deep.equal(['ns/a', 'ns/b', 'ns/c', 'ns/d']);
    await h.controller.stop();
  });

  it('finds owners by ownerReference too', () => {
    const owner = ownerByReference('Canary');
    expect(owner({ metadata: { name: 'rs', namespace: 'ns', ownerReferences: [{ kind: 'Canary', name: 'web', controller: true }] } })).to.equal('ns/web');
    expect(owner({ metadata: { name: 'rs', namespace: 'ns', ownerReferences: [{ kind: 'Canary', name: 'web' }] } })).to.equal(undefined);
  });

  it('a 409 requeues at once and does not grow the per-key backoff', async () => {
    let n = 0;
    const h = harness(async () => {
      n++;
      if (n === 1) throw new Error('boom'); // backoff 100 ms
      if (n <= 4) return { conflict: true }; // three conflicts: at once
      if (n === 5) throw new Error('boom again'); // backoff 200 ms: the conflicts added nothing
      return {};
    });
    h.canaries.put(canary('a'));
    await started(h);
    await h.clock.tick(100);
    expect(h.runs.map((r) => r.at), 'conflicts re-run at the same instant').to.deep.equal([0, 100, 100, 100, 100]);
    await h.clock.tick(199);
    expect(h.runs).to.have.length(5);
    await h.clock.tick(1);
    expect(h.runs.map((r) => r.at)).to.deep.equal([0, 100, 100, 100, 100, 300]);
    expect(h.lines.filter((l) => l.level === 'warn'), 'a passing conflict is not reported').to.deep.equal([]);
    expect(h.lines.filter((l) => l.level === 'error').map((l) => l.retryInMs)).to.deep.equal([100, 200]);
    await h.controller.stop();
  });

  it('reports only conflicts that keep coming back, and slows them down', async () => {
    const h = harness(async () => ({ conflict: true }));
    h.canaries.put(canary('a'));
    await started(h);
    expect(h.runs).to.have.length(PERSISTENT_CONFLICTS);
    const warnings = h.lines.filter((l) => l.level === 'warn');
    expect(warnings.map((l) => l.message)).to.deep.equal(['Write conflicts keep recurring']);
    await h.clock.tick(999);
    expect(h.runs).to.have.length(PERSISTENT_CONFLICTS);
    await h.clock.tick(1);
    expect(h.runs).to.have.length(PERSISTENT_CONFLICTS + 1);
    await h.controller.stop();
  });

  it('errors back off per key exponentially; success resets it; requeueAfter schedules the next pass', async () => {
    let n = 0;
    const h = harness(async () => {
      n++;
      if (n <= 3) throw new Error('down');
      return { requeueAfterMs: 5_000 };
    });
    h.canaries.put(canary('a'));
    await started(h);
    await h.clock.tick(10_000);
    expect(h.runs.map((r) => r.at)).to.deep.equal([0, 100, 300, 700, 5_700]);
    await h.controller.stop();
  });

  it('a standby keeps the keys that come up and runs them, and every object, when it becomes leader', async () => {
    const h = harness(async () => ({}), {}, false);
    h.canaries.put(canary('a'));
    await started(h);
    h.canaries.put(canary('b'));
    h.children.put({ metadata: { name: 'gone-rs', namespace: 'ns', labels: { 'example.dev/owner': 'deleted' } } });
    await h.clock.tick(60_000);
    expect(keys(h), 'a standby does not reconcile').to.deep.equal([]);
    h.leadership.gain();
    await settle();
    expect(keys(h).sort(), 'nothing that came up while standing by is dropped').to.deep.equal(['ns/a', 'ns/b', 'ns/deleted']);
    await h.controller.stop();
  });

  it('a standby keeps nothing for objects deleted while it stood by: on leading it runs the keys the caches still name', async () => {
    const h = harness(async () => ({}), {}, false);
    await started(h);
    for (let i = 0; i < 50; i++) {
      h.canaries.put(canary(`tmp-${i}`));
      h.canaries.remove(canary(`tmp-${i}`));
    }
    h.canaries.put(canary('a'));
    h.others.put({ metadata: { name: 'dep', namespace: 'ns', labels: { 'example.dev/for': 'orphan' } } });
    await settle();
    h.leadership.gain();
    await settle();
    expect(keys(h).sort(), 'what exists, and what a child or a watched object still names').to.deep.equal(['ns/a', 'ns/orphan']);
    await h.controller.stop();
  });

  it('a key handled while the lease is near expiry runs again once leadership is confirmed', async () => {
    const h = harness(async () => ({}));
    await started(h);
    h.leadership.leading = false; // renewal is late: not allowed to write, not lost yet
    h.canaries.put(canary('a'));
    await settle();
    expect(keys(h)).to.deep.equal([]);
    h.leadership.gain(); // the renewal went through
    await settle();
    expect(keys(h)).to.deep.equal(['ns/a']);
    await h.controller.stop();
  });

  it('losing the lease aborts the pass in flight, fences its writes, and the key runs again when leading', async () => {
    const seen: Array<{ before: boolean; after: boolean; aborted: boolean; fromCode: boolean }> = [];
    let release!: () => void;
    let n = 0;
    const h = harness(async (_key, ctx, hh) => {
      n++;
      if (n > 1) return {};
      const before = ctx.mayWrite();
      await new Promise<void>((r) => (release = r));
      seen.push({ before, after: ctx.mayWrite(), aborted: ctx.signal.aborted, fromCode: hh.controller.mayWrite() });
      return {};
    });
    h.canaries.put(canary('a'));
    await started(h);
    expect(keys(h)).to.deep.equal(['ns/a']);
    h.leadership.lose();
    await settle();
    release();
    await settle();
    expect(seen).to.deep.equal([{ before: true, after: false, aborted: true, fromCode: false }]);
    h.leadership.gain();
    await settle();
    expect(keys(h)).to.deep.equal(['ns/a', 'ns/a']);
    const cancelled = (await h.metrics.registry.getSingleMetricAsString('deployer_reconcile_total')).match(/result="cancelled"} (\d+)/)?.[1];
    expect(cancelled).to.equal('1');
    await h.controller.stop();
  });

  it('a pass from an earlier term may not write after leadership was lost and regained', async () => {
    let release!: () => void;
    let ctxSeen: PassContext | undefined;
    let n = 0;
    const h = harness(async (_key, ctx) => {
      if (++n > 1) return {};
      ctxSeen = ctx;
      await new Promise<void>((r) => (release = r));
      return {};
    });
    h.canaries.put(canary('a'));
    await started(h);
    h.leadership.leading = false;
    h.leadership.gain();
    expect(ctxSeen!.mayWrite(), 'term changed under the pass').to.equal(false);
    release();
    await settle();
    await h.controller.stop();
  });

  it('code called by a pass finds that pass (key, signal, fence); outside a pass there is none', async () => {
    const found: Array<string | undefined> = [];
    const deep = async (c: Controller): Promise<void> => {
      await Promise.resolve();
      found.push(c.currentPass()?.key);
    };
    const h = harness(async (_key, _ctx, hh) => {
      await deep(hh.controller);
      return {};
    });
    h.canaries.put(canary('a'));
    await started(h);
    expect(found).to.deep.equal(['ns/a']);
    expect(h.controller.currentPass()).to.equal(undefined);
    expect(h.controller.mayWrite(), 'outside a pass: whether this instance leads').to.equal(true);
    await h.controller.stop();
  });

  it('resyncs every object periodically', async () => {
    const h = harness(async () => ({}), { resyncMs: 1_000 });
    h.canaries.put(canary('a'));
    await started(h);
    await h.clock.tick(2_000);
    expect(h.runs.map((r) => r.at)).to.deep.equal([0, 1_000, 2_000]);
    await h.controller.stop();
  });
});

describe('Canary passes and leadership', () => {
  it('a pass whose leadership ends during its status write makes no further write and records no Event', async () => {
    const writes: string[] = [];
    const events: string[] = [];
    let h!: Harness;
    const write = (method: string) => async (path: string, body: unknown) => {
      writes.push(`${method} ${path}`);
      if (method === 'PUT') h.leadership.lose(); // the lease is lost while the status write is in flight
      const b = body as { metadata?: Record<string, unknown> } | undefined;
      return { ...(b ?? {}), metadata: { name: 'x', ...(b?.metadata ?? {}), resourceVersion: `${writes.length + 10}` } };
    };
    const client = {
      get: async () => {
        throw new Error('not expected');
      },
      list: async () => ({ items: [], metadata: {} }),
      create: write('POST'),
      update: write('PUT'),
      patch: write('PATCH'),
      delete: write('DELETE'),
    } as unknown as RawClient;
    let reconciler: CanaryReconciler | undefined;
    h = harness(async (key, ctx, hh) => {
      reconciler ??= new CanaryReconciler({
        client,
        canaries: hh.canaries,
        deployments: hh.others,
        replicaSets: hh.children,
        secrets: new SecretCache(client),
        measurements: { peek: () => undefined, request: () => undefined },
        events: { record: async (_t, _type, reason) => void events.push(reason) },
        logger: winston.createLogger({ silent: true }),
        metrics: hh.metrics,
        mayAct: () => hh.controller.mayWrite(),
      });
      return reconciler.reconcile(key, ctx);
    });
    h.others.put({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: 'ns', uid: 'du', resourceVersion: '5', generation: 1 },
      spec: { replicas: 3, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'app', image: 'example.com/web:1.0.0' }] } } },
      status: { observedGeneration: 1, replicas: 3, updatedReplicas: 3, readyReplicas: 3, availableReplicas: 3 },
    });
    h.canaries.put({ apiVersion: 'deployer.dev/v1alpha1', kind: 'Canary', metadata: { name: 'web', namespace: 'ns', uid: 'cu', resourceVersion: '1', generation: 1 }, spec: { targetRef: { name: 'web' }, steps: [{ setWeight: 34 }] } });
    await started(h);
    expect(writes, 'the status write, then nothing').to.deep.equal(['PUT /apis/deployer.dev/v1alpha1/namespaces/ns/canaries/web/status']);
    expect(events).to.deep.equal([]);
    await h.controller.stop();
  });
});

describe('readiness', () => {
  it('is not ready until every informer has listed, and a standby is ready and says whom it waits for', () => {
    expect(decideReadiness(['deployments', 'replicasets'], { leading: false, message: 'standby' })).to.deep.equal({ ready: false, message: 'not ready: waiting for the first list of deployments, replicasets' });
    expect(decideReadiness([], { leading: true, message: 'leader (lease ns/deployer, identity a)' })).to.deep.equal({ ready: true, message: 'ok: leader (lease ns/deployer, identity a)' });
    expect(decideReadiness([], { leading: false, message: 'standby: waiting for the leader lease ns/deployer held by a' })).to.deep.equal({
      ready: true,
      message: 'ok: standby: waiting for the leader lease ns/deployer held by a; serving the admission webhook, not reconciling',
    });
  });
});
