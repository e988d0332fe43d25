// The webhook check: one HTTP request per measurement; the answer's status decides.
import { formatDuration } from '../duration.js';
import { isAbort, networkFailure, redactValues, sendHttp } from '../http.js';
import { secretsFingerprint } from '../prometheus/provider.js';
import { secretsOf } from '../prometheus/client.js';
import type { CheckProvider, Observation, ResolvedWebhookCheck } from '../provider.js';
import { excerpt } from '../text.js';
import { judgeWebhook, MAX_BODY_EXCERPT } from './judge.js';

/** Bytes of a webhook's answer read (the measurement keeps MAX_BODY_EXCERPT characters). */
const MAX_WEBHOOK_BYTES = 64 * 1024;

/** The URL without its query and fragment, which may carry tokens: what status and logs show. */
export function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return 'an invalid URL';
  }
}

export const webhookProvider: CheckProvider<ResolvedWebhookCheck> = {
  callKey: (check, secrets) => JSON.stringify(['webhook', check.method, check.url, check.body ?? null, secretsFingerprint(secrets)]),
  timeoutMs: (check) => check.timeoutMs,
  async fetch(check, secrets, ctx): Promise<Observation> {
    const url = displayUrl(check.url);
    const started = ctx.now();
    const hidden = secretsOf(secrets);
    const error = (message: string): Observation => ({ kind: 'error', takenAt: ctx.now(), message: redactValues(message, hidden), url });
    const headers: Record<string, string> = { ...(check.body !== undefined ? { 'content-type': 'application/json' } : {}), ...secrets?.headers };
    try {
      const res = await sendHttp({
        url: check.url,
        method: check.method,
        headers,
        ...(check.body !== undefined ? { body: check.body } : {}),
        signal: ctx.signal,
        maxBytes: MAX_WEBHOOK_BYTES,
      });
      const body = excerpt(redactValues(res.body, hidden), MAX_BODY_EXCERPT);
      return { kind: 'http', takenAt: ctx.now(), status: res.status, body, durationMs: ctx.now() - started, url };
    } catch (err) {
      if (isAbort(err)) return error(`${check.method} ${url}: no answer within ${formatDuration(ctx.timeoutMs)}`);
      return error(`${check.method} ${url}: ${excerpt(networkFailure(err))}`);
    }
  },
  judge: judgeWebhook,
};
