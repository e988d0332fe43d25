// Giving memory back after a burst: when, and how often (a fake clock and a fake heap), and that
// the real collection gives V8's freed pages back.
import { expect } from 'chai';
import { getHeapStatistics } from 'node:v8';
import { FakeClock } from '../../src/runtime/clock.js';
import { DEFAULT_COMPACTION, MemoryReducer, decideCompaction, type Compaction } from '../../src/runtime/memory-reducer.js';

const MiB = 1024 * 1024;

describe('decideCompaction', () => {
  const p = { quietMs: 3_000, growthBytes: 24 * MiB, minIntervalMs: 60_000 };
  const base = { now: 100_000, passesInFlight: 0, lastActivityAt: 90_000, heapBytes: 120 * MiB, baselineBytes: 60 * MiB, lastCompactionAt: undefined };

  it('compacts a heap that grew once the work has been quiet', () => {
    expect(decideCompaction(base, p)).to.deep.equal({ compact: true });
  });

  it('waits while passes still run, and says when to look again', () => {
    expect(decideCompaction({ ...base, lastActivityAt: 99_000 }, p)).to.deep.equal({ compact: false, checkAgainInMs: 2_000, why: 'busy' });
  });

  it('leaves a heap alone that has not grown (an idle operator, a resync that wrote nothing)', () => {
    expect(decideCompaction({ ...base, heapBytes: 80 * MiB }, p)).to.deep.equal({ compact: false, why: 'the heap has not grown' });
  });

  it('never while a pass is in flight, however long ago the last one ended', () => {
    expect(decideCompaction({ ...base, passesInFlight: 1 }, p)).to.deep.equal({ compact: false, checkAgainInMs: 3_000, why: 'passes in flight' });
  });

  it('compacts at most once per interval', () => {
    expect(decideCompaction({ ...base, lastCompactionAt: 70_000 }, p)).to.deep.equal({ compact: false, checkAgainInMs: 30_000, why: 'compacted recently' });
    expect(decideCompaction({ ...base, lastCompactionAt: 40_000 }, p)).to.deep.equal({ compact: true });
  });
});

describe('MemoryReducer', () => {
  function setup() {
    const clock = new FakeClock();
    let heap = 60 * MiB;
    const collections: number[] = [];
    const compacted: Compaction[] = [];
    const reducer = new MemoryReducer({
      clock,
      heapBytes: () => heap,
      collect: () => {
        collections.push(clock.now());
        heap = 50 * MiB;
      },
      onCompacted: (c) => compacted.push(c),
    });
    return { clock, reducer, collections, compacted, grow: (mib: number) => (heap += mib * MiB), setHeap: (mib: number) => (heap = mib * MiB) };
  }

  it('runs one collection after a burst, once the passes have stopped for quietMs', async () => {
    const { clock, reducer, collections, compacted, grow } = setup();
    const t0 = clock.now();
    // A burst: a pass every 100 ms for 10 s, the heap growing.
    for (let i = 0; i < 100; i++) {
      reducer.passEnded();
      grow(0.5);
      await clock.tick(100);
    }
    expect(collections, 'nothing while passes run').to.deep.equal([]);
    await clock.tick(DEFAULT_COMPACTION.quietMs);
    expect(collections).to.deep.equal([t0 + 9_900 + DEFAULT_COMPACTION.quietMs]);
    expect(compacted[0]).to.include({ beforeBytes: 110 * MiB, afterBytes: 50 * MiB });
    // Quiet from now on: no timer left, nothing more.
    await clock.tick(10 * 60_000);
    expect(collections).to.have.length(1);
    expect(clock.pending).to.equal(0);
  });

  it('does nothing after passes that did not grow the heap', async () => {
    const { clock, reducer, collections } = setup();
    for (let i = 0; i < 1_000; i++) reducer.passEnded();
    await clock.tick(60_000);
    expect(collections).to.deep.equal([]);
    expect(clock.pending).to.equal(0);
  });

  it('spaces collections by minIntervalMs when bursts follow one another', async () => {
    const { clock, reducer, collections, grow } = setup();
    const t0 = clock.now();
    reducer.passEnded();
    grow(30);
    await clock.tick(5_000);
    expect(collections).to.deep.equal([t0 + 3_000]);
    reducer.passEnded();
    grow(30);
    await clock.tick(5_000);
    expect(collections, 'the second waits for the interval').to.have.length(1);
    await clock.tick(60_000);
    expect(collections).to.deep.equal([t0 + 3_000, t0 + 63_000]);
  });

  it('waits for a slow pass still in flight, then compacts once it ends', async () => {
    const { clock, reducer, collections, grow } = setup();
    reducer.passStarted();
    reducer.passEnded(); // a short pass ended
    reducer.passStarted(); // a slow one runs on
    grow(30);
    await clock.tick(60_000);
    expect(collections, 'nothing while a pass runs').to.deep.equal([]);
    const endedAt = clock.now();
    reducer.passEnded();
    await clock.tick(10_000);
    expect(collections).to.deep.equal([endedAt + DEFAULT_COMPACTION.quietMs]);
  });

  it('measures growth from a heap that shrank by itself', async () => {
    const { clock, reducer, collections, setHeap } = setup();
    setHeap(40); // V8 gave memory back on its own (baseline was 60 MiB)
    reducer.passEnded();
    await clock.tick(5_000);
    expect(collections).to.deep.equal([]);
    setHeap(70); // then a burst grew it by 30 MiB
    reducer.passEnded();
    await clock.tick(5_000);
    expect(collections).to.have.length(1);
  });

  it('a collection that fails turns compaction off and reports it, never throwing from its timer', async () => {
    const clock = new FakeClock();
    let heap = 60 * MiB;
    const errors: unknown[] = [];
    let calls = 0;
    const reducer = new MemoryReducer({
      clock,
      heapBytes: () => heap,
      collect: () => {
        calls++;
        throw new Error('gc is not available');
      },
      onError: (err) => errors.push(err),
    });
    reducer.passEnded();
    heap += 30 * MiB;
    await clock.tick(5_000);
    expect(calls).to.equal(1);
    expect((errors[0] as Error).message).to.equal('gc is not available');
    reducer.passEnded();
    heap += 30 * MiB;
    await clock.tick(120_000);
    expect(calls, 'off from then on').to.equal(1);
    expect(clock.pending).to.equal(0);
  });

  it('stops: no collection after stop()', async () => {
    const { clock, reducer, collections, grow } = setup();
    reducer.passEnded();
    grow(30);
    reducer.stop();
    reducer.passEnded();
    await clock.tick(60_000);
    expect(collections).to.deep.equal([]);
    expect(clock.pending).to.equal(0);
  });

  it("V8's last-resort collection gives the pages of a grown heap back", async () => {
    const clock = new FakeClock();
    const compacted: Compaction[] = [];
    // Any growth: in a test process with a large heap, the garbage below may fit in its free space.
    const reducer = new MemoryReducer({ clock, policy: { growthBytes: 0 }, onCompacted: (c) => compacted.push(c) });
    // Grow the heap by about 100 MiB of objects that are garbage once the burst is over.
    let garbage: Array<{ i: number; s: string }> | undefined = [];
    for (let i = 0; i < 1_000_000; i++) garbage.push({ i, s: `object-${i}` });
    expect(getHeapStatistics().total_heap_size).to.be.greaterThan(80 * MiB);
    garbage = undefined;
    reducer.passEnded();
    await clock.tick(DEFAULT_COMPACTION.quietMs);
    expect(compacted).to.have.length(1);
    const c = compacted[0]!;
    expect(c.beforeBytes - c.afterBytes, `heap ${c.beforeBytes / MiB} → ${c.afterBytes / MiB} MiB`).to.be.greaterThan(50 * MiB);
    expect(garbage).to.equal(undefined);
  });
});
