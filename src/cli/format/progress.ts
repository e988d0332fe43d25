// Step lists and progress bars for `depctl status`.
import type { Step } from '../../api/types.js';

export type StepState = 'done' | 'current' | 'pending';

export const STEP_MARKERS: Readonly<Record<StepState, string>> = { done: '✓', current: '▶', pending: '·' };
const ASCII_MARKERS: Readonly<Record<StepState, string>> = { done: 'x', current: '>', pending: '-' };

/**
 * A weight bar: `[█████░░░░░░░░░░░░░░░]  25%` (width cells). ASCII `[#####...............]` when
 * `ascii` is set. Weights outside 0..100 are clamped.
 */
export function progressBar(percent: number, width = 20, ascii = false): string {
  const p = Math.min(100, Math.max(0, Number.isFinite(percent) ? percent : 0));
  const filled = Math.round((p / 100) * width);
  const [full, empty] = ascii ? ['#', '.'] : ['█', '░'];
  return `[${full.repeat(filled)}${empty.repeat(width - filled)}] ${String(Math.round(p)).padStart(3)}%`;
}

/** "setWeight 20" / "pause 5m" / "pause (until promoted)". */
export function describeStep(step: Step): string {
  if (typeof step.setWeight === 'number') return `setWeight ${step.setWeight}%`;
  if (step.pause) return step.pause.duration ? `pause ${step.pause.duration}` : 'pause until promoted';
  return 'invalid step';
}

/**
 * Each step's state from status.currentStep (0-based index of the step being run).
 * With `finished` (the revision was promoted) every step is done; with no current step, all are pending.
 */
export function stepStates(count: number, currentStep: number | undefined, finished: boolean): StepState[] {
  return Array.from({ length: count }, (_, i): StepState => {
    if (finished) return 'done';
    if (currentStep === undefined) return 'pending';
    if (i < currentStep) return 'done';
    return i === currentStep ? 'current' : 'pending';
  });
}

/** One line per step: "  ✓ 1. setWeight 10%". */
export function renderSteps(steps: readonly Step[], currentStep: number | undefined, finished: boolean, ascii = false): string[] {
  const markers = ascii ? ASCII_MARKERS : STEP_MARKERS;
  const states = stepStates(steps.length, currentStep, finished);
  return steps.map((step, i) => `  ${markers[states[i] ?? 'pending']} ${i + 1}. ${describeStep(step)}`);
}
