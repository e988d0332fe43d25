// depctl status NAME [--watch]
import { Command, Option } from 'commander';
import type { Canary } from '../../api/types.js';
import { formatDuration } from '../../analysis/duration.js';
import { CliError, EXIT, type ExitCode } from '../errors.js';
import { parseTimeout } from '../duration-option.js';
import { assessOutcome, exitCodeForPhase } from '../format/phase.js';
import { renderStatus, type StatusEvent } from '../format/status-view.js';
import { connect, lastSeen, type Cluster, type KubeEvent } from '../kube.js';
import { globalOptions } from '../options.js';
import { err, out, OUTPUT_FORMATS, serialize, type OutputFormat } from '../output.js';
import { releaseRef } from '../release-kube.js';
import { releaseStatus } from './release-status.js';

const EVENT_LIMIT = 10;
const EVENTS_POLL_MS = 2000;
const TTY_REDRAW_MS = 1000;
const RECONNECT_MS = 1000;
const MAX_RECONNECT_FAILURES = 10;
const CLEAR = '\x1b[H\x1b[2J';

interface StatusOptions {
  watch?: boolean;
  timeout?: string;
  output: OutputFormat;
}

function toStatusEvents(events: KubeEvent[]): StatusEvent[] {
  return events.map((e) => {
    const ev: StatusEvent = {};
    if (e.type) ev.type = e.type;
    if (e.reason) ev.reason = e.reason;
    const message = e.message ?? e.note;
    if (message) ev.message = message;
    const count = e.series?.count ?? e.count;
    if (count !== undefined) ev.count = count;
    const time = lastSeen(e);
    if (time) ev.time = time;
    return ev;
  });
}

const eventsSignature = (events: KubeEvent[]): string => events.map((e) => `${e.metadata.name}@${e.count ?? 1}@${lastSeen(e) ?? ''}`).join(',');

export function statusCommand(setExitCode: (code: ExitCode) => void): Command {
  return new Command('status')
    .description('Show a Canary in detail: revisions, steps, checks, conditions and recent Events')
    .argument('<name>', 'the Canary, or release/NAME for a Release')
    .option('-w, --watch', 'redraw on every change and exit when the canary settles')
    .option('--timeout <duration>', 'with --watch: give up after this long (exit 3)')
    .addOption(new Option('-o, --output <format>', 'output format').choices(OUTPUT_FORMATS).default('table'))
    .addHelpText(
      'after',
      [
        '',
        'Exit codes:',
        '  0  Succeeded, or Waiting and Ready (nothing in flight); without --watch also any phase in progress',
        '  1  RolledBack or Failed',
        '  2  usage error, canary not found, or the cluster cannot be reached or refused the request',
        '  3  --timeout ran out before the canary settled',
        '',
        'With --watch the command ends when the status describes the current spec (status.observedGeneration)',
        'and the phase is one of the settled ones above. Start it after the new revision was deployed.',
        '',
        'Examples:',
        '  depctl status checkout -n shop',
        '  depctl status checkout -n shop --watch --timeout 30m',
        '  depctl status release/shop -n shop --watch   (a Release: exit 0 Succeeded, 1 RolledBack, Failed or Halted)',
      ].join('\n'),
    )
    .action(async (name: string, opts: StatusOptions, cmd: Command) => {
      const timeoutMs = parseTimeout(opts.timeout);
      const cluster = await connect(globalOptions(cmd));
      const release = releaseRef(name);
      if (release !== undefined) {
        setExitCode(await releaseStatus(cluster, release, { watch: opts.watch === true, timeoutMs, output: opts.output }));
        return;
      }
      const canary = await cluster.getCanary(cluster.namespace, name);
      if (!opts.watch) {
        if (opts.output === 'table') {
          const events = await cluster.listCanaryEvents(canary, EVENT_LIMIT);
          out(renderStatus(canary, { now: Date.now(), events: toStatusEvents(events), width: process.stdout.columns ?? 120 }));
        } else {
          out(await serialize(canary, opts.output));
        }
        setExitCode(exitCodeForPhase(canary.status?.phase));
        return;
      }
      setExitCode(await watchStatus(cluster, canary, { output: opts.output, timeoutMs }));
    });
}

/** Follows one Canary until it settles, the timeout runs out or the connection is lost for good. */
async function watchStatus(cluster: Cluster, first: Canary, opts: { output: OutputFormat; timeoutMs: number | undefined }): Promise<ExitCode> {
  const tty = process.stdout.isTTY === true && opts.output === 'table';
  const ns = first.metadata.namespace;
  const name = first.metadata.name;
  let canary = first;
  let events: KubeEvent[] = opts.output === 'table' ? await cluster.listCanaryEvents(canary, EVENT_LIMIT) : [];
  let printed = '';

  const draw = async (force = false): Promise<void> => {
    if (opts.output !== 'table') {
      const key = canary.metadata.resourceVersion ?? '';
      if (key === printed) return;
      printed = key;
      out(`${opts.output === 'yaml' ? '---\n' : ''}${await serialize(canary, opts.output)}`);
      return;
    }
    const key = `${canary.metadata.resourceVersion ?? ''}|${eventsSignature(events)}`;
    if (!force && key === printed) return;
    const first = printed === '';
    printed = key;
    const view = renderStatus(canary, { now: Date.now(), events: toStatusEvents(events), width: process.stdout.columns ?? 120 });
    if (tty) out(`${CLEAR}${view}`);
    else out(`${first ? '' : '\n'}${view}`);
  };

  return new Promise<ExitCode>((resolve) => {
    const timers: NodeJS.Timeout[] = [];
    let stopWatch: (() => void) | undefined;
    let finished = false;
    let failures = 0;

    const finish = (code: ExitCode, message?: string): void => {
      if (finished) return;
      finished = true;
      for (const t of timers) clearInterval(t);
      stopWatch?.();
      if (message) (opts.output === 'table' && code !== EXIT.error ? out : err)(message);
      resolve(code);
    };
    const fail = (e: unknown): void => finish(EXIT.error, `error: ${e instanceof Error ? e.message : String(e)}`);

    const settle = async (): Promise<void> => {
      if (!assessOutcome(canary).done) return;
      // A settled status counts only if it is about the Deployment's current template; a Failed
      // canary (e.g. its target is missing) is settled whatever the template. When the Deployment
      // cannot be read, targetRevision throws and the watch ends with exit code 2.
      const target = canary.status?.phase === 'Failed' ? undefined : await cluster.targetRevision(canary);
      const outcome = assessOutcome(canary, target);
      if (outcome.done) finish(outcome.exitCode, `canary ${ns}/${name} ${outcome.reason} (phase ${canary.status?.phase ?? 'unknown'})`);
      else if (!recheck) {
        // The controller has not picked up the Deployment's new template yet: look again shortly.
        recheck = setTimeout(() => {
          recheck = undefined;
          void settle().catch(fail);
        }, 500);
        timers.push(recheck);
      }
    };
    let recheck: NodeJS.Timeout | undefined;

    const onChange = (c: Canary | undefined): void => {
      if (finished) return;
      if (!c) {
        finish(EXIT.error, `error: canary ${ns}/${name} was deleted`);
        return;
      }
      canary = c;
      failures = 0;
      const refresh = opts.output === 'table' ? cluster.listCanaryEvents(canary, EVENT_LIMIT).then((e) => (events = e)) : Promise.resolve();
      refresh
        .catch(() => undefined)
        .then(() => draw())
        .then(settle)
        .catch(fail);
    };

    const start = (): void => {
      if (finished) return;
      cluster
        .getCanary(ns, name)
        .then((c) => {
          onChange(c);
          return cluster.watchCanary(ns, name, onChange, () => {
            if (!finished) setTimeout(start, RECONNECT_MS);
          });
        })
        .then((stop) => {
          stopWatch = stop;
          if (finished) stop();
        })
        .catch((e: unknown) => {
          if (e instanceof CliError && /not found/.test(e.message)) {
            finish(EXIT.error, `error: canary ${ns}/${name} was deleted`);
            return;
          }
          failures += 1;
          if (failures >= MAX_RECONNECT_FAILURES) fail(e);
          else setTimeout(start, RECONNECT_MS);
        });
    };

    if (opts.timeoutMs !== undefined) {
      timers.push(
        setTimeout(() => {
          finish(
            EXIT.timeout,
            `timed out after ${formatDuration(opts.timeoutMs ?? 0)} waiting for canary ${ns}/${name} to settle (phase ${canary.status?.phase ?? 'unknown'})`,
          );
        }, opts.timeoutMs),
      );
    }
    if (opts.output === 'table') {
      timers.push(
        setInterval(() => {
          cluster
            .listCanaryEvents(canary, EVENT_LIMIT)
            .then((e) => {
              events = e;
              return draw();
            })
            .catch(() => undefined);
        }, EVENTS_POLL_MS),
      );
      if (tty) timers.push(setInterval(() => void draw(true).catch(() => undefined), TTY_REDRAW_MS));
    }

    draw()
      .then(() => {
        void settle().catch(fail);
        start();
      })
      .catch(fail);
  });
}
