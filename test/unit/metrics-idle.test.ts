import perfHooks from 'node:perf_hooks';
import { expect } from 'chai';
import { EVENT_LOOP_SAMPLE_MS, OperatorMetrics } from '../../src/runtime/metrics.js';

describe('operator metrics while idle', () => {
  it('samples the event-loop lag once a second, not every 10 or 100 ms (each sample wakes the idle process)', () => {
    const original = perfHooks.monitorEventLoopDelay;
    const resolutions: number[] = [];
    perfHooks.monitorEventLoopDelay = (opts) => {
      resolutions.push(opts?.resolution ?? 10);
      return original(opts);
    };
    try {
      const metrics = new OperatorMetrics({ defaultMetrics: true });
      expect(metrics.registry.getSingleMetric('deployer_nodejs_eventloop_lag_p99_seconds')).to.not.equal(undefined);
    } finally {
      perfHooks.monitorEventLoopDelay = original;
    }
    expect(resolutions).to.deep.equal([EVENT_LOOP_SAMPLE_MS]);
    expect(EVENT_LOOP_SAMPLE_MS).to.be.at.least(1000);
  });

  it('reports the event-loop delay beyond the sampling period: an idle operator shows no lag, a stall shows its length', async function () {
    this.timeout(15_000);
    const metrics = new OperatorMetrics({ defaultMetrics: true });
    const gauge = async (name: string): Promise<number> => {
      const m = metrics.registry.getSingleMetric(`deployer_nodejs_eventloop_lag_${name}_seconds`)!;
      return (await m.get()).values[0]!.value;
    };
    const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
    // The lag gauges are set when /metrics is collected (the first gauge's collect): collect once to reset the histogram.
    await metrics.registry.metrics();
    await sleep(2_300);
    await metrics.registry.metrics();
    expect(await gauge('p50'), 'idle: not the 1 s sampling period').to.be.below(0.1);
    expect(await gauge('max')).to.be.below(0.25);
    // (A collect resets the histogram, and its next sample only starts a new interval.)
    await sleep(1_500);
    // A pass that blocks the loop for 1.2 s: a stall of a second or more always overlaps a sample
    // (shorter ones are seen when they do), and the delay reported is the part after the sample was due.
    const until = Date.now() + 1_200;
    while (Date.now() < until) {
      // blocking
    }
    await sleep(1_300);
    await metrics.registry.metrics();
    expect(await gauge('max'), 'the stall').to.be.within(0.15, 1.3);
  });
});

