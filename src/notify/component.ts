// Notifications as one component of the operator: the operator-wide sinks (a Secret in the
// operator's namespace), and the sender that delivers what the objects' ledgers hold, beside the
// controllers (never inside a pass); only the leader sends.
import type { NotificationSpec } from '../api/notification-types.js';
import type { RawClient } from '../kube/raw-client.js';
import type { Leadership } from '../runtime/leadership.js';
import type { Logger } from '../runtime/logger.js';
import type { OperatorMetrics } from '../runtime/metrics.js';
import { DefaultSinks } from './defaults.js';
import type { BackoffPolicy } from './ledger.js';
import { notificationMetrics } from './metrics.js';
import { NotificationSender, type NotifyKind } from './sender.js';

export interface NotificationOptions {
  /** A Secret in the operator's namespace with operator-wide sinks (--notifications-config). */
  configSecret?: string;
  /** The operator's namespace (default: POD_NAMESPACE, else that of the leader lease lookup). */
  namespace?: string;
  /** Slack Web API base URL (default https://slack.com/api). */
  slackApiUrl?: string;
  backoff?: BackoffPolicy;
  timeoutMs?: number;
  pollMs?: number;
}

export interface NotificationComponentOptions {
  client: RawClient;
  logger: Logger;
  metrics: OperatorMetrics;
  leadership: Leadership;
  /** The operator's namespace, where the operator-wide sinks' Secret lives. */
  namespace: string;
  allowPlainHttp: boolean;
  options?: NotificationOptions;
}

export class NotificationComponent {
  private readonly logger: Logger;
  private defaultSinks: DefaultSinks | undefined;
  private sender: NotificationSender | undefined;

  private constructor(private readonly o: NotificationComponentOptions) {
    this.logger = o.logger.child({ component: 'notifications' });
  }

  /** Reads the operator-wide sinks (if configured) before the controllers start. */
  static async prepare(o: NotificationComponentOptions): Promise<NotificationComponent> {
    const c = new NotificationComponent(o);
    if (o.options?.configSecret) {
      c.defaultSinks = new DefaultSinks({ client: o.client, namespace: o.namespace, name: o.options.configSecret, logger: c.logger });
      await c.defaultSinks.start();
    }
    return c;
  }

  /** The operator-wide sinks now (a reconcile pass records ledger entries for them too). */
  readonly defaults = (): readonly NotificationSpec[] => this.defaultSinks?.current() ?? [];

  /** Starts delivering for these kinds of object. */
  start(kinds: NotifyKind[]): void {
    const n = this.o.options;
    this.sender = new NotificationSender({
      client: this.o.client,
      kinds,
      leadership: this.o.leadership,
      logger: this.logger,
      metrics: notificationMetrics(this.o.metrics.registry),
      defaults: this.defaults,
      operatorNamespace: this.o.namespace,
      datadogUrlPolicy: { allowPlainHttp: this.o.allowPlainHttp },
      ...(n?.slackApiUrl ? { slackApiUrl: n.slackApiUrl } : {}),
      ...(n?.backoff ? { backoff: n.backoff } : {}),
      ...(n?.timeoutMs ? { timeoutMs: n.timeoutMs } : {}),
      ...(n?.pollMs ? { pollMs: n.pollMs } : {}),
    });
    this.sender.start();
  }

  async stop(): Promise<void> {
    await this.sender?.stop();
    this.defaultSinks?.stop();
  }
}
