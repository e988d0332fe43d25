// Text from the cluster (status messages, monitor names from Datadog, Event messages) is printed to
// a terminal: control characters could move the cursor, rewrite the screen or set the window title.

/**
 * Removes terminal escape sequences (CSI, OSC and other ESC sequences), control characters
 * (C0, DEL, C1) and format characters such as bidirectional overrides. Line breaks and tabs
 * become spaces, so one field stays on one line.
 */
export function terminalSafe(text: string): string {
  return text
    .replace(/\x1b\[[0-?]*[ -/]*[@-~]/g, '')
    .replace(/\x1b\][^\x07\x1b]*(\x07|\x1b\\)?/g, '')
    .replace(/\x1b[@-_]/g, '')
    .replace(/[\t\n\r\v\f]/g, ' ')
    .replace(/[\p{Cc}\p{Cf}]/gu, '');
}

/** A copy of a value read from the cluster with every string (keys included) made terminal-safe. */
export function terminalSafeDeep<T>(value: T): T {
  return clean(value, 0) as T;
}

function clean(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return terminalSafe(value);
  if (depth > 64 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => clean(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[terminalSafe(k)] = clean(v, depth + 1);
  return out;
}
