// What /readyz answers. Ready once every informer has listed successfully; a standby is Ready
// too (it serves the admission webhook) and says whom it waits for.
import type { Readiness } from './health-server.js';
import type { LeadershipState } from './leadership.js';

export function decideReadiness(unsynced: readonly string[], leadership: LeadershipState): Readiness {
  if (unsynced.length) return { ready: false, message: `not ready: waiting for the first list of ${unsynced.join(', ')}` };
  return { ready: true, message: `ok: ${leadership.message}${leadership.leading ? '' : '; serving the admission webhook, not reconciling'}` };
}
