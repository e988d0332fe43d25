// The CLI's reads and writes of Release objects (deployer.dev/v1alpha1, plural releases).
import { API_VERSION } from '../api/types.js';
import { RELEASE_KIND, RELEASE_PLURAL, type Release } from '../api/release-types.js';
import type { KubeApiError } from '../kube/errors.js';
import { CliError, EXIT } from './errors.js';
import { CLI_FIELD_MANAGER, type Cluster } from './kube.js';
import { terminalSafe, terminalSafeDeep } from './terminal.js';

const base = `/apis/${API_VERSION}`;
export const releasePaths = {
  releases: (ns?: string): string => (ns ? `${base}/namespaces/${ns}/${RELEASE_PLURAL}` : `${base}/${RELEASE_PLURAL}`),
  release: (ns: string, name: string): string => `${base}/namespaces/${ns}/${RELEASE_PLURAL}/${name}`,
};

/** "release/shop", "releases/shop", "rel/shop": the Release's name; undefined for anything else. */
export function releaseRef(arg: string): string | undefined {
  const m = /^(?:release|releases|rel)(?:\.deployer\.dev)?\/(.+)$/.exec(arg);
  return m?.[1];
}

/** The words `depctl get` takes for Releases. */
export const RELEASE_KIND_WORDS = ['releases', 'release', 'rel'] as const;

export class ReleaseApi {
  constructor(readonly cluster: Cluster) {}

  async get(namespace: string, name: string): Promise<Release> {
    try {
      return terminalSafeDeep(await this.cluster.client.get<Release>(releasePaths.release(namespace, name)));
    } catch (err) {
      throw this.explain(err, { namespace, name });
    }
  }

  /** The Release, or undefined when there is none by that name (the resource itself must exist). */
  async find(namespace: string, name: string): Promise<Release | undefined> {
    try {
      return await this.cluster.client.get<Release>(releasePaths.release(namespace, name));
    } catch (err) {
      const e = err as Partial<KubeApiError>;
      if (e.code === 404 && e.reason === 'NotFound' && /releases?\b.*not found/.test(e.message ?? '')) return undefined;
      throw this.explain(err, { namespace, name });
    }
  }

  async list(namespace: string | undefined): Promise<Release[]> {
    try {
      const list = await this.cluster.client.list<Release>(releasePaths.releases(namespace));
      return terminalSafeDeep(list.items).sort((a, b) => a.metadata.namespace.localeCompare(b.metadata.namespace) || a.metadata.name.localeCompare(b.metadata.name));
    } catch (err) {
      throw this.explain(err);
    }
  }

  async create(release: Release): Promise<Release> {
    try {
      return await this.cluster.client.create<Release>(releasePaths.releases(release.metadata.namespace), release, { fieldManager: CLI_FIELD_MANAGER });
    } catch (err) {
      throw this.explain(err, { namespace: release.metadata.namespace, name: release.metadata.name });
    }
  }

  /** A JSON merge patch of metadata and spec (never the status). */
  async patch(namespace: string, name: string, patch: unknown): Promise<Release> {
    try {
      return await this.cluster.client.patch<Release>(releasePaths.release(namespace, name), patch, 'application/merge-patch+json', { fieldManager: CLI_FIELD_MANAGER });
    } catch (err) {
      throw this.explain(err, { namespace, name });
    }
  }

  explain(err: unknown, release?: { namespace: string; name: string }): CliError {
    const e = err as Partial<KubeApiError> & { message?: string };
    if (e.code === 404) {
      const message = terminalSafe(e.message ?? String(err));
      if (release && e.reason === 'NotFound' && /releases?\b/.test(message) && /not found/.test(message)) {
        return new CliError(`release ${release.namespace}/${release.name} not found`, EXIT.error, { cause: err });
      }
      return new CliError(`the Release resource (releases.deployer.dev) is not installed in the cluster at ${this.cluster.server}; apply crds/ first (${message})`, EXIT.error, { cause: err });
    }
    return this.cluster.explain(err);
  }
}

export function newRelease(namespace: string, name: string, spec: Release['spec']): Release {
  return { apiVersion: API_VERSION, kind: RELEASE_KIND, metadata: { name, namespace }, spec };
}
