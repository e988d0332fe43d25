// depctl get [NAME]
import { Command, Option } from 'commander';
import { CliError } from '../errors.js';
import { renderCanaryTable } from '../format/canary-table.js';
import { connect } from '../kube.js';
import { globalOptions } from '../options.js';
import { err, out, OUTPUT_FORMATS, serialize, type OutputFormat } from '../output.js';
import { RELEASE_KIND_WORDS } from '../release-kube.js';
import { getReleases } from './release-get.js';

export function getCommand(): Command {
  return new Command('get')
    .description('List Canaries, or show one, with their phase, weight and step')
    .argument('[name]', 'a Canary name; all Canaries of the namespace when left out; "releases" lists Releases')
    .argument('[release]', 'after "releases": one Release')
    .option('-A, --all-namespaces', 'list Canaries in every namespace')
    .addOption(new Option('-o, --output <format>', 'output format').choices(OUTPUT_FORMATS).default('table'))
    .addHelpText('after', '\nExamples:\n  depctl get\n  depctl get -A\n  depctl get checkout -n shop -o yaml\n  depctl get releases -n shop')
    .action(async (name: string | undefined, release: string | undefined, opts: { output: OutputFormat }, cmd: Command) => {
      const g = globalOptions(cmd);
      if (name !== undefined && (RELEASE_KIND_WORDS as readonly string[]).includes(name)) return getReleases(g, release, opts.output);
      if (release !== undefined) throw new CliError(`get takes one Canary name, or "releases [NAME]"; got "${name} ${release}"`);
      if (name && g.allNamespaces) throw new CliError('a name cannot be combined with --all-namespaces; use -n NAMESPACE');
      const cluster = await connect(g);
      const canaries = name ? [await cluster.getCanary(cluster.namespace, name)] : await cluster.listCanaries(g.allNamespaces ? undefined : cluster.namespace);
      if (opts.output !== 'table') {
        const value = name ? canaries[0] : { apiVersion: 'v1', kind: 'List', metadata: { resourceVersion: '' }, items: canaries };
        out(await serialize(value, opts.output));
        return;
      }
      if (canaries.length === 0) {
        err(g.allNamespaces ? 'No canaries found.' : `No canaries found in namespace ${cluster.namespace}.`);
        return;
      }
      out(renderCanaryTable(canaries, { now: Date.now(), allNamespaces: g.allNamespaces === true }));
    });
}
