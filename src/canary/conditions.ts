import type { Condition, ConditionStatus } from '../api/types.js';

/** Returns conditions with `type` set; lastTransitionTime changes only when status flips. */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  next: { type: string; status: ConditionStatus; reason: string; message: string },
  now: string,
  observedGeneration: number | undefined,
): Condition[] {
  const list = [...(conditions ?? [])];
  const i = list.findIndex((c) => c.type === next.type);
  const prev = i >= 0 ? list[i] : undefined;
  const cond: Condition = {
    ...next,
    lastTransitionTime: prev && prev.status === next.status ? prev.lastTransitionTime : now,
    ...(observedGeneration !== undefined ? { observedGeneration } : {}),
  };
  if (i >= 0) list[i] = cond;
  else list.push(cond);
  return list;
}

export function getCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}
