// `depctl history canary/NAME`: a Canary's status.history as a table. Pure.
import type { CanaryRecord } from '../../api/types.js';
import { terminalSafeDeep } from '../terminal.js';
import { ageSince, formatAge } from './age.js';
import { renderTable, truncate } from './table.js';

function duration(start: string, end: string): string {
  const ms = Date.parse(end) - Date.parse(start);
  return Number.isNaN(ms) ? '-' : formatAge(ms);
}

/** Newest first: revision, version, outcome, the reason that ended it, when, how long, the Release, the result. */
export function renderCanaryHistory(records: readonly CanaryRecord[], opts: { now: number; width?: number }): string {
  const width = opts.width ?? 120;
  const rows = terminalSafeDeep(records).map((r) => [
    r.revision,
    r.version ?? '-',
    r.outcome,
    r.reason ?? '-',
    `${ageSince(r.startedAt, opts.now)} ago`,
    duration(r.startedAt, r.finishedAt),
    r.release ?? '-',
    truncate(r.result ?? '', Math.max(40, width - 80)),
  ]);
  return renderTable(['REVISION', 'VERSION', 'OUTCOME', 'REASON', 'STARTED', 'DURATION', 'RELEASE', 'RESULT'], rows);
}
