// depctl history NAME: a Release's history (status.history) as a table.
import { Command, Option } from 'commander';
import { CliError } from '../errors.js';
import { renderReleaseHistory } from '../format/release-view.js';
import { connect } from '../kube.js';
import { globalOptions } from '../options.js';
import { err, out, OUTPUT_FORMATS, serialize, type OutputFormat } from '../output.js';
import { ReleaseApi, releaseRef } from '../release-kube.js';

export function historyCommand(): Command {
  return new Command('history')
    .description("Show a Release's history: version, outcome, start, duration, commit, lines changed, failed target and reason")
    .argument('<name>', 'the Release (NAME or release/NAME)')
    .addOption(new Option('-o, --output <format>', 'output format').choices(OUTPUT_FORMATS).default('table'))
    .addHelpText('after', '\nNewest first; the Release keeps spec.historyLimit entries (default 20).\n\nExample:\n  depctl history shop -n shop')
    .action(async (arg: string, opts: { output: OutputFormat }, cmd: Command) => {
      const name = releaseRef(arg) ?? arg;
      if (name.includes('/')) throw new CliError(`history takes a Release: NAME or release/NAME, got "${arg}"`);
      const cluster = await connect(globalOptions(cmd));
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
