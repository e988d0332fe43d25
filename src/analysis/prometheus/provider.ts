// The prometheusQuery check: one instant query per measurement.
import { createHash } from 'node:crypto';
import type { CheckProvider, CheckSecrets, ResolvedPrometheusCheck } from '../provider.js';
import { queryInstant } from './client.js';
import { judgePrometheus } from './judge.js';

/** A hash of what a check's Secrets hold, so calls with different credentials are never shared. */
export function secretsFingerprint(secrets: CheckSecrets | undefined): string {
  if (!secrets) return '-';
  const canonical = JSON.stringify([secrets.authorization ?? '', secrets.ca ?? '', Object.entries(secrets.headers ?? {}).sort()]);
  return createHash('sha256').update(canonical).digest('hex').slice(0, 16);
}

export const prometheusProvider: CheckProvider<ResolvedPrometheusCheck> = {
  callKey: (check, secrets) => JSON.stringify(['prometheus', check.address, check.query, check.tls?.insecureSkipVerify === true, secretsFingerprint(secrets)]),
  timeoutMs: () => undefined,
  fetch: (check, secrets, ctx) =>
    queryInstant(
      { address: check.address, ...(secrets ? { secrets } : {}), ...(check.tls?.insecureSkipVerify ? { insecureSkipVerify: true } : {}) },
      check.query,
      { signal: ctx.signal, timeoutMs: ctx.timeoutMs, now: ctx.now },
    ),
  judge: judgePrometheus,
};
