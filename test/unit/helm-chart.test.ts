// Static checks of the Helm chart deploy/helm/deployer that need no helm; the rendered chart is
// compared with the kustomize base in test/cluster/helm.test.ts.
import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHART = 'deploy/helm/deployer';
const read = (rel: string): string => readFileSync(`${ROOT}${rel}`, 'utf8');
type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('Helm chart (static)', () => {
  it('keeps its crds/ identical to crds/ (run deploy/sync-crds.sh)', () => {
    const source = readdirSync(`${ROOT}crds`).filter((f) => f.endsWith('.yaml')).sort();
    const copies = readdirSync(`${ROOT}${CHART}/crds`).filter((f) => f.endsWith('.yaml')).sort();
    expect(copies, `${CHART}/crds/ files (run deploy/sync-crds.sh)`).to.deep.equal(source);
    for (const f of source) expect(read(`${CHART}/crds/${f}`), `${CHART}/crds/${f} is stale: run deploy/sync-crds.sh`).to.equal(read(`crds/${f}`));
  });

  it('versions the chart and its default image like the package and the kustomize base', () => {
    const chart = parse(read(`${CHART}/Chart.yaml`)) as Obj;
    const pkg = JSON.parse(read('package.json')) as { version: string };
    expect(chart.apiVersion).to.equal('v2');
    expect(chart.name, 'the chart folder is named after the chart').to.equal(CHART.split('/').pop());
    expect(chart.version).to.equal(pkg.version);
    expect(chart.appVersion).to.equal(pkg.version);
    const docs = parseAllDocuments(read('deploy/manager.yaml'));
    const dep = (Array.isArray(docs) ? docs : []).map((d) => d.toJS() as Obj).find((o) => o?.kind === 'Deployment') as Obj;
    const values = parse(read(`${CHART}/values.yaml`)) as Obj;
    expect(dep.spec.template.spec.containers[0].image).to.equal(`${values.image.repository}:${chart.appVersion}`);
  });

  it('validates its values with a schema that knows every default value', () => {
    const schema = JSON.parse(read(`${CHART}/values.schema.json`)) as Obj;
    const values = parse(read(`${CHART}/values.yaml`)) as Obj;
    expect(schema.additionalProperties).to.equal(false);
    expect(Object.keys(values).sort()).to.deep.equal(Object.keys(schema.properties as Obj).sort());
    expect(schema.properties.webhook.properties.failurePolicy.enum).to.deep.equal(['Fail', 'Ignore']);
    expect(schema.properties.logLevel.enum).to.deep.equal(['error', 'warn', 'info', 'debug']);
  });

  it('pins helm in versions.env, where test/tools/build-helm.sh reads it', () => {
    expect(read('versions.env')).to.match(/^HELM_VERSION=v\d+\.\d+\.\d+$/m);
    expect(read('test/tools/build-helm.sh')).to.include('versions.env');
  });
});
