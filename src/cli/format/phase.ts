// What a phase means for scripts: exit codes and when `status --watch` stops.
import { CONDITIONS } from '../../api/constants.js';
import type { Canary } from '../../api/types.js';
import { EXIT, type ExitCode } from '../errors.js';

export type Outcome = { done: false } | { done: true; exitCode: ExitCode; reason: string };

/**
 * Whether the canary has settled for the revision the controller is looking at.
 * Settled: Succeeded (0); RolledBack or Failed (1); Waiting with Ready=True, i.e. guarding a verified
 * revision with nothing in flight (0). Everything else (no status yet, Initializing, Progressing,
 * Paused, Promoting, Waiting while not Ready) is still moving. A status older than the spec
 * (status.observedGeneration < metadata.generation) is never settled.
 */
export function assessOutcome(canary: Pick<Canary, 'metadata' | 'status'>, targetRevision?: string): Outcome {
  const status = canary.status;
  const phase = status?.phase;
  if (!status || !phase) return { done: false };
  const generation = canary.metadata.generation;
  if (generation !== undefined && status.observedGeneration !== undefined && status.observedGeneration < generation) {
    return { done: false };
  }
  // A status about an older template than the Deployment's (the controller has not seen the new
  // revision yet) is not settled: `kubectl set image … && depctl status --watch` waits for it.
  if (targetRevision !== undefined && phase !== 'Failed') {
    const about = phase === 'RolledBack' ? status.failedRevision : status.stableRevision;
    if (about !== undefined && about !== targetRevision) return { done: false };
  }
  switch (phase) {
    case 'Succeeded':
      return { done: true, exitCode: EXIT.ok, reason: 'succeeded' };
    case 'RolledBack':
      return { done: true, exitCode: EXIT.failed, reason: 'rolled back' };
    case 'Failed':
      return { done: true, exitCode: EXIT.failed, reason: 'failed' };
    case 'Waiting': {
      const ready = status.conditions?.find((c) => c.type === CONDITIONS.Ready);
      return ready?.status === 'True' ? { done: true, exitCode: EXIT.ok, reason: 'nothing to do' } : { done: false };
    }
    default:
      return { done: false };
  }
}

/** Exit code of a one-shot `status`: 1 when the canary rolled back or failed, else 0. */
export function exitCodeForPhase(phase: string | undefined): ExitCode {
  return phase === 'RolledBack' || phase === 'Failed' ? EXIT.failed : EXIT.ok;
}
