import { expect } from 'chai';
import { ANNOTATIONS, FINALIZER, LABELS } from '../../src/api/constants.js';
import type { Canary } from '../../src/api/types.js';
import { decide } from '../../src/canary/decide.js';
import { observe, SecretCache, type ObserveContext } from '../../src/canary/observe.js';
import { revisionOf } from '../../src/canary/revision.js';
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
