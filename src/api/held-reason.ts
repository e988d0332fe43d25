// The value of the deployer.dev/held annotation, written by the admission webhook when it holds a
// new revision and by the operator when it holds one itself. One definition: were the two to
// differ, the operator would rewrite every Deployment the webhook held.

/** Why a Deployment is held (spec.paused): its revision awaits canary analysis. */
export function heldReason(revision: string): string {
  return `revision ${revision} awaits canary analysis`;
}
