// The provider of each check kind. Datadog checks go through the runner's Datadog path (its
// credentials, call budget and rate limits); every other kind has a CheckProvider.
import type { CheckProvider, DatadogCheck, ResolvedCheck } from './provider.js';
import { prometheusCompareProvider } from './prometheus/compare-provider.js';
import { prometheusProvider } from './prometheus/provider.js';
import { webhookProvider } from './webhook/provider.js';

export type ProviderChoice = { kind: 'datadog'; check: DatadogCheck } | { kind: 'provider'; provider: CheckProvider; check: ResolvedCheck };

/** Which provider measures the check. Exhaustive: a new check kind does not compile until it has one. */
export function checkProvider(check: ResolvedCheck): ProviderChoice {
  switch (check.kind) {
    case 'datadogMonitor':
    case 'datadogQuery':
    case 'compare':
      return { kind: 'datadog', check };
    case 'prometheusQuery':
      return { kind: 'provider', provider: prometheusProvider as CheckProvider, check };
    case 'webhook':
      return { kind: 'provider', provider: webhookProvider as CheckProvider, check };
    case 'prometheusCompare':
      return { kind: 'provider', provider: prometheusCompareProvider as CheckProvider, check };
    default: {
      const never: never = check;
      throw new Error(`no provider for check kind ${JSON.stringify(never)}`);
    }
  }
}
