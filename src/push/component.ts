// The push endpoint as one component of the operator: its HTTPS server (on a port of its own,
// serving the admission webhook's certificate), the token, the hint board and its metric.
import { Counter } from 'prom-client';
import { PUSH_DEFAULTS, PUSH_RESULTS, type PushResult } from '../api/push.js';
import type { Canary } from '../api/types.js';
import type { RawClient } from '../kube/raw-client.js';
import type { Logger } from '../runtime/logger.js';
import type { OperatorMetrics } from '../runtime/metrics.js';
import { PushEndpoint } from './endpoint.js';
import { HintBoard } from './hints.js';
import type { MonitorsSeen } from './match.js';
import { PushServer } from './server.js';
import { fixedToken, SecretTokenSource, type TokenSource } from './token.js';

export interface PushOptions {
  port: number;
  host?: string;
  /** Default /datadog/webhook. */
  path?: string;
  /** The Secret holding the token (key `token`). */
  tokenSecret?: { namespace: string; name: string };
  /** A token given directly (embedding, tests); tokenSecret wins. */
  token?: string;
  /** At most one early measurement per monitor in this time; default 10 s. */
  minHintIntervalMs?: number;
  maxBodyBytes?: number;
}

export interface PushComponentOptions {
  push: PushOptions;
  client: RawClient;
  logger: Logger;
  metrics: OperatorMetrics;
  board: HintBoard;
  canaries: () => readonly Canary[];
  monitorsSeen: MonitorsSeen;
  enqueue: (canaryKey: string) => void;
  isLeader: () => boolean;
  certificate: { certPem: string; keyPem: string };
}

export class PushConfigurationError extends Error {}

/** The hint board the Canary controller reads and the endpoint writes. */
export function hintBoardFor(push: PushOptions | undefined): HintBoard | undefined {
  return push ? new HintBoard(push.minHintIntervalMs !== undefined ? { minIntervalMs: push.minHintIntervalMs } : {}) : undefined;
}

export class PushComponent {
  private constructor(
    private readonly server: PushServer,
    readonly port: number,
  ) {}

  static async start(o: PushComponentOptions): Promise<PushComponent> {
    const tokens: TokenSource | undefined = o.push.tokenSecret ? new SecretTokenSource(o.client, o.push.tokenSecret) : o.push.token !== undefined ? fixedToken(o.push.token) : undefined;
    if (!tokens) throw new PushConfigurationError('the push endpoint needs a token: set --push-token-secret=<name> (a Secret with key "token")');
    const requests = new Counter({
      name: 'deployer_push_requests_total',
      help: 'Requests to the Datadog push endpoint by result (accepted, unmatched, throttled, duplicate, ignored, unauthenticated, forbidden, malformed, too_large, not_found, not_leader, unavailable).',
      labelNames: ['result'] as const,
      registers: [o.metrics.registry],
    });
    for (const result of Object.values(PUSH_RESULTS)) requests.inc({ result }, 0);
    const endpoint = new PushEndpoint({
      tokens,
      board: o.board,
      canaries: o.canaries,
      monitorsSeen: o.monitorsSeen,
      enqueue: o.enqueue,
      isLeader: o.isLeader,
      logger: o.logger.child({ component: 'push' }),
      onResult: (result: PushResult) => requests.inc({ result }),
    });
    const path = o.push.path ?? PUSH_DEFAULTS.path;
    const server = new PushServer({
      host: o.push.host ?? '0.0.0.0',
      port: o.push.port,
      path,
      certPem: o.certificate.certPem,
      keyPem: o.certificate.keyPem,
      endpoint,
      ...(o.push.maxBodyBytes !== undefined ? { maxBodyBytes: o.push.maxBodyBytes } : {}),
    });
    const port = await server.start();
    o.logger.info('Serving the Datadog push endpoint', { port, path, token: o.push.tokenSecret ? `Secret ${o.push.tokenSecret.namespace}/${o.push.tokenSecret.name}` : 'given' });
    return new PushComponent(server, port);
  }

  setCertificate(certPem: string, keyPem: string): void {
    this.server.setCertificate(certPem, keyPem);
  }

  stop(): Promise<void> {
    return this.server.stop();
  }
}
