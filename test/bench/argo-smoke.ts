// Argo Rollouts on the local control plane, alone: the Argo column of the scale benchmark
// (npm run bench:scale), runnable by itself to check the setup and to read Argo's figures.
//
//   CLUSTER_DIR=/path/to/a/running/control/plane npx tsx test/bench/argo-smoke.ts [N ...]
//
// For each N (default 20): N Rollouts of one replica over 10 namespaces (canary setWeight 20 +
// pause, background analysis by a Datadog AnalysisTemplate against the local Datadog stand-in),
// then once all are Healthy: the controller's RSS and CPU over an idle window, a burst of new
// revisions on 10% of them at once (time until every canary ReplicaSet exists), proof that their
// analysis queried Datadog, and back to idle. Sizes grow in one controller process.
// The idle window starts once every Rollout is Healthy and the controller has made no API request
// for 10 s (after a wave of new Rollouts it flushes Events for a while).
// Environment: ARGO_IDLE_MS (idle window, default 60000), ARGO_BURST_COUNT (default 10% of N),
// ARGO_DATADOG_API (v2 | v1, default v2), ARGO_KEEP=1 keeps the namespaces.
// Prints a table and writes .bench/argo-rollouts.json.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { clusterDir, kubeconfigPath, loadKubeConfig, repoRoot } from '../support/cluster.js';
import { RawClient } from '../../src/kube/raw-client.js';
import { DatadogStandIn } from '../datadog/server.js';
import {
  ARGO_METRIC,
  burstArgo,
  createArgoWorkloads,
  deleteArgoWorkloads,
  ensureArgoRollouts,
  installArgoCrds,
  measureIdle,
  revertArgoBurst,
  rssMiB,
  startArgo,
  waitArgoAnalysesMeasured,
  waitArgoHealthy,
  waitArgoQuiet,
  type ArgoWorkloads,
} from './argo-rollouts.js';

const API_KEY = 'bench-api-key';
const APP_KEY = 'bench-app-key';
const NAMESPACES = 10;
const MONITORS = Array.from({ length: 50 }, (_, i) => 7_000 + i);

interface Row {
  n: number;
  /** From the first create to every Rollout Healthy (the new ones only, when N grows). */
  allHealthyMs?: number;
  /** Then until the controller made no API request for 10 s. */
  quietAfterMs: number;
  rssMiB: number;
  idleCpuSecondsPerMinute: number;
  /** The machine's 1-minute load average at the end of the idle window (2 cores, shared). */
  loadAverage1m: number;
  /** Datadog requests during the idle window (no canary in flight: 0 expected). */
  datadogCallsIdle: number;
  /** Kubernetes API requests by verb during the idle window. */
  apiRequestsIdle: Record<string, number>;
  burst?: { count: number; allCanaryReplicaSetsMs: number; writesMs: number; afterWritesMs: number; analysesMeasuredMs: number; datadogQueries: number; revertMs: number };
}

async function main(): Promise<void> {
  const sizes = process.argv.slice(2).map(Number).filter((n) => n >= 0);
  if (sizes.length === 0) sizes.push(20);
  if (sizes.some((n) => n % NAMESPACES !== 0)) throw new Error(`each N must be a multiple of ${NAMESPACES}`);
  if (!existsSync(kubeconfigPath)) throw new Error(`no control plane at ${clusterDir} (start one with test/cluster/up.sh, or set CLUSTER_DIR)`);
  process.env.KUBECONFIG = kubeconfigPath;
  const idleMs = Number(process.env.ARGO_IDLE_MS ?? 60_000);
  const apiVersion = process.env.ARGO_DATADOG_API === 'v1' ? 'v1' : 'v2';

  const t0 = performance.now();
  const build = await ensureArgoRollouts();
  console.error(`[argo] ${build.bin} (${Math.round(performance.now() - t0)} ms to find or build)`);
  await installArgoCrds(build.crdsDir);
  const client = new RawClient(loadKubeConfig());
  const dd = await DatadogStandIn.start({ apiKey: API_KEY, appKey: APP_KEY });
  dd.setSeries(new RegExp(ARGO_METRIC.replace(/\./g, '\\.')), { value: 0 });

  const suffix = Date.now().toString(36);
  const namespaces = Array.from({ length: NAMESPACES }, (_, i) => `argo-${suffix}-${i}`);
  const argo = await startArgo(kubeconfigPath, { bin: build.bin });
  console.error(`[argo] controller pid ${argo.pid}, log ${argo.logFile}`);
  const rows: Row[] = [];
  let w: ArgoWorkloads | undefined;
  try {
    for (const n of sizes) {
      let allHealthyMs: number | undefined;
      if (n > 0) {
        const c0 = performance.now();
        w = await createArgoWorkloads(client, {
          namespaces,
          perNamespace: n / NAMESPACES,
          monitorIds: MONITORS,
          datadogAddress: dd.url,
          apiKey: API_KEY,
          appKey: APP_KEY,
          datadogApiVersion: apiVersion,
        });
        await waitArgoHealthy(client, w);
        allHealthyMs = Math.round(performance.now() - c0);
        console.error(`[argo] N=${n}: all Healthy ${allHealthyMs} ms after the first create`);
      }
      const quietMs = await waitArgoQuiet(argo);
      console.error(`[argo] N=${n}: no API request for 10 s, ${quietMs} ms after all Healthy`);
      dd.clearRequests();
      const api0 = await argo.apiRequests();
      const idle = await measureIdle(argo.pid, idleMs);
      const datadogCallsIdle = dd.requests('/api/').length;
      const apiRequestsIdle = difference(await argo.apiRequests(), api0);
      const row: Row = {
        n,
        ...(allHealthyMs === undefined ? {} : { allHealthyMs }),
        quietAfterMs: quietMs,
        rssMiB: idle.rssMiB.last,
        idleCpuSecondsPerMinute: idle.cpuSecondsPerMinute,
        loadAverage1m: Math.round(loadavg()[0]! * 10) / 10,
        datadogCallsIdle,
        apiRequestsIdle,
      };
      console.error(`[argo] N=${n}: RSS ${idle.rssMiB.last} MiB (max ${idle.rssMiB.max}), idle CPU ${idle.cpuSecondsPerMinute} s/min, ${datadogCallsIdle} Datadog calls, API requests ${JSON.stringify(apiRequestsIdle)}, load average ${row.loadAverage1m}`);
      if (w && n > 0) {
        dd.clearRequests();
        const count = process.env.ARGO_BURST_COUNT ? Number(process.env.ARGO_BURST_COUNT) : undefined;
        const burst = await burstArgo(client, w, count === undefined ? {} : { count });
        // The analysis of each new revision measures through the Datadog provider.
        const measuredMs = await waitArgoAnalysesMeasured(client, burst);
        const datadogQueries = dd.requests('/api/').filter((r) => r.status === 200).length;
        const revertMs = await revertArgoBurst(client, w, burst);
        row.burst = {
          count: burst.changed.length,
          allCanaryReplicaSetsMs: burst.allCanaryReplicaSetsMs,
          writesMs: burst.writesMs,
          afterWritesMs: burst.afterWritesMs,
          analysesMeasuredMs: measuredMs,
          datadogQueries,
          revertMs,
        };
        console.error(`[argo] N=${n}: burst of ${burst.changed.length}: all canary ReplicaSets in ${burst.allCanaryReplicaSetsMs} ms (writes ${burst.writesMs} ms); every analysis measured ${measuredMs} ms later (${datadogQueries} Datadog queries); back to Healthy in ${revertMs} ms`);
      }
      rows.push(row);
    }
  } finally {
    const rssEnd = (() => {
      try {
        return rssMiB(argo.pid);
      } catch {
        return NaN;
      }
    })();
    await argo.stop();
    await dd.close();
    if (w && process.env.ARGO_KEEP !== '1') await deleteArgoWorkloads(w);
    console.error(`[argo] stopped (RSS at the end ${rssEnd} MiB)`);
  }

  console.log(`Argo Rollouts ${build.version}, one process, ${NAMESPACES} namespaces, Datadog API ${apiVersion}, idle window ${idleMs / 1000} s`);
  console.log('| N | RSS | new Rollouts → all Healthy | burst: Rollouts changed → all canary ReplicaSets | idle CPU per minute | load average |');
  console.log('|---|---|---|---|---|---|');
  for (const r of rows) {
    const burst = r.burst ? `${r.burst.count} → ${r.burst.allCanaryReplicaSetsMs} ms` : '–';
    console.log(`| ${r.n} | ${r.rssMiB} MiB | ${r.allHealthyMs === undefined ? '–' : `${(r.allHealthyMs / 1000).toFixed(1)} s`} | ${burst} | ${r.idleCpuSecondsPerMinute} s | ${r.loadAverage1m} |`);
  }
  mkdirSync(join(repoRoot, '.bench'), { recursive: true });
  const out = join(repoRoot, '.bench', 'argo-rollouts.json');
  writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), version: build.version, apiVersion, idleMs, rows }, null, 2));
  console.log(`written to ${out}`);
}

function difference(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [verb, n] of Object.entries(after)) if (n - (before[verb] ?? 0) > 0) out[verb] = n - (before[verb] ?? 0);
  return out;
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
