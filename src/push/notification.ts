// A Datadog monitor notification as the Webhooks integration posts it with the payload template
// in the README: parsed and checked, never trusted beyond naming a monitor.
import { ALERT_TRANSITIONS, type AlertTransition } from '../api/push.js';

export interface PushNotification {
  /** $ALERT_ID: the monitor. */
  monitorId: number;
  /** $ALERT_TRANSITION, e.g. Triggered, Recovered. */
  transition: string;
  /** $ID: the notification's event id (replays and Datadog's retries share it). */
  eventId?: string;
  /** $ALERT_SCOPE: the group that changed, e.g. "version:1.4.2". */
  scope?: string;
  /** $DATE: when the event happened (epoch milliseconds). */
  date?: number;
}

export type ParsedNotification = { ok: true; notification: PushNotification } | { ok: false; message: string };

/** Longest text kept from a field; a notification's fields are short. */
const MAX_FIELD = 512;

/**
 * Parses the JSON body. Accepts the field names of the README's template (monitor_id,
 * transition, event_id, scope, date) and Datadog's own variable names in lower case
 * (alert_id, alert_transition, id, alert_scope), since users paste either.
 */
export function parseNotification(body: string): ParsedNotification {
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch {
    return { ok: false, message: 'the body is not JSON' };
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return { ok: false, message: 'the body is not a JSON object' };
  const o = raw as Record<string, unknown>;
  const monitorRaw = o.monitor_id ?? o.alert_id;
  const monitorId = positiveInteger(monitorRaw);
  if (monitorId === undefined) {
    return { ok: false, message: monitorRaw === undefined ? 'no monitor_id ($ALERT_ID)' : 'monitor_id ($ALERT_ID) is not a monitor id' };
  }
  const transition = text(o.transition ?? o.alert_transition);
  if (!transition) return { ok: false, message: 'no transition ($ALERT_TRANSITION)' };
  const eventId = text(o.event_id ?? o.id);
  const scope = text(o.scope ?? o.alert_scope);
  const date = positiveInteger(o.date);
  return {
    ok: true,
    notification: { monitorId, transition, ...(eventId ? { eventId } : {}), ...(scope ? { scope } : {}), ...(date !== undefined ? { date } : {}) },
  };
}

/** Whether a transition asks for an early measurement: 'hint', 'ignore' (Null), or 'unknown'. */
export function assessTransition(transition: string): 'hint' | 'ignore' | 'unknown' {
  return Object.hasOwn(ALERT_TRANSITIONS, transition) ? ALERT_TRANSITIONS[transition as AlertTransition] : 'unknown';
}

function positiveInteger(v: unknown): number | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\s*\d{1,16}\s*$/.test(v) ? Number(v) : NaN;
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

function text(v: unknown): string | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v !== 'string') return undefined;
  const t = v.trim();
  return t ? t.slice(0, MAX_FIELD) : undefined;
}
