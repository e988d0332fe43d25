// The operator's command line: the periodic resync is a safety net, not a heartbeat (every pass
// over 1,000 idle Canaries costs about a second of CPU), so it runs every 15 minutes by default,
// as Argo Rollouts' does, and an SRE can change it.
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { DEFAULT_RESYNC_MS } from '../../src/operator.js';

const run = promisify(execFile);

describe('operator command line', () => {
  it('offers --resync, every 15 minutes by default', async function () {
    this.timeout(30_000);
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'src/main.ts', '--help'], { env: { ...process.env, FORCE_COLOR: '0' } });
    const help = stdout.replace(/\s+/g, ' ');
    expect(help).to.match(/--resync <duration> look at every Canary and Release again this often even if nothing changed .*\(default: 15m\)/);
    expect(DEFAULT_RESYNC_MS).to.equal(15 * 60_000);
  });
});
