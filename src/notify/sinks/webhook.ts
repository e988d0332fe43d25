// A generic JSON webhook: the versioned payload as the body, the event id in a header, and,
// with a signing secret, an HMAC-SHA256 of the raw body (X-Deployer-Signature: sha256=<hex>).
import type { WebhookSinkSpec } from '../../api/notification-types.js';
import { EVENT_ID_HEADER, SIGNATURE_HEADER, signature } from '../payload.js';
import { httpFailure, post } from './http.js';
import type { SinkContext, SinkResult } from './sink.js';

export const WEBHOOK_KEYS = { url: 'url', signingKey: 'secret' } as const;

export async function webhookSink(spec: WebhookSinkSpec, ctx: SinkContext): Promise<SinkResult> {
  const url = await ctx.secrets(spec.urlSecretRef, WEBHOOK_KEYS.url);
  if (!url.ok) return url;
  if (!/^https?:\/\//.test(url.value)) return { ok: false, error: `Secret ${spec.urlSecretRef.name} key ${spec.urlSecretRef.key ?? WEBHOOK_KEYS.url} is not an http(s) URL` };
  let key: string | undefined;
  if (spec.signingSecretRef) {
    const k = await ctx.secrets(spec.signingSecretRef, WEBHOOK_KEYS.signingKey);
    if (!k.ok) return k;
    key = k.value;
  }
  const secrets = [url.value, ...(key ? [key] : [])];
  return {
    ok: true,
    sink: {
      kind: 'webhook',
      send: async (m, signal) => {
        const body = JSON.stringify(m.payload);
        const headers: Record<string, string> = {
          'Content-Type': 'application/json',
          'User-Agent': 'deployer',
          [EVENT_ID_HEADER]: m.payload.eventId,
          ...(key ? { [SIGNATURE_HEADER]: signature(key, body) } : {}),
        };
        const r = await post({ url: url.value, body, headers, signal, secrets });
        if ('ok' in r) return r;
        if (r.status >= 200 && r.status < 300) return { ok: true };
        return httpFailure(r.status, r.text, r.retryAfter, secrets);
      },
    },
  };
}
