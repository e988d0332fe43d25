// A sink: where one notification entry is delivered. One small interface, one file per kind,
// an exhaustive factory. Sends return data (never throw); secrets never leave the sink.
import type { NotificationSpec, SecretKeyRef, SinkKind } from '../../api/notification-types.js';
import { SINK_KINDS } from '../../api/notification-constants.js';
import type { AttemptResult } from '../ledger.js';
import type { NotificationPayload } from '../payload.js';
import { datadogEventsSink } from './datadog-events.js';
import { slackSink } from './slack.js';
import { webhookSink } from './webhook.js';

export interface SinkMessage {
  payload: NotificationPayload;
  /** Slack: the thread of the run, when an earlier message of it was posted. */
  threadTs?: string;
  /** Datadog unified service tags of the target (service, env, version). */
  serviceTags: { service?: string; env?: string; version?: string };
}

export interface Sink {
  readonly kind: SinkKind;
  send(m: SinkMessage, signal: AbortSignal): Promise<AttemptResult>;
}

/** Reads one key of a Secret; the error names the Secret and key, never a value. */
export type SecretReader = (ref: SecretKeyRef, defaultKey: string) => Promise<{ ok: true; value: string } | { ok: false; error: string }>;

export interface SinkContext {
  secrets: SecretReader;
  /** The object's spec.datadog secret (default of datadogEvents.secretRef). */
  datadogSecret?: string;
  /** Reads a Datadog Secret (api-key, site or url) by name. */
  datadog: (secretName: string) => Promise<{ ok: true; apiKey: string; baseUrl: string } | { ok: false; error: string }>;
  /** Slack Web API base URL (default https://slack.com/api). */
  slackApiUrl: string;
}

export type SinkResult = { ok: true; sink: Sink } | { ok: false; error: string };

export function sinkKindOf(spec: NotificationSpec): SinkKind | undefined {
  const kinds = (Object.values(SINK_KINDS) as SinkKind[]).filter((k) => spec[k] !== undefined);
  return kinds.length === 1 ? kinds[0] : undefined;
}

/** The sink of a spec entry, its secrets read. An entry without exactly one kind is a configuration error. */
export async function createSink(spec: NotificationSpec, ctx: SinkContext): Promise<SinkResult> {
  const kind = sinkKindOf(spec);
  if (!kind) return { ok: false, error: `notification ${spec.name} must have exactly one of slack, webhook or datadogEvents` };
  switch (kind) {
    case SINK_KINDS.slack:
      return slackSink(spec.slack ?? {}, ctx);
    case SINK_KINDS.webhook:
      return webhookSink(spec.webhook!, ctx);
    case SINK_KINDS.datadogEvents:
      return datadogEventsSink(spec.datadogEvents ?? {}, ctx);
    default: {
      const never: never = kind;
      return { ok: false, error: `unknown sink kind ${String(never)}` };
    }
  }
}
