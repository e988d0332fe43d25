// Datadog credentials for DORA calls: the Secret named by the object's datadog.secretRef, read
// as the Canary's checks read it (same keys, same url policy). Messages never carry the keys.
import { assessDatadogUrl, parseDatadogSecret, type DatadogUrlPolicy } from '../analysis/secret.js';
import { SecretCache } from '../canary/observe.js';
import type { RawClient } from '../kube/raw-client.js';
import type { CredentialsRead } from './dora-sender.js';

export function doraCredentials(client: RawClient, policy: DatadogUrlPolicy): (namespace: string, secretName: string) => Promise<CredentialsRead> {
  const secrets = new SecretCache(client, 30_000);
  return async (namespace, secretName) => {
    const read = await secrets.get(namespace, secretName, Date.now());
    if (read.state === 'NotFound') return { ok: false, message: `Secret "${secretName}" not found` };
    if (read.state === 'Unreadable') return { ok: false, message: `Secret "${secretName}" unreadable: ${read.message}` };
    const parsed = parseDatadogSecret(read.data, secretName);
    if (!parsed.ok) return { ok: false, message: parsed.message };
    if (parsed.credentials.url) {
      const url = assessDatadogUrl(parsed.credentials.url, policy);
      if (!url.ok) return { ok: false, message: `Secret "${secretName}" key url ${url.message}` };
    }
    return { ok: true, credentials: parsed.credentials };
  };
}
