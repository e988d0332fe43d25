import { expect } from 'chai';
import { Expectations, isSatisfied, type CacheLookup, type Expectation } from '../../src/canary/expectations.js';

const T0 = Date.parse('2026-12-01T10:00:00.000Z');

/** A cache holding these objects (kind/name -> uid, resourceVersion). */
const cache =
  (objs: Record<string, { uid?: string; resourceVersion?: string }>): CacheLookup =>
  (kind, name) =>
    objs[`${kind}/${name}`];

describe('Expectations: a pass waits until the cache shows this controller\'s writes', () => {
  const cases: Array<{ name: string; e: Expectation; objs: Record<string, { uid?: string; resourceVersion?: string }>; satisfied: boolean }> = [
    { name: 'a status write not yet in the cache', e: { kind: 'Canary', name: 'web', expect: 'Changed', fromResourceVersion: '10' }, objs: { 'Canary/web': { resourceVersion: '10' } }, satisfied: false },
    { name: 'a status write in the cache', e: { kind: 'Canary', name: 'web', expect: 'Changed', fromResourceVersion: '10' }, objs: { 'Canary/web': { resourceVersion: '11' } }, satisfied: true },
    { name: 'a written Deployment not cached at all (read live)', e: { kind: 'Deployment', name: 'web', expect: 'Changed', fromResourceVersion: '7' }, objs: {}, satisfied: true },
    { name: 'a created ReplicaSet not yet in the cache', e: { kind: 'ReplicaSet', name: 'web-canary-a', expect: 'Present', uid: 'u1' }, objs: {}, satisfied: false },
    { name: 'a created ReplicaSet in the cache', e: { kind: 'ReplicaSet', name: 'web-canary-a', expect: 'Present', uid: 'u1' }, objs: { 'ReplicaSet/web-canary-a': { uid: 'u1' } }, satisfied: true },
    { name: 'a created ReplicaSet, an older one of that name still cached', e: { kind: 'ReplicaSet', name: 'web-canary-a', expect: 'Present', uid: 'u2' }, objs: { 'ReplicaSet/web-canary-a': { uid: 'u1' } }, satisfied: false },
    { name: 'a deleted ReplicaSet still cached', e: { kind: 'ReplicaSet', name: 'web-canary-a', expect: 'Absent', uid: 'u1' }, objs: { 'ReplicaSet/web-canary-a': { uid: 'u1' } }, satisfied: false },
    { name: 'a deleted ReplicaSet gone from the cache', e: { kind: 'ReplicaSet', name: 'web-canary-a', expect: 'Absent', uid: 'u1' }, objs: {}, satisfied: true },
    { name: 'a deleted ReplicaSet re-created under the same name', e: { kind: 'ReplicaSet', name: 'web-canary-a', expect: 'Absent', uid: 'u1' }, objs: { 'ReplicaSet/web-canary-a': { uid: 'u2' } }, satisfied: true },
  ];
  for (const tc of cases) {
    it(`${tc.name}: ${tc.satisfied ? 'satisfied' : 'waits'}`, () => {
      expect(isSatisfied(tc.e, cache(tc.objs))).to.equal(tc.satisfied);
    });
  }

  it('waits while the cache lags, then lets the pass go ahead once it shows the write', () => {
    const x = new Expectations(30_000);
    x.expect('shop/web', { kind: 'Canary', name: 'web', expect: 'Changed', fromResourceVersion: '10' }, T0);
    expect(x.pending('shop/web', cache({ 'Canary/web': { resourceVersion: '10' } }), T0 + 500).waiting).to.have.length(1);
    expect(x.pending('shop/web', cache({ 'Canary/web': { resourceVersion: '12' } }), T0 + 900)).to.deep.equal({ waiting: [], expired: [] });
    expect(x.pending('shop/web', cache({ 'Canary/web': { resourceVersion: '10' } }), T0 + 1000).waiting, 'satisfied expectations are dropped').to.have.length(0);
  });

  it('expires after its time limit: the pass goes ahead and the expired expectation is reported once', () => {
    const x = new Expectations(30_000);
    x.expect('shop/web', { kind: 'ReplicaSet', name: 'web-canary-a', expect: 'Present', uid: 'u1' }, T0);
    expect(x.nextExpiry('shop/web')).to.equal(T0 + 30_000);
    expect(x.pending('shop/web', cache({}), T0 + 29_999).waiting).to.have.length(1);
    const late = x.pending('shop/web', cache({}), T0 + 30_000);
    expect(late.waiting).to.have.length(0);
    expect(late.expired).to.have.length(1);
    expect(x.pending('shop/web', cache({}), T0 + 30_001)).to.deep.equal({ waiting: [], expired: [] });
  });

  it('a newer write to the same object replaces the older expectation; keys are independent', () => {
    const x = new Expectations(30_000);
    x.expect('shop/web', { kind: 'Canary', name: 'web', expect: 'Changed', fromResourceVersion: '10' }, T0);
    x.expect('shop/web', { kind: 'Canary', name: 'web', expect: 'Changed', fromResourceVersion: '11' }, T0 + 10);
    expect(x.pending('shop/web', cache({ 'Canary/web': { resourceVersion: '11' } }), T0 + 20).waiting).to.have.length(1);
    expect(x.pending('shop/api', cache({}), T0 + 20)).to.deep.equal({ waiting: [], expired: [] });
    x.forget('shop/web');
    expect(x.pending('shop/web', cache({ 'Canary/web': { resourceVersion: '11' } }), T0 + 30).waiting).to.have.length(0);
  });
});
