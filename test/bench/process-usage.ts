// Memory and CPU of a process as the kernel counts them (/proc), the same way for the operator
// and for any other controller the benchmarks compare it with (Node.js or Go alike).
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { quantile, sleep } from './stats.js';

let ticksPerSecond: number | undefined;

/** Clock ticks per second of /proc/<pid>/stat (getconf CLK_TCK; 100 on Linux). */
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** Resident set size (VmRSS of /proc/<pid>/status) in MiB, one decimal. */
export function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return Math.round((kb / 1024) * 10) / 10;
}

/** CPU time used so far by the process (all its threads): utime + stime of /proc/<pid>/stat, in seconds. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces and parentheses: fields are counted after its last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(rest[11]); // field 14
  const stime = Number(rest[12]); // field 15
  return (utime + stime) / clockTicks();
}

export interface IdleUsage {
  /** How long it was watched. */
  durationMs: number;
  /** CPU seconds used over the window, scaled to one minute. */
  cpuSecondsPerMinute: number;
  /** RSS sampled during the window (MiB). */
  rssMiB: { median: number; max: number; last: number; samples: number };
}

/**
 * Watches a process while nothing is asked of it: CPU used over the window (scaled to a minute)
 * and its RSS, sampled every sampleMs.
 */
export async function measureIdle(pid: number, durationMs = 60_000, sampleMs = 5_000): Promise<IdleUsage> {
  const cpu0 = cpuSeconds(pid);
  const t0 = performance.now();
  const rss: number[] = [rssMiB(pid)];
  for (;;) {
    const left = durationMs - (performance.now() - t0);
    if (left <= 0) break;
    await sleep(Math.min(sampleMs, left));
    rss.push(rssMiB(pid));
  }
  const elapsed = performance.now() - t0;
  const cpu = cpuSeconds(pid) - cpu0;
  return {
    durationMs: Math.round(elapsed),
    cpuSecondsPerMinute: Math.round((cpu / (elapsed / 60_000)) * 100) / 100,
    rssMiB: { median: quantile(rss, 0.5), max: Math.max(...rss), last: rss[rss.length - 1] ?? NaN, samples: rss.length },
  };
}
