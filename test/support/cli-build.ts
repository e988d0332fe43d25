// The compiled depctl (dist/src/cli, from tsconfig.build.json), as bin/depctl.js runs it.
// Tests that start bin/depctl.js build it first, once per run, so they never exercise a stale build.
import { join } from 'node:path';
import { repoRoot, run } from './cluster.js';

let built: Promise<void> | undefined;

/** Compiles the CLI with the project's tsc (once per process); rejects with the compiler's output. */
export function buildCli(): Promise<void> {
  built ??= run(join(repoRoot, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.build.json'], { timeoutMs: 300_000 }).then((r) => {
    if (r.code !== 0) throw new Error(`tsc -p tsconfig.build.json failed:\n${r.stdout}${r.stderr}`);
  });
  return built;
}
