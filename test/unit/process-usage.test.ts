// The /proc readings the benchmarks compare controllers with: RSS, CPU time, an idle window.
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { cpuSeconds, measureIdle, rssMiB } from '../bench/process-usage.js';

/** Resolves once the child has started running its script (it prints a line first). */
function started(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    child.stdout?.once('data', () => resolve());
    child.once('error', reject);
  });
}

describe('process usage from /proc', function () {
  it('reads the RSS the process itself reports', function () {
    const own = process.memoryUsage().rss / 1024 / 1024;
    expect(rssMiB(process.pid)).to.be.within(own * 0.8, own * 1.2);
  });

  it('counts the CPU time a busy process burns, and not a sleeping one', async function () {
    const busy = spawn(process.execPath, ['-e', 'console.log("go"); const end = Date.now() + 3000; while (Date.now() < end);']);
    const sleeping = spawn(process.execPath, ['-e', 'console.log("go"); setTimeout(() => {}, 3000)']);
    try {
      await Promise.all([started(busy), started(sleeping)]);
      const b0 = cpuSeconds(busy.pid!);
      const s0 = cpuSeconds(sleeping.pid!);
      await new Promise((r) => setTimeout(r, 1_000));
      const busyUsed = cpuSeconds(busy.pid!) - b0;
      const sleepingUsed = cpuSeconds(sleeping.pid!) - s0;
      // The machine may be shared and loaded: the busy loop gets some share of a core, the sleeper none.
      expect(busyUsed).to.be.within(0.05, 1.2);
      expect(sleepingUsed).to.be.lessThan(0.03);
      expect(busyUsed).to.be.greaterThan(3 * sleepingUsed);
    } finally {
      busy.kill();
      sleeping.kill();
    }
  });

  it('scales the CPU of an idle window to a minute and samples RSS through it', async function () {
    const child = spawn(process.execPath, ['-e', 'console.log("go"); const end = Date.now() + 4000; while (Date.now() < end);']);
    try {
      await started(child);
      const u = await measureIdle(child.pid!, 1_000, 250);
      // On a loaded machine the window and its samples run late: bounds that hold there too.
      expect(u.durationMs).to.be.within(1_000, 3_500);
      // A busy loop for the whole window: some share of a core, at most one core, per minute.
      expect(u.cpuSecondsPerMinute).to.be.within(1, 62);
      expect(u.rssMiB.samples).to.be.within(2, 15);
      expect(u.rssMiB.last).to.be.greaterThan(10);
    } finally {
      child.kill();
    }
  });
});
