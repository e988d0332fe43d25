// Revisions and versions of pod templates. Used by the controller and the admission
// webhook alike, on the raw JSON the apiserver sends, so both compute the same hash.
import { createHash } from 'node:crypto';
import { LABELS } from '../api/constants.js';

export type PodTemplate = {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string>; [k: string]: unknown };
  spec?: { containers?: Array<{ name?: string; image?: string }>; [k: string]: unknown };
  [k: string]: unknown;
};

/** JSON with sorted keys, without nulls or empty objects (which serializers disagree on). */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(normalize(value)) ?? 'null';
}

function normalize(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normalize);
  if (value instanceof Date) return value.toISOString();
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = normalize((value as Record<string, unknown>)[key]);
      if (v === null || v === undefined) continue;
      if (typeof v === 'object' && !Array.isArray(v) && Object.keys(v as object).length === 0) continue;
      out[key] = v;
    }
    return out;
  }
  return value;
}

/**
 * The revision of a pod template: a short hash of its canonical JSON. The Deployment
 * controller's pod-template-hash label (present on ReplicaSet templates) is ignored, so a
 * ReplicaSet's template hashes like the Deployment template it came from.
 */
export function revisionOf(template: PodTemplate | undefined): string {
  const t = structuredClone(template ?? {}) as PodTemplate;
  if (t.metadata?.labels) delete t.metadata.labels[LABELS.podTemplateHash];
  return createHash('sha256').update(canonicalJson(t)).digest('hex').slice(0, 10);
}

/**
 * The version of a pod template: the `tags.datadoghq.com/version` label when set, else the
 * tag of the first container's image (a digest is shortened), else "latest".
 */
export function versionOf(template: PodTemplate | undefined): string {
  const label = template?.metadata?.labels?.[LABELS.ddVersion];
  if (label) return label;
  const image = template?.spec?.containers?.[0]?.image ?? '';
  return imageTag(image);
}

export function imageTag(image: string): string {
  const at = image.indexOf('@');
  if (at >= 0) {
    const digest = image.slice(at + 1);
    return digest.replace(/^sha256:/, '').slice(0, 12) || 'latest';
  }
  const lastSlash = image.lastIndexOf('/');
  const colon = image.indexOf(':', lastSlash + 1);
  return colon >= 0 ? image.slice(colon + 1) || 'latest' : 'latest';
}

const LABEL_VALUE_MAX = 63;

/**
 * A valid Kubernetes label value made from any string: at most 63 characters of [A-Za-z0-9._-],
 * starting and ending with an alphanumeric. A value that had to be changed gets a short hash of
 * the original, so two different inputs never collide. Empty input gives "unknown".
 */
export function labelValue(value: string): string {
  if (/^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/.test(value) && value.length <= LABEL_VALUE_MAX && value !== '') return value;
  const hash = createHash('sha256').update(value).digest('hex').slice(0, 8);
  const cleaned = value.replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9]+/, '');
  const head = cleaned.slice(0, LABEL_VALUE_MAX - hash.length - 1).replace(/[^A-Za-z0-9]+$/, '');
  return head ? `${head}-${hash}` : hash;
}

/**
 * The version canary pods report. When the new template's version equals the stable one (a
 * config-only change, `kubectl rollout restart`, a reused or mutable tag such as `latest`),
 * the canary gets a version of its own, `<version>-<revision>`, so a monitor or query scoped to
 * `version:{{ version }}` sees canary traffic only, never the stable pods' traffic mixed in.
 * Always a valid label value.
 */
export function canaryVersionFor(version: string, stableVersion: string | undefined, revision: string): string {
  if (stableVersion === undefined || version !== stableVersion) return labelValue(version);
  const suffix = `-${revision}`;
  const base = labelValue(version).slice(0, LABEL_VALUE_MAX - suffix.length).replace(/[^A-Za-z0-9]+$/, '');
  return `${base}${suffix}`;
}
