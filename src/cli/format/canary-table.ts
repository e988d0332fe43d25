// The table of `depctl get`.
import type { Canary } from '../../api/types.js';
import { ageSince } from './age.js';
import { renderTable, truncate } from './table.js';
import { terminalSafeDeep } from '../terminal.js';

export const MESSAGE_WIDTH = 60;

/** Columns as kubectl's printer columns for the CRD, plus NAMESPACE with -A. */
export function renderCanaryTable(unsafe: readonly Canary[], opts: { now: number; allNamespaces: boolean }): string {
  const canaries = terminalSafeDeep(unsafe);
  const headers = ['NAME', 'TARGET', 'PHASE', 'WEIGHT', 'STEP', 'MESSAGE', 'AGE'];
  if (opts.allNamespaces) headers.unshift('NAMESPACE');
  const rows = canaries.map((c) => {
    const st = c.status ?? {};
    const row = [
      c.metadata.name,
      c.spec?.targetRef?.name ?? '',
      st.phase ?? '',
      st.canaryWeight !== undefined ? String(st.canaryWeight) : '',
      st.stepProgress ?? '',
      truncate(st.message ?? '', MESSAGE_WIDTH),
      ageSince(c.metadata.creationTimestamp, opts.now),
    ];
    if (opts.allNamespaces) row.unshift(c.metadata.namespace);
    return row;
  });
  return renderTable(headers, rows);
}
