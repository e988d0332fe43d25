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
});
