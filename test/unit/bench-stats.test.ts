import { expect } from 'chai';
import { histogramQuantile, mapLimit } from '../../test/bench/stats.js';
import { parseMetrics, metricSum } from '../../test/bench/operator-process.js';

describe('bench helpers: quantiles of a Prometheus histogram, metrics text, bounded concurrency', () => {
  const buckets = [
    { le: 0.01, count: 50 },
    { le: 0.1, count: 90 },
    { le: 1, count: 100 },
    { le: Infinity, count: 100 },
  ];
  it('interpolates inside the bucket that holds the rank, as histogram_quantile() does', () => {
    expect(histogramQuantile(buckets, 0.5)).to.be.closeTo(0.01, 1e-9);
    expect(histogramQuantile(buckets, 0.7)).to.be.closeTo(0.01 + 0.09 * 0.5, 1e-9);
    expect(histogramQuantile(buckets, 0.99)).to.be.closeTo(0.1 + 0.9 * 0.9, 1e-9);
  });
  it('a rank in the +Inf bucket answers the highest finite bound; no observations is NaN', () => {
    expect(histogramQuantile([{ le: 1, count: 1 }, { le: Infinity, count: 10 }], 0.99)).to.equal(1);
    expect(histogramQuantile([{ le: 1, count: 0 }, { le: Infinity, count: 0 }], 0.5)).to.be.NaN;
  });
  it('reads samples with labels and sums those that match', () => {
    const s = parseMetrics('# HELP x\nx_total{verb="PUT",resource="canaries/status"} 3\nx_total{verb="POST",resource="events"} 2\ny 1.5e3\n');
    expect(metricSum(s, 'x_total')).to.equal(5);
    expect(metricSum(s, 'x_total', { verb: 'PUT' })).to.equal(3);
    expect(metricSum(s, 'y')).to.equal(1500);
  });
  it('mapLimit keeps the order and never runs more than the limit at once', async () => {
    let running = 0;
    let most = 0;
    const out = await mapLimit([5, 1, 4, 2, 3], 2, async (x) => {
      running++;
      most = Math.max(most, running);
      await new Promise((r) => setTimeout(r, x));
      running--;
      return x * 10;
    });
    expect(out).to.deep.equal([50, 10, 40, 20, 30]);
    expect(most).to.equal(2);
  });
});
