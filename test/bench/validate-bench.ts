// Time to validate one Canary, as the controller does on every pass (npm run bench:validate; not part
// of npm test). Prints the first call (reading the CRD, compiling the schema and the CEL rules) and
// the median of many calls after it, for a valid Canary with checks and for one that breaks several
// CEL rules.
//   node --import tsx test/bench/validate-bench.ts [path/to/src/api/validate.ts]
// The optional argument measures another tree's validate.ts (e.g. an older commit, for a comparison).
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';

type Validate = (obj: unknown) => unknown[];

const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 2000);
const target = resolve(process.argv[2] ?? new URL('../../src/api/validate.ts', import.meta.url).pathname);

const valid = {
  apiVersion: 'deployer.dev/v1alpha1',
  kind: 'Canary',
  metadata: { name: 'checkout', namespace: 'shop' },
  spec: {
    targetRef: { name: 'checkout' },
    progressDeadline: '10m',
    steps: [{ setWeight: 20 }, { pause: { duration: '5m' } }, { setWeight: 50 }, { pause: {} }],
    analysis: {
      interval: '30s',
      failureLimit: 1,
      checks: [
        { name: 'error-rate', datadogQuery: { query: 'sum:errors{service:{{ target }},version:{{ version }}}', max: 0.5, window: '5m' } },
        { name: 'monitors', datadogMonitor: { tags: ['service:{{ name }}'], group: 'version:{{version}}' } },
      ],
    },
    datadog: { secretRef: { name: 'datadog' } },
  },
};
const invalid = {
  ...valid,
  spec: {
    ...valid.spec,
    targetRef: { name: 'Check_Out' },
    steps: [{ setWeight: 20, pause: {} }, { pause: { duration: '169h' } }],
    analysis: { interval: '2h', checks: [{ name: 'q', datadogQuery: { query: 'avg:x{*}', min: 5, max: 1 } }] },
  },
};

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? NaN) : ((s[mid - 1] ?? NaN) + (s[mid] ?? NaN)) / 2;
}

const { validateCanary } = (await import(pathToFileURL(target).href)) as { validateCanary: Validate };
const t0 = performance.now();
const firstProblems = validateCanary(valid).length;
const first = performance.now() - t0;
const results: Record<string, number | string> = { module: target, firstCallMs: Number(first.toFixed(2)) };
for (const [name, obj] of [['valid', valid], ['invalid', invalid]] as const) {
  const times: number[] = [];
  let problems = 0;
  for (let i = 0; i < ROUNDS; i++) {
    const s = performance.now();
    problems = validateCanary(obj).length;
    times.push(performance.now() - s);
  }
  results[`${name}MedianUs`] = Number((median(times) * 1000).toFixed(1));
  results[`${name}Problems`] = problems;
}
if (firstProblems !== 0) throw new Error(`the valid Canary has ${firstProblems} problems`);
console.log(JSON.stringify(results, null, 2));
