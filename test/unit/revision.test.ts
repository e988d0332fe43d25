import { expect } from 'chai';
import { canaryReplicas } from '../../src/canary/replicas.js';
import { canaryVersionFor, imageTag, labelValue, revisionOf, versionOf } from '../../src/canary/revision.js';

describe('revisions and versions', () => {
  const t = { metadata: { labels: { app: 'web' }, creationTimestamp: null }, spec: { containers: [{ name: 'web', image: 'r.io/web:1.2.3' }] } };

  it('hashes the canonical template: key order, nulls and pod-template-hash do not matter', () => {
    const reordered = { spec: { containers: [{ image: 'r.io/web:1.2.3', name: 'web' }] }, metadata: { labels: { 'pod-template-hash': 'x', app: 'web' } } };
    expect(revisionOf(reordered)).to.equal(revisionOf(t));
    expect(revisionOf(t)).to.match(/^[0-9a-f]{10}$/);
  });

  it('changes with the template', () => {
    expect(revisionOf({ ...t, spec: { containers: [{ name: 'web', image: 'r.io/web:1.2.4' }] } })).to.not.equal(revisionOf(t));
  });

  const versions: Array<[string, string]> = [
    ['r.io/web:1.2.3', '1.2.3'],
    ['localhost:5000/web:2.0', '2.0'],
    ['localhost:5000/web', 'latest'],
    ['web', 'latest'],
    ['web@sha256:0123456789abcdef0123', '0123456789ab'],
  ];
  for (const [image, tag] of versions) it(`the version of ${image} is ${tag}`, () => expect(imageTag(image)).to.equal(tag));

  it('prefers the tags.datadoghq.com/version label', () => {
    expect(versionOf({ metadata: { labels: { 'tags.datadoghq.com/version': 'v9' } }, spec: { containers: [{ image: 'web:1' }] } })).to.equal('v9');
  });
});

describe('canaryReplicas(): max(1, ceil(stable × w / (100 − w)))', () => {
  const cases: Array<[number, number, number]> = [
    [9, 10, 1],
    [10, 10, 2],
    [3, 50, 3],
    [1, 1, 1],
    [0, 10, 1],
    [20, 25, 7],
    [3, 99, 297],
    [5, 0, 0],
  ];
  for (const [stable, w, want] of cases) it(`${stable} stable at ${w}% → ${want}`, () => expect(canaryReplicas(stable, w)).to.equal(want));
});

describe('label values and the canary version', () => {
  it('keeps a valid label value as it is', () => {
    expect(labelValue('1.4.2')).to.equal('1.4.2');
    expect(labelValue('a'.repeat(63))).to.equal('a'.repeat(63));
  });

  it('makes any image tag a valid label value, distinct per input', () => {
    const long = `feature-${'x'.repeat(80)}-0123456789abcdef0123456789abcdef01234567`;
    for (const tag of [long, '_underscore', 'trailing.', 'trailing-', '', 'ünïcode']) {
      const v = labelValue(tag);
      expect(v, tag).to.match(/^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/);
      expect(v.length, tag).to.be.at.most(63);
    }
    expect(labelValue(`${long}a`)).to.not.equal(labelValue(`${long}b`));
  });

  it('gives the canary a version of its own when it equals the stable version', () => {
    expect(canaryVersionFor('1.1.0', '1.0.0', 'abcdef0123')).to.equal('1.1.0');
    expect(canaryVersionFor('1.0.0', '1.0.0', 'abcdef0123')).to.equal('1.0.0-abcdef0123');
    expect(canaryVersionFor('latest', 'latest', 'abcdef0123')).to.equal('latest-abcdef0123');
    const v = canaryVersionFor('y'.repeat(70), 'y'.repeat(70), 'abcdef0123');
    expect(v.length).to.be.at.most(63);
    expect(v.endsWith('-abcdef0123')).to.equal(true);
  });
});
