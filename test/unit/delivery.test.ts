import { expect } from 'chai';
import type { ReleaseRecord } from '../../src/api/release-types.js';
import { assessDeploys, calculateDelivery, calculateFigures, deploysOfCanary, deploysOfRelease, median, percentile } from '../../src/metrics/delivery.js';
import { apiCanary, NOW, rec, SINCE, shopRelease } from '../support/delivery-history.js';


describe('delivery metrics', () => {
  it('computes every figure of a scripted Release history', () => {
    const f = calculateFigures(deploysOfRelease(shopRelease()), { since: SINCE, now: NOW });
    // Promoted in the window: g2, g4, g5, g6, g7, g8, g10 = 7 over 2 weeks.
    expect(f).to.deep.include({ kind: 'Release', namespace: 'prod', name: 'shop', deploys: 7, deploysPerWeek: 3.5 });
    // Caught: g3 only; 1 / (7 + 1).
    expect(f?.canaryCatches).to.equal(1);
    expect(f?.canaryCatchRate).to.equal(0.125);
    // g4 rolled back, g5 fixed forward by g6 (started 30 min after), g7 undone by g8 (1.3.1 again).
    expect(f?.changeFailures).to.equal(3);
    expect(f?.changeFailureRate).to.equal(3 / 7);
    expect(f?.failures).to.deep.equal([
      { revision: '4', version: '1.2.1', cause: 'rolled_back', promotedAt: '2026-11-20T10:40:00.000Z', recoveredAt: '2026-11-20T11:10:00.000Z' },
      { revision: '5', version: '1.3.0', cause: 'fix_forward', promotedAt: '2026-11-22T14:20:00.000Z', recoveredAt: '2026-11-22T15:50:00.000Z' },
      { revision: '7', version: '1.4.0', cause: 'redeployed_previous', promotedAt: '2026-11-25T09:10:00.000Z', recoveredAt: '2026-11-26T09:15:00.000Z' },
    ]);
    // Durations (s): 1800, 2400, 1200, 3600, 600, 900, 1800 → sorted 600 900 1200 1800 1800 2400 3600:
    // median the 4th = 1800; p90 rank ceil(6.3) = 7 → 3600.
    expect(f?.durationSeconds).to.deep.equal({ count: 7, median: 1800, p90: 3600 });
    // Lead times (s): g2 24h30m = 88200, g4 2h40m = 9600, g5 2h = 7200, g6 1h10m = 4200, g7 24h = 86400,
    // g8 (commit of 22 Nov 14:40 → 26 Nov 09:15) 90h35m = 326100; g10 has no commit time.
    // Sorted 4200 7200 9600 86400 88200 326100 → (9600 + 86400) / 2 = 48000.
    expect(f?.leadTimeSeconds).to.deep.equal({ count: 6, median: 48000 });
    // Lines: 120 300 80 10 500 500 60 → sorted 10 60 80 120 300 500 500 → 120.
    expect(f?.linesChanged).to.deep.equal({ count: 7, median: 120 });
    // Recovery (s): g4 10:40 → 11:10 = 1800; g5 14:20 → 15:50 = 5400; g7 25 Nov 09:10 → 26 Nov 09:15 = 86700.
    expect(f?.timeToRecoverSeconds).to.deep.equal({ count: 3, median: 5400 });
    expect(f?.unrecovered).to.equal(0);
  });

  it('computes the figures of a Deployment guarded by a Canary alone, leaving out Release-driven records', () => {
    const f = calculateFigures(deploysOfCanary(apiCanary()), { since: SINCE, now: NOW });
    // Promoted: r1 (20 Nov), r3, r1 again = 3; caught r2; r3 failed (r1, its stable before, came back).
    expect(f).to.deep.include({ kind: 'Canary', name: 'api', deploys: 3, deploysPerWeek: 1.5, canaryCatches: 1, canaryCatchRate: 0.25, changeFailures: 1, changeFailureRate: 1 / 3 });
    // Durations: 1200, 3900, 300 → median 1200, p90 rank 3 → 3900.
    expect(f?.durationSeconds).to.deep.equal({ count: 3, median: 1200, p90: 3900 });
    // r3 promoted 23 Nov 12:05, r1 back 24 Nov 12:05: 86400 s.
    expect(f?.timeToRecoverSeconds).to.deep.equal({ count: 1, median: 86400 });
    expect(f?.leadTimeSeconds).to.deep.equal({ count: 0 });
    expect(f?.linesChanged).to.deep.equal({ count: 0 });
  });

  it('limits the figures to the window but reads the whole history for failures', () => {
    // Window from 25 Nov: g7, g8, g10 promoted; g7 failed; 3 deploys in 6 days.
    const since = Date.parse('2026-11-25T00:00:00Z');
    const f = calculateFigures(deploysOfRelease(shopRelease()), { since, now: NOW });
    expect(f).to.deep.include({ deploys: 3, deploysPerWeek: 3 / (6 / 7), canaryCatches: 0, changeFailures: 1, changeFailureRate: 1 / 3 });
  });

  it('counts a failure recovered after now as unrecovered', () => {
    // now = 25 Nov 12:00: g7 failed (evidence comes later) but has not recovered yet.
    const now = Date.parse('2026-11-25T12:00:00Z');
    const f = calculateFigures(deploysOfRelease(shopRelease()), { since: SINCE, now });
    expect(f).to.deep.include({ deploys: 5, changeFailures: 3, unrecovered: 1 });
    expect(f?.timeToRecoverSeconds).to.deep.equal({ count: 2, median: (1800 + 5400) / 2 });
  });

  describe('change failures', () => {
    const at = (hhmm: string): string => `2026-11-20T${hhmm}:00Z`;
    const cases: Array<{ name: string; history: ReleaseRecord[]; window?: number; want: Array<string | undefined> }> = [
      {
        name: 'a new version started 59 min after a promotion is a fix forward',
        history: [
          rec(2, 'b', { startedAt: at('10:59'), promotedAt: at('11:10'), finishedAt: at('11:10'), outcome: 'Succeeded' }),
          rec(1, 'a', { startedAt: at('09:00'), promotedAt: at('10:00'), finishedAt: at('10:00'), outcome: 'Succeeded' }),
        ],
        want: [undefined, 'fix_forward'],
      },
      {
        name: 'a new version started exactly 1 h after is not',
        history: [
          rec(2, 'b', { startedAt: at('11:00'), promotedAt: at('11:10'), finishedAt: at('11:10'), outcome: 'Succeeded' }),
          rec(1, 'a', { startedAt: at('09:00'), promotedAt: at('10:00'), finishedAt: at('10:00'), outcome: 'Succeeded' }),
        ],
        want: [undefined, undefined],
      },
      {
        name: 'a window of 0 turns fix-forward detection off',
        window: 0,
        history: [
          rec(2, 'b', { startedAt: at('10:10'), promotedAt: at('11:10'), finishedAt: at('11:10'), outcome: 'Succeeded' }),
          rec(1, 'a', { startedAt: at('09:00'), promotedAt: at('10:00'), finishedAt: at('10:00'), outcome: 'Succeeded' }),
        ],
        want: [undefined, undefined],
      },
      {
        name: 'a caught deploy after a promotion fixes nothing forward',
        history: [
          rec(2, 'b', { startedAt: at('10:10'), finishedAt: at('10:30'), outcome: 'RolledBack' }),
          rec(1, 'a', { startedAt: at('09:00'), promotedAt: at('10:00'), finishedAt: at('10:00'), outcome: 'Succeeded' }),
        ],
        want: [undefined, undefined],
      },
      {
        name: 'halted after promotion is a change failure; before promotion a catch',
        history: [
          rec(2, 'b', { startedAt: at('12:00'), finishedAt: at('12:30'), outcome: 'Halted' }),
          rec(1, 'a', { startedAt: at('09:00'), promotedAt: at('10:00'), finishedAt: at('10:30'), outcome: 'Halted' }),
        ],
        want: [undefined, 'rolled_back'],
      },
      {
        name: 'V1 → V2 → V1 marks V2, even when a rolled-back V3 sits between',
        history: [
          rec(4, 'v1', { startedAt: at('15:00'), promotedAt: at('15:10'), finishedAt: at('15:10'), outcome: 'Succeeded' }),
          rec(3, 'v3', { startedAt: at('13:00'), promotedAt: at('13:10'), finishedAt: at('13:30'), outcome: 'RolledBack' }),
          rec(2, 'v2', { startedAt: at('11:00'), promotedAt: at('11:10'), finishedAt: at('11:10'), outcome: 'Succeeded' }),
          rec(1, 'v1', { startedAt: at('09:00'), promotedAt: at('09:10'), finishedAt: at('09:10'), outcome: 'Succeeded' }),
        ],
        want: [undefined, 'rolled_back', 'redeployed_previous', undefined],
      },
    ];
    for (const c of cases) {
      it(c.name, () => {
        const assessed = assessDeploys(deploysOfRelease(shopRelease(c.history)), c.window);
        // assessDeploys returns oldest first; the table lists newest first.
        expect(assessed.map((d) => d.changeFailure).reverse()).to.deep.equal(c.want);
      });
    }
  });

  it('skips records with unreadable times and computes nothing for an empty history', () => {
    const bad = rec(1, 'a', { startedAt: 'yesterday', finishedAt: '2026-11-20T10:00:00Z', outcome: 'Succeeded' });
    expect(deploysOfRelease(shopRelease([bad]))).to.deep.equal([]);
    expect(calculateFigures([], { since: SINCE, now: NOW })).to.equal(undefined);
  });

  it('lists applications and Deployments sorted, one entry each', () => {
    const all = calculateDelivery({ releases: [shopRelease()], canaries: [apiCanary(), apiCanary([])] }, { since: SINCE, now: NOW });
    expect(all.map((f) => `${f.kind}/${f.name}`)).to.deep.equal(['Canary/api', 'Release/shop']);
  });

  it('median and nearest-rank percentile', () => {
    expect(median([])).to.equal(undefined);
    expect(median([3, 1, 2])).to.equal(2);
    expect(median([4, 1, 3, 2])).to.equal(2.5);
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90)).to.equal(9);
    expect(percentile([5], 90)).to.equal(5);
  });
});
