// depctl promote|abort|retry NAME
import { Command } from 'commander';
import { ANNOTATIONS } from '../../api/constants.js';
import type { Canary } from '../../api/types.js';
import { formatDuration } from '../../analysis/duration.js';
import { CliError, EXIT } from '../errors.js';
import { parseTimeout, sleep } from '../duration-option.js';
import { connect } from '../kube.js';
import { globalOptions } from '../options.js';
import { out } from '../output.js';
import { releaseRef } from '../release-kube.js';
import { releaseRequest } from './release-request.js';

export const REQUEST_VERBS = ['promote', 'abort', 'retry'] as const;
export type RequestVerb = (typeof REQUEST_VERBS)[number];

const DESCRIPTIONS: Record<RequestVerb, string> = {
  promote: 'Skip the remaining steps and promote the canary revision now (also ends a pause without duration)',
  abort: 'Roll the canary back to the stable revision now',
  retry: 'Try a rolled-back revision again',
};

const DEFAULT_WAIT = '1m';
const POLL_MS = 1000;

/** A request id: the time of the request, which is unique enough and says when it was made. */
export function newRequestId(now: Date = new Date()): string {
  return now.toISOString();
}

export function requestCommand(verb: RequestVerb): Command {
  return new Command(verb)
    .description(DESCRIPTIONS[verb])
    .argument('<name>', 'the Canary, or release/NAME for a Release')
    .option('--wait', 'wait until the controller has handled the request')
    .option('--timeout <duration>', 'how long --wait waits', DEFAULT_WAIT)
    .addHelpText(
      'after',
      `\nSets the annotation ${ANNOTATIONS[verb]} on the Canary to a new request id. The controller handles it once\n` +
        `and records it in status.requests.${verb}.\n\nExample:\n  depctl ${verb} checkout -n shop --wait`,
    )
    .action(async (name: string, opts: { wait?: boolean; timeout: string }, cmd: Command) => {
      const timeoutMs = parseTimeout(opts.timeout);
      const cluster = await connect(globalOptions(cmd));
      const ns = cluster.namespace;
      const id = newRequestId();
      const release = releaseRef(name);
      if (release !== undefined) return releaseRequest(cluster, verb, release, id, { ...(opts.wait ? { wait: true } : {}), timeoutMs });
      await cluster.patchCanary(ns, name, { metadata: { annotations: { [ANNOTATIONS[verb]]: id } } });
      out(`${verb} requested for ${ns}/${name} (request ${id})`);
      if (!opts.wait) return;
      const deadline = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
      for (;;) {
        const canary: Canary = await cluster.getCanary(ns, name);
        const handled = canary.status?.requests?.[verb];
        if (handled?.id === id) {
          out(`${verb} handled at ${handled.handledAt}; phase ${canary.status?.phase ?? 'unknown'}${canary.status?.message ? `: ${canary.status.message}` : ''}`);
          return;
        }
        if (Date.now() + POLL_MS > deadline) {
          throw new CliError(
            `timed out after ${formatDuration(timeoutMs ?? 0)} waiting for the controller to handle ${verb} request ${id} on ${ns}/${name}; ` +
              'the request stays in place (is the deployer operator running? kubectl -n deployer-system get pods)',
            EXIT.timeout,
          );
        }
        await sleep(POLL_MS);
      }
    });
}
