// Datadog DORA Metrics payloads (v2 DORAMetricsApi), built from a deploy. Pure.
// - createDORADeployment on promotion: a deterministic id (the same deploy always has the same id,
//   so a repeated call after a restart or a leader change is the same deployment), times in ns.
// - patchDORADeployment when a promoted deploy turns out to be a change failure: changeFailure and
//   the remediation (rollback or rollforward, with the id of the deployment that remediated it).
import { createHash } from 'node:crypto';
import { CHANGE_FAILURE_CAUSES } from '../api/delivery.js';
import type { DoraSpec } from '../api/types.js';
import type { AssessedDeploy, Deploy } from './delivery.js';

/** Attributes of createDORADeployment, in the client's (camelCase) names. */
export interface DoraDeploymentAttributes {
  id: string;
  service: string;
  env?: string;
  version?: string;
  startedAt: number;
  finishedAt: number;
  git?: { repositoryUrl: string; commitSha: string };
  customTags: string[];
}

/** Attributes of patchDORADeployment. */
export interface DoraChangeFailureAttributes {
  changeFailure: true;
  remediation?: { type: 'rollback' | 'rollforward'; id: string };
}

/**
 * "deployer-" and 32 hex characters of sha256(uid:revision:startedAt), within Datadog's 16–128
 * characters of [A-Za-z0-9-_.:]. The start time tells apart two deploys of the same revision (a
 * Canary's revision is the pod template hash, which comes back when a version is redeployed).
 */
export function doraDeploymentId(d: Pick<Deploy, 'uid' | 'revision' | 'startedAt'>): string {
  return `deployer-${createHash('sha256').update(`${d.uid}:${d.revision}:${new Date(d.startedAt).toISOString()}`).digest('hex').slice(0, 32)}`;
}

/**
 * Milliseconds to nanoseconds at whole seconds: a float holds n × 10^9 exactly (it is a multiple
 * of 2^9) while ms × 10^6 around 2026 is beyond 2^53 and would be rounded on the wire.
 */
export const toNanoseconds = (ms: number): number => Math.floor(ms / 1000) * 1e9;

/** The deployment event of a promoted deploy (undefined when it was never promoted). */
export function doraDeployment(d: Deploy, dora: DoraSpec): DoraDeploymentAttributes | undefined {
  if (d.promotedAt === undefined) return undefined;
  return {
    id: doraDeploymentId(d),
    service: dora.service ?? d.name,
    ...(dora.env ? { env: dora.env } : {}),
    ...(d.version ? { version: d.version } : {}),
    startedAt: toNanoseconds(d.startedAt),
    finishedAt: toNanoseconds(d.promotedAt),
    ...(d.repository && d.commit ? { git: { repositoryUrl: d.repository, commitSha: d.commit } } : {}),
    customTags: [`deployer_kind:${d.kind.toLowerCase()}`, `deployer_namespace:${d.namespace}`, `deployer_name:${d.name}`, `deployer_revision:${d.revision}`],
  };
}

/**
 * What reports a change failure: the patch of the failed deployment, and for a rollback the
 * deployment event of the rollback itself (the previous version, deployed again when the rollback
 * finished), which the patch names as its remediation so Datadog can measure the recovery time.
 * A redeploy of the previous version and a fix forward are deployments already; the patch names them.
 */
export function doraChangeFailure(d: AssessedDeploy, dora: DoraSpec): { rollback?: DoraDeploymentAttributes; patch: DoraChangeFailureAttributes } | undefined {
  if (!d.changeFailure || d.promotedAt === undefined) return undefined;
  if (d.changeFailure === CHANGE_FAILURE_CAUSES.RolledBack) {
    const before = d.remediatedBy;
    const rollback: DoraDeploymentAttributes = {
      id: doraDeploymentId({ uid: d.uid, revision: `${d.revision}-rollback`, startedAt: d.startedAt }),
      service: dora.service ?? d.name,
      ...(dora.env ? { env: dora.env } : {}),
      ...(before?.version ? { version: before.version } : {}),
      startedAt: toNanoseconds(d.finishedAt),
      finishedAt: toNanoseconds(d.finishedAt),
      ...(before?.repository && before.commit ? { git: { repositoryUrl: before.repository, commitSha: before.commit } } : {}),
      customTags: [`deployer_kind:${d.kind.toLowerCase()}`, `deployer_namespace:${d.namespace}`, `deployer_name:${d.name}`, `deployer_rollback_of:${d.revision}`],
    };
    return { rollback, patch: { changeFailure: true, remediation: { type: 'rollback', id: rollback.id } } };
  }
  const type = d.changeFailure === CHANGE_FAILURE_CAUSES.FixForward ? 'rollforward' : 'rollback';
  return { patch: { changeFailure: true, ...(d.remediatedBy ? { remediation: { type, id: doraDeploymentId(d.remediatedBy) } } : {}) } };
}
