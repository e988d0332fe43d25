// The calls to Datadog DORA Metrics, through @datadog/datadog-api-client's v2 DORAMetricsApi.
// Loaded on first use (the client is large). Remote failures are data: send() never throws.
import type * as CommonModule from '@datadog/datadog-api-client/dist/packages/datadog-api-client-common/index.js';
import type * as DoraModule from '@datadog/datadog-api-client/dist/packages/datadog-api-client-v2/apis/DORAMetricsApi.js';
import { apiBaseUrl, boundedFetch, credentialFingerprint, loadDatadogModules } from '../analysis/datadog/client.js';
import type { DatadogCredentials } from '../analysis/provider.js';
import type { DoraChangeFailureAttributes, DoraDeploymentAttributes } from './dora-payload.js';

export type DoraCall =
  | { type: 'Deployment'; attributes: DoraDeploymentAttributes }
  | { type: 'ChangeFailure'; deploymentId: string; attributes: DoraChangeFailureAttributes };

export type DoraCallResult = { ok: true; status?: number } | { ok: false; status?: number; message: string; retryable: boolean };

export interface DoraClient {
  send(call: DoraCall, credentials: DatadogCredentials, signal: AbortSignal): Promise<DoraCallResult>;
}

const apis = new Map<string, { api: DoraModule.DORAMetricsApi; configuration: CommonModule.Configuration }>();
let doraModule: Promise<typeof DoraModule> | undefined;

async function apiFor(credentials: DatadogCredentials): Promise<{ api: DoraModule.DORAMetricsApi; configuration: CommonModule.Configuration }> {
  const fp = credentialFingerprint(credentials);
  const hit = apis.get(fp);
  if (hit) return hit;
  const { client } = await loadDatadogModules();
  doraModule ??= import('@datadog/datadog-api-client/dist/packages/datadog-api-client-v2/apis/DORAMetricsApi.js');
  const { DORAMetricsApi } = await doraModule;
  const configuration = client.createConfiguration({
    // Both keys always, so DD_API_KEY / DD_APP_KEY in the environment never fill in.
    authMethods: { apiKeyAuth: credentials.apiKey, appKeyAuth: credentials.appKey },
    fetch: boundedFetch as typeof globalThis.fetch,
    // Retries are ours (the sender backs off and keeps the call); the library's would sleep inside a call.
    enableRetry: false,
    httpConfig: { compress: false },
    ...(credentials.url ? { baseServer: new client.BaseServerConfiguration(apiBaseUrl(credentials), {}) } : {}),
  });
  if (!credentials.url) configuration.setServerVariables({ site: credentials.site ?? 'datadoghq.com' });
  const entry = { api: new DORAMetricsApi(configuration), configuration };
  apis.set(fp, entry);
  if (apis.size > 64) apis.delete(apis.keys().next().value as string);
  return entry;
}

/** The real client. */
export const datadogDoraClient: DoraClient = {
  async send(call, credentials, signal): Promise<DoraCallResult> {
    try {
      const { api, configuration } = await apiFor(credentials);
      const options = Object.create(configuration, { httpConfig: { value: { compress: false, signal }, enumerable: true } }) as CommonModule.Configuration;
      if (call.type === 'Deployment') {
        await api.createDORADeployment({ body: { data: { attributes: call.attributes } } }, options);
      } else {
        await api.patchDORADeployment(
          { deploymentId: call.deploymentId, body: { data: { id: call.deploymentId, type: 'dora_deployment_patch_request', attributes: call.attributes } } },
          options,
        );
      }
      return { ok: true };
    } catch (err) {
      const code = (err as { code?: unknown })?.code;
      const status = typeof code === 'number' && code >= 100 ? code : undefined;
      // Never the keys: the message of an ApiException is the HTTP status and body.
      const message = status ? `HTTP ${status}` : `no answer: ${signal.aborted ? 'timed out' : ((err as Error)?.message ?? String(err)).slice(0, 200)}`;
      return { ok: false, ...(status ? { status } : {}), message, retryable: status === undefined || status === 429 || status >= 500 };
    }
  },
};
