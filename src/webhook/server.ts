// The admission webhooks' HTTPS server: the Deployment gate (mutating) and the Canary access check
// (validating). The certificate can be swapped while running. Requests are bounded in size and
// time; on stop it keeps serving for a while, until the apiserver has stopped sending it calls.
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../runtime/logger.js';
import type { OperatorMetrics } from '../runtime/metrics.js';
import { LABELS } from '../api/constants.js';
import { decideAdmission, type AdmissionRequest, type FormerGuard } from './admission.js';
import { revisionOf } from '../canary/revision.js';
import { errorMessage } from '../kube/errors.js';
import { accessChecksFor, decideCanaryAccess, subjectAccessReview, type CanaryLike } from './canary-access.js';
import { MUTATE_PATH, VALIDATE_CANARIES_PATH } from './configuration.js';

export { MUTATE_PATH, VALIDATE_CANARIES_PATH };

/** The apiserver's own limit on a request body. */
export const MAX_BODY_BYTES = 3 * 1024 * 1024;

export interface WebhookServerOptions {
  host: string;
  port: number;
  certPem: string;
  keyPem: string;
  logger: Logger;
  metrics: OperatorMetrics;
  /** The operator's username, so only it may change a gate; undefined while not known. */
  operatorUser?: () => string | undefined;
  /** Whether a Canary exists (the operator's cache); undefined when it cannot tell. */
  canaryExists?: (namespace: string, name: string) => boolean | undefined | Promise<boolean | undefined>;
  /** The Canary that guarded a Deployment of this name and the revision it verified (the operator's cache). */
  guardOf?: (namespace: string, deployment: string) => FormerGuard | undefined;
  /** Whether a live ReplicaSet of a revision, orphaned and not being deleted, matches a selector (a live read). */
  stableSurvives?: (namespace: string, matchLabels: Record<string, string>, revision: string) => Promise<boolean>;
  /** Asks the apiserver a SubjectAccessReview; resolves to its status.allowed. */
  authorize?: (review: Record<string, unknown>) => Promise<boolean>;
  maxBodyBytes?: number;
  /** Whole request (default 10 s) and headers (default 5 s) deadlines. */
  requestTimeoutMs?: number;
  headersTimeoutMs?: number;
}

type Review = { request?: AdmissionRequest<unknown> };

export class WebhookServer {
  private server: https.Server | undefined;

  constructor(private readonly o: WebhookServerOptions) {}

  async start(): Promise<number> {
    const requestTimeout = this.o.requestTimeoutMs ?? 10_000;
    const headersTimeout = Math.min(this.o.headersTimeoutMs ?? 5_000, requestTimeout);
    const server = https.createServer(
      // The deadlines are enforced on this interval (Node's default is 30 s).
      { cert: this.o.certPem, key: this.o.keyPem, requestTimeout, headersTimeout, connectionsCheckingInterval: Math.max(50, Math.min(1_000, headersTimeout / 2)) },
      (req, res) => this.serve(req, res),
    );
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.o.port, this.o.host, () => resolve());
    });
    return (server.address() as AddressInfo).port;
  }

  private serve(req: IncomingMessage, res: ServerResponse): void {
    const route = req.url?.split('?')[0];
    if (req.method !== 'POST' || (route !== MUTATE_PATH && route !== VALIDATE_CANARIES_PATH)) {
      res.writeHead(req.url === '/healthz' ? 200 : 404).end();
      return;
    }
    const limit = this.o.maxBodyBytes ?? MAX_BODY_BYTES;
    if (Number(req.headers['content-length'] ?? 0) > limit) {
      this.tooLarge(req, res, limit);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        this.tooLarge(req, res, limit);
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (size > limit) return;
      let uid = '';
      let review: Review;
      try {
        review = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Review;
        if (!review.request) throw new Error('AdmissionReview without request');
        uid = review.request.uid;
      } catch (err) {
        this.fail(res, uid, err);
        return;
      }
      const request = review.request;
      const handled = route === MUTATE_PATH ? this.mutate(request as AdmissionRequest) : this.validateCanary(request as AdmissionRequest<CanaryLike>);
      handled.then(
        (response) => this.reply(res, response),
        (err: unknown) => this.fail(res, uid, err),
      );
    });
  }

  /** Only the create of a Deployment a Canary guarded before, with a template it has not verified, asks. */
  private async stableSurvives(request: AdmissionRequest): Promise<boolean | undefined> {
    const obj = request.object;
    const name = obj?.metadata?.name;
    if (request.oldObject || !name || !this.o.guardOf || !this.o.stableSurvives) return undefined;
    const former = this.o.guardOf(request.namespace ?? '', name);
    const matchLabels = obj.spec?.selector?.matchLabels;
    if (!former || !matchLabels || revisionOf(obj.spec?.template) === former.verifiedRevision) return undefined;
    try {
      return await this.o.stableSurvives(request.namespace ?? '', matchLabels, former.verifiedRevision);
    } catch (err) {
      this.o.logger.warn('Could not look for a ReplicaSet of the verified revision; the re-created Deployment is not held', { deployment: `${request.namespace ?? ''}/${name}`, error: errorMessage(err) });
      return false;
    }
  }

  private async mutate(request: AdmissionRequest): Promise<Record<string, unknown>> {
    // Only a request that drops the gate label asks whether its Canary still exists.
    const oldGuard = request.oldObject?.metadata?.labels?.[LABELS.canary];
    const dropsGate = oldGuard !== undefined && request.object?.metadata?.labels?.[LABELS.canary] === undefined;
    const exists = dropsGate && this.o.canaryExists ? await this.o.canaryExists(request.namespace ?? '', oldGuard) : undefined;
    const operatorUser = this.o.operatorUser?.();
    const stableSurvives = await this.stableSurvives(request);
    const decision = decideAdmission(request, {
      ...(operatorUser !== undefined ? { operatorUser } : {}),
      canaryExists: () => exists,
      ...(this.o.guardOf ? { guardOf: this.o.guardOf } : {}),
      ...(stableSurvives !== undefined ? { stableSurvives } : {}),
    });
    // A dry run (a GitOps diff, kubectl --dry-run=server) gets the same answer, but nothing was held.
    this.o.metrics.webhookRequests.inc({ outcome: request.dryRun ? 'dry-run' : decision.outcome });
    const response: Record<string, unknown> = { uid: request.uid, allowed: decision.outcome !== 'denied' };
    if (decision.outcome === 'denied') response.status = { code: 403, reason: 'Forbidden', message: decision.message ?? 'deployer: refused' };
    if (decision.patch.length && decision.outcome !== 'denied') {
      response.patchType = 'JSONPatch';
      response.patch = Buffer.from(JSON.stringify(decision.patch)).toString('base64');
    }
    if (decision.warnings.length) response.warnings = decision.warnings;
    if (decision.outcome !== 'allowed' && !request.dryRun) {
      const obj = request.object;
      this.o.logger.info(decision.outcome === 'denied' ? 'Refused a change to a Deployment gate' : 'Admitted Deployment with gate', {
        deployment: `${request.namespace ?? ''}/${request.name ?? obj?.metadata?.name ?? ''}`,
        outcome: decision.outcome,
        revision: decision.revision,
        user: request.userInfo?.username,
      });
    }
    return response;
  }

  private async validateCanary(request: AdmissionRequest<CanaryLike>): Promise<Record<string, unknown>> {
    const checks = accessChecksFor(request);
    const answers = await Promise.all(
      checks.map(async (c): Promise<boolean | Error> => {
        if (!this.o.authorize) return new Error('no authorizer configured');
        try {
          return await this.o.authorize(subjectAccessReview(request.userInfo, c));
        } catch (err) {
          return err instanceof Error ? err : new Error(String(err));
        }
      }),
    );
    const decision = decideCanaryAccess(request, checks, answers);
    this.o.metrics.webhookRequests.inc({ outcome: request.dryRun ? 'dry-run' : decision.allowed ? 'allowed' : 'denied' });
    if (!decision.allowed && !request.dryRun) {
      this.o.logger.info('Refused a Canary its author may not apply', { canary: `${request.namespace ?? ''}/${request.name ?? ''}`, user: request.userInfo?.username, reason: decision.message });
    }
    return { uid: request.uid, allowed: decision.allowed, ...(decision.allowed ? {} : { status: { code: 403, reason: 'Forbidden', message: decision.message } }) };
  }

  private reply(res: ServerResponse, response: Record<string, unknown>): void {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response }));
  }

  private fail(res: ServerResponse, uid: string, err: unknown): void {
    this.o.metrics.webhookRequests.inc({ outcome: 'error' });
    this.o.logger.error('Could not handle an admission request', { error: (err as Error).message });
    this.reply(res, { uid, allowed: false, status: { code: 400, message: `deployer webhook: ${(err as Error).message}` } });
  }

  private tooLarge(req: IncomingMessage, res: ServerResponse, limit: number): void {
    if (res.headersSent) return;
    this.o.metrics.webhookRequests.inc({ outcome: 'error' });
    this.o.logger.warn('Refused an oversized admission request', { limit });
    res.writeHead(413, { 'Content-Type': 'text/plain', Connection: 'close' }).end(`request body larger than ${limit} bytes`);
    req.resume();
    req.socket.destroySoon?.();
  }

  /** Serves a renewed certificate to new connections. */
  setCertificate(certPem: string, keyPem: string): void {
    this.server?.setSecureContext({ cert: certPem, key: keyPem });
  }

  /**
   * Stops serving. With `drainMs`, keeps answering for that long first: the apiserver sends calls
   * to this replica until the removal of its endpoint has reached it.
   */
  async stop(drainMs = 0): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.server = undefined;
    if (drainMs > 0) await new Promise((r) => setTimeout(r, drainMs));
    const closed = new Promise<void>((resolve) => s.close(() => resolve()));
    s.closeIdleConnections();
    const force = setTimeout(() => s.closeAllConnections(), 2_000);
    force.unref();
    await closed;
    clearTimeout(force);
  }
}
