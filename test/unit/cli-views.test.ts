import { expect } from 'chai';
import type { Canary } from '../../src/api/types.js';
import { renderCanaryTable } from '../../src/cli/format/canary-table.js';
import { renderStatus } from '../../src/cli/format/status-view.js';
import { newRequestId } from '../../src/cli/commands/request.js';
import { programName } from '../../src/cli/main.js';
import { terminalSafe, terminalSafeDeep } from '../../src/cli/terminal.js';

const NOW = Date.parse('2026-11-27T05:40:00Z');

function canary(extra: Partial<Canary> = {}): Canary {
  return {
    apiVersion: 'deployer.dev/v1alpha1',
    kind: 'Canary',
    metadata: { name: 'checkout', namespace: 'shop', generation: 1, creationTimestamp: '2026-11-27T03:40:00Z' },
    spec: {
      targetRef: { name: 'checkout-deploy' },
      steps: [{ setWeight: 20 }, { pause: { duration: '5m' } }, { setWeight: 50 }, { pause: {} }],
      analysis: { interval: '30s', failureLimit: 1, checks: [{ name: 'error-rate', datadogQuery: { query: 'q', max: 0.5 } }, { name: 'p99', datadogQuery: { query: 'q', max: 1 } }] },
      datadog: { secretRef: { name: 'dd' } },
    },
    ...extra,
  };
}

const PROGRESSING: Canary = canary({
  status: {
    observedGeneration: 1,
    phase: 'Progressing',
    message: 'step 2/4: analysing, 240s left in pause',
    stableRevision: '5d8f7c9b4',
    stableVersion: '1.4.1',
    canaryRevision: '7b9c2a6d1',
    canaryVersion: '1.4.2',
    currentStep: 1,
    stepProgress: '2/4',
    canaryWeight: 20,
    canaryReplicas: 2,
    canaryReadyReplicas: 1,
    startedAt: '2026-11-27T05:35:00Z',
    checks: [
      {
        name: 'error-rate',
        failures: 1,
        errors: 0,
        consecutiveErrors: 0,
        inconclusive: 0,
        passes: 4,
        measurements: [{ verdict: 'Pass', value: '0.12', threshold: '<= 0.5', time: '2026-11-27T05:39:30Z', url: 'https://app.datadoghq.com/x' }],
      },
    ],
    conditions: [{ type: 'Ready', status: 'False', reason: 'Analysing', message: 'canary in progress', lastTransitionTime: '2026-11-27T05:35:00Z' }],
  },
});

describe('cli get table', () => {
  it('prints the printer columns, with NAMESPACE for -A', () => {
    const text = renderCanaryTable([PROGRESSING, canary({ metadata: { name: 'web', namespace: 'demo', creationTimestamp: '2026-11-27T05:39:55Z' } })], {
      now: NOW,
      allNamespaces: true,
    });
    const lines = text.split('\n');
    expect(lines[0]).to.match(/^NAMESPACE\s+NAME\s+TARGET\s+PHASE\s+WEIGHT\s+STEP\s+MESSAGE\s+AGE$/);
    expect(lines[1]).to.match(/^shop\s+checkout\s+checkout-deploy\s+Progressing\s+20\s+2\/4\s+step 2\/4: analysing, 240s left in pause\s+120m$/);
    expect(lines[2]).to.match(/^demo\s+web\s+checkout-deploy\s+5s$/);
  });

  it('truncates long messages', () => {
    const long = canary({ status: { phase: 'RolledBack', message: 'x'.repeat(200) } });
    const line = renderCanaryTable([long], { now: NOW, allNamespaces: false }).split('\n')[1] ?? '';
    expect(line).to.include(`${'x'.repeat(59)}…`);
    expect(line).to.not.include('x'.repeat(61));
  });
});

describe('cli status view', () => {
  const text = renderStatus(PROGRESSING, {
    now: NOW,
    events: [{ type: 'Normal', reason: 'CanaryStarted', message: 'started 7b9c2a6d1', time: '2026-11-27T05:35:00Z', count: 1 }],
  });

  it('shows target, phase, message and revisions', () => {
    expect(text).to.include('Target:      Deployment checkout-deploy');
    expect(text).to.include('Phase:       Progressing');
    expect(text).to.include('Message:     step 2/4: analysing, 240s left in pause');
    expect(text).to.include('Stable:      revision 5d8f7c9b4, version 1.4.1');
    expect(text).to.include('Canary:      revision 7b9c2a6d1, version 1.4.2  (1/2 pods ready)');
    expect(text).to.include('Weight:      [████░░░░░░░░░░░░░░░░]  20%');
  });

  it('shows baseline pods beside the canary pods when the Canary has them, and nothing otherwise', () => {
    expect(text).to.not.include('Baseline:');
    const withBaseline = renderStatus({ ...PROGRESSING, status: { ...PROGRESSING.status, baselineReplicas: 2, baselineReadyReplicas: 1 } }, { now: NOW, events: [] });
    expect(withBaseline).to.include('Baseline:    revision 5d8f7c9b4, version 1.4.1  (1/2 pods ready)');
  });

  it('marks done, current and pending steps', () => {
    expect(text).to.include(['Steps (2/4):', '  ✓ 1. setWeight 20%', '  ▶ 2. pause 5m', '  · 3. setWeight 50%', '  · 4. pause until promoted'].join('\n'));
  });

  it('shows each check with its latest measurement and counters', () => {
    expect(text).to.include('Checks (every 30s):');
    expect(text).to.include('  error-rate: Pass  value 0.12  threshold <= 0.5  30s ago');
    expect(text).to.include('https://app.datadoghq.com/x');
    expect(text).to.include('failures 1/1 tolerated, consecutive errors 0/3, passes 4');
    expect(text).to.include('  p99: no measurement yet');
  });

  it('shows conditions and events', () => {
    expect(text).to.match(/Conditions:\n\s+TYPE\s+STATUS\s+REASON\s+AGE\s+MESSAGE\n\s+Ready\s+False\s+Analysing\s+5m\s+canary in progress/);
    expect(text).to.match(/Events:\n\s+LAST SEEN\s+TYPE\s+REASON\s+MESSAGE\n\s+5m\s+Normal\s+CanaryStarted\s+started 7b9c2a6d1/);
  });

  it('explains a missing status', () => {
    const bare = renderStatus(canary(), { now: NOW });
    expect(bare).to.include('no status yet');
    expect(bare).to.include('Events:\n  <none>');
  });

  it('marks every step done once succeeded', () => {
    const done = renderStatus(canary({ status: { phase: 'Succeeded', currentStep: 4, stepProgress: '4/4' } }), { now: NOW, ascii: true });
    expect(done).to.include('  x 4. pause until promoted');
  });
});

describe('cli misc', () => {
  it('uses ISO timestamps as request ids', () => {
    expect(newRequestId(new Date(NOW))).to.equal('2026-11-27T05:40:00.000Z');
  });

  it('names itself after the binary', () => {
    expect(programName('/usr/local/bin/kubectl-deployer')).to.equal('kubectl deployer');
    expect(programName('/work/main/bin/depctl.js')).to.equal('depctl');
    expect(programName(undefined)).to.equal('depctl');
  });
});

describe('cli output of text from the cluster', () => {
  const ESC = '\x1b';
  const hostile = `${ESC}]0;pwned${ESC}\\${ESC}[2J${ESC}[31mred${ESC}[0m\u0007 line\nnext\u202egnp.exe\u009b`;
  const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;
  const canaryWithText = (): Canary => {
    const c = structuredClone(PROGRESSING);
    c.status!.message = hostile;
    c.status!.lastResult = hostile;
    c.status!.checks![0]!.measurements[0]!.message = `monitor 7 "${hostile}" is OK`;
    c.status!.conditions![0]!.message = hostile;
    return c;
  };

  it('status shows messages, monitor names and Events without control characters or escapes', () => {
    const text = renderStatus(canaryWithText(), { now: NOW, events: [{ type: 'Warning', reason: 'CheckFailed', message: hostile, time: '2026-11-27T05:35:00Z' }] });
    expect(text).to.not.match(CONTROL);
    expect(text).to.include('Message:     red line nextgnp.exe');
  });

  it('get shows the message column without control characters or escapes', () => {
    const text = renderCanaryTable([canaryWithText()], { now: NOW, allNamespaces: false });
    expect(text).to.not.match(CONTROL);
  });
});

describe('terminalSafe', () => {
  const cases: Array<[string, string]> = [
    ['plain text stays', 'plain text stays'],
    ['\x1b[2Jcleared', 'cleared'],
    ['\x1b]0;title\x07after', 'after'],
    ['\x1b]8;;https://evil\x1b\\link\x1b]8;;\x1b\\', 'link'],
    ['a\rb\nc\td', 'a b c d'],
    ['bell\u0007 and C1 \u009b6n', 'bell and C1 6n'],
    ['bidi \u202eoverride\u202c', 'bidi override'],
    ['unicode stays: ä ü 漢字 ✓', 'unicode stays: ä ü 漢字 ✓'],
  ];
  for (const [input, want] of cases) it(JSON.stringify(input), () => expect(terminalSafe(input)).to.equal(want));

  it('cleans keys and values of nested objects without changing the original', () => {
    const raw = { a: ['x\x1b[1m'], b: { 'k\x07': 1, c: null } };
    expect(terminalSafeDeep(raw)).to.deep.equal({ a: ['x'], b: { k: 1, c: null } });
    expect(raw.a[0]).to.equal('x\x1b[1m');
  });
});
