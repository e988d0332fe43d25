import { expect } from 'chai';
import { createServer, type Server } from 'node:http';
import type { KubeConfig } from '@kubernetes/client-node';
import { RawClient, resourceOfPath } from '../../src/kube/raw-client.js';
import { OperatorMetrics } from '../../src/runtime/metrics.js';
import { closeLocalApi, serveLocalApi } from '../support/local-api.js';

describe('RawClient: requests counted by verb and resource', () => {
  const cases: Array<[string, string]> = [
    ['/apis/apps/v1/namespaces/a/deployments/web', 'deployments'],
    ['/apis/apps/v1/namespaces/a/replicasets', 'replicasets'],
    ['/apis/apps/v1/deployments', 'deployments'],
    ['/apis/deployer.dev/v1alpha1/namespaces/a/canaries/web/status', 'canaries/status'],
    ['/api/v1/namespaces/a/events', 'events'],
    ['/api/v1/namespaces/a', 'namespaces'],
    ['/api/v1/namespaces/a/secrets/dd?x=1', 'secrets'],
    ['/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/deployer', 'mutatingwebhookconfigurations'],
    ['/version', 'other'],
  ];
  for (const [path, resource] of cases) it(`${path} → ${resource}`, () => expect(resourceOfPath(path)).to.equal(resource));

  let server: Server;
  let kc: KubeConfig;
  before(async () => {
    server = createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end('{}');
    });
    kc = await serveLocalApi(server);
  });
  after(() => closeLocalApi(server));

  it('each request reaches deployer_kube_requests_total once, by verb and resource', async () => {
    const client = new RawClient(kc);
    const metrics = new OperatorMetrics();
    client.onRequest = (verb, resource) => metrics.kubeRequests.inc({ verb, resource });
    await client.patch('/apis/deployer.dev/v1alpha1/namespaces/a/canaries/web/status', {});
    await client.patch('/apis/deployer.dev/v1alpha1/namespaces/a/canaries/web/status', {});
    await client.create('/apis/apps/v1/namespaces/a/replicasets', {});
    await client.get('/apis/apps/v1/namespaces/a/deployments/web');
    const values = (await metrics.kubeRequests.get()).values.map((v) => [v.labels.verb, v.labels.resource, v.value]);
    expect(values).to.have.deep.members([
      ['PATCH', 'canaries/status', 2],
      ['POST', 'replicasets', 1],
      ['GET', 'deployments', 1],
    ]);
  });
});
