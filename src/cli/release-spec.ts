// What `depctl release` writes: the Release's spec from its flags and the spec it had. Pure.
import type { ReleaseSource, ReleaseSpec, ReleaseTarget } from '../api/release-types.js';
import { CliError } from './errors.js';

/** A DNS-1123 label: container names. */
const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** A DNS-1123 subdomain: Deployment names. */
const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export interface ImageFlag {
  deployment: string;
  container: string;
  image: string;
}

/**
 * Parses --image DEPLOYMENT/CONTAINER=IMAGE, or DEPLOYMENT=IMAGE when the container is named as
 * the Deployment. A usage error names what is wrong.
 */
export function parseImageFlag(text: string): ImageFlag {
  const eq = text.indexOf('=');
  const usage = `--image must be DEPLOYMENT=IMAGE or DEPLOYMENT/CONTAINER=IMAGE (e.g. api=ghcr.io/acme/api:1.4.2 or api/sidecar=ghcr.io/acme/proxy:2.0), got "${text}"`;
  if (eq <= 0) throw new CliError(usage);
  const target = text.slice(0, eq);
  const image = text.slice(eq + 1).trim();
  const [deployment = '', container = deployment, ...rest] = target.split('/');
  if (rest.length > 0 || !image || /\s/.test(image)) throw new CliError(usage);
  if (!NAME.test(deployment)) throw new CliError(`--image ${text}: "${deployment}" is not a Deployment name (lower-case letters, digits, "-" and ".")`);
  if (!LABEL.test(container)) throw new CliError(`--image ${text}: "${container}" is not a container name (lower-case letters, digits and "-")`);
  return { deployment, container, image };
}

export interface ReleaseFlags {
  version: string;
  images: ImageFlag[];
  /** Targets released as the template they hold (no images). */
  deployments: string[];
  source?: ReleaseSource;
}

/**
 * The spec to write: the version; every target already listed stays (with its images), the
 * images given are set on their targets (a new target is appended); the source is replaced
 * (dropped without --from-git: it would describe another version).
 */
export function releaseSpec(existing: ReleaseSpec | undefined, flags: ReleaseFlags): ReleaseSpec {
  if (!flags.version.trim()) throw new CliError('--version must not be empty');
  for (const d of flags.deployments) if (!NAME.test(d)) throw new CliError(`--deployment "${d}" is not a Deployment name (lower-case letters, digits, "-" and ".")`);
  const targets: ReleaseTarget[] = (existing?.targets ?? []).map((t) => ({ ...t, ...(t.images ? { images: { ...t.images } } : {}) }));
  const target = (name: string): ReleaseTarget => {
    let t = targets.find((x) => x.deployment === name);
    if (!t) {
      t = { deployment: name };
      targets.push(t);
    }
    return t;
  };
  const seen = new Map<string, string>();
  for (const f of flags.images) {
    const key = `${f.deployment}/${f.container}`;
    const before = seen.get(key);
    if (before !== undefined && before !== f.image) throw new CliError(`--image gives container ${key} two images: ${before} and ${f.image}`);
    seen.set(key, f.image);
    const t = target(f.deployment);
    t.images = { ...t.images, [f.container]: f.image };
  }
  for (const d of flags.deployments) target(d);
  if (targets.length === 0) {
    throw new CliError('a new Release needs its targets: give --image DEPLOYMENT=IMAGE (or DEPLOYMENT/CONTAINER=IMAGE) or --deployment DEPLOYMENT, once per target');
  }
  const spec: ReleaseSpec = { ...(existing ?? {}), version: flags.version, targets };
  delete spec.source;
  if (flags.source) spec.source = flags.source;
  // A target added here joins the last group of an explicit order, so the order still lists every target.
  if (spec.order && spec.order.length > 0) {
    const listed = new Set(spec.order.flat());
    const missing = targets.map((t) => t.deployment).filter((d) => !listed.has(d));
    if (missing.length) spec.order = [...spec.order.slice(0, -1), [...spec.order.at(-1)!, ...missing]];
  }
  return spec;
}
