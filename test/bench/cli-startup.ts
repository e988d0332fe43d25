// depctl start-up time (npm run bench:cli; not part of npm test). Runs each command RUNS times
// after one warm-up run, prints the median and the spread, and writes .bench/cli-startup.json:
//  - node bin/depctl.js …               the compiled build, as an installed depctl runs
//  - node --import tsx src/cli/main.ts … the TypeScript sources through tsx (warm tsx cache)
//  - node -e 0                          Node's own start-up, the floor for both
// The commands need no cluster: `--help`, and `validate` of an example (loads yaml, ajv and the CRD).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RUNS = Number(process.env['BENCH_RUNS'] ?? 15);

interface Figure {
  name: string;
  command: string;
  runs: number;
  medianMs: number;
  minMs: number;
  maxMs: number;
}

function time(name: string, args: string[]): Figure {
  const once = (): number => {
    const start = process.hrtime.bigint();
    const r = spawnSync(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, DEPCTL_DEBUG: '' } });
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    if (r.status !== 0) throw new Error(`${name}: node ${args.join(' ')} exited ${r.status}: ${r.stderr.toString()}`);
    return ms;
  };
  once(); // warm-up: file system cache, tsx's transform cache
  const xs = Array.from({ length: RUNS }, once).sort((a, b) => a - b);
  const mid = Math.floor(xs.length / 2);
  const median = xs.length % 2 ? xs[mid]! : (xs[mid - 1]! + xs[mid]!) / 2;
  return { name, command: `node ${args.join(' ')}`, runs: RUNS, medianMs: round(median), minMs: round(xs[0]!), maxMs: round(xs[xs.length - 1]!) };
}

const round = (ms: number): number => Math.round(ms * 10) / 10;

if (!existsSync(join(ROOT, 'dist/src/cli/main.js'))) throw new Error('dist/src/cli/main.js is missing: run npm run build:cli first');
const example = 'examples/canary-basic.yaml';
const figures = [
  time('node (no script)', ['-e', '0']),
  time('depctl --help (compiled)', ['bin/depctl.js', '--help']),
  time('depctl --help (tsx)', ['--import', 'tsx', 'src/cli/main.ts', '--help']),
  time('depctl validate (compiled)', ['bin/depctl.js', 'validate', example]),
  time('depctl validate (tsx)', ['--import', 'tsx', 'src/cli/main.ts', 'validate', example]),
];

console.log(`depctl start-up, Node ${process.versions.node}, ${RUNS} runs each after one warm-up (ms)`);
console.log(`${'command'.padEnd(30)} ${'median'.padStart(8)} ${'min'.padStart(8)} ${'max'.padStart(8)}`);
for (const f of figures) console.log(`${f.name.padEnd(30)} ${f.medianMs.toFixed(1).padStart(8)} ${f.minMs.toFixed(1).padStart(8)} ${f.maxMs.toFixed(1).padStart(8)}`);
mkdirSync(join(ROOT, '.bench'), { recursive: true });
const out = join(ROOT, '.bench', 'cli-startup.json');
writeFileSync(out, `${JSON.stringify({ node: process.versions.node, date: new Date().toISOString(), figures }, null, 2)}\n`);
console.log(`wrote ${out}`);
