// The stand-in's side of Datadog's Webhooks integration: when a monitor (or a group of it)
// changes state, it posts the webhook's payload template with Datadog's variables filled in and
// the webhook's custom headers, as Datadog does for a monitor whose message mentions it.
import https from 'node:https';
import http from 'node:http';

export interface StandInWebhook {
  /** Where the notification goes (https or http). */
  url: string;
  /** The custom headers, e.g. { "X-Deployer-Token": "…" }. */
  headers?: Record<string, string>;
  /** The payload template; $ID, $ALERT_ID, $ALERT_TRANSITION, $ALERT_SCOPE, $DATE, … are filled in. */
  payload: string;
  /** CA to trust for an https url (default: accept any certificate, as for a test endpoint). */
  caPem?: string;
  /** Which transitions are posted; default Triggered and Recovered. */
  transitions?: string[];
}

export interface WebhookDelivery {
  monitorId: number;
  transition: string;
  scope: string;
  /** When the request was sent and answered (ms since epoch). */
  sentAt: number;
  answeredAt?: number;
  status?: number;
  /** The answer's body (first 2 KiB). */
  answer?: string;
  error?: string;
  body: string;
  headers: Record<string, string>;
}

/** Datadog's variables in a notification. */
export interface NotificationVariables {
  ID: string;
  ALERT_ID: string;
  ALERT_TRANSITION: string;
  ALERT_SCOPE: string;
  DATE: string;
  ALERT_CYCLE_KEY: string;
  ALERT_TITLE: string;
  ALERT_TYPE: string;
  [name: string]: string;
}

/** Fills in $VARIABLES (JSON-escaped: they stand inside the template's strings); unknown ones stay as written. */
export function renderPayload(template: string, vars: NotificationVariables): string {
  return template.replace(/\$([A-Z][A-Z_]*)/g, (whole, name: string) => (Object.hasOwn(vars, name) ? JSON.stringify(vars[name]).slice(1, -1) : whole));
}

/** Posts one notification; never throws (the outcome is in the delivery). */
export function deliver(hook: StandInWebhook, delivery: WebhookDelivery): Promise<WebhookDelivery> {
  return new Promise((resolve) => {
    const url = new URL(hook.url);
    const lib = url.protocol === 'https:' ? https : http;
    const req = lib.request(
      url,
      {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'User-Agent': 'Datadog-Webhooks (stand-in)', ...delivery.headers },
        ...(url.protocol === 'https:' ? (hook.caPem ? { ca: hook.caPem } : { rejectUnauthorized: false }) : {}),
        timeout: 15_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ ...delivery, status: res.statusCode ?? 0, answer: Buffer.concat(chunks).toString('utf8').slice(0, 2048), answeredAt: Date.now() }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out after 15 s')));
    req.on('error', (err) => resolve({ ...delivery, error: err.message, answeredAt: Date.now() }));
    req.end(delivery.body);
  });
}
