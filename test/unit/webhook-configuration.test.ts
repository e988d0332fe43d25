import { expect } from 'chai';
import {
  canaryWebhookConfiguration,
  covers,
  notTheOperator,
  VALIDATE_CANARIES_PATH,
  webhookConfiguration,
  webhookConfigurationName,
  WEBHOOK_CONFIGURATION_NAME,
} from '../../src/webhook/configuration.js';

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

describe('webhook configurations: the operator\'s own writes skip them; Canaries are checked', () => {
  const target = { service: { namespace: 'deployer-system', name: 'deployer-webhook' } };
  type Hook = { name: string; matchConditions?: Array<{ name: string; expression: string }>; rules: Array<{ resources: string[] }>; clientConfig: { service: { path: string } }; failurePolicy: string; sideEffects: string };

  it('exempts the operator (its user name and its field manager together) with matchConditions on both configurations', () => {
    const o = { name: 'deployer', target, caPem: 'ca', operatorUser: 'system:serviceaccount:deployer-system:deployer' };
    for (const cfg of [webhookConfiguration(o), canaryWebhookConfiguration(o)] as Array<{ webhooks: Hook[] }>) {
      expect(cfg.webhooks[0]!.matchConditions![0]).to.deep.equal({ name: 'not-the-operator', expression: notTheOperator(o.operatorUser) });
    }
    expect(notTheOperator('u"x')).to.equal('!(request.userInfo.username == "u\\"x" && has(request.options) && has(request.options.fieldManager) && request.options.fieldManager == "deployer")');
  });

  it('leaves matchConditions out while the operator does not know its user name', () => {
    const cfg = webhookConfiguration({ name: 'deployer', target, caPem: 'ca' }) as { webhooks: Hook[] };
    expect(cfg.webhooks[0]!.matchConditions).to.equal(undefined);
  });

  it('validates Canary creates and updates, fail-closed, without side effects', () => {
    const cfg = canaryWebhookConfiguration({ name: 'deployer', target, caPem: 'ca' }) as { kind: string; webhooks: Hook[] };
    expect(cfg.kind).to.equal('ValidatingWebhookConfiguration');
    const w = cfg.webhooks[0]!;
    expect(w).to.deep.include({ name: 'canaries.deployer.dev', failurePolicy: 'Fail', sideEffects: 'None' });
    expect(w.rules[0]!.resources).to.deep.equal(['canaries']);
    expect(w.clientConfig.service.path).to.equal(VALIDATE_CANARIES_PATH);
  });
});

describe('covers(): a configuration already as wanted is not written again', () => {
  const wanted = { metadata: { name: 'deployer', labels: { a: '1' } }, webhooks: [{ name: 'w', failurePolicy: 'Fail', rules: [{ operations: ['CREATE', 'UPDATE'] }] }] };
  it('ignores what the server defaulted or another manager added', () => {
    const live = { apiVersion: 'v1', metadata: { name: 'deployer', uid: 'u', resourceVersion: '7', labels: { a: '1', b: '2' } }, webhooks: [{ name: 'w', failurePolicy: 'Fail', timeoutSeconds: 10, rules: [{ operations: ['CREATE', 'UPDATE'], scope: '*' }] }] };
    expect(covers(live, wanted)).to.equal(true);
  });
  it('sees a changed value, a missing field, a list of another length or order', () => {
    expect(covers({ ...wanted, webhooks: [{ ...wanted.webhooks[0], failurePolicy: 'Ignore' }] }, wanted)).to.equal(false);
    expect(covers({ metadata: wanted.metadata }, wanted)).to.equal(false);
    expect(covers({ ...wanted, webhooks: [...wanted.webhooks, { name: 'x' }] }, wanted)).to.equal(false);
    expect(covers({ ...wanted, webhooks: [{ ...wanted.webhooks[0], rules: [{ operations: ['UPDATE', 'CREATE'] }] }] }, wanted)).to.equal(false);
    expect(covers({ metadata: { name: 'deployer', labels: null }, webhooks: wanted.webhooks }, wanted)).to.equal(false);
    expect(covers(undefined, wanted)).to.equal(false);
  });
});
