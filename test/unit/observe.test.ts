import { expect } from 'chai';
import { ANNOTATIONS, FINALIZER, LABELS } from '../../src/api/constants.js';
import type { Canary } from '../../src/api/types.js';
import { decide } from '../../src/canary/decide.js';
import { observe, SecretCache, type ObserveContext } from '../../src/canary/observe.js';
import { revisionOf } from '../../src/canary/revision.js';
import { StableRevisionCache } from '../../src/canary/stable-revisions.js';
import { KubeApiError } from '../../src/kube/errors.js';
import { paths, type KubeObject, type RawClient } from '../../src/kube/raw-client.js';
import type { ObjectStore } from '../../src/runtime/informer.js';

const NOW = Date.parse('2026-12-01T10:00:00.000Z');
const template = (image: string) => ({ metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'app', image }] } });
const STABLE = revisionOf(template('example.com/web:1.0.0'));

const store = (objs: KubeObject[]): ObjectStore => ({
  get: (n, ns) => objs.find((o) => o.metadata.name === n && o.metadata.namespace === ns),
  list: (ns) => objs.filter((o) => !ns || o.metadata.namespace === ns),
});

const canary: Canary = {
  apiVersion: 'deployer.dev/v1alpha1',
  kind: 'Canary',
  metadata: { name: 'web', namespace: 'shop', uid: 'cu', generation: 1, resourceVersion: '3', finalizers: [FINALIZER] },
  spec: { targetRef: { name: 'web' }, steps: [{ setWeight: 10 }], analysis: { checks: [{ name: 'errors', datadogMonitor: { id: 1 } }] }, datadog: { secretRef: { name: 'datadog' } } },
  status: { phase: 'Waiting', stableRevision: STABLE, stableVersion: '1.0.0' },
};

const deployment: KubeObject = {
  metadata: { name: 'web', namespace: 'shop', uid: 'du', generation: 1, resourceVersion: '9', labels: { [LABELS.canary]: 'web' }, annotations: { [ANNOTATIONS.stableRevision]: STABLE } },
  spec: { replicas: 3, selector: { matchLabels: { app: 'web' } }, template: template('example.com/web:1.0.0') },
  status: { observedGeneration: 1, replicas: 3, updatedReplicas: 3, availableReplicas: 3 },
};

/** An API client that answers Secret reads with `secretError` and refuses anything else the test does not expect. */
function client(secretError: KubeApiError): RawClient {
  return {
    get: async (path: string) => {
      if (path === paths.secret('shop', 'datadog')) throw secretError;
      throw new Error(`unexpected GET ${path}`);
    },
    list: async (path: string) => {
      throw new Error(`unexpected LIST ${path}`);
    },
  } as unknown as RawClient;
}

function ctx(c: RawClient): ObserveContext {
  return { client: c, canaries: store([canary as unknown as KubeObject]), deployments: store([deployment]), replicaSets: store([]), secrets: new SecretCache(c), measurements: { peek: () => undefined, request: () => undefined } };
}

describe('observe(): a Secret that cannot be read', () => {
  const cases = [
    { name: '403 Forbidden', err: new KubeApiError('secrets "datadog" is forbidden: User "system:serviceaccount:deployer-system:deployer" cannot get resource "secrets"', 403, 'Forbidden'), shows: /HTTP 403/ },
    { name: '503 from the apiserver', err: new KubeApiError('the server is currently unable to handle the request', 503, 'ServiceUnavailable'), shows: /HTTP 503/ },
    { name: 'a timeout', err: new KubeApiError('GET /api/v1/namespaces/shop/secrets/datadog: cannot reach the Kubernetes API at https://10.0.0.1: UND_ERR_CONNECT_TIMEOUT', 0, 'Unreachable'), shows: /no answer/ },
  ];
  for (const tc of cases) {
    it(`${tc.name}: becomes SecretUnreadable, and the status says so`, async () => {
      const snap = await observe(canary, ctx(client(tc.err)), NOW);
      expect(snap.observed.credentials).to.deep.include({ ok: false, reason: 'SecretUnreadable' });
      const decision = decide(canary, snap.observed, NOW);
      const ready = decision.status.conditions?.find((c) => c.type === 'Ready');
      expect(ready?.reason).to.equal('SecretUnreadable');
      expect(decision.status.message).to.match(/Secret shop\/datadog could not be read/);
      expect(decision.status.message).to.match(tc.shows);
    });
  }

  it('404 stays SecretNotFound', async () => {
    const snap = await observe(canary, ctx(client(new KubeApiError('not found', 404, 'NotFound'))), NOW);
    expect(snap.observed.credentials).to.deep.include({ ok: false, reason: 'SecretNotFound' });
  });

  it('the stable revision of a Deployment running it costs no API call', async () => {
    const snap = await observe(canary, ctx(client(new KubeApiError('not found', 404, 'NotFound'))), NOW);
    expect(snap.observed.deployment).to.deep.include({ stableVersion: '1.0.0', stableTemplateKnown: true });
  });
});

describe('observe(): the CRD rules, run by the CEL engine, make a stored Canary InvalidSpec', () => {
  // A Canary stored under an older or laxer CRD than the operator ships: the controller enforces the shipped rules.
  it('a rule on a step: the apiserver\'s path and words', async () => {
    const bad: Canary = { ...canary, spec: { ...canary.spec, steps: [{ setWeight: 10, pause: { duration: '169h' } } as never] } };
    const snap = await observe(bad, ctx(client(new KubeApiError('not found', 404, 'NotFound'))), NOW);
    expect(snap.observed.specProblems).to.deep.equal([
      'spec.steps[0]: Invalid value: a step must have exactly one of setWeight or pause',
      'spec.steps[0].pause: Invalid value: pause.duration must be at most 168h (7 days); for longer, use a pause without a duration and promote by hand',
    ]);
    const decision = decide(bad, snap.observed, NOW);
    expect(decision.status.conditions?.find((c) => c.type === 'Ready')?.reason).to.equal('InvalidSpec');
    expect(decision.status.message).to.contain('spec.steps[0]: Invalid value: a step must have exactly one of setWeight or pause');
  });

  it('a rule on the whole object has no path in the message', async () => {
    const long: Canary = { ...canary, metadata: { ...canary.metadata, name: 'w'.repeat(64) } };
    const snap = await observe(long, ctx(client(new KubeApiError('not found', 404, 'NotFound'))), NOW);
    expect(snap.observed.specProblems).to.deep.equal([
      "Invalid value: metadata.name must be at most 63 characters: the Canary's name becomes a label value on its Deployment and canary pods",
    ]);
  });
});

describe('observe(): the stable revision while a promotion is superseded', () => {
  const v1 = template('example.com/web:1.0.0');
  const v2 = template('example.com/web:1.1.0');
  // A configuration-only change of the promoted revision: same image, same version.
  const v2config = { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'app', image: 'example.com/web:1.1.0', env: [{ name: 'MODE', value: 'fast' }] }] } };
  const R1 = revisionOf(v1);
  const R2 = revisionOf(v2);
  const R3 = revisionOf(v2config);
  const owned = (name: string, t: object): KubeObject => ({ metadata: { name, namespace: 'shop', ownerReferences: [{ uid: 'du' }] }, spec: { template: structuredClone(t) } }) as unknown as KubeObject;
  const promoting: Canary = {
    ...canary,
    status: {
      phase: 'Promoting',
      stableRevision: R1,
      stableVersion: '1.0.0',
      canaryRevision: R2,
      canaryVersion: '1.1.0',
      currentStep: 1,
      promotionStartedAt: '2026-12-01T09:59:50.000Z',
      conditions: [{ type: 'Progressing', status: 'True', reason: 'Promoting', message: '', lastTransitionTime: '2026-12-01T09:59:50.000Z' }],
    },
  };
  // The promotion of R2 landed; the webhook held R3 before its rolling update began.
  const promoted: KubeObject = {
    ...deployment,
    metadata: { ...deployment.metadata, generation: 3, annotations: { [ANNOTATIONS.stableRevision]: R2, [ANNOTATIONS.heldReason]: R3 } },
    spec: { ...(deployment.spec as object), paused: true, template: v2config },
    status: { observedGeneration: 3, replicas: 3, updatedReplicas: 0, availableReplicas: 3 },
  } as KubeObject;
  const listing = (items: KubeObject[]): RawClient =>
    ({
      get: async (path: string) => {
        if (path === paths.secret('shop', 'datadog')) return { data: { 'api-key': Buffer.from('k').toString('base64'), 'app-key': Buffer.from('a').toString('base64') } };
        throw new Error(`unexpected GET ${path}`);
      },
      list: async () => ({ items }),
    }) as unknown as RawClient;

  it('a revision arriving while the promoted one rolls out gets the promoted version as stable, and its own canary version', async () => {
    const c = listing([owned('web-r1', v1), owned('web-r2', v2)]);
    const snap = await observe(promoting, { ...ctx(c), canaries: store([promoting as unknown as KubeObject]), deployments: store([promoted]) }, NOW);
    expect(snap.observed.deployment).to.deep.include({ revision: R3, stableVersion: '1.1.0', stableTemplateKnown: true });
    const d = decide(promoting, snap.observed, NOW);
    expect(d.status).to.deep.include({ stableRevision: R2, stableVersion: '1.1.0', canaryRevision: R3, canaryVersion: `1.1.0-${R3}` });
    expect(d.events.map((e) => e.reason)).to.include('Superseded');
  });
});

describe('observe(): the stable revision is looked up once, not on every pass', () => {
  const v1 = template('example.com/web:1.0.0');
  const v2 = template('example.com/web:1.1.0');
  const R2 = revisionOf(v2);
  const owned = (name: string, t: object): KubeObject => ({ metadata: { name, namespace: 'shop', ownerReferences: [{ uid: 'du' }] }, spec: { template: structuredClone(t) } }) as unknown as KubeObject;
  const testing: Canary = {
    ...canary,
    status: {
      phase: 'Progressing',
      stableRevision: STABLE,
      stableVersion: '1.0.0',
      canaryRevision: R2,
      canaryVersion: '1.1.0',
      currentStep: 0,
      conditions: [{ type: 'Progressing', status: 'True', reason: 'Analysing', message: '', lastTransitionTime: '2026-12-01T09:59:00.000Z' }],
    },
  };
  const held: KubeObject = {
    ...deployment,
    metadata: { ...deployment.metadata, generation: 2, annotations: { [ANNOTATIONS.stableRevision]: STABLE, [ANNOTATIONS.heldReason]: R2 } },
    spec: { ...(deployment.spec as object), paused: true, template: v2 },
    status: { observedGeneration: 2, replicas: 3, updatedReplicas: 0, availableReplicas: 3 },
  } as KubeObject;
  /** A client whose ReplicaSet LISTs are counted and answered with `items()`. */
  const counting = (items: () => KubeObject[]) => {
    const calls = { lists: 0 };
    const c = {
      get: async (path: string) => {
        if (path === paths.secret('shop', 'datadog')) throw new KubeApiError('not found', 404, 'NotFound');
        throw new Error(`unexpected GET ${path}`);
      },
      list: async () => {
        calls.lists++;
        return { items: items() };
      },
    } as unknown as RawClient;
    return { c, calls };
  };
  const passes = async (c: RawClient, cache: StableRevisionCache, seconds: number[]) => {
    const out = [];
    for (const s of seconds) {
      const snap = await observe(testing, { ...ctx(c), canaries: store([testing as unknown as KubeObject]), deployments: store([held]), stableRevisions: cache }, NOW + s * 1000);
      out.push(snap.observed.deployment);
    }
    return out;
  };

  it('a found revision costs one LIST for the whole canary', async () => {
    const { c, calls } = counting(() => [owned('web-r1', v1)]);
    const seen = await passes(c, new StableRevisionCache(), [0, 5, 10, 60, 600]);
    expect(calls.lists).to.equal(1);
    for (const d of seen) expect(d).to.deep.include({ stableVersion: '1.0.0', stableTemplateKnown: true });
  });

  it('a revision not found is looked up again at most every 30 s, and found once it is there', async () => {
    let items: KubeObject[] = [];
    const { c, calls } = counting(() => items);
    const cache = new StableRevisionCache();
    const early = await passes(c, cache, [0, 5, 29]);
    expect(calls.lists).to.equal(1);
    for (const d of early) expect(d?.stableTemplateKnown).to.equal(false);
    items = [owned('web-r1', v1)];
    const later = await passes(c, cache, [31, 40]);
    expect(calls.lists).to.equal(2);
    for (const d of later) expect(d).to.deep.include({ stableVersion: '1.0.0', stableTemplateKnown: true });
  });

  it('keeps a bounded number of answers, the least recently used going first', async () => {
    const cache = new StableRevisionCache(2);
    let loads = 0;
    const load = async () => {
      loads++;
      return { version: '1.0.0', template: v1 };
    };
    await cache.lookup('a', STABLE, NOW, load);
    await cache.lookup('b', STABLE, NOW, load);
    await cache.lookup('a', STABLE, NOW, load);
    await cache.lookup('c', STABLE, NOW, load);
    expect(cache.size).to.equal(2);
    expect(loads).to.equal(3);
    await cache.lookup('a', STABLE, NOW, load);
    expect(loads, 'a was used more recently than b').to.equal(3);
    await cache.lookup('b', STABLE, NOW, load);
    expect(loads).to.equal(4);
  });
});

describe('SecretCache', () => {
  const reads: string[] = [];
  const c = {
    get: async (path: string) => {
      reads.push(path);
      return { data: { 'api-key': 'a2V5' } };
    },
  } as unknown as RawClient;

  it('keeps a Secret for its time to live, then drops those no Canary reads any more', async () => {
    const cache = new SecretCache(c, 5_000);
    await cache.get('shop', 'old', 0);
    await cache.get('shop', 'old', 1_000);
    expect(reads, 'read once within its time to live').to.have.length(1);
    await cache.get('shop', 'current', 10_000);
    expect(cache.size, 'the expired Secret (and its keys) is gone').to.equal(1);
    await cache.get('shop', 'current', 12_000);
    expect(reads).to.have.length(2);
  });

  it('invalidate: the next read asks the apiserver again (keys rotated after Datadog refused them)', async () => {
    const cache = new SecretCache(c, 5_000);
    const before = reads.length;
    await cache.get('shop', 'rotated', 0);
    cache.invalidate('shop', 'rotated');
    await cache.get('shop', 'rotated', 1_000);
    expect(reads.length - before).to.equal(2);
  });
});
