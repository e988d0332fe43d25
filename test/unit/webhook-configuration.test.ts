import { expect } from 'chai';
import { webhookConfiguration, webhookConfigurationName, WEBHOOK_CONFIGURATION_NAME } from '../../src/webhook/configuration.js';

type Webhook = { clientConfig: Record<string, unknown>; namespaceSelector?: { matchExpressions: Array<{ key: string; operator: string; values: string[] }> } };

describe('webhook configuration naming', () => {
  it('in the cluster, the install keeps the configuration named deployer', () => {
    expect(webhookConfigurationName({ service: { namespace: 'deployer-system', name: 'deployer-webhook' } })).to.equal(WEBHOOK_CONFIGURATION_NAME);
  });

  it('outside the cluster, a run never writes the install\'s configuration (a URL and a Service cannot share one clientConfig)', () => {
    const local = webhookConfigurationName({ url: 'https://127.0.0.1:9443' });
    expect(local).to.equal('deployer-local');
    expect(local).to.not.equal(WEBHOOK_CONFIGURATION_NAME);
  });

  it('a local run for some namespaces gets its own configuration, the same for the same set in any order', () => {
    const a = webhookConfigurationName({ url: 'https://127.0.0.1:1' }, ['b', 'a']);
    const b = webhookConfigurationName({ url: 'https://127.0.0.1:2' }, ['a', 'b']);
    const c = webhookConfigurationName({ url: 'https://127.0.0.1:2' }, ['a']);
    expect(a).to.equal(b);
    expect(a).to.not.equal(c);
    expect(a).to.match(/^deployer-local-[0-9a-f]{10}$/);
  });

  it('limits the webhook to the watched namespaces, and to none of them when all are watched', () => {
    const some = webhookConfiguration({ name: 'x', target: { url: 'https://127.0.0.1:1' }, caPem: 'ca', namespaces: ['shop', 'api'] }) as { webhooks: Webhook[] };
    expect(some.webhooks[0]!.namespaceSelector!.matchExpressions).to.deep.equal([{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['api', 'shop'] }]);
    const all = webhookConfiguration({ name: 'deployer', target: { service: { namespace: 'deployer-system', name: 'deployer-webhook' } }, caPem: 'ca' }) as { webhooks: Webhook[] };
    expect(all.webhooks[0]!.namespaceSelector).to.equal(undefined);
    expect(all.webhooks[0]!.clientConfig).to.not.have.property('url');
  });
});
