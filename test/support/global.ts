// Mocha root hooks (required by .mocharc.json): build the compiled depctl that suites run as
// bin/depctl.js, bring the local control plane up once per run, and stop it at the end only if
// this run started it.
//   DEPLOYER_KEEP_CLUSTER=1   leave it running even if this run started it
//   DEPLOYER_SKIP_CLUSTER=1   don't start it at all (tests that need it will fail)
import type { Context } from 'mocha';
import { buildCli } from './cli-build.js';
import { ensureCluster, stopCluster } from './cluster.js';

let startedHere = false;

export const mochaHooks = {
  async beforeAll(this: Context): Promise<void> {
    // A cold cache builds kube-apiserver & co. from source first: no time limit here.
    this.timeout(0);
    await buildCli();
    if (process.env['DEPLOYER_SKIP_CLUSTER'] === '1') return;
    const info = await ensureCluster();
    startedHere = info.startedHere;
    process.env['KUBECONFIG'] = info.kubeconfig;
  },

  async afterAll(this: Context): Promise<void> {
    this.timeout(120_000);
    if (!startedHere || process.env['DEPLOYER_KEEP_CLUSTER'] === '1') return;
    await stopCluster();
  },
};
