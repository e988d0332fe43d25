// depctl as a user installs it: the npm package's file list, and `npm install -g` of the packed
// tarball into a temporary prefix, giving `depctl`, `kubectl-deployer` and `kubectl deployer`
// (through the real kubectl's plugin mechanism) that run on compiled JavaScript.
import { expect } from 'chai';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, posix } from 'node:path';
import { ensureCluster, kubectlPath, repoRoot, run, type RunResult } from '../support/cluster.js';

const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { name: string; version: string; scripts: Record<string, string> };

interface PackResult {
  filename: string;
  files: Array<{ path: string }>;
}

async function npm(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
  const r = await run('npm', args, { cwd: opts.cwd ?? repoRoot, env: opts.env ?? process.env, timeoutMs: opts.timeoutMs ?? 300_000 });
  if (r.code !== 0) throw new Error(`npm ${args.join(' ')} exited ${r.code}:\n${r.stderr}`);
  return r;
}

/** npm's --json answer; anything a lifecycle script printed before it is skipped. */
function packJson(stdout: string): PackResult[] {
  return JSON.parse(stdout.slice(stdout.indexOf('['))) as PackResult[];
}

/**
 * The modules dist/src/cli/main.js loads at run time: its relative static imports and dynamic
 * import('…') calls with a literal specifier, followed transitively (tsc's output writes both verbatim).
 */
function runtimeClosure(entry: string): Set<string> {
  const seen = new Set<string>();
  const pending = [entry];
  const specifier = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm;
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const text = readFileSync(join(repoRoot, file), 'utf8');
    for (const m of text.matchAll(specifier)) pending.push(posix.normalize(posix.join(posix.dirname(file), m[1]!)));
  }
  return seen;
}

describe('depctl as an npm package', function () {
  this.timeout(600_000);

  it('publishes exactly what depctl needs: the compiled CLI, its launcher and the two CRDs', async () => {
    // --dry-run still runs prepack: a clean build of the CLI alone into dist/.
    const [packed] = packJson((await npm(['pack', '--dry-run', '--json'])).stdout);
    const paths = packed!.files.map((f) => f.path).sort();
    for (const must of ['package.json', 'README.md', 'LICENSE', 'bin/depctl.js', 'crds/deployer.dev_canaries.yaml', 'crds/deployer.dev_releases.yaml', 'dist/src/cli/main.js']) {
      expect(paths, must).to.include(must);
    }
    const unexpected = paths.filter(
      (p) => !/^(package\.json|README\.md|LICENSE|bin\/depctl\.js|crds\/deployer\.dev_(canaries|releases)\.yaml|dist\/src\/[a-z0-9/-]+\.js)$/.test(p),
    );
    expect(unexpected, 'files outside the CLI (sources, tests, .cluster, deploy/, examples/, maps)').to.deep.equal([]);

    // Every compiled module in the package is loaded by depctl, and every module it loads is packed.
    const dist = paths.filter((p) => p.startsWith('dist/'));
    const closure = runtimeClosure('dist/src/cli/main.js');
    expect([...closure].filter((p) => !dist.includes(p)), 'modules depctl loads but the package lacks').to.deep.equal([]);
    const unused = dist.filter((p) => !closure.has(p));
    // tsc emits `export {};` for a module that only declares types; nothing imports it at run time.
    for (const p of unused) expect(readFileSync(join(repoRoot, p), 'utf8').trim(), `${p} is packed but never loaded`).to.equal('export {};');
    expect(dist.some((p) => p === 'dist/src/main.js' || p.startsWith('dist/src/canary/controller')), 'the operator is not in the CLI package').to.equal(false);
  });

  it('runs no script when installed: the tarball carries the build', () => {
    // npm lists these as install scripts (and asks users to allow them); prepack builds before packing instead.
    const installTime = ['preinstall', 'install', 'postinstall', 'prepare'].filter((s) => s in pkg.scripts);
    expect(installTime).to.deep.equal([]);
  });

  describe('npm install -g of the packed tarball', () => {
    let tmp = '';
    let prefix = '';
    let env: NodeJS.ProcessEnv = {};
    let installLog = '';

    before(async function () {
      const info = await ensureCluster();
      tmp = mkdtempSync(join(tmpdir(), 'depctl-install-'));
      prefix = join(tmp, 'prefix');
      const [packed] = packJson((await npm(['pack', '--json', '--pack-destination', tmp])).stdout);
      const tarball = join(tmp, packed!.filename);
      // Dependencies come from the npm registry (or the local npm cache); nothing is built on install.
      const installed = await npm(['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', tarball], { cwd: tmp });
      installLog = installed.stdout + installed.stderr;
      // The user's PATH: the installed commands, a Node >= 22.19 (this one), the matching kubectl; not node_modules/.bin.
      const rest = (process.env['PATH'] ?? '').split(delimiter).filter((d) => d && !d.includes('node_modules'));
      const path = [join(prefix, 'bin'), dirname(process.execPath), info.binDir, ...rest].join(delimiter);
      env = { ...process.env, PATH: path, DEPCTL_DEBUG: '' };
    });

    after(() => {
      if (tmp) rmSync(tmp, { recursive: true, force: true });
    });

    it('installs the runtime dependencies only: no TypeScript, tsx or the node package', () => {
      const installed = join(prefix, 'lib', 'node_modules', pkg.name);
      expect(existsSync(join(installed, 'dist/src/cli/main.js'))).to.equal(true);
      for (const dev of ['tsx', 'typescript', 'node', 'mocha']) expect(existsSync(join(installed, 'node_modules', dev)), dev).to.equal(false);
      expect(existsSync(join(installed, 'node_modules', 'commander'))).to.equal(true);
      // The node package would also put a `node` shim into the prefix's bin, ahead of the user's Node.
      expect(existsSync(join(prefix, 'bin', 'node'))).to.equal(false);
      expect(installLog).not.to.match(/install scripts[\s\S]*deployer@/);
    });

    it('depctl --help, --version and validate run from the install', async () => {
      const depctl = join(prefix, 'bin', 'depctl');
      const help = await run(depctl, ['--help'], { env, cwd: tmp });
      expect(help.code, help.stderr).to.equal(0);
      expect(help.stdout).to.match(/^Usage: depctl \[options\] \[command\]/);
      expect(help.stdout).to.include('validate');
      const version = await run(depctl, ['--version'], { env, cwd: tmp });
      expect(version.stdout.trim()).to.equal(pkg.version);
      // validate loads the CRD schema shipped in the package and the lazily imported modules.
      const ok = await run(depctl, ['validate', join(repoRoot, 'examples/canary-basic.yaml')], { env, cwd: tmp });
      expect(ok.code, ok.stderr).to.equal(0);
      const bad = await run(depctl, ['validate', '-'], { env, cwd: tmp, input: 'apiVersion: deployer.dev/v1alpha1\nkind: Canary\nmetadata: {name: x}\nspec:\n  targetRef: {name: x}\n  steps:\n    - setWeight: 0\n' });
      expect(bad.code).to.equal(1);
      expect(bad.stdout + bad.stderr).to.include('setWeight');
    });

    it('kubectl-deployer --help names itself as the kubectl plugin', async () => {
      const help = await run(join(prefix, 'bin', 'kubectl-deployer'), ['--help'], { env, cwd: tmp });
      expect(help.code, help.stderr).to.equal(0);
      expect(help.stdout).to.match(/^Usage: kubectl deployer \[options\] \[command\]/);
    });

    it('kubectl finds the plugin on PATH and runs `kubectl deployer` against the API server', async () => {
      const kubectl = kubectlPath();
      const list = await run(kubectl, ['plugin', 'list'], { env, cwd: tmp });
      expect(list.stdout).to.include(join(prefix, 'bin', 'kubectl-deployer'));
      const help = await run(kubectl, ['deployer', '--help'], { env, cwd: tmp });
      expect(help.code, help.stderr).to.equal(0);
      expect(help.stdout).to.match(/^Usage: kubectl deployer /);
      await run(kubectl, ['apply', '--server-side', '--force-conflicts', '-f', join(repoRoot, 'crds')], { env });
      const get = await run(kubectl, ['deployer', 'get', '-n', 'kube-public'], { env, cwd: tmp });
      expect(get.code, get.stderr).to.equal(0);
      expect(get.stderr).to.equal('No canaries found in namespace kube-public.\n');
    });
  });
});
