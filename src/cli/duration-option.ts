// --timeout values.
import { parseDuration } from '../analysis/duration.js';
import { CliError } from './errors.js';

/** Parses a --timeout such as 30s or 10m; 0 means no timeout. A usage error otherwise. */
export function parseTimeout(text: string | undefined, flag = '--timeout'): number | undefined {
  if (text === undefined) return undefined;
  const ms = parseDuration(text);
  if (ms === undefined) throw new CliError(`${flag} must be a duration such as 30s, 5m or 1h, got "${text}"`);
  return ms === 0 ? undefined : ms;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
