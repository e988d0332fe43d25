// depctl metrics [NAME] [--since 30d]
import { Command, Option } from 'commander';
import type { Release } from '../../api/release-types.js';
import type { Canary } from '../../api/types.js';
import { parseDuration } from '../../analysis/duration.js';
import { calculateDelivery } from '../../metrics/delivery.js';
import { CliError } from '../errors.js';
import { renderDelivery } from '../format/delivery-view.js';
import { connect, type Cluster } from '../kube.js';
import { globalOptions } from '../options.js';
import { err, out, OUTPUT_FORMATS, serialize, type OutputFormat } from '../output.js';
import { terminalSafeDeep } from '../terminal.js';

/** 30d, 2w, or a Go-style duration (12h). */
export function parseWindow(text: string, flag: string): number {
  const m = /^(\d+)([dw])$/.exec(text.trim());
  const ms = m ? Number(m[1]) * (m[2] === 'w' ? 7 : 1) * 24 * 3600_000 : parseDuration(text);
  if (ms === undefined || !Number.isFinite(ms) || ms < 0) throw new CliError(`${flag} must be a duration such as 30d, 2w or 12h, got "${text}"`);
  return ms;
}

const releasesPath = (ns?: string): string => (ns ? `/apis/deployer.dev/v1alpha1/namespaces/${ns}/releases` : '/apis/deployer.dev/v1alpha1/releases');

/** Releases of a namespace (all when undefined); none when the Release resource is not installed. */
async function listReleases(cluster: Cluster, namespace: string | undefined): Promise<Release[]> {
  try {
    const list = await cluster.client.list<Release>(releasesPath(namespace));
    return terminalSafeDeep(list.items);
  } catch (e) {
    const { errorCode } = await import('../../kube/errors.js');
    if (errorCode(e) === 404) return [];
    throw cluster.explain(e);
  }
}

export function metricsCommand(): Command {
  return new Command('metrics')
    .description('Delivery metrics per application (Release) and per Deployment guarded by a Canary alone: deploys per week, canary catches, change failure rate, time to recover, deploy duration, lead time, lines per deploy')
    .argument('[name]', 'a Release or Canary name; every one of the namespace when left out')
    .option('-A, --all-namespaces', 'every namespace')
    .option('--since <window>', 'how far back: 30d, 2w, 12h', '30d')
    .option('--fix-forward-window <duration>', 'a new deploy started this soon after a promotion marks that promotion failed (0: off)', '1h')
    .addOption(new Option('-o, --output <format>', 'output format').choices(OUTPUT_FORMATS).default('table'))
    .addHelpText('after', '\nExamples:\n  depctl metrics\n  depctl metrics checkout --since 7d\n  depctl metrics -A -o json\n\nDefinitions: README, "Delivery metrics".')
    .action(async (name: string | undefined, opts: { output: OutputFormat; since: string; fixForwardWindow: string }, cmd: Command) => {
      const g = globalOptions(cmd);
      if (name && g.allNamespaces) throw new CliError('a name cannot be combined with --all-namespaces; use -n NAMESPACE');
      const window = parseWindow(opts.since, '--since');
      const fixForwardWindowMs = parseWindow(opts.fixForwardWindow, '--fix-forward-window');
      const cluster = await connect(g);
      const ns = g.allNamespaces ? undefined : cluster.namespace;
      const [releases, canaries] = await Promise.all([listReleases(cluster, ns), cluster.listCanaries(ns)]);
      const pick = <T extends { metadata: { name: string } }>(xs: T[]): T[] => (name ? xs.filter((x) => x.metadata.name === name) : xs);
      const now = Date.now();
      const figures = calculateDelivery({ releases: pick(releases), canaries: pick(canaries as Canary[]) }, { since: now - window, now, fixForwardWindowMs });
      if (name && figures.length === 0 && pick(releases).length === 0 && pick(canaries).length === 0) {
        throw new CliError(`no Release or Canary named "${name}" in namespace ${cluster.namespace}`);
      }
      if (opts.output !== 'table') {
        out(await serialize({ items: figures }, opts.output));
        return;
      }
      if (figures.length === 0) {
        err(name ? `No finished deploys of ${name} yet.` : 'No finished deploys yet.');
        return;
      }
      out(renderDelivery(figures));
    });
}
