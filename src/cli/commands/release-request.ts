// depctl promote|abort|retry release/NAME: the same annotations as on a Canary, on the Release.
import { ANNOTATIONS } from '../../api/constants.js';
import { formatDuration } from '../../analysis/duration.js';
import { CliError, EXIT } from '../errors.js';
import { sleep } from '../duration-option.js';
import type { Cluster } from '../kube.js';
import { out } from '../output.js';
import { ReleaseApi } from '../release-kube.js';

const POLL_MS = 1000;

export async function releaseRequest(cluster: Cluster, verb: 'promote' | 'abort' | 'retry', name: string, id: string, opts: { wait?: boolean; timeoutMs: number | undefined }): Promise<void> {
  const api = new ReleaseApi(cluster);
  const ns = cluster.namespace;
  await api.patch(ns, name, { metadata: { annotations: { [ANNOTATIONS[verb]]: id } } });
  out(`${verb} requested for release ${ns}/${name} (request ${id})`);
  if (!opts.wait) return;
  const deadline = opts.timeoutMs === undefined ? Infinity : Date.now() + opts.timeoutMs;
  for (;;) {
    const release = await api.get(ns, name);
    const handled = release.status?.requests?.[verb];
    if (handled?.id === id) {
      out(`${verb} handled at ${handled.handledAt}; phase ${release.status?.phase ?? 'unknown'}${release.status?.message ? `: ${release.status.message}` : ''}`);
      return;
    }
    if (Date.now() + POLL_MS > deadline) {
      throw new CliError(
        `timed out after ${formatDuration(opts.timeoutMs ?? 0)} waiting for the controller to handle ${verb} request ${id} on release ${ns}/${name}; ` +
          'the request stays in place (is the deployer operator running? kubectl -n deployer-system get pods)',
        EXIT.timeout,
      );
    }
    await sleep(POLL_MS);
  }
}
