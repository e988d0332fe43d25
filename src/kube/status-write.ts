// The one status write of a reconcile pass, shared by the controllers: skipped when nothing
// changed, refused when the pass may no longer write (its leadership is gone), and sent with the
// object's resourceVersion so that a concurrent change is a 409 (the pass is requeued) rather
// than a lost update.
import { canonicalJson } from '../canary/revision.js';
import type { RawClient } from './raw-client.js';

/** What a pass writes with: its fence, asked before each write, and its signal, given to each request. */
export interface Fence {
  mayWrite(): boolean;
  signal?: AbortSignal;
}

interface StatusObject<S> {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: unknown;
  status?: S;
}

/**
 * Writes `status` to the object's status subresource at `path` (…/status). Returns undefined when
 * the status is unchanged (no request), else the object the apiserver returned. `fenced` builds the error thrown when the pass may no longer write.
 */
export async function persistStatus<S, T extends StatusObject<S>>(client: RawClient, path: string, obj: T, status: S, fence: Fence, fenced: (what: string) => Error): Promise<T | undefined> {
  const clean = JSON.parse(JSON.stringify(status)) as S;
  if (canonicalJson(clean) === canonicalJson(obj.status ?? {})) return undefined;
  if (!fence.mayWrite()) throw fenced(`write the status of ${obj.kind} ${obj.metadata.name}`);
  const body = {
    apiVersion: obj.apiVersion,
    kind: obj.kind,
    metadata: { name: obj.metadata.name, namespace: obj.metadata.namespace, resourceVersion: obj.metadata.resourceVersion },
    spec: obj.spec,
    status: clean,
  };
  return client.update<T>(path, body, fence.signal);
}
