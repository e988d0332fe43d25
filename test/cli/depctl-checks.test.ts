// depctl validate knows the Prometheus and webhook check kinds: the real bin/depctl.js in a child process.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function depctl(args: string[], input = ''): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin/depctl.js'), ...args], { cwd: ROOT, env: { ...process.env, DEPCTL_DEBUG: '' }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

const BAD = `apiVersion: deployer.dev/v1alpha1
kind: Canary
metadata:
  name: checkout
spec:
  targetRef:
    name: checkout
  steps:
    - setWeight: 10
    - pause: { duration: 5m }
  analysis:
    checks:
      - name: smoke
        webhook:
          url: http://smoke-tests.qa:8080/run
          method: GET
          body: '{"version": "{{ tag }}"}'
      - name: errors
        prometheusQuery:
          address: http://prometheus:9090
          query: up
          tls: { insecureSkipVerify: "yes" }
`;

describe('depctl validate: Prometheus and webhook checks', () => {
  it('accepts the example, which has no spec.datadog', async () => {
    const r = await depctl(['validate', 'examples/canary-prometheus-webhook.yaml']);
    expect(r.code, r.stdout + r.stderr).to.equal(0);
    expect(r.stdout).to.equal('examples/canary-prometheus-webhook.yaml: ok (1 Canary)\n');
  });

  it('reports each problem of these kinds at its line and column', async () => {
    const r = await depctl(['validate', '-'], BAD);
    expect(r.code).to.equal(1);
    expect(r.stdout).to.include('<stdin>:22:18: spec.analysis.checks[1].prometheusQuery.tls.insecureSkipVerify: must be a boolean, got "yes"\n');
    const fixed = await depctl(['validate', '-'], BAD.replace('"yes"', 'true'));
    expect(fixed.stdout).to.equal(
      [
        '<stdin>:14:9: spec.analysis.checks[0].webhook: Invalid value: webhook.body cannot be sent with GET or HEAD',
        '<stdin>:17:11: spec.analysis.checks[0].webhook.body: unknown variable "tag" in "{"version": "{{ tag }}"}"; known: name, namespace, revision, stableVersion, target, version',
        '<stdin>:19:9: spec.analysis.checks[1].prometheusQuery: Invalid value: prometheusQuery needs min, max or both',
        '',
      ].join('\n'),
    );
  });
});
