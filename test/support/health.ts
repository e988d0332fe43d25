// The health GitOps tools compute, with their own libraries: test/tools/health (Go) runs an Argo CD
// health.lua with gopher-lua as Argo CD does, and kstatus (sigs.k8s.io/cli-utils) as Flux does.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot, run } from './cluster.js';

export interface Health {
  status: string;
  message?: string;
}

export const ARGOCD_CANARY_DIR = join(repoRoot, 'deploy/argocd/resource_customizations/deployer.dev/Canary');

let built: Promise<string> | undefined;

/** The helper's binary: built once per version and source, cached under ~/.cache/deployer-tools. */
export function healthTool(): Promise<string> {
  built ??= run('bash', [join(repoRoot, 'test/tools/health/build.sh')], { timeoutMs: 20 * 60_000, streamStderr: true }).then((r) => {
    const path = r.stdout.trim().split('\n').at(-1);
    if (r.code !== 0 || !path) throw new Error(`test/tools/health/build.sh failed: ${r.stderr}`);
    return path;
  });
  return built;
}

async function perObject(args: string[], objects: unknown[]): Promise<Health[]> {
  const dir = mkdtempSync(join(tmpdir(), 'deployer-health-'));
  try {
    const files = objects.map((o, i) => {
      const f = join(dir, `${i}.json`);
      writeFileSync(f, JSON.stringify(o));
      return f;
    });
    const r = await run(await healthTool(), [...args, ...files]);
    if (r.code !== 0) throw new Error(`health ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Health);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Argo CD's health of each object by health.lua. `openLibs` false runs it as a health check
 * pasted into argocd-cm runs (no standard libraries beyond base, table and a safe os).
 */
export function argoHealth(objects: unknown[], openLibs = false): Promise<Health[]> {
  return perObject(['lua', ...(openLibs ? ['-open-libs'] : []), join(ARGOCD_CANARY_DIR, 'health.lua')], objects);
}

/** kstatus of each object (Current, InProgress, Failed, Terminating, …), as Flux's health checks read it. */
export function kstatus(objects: unknown[]): Promise<Health[]> {
  return perObject(['kstatus'], objects);
}

export interface LuaTestCase {
  inputPath: string;
  expected: Health;
  openLibs: Health | { error: string };
  argocdCm: Health | { error: string };
  ok: boolean;
}

/** Every case of DIR/health_test.yaml, run in both modes. */
export async function luaTest(dir: string): Promise<{ code: number; cases: LuaTestCase[]; stderr: string }> {
  const r = await run(await healthTool(), ['lua-test', dir]);
  const cases = r.stdout.trim() ? r.stdout.trim().split('\n').map((l) => JSON.parse(l) as LuaTestCase) : [];
  return { code: r.code, cases, stderr: r.stderr };
}
