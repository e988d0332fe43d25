import { expect } from 'chai';
import { ANNOTATIONS, LABELS } from '../../src/api/constants.js';
import { heldReason } from '../../src/api/held-reason.js';
import { revisionOf } from '../../src/canary/revision.js';
import { jsonPointerToken } from '../../src/kube/json-pointer.js';
import { decideAdmission } from '../../src/webhook/admission.js';
import type { Canary } from '../../src/api/types.js';
import type { MeasurementRequest, MeasurementSource, ResolvedCheck } from '../../src/analysis/provider.js';
import { boundedMessage } from '../../src/canary/api-failure.js';
import type { Decision } from '../../src/canary/decide.js';
import { baselineReplicaSet, canaryReplicaSet, execute } from '../../src/canary/execute.js';
import type { DeploymentObject, Snapshot } from '../../src/canary/observe.js';
import type { RawClient } from '../../src/kube/raw-client.js';

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const validLabel = (v: string | undefined): boolean => v !== undefined && v.length <= 63 && LABEL_VALUE.test(v);

function canary(name = 'web'): Canary {
  return { apiVersion: 'deployer.dev/v1alpha1', kind: 'Canary', metadata: { name, namespace: 'shop', uid: 'cu' }, spec: { targetRef: { name: 'web' }, steps: [{ setWeight: 10 }] } };
}

function deployment(image: string, env?: Array<Record<string, unknown>>, labels: Record<string, string> = {}): DeploymentObject {
  return {
    metadata: { name: 'web', namespace: 'shop', uid: 'du', resourceVersion: '5' },
    spec: {
      selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web', ...labels } }, spec: { containers: [{ name: 'app', image, ...(env ? { env } : {}) }] } },
    },
  };
}

type RS = { metadata: { labels: Record<string, string>; annotations: Record<string, string> }; spec: { template: { metadata: { labels: Record<string, string>; annotations: Record<string, string> }; spec: { containers: Array<{ env?: Array<{ name: string; value?: string; valueFrom?: unknown }> }> } } } };

describe('canaryReplicaSet(): labels are always valid label values', () => {
  const long = 'feature-payments-refactor-20260115-7c3d9e1f2a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d-build-00012345678901-rc1';
  const cases = [
    { name: 'a 100-character image tag', tag: long },
    { name: 'a 64-character image tag', tag: 'a'.repeat(64) },
    { name: 'a tag starting with _', tag: '_build' },
    { name: 'a tag ending with -', tag: '1.2.3-' },
    { name: 'a tag ending with .', tag: '1.2.3.' },
  ];
  for (const tc of cases) {
    it(`${tc.name}: valid version label, full version in an annotation`, () => {
      const rs = canaryReplicaSet(canary(), deployment(`example.com/web:${tc.tag}`), 'abcdef0123', tc.tag, 1) as unknown as RS;
      const podLabels = rs.spec.template.metadata.labels;
      expect(validLabel(podLabels[LABELS.ddVersion]), podLabels[LABELS.ddVersion]).to.equal(true);
      expect(rs.metadata.annotations[ANNOTATIONS.version]).to.equal(tc.tag);
      expect(rs.spec.template.metadata.annotations[ANNOTATIONS.version]).to.equal(tc.tag);
      for (const v of [...Object.values(rs.metadata.labels), ...Object.values(podLabels)]) expect(validLabel(v), v).to.equal(true);
    });
  }

  it('a Canary name longer than 63 characters', () => {
    const name = `checkout-${'x'.repeat(70)}`;
    const rs = canaryReplicaSet(canary(name), deployment('example.com/web:1.0.0'), 'abcdef0123', '1.0.0', 1) as unknown as RS;
    for (const v of [...Object.values(rs.metadata.labels), ...Object.values(rs.spec.template.metadata.labels)]) expect(validLabel(v), v).to.equal(true);
  });

  it('a canary with a version of its own (<version>-<revision>) reports it in the label and a literal DD_VERSION; a DD_VERSION from the label is left alone', () => {
    const env = [
      { name: 'DD_VERSION', value: '1.0.0' },
      { name: 'OTHER', value: '1.0.0' },
    ];
    const rs = canaryReplicaSet(canary(), deployment('example.com/web:1.0.0', env), 'abcdef0123', '1.0.0-abcdef0123', 1) as unknown as RS;
    expect(rs.spec.template.metadata.labels[LABELS.ddVersion]).to.equal('1.0.0-abcdef0123');
    expect(rs.spec.template.spec.containers[0]?.env).to.deep.equal([
      { name: 'DD_VERSION', value: '1.0.0-abcdef0123' },
      { name: 'OTHER', value: '1.0.0' },
    ]);
    const fromLabel = [{ name: 'DD_VERSION', valueFrom: { fieldRef: { fieldPath: "metadata.labels['tags.datadoghq.com/version']" } } }];
    const rs2 = canaryReplicaSet(canary(), deployment('example.com/web:1.0.0', fromLabel), 'abcdef0123', '1.0.0-abcdef0123', 1) as unknown as RS;
    expect(rs2.spec.template.spec.containers[0]?.env).to.deep.equal(fromLabel);
  });

  it('a canary whose version is the template\'s keeps a literal DD_VERSION as it is', () => {
    const env = [{ name: 'DD_VERSION', value: '1.1.0' }];
    const rs = canaryReplicaSet(canary(), deployment('example.com/web:1.1.0', env), 'abcdef0123', '1.1.0', 1) as unknown as RS;
    expect(rs.spec.template.spec.containers[0]?.env).to.deep.equal(env);
    expect(rs.spec.template.metadata.labels[LABELS.ddVersion]).to.equal('1.1.0');
  });
});

describe('execute(): measurements', () => {
  it('requests each check once per pass, with the request observe built', async () => {
    const check = { kind: 'datadogMonitor', name: 'errors' } as unknown as ResolvedCheck;
    const req: MeasurementRequest = { canaryKey: 'shop/web', check, credentials: { apiKey: 'a', appKey: 'b' }, notBefore: 123 };
    const asked: MeasurementRequest[] = [];
    const source: MeasurementSource = { peek: () => undefined, request: (r) => void asked.push(r) };
    const decision: Decision = { status: {}, actions: [{ type: 'Measure', checks: ['errors'] }, { type: 'Measure', checks: ['errors'] }], events: [] };
    const snap: Snapshot = { observed: { specProblems: [], canaryReplicaSets: [], checks: [check], measurements: {} }, replicaSets: [], measurementRequests: [req] };
    await execute(canary(), decision, snap, { client: {} as RawClient, measurements: source });
    expect(asked).to.deep.equal([req]);
  });
});

/** A RawClient that records each call (method, path, signal) and answers as a quiet apiserver would. */
function recordingClient(onWrite: () => void = () => undefined): { client: RawClient; calls: Array<{ method: string; path: string; signal: AbortSignal | undefined }> } {
  const calls: Array<{ method: string; path: string; signal: AbortSignal | undefined }> = [];
  const write = (method: string) => async (path: string, body: unknown, ...rest: unknown[]) => {
    calls.push({ method, path, signal: rest.find((r): r is AbortSignal => r instanceof AbortSignal) });
    onWrite();
    const b = body as { metadata?: Record<string, unknown> } | undefined;
    return { ...(b ?? {}), metadata: { name: 'x', ...(b?.metadata ?? {}), uid: 'new', resourceVersion: String(calls.length + 100) } };
  };
  const client = {
    get: async () => {
      throw new Error('not expected');
    },
    list: async () => ({ items: [], metadata: {} }),
    create: write('POST'),
    update: write('PUT'),
    patch: write('PATCH'),
    delete: async (path: string, _body?: unknown, signal?: AbortSignal) => {
      calls.push({ method: 'DELETE', path, signal });
      onWrite();
      return {};
    },
  } as unknown as RawClient;
  return { client, calls };
}

describe('execute(): writes only while the pass may write', () => {
  const noMeasurements: MeasurementSource = { peek: () => undefined, request: () => undefined };
  const oldRs = { metadata: { name: 'web-canary-0000000000', namespace: 'shop', uid: 'rs0', resourceVersion: '3', labels: { [LABELS.revision]: '0000000000' } } };
  const snap = (): Snapshot => ({ observed: { specProblems: [], canaryReplicaSets: [], checks: [], measurements: {} }, deployment: deployment('example.com/web:1.1.0'), replicaSets: [oldRs], measurementRequests: [] });
  const decision: Decision = {
    status: {},
    actions: [
      { type: 'AddFinalizer' },
      { type: 'DeleteCanaryReplicaSets' },
      { type: 'EnsureCanaryReplicaSet', revision: 'abcdef0123', version: '1.1.0', replicas: 1 },
      { type: 'HoldDeployment' },
    ],
    events: [],
  };

  it('a pass whose leadership ends after its first write makes no further write', async () => {
    const pass = new AbortController();
    let leading = true;
    const { client, calls } = recordingClient(() => {
      leading = false;
      pass.abort(new Error('leadership lost'));
    });
    const err = await execute(canary(), decision, snap(), { client, measurements: noMeasurements, signal: pass.signal, mayWrite: () => leading }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(calls.map((c) => `${c.method} ${c.path}`)).to.deep.equal(['PATCH /apis/deployer.dev/v1alpha1/namespaces/shop/canaries/web']);
    expect((err as Error | undefined)?.name, 'the pass stops with the fence error').to.equal('LeadershipLostError');
  });

  it('every write carries the pass\'s signal', async () => {
    const pass = new AbortController();
    const { client, calls } = recordingClient();
    await execute(canary(), decision, snap(), { client, measurements: noMeasurements, signal: pass.signal, mayWrite: () => true });
    expect(calls.map((c) => c.method)).to.deep.equal(['PATCH', 'DELETE', 'POST', 'PATCH']);
    for (const c of calls) expect(c.signal, `${c.method} ${c.path}`).to.equal(pass.signal);
  });
});

describe('the hold: webhook and operator write the same reason', () => {
  it('HoldDeployment writes nothing on a Deployment the admission webhook already held', async () => {
    const dep = deployment('example.com/web:1.1.0', undefined, {});
    const old = deployment('example.com/web:1.0.0');
    const guard = { labels: { [LABELS.canary]: 'web' }, annotations: { [ANNOTATIONS.stableRevision]: revisionOf(old.spec.template) } };
    const admitted = decideAdmission({
      uid: 'u',
      kind: { group: 'apps', kind: 'Deployment' },
      operation: 'UPDATE',
      namespace: 'shop',
      name: 'web',
      userInfo: { username: 'someone' },
      object: { metadata: { name: 'web', ...guard }, spec: { template: dep.spec.template } },
      oldObject: { metadata: { name: 'web', ...guard }, spec: { template: old.spec.template } },
    });
    expect(admitted.outcome).to.equal('held');
    const held = admitted.patch.find((p) => p.path === '/metadata/annotations/deployer.dev~1held');
    expect(held?.value).to.equal(heldReason(revisionOf(dep.spec.template)));
    const heldDep: DeploymentObject = { ...dep, metadata: { ...dep.metadata, ...guard, annotations: { ...guard.annotations, [ANNOTATIONS.heldReason]: held?.value as string } }, spec: { ...dep.spec, paused: true } };
    const { client, calls } = recordingClient();
    const snap: Snapshot = { observed: { specProblems: [], canaryReplicaSets: [], checks: [], measurements: {} }, deployment: heldDep, replicaSets: [], measurementRequests: [] };
    await execute(canary(), { status: {}, actions: [{ type: 'HoldDeployment' }], events: [] }, snap, { client, measurements: { peek: () => undefined, request: () => undefined } });
    expect(calls).to.deep.equal([]);
  });

  it('JSON pointer tokens escape ~ and /', () => {
    expect(jsonPointerToken('deployer.dev/held')).to.equal('deployer.dev~1held');
    expect(jsonPointerToken('a~b/c')).to.equal('a~0b~1c');
  });
});

describe('boundedMessage(): what reaches status and Events from an API error', () => {
  it('strips control characters, keeps one line and bounds the length', () => {
    expect(boundedMessage('a\u001b[31mred\u0007\nnext\tline')).to.equal('a [31mred next line');
    const long = boundedMessage('x'.repeat(1000), 300);
    expect(long).to.have.length(300);
    expect(long.endsWith('…')).to.equal(true);
  });
});

describe('baselineReplicaSet(): the stable template, labelled and tagged as the baseline', () => {
  const withBaseline = (): Canary => {
    const c = canary();
    c.spec.analysis = { baseline: true };
    return c;
  };
  type Full = RS & { metadata: { name: string; ownerReferences: Array<{ kind: string; controller: boolean }> }; spec: { replicas: number; selector: { matchLabels: Record<string, string> } } };
  const stable = deployment('example.com/web:1.0.0', [{ name: 'DD_TAGS', value: 'team:shop role:old' }], { [LABELS.podTemplateHash]: 'h1' }).spec.template;
  const rs = baselineReplicaSet(withBaseline(), deployment('example.com/web:1.1.0'), stable, 'abcdef0123', 3) as unknown as Full;

  it('has a fixed name, the Canary as controller and the replicas asked for', () => {
    expect(rs.metadata.name).to.equal('web-baseline-abcdef0123');
    expect(rs.metadata.ownerReferences).to.deep.include({ apiVersion: 'deployer.dev/v1alpha1', kind: 'Canary', name: 'web', uid: 'cu', controller: true, blockOwnerDeletion: true });
    expect(rs.spec.replicas).to.equal(3);
  });
  it('keeps the stable version and says its role in labels, the selector and Datadog tags', () => {
    const labels = rs.spec.template.metadata.labels;
    expect(labels).to.include({ app: 'web', [LABELS.role]: 'baseline', [LABELS.revision]: 'abcdef0123', [LABELS.canaryOf]: 'web', [LABELS.ddVersion]: '1.0.0' });
    expect(labels).to.not.have.property(LABELS.podTemplateHash);
    expect(rs.spec.selector.matchLabels).to.deep.equal({ app: 'web', [LABELS.role]: 'baseline', [LABELS.revision]: 'abcdef0123' });
    expect(JSON.parse(rs.spec.template.metadata.annotations['ad.datadoghq.com/tags']!)).to.deep.equal({ role: 'baseline' });
    expect(rs.spec.template.spec.containers[0]!.env).to.deep.include({ name: 'DD_TAGS', value: 'team:shop role:baseline' });
  });
  it('canary pods of a Canary with a baseline are tagged role:canary; without one they are left as they were', () => {
    const tagged = canaryReplicaSet(withBaseline(), deployment('example.com/web:1.1.0'), 'abcdef0123', '1.1.0', 1) as unknown as RS;
    expect(JSON.parse(tagged.spec.template.metadata.annotations['ad.datadoghq.com/tags']!)).to.deep.equal({ role: 'canary' });
    expect(tagged.spec.template.spec.containers[0]!.env).to.deep.include({ name: 'DD_TAGS', value: 'role:canary' });
    const plain = canaryReplicaSet(canary(), deployment('example.com/web:1.1.0'), 'abcdef0123', '1.1.0', 1) as unknown as RS;
    expect(plain.spec.template.metadata.annotations).to.not.have.property('ad.datadoghq.com/tags');
    expect(plain.spec.template.spec.containers[0]!.env).to.equal(undefined);
  });
});
