// How the notification sender sees a Release: its path, and the Datadog unified service tags of
// what it releases (service spec.dora.service or the Release's name, env spec.dora.env, version
// spec.version). What it released, target by target, is in each ledger entry (transitions.ts).
import { RELEASE_KIND, type Release } from '../api/release-types.js';
import { paths, type KubeObject } from '../kube/raw-client.js';
import type { InformerHandler, ObjectStore } from '../runtime/informer.js';
import type { NotifyKind } from '../notify/sender.js';

export function releaseNotifyKind(releases: ObjectStore & { addHandler(h: InformerHandler): void }): NotifyKind {
  return {
    kind: RELEASE_KIND,
    store: releases,
    path: paths.release,
    describe: () => ({ links: [] }),
    serviceTags: (obj: KubeObject) => {
      const r = obj as unknown as Release;
      const out: { service?: string; env?: string; version?: string } = { service: r.spec?.dora?.service ?? r.metadata.name };
      if (r.spec?.dora?.env) out.env = r.spec.dora.env;
      if (r.spec?.version) out.version = r.spec.version;
      return out;
    },
  };
}
