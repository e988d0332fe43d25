// Exit codes and the one error type the CLI reports without a stack trace.

/**
 * Exit codes, the same for every command:
 * 0 the request was done, or the canary is fine (Succeeded, or in progress when not watching);
 * 1 the canary rolled back or failed, or validation found problems;
 * 2 usage errors and errors talking to the cluster (not found, forbidden, unreachable);
 * 3 a --timeout or --wait ran out.
 */
export const EXIT = { ok: 0, failed: 1, error: 2, timeout: 3 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error with a message meant for people; printed as "error: <message>". */
export class CliError extends Error {
  readonly exitCode: ExitCode;
  constructor(message: string, exitCode: ExitCode = EXIT.error, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}
