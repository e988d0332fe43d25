// What the push endpoint does with one request, apart from HTTP: authenticate, parse, guard
// against replays and storms, leave hints for the canaries whose checks select the monitor.
import { PUSH_RESULTS, type PushResult } from '../api/push.js';
import type { Canary } from '../api/types.js';
import type { Logger } from '../runtime/logger.js';
import type { HintBoard } from './hints.js';
import { targetsFor, type MonitorsSeen } from './match.js';
import { assessTransition, parseNotification } from './notification.js';
import { tokenMatches, type TokenSource } from './token.js';

export interface PushEndpointOptions {
  tokens: TokenSource;
  board: HintBoard;
  /** The Canaries in the informer cache. */
  canaries: () => readonly Canary[];
  monitorsSeen: MonitorsSeen;
  /** Wakes a Canary's pass. */
  enqueue: (canaryKey: string) => void;
  /** Only the leader reconciles, so only its hints are acted on. */
  isLeader: () => boolean;
  logger: Logger;
  onResult?: (result: PushResult) => void;
  now?: () => number;
}

export interface PushAnswer {
  status: number;
  result: PushResult;
  /** Short JSON body: the result and, for a hint, the canaries that will measure again. */
  body: Record<string, unknown>;
  headers?: Record<string, string>;
}

/** The HTTP status of each result. */
export const STATUS_OF: Record<PushResult, number> = {
  [PUSH_RESULTS.accepted]: 202,
  [PUSH_RESULTS.unmatched]: 200,
  [PUSH_RESULTS.throttled]: 200,
  [PUSH_RESULTS.duplicate]: 200,
  [PUSH_RESULTS.ignored]: 200,
  [PUSH_RESULTS.unauthenticated]: 401,
  [PUSH_RESULTS.forbidden]: 403,
  [PUSH_RESULTS.malformed]: 400,
  [PUSH_RESULTS.tooLarge]: 413,
  [PUSH_RESULTS.notFound]: 404,
  [PUSH_RESULTS.notLeader]: 503,
  [PUSH_RESULTS.unavailable]: 503,
};

/** A refusal is logged at most this often per result (a flood of them is in the metric). */
const REFUSAL_LOG_INTERVAL_MS = 10_000;

export class PushEndpoint {
  private readonly now: () => number;
  /** result -> when a refusal was last logged, and how many went unlogged since. */
  private readonly refusalLog = new Map<PushResult, { at: number; unlogged: number }>();

  constructor(private readonly o: PushEndpointOptions) {
    this.now = o.now ?? Date.now;
  }

  /** Answers a request that failed before its content was looked at (wrong route, too large). */
  refuse(result: PushResult, message: string, remote?: string): PushAnswer {
    return this.answer(result, { message }, remote);
  }

  /** Whether the token header authenticates; undefined when it does (the request may go on). */
  async authenticate(token: string | undefined, remote?: string): Promise<PushAnswer | undefined> {
    if (token === undefined || token === '') return this.answer(PUSH_RESULTS.unauthenticated, { message: 'no token header' }, remote);
    const expected = await this.o.tokens.current(this.now());
    if (!expected.ok) {
      this.o.logger.error('Refused a push: the push token is not available', { reason: expected.message });
      return this.answer(PUSH_RESULTS.unavailable, { message: 'the endpoint has no token to check against' }, remote);
    }
    if (!tokenMatches(token, expected.digest)) return this.answer(PUSH_RESULTS.forbidden, { message: 'wrong token' }, remote);
    return undefined;
  }

  /** Handles the body of an authenticated request. */
  handle(body: string, remote?: string): PushAnswer {
    const parsed = parseNotification(body);
    if (!parsed.ok) return this.answer(PUSH_RESULTS.malformed, { message: parsed.message }, remote);
    const n = parsed.notification;
    if (!this.o.isLeader()) {
      return { ...this.answer(PUSH_RESULTS.notLeader, { message: 'this replica does not lead; retry' }, remote), headers: { 'Retry-After': '1' } };
    }
    const kind = assessTransition(n.transition);
    if (kind !== 'hint') return this.answer(PUSH_RESULTS.ignored, { message: `transition ${JSON.stringify(n.transition)} asks for no measurement`, monitor: n.monitorId }, remote);
    const now = this.now();
    const admission = this.o.board.admit(n.monitorId, n.eventId, now);
    if (admission === 'duplicate') return this.answer(PUSH_RESULTS.duplicate, { message: 'notification already received', monitor: n.monitorId }, remote);
    if (admission === 'throttled') return this.answer(PUSH_RESULTS.throttled, { message: 'the monitor was hinted moments ago', monitor: n.monitorId }, remote);
    const targets = targetsFor(n.monitorId, this.o.canaries(), this.o.monitorsSeen);
    if (!targets.length) return this.answer(PUSH_RESULTS.unmatched, { message: 'no canary in analysis selects this monitor', monitor: n.monitorId }, remote);
    this.o.board.hint(n.monitorId, targets, now);
    for (const t of targets) this.o.enqueue(t.canaryKey);
    this.o.logger.info('Took a push from Datadog: measuring again now', {
      monitor: n.monitorId,
      transition: n.transition,
      ...(n.scope ? { scope: n.scope } : {}),
      canaries: targets.map((t) => `${t.canaryKey} (${t.checks.join(', ')})`).join('; '),
    });
    return this.answer(PUSH_RESULTS.accepted, { monitor: n.monitorId, canaries: targets.map((t) => t.canaryKey) }, remote);
  }

  private answer(result: PushResult, detail: Record<string, unknown>, remote: string | undefined): PushAnswer {
    try {
      this.o.onResult?.(result);
    } catch {
      // Metrics never break a request.
    }
    const status = STATUS_OF[result];
    // Refusals are logged by result and address only (never a header or a body), and sparsely.
    if (status >= 400 && result !== PUSH_RESULTS.notLeader && result !== PUSH_RESULTS.unavailable) this.logRefusal(result, remote);
    else if (result !== PUSH_RESULTS.accepted) this.o.logger.debug('Answered a push', { result, remote });
    return { status, result, body: { result, ...detail } };
  }

  private logRefusal(result: PushResult, remote: string | undefined): void {
    const now = this.now();
    const last = this.refusalLog.get(result);
    if (last && now - last.at < REFUSAL_LOG_INTERVAL_MS) {
      last.unlogged++;
      return;
    }
    this.o.logger.warn('Refused a push', { result, remote, ...(last?.unlogged ? { alsoRefusedSinceLastLog: last.unlogged } : {}) });
    this.refusalLog.set(result, { at: now, unlogged: 0 });
  }
}
