// JSON Pointer (RFC 6901), as JSON patches address a label or an annotation key.

/** One reference token: `~` becomes `~0` and `/` becomes `~1` (deployer.dev/held → deployer.dev~1held). */
export function jsonPointerToken(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}
