// The work queue on a fake clock: no wall-clock windows, so a loaded machine cannot make these flake.
import { expect } from 'chai';
import { FakeClock, settle } from '../../src/runtime/clock.js';
import { WorkQueue } from '../../src/runtime/workqueue.js';

/** A promise the test resolves by hand. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

describe('WorkQueue', () => {
  it('de-duplicates keys and runs one pass per key at a time', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ concurrency: 4, clock });
    let inFlight = 0;
    let maxInFlight = 0;
    const runs: string[] = [];
    const gates: Array<() => void> = [];
    q.start(async (key) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      runs.push(key);
      const g = gate();
      gates.push(g.open);
      await g.promise;
      inFlight--;
    });
    q.add('a');
    q.add('a');
    await settle();
    expect(runs).to.deep.equal(['a']);
    q.add('a'); // while in flight: runs once more afterwards
    q.add('a');
    gates.shift()!();
    await settle();
    expect(runs).to.deep.equal(['a', 'a']);
    gates.shift()!();
    await settle();
    expect(runs).to.deep.equal(['a', 'a']);
    expect(maxInFlight).to.equal(1);
    await q.shutdown();
  });

  it('backs off per key exponentially up to the cap, and forget resets it', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ baseDelayMs: 100, maxDelayMs: 500, clock });
    expect([1, 2, 3, 4, 5].map(() => q.addRateLimited('k'))).to.deep.equal([100, 200, 400, 500, 500]);
    q.forget('k');
    expect(q.addRateLimited('k')).to.equal(100);
    const runs: number[] = [];
    q.start(async () => void runs.push(clock.now()));
    const t0 = clock.now();
    await clock.tick(99);
    expect(runs).to.deep.equal([]);
    await clock.tick(1);
    expect(runs).to.deep.equal([t0 + 100]);
    await q.shutdown();
  });

  it('addAfter keeps the earliest time', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    const runs: number[] = [];
    const t0 = clock.now();
    q.start(async () => void runs.push(clock.now() - t0));
    q.addAfter('k', 200);
    q.addAfter('k', 30);
    q.addAfter('k', 300);
    await clock.tick(29);
    expect(runs).to.deep.equal([]);
    await clock.tick(1_000);
    expect(runs).to.deep.equal([30]);
    await q.shutdown();
  });

  it('add runs a key at once and replaces its scheduled time', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    const runs: number[] = [];
    const t0 = clock.now();
    q.start(async () => void runs.push(clock.now() - t0));
    q.addAfter('k', 500);
    await clock.tick(100);
    q.add('k');
    await settle();
    await clock.tick(1_000);
    expect(runs).to.deep.equal([100]);
    await q.shutdown();
  });

  it('limits the rate of background passes with a token bucket', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ qps: 20, burst: 2, concurrency: 10, clock });
    let n = 0;
    q.start(async () => {
      n++;
    });
    for (let i = 0; i < 10; i++) q.addBackground(`k${i}`);
    await settle();
    expect(n, 'the burst').to.equal(2);
    await clock.tick(50);
    expect(n, 'one token per 50 ms at 20 qps').to.equal(3);
    await clock.tick(100);
    expect(n).to.equal(5);
    await clock.tick(1_000);
    expect(n).to.equal(10);
    await q.shutdown();
  });

  it('runs a key something happened to before the background keys, unthrottled', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ qps: 1, burst: 1, concurrency: 1, clock });
    const runs: string[] = [];
    const gates: Array<() => void> = [];
    let blocking = true;
    q.start(async (key) => {
      runs.push(key);
      if (!blocking) return;
      const g = gate();
      gates.push(g.open);
      await g.promise;
    });
    for (let i = 0; i < 5; i++) q.addBackground(`resync-${i}`);
    await settle();
    expect(runs).to.deep.equal(['resync-0']);
    q.add('new-revision');
    q.add('resync-3'); // an event for a key waiting in the background lane moves it forward
    q.addBackground('new-revision'); // and a resync does not push an urgent key back
    gates.shift()!();
    await settle();
    gates.shift()!();
    await settle();
    expect(runs, 'urgent keys first, with no token to wait for').to.deep.equal(['resync-0', 'new-revision', 'resync-3']);
    expect(q.length).to.equal(3);
    gates.shift()!();
    await settle();
    expect(runs, 'background keys wait for a token (1 qps)').to.have.length(3);
    await clock.tick(1_000);
    expect(runs).to.deep.equal(['resync-0', 'new-revision', 'resync-3', 'resync-1']);
    blocking = false;
    for (const open of gates.splice(0)) open();
    await q.shutdown();
  });

  it('a background key does not starve under sustained urgent load: once it has waited, the lanes take turns', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ concurrency: 1, backgroundMaxWaitMs: 10_000, clock });
    const runs: Array<{ key: string; at: number }> = [];
    let n = 0;
    // Every urgent pass takes 100 ms and a new urgent key arrives meanwhile: the urgent lane never empties.
    q.start(async (key) => {
      runs.push({ key, at: clock.now() });
      if (key.startsWith('event-')) q.add(`event-${++n}`);
      await new Promise<void>((r) => clock.setTimeout(r, 100));
    });
    q.add(`event-${++n}`);
    for (let i = 0; i < 3; i++) q.addBackground(`resync-${i}`);
    await clock.tick(9_000);
    expect(runs.filter((r) => r.key.startsWith('resync-')), 'not before the wait').to.deep.equal([]);
    await clock.tick(2_000);
    const resyncs = runs.filter((r) => r.key.startsWith('resync-'));
    expect(resyncs.map((r) => r.key)).to.deep.equal(['resync-0', 'resync-1', 'resync-2']);
    expect(resyncs[0]!.at - runs[0]!.at).to.be.within(10_000, 10_200);
    // They took turns with the urgent keys, which kept running.
    const i0 = runs.findIndex((r) => r.key === 'resync-0');
    expect(runs.slice(i0, i0 + 6).map((r) => r.key.split('-')[0])).to.deep.equal(['resync', 'event', 'resync', 'event', 'resync', 'event']);
    const shutdown = q.shutdown();
    await clock.tick(100);
    await shutdown;
  });

  it('a background add of a key in flight runs it again afterwards (a new leader\'s pass is not lost)', async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    const runs: string[] = [];
    const g = gate();
    let first = true;
    q.start(async (key) => {
      runs.push(key);
      if (first) {
        first = false;
        await g.promise;
      }
    });
    q.add('k');
    await settle();
    q.addBackground('k');
    g.open();
    await settle();
    expect(runs).to.deep.equal(['k', 'k']);
    await q.shutdown();
  });

  it('shutdown waits for the pass in flight', async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    let done = false;
    const g = gate();
    q.start(async () => {
      await g.promise;
      done = true;
    });
    q.add('k');
    await settle();
    const stopped = q.shutdown();
    await settle();
    expect(done).to.equal(false);
    g.open();
    await stopped;
    expect(done).to.equal(true);
  });
});
