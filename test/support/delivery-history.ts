// A scripted delivery history (a Release and a Canary), shared by the delivery metrics tests and
// the integration scenario. Every figure expected from it is worked out by hand in the tests.
import type { Canary, CanaryRecord } from '../../src/api/types.js';
import type { Release, ReleaseRecord } from '../../src/api/release-types.js';

// A scripted history of one application; every expected figure below is worked out by hand.
export const NOW = Date.parse('2026-12-01T00:00:00Z');
export const SINCE = NOW - 14 * 24 * 3600_000; // 2026-11-17T00:00Z: two weeks

export const rec = (generation: number, version: string, r: Omit<ReleaseRecord, 'generation' | 'version'>): ReleaseRecord => ({ generation, version, ...r });
const src = (committedAt: string | undefined, linesChanged: number, revision = `sha${linesChanged}`): ReleaseRecord['source'] => ({
  repository: 'https://github.com/acme/shop',
  revision,
  ...(committedAt ? { committedAt } : {}),
  linesChanged,
});

/** Newest first, as the Release keeps it. */
export const SHOP_HISTORY: ReleaseRecord[] = [
  // g11: invalid configuration, nothing changed: neither a deploy nor a catch.
  rec(11, '1.6.0', { startedAt: '2026-11-29T08:00:00Z', finishedAt: '2026-11-29T08:00:05Z', outcome: 'Failed' }),
  // g10: promoted after 30 min; no commit time, so no lead time.
  rec(10, '1.5.1', { startedAt: '2026-11-28T10:05:00Z', promotedAt: '2026-11-28T10:35:00Z', finishedAt: '2026-11-28T10:45:00Z', outcome: 'Succeeded', source: src(undefined, 60) }),
  // g9: replaced by g10 before promotion: abandoned.
  rec(9, '1.5.0', { startedAt: '2026-11-28T10:00:00Z', finishedAt: '2026-11-28T10:05:00Z', outcome: 'Superseded', source: src('2026-11-28T09:00:00Z', 50) }),
  // g8: puts 1.3.1 back (what ran before g7): g7 is a change failure, recovered at g8's promotion.
  rec(8, '1.3.1', { startedAt: '2026-11-26T09:00:00Z', promotedAt: '2026-11-26T09:15:00Z', finishedAt: '2026-11-26T09:30:00Z', outcome: 'Succeeded', source: src('2026-11-22T14:40:00Z', 500, 'shaB') }),
  // g7: promoted after 10 min.
  rec(7, '1.4.0', { startedAt: '2026-11-25T09:00:00Z', promotedAt: '2026-11-25T09:10:00Z', finishedAt: '2026-11-25T09:20:00Z', outcome: 'Succeeded', source: src('2026-11-24T09:10:00Z', 500) }),
  // g6: starts 30 min after g5's promotion: g5 was fixed forward, recovered at g6's promotion.
  rec(6, '1.3.1', { startedAt: '2026-11-22T14:50:00Z', promotedAt: '2026-11-22T15:50:00Z', finishedAt: '2026-11-22T16:00:00Z', outcome: 'Succeeded', source: src('2026-11-22T14:40:00Z', 10, 'shaB') }),
  rec(5, '1.3.0', { startedAt: '2026-11-22T14:00:00Z', promotedAt: '2026-11-22T14:20:00Z', finishedAt: '2026-11-22T14:50:00Z', outcome: 'Succeeded', source: src('2026-11-22T12:20:00Z', 80) }),
  // g4: promoted, then its post-release check failed: rolled back, done at 11:10.
  rec(4, '1.2.1', { startedAt: '2026-11-20T10:00:00Z', promotedAt: '2026-11-20T10:40:00Z', finishedAt: '2026-11-20T11:10:00Z', outcome: 'RolledBack', source: src('2026-11-20T08:00:00Z', 300) }),
  // g3: caught by its canary before reaching every target.
  rec(3, '1.2.0', { startedAt: '2026-11-19T10:00:00Z', finishedAt: '2026-11-19T10:15:00Z', outcome: 'RolledBack', failedTarget: 'web', source: src('2026-11-19T09:00:00Z', 40) }),
  rec(2, '1.1.0', { startedAt: '2026-11-18T09:00:00Z', promotedAt: '2026-11-18T09:30:00Z', finishedAt: '2026-11-18T09:40:00Z', outcome: 'Succeeded', source: src('2026-11-17T09:00:00Z', 120) }),
  // g1: before the window; only the baseline.
  rec(1, '1.0.0', { startedAt: '2026-11-10T10:00:00Z', promotedAt: '2026-11-10T10:20:00Z', finishedAt: '2026-11-10T10:30:00Z', outcome: 'Succeeded', source: src('2026-11-09T10:00:00Z', 999) }),
];

export const shopRelease = (history: ReleaseRecord[] = SHOP_HISTORY): Release => ({
  apiVersion: 'deployer.dev/v1alpha1',
  kind: 'Release',
  metadata: { name: 'shop', namespace: 'prod', uid: 'uid-shop' },
  spec: { version: '1.6.0', targets: [{ deployment: 'web' }] },
  status: { history },
});

export const crec = (revision: string, r: Omit<CanaryRecord, 'revision'>): CanaryRecord => ({ revision, ...r });
/** A Deployment guarded by a Canary alone, newest first. */
export const API_HISTORY: CanaryRecord[] = [
  // Driven by a Release: the Release counts it, not the Deployment.
  crec('rel1', { release: 'shop', startedAt: '2026-11-30T10:00:00Z', promotedAt: '2026-11-30T10:30:00Z', finishedAt: '2026-11-30T10:30:00Z', outcome: 'Promoted' }),
  // r4 puts r1 back (r3's stable before): r3 failed, recovered at r4's promotion (1 day later).
  crec('r1', { version: '1', stableRevisionBefore: 'r3', startedAt: '2026-11-24T12:00:00Z', promotedAt: '2026-11-24T12:05:00Z', finishedAt: '2026-11-24T12:05:00Z', outcome: 'Promoted' }),
  crec('r3', { version: '3', stableRevisionBefore: 'r1', startedAt: '2026-11-23T11:00:00Z', promotedAt: '2026-11-23T12:05:00Z', finishedAt: '2026-11-23T12:05:00Z', outcome: 'Promoted' }),
  crec('r2', { version: '2', stableRevisionBefore: 'r1', startedAt: '2026-11-21T10:00:00Z', finishedAt: '2026-11-21T10:12:00Z', outcome: 'RolledBack', reason: 'CheckFailed' }),
  crec('r1', { version: '1', stableRevisionBefore: 'r0', startedAt: '2026-11-20T10:00:00Z', promotedAt: '2026-11-20T10:20:00Z', finishedAt: '2026-11-20T10:20:00Z', outcome: 'Promoted' }),
];

export const apiCanary = (history: CanaryRecord[] = API_HISTORY): Canary =>
  ({
    apiVersion: 'deployer.dev/v1alpha1',
    kind: 'Canary',
    metadata: { name: 'api', namespace: 'prod', uid: 'uid-api' },
    spec: { targetRef: { name: 'api' } },
    status: { history },
  }) as unknown as Canary;

