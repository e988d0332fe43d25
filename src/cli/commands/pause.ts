// depctl pause|resume NAME
import { Command } from 'commander';
import { connect } from '../kube.js';
import { globalOptions } from '../options.js';
import { out } from '../output.js';

export function pauseCommand(paused: boolean): Command {
  const verb = paused ? 'pause' : 'resume';
  return new Command(verb)
    .description(
      paused
        ? 'Hold the canary where it is (sets spec.paused: canary pods stay, no step advances, checks keep running)'
        : 'Let a paused canary continue (clears spec.paused)',
    )
    .argument('<name>', 'the Canary')
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const cluster = await connect(globalOptions(cmd));
      const ns = cluster.namespace;
      await cluster.patchCanary(ns, name, { spec: { paused } });
      out(paused ? `${ns}/${name} paused (spec.paused=true); resume with: depctl resume ${name} -n ${ns}` : `${ns}/${name} resumed (spec.paused=false)`);
    });
}
