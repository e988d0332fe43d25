// Datadog events (POST /api/v1/events): a promotion is an info event (a deploy marker), a
// rollback or a failure an error event, tagged with the target's unified service tags
// (service, env, version) and source:deployer; aggregation_key is the event id.
import type { DatadogEventsSinkSpec, Transition } from '../../api/notification-types.js';
import { EVENT_ID_HEADER, headline } from '../payload.js';
import { httpFailure, post } from './http.js';
import type { SinkContext, SinkMessage, SinkResult } from './sink.js';

export async function datadogEventsSink(spec: DatadogEventsSinkSpec, ctx: SinkContext): Promise<SinkResult> {
  const secretName = spec.secretRef?.name ?? ctx.datadogSecret;
  if (!secretName) return { ok: false, error: 'datadogEvents needs secretRef, or spec.datadog.secretRef' };
  const creds = await ctx.datadog(secretName);
  if (!creds.ok) return creds;
  const endpoint = `${creds.baseUrl}/api/v1/events`;
  return {
    ok: true,
    sink: {
      kind: 'datadogEvents',
      send: async (m, signal) => {
        const secrets = [creds.apiKey];
        const r = await post({
          url: endpoint,
          body: JSON.stringify(datadogEvent(m, spec.tags ?? [])),
          headers: { 'Content-Type': 'application/json', 'DD-API-KEY': creds.apiKey, [EVENT_ID_HEADER]: m.payload.eventId },
          signal,
          secrets,
        });
        if ('ok' in r) return r;
        if (r.status >= 200 && r.status < 300) return { ok: true };
        return httpFailure(r.status, r.text, r.retryAfter, secrets);
      },
    },
  };
}

const ALERT_TYPES: Record<Transition, 'info' | 'error' | 'warning' | 'success'> = {
  Started: 'info',
  Promoted: 'info',
  RolledBack: 'error',
  Failed: 'error',
  HeldForReview: 'warning',
};

/** The v1 event body. */
export function datadogEvent(m: SinkMessage, extraTags: readonly string[]): Record<string, unknown> {
  const p = m.payload;
  const t = m.serviceTags;
  const version = p.version ?? t.version;
  const tags = [
    ...(t.service ? [`service:${t.service}`] : []),
    ...(t.env ? [`env:${t.env}`] : []),
    ...(version ? [`version:${version}`] : []),
    'source:deployer',
    `deployer_transition:${p.transition.name.toLowerCase()}`,
    `kube_namespace:${p.object.namespace}`,
    `${p.object.kind.toLowerCase()}:${p.object.name}`,
    ...(p.transition.name === 'Promoted' ? ['deployment'] : []),
    ...extraTags,
  ];
  return {
    title: headline(p),
    text: `${p.transition.message}\n\nevent ${p.eventId}`,
    alert_type: ALERT_TYPES[p.transition.name],
    source_type_name: 'deployer',
    aggregation_key: p.eventId.slice(0, 100),
    date_happened: Math.floor(Date.parse(p.time) / 1000),
    tags,
  };
}
