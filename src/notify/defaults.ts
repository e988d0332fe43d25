// Operator-wide sinks (--notifications-config NAME): a Secret in the operator's namespace whose
// key notifications.yaml (or its only key) holds a YAML list of spec.notifications entries.
// Re-read periodically; a Secret that cannot be parsed keeps the last good list and is logged
// (by key and problem, never by value).
import { parse } from 'yaml';
import { TRANSITIONS } from '../api/notification-constants.js';
import type { NotificationSpec, Transition } from '../api/notification-types.js';
import { errorCode, isNotFound } from '../kube/errors.js';
import { paths, type RawClient } from '../kube/raw-client.js';
import type { Logger } from '../runtime/logger.js';
import { sinkKindOf } from './sinks/sink.js';

export const DEFAULTS_KEY = 'notifications.yaml';

export type DefaultsParse = { ok: true; sinks: NotificationSpec[] } | { ok: false; message: string };

/** Parses and checks the list (names unique, exactly one sink kind each, known transitions). */
export function parseDefaultSinks(text: string): DefaultsParse {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    return { ok: false, message: `is not YAML (${(err as Error).message.split('\n')[0]})` };
  }
  if (doc === null || doc === undefined) return { ok: true, sinks: [] };
  if (!Array.isArray(doc)) return { ok: false, message: 'must be a YAML list of notification entries' };
  const names = new Set<string>();
  const known = Object.values(TRANSITIONS) as string[];
  for (const [i, e] of doc.entries()) {
    const item = e as NotificationSpec;
    if (typeof item !== 'object' || item === null || typeof item.name !== 'string' || !item.name) return { ok: false, message: `entry ${i} needs a name` };
    if (names.has(item.name)) return { ok: false, message: `entry ${i}: duplicate name ${item.name}` };
    names.add(item.name);
    if (!sinkKindOf(item)) return { ok: false, message: `entry ${item.name} must have exactly one of slack, webhook or datadogEvents` };
    const bad = (item.transitions ?? []).filter((t: Transition) => !known.includes(t));
    if (bad.length) return { ok: false, message: `entry ${item.name}: unknown transitions ${bad.join(', ')} (known: ${known.join(', ')})` };
  }
  return { ok: true, sinks: doc as NotificationSpec[] };
}

export class DefaultSinks {
  private sinks: NotificationSpec[] = [];
  private timer: NodeJS.Timeout | undefined;
  private lastProblem: string | undefined;

  constructor(
    private readonly o: { client: RawClient; namespace: string; name: string; logger: Logger; refreshMs?: number },
  ) {}

  current(): readonly NotificationSpec[] {
    return this.sinks;
  }

  async start(): Promise<void> {
    await this.load();
    const every = this.o.refreshMs ?? 30_000;
    this.timer = setInterval(() => void this.load(), every);
    this.timer.unref?.();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  async load(): Promise<void> {
    const where = `Secret ${this.o.namespace}/${this.o.name}`;
    let data: Record<string, string>;
    try {
      const s = await this.o.client.get<{ data?: Record<string, string> }>(paths.secret(this.o.namespace, this.o.name), AbortSignal.timeout(10_000));
      data = s.data ?? {};
    } catch (err) {
      this.problem(isNotFound(err) ? `${where} (--notifications-config) not found; no operator-wide sinks` : `${where} (--notifications-config) could not be read (HTTP ${errorCode(err) ?? '?'}); keeping the last list`);
      if (isNotFound(err)) this.sinks = [];
      return;
    }
    const keys = Object.keys(data);
    const key = data[DEFAULTS_KEY] !== undefined ? DEFAULTS_KEY : keys.length === 1 ? keys[0] : undefined;
    if (key === undefined) {
      this.problem(`${where} (--notifications-config) needs key ${DEFAULTS_KEY}`);
      return;
    }
    const parsed = parseDefaultSinks(Buffer.from(data[key] ?? '', 'base64').toString('utf8'));
    if (!parsed.ok) {
      this.problem(`${where} key ${key} ${parsed.message}; keeping the last list`);
      return;
    }
    if (JSON.stringify(parsed.sinks) !== JSON.stringify(this.sinks)) this.o.logger.info('Loaded operator-wide notification sinks', { secret: `${this.o.namespace}/${this.o.name}`, sinks: parsed.sinks.map((s) => s.name) });
    this.sinks = parsed.sinks;
    this.lastProblem = undefined;
  }

  private problem(message: string): void {
    if (message !== this.lastProblem) this.o.logger.warn('Operator-wide notification sinks', { problem: message });
    this.lastProblem = message;
  }
}
