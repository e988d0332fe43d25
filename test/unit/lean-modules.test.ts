import { expect } from 'chai';
import { run, repoRoot } from '../support/cluster.js';
import { isTypedClientsImport } from '../../src/runtime/lean-modules.js';

describe('start-up modules of the operator', () => {
  it("loads the operator without client-node's generated typed API clients", async () => {
    // A child process, as the entry point does it: the hook first, then the operator's modules;
    // a recording hook (registered before, so it runs after) lists every module resolved.
    const script = [
      "import { registerHooks } from 'node:module';",
      'const seen = [];',
      'registerHooks({ resolve(s, c, next) { const r = next(s, c); seen.push(r.url); return r; } });',
      "const { skipTypedApiClients } = await import('./src/runtime/lean-modules.ts');",
      'skipTypedApiClients();',
      "const { KubeConfig } = await import('./src/operator.ts');",
      "await import('./src/runtime/informer.ts');",
      "console.log(JSON.stringify(seen.filter((u) => u.includes('/@kubernetes/client-node/'))));",
    ].join('\n');
    const r = await run(`${repoRoot}/node_modules/.bin/node`, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: repoRoot });
    expect(r.code, r.stderr).to.equal(0);
    const loaded = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as string[];
    expect(loaded.some((u) => u.endsWith('/dist/config.js'))).to.equal(true);
    expect(loaded.filter((u) => /\/dist\/gen\/(index|apis\/|models\/)/.test(u))).to.deep.equal([]);
  });

  it('stands in only for the generated clients imported by the KubeConfig module', () => {
    const config = 'file:///app/node_modules/@kubernetes/client-node/dist/config.js';
    expect(isTypedClientsImport('./gen/index.js', config)).to.equal(true);
    expect(isTypedClientsImport('./gen/http/http.js', config)).to.equal(false);
    expect(isTypedClientsImport('./gen/index.js', 'file:///app/node_modules/@kubernetes/client-node/dist/index.js')).to.equal(false);
  });
});
