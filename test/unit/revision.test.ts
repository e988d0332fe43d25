import { expect } from 'chai';
import { canaryReplicas } from '../../src/canary/replicas.js';
import { imageTag, revisionOf, versionOf } from '../../src/canary/revision.js';

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
