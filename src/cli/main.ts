// depctl: the command line for Deployer canaries. Also runs as a kubectl plugin (kubectl deployer …).
//
// Start-up is kept short: this module loads only commander and small formatting modules;
// client-node, yaml and ajv are imported inside the commands that need them.
import { basename } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Command, CommanderError } from 'commander';
import { getCommand } from './commands/get.js';
import { metricsCommand } from './commands/metrics.js';
import { pauseCommand } from './commands/pause.js';
import { REQUEST_VERBS, requestCommand } from './commands/request.js';
import { statusCommand } from './commands/status.js';
import { validateCommand } from './commands/validate.js';
import { releaseCommand } from './commands/release.js';
import { historyCommand } from './commands/history.js';
import { CliError, EXIT, type ExitCode } from './errors.js';
import { terminalSafe } from './terminal.js';

const VERSION = '0.1.0';

/** "kubectl deployer" when started as the kubectl plugin, else "depctl". */
export function programName(argv1: string | undefined): string {
  return argv1 && basename(argv1).startsWith('kubectl-deployer') ? 'kubectl deployer' : 'depctl';
}

export function buildProgram(name: string, setExitCode: (code: ExitCode) => void): Command {
  const program = new Command(name)
    .description('Inspect and steer Deployer canaries (deployer.dev/v1alpha1 Canary)')
    .option('--kubeconfig <path>', 'kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or in-cluster)')
    .option('--context <name>', 'kubeconfig context to use')
    .option('-n, --namespace <namespace>', "namespace (default: the context's namespace, else default)")
    .addHelpText(
      'after',
      '\nExit codes: 0 ok, 1 canary rolled back or failed / validation problems, 2 usage or cluster errors, 3 timeout.\n' +
        'depctl --version prints the version of depctl (as the first argument: `release --version V` is the version to release).\n' +
        'Set DEPCTL_DEBUG=1 to print stack traces.',
    );
  program.addCommand(getCommand());
  program.addCommand(statusCommand(setExitCode));
  for (const verb of REQUEST_VERBS) program.addCommand(requestCommand(verb));
  program.addCommand(pauseCommand(true));
  program.addCommand(pauseCommand(false));
  program.addCommand(validateCommand(setExitCode));
  program.addCommand(metricsCommand());
  program.addCommand(releaseCommand());
  program.addCommand(historyCommand());
  // Subcommands added with addCommand do not inherit these settings.
  const configure = (cmd: Command): void => {
    cmd.exitOverride().configureHelp({ showGlobalOptions: true }).showHelpAfterError('(add --help for usage)');
    for (const sub of cmd.commands) configure(sub);
  };
  configure(program);
  return program;
}

/** Runs the CLI and returns the exit code; never throws. */
export async function run(argv: string[]): Promise<number> {
  let code: ExitCode = EXIT.ok;
  const program = buildProgram(programName(argv[1]), (c) => (code = c));
  // The program's own --version only as the first argument: after a subcommand it is that
  // command's option (depctl release NAME --version 1.4.2), which commander would otherwise take.
  if (argv[2] === '--version') {
    process.stdout.write(`${VERSION}\n`);
    return EXIT.ok;
  }
  try {
    await program.parseAsync(argv);
    return code;
  } catch (e) {
    if (e instanceof CommanderError) {
      // commander already printed the message (or the help / version).
      return e.exitCode === 0 ? EXIT.ok : EXIT.error;
    }
    if (process.env.DEPCTL_DEBUG === '1') process.stderr.write(`${(e as Error)?.stack ?? String(e)}\n`);
    const message = terminalSafe(e instanceof Error ? e.message : String(e));
    process.stderr.write(`error: ${message}\n`);
    return e instanceof CliError ? e.exitCode : EXIT.error;
  }
}

/** Runs and exits; what bin/depctl.js calls. */
export async function main(argv: string[] = process.argv): Promise<void> {
  const code = await run(argv);
  // Exit explicitly: keep-alive connections to the apiserver would otherwise hold the process open.
  process.exit(code);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  void main();
}
