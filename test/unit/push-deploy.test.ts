// Static checks of how the push endpoint is installed: the kustomize component deploy/push/ and
// the Helm chart's push values (off by default), against the operator's flags.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const read = (rel: string): string => readFileSync(`${ROOT}${rel}`, 'utf8');
type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const FLAGS = read('src/operator-command.ts');

describe('push endpoint install (static)', () => {
  it('deploy/push/ is a component that adds flags the operator knows, the container port and a Service aimed at it', () => {
    const k = parse(read('deploy/push/kustomization.yaml')) as Obj;
    expect(k.kind).to.equal('Component');
    const ops = parseAllDocuments(k.patches[0].patch as string)[0]!.toJS() as Obj[];
    const args = ops.filter((o) => o.path.endsWith('/args/-')).map((o) => String(o.value));
    expect(args).to.deep.equal(['--push-port=8443', '--push-token-secret=deployer-push']);
    for (const a of args) expect(FLAGS, `${a} is an operator flag`).to.contain(`'${a.split('=')[0]} <`);
    const port = ops.find((o) => o.path.endsWith('/ports/-'))?.value as Obj;
    expect(port).to.deep.equal({ name: 'push', containerPort: 8443, protocol: 'TCP' });
    const svc = parse(read('deploy/push/service.yaml')) as Obj;
    expect(svc.spec.ports[0].targetPort).to.equal('push');
    expect(svc.spec.selector).to.deep.equal({ 'app.kubernetes.io/name': 'deployer', 'app.kubernetes.io/component': 'operator' });
    const example = parse(read('examples/push-from-datadog/kustomization.yaml')) as Obj;
    expect(example.components).to.deep.equal(['../../deploy/push']);
  });

  it('the Helm chart has the push endpoint off by default, with the same port, Secret and path as deploy/push/', () => {
    const values = parse(read('deploy/helm/deployer/values.yaml')) as Obj;
    expect(values.push).to.deep.equal({ enabled: false, port: 8443, servicePort: 443, path: '/datadog/webhook', tokenSecret: 'deployer-push', minInterval: '10s' });
    const schema = JSON.parse(read('deploy/helm/deployer/values.schema.json')) as Obj;
    expect(Object.keys(schema.properties.push.properties).sort()).to.deep.equal(Object.keys(values.push).sort());
    const manager = read('deploy/helm/deployer/templates/manager.yaml');
    expect(manager).to.contain('{{- if .Values.push.enabled }}');
    expect(manager).to.contain('- --push-port={{ .Values.push.port }}');
    expect(read('deploy/helm/deployer/templates/services.yaml')).to.match(/\{\{- if \.Values\.push\.enabled \}\}[\s\S]*targetPort: push[\s\S]*\{\{- end \}\}\s*$/);
  });
});
