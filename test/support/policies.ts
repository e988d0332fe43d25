// Admission policies for scenarios in which the API refuses what the operator writes, as a
// policy engine (Kyverno, Gatekeeper) would.
import { LABELS } from '../../src/api/constants.js';
import { eventually, kubectl } from './cluster.js';

/** A ValidatingAdmissionPolicy (built into the apiserver) and its binding to namespace NS: writes matching `rule` that fail `expression` are denied with `message`. */
export function denyPolicy(name: string, ns: string, rule: { apiGroups: string[]; apiVersions: string[]; operations: string[]; resources: string[] }, expression: string, message: string): object[] {
  return [
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicy',
      metadata: { name },
      spec: { failurePolicy: 'Fail', matchConstraints: { resourceRules: [rule] }, validations: [{ expression, message }] },
    },
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicyBinding',
      metadata: { name },
      spec: { policyName: name, validationActions: ['Deny'], matchResources: { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } } } },
    },
  ];
}

/** Applies a policy's objects with kubectl; returns its removal (already called if an apply failed). */
export async function applyPolicy(name: string, objects: object[]): Promise<() => Promise<void>> {
  const remove = async (): Promise<void> => {
    await kubectl(['delete', 'validatingadmissionpolicybinding,validatingadmissionpolicy', name, '--ignore-not-found']);
  };
  for (const o of objects) {
    const r = await kubectl(['apply', '-f', '-'], { input: JSON.stringify(o) });
    if (r.code !== 0) {
      await remove();
      throw new Error(`kubectl apply failed: ${r.stderr}`);
    }
  }
  return remove;
}

/** A ValidatingAdmissionPolicy (built into the apiserver) that refuses canary ReplicaSets in NS; returns its removal. */
export async function refuseCanaryReplicaSets(ns: string): Promise<() => Promise<void>> {
  const name = `no-canary-rs-${ns}`;
  const rule = { apiGroups: ['apps'], apiVersions: ['v1'], operations: ['CREATE'], resources: ['replicasets'] };
  const remove = await applyPolicy(name, denyPolicy(name, ns, rule, `!has(object.metadata.labels) || !('${LABELS.role}' in object.metadata.labels)`, 'no bare ReplicaSets'));
  // In force once a dry-run canary ReplicaSet is refused.
  const probe = {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: { name: 'probe', labels: { [LABELS.role]: 'canary' } },
    spec: { replicas: 0, selector: { matchLabels: { probe: 'x' } }, template: { metadata: { labels: { probe: 'x' } }, spec: { containers: [{ name: 'a', image: 'a' }] } } },
  };
  await eventually(
    async () => {
      const r = await kubectl(['create', '--dry-run=server', '-n', ns, '-f', '-'], { input: JSON.stringify(probe) });
      if (r.code === 0) throw new Error('policy not in force yet');
    },
    { timeoutMs: 20_000, intervalMs: 300 },
  );
  return remove;
}

/** A ValidatingAdmissionPolicy that refuses every write of Canary status in NS; returns its removal. */
export async function refuseCanaryStatus(ns: string, probeCanary: string): Promise<() => Promise<void>> {
  const name = `no-canary-status-${ns}`;
  const rule = { apiGroups: ['deployer.dev'], apiVersions: ['*'], operations: ['UPDATE'], resources: ['canaries/status'] };
  const remove = await applyPolicy(name, denyPolicy(name, ns, rule, 'false', 'Canary status is frozen by policy'));
  // In force once a dry-run status write is refused.
  await eventually(
    async () => {
      const r = await kubectl(['patch', 'canary', probeCanary, '-n', ns, '--subresource=status', '--type=merge', '--dry-run=server', '-p', '{"status":{"message":"probe"}}']);
      if (r.code === 0) throw new Error('policy not in force yet');
    },
    { timeoutMs: 20_000, intervalMs: 300 },
  );
  return remove;
}
