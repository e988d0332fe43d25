// Go-style durations ("30s", "1m30s", "1.5h", "500ms") as used in the Canary spec.

const UNIT_MS = {
  ns: 1e-6,
  us: 1e-3,
  'µs': 1e-3,
  'μs': 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
} as const;
type Unit = keyof typeof UNIT_MS;

const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;

/**
 * Parses a Go-style duration into whole milliseconds (rounded).
 * Accepts a sequence of decimal numbers with units ns, us, ms, s, m, h, and a bare "0".
 * Returns undefined for anything else, including negative or signed values.
 */
export function parseDuration(s: string): number | undefined {
  if (typeof s !== 'string') return undefined;
  const text = s.trim();
  if (text === '0') return 0;
  if (text === '') return undefined;
  let total = 0;
  let pos = 0;
  while (pos < text.length) {
    PART.lastIndex = pos;
    const m = PART.exec(text);
    if (!m || m[1] === undefined || m[2] === undefined) return undefined;
    total += Number(m[1]) * UNIT_MS[m[2] as Unit];
    pos = PART.lastIndex;
  }
  if (!Number.isFinite(total)) return undefined;
  return Math.round(total);
}

/** Formats milliseconds compactly in Go style: 90000 -> "1m30s", 500 -> "500ms", 0 -> "0s". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms <= 0) return '0s';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  let rest = Math.round(ms / 1000);
  const h = Math.floor(rest / 3600);
  rest -= h * 3600;
  const m = Math.floor(rest / 60);
  const sec = rest - m * 60;
  return `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${sec || (!h && !m) ? `${sec}s` : ''}`;
}
