import { expect } from 'chai';
import { ageSince, formatAge } from '../../src/cli/format/age.js';
import { assessOutcome, exitCodeForPhase } from '../../src/cli/format/phase.js';
import { describeStep, progressBar, renderSteps, stepStates } from '../../src/cli/format/progress.js';
import { renderTable, truncate } from '../../src/cli/format/table.js';
import type { Canary, CanaryStatus } from '../../src/api/types.js';

describe('cli formatAge', () => {
  const S = 1000;
  const M = 60 * S;
  const H = 60 * M;
  const D = 24 * H;
  const cases: Array<[number, string]> = [
    [-5 * S, '0s'],
    [0, '0s'],
    [5 * S, '5s'],
    [119 * S, '119s'],
    [2 * M, '2m'],
    [3 * M + 20 * S, '3m20s'],
    [9 * M + 59 * S, '9m59s'],
    [10 * M + 30 * S, '10m'],
    [179 * M, '179m'],
    [3 * H, '3h'],
    [5 * H + 15 * M, '5h15m'],
    [8 * H + 15 * M, '8h'],
    [47 * H, '47h'],
    [2 * D, '2d'],
    [4 * D + 3 * H, '4d3h'],
    [30 * D, '30d'],
    [800 * D, '2y'],
  ];
  for (const [ms, want] of cases) it(`${ms}ms -> ${want}`, () => expect(formatAge(ms)).to.equal(want));

  it('ages timestamps and tolerates missing ones', () => {
    expect(ageSince('2026-01-01T00:00:00Z', Date.parse('2026-01-01T00:03:00Z'))).to.equal('3m');
    expect(ageSince(undefined, 0)).to.equal('<unknown>');
    expect(ageSince('yesterday', 0)).to.equal('<unknown>');
  });
});

describe('cli table', () => {
  it('pads columns like kubectl and leaves the last one unpadded', () => {
    expect(renderTable(['NAME', 'PHASE', 'AGE'], [['checkout', 'Progressing', '5s'], ['web', '', '3m']])).to.equal(
      ['NAME       PHASE         AGE', 'checkout   Progressing   5s', 'web                      3m'].join('\n'),
    );
  });

  it('truncates long and multi-line text', () => {
    expect(truncate('short', 10)).to.equal('short');
    expect(truncate('a much longer message', 10)).to.equal('a much lo…');
    expect(truncate('line one\n  line two', 40)).to.equal('line one line two');
    expect(truncate('x', 0)).to.equal('');
  });
});

describe('cli progress', () => {
  it('draws weight bars', () => {
    expect(progressBar(20, 10)).to.equal('[██░░░░░░░░]  20%');
    expect(progressBar(0, 4, true)).to.equal('[....]   0%');
    expect(progressBar(150, 4, true)).to.equal('[####] 100%');
    expect(progressBar(Number.NaN, 4, true)).to.equal('[....]   0%');
  });

  it('describes steps', () => {
    expect(describeStep({ setWeight: 20 })).to.equal('setWeight 20%');
    expect(describeStep({ pause: { duration: '5m' } })).to.equal('pause 5m');
    expect(describeStep({ pause: {} })).to.equal('pause until promoted');
  });

  const cases: Array<[number | undefined, boolean, string[]]> = [
    [undefined, false, ['pending', 'pending', 'pending']],
    [0, false, ['current', 'pending', 'pending']],
    [1, false, ['done', 'current', 'pending']],
    [3, false, ['done', 'done', 'done']],
    [1, true, ['done', 'done', 'done']],
  ];
  for (const [current, finished, want] of cases) {
    it(`marks steps for currentStep ${String(current)}${finished ? ' (finished)' : ''}`, () => {
      expect(stepStates(3, current, finished)).to.deep.equal(want);
    });
  }

  it('renders step lines with markers', () => {
    expect(renderSteps([{ setWeight: 10 }, { pause: {} }], 1, false, true)).to.deep.equal(['  x 1. setWeight 10%', '  > 2. pause until promoted']);
    expect(renderSteps([{ setWeight: 10 }], 0, false)).to.deep.equal(['  ▶ 1. setWeight 10%']);
  });
});

describe('cli exit codes from the phase', () => {
  const canary = (status: CanaryStatus | undefined, generation = 2): Pick<Canary, 'metadata' | 'status'> => ({
    metadata: { name: 'c', namespace: 'n', generation },
    ...(status ? { status } : {}),
  });
  const ready = (s: 'True' | 'False') => [{ type: 'Ready', status: s, reason: 'x', message: '', lastTransitionTime: '2026-01-01T00:00:00Z' }];

  const cases: Array<[string, Pick<Canary, 'metadata' | 'status'>, ReturnType<typeof assessOutcome>]> = [
    ['no status', canary(undefined), { done: false }],
    ['Progressing', canary({ phase: 'Progressing', observedGeneration: 2 }), { done: false }],
    ['Paused', canary({ phase: 'Paused', observedGeneration: 2 }), { done: false }],
    ['Promoting', canary({ phase: 'Promoting', observedGeneration: 2 }), { done: false }],
    ['Succeeded', canary({ phase: 'Succeeded', observedGeneration: 2 }), { done: true, exitCode: 0, reason: 'succeeded' }],
    ['RolledBack', canary({ phase: 'RolledBack', observedGeneration: 2 }), { done: true, exitCode: 1, reason: 'rolled back' }],
    ['Failed', canary({ phase: 'Failed' }), { done: true, exitCode: 1, reason: 'failed' }],
    ['Succeeded for an older spec', canary({ phase: 'Succeeded', observedGeneration: 1 }), { done: false }],
    ['Waiting and Ready', canary({ phase: 'Waiting', observedGeneration: 2, conditions: ready('True') }), { done: true, exitCode: 0, reason: 'nothing to do' }],
    ['Waiting, not Ready', canary({ phase: 'Waiting', observedGeneration: 2, conditions: ready('False') }), { done: false }],
  ];
  for (const [name, c, want] of cases) it(`watch outcome: ${name}`, () => expect(assessOutcome(c)).to.deep.equal(want));

  it('one-shot status exits 1 only when rolled back or failed', () => {
    expect(exitCodeForPhase('RolledBack')).to.equal(1);
    expect(exitCodeForPhase('Failed')).to.equal(1);
    for (const p of ['Succeeded', 'Progressing', 'Paused', 'Waiting', 'Initializing', undefined]) expect(exitCodeForPhase(p)).to.equal(0);
  });
});
