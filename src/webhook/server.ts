// The admission webhook's HTTPS server. The certificate can be swapped while running.
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../runtime/logger.js';
import type { OperatorMetrics } from '../runtime/metrics.js';
import { decideAdmission, type AdmissionRequest } from './admission.js';

export const MUTATE_PATH = '/mutate-deployments';

export interface WebhookServerOptions {
  host: string;
  port: number;
  certPem: string;
  keyPem: string;
  logger: Logger;
  metrics: OperatorMetrics;
  /** The operator's username, so only it may remove a gate. */
  operatorUser?: () => string | undefined;
}

export class WebhookServer {
  private server: https.Server | undefined;

  constructor(private readonly o: WebhookServerOptions) {}

  async start(): Promise<number> {
    const server = https.createServer({ cert: this.o.certPem, key: this.o.keyPem }, (req, res) => {
      if (req.method !== 'POST' || !req.url?.startsWith(MUTATE_PATH)) {
        res.writeHead(req.url === '/healthz' ? 200 : 404).end();
        return;
      }
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        let uid = '';
        try {
          const review = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { apiVersion?: string; request?: AdmissionRequest & { namespace?: string; name?: string } };
          const request = review.request;
          if (!request) throw new Error('AdmissionReview without request');
          uid = request.uid;
          const decision = decideAdmission(request, this.o.operatorUser?.());
          this.o.metrics.webhookRequests.inc({ outcome: decision.outcome });
          const response: Record<string, unknown> = { uid, allowed: true };
          if (decision.patch.length) {
            response.patchType = 'JSONPatch';
            response.patch = Buffer.from(JSON.stringify(decision.patch)).toString('base64');
          }
          if (decision.warnings.length) response.warnings = decision.warnings;
          if (decision.outcome !== 'allowed') {
            this.o.logger.info('Admitted Deployment with gate', {
              deployment: `${request.namespace ?? ''}/${request.name ?? request.object?.metadata?.name ?? ''}`,
              outcome: decision.outcome,
              revision: decision.revision,
              user: request.userInfo?.username,
            });
          }
          res.writeHead(200, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response }));
        } catch (err) {
          this.o.metrics.webhookRequests.inc({ outcome: 'error' });
          this.o.logger.error('Could not handle an admission request', { error: (err as Error).message });
          res.writeHead(200, { 'Content-Type': 'application/json' });
          res.end(
            JSON.stringify({
              apiVersion: 'admission.k8s.io/v1',
              kind: 'AdmissionReview',
              response: { uid, allowed: false, status: { code: 400, message: `deployer webhook: ${(err as Error).message}` } },
            }),
          );
        }
      });
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.o.port, this.o.host, () => resolve());
    });
    return (server.address() as AddressInfo).port;
  }

  /** Serves a renewed certificate to new connections. */
  setCertificate(certPem: string, keyPem: string): void {
    this.server?.setSecureContext({ cert: certPem, key: keyPem });
  }

  async stop(): Promise<void> {
    const s = this.server;
    if (!s) return;
    s.closeAllConnections?.();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}
