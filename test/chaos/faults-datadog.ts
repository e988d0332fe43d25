// Faults of the catalogue on the Datadog side: the API blackholed, slow (beyond the operator's
// timeout, and merely slow within it), answering 5xx, answering 200 with garbage, a 429 storm
// shared by 50 canaries, and the keys rotated mid-analysis. Each is injected through the local
// stand-in (test/datadog/server.ts) shared by the fleet, plus the Secret for the rotation.
import type { Canary } from '../../src/api/types.js';
import { paths, type KubeObject } from '../../src/kube/raw-client.js';
import type { Fault as StandInFault } from '../datadog/server.js';
import type { ChaosContext, Fault } from './fault.js';



/** Every API path the operator calls (monitors, searches, metric queries). */
const API = '/api/v1/*';

export interface DatadogFaultOptions {
  /** The operator's timeout for one Datadog call (its default is 10 s). */
  timeoutMs: number;
}

/** Garbage a proxy, a captive portal or a broken release could answer with, all with status 200. */
export const GARBAGE_ANSWERS: ReadonlyArray<{ what: string; fault: Omit<StandInFault, 'path'> }> = [
  { what: 'an HTML page', fault: { status: 200, contentType: 'text/html', body: '<html><body><h1>502 Bad Gateway</h1></body></html>' } },
  { what: 'bytes that are not UTF-8', fault: { status: 200, body: Uint8Array.from([0xff, 0xfe, 0x7b, 0x22, 0x00, 0xc3, 0x28]) } },
  { what: 'JSON cut short', fault: { status: 200, body: JSON.stringify({ id: 101, name: 'errors', overall_state: 'OK', state: { groups: {} } }), cutShort: true } },
  { what: 'JSON of another shape', fault: { status: 200, body: { data: [], meta: { page: 0 } } } },
  { what: 'a JSON array', fault: { status: 200, body: [{ ok: true }] } },
  { what: 'JSON null', fault: { status: 200, body: 'null' } },
];

function pick<T>(random: () => number, list: readonly T[]): T {
  return list[Math.min(list.length - 1, Math.floor(random() * list.length))]!;
}

/** The Datadog Secrets the fleet's Canaries use (by name). */
async function datadogSecretNames(ctx: ChaosContext): Promise<string[]> {
  const canaries = (await ctx.client.list<Canary & KubeObject>(paths.canaries(ctx.namespace))).items;
  const names = new Set(canaries.map((c) => c.spec.datadog?.secretRef.name).filter((n): n is string => !!n));
  return [...names].sort();
}

/** Writes these keys into the Secrets, as a person rotating them would (kubectl apply, their own field manager). */
async function writeKeys(ctx: ChaosContext, names: string[], apiKey: string, appKey: string): Promise<void> {
  for (const name of names) {
    await ctx.client.patch(
      paths.secret(ctx.namespace, name),
      { stringData: { 'api-key': apiKey, 'app-key': appKey } },
      undefined,
      { fieldManager: 'chaos-key-rotation' },
    );
  }
}

/** The Datadog faults, for an operator whose calls time out after options.timeoutMs. */
export function datadogFaultsFor(options: DatadogFaultOptions): Fault[] {
  const { timeoutMs } = options;
  const seconds = (ms: number): string => `${Math.round(ms / 100) / 10}s`;
  let garbage = GARBAGE_ANSWERS[0]!;
  let originalKeys: { apiKey: string; appKey: string } | undefined;
  let rotatedSecrets: string[] = [];
  const faults: Fault[] = [
    {
      name: 'Datadog blackholed',
      userSees:
        'While it lasts: each check of a canary in analysis records Error "no answer from Datadog within 10s at HOST: the connection failed or timed out" every timeout; ' +
        'ChecksPassing False; a canary reaching consecutiveErrorLimit (3) errors in a row rolls back (RolledBack, CheckErrors, "could not be measured 3 times in a row", ' +
        'the Deployment stays paused on the failed template, stable pods untouched). Never a Pass, never a promotion. After it heals: measurements pass again; canaries ' +
        'not yet rolled back go on and promote.',
      fast: false,
      durationMs: 3 * timeoutMs + 6_000,
      async inject(ctx) {
        ctx.datadog.addFault({ path: API, blackhole: true });
        ctx.log(`Datadog blackholed: requests to ${API} are accepted and never answered`);
      },
      async heal(ctx) {
        ctx.datadog.clearFaults();
      },
    },
    {
      name: 'Datadog slow beyond the timeout',
      userSees:
        `Like a blackhole: every call answers after ${seconds(timeoutMs + 2_000)}, beyond the operator's ${seconds(timeoutMs)} timeout, so each is an Error ` +
        '"no answer from Datadog within …"; 3 in a row roll the canary back (CheckErrors). Never a Pass. After it heals: measurements pass again.',
      fast: false,
      durationMs: 3 * timeoutMs + 6_000,
      async inject(ctx) {
        ctx.datadog.addFault({ path: API, delayMs: timeoutMs + 2_000 });
      },
      async heal(ctx) {
        ctx.datadog.clearFaults();
      },
    },
    {
      name: 'Datadog slow within the timeout',
      userSees:
        `Every call answers after ${seconds(Math.round(timeoutMs * 0.7))} (within the ${seconds(timeoutMs)} timeout): measurements arrive late but are real ` +
        '(Pass for good revisions, Fail for bad ones); steps take longer, nothing rolls back for slowness and no error is recorded.',
      fast: false,
      async inject(ctx) {
        ctx.datadog.addFault({ path: API, delayMs: Math.round(timeoutMs * 0.7) });
      },
      async heal(ctx) {
        ctx.datadog.clearFaults();
      },
    },
    {
      name: 'Datadog 5xx',
      userSees:
        'Each check records Error "Datadog answered 503 Service Unavailable: …" (or 500/502) every interval; ChecksPassing False; 3 in a row roll the canary back ' +
        '(RolledBack, CheckErrors quoting the last answer; Warning Events CheckErrors on the Canary and the Deployment). Never a Pass. After it heals: measurements pass again.',
      fast: true,
      async inject(ctx) {
        const status = pick(ctx.random, [500, 502, 503]);
        ctx.datadog.addFault({ path: API, status, body: { errors: [`upstream failure ${status}`] } });
        ctx.log(`Datadog answers ${status}`);
      },
      async heal(ctx) {
        ctx.datadog.clearFaults();
      },
    },
    {
      name: 'Datadog garbage JSON',
      userSees:
        'Each check records Error "Datadog sent the monitor … in a form that could not be read" (JSON of another shape, an array, null) or ' +
        '"Datadog sent a response that could not be read: …" (HTML, bytes that are not UTF-8, JSON cut short); 3 in a row roll the canary back (CheckErrors). ' +
        'A 200 never counts as a Pass unless it is a monitor or a series list. After it heals: measurements pass again.',
      fast: false,
      async inject(ctx) {
        garbage = pick(ctx.random, GARBAGE_ANSWERS);
        ctx.datadog.addFault({ path: API, ...garbage.fault });
        ctx.log(`Datadog answers 200 with ${garbage.what}`);
      },
      async heal(ctx) {
        ctx.datadog.clearFaults();
      },
    },
    {
      name: 'Datadog 429 storm (50 canaries)',
      userSees:
        'Every call gets 429 with x-ratelimit-reset (the organisation quota is used up); the operator stops calling until the reset, ' +
        'retries twice, then records Inconclusive "rate limited by Datadog until …" — never an Error (no rollback for CheckErrors), never a Pass. Canaries wait at ' +
        'the end of their pause ("waiting for a passing measurement"); a storm longer than progressDeadline rolls them back (ProgressDeadlineExceeded). ' +
        'After it heals: the next measurements pass and the canaries promote.',
      fast: false,
      fleet: 50,
      durationMs: 25_000,
      async inject(ctx) {
        // The organisation's quota is used up: every call gets 429 until the storm ends, each answer
        // saying when the window resets; then a quota of 1 call per 5 s lingers on until healed.
        ctx.datadog.rateLimit({ path: API, times: 1_000_000, resetSeconds: 2, limit: 1, period: 5 });
        ctx.datadog.setQuota({ path: API, limit: 1, periodSeconds: 5 });
      },
      async heal(ctx) {
        ctx.datadog.clearFaults();
        ctx.datadog.clearQuotas();
      },
    },
    {
      name: 'Datadog keys rotated mid-analysis',
      userSees:
        'The Secret gets new keys and Datadog accepts only those from that moment. Until the operator re-reads the Secret, calls with the old keys get 403: ' +
        'at most one Error "Datadog rejected the API or application key (403 Forbidden)" per check, then measurements pass with the new keys; no canary rolls ' +
        'back for the rotation. Healing rotates the keys back the same way.',
      fast: true,
      async inject(ctx) {
        rotatedSecrets = await datadogSecretNames(ctx);
        originalKeys = { apiKey: ctx.datadog.apiKey, appKey: ctx.datadog.appKey };
        const suffix = Math.floor(ctx.random() * 1e9).toString(36);
        const apiKey = `rotated-api-${suffix}`;
        const appKey = `rotated-app-${suffix}`;
        await writeKeys(ctx, rotatedSecrets, apiKey, appKey);
        ctx.datadog.rotateKeys(apiKey, appKey);
        ctx.log(`Datadog keys rotated in Secret(s) ${rotatedSecrets.join(', ')}; the old keys are revoked`);
      },
      async heal(ctx) {
        if (!originalKeys) return;
        await writeKeys(ctx, rotatedSecrets, originalKeys.apiKey, originalKeys.appKey);
        ctx.datadog.rotateKeys(originalKeys.apiKey, originalKeys.appKey);
        originalKeys = undefined;
      },
    },
  ];
  return faults;
}

/** The faults for the operator as the harness runs it (default Datadog timeout, 10 s). */
export const datadogFaults: Fault[] = datadogFaultsFor({ timeoutMs: 10_000 });
