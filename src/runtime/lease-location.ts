// Where the leader Lease lives when no flag says so. One Lease per set of watched namespaces
// (like the webhook configuration name), so operators that watch different namespaces do not
// wait on each other, and an out-of-cluster run that watches everything shares the install's
// Lease and stands by while the install leads.
import { createHash } from 'node:crypto';
import { isNotFound } from '../kube/errors.js';
import type { RawClient } from '../kube/raw-client.js';

export const DEFAULT_LEASE_NAME = 'deployer';
export const INSTALL_NAMESPACE = 'deployer-system';

/** deployer for all namespaces, deployer-<hash of the sorted list> for a set. */
export function leaseNameFor(namespaces?: readonly string[]): string {
  if (!namespaces?.length) return DEFAULT_LEASE_NAME;
  const hash = createHash('sha256').update([...namespaces].sort().join(',')).digest('hex').slice(0, 10);
  return `${DEFAULT_LEASE_NAME}-${hash}`;
}

/**
 * The Pod's namespace in the cluster (POD_NAMESPACE); outside it deployer-system when that
 * namespace exists (an install is there), else default, which every cluster has.
 */
export async function leaseNamespaceFor(client: RawClient, env: NodeJS.ProcessEnv = process.env): Promise<{ namespace: string; why: string }> {
  if (env.POD_NAMESPACE) return { namespace: env.POD_NAMESPACE, why: 'POD_NAMESPACE' };
  try {
    await client.get(`/api/v1/namespaces/${INSTALL_NAMESPACE}`, AbortSignal.timeout(10_000));
    return { namespace: INSTALL_NAMESPACE, why: `namespace ${INSTALL_NAMESPACE} exists` };
  } catch (err) {
    if (isNotFound(err)) return { namespace: 'default', why: `namespace ${INSTALL_NAMESPACE} does not exist` };
    return { namespace: INSTALL_NAMESPACE, why: `could not check namespace ${INSTALL_NAMESPACE}` };
  }
}
