// depctl history NAME: a Release's history (status.history) as a table; canary/NAME: a Canary's.
import { Command, Option } from 'commander';
import { CliError } from '../errors.js';
import { renderCanaryHistory } from '../format/canary-history.js';
import { renderReleaseHistory } from '../format/release-view.js';
import { connect } from '../kube.js';
import { globalOptions } from '../options.js';
import { err, out, OUTPUT_FORMATS, serialize, type OutputFormat } from '../output.js';
import { ReleaseApi, releaseRef } from '../release-kube.js';

export function historyCommand(): Command {
  return new Command('history')
    .description("Show a Release's history (version, outcome, start, duration, commit, lines changed, failed target, reason), or a Canary's")
    .argument('<name>', 'the Release (NAME or release/NAME), or canary/NAME for a Canary')
    .addOption(new Option('-o, --output <format>', 'output format').choices(OUTPUT_FORMATS).default('table'))
    .addHelpText(
      'after',
      '\nNewest first; a Release keeps spec.historyLimit entries (default 20), a Canary its own (default 10).\n\nExamples:\n  depctl history shop -n shop\n  depctl history canary/checkout -n shop',
    )
    .action(async (arg: string, opts: { output: OutputFormat }, cmd: Command) => {
      const canary = /^(?:canary|canaries|can)(?:\.deployer\.dev)?\/(.+)$/.exec(arg)?.[1];
      const name = canary ?? releaseRef(arg) ?? arg;
      if (name.includes('/')) throw new CliError(`history takes a Release (NAME or release/NAME) or canary/NAME, got "${arg}"`);
      const cluster = await connect(globalOptions(cmd));
      if (canary !== undefined) {
        const history = (await cluster.getCanary(cluster.namespace, canary)).status?.history ?? [];
        if (opts.output !== 'table') out(await serialize(history, opts.output));
        else if (history.length === 0) err(`canary ${cluster.namespace}/${canary} has no finished canary yet.`);
        else out(renderCanaryHistory(history, { now: Date.now(), width: process.stdout.columns ?? 120 }));
        return;
      }
      const release = await new ReleaseApi(cluster).get(cluster.namespace, name);
      const history = release.status?.history ?? [];
      if (opts.output !== 'table') {
        out(await serialize(history, opts.output));
        return;
      }
      if (history.length === 0) {
        err(`release ${cluster.namespace}/${name} has no finished release yet.`);
        return;
      }
      out(renderReleaseHistory(history, { now: Date.now(), width: process.stdout.columns ?? 120 }));
    });
}
