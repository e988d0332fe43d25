// Helpers shared by the benchmarks: quantiles of a sample, and polling until a condition holds.

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The q-quantile of xs (linear interpolation between the closest ranks); NaN for no values. */
export function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const i = (s.length - 1) * q;
  const lo = Math.floor(i);
  const hi = Math.ceil(i);
  return s[lo]! + (s[hi]! - s[lo]!) * (i - lo);
}

/** Polls fn until it returns a value; throws after timeoutMs. */
export async function waitUntil<T>(fn: () => Promise<T | undefined>, timeoutMs = 60_000, intervalMs = 5): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('timed out');
    await sleep(intervalMs);
  }
}
