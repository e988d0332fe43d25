// The human view of one Canary for `depctl status`. Pure: the same input gives the same text.
import { DEFAULTS } from '../../api/constants.js';
import type { Canary, CheckStatus, Condition, Measurement } from '../../api/types.js';
import { ageSince } from './age.js';
import { progressBar, renderSteps } from './progress.js';
import { renderTable, truncate } from './table.js';
import { terminalSafeDeep } from '../terminal.js';

export interface StatusEvent {
  type?: string;
  reason?: string;
  message?: string;
  count?: number;
  /** When it last happened (RFC 3339). */
  time?: string;
}

export interface StatusViewOptions {
  /** Current time in ms, for ages. */
  now: number;
  /** Events about the Canary, oldest first. */
  events?: StatusEvent[];
  /** Terminal width for truncating messages; default 120. */
  width?: number;
  ascii?: boolean;
}

const LABEL_WIDTH = 13;
const field = (label: string, value: string): string => `${`${label}:`.padEnd(LABEL_WIDTH)}${value}`;

function revision(rev: string | undefined, version: string | undefined): string {
  if (!rev && !version) return '-';
  const parts: string[] = [];
  if (rev) parts.push(`revision ${rev}`);
  if (version) parts.push(`version ${version}`);
  return parts.join(', ');
}

function describeMeasurement(m: Measurement, now: number): string {
  const parts: string[] = [m.verdict];
  if (m.value !== undefined) parts.push(`value ${m.value}`);
  if (m.threshold !== undefined) parts.push(`threshold ${m.threshold}`);
  parts.push(`${ageSince(m.time, now)} ago`);
  return parts.join('  ');
}

function renderCheck(name: string, check: CheckStatus | undefined, limits: { failure: number; errors: number }, opts: StatusViewOptions): string[] {
  const latest = check?.measurements?.at(-1);
  const lines = [`  ${name}: ${latest ? describeMeasurement(latest, opts.now) : 'no measurement yet'}`];
  if (latest?.message) lines.push(`      ${truncate(latest.message, (opts.width ?? 120) - 6)}`);
  if (latest?.url) lines.push(`      ${latest.url}`);
  if (check) {
    lines.push(
      `      failures ${check.failures ?? 0}/${limits.failure} tolerated, consecutive errors ${check.consecutiveErrors ?? 0}/${limits.errors}, ` +
        `passes ${check.passes ?? 0}, inconclusive ${check.inconclusive ?? 0}, errors ${check.errors ?? 0}`,
    );
  }
  return lines;
}

function renderConditions(conditions: Condition[], opts: StatusViewOptions): string[] {
  const width = opts.width ?? 120;
  const rows = conditions.map((c) => [c.type, c.status, c.reason ?? '', ageSince(c.lastTransitionTime, opts.now), truncate(c.message ?? '', Math.max(20, width - 60))]);
  return renderTable(['TYPE', 'STATUS', 'REASON', 'AGE', 'MESSAGE'], rows)
    .split('\n')
    .map((l) => `  ${l}`);
}

function renderEvents(events: StatusEvent[], opts: StatusViewOptions): string[] {
  const width = opts.width ?? 120;
  const rows = events.map((e) => [
    e.time ? ageSince(e.time, opts.now) : '<unknown>',
    e.type ?? '',
    e.reason ?? '',
    truncate(`${e.message ?? ''}${e.count && e.count > 1 ? ` (x${e.count})` : ''}`, Math.max(20, width - 40)),
  ]);
  return renderTable(['LAST SEEN', 'TYPE', 'REASON', 'MESSAGE'], rows)
    .split('\n')
    .map((l) => `  ${l}`);
}

/** The full status block (no trailing newline). */
export function renderStatus(unsafe: Canary, opts: StatusViewOptions): string {
  // Everything shown came from the cluster (and through it from Datadog): no terminal escapes.
  const canary = terminalSafeDeep(unsafe);
  opts = { ...opts, ...(opts.events ? { events: terminalSafeDeep(opts.events) } : {}) };
  const st = canary.status ?? {};
  const spec = canary.spec ?? { targetRef: { name: '' }, steps: [] };
  const steps = Array.isArray(spec.steps) ? spec.steps : [];
  const lines: string[] = [];
  lines.push(field('Canary', `${canary.metadata.namespace}/${canary.metadata.name}`));
  lines.push(field('Target', `Deployment ${spec.targetRef?.name ?? '-'}`));
  lines.push(field('Phase', `${st.phase ?? 'Unknown (no status yet: is the controller running?)'}${spec.paused ? '  (spec.paused: progress is held)' : ''}`));
  if (st.message) lines.push(field('Message', st.message));
  lines.push(field('Stable', revision(st.stableRevision, st.stableVersion)));
  const pods = st.canaryReplicas !== undefined ? `  (${st.canaryReadyReplicas ?? 0}/${st.canaryReplicas} pods ready)` : '';
  lines.push(field('Canary', `${revision(st.canaryRevision, st.canaryVersion)}${st.canaryRevision ? pods : ''}`));
  if (st.canaryRevision && st.baselineReplicas !== undefined && st.baselineReplicas > 0) lines.push(field('Baseline', `${revision(st.stableRevision, st.stableVersion)}  (${st.baselineReadyReplicas ?? 0}/${st.baselineReplicas} pods ready)`));
  if (st.failedRevision) lines.push(field('Failed', `revision ${st.failedRevision} (not tried again until retried)`));
  lines.push(field('Weight', progressBar(st.canaryWeight ?? 0, 20, opts.ascii)));
  if (st.startedAt) lines.push(field('Started', `${ageSince(st.startedAt, opts.now)} ago${st.finishedAt ? `, finished ${ageSince(st.finishedAt, opts.now)} ago` : ''}`));
  if (st.lastResult) lines.push(field('Last result', st.lastResult));

  const finished = st.phase === 'Succeeded' || (st.currentStep !== undefined && st.currentStep >= steps.length);
  lines.push('', `Steps${st.stepProgress ? ` (${st.stepProgress})` : ''}:`);
  lines.push(...(steps.length ? renderSteps(steps, st.currentStep, finished, opts.ascii) : ['  (none)']));

  const checkSpecs = spec.analysis?.checks ?? [];
  const checkStatuses = st.checks ?? [];
  const names = [...checkSpecs.map((c) => c.name), ...checkStatuses.map((c) => c.name).filter((n) => !checkSpecs.some((c) => c.name === n))];
  if (names.length > 0) {
    const limits = {
      failure: spec.analysis?.failureLimit ?? DEFAULTS.failureLimit,
      errors: spec.analysis?.consecutiveErrorLimit ?? DEFAULTS.consecutiveErrorLimit,
    };
    lines.push('', `Checks (every ${spec.analysis?.interval ?? DEFAULTS.interval}):`);
    for (const name of names) lines.push(...renderCheck(name, checkStatuses.find((c) => c.name === name), limits, opts));
  }

  if (st.conditions?.length) lines.push('', 'Conditions:', ...renderConditions(st.conditions, opts));
  const events = opts.events ?? [];
  lines.push('', 'Events:', ...(events.length ? renderEvents(events, opts) : ['  <none>']));
  return lines.join('\n');
}
