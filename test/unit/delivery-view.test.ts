import { expect } from 'chai';
import { parseWindow } from '../../src/cli/commands/metrics.js';
import { CliError } from '../../src/cli/errors.js';
import { renderDelivery } from '../../src/cli/format/delivery-view.js';
import { calculateFigures, deploysOfRelease } from '../../src/metrics/delivery.js';
import { shopRelease } from '../support/delivery-history.js';

const NOW = Date.parse('2026-12-01T00:00:00Z');

describe('depctl metrics', () => {
  it('prints the figures of an application with the hand-computed values', () => {
    const f = calculateFigures(deploysOfRelease(shopRelease()), { since: NOW - 14 * 24 * 3600_000, now: NOW });
    expect(renderDelivery(f ? [f] : [])).to.equal(
      [
        'Release prod/shop   since 2026-11-17',
        '  Deploys               7 (3.5 per week)',
        '  Canary catches        1 (12.5% of attempts)',
        '  Change failure rate   42.9% (3 of 7)',
        '  Time to recover       median 90m (3)',
        '  Deploy duration       median 30m, p90 60m (7)',
        '  Lead time             median 13h (6)',
        '  Lines per deploy      median 120 (7)',
        '  Change failures:',
        '    1.2.1: rolled back, promoted 2026-11-20T10:40:00.000Z, recovered 2026-11-20T11:10:00.000Z',
        '    1.3.0: fix forward, promoted 2026-11-22T14:20:00.000Z, recovered 2026-11-22T15:50:00.000Z',
        '    1.4.0: redeployed previous, promoted 2026-11-25T09:10:00.000Z, recovered 2026-11-26T09:15:00.000Z',
      ].join('\n'),
    );
  });

  it('reads --since as days, weeks or a Go duration, and refuses anything else', () => {
    expect(parseWindow('30d', '--since')).to.equal(30 * 24 * 3600_000);
    expect(parseWindow('2w', '--since')).to.equal(14 * 24 * 3600_000);
    expect(parseWindow('12h', '--since')).to.equal(12 * 3600_000);
    expect(() => parseWindow('a month', '--since')).to.throw(CliError, '--since must be a duration such as 30d, 2w or 12h, got "a month"');
  });
});
