// The real helm for the chart tests: built from its Go module at HELM_VERSION (versions.env) by
// test/tools/build-helm.sh into ~/.cache/deployer-tools/helm-<version>/ on first use.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kubeconfigPath, repoRoot, run, type RunOptions, type RunResult } from './cluster.js';

let helmBin: string | undefined;
// helm's own config, cache and data (repositories, plugins) stay out of the user's home.
const helmHome = mkdtempSync(join(tmpdir(), 'deployer-helm-'));
process.on('exit', () => rmSync(helmHome, { recursive: true, force: true }));

/** Builds helm on a cold cache (minutes; allow no test timeout) and returns its path. */
export async function ensureHelm(): Promise<string> {
  if (helmBin) return helmBin;
  const r = await run('bash', [join(repoRoot, 'test', 'tools', 'build-helm.sh')], { timeoutMs: 0, streamStderr: true });
  const path = r.stdout.trim().split('\n').pop();
  if (r.code !== 0 || !path) throw new Error(`test/tools/build-helm.sh failed (exit ${r.code}); see its output above`);
  helmBin = path;
  return path;
}

/** Runs helm against the local control plane; never rejects on a non-zero exit (see `code`). */
export async function helm(args: string[], opts: Omit<RunOptions, 'env'> = {}): Promise<RunResult> {
  const bin = await ensureHelm();
  return run(bin, args, {
    timeoutMs: 120_000,
    ...opts,
    env: {
      ...process.env,
      KUBECONFIG: kubeconfigPath,
      HELM_CONFIG_HOME: join(helmHome, 'config'),
      HELM_CACHE_HOME: join(helmHome, 'cache'),
      HELM_DATA_HOME: join(helmHome, 'data'),
    },
  });
}
