// `depctl metrics`: one block of figures per application (Release) or Deployment (Canary alone).
import type { DeliveryFigures, Summary } from '../../metrics/delivery.js';
import { formatAge } from './age.js';

const pct = (x: number | undefined): string => (x === undefined ? '-' : `${(Math.round(x * 1000) / 10).toString()}%`);
const secs = (s: number | undefined): string => (s === undefined ? '-' : formatAge(s * 1000));
const round = (x: number): string => (Math.round(x * 100) / 100).toString();

function spread(s: Summary, format: (v: number | undefined) => string): string {
  if (s.count === 0) return '-';
  return `median ${format(s.median)}${s.p90 !== undefined ? `, p90 ${format(s.p90)}` : ''} (${s.count})`;
}

/** The figures as people read them; every figure's definition is in the README ("Delivery metrics"). */
export function renderDelivery(figures: readonly DeliveryFigures[]): string {
  return figures
    .map((f) => {
      const rows: Array<[string, string]> = [
        ['Deploys', `${f.deploys} (${round(f.deploysPerWeek)} per week)`],
        ['Canary catches', `${f.canaryCatches}${f.canaryCatchRate !== undefined ? ` (${pct(f.canaryCatchRate)} of attempts)` : ''}`],
        ['Change failure rate', f.changeFailureRate === undefined ? '-' : `${pct(f.changeFailureRate)} (${f.changeFailures} of ${f.deploys})`],
        ['Time to recover', `${spread(f.timeToRecoverSeconds, secs)}${f.unrecovered ? `, ${f.unrecovered} not recovered` : ''}`],
        ['Deploy duration', spread(f.durationSeconds, secs)],
        ['Lead time', spread(f.leadTimeSeconds, secs)],
        ['Lines per deploy', spread(f.linesChanged, (v) => (v === undefined ? '-' : round(v)))],
      ];
      const width = Math.max(...rows.map(([k]) => k.length));
      const head = `${f.kind} ${f.namespace}/${f.name}   since ${f.since.slice(0, 10)}`;
      const failures = f.failures.map(
        (x) => `    ${x.version ?? x.revision}: ${x.cause.replace(/_/g, ' ')}, promoted ${x.promotedAt}${x.recoveredAt ? `, recovered ${x.recoveredAt}` : ', not recovered'}`,
      );
      return [head, ...rows.map(([k, v]) => `  ${k.padEnd(width)}   ${v}`), ...(failures.length ? ['  Change failures:', ...failures] : [])].join('\n');
    })
    .join('\n\n');
}
