// The notification metric: deliveries by sink kind and result (sent, failed, gave_up, dropped).
import { Counter, type Registry } from 'prom-client';
import { SINK_KINDS } from '../api/notification-constants.js';

export interface NotificationMetrics {
  deliveries: Counter<'sink' | 'result'>;
}

export function notificationMetrics(registry: Registry): NotificationMetrics {
  const deliveries = new Counter({
    name: 'deployer_notifications_total',
    help: 'Notification delivery attempts by sink kind (slack, webhook, datadogEvents) and result (sent, failed: retried later, gave_up: attempts exhausted).',
    labelNames: ['sink', 'result'] as const,
    registers: [registry],
  });
  for (const sink of Object.values(SINK_KINDS)) for (const result of ['sent', 'failed', 'gave_up']) deliveries.inc({ sink, result }, 0);
  return { deliveries };
}
