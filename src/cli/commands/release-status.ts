// depctl status release/NAME [--watch]: the Release's targets, their canaries and progress.
import type { Release } from '../../api/release-types.js';
import { formatDuration } from '../../analysis/duration.js';
import { EXIT, type ExitCode } from '../errors.js';
import { sleep } from '../duration-option.js';
import { assessReleaseOutcome, releaseExitCode, renderReleaseStatus } from '../format/release-view.js';
import type { Cluster } from '../kube.js';
import { err, out, serialize, type OutputFormat } from '../output.js';
import { ReleaseApi } from '../release-kube.js';

const POLL_MS = 1000;
const CLEAR = '\x1b[H\x1b[2J';
const MAX_READ_FAILURES = 10;

export interface ReleaseStatusOptions {
  watch?: boolean;
  timeoutMs: number | undefined;
  output: OutputFormat;
}

/** Prints the Release once, or follows it until it settles; returns the exit code (as for a Canary). */
export async function releaseStatus(cluster: Cluster, name: string, opts: ReleaseStatusOptions): Promise<ExitCode> {
  const api = new ReleaseApi(cluster);
  const ns = cluster.namespace;
  let release = await api.get(ns, name);
  const view = async (r: Release): Promise<string> =>
    opts.output === 'table' ? renderReleaseStatus(r, { now: Date.now(), width: process.stdout.columns ?? 120 }) : serialize(r, opts.output);
  if (!opts.watch) {
    out(await view(release));
    return releaseExitCode(release.status?.phase);
  }
  const tty = process.stdout.isTTY === true && opts.output === 'table';
  const deadline = opts.timeoutMs === undefined ? Infinity : Date.now() + opts.timeoutMs;
  let printed = '';
  let failures = 0;
  for (;;) {
    const key = release.metadata.resourceVersion ?? '';
    if (key !== printed || tty) {
      const text = await view(release);
      if (tty) out(`${CLEAR}${text}`);
      else out(`${printed === '' ? '' : '\n'}${opts.output === 'yaml' ? '---\n' : ''}${text}`);
      printed = key;
    }
    const outcome = assessReleaseOutcome(release);
    if (outcome.done) {
      const msg = `release ${ns}/${name} ${outcome.reason} (phase ${release.status?.phase ?? 'unknown'})`;
      (opts.output === 'table' ? out : err)(msg);
      return outcome.exitCode;
    }
    if (Date.now() + POLL_MS > deadline) {
      (opts.output === 'table' ? out : err)(
        `timed out after ${formatDuration(opts.timeoutMs ?? 0)} waiting for release ${ns}/${name} to settle (phase ${release.status?.phase ?? 'unknown'})`,
      );
      return EXIT.timeout;
    }
    await sleep(POLL_MS);
    try {
      release = await api.get(ns, name);
      failures = 0;
    } catch (e) {
      if (e instanceof Error && / not found$/.test(e.message)) {
        err(`error: release ${ns}/${name} was deleted`);
        return EXIT.error;
      }
      if (++failures >= MAX_READ_FAILURES) throw e;
    }
  }
}
