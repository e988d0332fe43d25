// The API refusing the Canary's status write (an admission policy, found by the fault catalogue):
// status first, then act, so the canary takes no action meanwhile; its status cannot say why, so a
// Warning Event on the Canary and its Deployment does, once; once the policy goes, it goes on.
import { expect } from 'chai';
import { refuseCanaryStatus } from '../support/policies.js';
import { World, versionMonitor } from '../support/world.js';

describe('Canary status refused by the API (real control plane)', function () {
  this.timeout(120_000);
  let w: World;
  let removePolicy: (() => Promise<void>) | undefined;
  before(async () => {
    w = await World.create('status-refused');
    await w.startOperator();
  });
  after(async () => {
    await removePolicy?.();
    await w.teardown();
  });

  it('says so once in a StatusWriteRefused Warning Event on the Canary and the Deployment, takes no action meanwhile, and goes on once the write is accepted', async () => {
    w.dd.upsertMonitor(versionMonitor(101, 'web'));
    w.dd.setVersions(['1.0.0', '1.1.0']);
    await w.datadogSecret();
    await w.deployment('web', 'example.com/web:1.0.0');
    await w.canary('web', {
      steps: [{ setWeight: 34 }, { pause: { duration: '2s' } }],
      analysis: { interval: '1s', failureLimit: 0, checks: [{ name: 'errors', datadogMonitor: { id: 101 } }] },
      datadog: { secretRef: { name: 'datadog' } },
      progressDeadline: '60s',
    });
    await w.waitPhase('web', 'Waiting');
    removePolicy = await refuseCanaryStatus(w.ns, 'web');

    await w.setImage('web', 'example.com/web:1.1.0');
    await w.waitForEvents('web', ['StatusWriteRefused'], 'Canary', 30_000);
    const ev = (await w.events('web')).find((e) => e.reason === 'StatusWriteRefused');
    expect(ev?.type).to.equal('Warning');
    expect(ev?.message, ev?.message).to.match(/refused the status write of Canary web, so it takes no action until the write is accepted: .*ValidatingAdmissionPolicy 'no-canary-status-/);
    await w.waitForEvents('web', ['StatusWriteRefused'], 'Deployment');
    expect(await w.replicaSets('deployer.dev/canary-of=web'), 'no canary pods without their status').to.have.length(0);
    expect((await w.get('web')).status?.phase).to.equal('Waiting');

    await removePolicy();
    removePolicy = undefined;
    await w.waitPhase('web', 'Succeeded', 90_000);
    const refused = (await w.events('web')).filter((e) => e.reason === 'StatusWriteRefused');
    expect(refused, 'one Event for the same refusal, not one per retry').to.have.length(1);
  });
});
