import { expect } from 'chai';
import { WorkQueue } from '../../src/runtime/workqueue.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('WorkQueue', () => {
  it('de-duplicates keys and runs one pass per key at a time', async () => {
    const q = new WorkQueue({ concurrency: 4 });
    let inFlight = 0;
    let maxInFlight = 0;
    const runs: string[] = [];
    q.start(async (key) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      runs.push(key);
      await sleep(20);
      inFlight--;
    });
    q.add('a');
    q.add('a');
    await sleep(5);
    q.add('a'); // while in flight: runs once more afterwards
    q.add('a');
    await sleep(80);
    expect(runs).to.deep.equal(['a', 'a']);
    expect(maxInFlight).to.equal(1);
    await q.shutdown();
  });

  it('backs off per key exponentially up to the cap, and forget resets it', () => {
    const q = new WorkQueue({ baseDelayMs: 100, maxDelayMs: 500 });
    expect([1, 2, 3, 4, 5].map(() => q.addRateLimited('k'))).to.deep.equal([100, 200, 400, 500, 500]);
    q.forget('k');
    expect(q.addRateLimited('k')).to.equal(100);
    void q.shutdown();
  });

  it('addAfter keeps the earliest time', async () => {
    const q = new WorkQueue();
    const runs: number[] = [];
    const t0 = Date.now();
    q.start(async () => {
      runs.push(Date.now() - t0);
    });
    q.addAfter('k', 200);
    q.addAfter('k', 30);
    q.addAfter('k', 300);
    await sleep(120);
    expect(runs).to.have.length(1);
    expect(runs[0]).to.be.below(120);
    await q.shutdown();
  });

  it('limits the overall rate with a token bucket', async () => {
    const q = new WorkQueue({ qps: 20, burst: 2, concurrency: 10 });
    let n = 0;
    q.start(async () => {
      n++;
    });
    for (let i = 0; i < 10; i++) q.add(`k${i}`);
    await sleep(120);
    expect(n).to.be.within(2, 5);
    await q.shutdown();
  });

  it('shutdown waits for the pass in flight', async () => {
    const q = new WorkQueue();
    let done = false;
    q.start(async () => {
      await sleep(50);
      done = true;
    });
    q.add('k');
    await sleep(5);
    await q.shutdown();
    expect(done).to.equal(true);
  });
});
