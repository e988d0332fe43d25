// The operator's command line (flags → startOperator); src/main.ts loads it after checking Node.js.
import { Command, InvalidArgumentError, Option } from 'commander';
import { parseDuration } from './analysis/duration.js';
import { createLogger } from './runtime/logger.js';
import { DEFAULT_RESYNC_MS, startOperator, type OperatorOptions } from './operator.js';

const nsName = (v: string): { namespace: string; name: string } => {
  const [namespace, name] = v.split('/');
  if (!namespace || !name) throw new InvalidArgumentError('expected NAMESPACE/NAME');
  return { namespace, name };
};
const duration = (v: string): number => {
  const ms = parseDuration(v);
  if (ms === undefined || ms < 1000) throw new InvalidArgumentError('expected a duration of at least 1s, e.g. 15s');
  return ms;
};
const port = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port number');
  return n;
};

const program = new Command('deployer')
  .description('Kubernetes operator: canary analysis with Datadog, then promotion or rollback')
  .option('--namespaces <list>', 'comma-separated namespaces to watch (default: all)', process.env.DEPLOYER_NAMESPACES)
  .option('--webhook-port <port>', 'port of the admission webhook (0: any free port)', port, 9443)
  .option('--webhook-host <host>', 'address the webhook listens on', '0.0.0.0')
  .option('--webhook-url <host>', 'run outside the cluster: the apiserver calls https://<host>:<port> (e.g. 127.0.0.1)')
  .option('--webhook-service <ns/name>', 'run in the cluster: the apiserver calls this Service', nsName)
  .option('--webhook-secret <ns/name>', 'Secret that keeps the webhook serving certificate (shared by replicas)', nsName)
  .option('--webhook-configuration-name <name>', 'MutatingWebhookConfiguration to keep (default: deployer in the cluster, deployer-local[-<hash of --namespaces>] outside)')
  .option('--webhook-failure-policy <policy>', 'Fail (default: never let a revision through unverified) or Ignore', 'Fail')
  .option('--health-port <port>', 'port of /healthz, /readyz and /metrics', port, 8081)
  .option('--metrics-port <port>', 'also serve /metrics on this port', port)
  .option('--leader-elect', 'elect a leader on a Lease; only the leader reconciles', true)
  .option('--no-leader-elect', 'do not elect a leader: this instance reconciles (run only one)')
  .option('--lease-namespace <ns>', 'namespace of the leader Lease (default: POD_NAMESPACE, else deployer-system if it exists, else default)', process.env.POD_NAMESPACE)
  .option('--lease-name <name>', 'name of the leader Lease (default: deployer, or deployer-<hash> for a set of --namespaces)')
  .addOption(
    new Option('--lease-duration <duration>', 'how long a leader lease lasts without renewal (a standby takes over after it)').argParser(duration).default(15_000, '15s'),
  )
  .addOption(
    new Option('--resync <duration>', 'look at every Canary and Release again this often even if nothing changed (a safety net: changes and timers start passes at once)')
      .argParser(duration)
      .default(DEFAULT_RESYNC_MS, '15m'),
  )
  .option('--memory-compaction', 'give memory back once a burst of work is over (a full collection of about 0.1 s)', true)
  .option('--no-memory-compaction', 'leave giving memory back to V8 alone')
  .option('--log-level <level>', 'error, warn, info or debug', process.env.DEPLOYER_LOG_LEVEL ?? 'info')
  .option('--datadog-allow-http', "allow a Datadog Secret's url to use plain http to hosts other than loopback (keys travel in clear text)", false)
  .option('--push-port <port>', 'serve the Datadog push endpoint (HTTPS, the webhook certificate) on this port (default: off)', port)
  .option('--push-path <path>', 'path of the Datadog push endpoint', '/datadog/webhook')
  .option('--push-token-secret <name>', "Secret (NAME in the operator's namespace, or NAMESPACE/NAME) whose key \"token\" authenticates pushes")
  .addOption(new Option('--push-min-interval <duration>', 'at most one early measurement per monitor in this time').argParser(duration).default(10_000, '10s'))
  .option('--notifications-config <name>', "a Secret in the operator's namespace whose key notifications.yaml lists operator-wide notification sinks (same shape as spec.notifications)")
  .option('--slack-api-url <url>', 'base URL of the Slack Web API (chat.postMessage)', 'https://slack.com/api')
  .addOption(new Option('--notifications-retry <duration>', 'first retry delay of a failed notification (doubles up to 10m, 10 attempts)').argParser(duration).default(5_000, '5s'));

program.parse();
const o = program.opts<{
  namespaces?: string;
  webhookPort: number;
  webhookHost: string;
  webhookUrl?: string;
  webhookService?: { namespace: string; name: string };
  webhookSecret?: { namespace: string; name: string };
  webhookFailurePolicy: string;
  webhookConfigurationName?: string;
  healthPort: number;
  metricsPort?: number;
  leaderElect: boolean;
  memoryCompaction: boolean;
  resync: number;
  leaseNamespace?: string;
  leaseName?: string;
  leaseDuration: number;
  logLevel: string;
  datadogAllowHttp: boolean;
  pushPort?: number;
  pushPath: string;
  pushTokenSecret?: string;
  pushMinInterval: number;
  notificationsConfig?: string;
  slackApiUrl: string;
  notificationsRetry: number;
}>();

const logger = createLogger({ level: o.logLevel });
if (o.webhookFailurePolicy !== 'Fail' && o.webhookFailurePolicy !== 'Ignore') {
  logger.error('Invalid --webhook-failure-policy', { value: o.webhookFailurePolicy });
  process.exit(2);
}
let push: OperatorOptions['push'];
if (o.pushPort !== undefined) {
  const [first, second] = (o.pushTokenSecret ?? '').split('/');
  const tokenSecret = second ? { namespace: first ?? '', name: second } : first ? { namespace: process.env.POD_NAMESPACE ?? o.leaseNamespace ?? '', name: first } : undefined;
  if (!tokenSecret?.namespace || !tokenSecret.name) {
    logger.error('The push endpoint needs --push-token-secret=<name> (in the operator\'s namespace, POD_NAMESPACE) or <namespace>/<name>', { value: o.pushTokenSecret });
    process.exit(2);
  }
  if (!o.pushPath.startsWith('/')) {
    logger.error('Invalid --push-path: it starts with /', { value: o.pushPath });
    process.exit(2);
  }
  push = { port: o.pushPort, host: o.webhookHost, path: o.pushPath, tokenSecret, minHintIntervalMs: o.pushMinInterval };
}
const target: OperatorOptions['webhook']['target'] = o.webhookService ? { service: o.webhookService } : { urlFromPort: o.webhookUrl ?? '127.0.0.1' };

try {
  const op = await startOperator({
    ...(o.namespaces ? { namespaces: o.namespaces.split(',').map((s) => s.trim()).filter(Boolean) } : {}),
    webhook: {
      host: o.webhookHost,
      port: o.webhookPort,
      target,
      ...(o.webhookSecret ? { secret: o.webhookSecret } : {}),
      failurePolicy: o.webhookFailurePolicy,
      ...(o.webhookConfigurationName ? { configurationName: o.webhookConfigurationName } : {}),
    },
    health: { port: o.healthPort },
    ...(o.metricsPort !== undefined ? { metricsPort: o.metricsPort } : {}),
    ...(o.leaderElect ? {
          leaderElection: {
            ...(o.leaseNamespace ? { namespace: o.leaseNamespace } : {}),
            ...(o.leaseName ? { name: o.leaseName } : {}),
            leaseDurationMs: o.leaseDuration,
            renewDeadlineMs: Math.round((o.leaseDuration * 2) / 3),
            retryPeriodMs: Math.max(500, Math.round(o.leaseDuration / 5)),
            ...(process.env.POD_NAME ? { identity: process.env.POD_NAME } : {}),
          },
        } : {}),
    logger,
    memoryCompaction: o.memoryCompaction,
    resyncMs: o.resync,
    datadogAllowPlainHttp: o.datadogAllowHttp,
    ...(push ? { push } : {}),
    notifications: {
      ...(o.notificationsConfig ? { configSecret: o.notificationsConfig } : {}),
      ...(o.leaseNamespace ? { namespace: o.leaseNamespace } : {}),
      slackApiUrl: o.slackApiUrl,
      backoff: { baseMs: o.notificationsRetry, maxMs: 10 * 60_000, maxAttempts: 10 },
    },
  });
  logger.info('Operator started', { webhookPort: op.webhookPort, healthPort: op.healthPort, leaderElection: o.leaderElect, ...(op.pushPort !== undefined ? { pushPort: op.pushPort } : {}) });
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info('Received signal', { signal });
    void op.stop().then(() => process.exit(0));
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
} catch (err) {
  logger.error('Operator could not start', { error: (err as Error).message });
  process.exit(1);
}
