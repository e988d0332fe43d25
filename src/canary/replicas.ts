/**
 * Canary replicas for a step weight w (1–99) beside `stable` stable replicas:
 * max(1, ceil(stable × w / (100 − w))), so canary / (stable + canary) ≈ w%.
 * Weight 0 (before the first setWeight) means no canary pods.
 */
export function canaryReplicas(stable: number, weight: number): number {
  if (weight <= 0) return 0;
  const w = Math.min(weight, 99);
  return Math.max(1, Math.ceil((Math.max(stable, 0) * w) / (100 - w)));
}
