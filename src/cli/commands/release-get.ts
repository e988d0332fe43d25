// depctl get releases [NAME]
import { CliError } from '../errors.js';
import { renderReleaseTable } from '../format/release-view.js';
import { connect } from '../kube.js';
import type { GlobalOptions } from '../options.js';
import { err, out, serialize, type OutputFormat } from '../output.js';
import { ReleaseApi } from '../release-kube.js';

export async function getReleases(g: GlobalOptions, name: string | undefined, output: OutputFormat): Promise<void> {
  if (name && g.allNamespaces) throw new CliError('a name cannot be combined with --all-namespaces; use -n NAMESPACE');
  const cluster = await connect(g);
  const api = new ReleaseApi(cluster);
  const releases = name ? [await api.get(cluster.namespace, name)] : await api.list(g.allNamespaces ? undefined : cluster.namespace);
  if (output !== 'table') {
    out(await serialize(name ? releases[0] : { apiVersion: 'v1', kind: 'List', metadata: { resourceVersion: '' }, items: releases }, output));
    return;
  }
  if (releases.length === 0) {
    err(g.allNamespaces ? 'No releases found.' : `No releases found in namespace ${cluster.namespace}.`);
    return;
  }
  out(renderReleaseTable(releases, { now: Date.now(), allNamespaces: g.allNamespaces === true }));
}
