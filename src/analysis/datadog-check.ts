// Which checks are judged through Datadog's API (its credentials, call budget and rate limits).
// Kept apart from provider.ts, which holds types only (the CLI compiles it but never loads it).
import type { DatadogCheck, ResolvedCheck } from './provider.js';

/** A compare check reads Datadog unless it names a Prometheus server (then its kind is prometheusCompare). */
export function isDatadogCheck(check: ResolvedCheck): check is DatadogCheck {
  return check.kind === 'datadogMonitor' || check.kind === 'datadogQuery' || check.kind === 'compare';
}
