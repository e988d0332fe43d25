// The fault catalogue run by npm run chaos (its fast faults also by npm test, see
// test/integration/chaos-fast.test.ts). Append new faults at the end.
import type { Fault } from './fault.js';
import { KUBE_FAULTS } from './faults-kube.js';
import { datadogFaults } from './faults-datadog.js';
import { workloadFaults } from './faults-workload.js';

export const CATALOGUE: Fault[] = [...KUBE_FAULTS, ...datadogFaults, ...workloadFaults];
