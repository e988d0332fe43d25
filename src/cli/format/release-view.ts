// Release views for `depctl get releases`, `depctl status release/NAME` and `depctl history`. Pure.
import type { Release, ReleaseRecord, TargetStatus } from '../../api/release-types.js';
import type { Condition } from '../../api/types.js';
import { EXIT, type ExitCode } from '../errors.js';
import { terminalSafeDeep } from '../terminal.js';
import { ageSince, formatAge } from './age.js';
import type { Outcome } from './phase.js';
import { renderTable, truncate } from './table.js';

export const MESSAGE_WIDTH = 60;
const LABEL_WIDTH = 13;
const field = (label: string, value: string): string => `${`${label}:`.padEnd(LABEL_WIDTH)}${value}`;
const indent = (text: string): string[] => text.split('\n').map((l) => `  ${l}`);
const shortSha = (rev: string | undefined): string => (rev ? rev.slice(0, 12) : '');

/** "3/5" from status.targetsDone, else counted from the targets. */
function targetsDone(r: Release): string {
  const st = r.status;
  if (st?.targetsDone) return st.targetsDone;
  const targets = st?.targets ?? [];
  if (!targets.length) return '';
  const done = targets.filter((t) => t.phase === 'Promoted' || t.phase === 'Unchanged').length;
  return `${done}/${targets.length}`;
}

/** `depctl get releases`: the CRD's printer columns, plus NAMESPACE with -A. */
export function renderReleaseTable(unsafe: readonly Release[], opts: { now: number; allNamespaces: boolean }): string {
  const releases = terminalSafeDeep(unsafe);
  const headers = ['NAME', 'VERSION', 'PHASE', 'TARGETS', 'MESSAGE', 'AGE'];
  if (opts.allNamespaces) headers.unshift('NAMESPACE');
  const rows = releases.map((r) => {
    const row = [r.metadata.name, r.spec?.version ?? '', r.status?.phase ?? '', targetsDone(r), truncate(r.status?.message ?? '', MESSAGE_WIDTH), ageSince(r.metadata.creationTimestamp, opts.now)];
    if (opts.allNamespaces) row.unshift(r.metadata.namespace);
    return row;
  });
  return renderTable(headers, rows);
}

function revisions(t: TargetStatus): string {
  const before = t.revisionBefore ? `${t.revisionBefore}${t.versionBefore ? ` (${t.versionBefore})` : ''}` : '-';
  const after = t.revision ? `${t.revision}${t.version ? ` (${t.version})` : ''}` : '-';
  return `${before} → ${after}`;
}

/** The targets table: one row per target, in the order of their groups. */
export function renderTargets(targets: readonly TargetStatus[], width = 120): string {
  const rows = [...targets]
    .sort((a, b) => a.group - b.group)
    .map((t) => [t.deployment, String(t.group + 1), t.phase, t.canary ?? '-', revisions(t), truncate(t.canaryResult ?? t.message ?? '', Math.max(20, width - 90))]);
  return renderTable(['DEPLOYMENT', 'GROUP', 'PHASE', 'CANARY', 'REVISION (BEFORE → AFTER)', 'RESULT'], rows);
}

function renderConditions(conditions: Condition[], now: number, width: number): string[] {
  const rows = conditions.map((c) => [c.type, c.status, c.reason ?? '', ageSince(c.lastTransitionTime, now), truncate(c.message ?? '', Math.max(20, width - 60))]);
  return indent(renderTable(['TYPE', 'STATUS', 'REASON', 'AGE', 'MESSAGE'], rows));
}

/** The full view of one Release (no trailing newline). */
export function renderReleaseStatus(unsafe: Release, opts: { now: number; width?: number }): string {
  const r = terminalSafeDeep(unsafe);
  const st = r.status ?? {};
  const width = opts.width ?? 120;
  const lines: string[] = [];
  lines.push(field('Release', `${r.metadata.namespace}/${r.metadata.name}`));
  const releasing = st.version && st.version !== r.spec?.version ? `  (status is about version ${st.version})` : '';
  lines.push(field('Version', `${r.spec?.version ?? '-'}${releasing}`));
  lines.push(field('Phase', st.phase ?? 'Unknown (no status yet: is the controller running?)'));
  if (st.message) lines.push(field('Message', st.message));
  const groups = r.spec?.order?.length ?? 1;
  if (st.currentGroup !== undefined) lines.push(field('Group', `${Math.min(st.currentGroup + 1, groups)}/${groups}`));
  lines.push(field('Targets', `${targetsDone(r) || '-'} done; failure policy ${r.spec?.failurePolicy ?? 'RollbackAll'}`));
  const src = r.spec?.source;
  if (src?.revision || src?.repository) {
    const parts = [src.repository, src.revision ? `commit ${shortSha(src.revision)}` : undefined, src.author ? `by ${src.author}` : undefined, src.linesChanged !== undefined ? `${src.linesChanged} lines changed` : undefined];
    lines.push(field('Source', parts.filter(Boolean).join(', ')));
  }
  if (st.startedAt) lines.push(field('Started', `${ageSince(st.startedAt, opts.now)} ago${st.finishedAt ? `, finished ${ageSince(st.finishedAt, opts.now)} ago` : ''}`));
  if (st.failedTarget || st.failureReason) lines.push(field('Failed', `${st.failedTarget ? `target ${st.failedTarget}` : ''}${st.failedTarget && st.failureReason ? ': ' : ''}${st.failureReason ?? ''}`));
  lines.push('', 'Targets:');
  lines.push(...(st.targets?.length ? indent(renderTargets(st.targets, width)) : (r.spec?.targets ?? []).map((t) => `  ${t.deployment} (not started)`)));
  if (st.checks?.length) {
    lines.push('', 'Post-release checks:');
    for (const c of st.checks) {
      const last = c.measurements?.at(-1);
      lines.push(`  ${c.name}: ${last ? `${last.verdict}${last.value !== undefined ? ` value ${last.value}` : ''}${last.threshold ? ` threshold ${last.threshold}` : ''}` : 'no measurement yet'}`);
    }
  }
  if (st.conditions?.length) lines.push('', 'Conditions:', ...renderConditions(st.conditions, opts.now, width));
  return lines.join('\n');
}

function duration(start: string | undefined, end: string | undefined): string {
  if (!start || !end) return '-';
  const ms = Date.parse(end) - Date.parse(start);
  return Number.isNaN(ms) ? '-' : formatAge(ms);
}

/** `depctl history NAME`: status.history, newest first. */
export function renderReleaseHistory(records: readonly ReleaseRecord[], opts: { now: number; width?: number }): string {
  const safe = terminalSafeDeep(records);
  const width = opts.width ?? 120;
  const rows = safe.map((h) => [
    String(h.generation),
    h.version,
    h.outcome,
    h.startedAt ? `${ageSince(h.startedAt, opts.now)} ago` : '-',
    duration(h.startedAt, h.finishedAt),
    shortSha(h.source?.revision) || '-',
    h.source?.linesChanged !== undefined ? String(h.source.linesChanged) : '-',
    h.failedTarget ?? '-',
    truncate(h.reason ?? h.message ?? '', Math.max(20, width - 100)),
  ]);
  return renderTable(['GENERATION', 'VERSION', 'OUTCOME', 'STARTED', 'DURATION', 'COMMIT', 'LINES', 'FAILED TARGET', 'REASON'], rows);
}

/**
 * Whether the Release has settled for its current spec: Succeeded (0); RolledBack, Failed or
 * Halted (1). A status about an older generation (the controller has not taken up the spec, or
 * Superseded) is still moving.
 */
export function assessReleaseOutcome(r: Pick<Release, 'metadata' | 'status'>): Outcome {
  const st = r.status;
  if (!st?.phase) return { done: false };
  const generation = r.metadata.generation;
  if (generation !== undefined) {
    if (st.observedGeneration !== undefined && st.observedGeneration < generation) return { done: false };
    if (st.releaseGeneration !== undefined && st.releaseGeneration < generation) return { done: false };
  }
  switch (st.phase) {
    case 'Succeeded':
      return { done: true, exitCode: EXIT.ok, reason: 'succeeded' };
    case 'RolledBack':
      return { done: true, exitCode: EXIT.failed, reason: 'rolled back' };
    case 'Failed':
      return { done: true, exitCode: EXIT.failed, reason: 'failed' };
    case 'Halted':
      return { done: true, exitCode: EXIT.failed, reason: 'halted' };
    default:
      return { done: false };
  }
}

/** Exit code of a one-shot `status release/NAME`: 1 when it rolled back, failed or halted, else 0. */
export function releaseExitCode(phase: string | undefined): ExitCode {
  return phase === 'RolledBack' || phase === 'Failed' || phase === 'Halted' ? EXIT.failed : EXIT.ok;
}
