// Push versus poll on the local control plane (npm run bench:push; not part of npm test).
// Measures, over N runs each, the time from the moment the canary's monitor group starts
// alerting to (a) status RolledBack and (b) the canary pods gone:
//  - push: the Datadog stand-in posts the Webhooks integration's notification to the operator's
//    push endpoint (HTTPS, token header, the README's payload template) the moment the group
//    alerts; the Canary's analysis interval is 1m, so only the push can explain a fast rollback.
//  - poll only: no webhook; the alert is seen at the next poll. The alert comes at a uniformly
//    random moment of the interval (POLL_INTERVAL, default 10s), as a real alert would.
// Prints the figures and writes them to .bench/push-results.json. The operator runs as its own
// process (compiled JavaScript when npm run build has run), watching only the bench's namespace.
import { KubeConfig } from '@kubernetes/client-node';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { ensureCluster, kubectl } from '../support/cluster.js';
import { RawClient, paths, type KubeObject } from '../../src/kube/raw-client.js';
import { DatadogStandIn } from '../datadog/server.js';
import { quantile, sleep, waitUntil } from './stats.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const API_KEY = 'bench-api-key';
const APP_KEY = 'bench-app-key';
const TOKEN = 'bench-push-token-5e0c7a1f9b2d4e6a';
const PAYLOAD = '{"event_id": "$ID", "monitor_id": "$ALERT_ID", "transition": "$ALERT_TRANSITION", "scope": "$ALERT_SCOPE", "date": "$DATE"}';
const RUNS = Number(process.env.BENCH_RUNS ?? 10);
const POLL_INTERVAL_S = Number(process.env.POLL_INTERVAL ?? 10);
const HEALTH_PORT = 18_182;
const PUSH_PORT = 18_443;
const AS_USER = { fieldManager: 'bench-user' };

const round = (x: number): number => Math.round(x);
const summary = (xs: number[]) => ({ p50: round(quantile(xs, 0.5)), p90: round(quantile(xs, 0.9)), min: round(Math.min(...xs)), max: round(Math.max(...xs)), n: xs.length });

/** The operator with the push endpoint on (a token Secret in the bench's namespace). */
function startOperator(namespace: string): ChildProcess {
  mkdirSync(`${ROOT}.cluster/logs`, { recursive: true });
  const entry = existsSync(`${ROOT}dist/src/main.js`) ? [`${ROOT}dist/src/main.js`] : ['--import', 'tsx', `${ROOT}src/main.ts`];
  const args = [
    ...entry,
    '--namespaces', namespace,
    '--no-leader-elect',
    '--webhook-port', '0',
    '--webhook-url', '127.0.0.1',
    '--health-port', String(HEALTH_PORT),
    '--push-port', String(PUSH_PORT),
    '--push-token-secret', `${namespace}/deployer-push`,
    // Each run alerts anew within seconds of the last; the default (10s) would throttle them.
    '--push-min-interval', '1s',
    '--log-level', process.env.BENCH_LOG_LEVEL ?? 'warn',
  ];
  const log = openSync(`${ROOT}.cluster/logs/bench-push-operator.log`, 'w');
  return spawn(`${ROOT}node_modules/.bin/node`, args, { cwd: ROOT, stdio: ['ignore', log, log] });
}

interface Run {
  /** Alert → status RolledBack, ms. */
  rolledBackMs: number;
  /** Alert → no canary pod left (none without a deletionTimestamp), ms. */
  podsGoneMs: number;
}

async function main(): Promise<void> {
  const { kubeconfig } = await ensureCluster();
  process.env.KUBECONFIG = kubeconfig;
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const client = new RawClient(kc);
  const ns = `bench-push-${Date.now().toString(36)}`;
  await kubectl(['apply', '-f', `${ROOT}crds/`]);
  await kubectl(['create', 'namespace', ns]);
  const dd = await DatadogStandIn.start({ apiKey: API_KEY, appKey: APP_KEY });
  dd.upsertMonitor({ id: 7, name: 'bench errors', tags: ['service:bench'], query: 'avg(last_5m):sum:errors{*} by {version} > 1', groupByVersion: true });
  const apply = async (obj: unknown) => {
    const r = await kubectl(['apply', '-n', ns, '-f', '-'], { input: JSON.stringify(obj) });
    if (r.code !== 0) throw new Error(r.stderr);
  };
  await apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'datadog' }, stringData: { 'api-key': API_KEY, 'app-key': APP_KEY, url: dd.url } });
  await apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'deployer-push' }, stringData: { token: TOKEN } });
  const op = startOperator(ns);
  const results: Record<string, unknown> = { date: new Date().toISOString(), node: process.version, cpus: (await import('node:os')).cpus().length };
  try {
    await waitUntil(async () => {
      const r = await fetch(`http://127.0.0.1:${HEALTH_PORT}/readyz`).catch(() => undefined);
      return r?.status === 200 ? true : undefined;
    }, 60_000, 200);
    results.operatorEntry = existsSync(`${ROOT}dist/src/main.js`) ? 'dist/src/main.js (compiled)' : 'src/main.ts (tsx)';

    const scenario = async (name: string, interval: string, push: boolean): Promise<Run[]> => {
      await apply({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name },
        spec: { replicas: 3, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image: `bench/${name}:0` }] } } },
      });
      await kubectl(['rollout', 'status', `deployment/${name}`, '-n', ns, '--timeout=60s']);
      await apply({
        apiVersion: 'deployer.dev/v1alpha1',
        kind: 'Canary',
        metadata: { name },
        spec: {
          targetRef: { name },
          steps: [{ setWeight: 25 }, { pause: { duration: '1h' } }],
          analysis: { interval, checks: [{ name: 'errors', datadogMonitor: { id: 7 } }] },
          datadog: { secretRef: { name: 'datadog' } },
        },
      });
      await waitUntil(async () => ((await client.get<{ status?: { phase?: string } }>(paths.canary(ns, name))).status?.phase === 'Waiting' ? true : undefined));
      dd.setWebhook(push ? { url: `https://127.0.0.1:${PUSH_PORT}/datadog/webhook`, headers: { 'X-Deployer-Token': TOKEN }, payload: PAYLOAD, transitions: ['Triggered'] } : undefined);
      const runs: Run[] = [];
      let lastPushAt = 0;
      for (let i = 1; i <= RUNS; i++) {
        const version = `${push ? 'p' : 'q'}${i}.0.0`;
        dd.setVersions([version]);
        await client.patch(paths.deployment(ns, name), [{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: `bench/${name}:${version}` }], 'application/json-patch+json', AS_USER);
        const held = await waitUntil(async () => {
          const c = await client.get<{ status?: { checks?: Array<{ passes: number; measurements: Array<{ time: string }> }>; canaryVersion?: string } }>(paths.canary(ns, name));
          const check = c.status?.checks?.[0];
          return c.status?.canaryVersion === version && (check?.passes ?? 0) >= 1 ? check : undefined;
        }, 60_000, 20);
        // The alert comes at a uniformly random moment of the poll interval after the last measurement.
        const lastPoll = Date.parse(held!.measurements.at(-1)!.time);
        const intervalMs = push ? 2_000 : POLL_INTERVAL_S * 1000;
        // A push within --push-min-interval (1s here) of the last one would be throttled, as designed.
        const alertAt = Math.max(lastPoll + Math.random() * intervalMs, lastPushAt + 1_200);
        await sleep(Math.max(0, alertAt - Date.now()));
        const t0 = Date.now();
        dd.setAlertVersions([version]);
        let rolledBackAt: number | undefined;
        let podsGoneAt: number | undefined;
        await waitUntil(async () => {
          if (rolledBackAt === undefined) {
            const c = await client.get<{ status?: { phase?: string } }>(paths.canary(ns, name));
            if (c.status?.phase === 'RolledBack') rolledBackAt = Date.now();
          }
          if (podsGoneAt === undefined) {
            const pods = await client.list<KubeObject>(`/api/v1/namespaces/${ns}/pods`, { labelSelector: `deployer.dev/canary-of=${name}` });
            if (pods.items.every((p) => p.metadata.deletionTimestamp)) podsGoneAt = Date.now();
          }
          return rolledBackAt !== undefined && podsGoneAt !== undefined ? true : undefined;
        }, POLL_INTERVAL_S * 1000 + 120_000, 2);
        let start = t0;
        if (push) {
          const deliveries = await dd.webhookDeliveries();
          const d = deliveries.at(-1)!;
          if (d.status !== 202) throw new Error(`the push was answered ${d.status ?? d.error}: ${d.answer ?? ''}`);
          start = d.sentAt;
          lastPushAt = d.sentAt;
        }
        runs.push({ rolledBackMs: rolledBackAt! - start, podsGoneMs: podsGoneAt! - start });
        dd.setAlertVersions([]);
        await client.patch(paths.canary(ns, name), { metadata: { annotations: { 'deployer.dev/retry': `r${i}` } } }, 'application/merge-patch+json', AS_USER);
        await sleep(300);
      }
      return runs;
    };

    const pushRuns = await scenario('pushed', '1m', true);
    const pollRuns = await scenario('polled', `${POLL_INTERVAL_S}s`, false);
    results.push = {
      what: 'notification sent by the Datadog stand-in → status RolledBack / canary pods gone (analysis interval 1m)',
      rolledBackMs: summary(pushRuns.map((r) => r.rolledBackMs)),
      podsGoneMs: summary(pushRuns.map((r) => r.podsGoneMs)),
      target: 'p50 < 1000 ms',
    };
    results.pollOnly = {
      what: `monitor group alerts (at a random moment of the interval) → status RolledBack / canary pods gone, analysis interval ${POLL_INTERVAL_S}s, no push`,
      rolledBackMs: summary(pollRuns.map((r) => r.rolledBackMs)),
      podsGoneMs: summary(pollRuns.map((r) => r.podsGoneMs)),
      note: 'the wait for the next poll is up to one interval (half of it on average): set POLL_INTERVAL=60 for the interval the push scenario uses',
    };
  } finally {
    op.kill('SIGTERM');
    await dd.close();
    await kubectl(['delete', 'namespace', ns, '--wait=false']);
    const list = await client.list<KubeObject>(paths.canaries(ns)).catch(() => ({ items: [] as KubeObject[] }));
    for (const c of list.items) await client.patch(paths.canary(ns, c.metadata.name), { metadata: { finalizers: null } }).catch(() => undefined);
  }
  mkdirSync(`${ROOT}.bench`, { recursive: true });
  writeFileSync(`${ROOT}.bench/push-results.json`, JSON.stringify(results, null, 2));
  console.log(JSON.stringify(results, null, 2));
  console.log('written to .bench/push-results.json');
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
