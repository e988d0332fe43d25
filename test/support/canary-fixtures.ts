// Shared fixtures of the Canary's decide() tables: a monitor check and the observed Deployment.
import type { ResolvedCheck } from '../../src/analysis/provider.js';
import type { ObservedDeployment } from '../../src/canary/decide.js';

/** The stable revision of the fixtures. */
export const STABLE_REVISION = 'aaaaaaaaaa';

export const CHECK: ResolvedCheck = {
  kind: 'datadogMonitor',
  name: 'errors',
  monitor: { id: 1 },
  group: 'version:1.1.0',
  verdicts: { OK: 'Pass', Alert: 'Fail', Warn: 'Inconclusive', 'No Data': 'Inconclusive', Skipped: 'Inconclusive', Ignored: 'Inconclusive', Unknown: 'Inconclusive' },
  intervalMs: 30_000,
};

/** Deployment checkout, 9 replicas, running STABLE_REVISION (1.0.0) everywhere, guarded, not held. */
export function dep(over: Partial<ObservedDeployment> = {}): ObservedDeployment {
  return {
    name: 'checkout',
    uid: 'uid-1',
    strategy: 'RollingUpdate',
    updatedReplicas: 9,
    generationObserved: true,
    revision: STABLE_REVISION,
    version: '1.0.0',
    paused: false,
    replicas: 9,
    guardLabel: 'checkout',
    stableAnnotation: STABLE_REVISION,
    heldByUs: false,
    rolloutComplete: true,
    rolloutMessage: '9/9 updated, 9/9 available',
    stableTemplateKnown: true,
    ...over,
  };
}
