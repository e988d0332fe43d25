// npm run chaos [-- --repeats N] [--seed S] [--fast] [--only <substring>]
// Runs the fault catalogue (test/chaos/catalogue.ts) on the control plane of CLUSTER_DIR /
// KUBECONFIG, each fault N times with seeds derived from S, prints a markdown table of the four
// counters and writes it to .bench/chaos.json and .bench/chaos.md. Exits non-zero when any counter
// is not zero (or a run failed).
import { mkdirSync, writeFileSync } from 'node:fs';
import { clusterDir, kubeconfigPath } from '../support/cluster.js';
import { CATALOGUE } from './catalogue.js';
import { runFault, type FaultRunResult } from './harness.js';

const ROOT = new URL('../../', import.meta.url).pathname;

interface Args {
  repeats: number;
  seed: number;
  fast: boolean;
  only: string | undefined;
  fleet: number | undefined;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { repeats: 5, seed: Math.floor(Math.random() * 2 ** 31), fast: false, only: undefined, fleet: undefined };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    if (flag === '--repeats') a.repeats = Number(value());
    else if (flag === '--seed') a.seed = Number(value());
    else if (flag === '--fast') a.fast = true;
    else if (flag === '--only') a.only = value();
    else if (flag === '--fleet') a.fleet = Number(value());
    else throw new Error(`unknown argument ${flag} (known: --repeats N, --seed S, --fast, --only <substring>, --fleet K)`);
  }
  if (!Number.isInteger(a.repeats) || a.repeats < 1) throw new Error('--repeats takes a positive integer');
  if (!Number.isInteger(a.seed)) throw new Error('--seed takes an integer');
  return a;
}

interface Row {
  fault: string;
  userSees: string;
  runs: number;
  failedRuns: number;
  falsePromotions: number;
  lostRevisions: number;
  duplicateCanaryReplicaSets: number;
  heldWithoutExplanation: number;
  settleMedianMs: number | undefined;
  unsettled: number;
  seeds: number[];
}

const median = (xs: number[]): number | undefined => {
  if (!xs.length) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1]! + s[m]!) / 2;
};

export function markdownTable(rows: Row[]): string {
  const lines = [
    '| fault | what the user sees | runs | false promotions | lost revisions | duplicate canary RS | held without explanation | settle time median |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const settle = r.settleMedianMs === undefined ? 'did not settle' : `${(r.settleMedianMs / 1000).toFixed(1)} s${r.unsettled ? ` (${r.unsettled} unsettled)` : ''}`;
    const runs = r.failedRuns ? `${r.runs} (${r.failedRuns} failed to run)` : String(r.runs);
    lines.push(`| ${r.fault} | ${r.userSees} | ${runs} | ${r.falsePromotions} | ${r.lostRevisions} | ${r.duplicateCanaryReplicaSets} | ${r.heldWithoutExplanation} | ${settle} |`);
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const kubeconfig = process.env.KUBECONFIG ?? kubeconfigPath;
  const faults = CATALOGUE.filter((f) => (!args.fast || f.fast) && (!args.only || f.name.toLowerCase().includes(args.only.toLowerCase())));
  if (!faults.length) throw new Error('no fault matches');
  console.log(`chaos: ${faults.length} fault(s) × ${args.repeats}, seed ${args.seed}, control plane ${clusterDir}`);
  const rows: Row[] = [];
  const runs: Array<FaultRunResult | { fault: string; seed: number; error: string }> = [];
  let n = 0;
  for (const fault of faults) {
    const row: Row = { fault: fault.name, userSees: fault.userSees, runs: 0, failedRuns: 0, falsePromotions: 0, lostRevisions: 0, duplicateCanaryReplicaSets: 0, heldWithoutExplanation: 0, settleMedianMs: undefined, unsettled: 0, seeds: [] };
    const settle: number[] = [];
    for (let r = 0; r < args.repeats; r++) {
      const seed = (args.seed + 7919 * n++) % 2 ** 31;
      row.seeds.push(seed);
      row.runs++;
      try {
        const res = await runFault(fault, { kubeconfig, clusterDir, seed, log: (m) => console.log(`${new Date().toISOString()} ${m}`), ...(args.fleet ? { fleet: args.fleet } : {}) });
        runs.push(res);
        row.falsePromotions += res.counters.falsePromotions;
        row.lostRevisions += res.counters.lostRevisions;
        row.duplicateCanaryReplicaSets += res.counters.duplicateCanaryReplicaSets;
        row.heldWithoutExplanation += res.counters.heldWithoutExplanation;
        if (res.settleMs === undefined) row.unsettled++;
        else settle.push(res.settleMs);
        console.log(`=> ${fault.name} seed ${seed}: ${JSON.stringify({ ...res.counters, violations: res.counters.violations.length, settleMs: res.settleMs, phasesAtInjection: res.phasesAtInjection, shipped: res.revisionsShipped })}`);
      } catch (err) {
        row.failedRuns++;
        runs.push({ fault: fault.name, seed, error: (err as Error).stack ?? String(err) });
        console.log(`=> ${fault.name} seed ${seed}: the run failed: ${(err as Error).stack}`);
      }
    }
    row.settleMedianMs = median(settle);
    rows.push(row);
  }
  const table = markdownTable(rows);
  console.log(`\nseed ${args.seed}, repeats ${args.repeats}\n\n${table}`);
  mkdirSync(`${ROOT}.bench`, { recursive: true });
  writeFileSync(`${ROOT}.bench/chaos.json`, JSON.stringify({ seed: args.seed, repeats: args.repeats, at: new Date().toISOString(), rows, runs }, null, 2));
  writeFileSync(`${ROOT}.bench/chaos.md`, `Seed ${args.seed}, ${args.repeats} repeat(s) per fault (\`npm run chaos -- --repeats ${args.repeats} --seed ${args.seed}\`).\n\n${table}\n`);
  console.log('written to .bench/chaos.json and .bench/chaos.md');
  const bad = rows.some((r) => r.failedRuns || r.falsePromotions || r.lostRevisions || r.duplicateCanaryReplicaSets || r.heldWithoutExplanation || r.unsettled);
  process.exitCode = bad ? 1 : 0;
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (err: unknown) => {
    console.error(err);
    process.exit(2);
  },
);
