// Closed sets of the delivery metrics (src/metrics/delivery.ts computes them).

/** What a deploy is a deploy of: an application (a Release) or a Deployment guarded by a Canary alone. */
export const DEPLOY_KINDS = { Release: 'Release', Canary: 'Canary' } as const;
export type DeployKind = (typeof DEPLOY_KINDS)[keyof typeof DEPLOY_KINDS];

/** How a finished deploy ended, as counted in deployer_deploys_total{outcome}. */
export const DEPLOY_OUTCOMES = {
  /** Reached every target and stayed. */
  Promoted: 'promoted',
  /** Reached every target, then was returned to the previous revision (a change failure). */
  RolledBack: 'rolled_back',
  /** Stopped before reaching every target (canary caught, rolled back or halted): not a production failure. */
  Caught: 'caught',
  /** Replaced by a newer revision, or its template reverted, before reaching every target. */
  Abandoned: 'abandoned',
  /** Never started changing anything (invalid configuration). */
  Failed: 'failed',
} as const;
export type DeployOutcome = (typeof DEPLOY_OUTCOMES)[keyof typeof DEPLOY_OUTCOMES];

/** Why a promoted deploy counts as a change failure. */
export const CHANGE_FAILURE_CAUSES = {
  /** It was rolled back (or halted) after it reached every target. */
  RolledBack: 'rolled_back',
  /** The next promoted deploy put back what ran before it (V1 → V2 → V1). */
  RedeployedPrevious: 'redeployed_previous',
  /** The next deploy started within the fix-forward window after its promotion. */
  FixForward: 'fix_forward',
} as const;
export type ChangeFailureCause = (typeof CHANGE_FAILURE_CAUSES)[keyof typeof CHANGE_FAILURE_CAUSES];

/** Default fix-forward window: a new deploy started less than this after a promotion marks that promotion failed. */
export const DEFAULT_FIX_FORWARD_WINDOW_MS = 60 * 60_000;
/** Window of the deploys-per-week and change-failure-rate gauges on /metrics. */
export const GAUGE_WINDOW_MS = 30 * 24 * 3600_000;
