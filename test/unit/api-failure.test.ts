import { expect } from 'chai';
import type { CanaryStatus } from '../../src/api/types.js';
import { ActionError, isRefusal, nextFailure, STALLED_AFTER_MS, withStalledCondition, type ActionFailure } from '../../src/canary/api-failure.js';
import { KubeApiError } from '../../src/kube/errors.js';

const NOW = '2026-12-01T10:00:00.000Z';
const EARLIER = '2026-12-01T09:00:00.000Z';
const stalled = (message: string, at = EARLIER) => ({ type: 'Stalled', status: 'True' as const, reason: 'ActionFailed', message, lastTransitionTime: at, observedGeneration: 1 });
const ready = { type: 'Ready', status: 'False' as const, reason: 'NewRevision', message: 'verifying', lastTransitionTime: EARLIER };

describe('Stalled: which action failures reach the status', () => {
  const T_NOW = Date.parse(NOW);
  const refused: ActionFailure = { message: 'EnsureCanaryReplicaSet on canary ReplicaSet web-canary-1 failed (HTTP 422): denied', count: 1, refused: true, since: T_NOW };
  const transient = (count: number, since: string): ActionFailure => ({ message: 'x (HTTP 503)', count, refused: false, since: Date.parse(since) });
  const cases: Array<{ name: string; status: CanaryStatus; failure: ActionFailure | null | undefined; stalled: ReturnType<typeof stalled> | undefined }> = [
    { name: 'a refusal (422, 403, 400) at once', status: { conditions: [ready] }, failure: refused, stalled: stalled(refused.message, NOW) },
    { name: 'a 5xx or timeout not yet', status: { conditions: [ready] }, failure: transient(2, '2026-12-01T09:59:59.000Z'), stalled: undefined },
    { name: 'three failed passes within 700 ms (a blip, retried at 100/200/400 ms) not yet', status: { conditions: [ready] }, failure: transient(3, '2026-12-01T09:59:59.300Z'), stalled: undefined },
    { name: 'ten failed passes within 29.999 s not yet', status: { conditions: [ready] }, failure: transient(10, '2026-12-01T09:59:30.001Z'), stalled: undefined },
    { name: 'a 5xx or timeout failing for 30 s', status: { conditions: [ready] }, failure: transient(8, '2026-12-01T09:59:30.000Z'), stalled: stalled('x (HTTP 503)', NOW) },
    { name: 'the same failure again keeps its transition time', status: { conditions: [ready, stalled(refused.message)] }, failure: { ...refused, count: 5 }, stalled: stalled(refused.message) },
    { name: 'a pass whose actions succeeded removes it', status: { conditions: [ready, stalled(refused.message)] }, failure: null, stalled: undefined },
    { name: 'before this process acted (a restart) it stays as written', status: { conditions: [ready, stalled(refused.message)] }, failure: undefined, stalled: stalled(refused.message) },
  ];
  for (const tc of cases) {
    it(tc.name, () => {
      const out = withStalledCondition(tc.status, tc.failure, NOW, 1);
      expect(out.conditions?.find((c) => c.type === 'Stalled')).to.deep.equal(tc.stalled);
      expect(out.conditions?.find((c) => c.type === 'Ready')).to.deep.equal(ready);
    });
  }

  it('a streak keeps the time of its first failure; a success starts a new streak', () => {
    const t0 = Date.parse('2026-12-01T10:00:00.000Z');
    const first = nextFailure(null, 'x (HTTP 503)', false, t0);
    expect(first).to.deep.equal({ message: 'x (HTTP 503)', count: 1, refused: false, since: t0 });
    const third = nextFailure(nextFailure(first, 'y (HTTP 500)', false, t0 + 100), 'y (HTTP 500)', false, t0 + 300);
    expect(third).to.deep.equal({ message: 'y (HTTP 500)', count: 3, refused: false, since: t0 });
    expect(nextFailure(undefined, 'z', true, t0 + 5_000)).to.deep.equal({ message: 'z', count: 1, refused: true, since: t0 + 5_000 });
    expect(STALLED_AFTER_MS).to.equal(30_000);
  });

  const errors = [
    { name: '422 Invalid (an admission policy, an invalid label)', err: new KubeApiError('denied', 422, 'Invalid'), refusal: true },
    { name: '403 Forbidden', err: new KubeApiError('forbidden', 403, 'Forbidden'), refusal: true },
    { name: '400 BadRequest', err: new KubeApiError('bad', 400, 'BadRequest'), refusal: true },
    { name: '409 Conflict (routine)', err: new KubeApiError('modified', 409, 'Conflict'), refusal: false },
    { name: '503', err: new KubeApiError('unavailable', 503, 'ServiceUnavailable'), refusal: false },
    { name: 'unreachable', err: new KubeApiError('no answer', 0, 'Unreachable'), refusal: false },
  ];
  for (const tc of errors) {
    it(`${tc.name}: ${tc.refusal ? 'a refusal' : 'not a refusal'}, also inside an ActionError`, () => {
      expect(isRefusal(tc.err)).to.equal(tc.refusal);
      expect(isRefusal(new ActionError('HoldDeployment', 'Deployment web', tc.err))).to.equal(tc.refusal);
    });
  }
});
