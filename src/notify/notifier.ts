// Notifications about Canary transitions (Slack, webhooks, Datadog events, … plug in here).
// A failed notification is logged and never blocks a promotion or a rollback.

export interface Notification {
  /** namespace/name of the Canary. */
  canary: string;
  /** The Event reason, e.g. Promoted, RolledBack, CheckFailed. */
  reason: string;
  severity: 'info' | 'warning';
  message: string;
  revision?: string;
  version?: string;
  time: string;
}

export interface Notifier {
  notify(n: Notification, signal: AbortSignal): Promise<void>;
}

/** The notifier when none is configured. */
export const nopNotifier: Notifier = {
  notify: async () => undefined,
};
