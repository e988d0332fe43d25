// Slack: an incoming webhook URL (POST {text, blocks}; the answer is "ok"), or a bot token and a
// channel through chat.postMessage, whose messages of one run share a thread: the ts of the
// run's first message is kept in the ledger (status), so the thread survives restarts.
import type { SlackSinkSpec } from '../../api/notification-types.js';
import type { AttemptResult } from '../ledger.js';
import { headline, type NotificationPayload } from '../payload.js';
import { httpFailure, post, redact } from './http.js';
import type { SinkContext, SinkMessage, SinkResult } from './sink.js';

export const SLACK_KEYS = { url: 'url', token: 'token' } as const;

export async function slackSink(spec: SlackSinkSpec, ctx: SinkContext): Promise<SinkResult> {
  if (spec.webhookSecretRef && !spec.tokenSecretRef) {
    const url = await ctx.secrets(spec.webhookSecretRef, SLACK_KEYS.url);
    if (!url.ok) return url;
    if (!/^https?:\/\//.test(url.value)) return { ok: false, error: `Secret ${spec.webhookSecretRef.name} key ${spec.webhookSecretRef.key ?? SLACK_KEYS.url} is not an http(s) URL` };
    return {
      ok: true,
      sink: {
        kind: 'slack',
        send: async (m, signal) => {
          const secrets = [url.value];
          const r = await post({ url: url.value, body: JSON.stringify(slackMessage(m.payload)), headers: { 'Content-Type': 'application/json' }, signal, secrets });
          if ('ok' in r) return r;
          if (r.status >= 200 && r.status < 300) return { ok: true };
          return httpFailure(r.status, r.text, r.retryAfter, secrets);
        },
      },
    };
  }
  if (spec.tokenSecretRef && spec.channel && !spec.webhookSecretRef) {
    const token = await ctx.secrets(spec.tokenSecretRef, SLACK_KEYS.token);
    if (!token.ok) return token;
    const channel = spec.channel;
    const endpoint = `${ctx.slackApiUrl.replace(/\/+$/, '')}/chat.postMessage`;
    return {
      ok: true,
      sink: {
        kind: 'slack',
        send: async (m, signal): Promise<AttemptResult> => {
          const secrets = [token.value];
          const body = { channel, ...slackMessage(m.payload), ...(m.threadTs ? { thread_ts: m.threadTs } : {}) };
          const r = await post({
            url: endpoint,
            body: JSON.stringify(body),
            headers: { 'Content-Type': 'application/json; charset=utf-8', Authorization: `Bearer ${token.value}` },
            signal,
            secrets,
          });
          if ('ok' in r) return r;
          if (r.status < 200 || r.status >= 300) return httpFailure(r.status, r.text, r.retryAfter, secrets);
          let answer: { ok?: boolean; ts?: string; error?: string };
          try {
            answer = JSON.parse(r.text) as typeof answer;
          } catch {
            return { ok: false, error: 'chat.postMessage answered with a body that is not JSON' };
          }
          if (answer.ok !== true) return { ok: false, error: redact(`chat.postMessage: ${answer.error ?? 'not ok'}`, secrets) };
          // Later messages of the run reply in the thread of its first one.
          return { ok: true, ...(m.threadTs ? { threadTs: m.threadTs } : answer.ts ? { threadTs: answer.ts } : {}) };
        },
      },
    };
  }
  return { ok: false, error: 'slack needs webhookSecretRef, or tokenSecretRef and channel' };
}

/** Text plus a context line with the event id (receivers and people can tell duplicates). */
export function slackMessage(p: NotificationPayload): { text: string; blocks: unknown[] } {
  const text = `${headline(p)}\n${p.transition.message}`;
  const revs = p.revisions.to ? `revision ${p.revisions.to}${p.revisions.from ? ` (was ${p.revisions.from})` : ''} · ` : '';
  return {
    text,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: `*${escapeMrkdwn(headline(p))}*\n${escapeMrkdwn(p.transition.message)}` } },
      ...(p.links.length ? [{ type: 'section', text: { type: 'mrkdwn', text: p.links.map((l) => `<${l.url}|${escapeMrkdwn(l.title)}>`).join(' · ') } }] : []),
      { type: 'context', elements: [{ type: 'mrkdwn', text: `${revs}event ${p.eventId}` }] },
    ],
  };
}

function escapeMrkdwn(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export type { SinkMessage };
