// Sends the delivery events of Canaries and Releases with spec.dora.enabled to Datadog DORA
// Metrics. Only the leader sends; every call has a deterministic id (the same deploy is the same
// Datadog deployment), so a call repeated after a restart or a leader change changes nothing.
// Failed calls are kept, logged, counted and retried with backoff; nothing waits for them (the
// exporter hands events over and returns; calls run on their own timer).
import { Counter, type Registry } from 'prom-client';
import type { Release } from '../api/release-types.js';
import type { DoraSpec } from '../api/types.js';
import type { DatadogCredentials } from '../analysis/provider.js';
import type { Logger } from '../runtime/logger.js';
import type { Deploy } from './delivery.js';
import { deploysOfRelease } from './delivery.js';
import type { DeliveryEvent, DeliveryObject } from './delivery-exporter.js';
import type { DoraCall, DoraClient } from './dora-client.js';
import { doraChangeFailure, doraDeployment } from './dora-payload.js';

export type CredentialsRead = { ok: true; credentials: DatadogCredentials } | { ok: false; message: string };

export interface DoraSenderOptions {
  client: DoraClient;
  /** The credentials in a Secret of the object's namespace (datadog.secretRef). */
  credentials: (namespace: string, secretName: string) => Promise<CredentialsRead>;
  isLeader: () => boolean;
  logger: Logger;
  registry?: Registry;
  /** The time evidence is compared with (the horizon); default Date.now. Backoff always runs on the real clock. */
  now?: () => number;
  /** Per call; default 10 s. */
  timeoutMs?: number;
  /** Evidence older than this when first seen is not sent (a restart replays the histories); default 1 h. */
  horizonMs?: number;
  retry?: { initialMs: number; maxMs: number; maxAttempts: number };
  /** Most calls kept; the oldest go first; default 1000. */
  maxQueue?: number;
}

interface Item {
  key: string;
  call: DoraCall;
  object: string;
  namespace: string;
  secretName: string;
  /** When the evidence appeared (ms); non-leaders drop items past the horizon. */
  knownAt: number;
  attempts: number;
  nextAt: number;
  lastError?: string;
  /** Keys that must be sent first (the deployment before its patch). */
  after: string[];
}

export interface PendingCall {
  key: string;
  type: DoraCall['type'];
  object: string;
  attempts: number;
  lastError?: string;
}

const doraOf = (source: DeliveryObject): DoraSpec | undefined => (source.object.spec as { dora?: DoraSpec }).dora;
const secretOf = (source: DeliveryObject): string | undefined => (source.object.spec as { datadog?: { secretRef?: { name?: string } } }).datadog?.secretRef?.name;

export class DoraSender {
  readonly calls?: Counter<'call' | 'result'>;
  private readonly items = new Map<string, Item>();
  private readonly sent = new Set<string>();
  private readonly now: () => number;
  private readonly horizonMs: number;
  private readonly retry: { initialMs: number; maxMs: number; maxAttempts: number };
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private running = false;
  private closed = false;

  constructor(private readonly o: DoraSenderOptions) {
    this.now = o.now ?? Date.now;
    this.horizonMs = o.horizonMs ?? 3600_000;
    this.retry = o.retry ?? { initialMs: 1000, maxMs: 5 * 60_000, maxAttempts: 12 };
    if (o.registry) {
      this.calls = new Counter({
        name: 'deployer_dora_calls_total',
        help: 'Calls to Datadog DORA Metrics by call (Deployment, ChangeFailure) and result (ok, error, dropped: given up after the retries or refused).',
        labelNames: ['call', 'result'] as const,
        registers: [o.registry],
      });
      for (const call of ['Deployment', 'ChangeFailure']) for (const result of ['ok', 'error', 'dropped']) this.calls.inc({ call, result }, 0);
    }
  }

  /** The exporter's listener. */
  onEvent(e: DeliveryEvent): void {
    const dora = doraOf(e.source);
    if (!dora?.enabled) return;
    const d = e.deploy;
    if (e.type === 'Finished') {
      this.deployment(e.source, dora, d, d.finishedAt);
      return;
    }
    const failure = doraChangeFailure(d, dora);
    if (!failure) return;
    const knownAt = Math.max(d.finishedAt, d.remediatedBy?.finishedAt ?? 0);
    const deployment = doraDeployment(d, dora);
    if (!deployment) return;
    // The failed deployment may be older than the horizon (not sent since this process started): send it
    // again with the evidence (same id, no second deployment), so the patch has something to patch.
    this.enqueue(e.source, { type: 'Deployment', attributes: deployment }, knownAt, []);
    const after = [`Deployment/${deployment.id}`];
    if (failure.rollback) {
      this.enqueue(e.source, { type: 'Deployment', attributes: failure.rollback }, knownAt, []);
      after.push(`Deployment/${failure.rollback.id}`);
    } else if (failure.patch.remediation) {
      after.push(`Deployment/${failure.patch.remediation.id}`);
    }
    this.enqueue(e.source, { type: 'ChangeFailure', deploymentId: deployment.id, attributes: failure.patch }, knownAt, after);
  }

  /**
   * For the Release controller: report a promotion as soon as every target is promoted (status.promotedAt),
   * before the history record exists. The later record gives the same id, so it is not a second deployment.
   */
  reportReleasePromotion(release: Release): void {
    const dora = (release.spec as { dora?: DoraSpec }).dora;
    const st = release.status;
    if (!dora?.enabled || !st?.promotedAt || !st.startedAt) return;
    const generation = st.releaseGeneration ?? release.metadata.generation ?? 0;
    const record = { generation, version: st.version ?? release.spec.version, ...(release.spec.source ? { source: release.spec.source } : {}), startedAt: st.startedAt, promotedAt: st.promotedAt, finishedAt: st.promotedAt, outcome: 'Succeeded' as const };
    const [d] = deploysOfRelease({ ...release, status: { history: [record] } });
    if (d) this.deployment({ kind: 'Release', object: release }, dora, d, d.promotedAt ?? d.finishedAt);
  }

  /** Calls not sent yet (for tests and diagnostics). */
  pending(): PendingCall[] {
    return [...this.items.values()].map((i) => ({ key: i.key, type: i.call.type, object: i.object, attempts: i.attempts, ...(i.lastError ? { lastError: i.lastError } : {}) }));
  }

  /** Try now (e.g. when this instance starts leading). */
  kick(): void {
    this.schedule(0);
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private deployment(source: DeliveryObject, dora: DoraSpec, d: Deploy, knownAt: number): void {
    const attributes = doraDeployment(d, dora);
    if (attributes) this.enqueue(source, { type: 'Deployment', attributes }, knownAt, []);
  }

  private enqueue(source: DeliveryObject, call: DoraCall, knownAt: number, after: string[]): void {
    const key = call.type === 'Deployment' ? `Deployment/${call.attributes.id}` : `ChangeFailure/${call.deploymentId}`;
    if (this.items.has(key) || this.sent.has(key)) return;
    const { namespace, name } = source.object.metadata;
    const object = `${source.kind} ${namespace}/${name}`;
    if (this.now() - knownAt > this.horizonMs) return;
    const secretName = secretOf(source);
    if (!secretName) {
      this.o.logger.warn('DORA reporting needs datadog.secretRef', { object });
      this.calls?.inc({ call: call.type, result: 'dropped' });
      return;
    }
    this.items.set(key, { key, call, object, namespace, secretName, knownAt, attempts: 0, nextAt: Date.now(), after });
    const max = this.o.maxQueue ?? 1000;
    while (this.items.size > max) {
      const oldest = this.items.values().next().value as Item;
      this.items.delete(oldest.key);
      this.o.logger.warn('Dropped a DORA call: too many waiting', { object: oldest.object, call: oldest.call.type });
      this.calls?.inc({ call: oldest.call.type, result: 'dropped' });
    }
    this.schedule(0);
  }

  private schedule(ms: number): void {
    if (this.closed) return;
    const at = Date.now() + ms;
    if (this.timer && this.timerAt <= at) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Infinity;
      void this.pump();
    }, ms);
    this.timer.unref?.();
  }

  private async pump(): Promise<void> {
    if (this.running || this.closed) return;
    this.running = true;
    try {
      if (!this.o.isLeader()) {
        // Another instance sends; keep what is recent in case this one takes over.
        for (const i of [...this.items.values()]) if (this.now() - i.knownAt > this.horizonMs) this.items.delete(i.key);
        if (this.items.size) this.schedule(this.retry.initialMs * 5);
        return;
      }
      for (const item of [...this.items.values()]) {
        if (this.closed || !this.o.isLeader()) break;
        if (item.nextAt > Date.now() || item.after.some((k) => this.items.has(k))) continue;
        await this.attempt(item);
      }
    } finally {
      this.running = false;
    }
    const next = Math.min(...[...this.items.values()].map((i) => i.nextAt));
    if (Number.isFinite(next)) this.schedule(Math.max(0, next - Date.now()));
  }

  private async attempt(item: Item): Promise<void> {
    item.attempts++;
    const creds = await this.o.credentials(item.namespace, item.secretName);
    const result = creds.ok
      ? await this.o.client.send(item.call, creds.credentials, AbortSignal.timeout(this.o.timeoutMs ?? 10_000))
      : ({ ok: false, message: creds.message, retryable: true } as const);
    if (result.ok) {
      this.items.delete(item.key);
      this.sent.add(item.key);
      if (this.sent.size > 10_000) this.sent.delete(this.sent.values().next().value as string);
      this.calls?.inc({ call: item.call.type, result: 'ok' });
      this.o.logger.info('Reported to Datadog DORA Metrics', { object: item.object, call: item.call.type, id: item.key.split('/')[1], attempts: item.attempts });
      return;
    }
    item.lastError = result.message;
    this.calls?.inc({ call: item.call.type, result: 'error' });
    if (!result.retryable || item.attempts >= this.retry.maxAttempts) {
      this.items.delete(item.key);
      this.calls?.inc({ call: item.call.type, result: 'dropped' });
      this.o.logger.error('Gave up a Datadog DORA call', { object: item.object, call: item.call.type, attempts: item.attempts, error: result.message });
      return;
    }
    item.nextAt = Date.now() + Math.min(this.retry.maxMs, this.retry.initialMs * 2 ** (item.attempts - 1));
    this.o.logger.warn('Datadog DORA call failed; will retry', { object: item.object, call: item.call.type, attempts: item.attempts, error: result.message });
  }
}
