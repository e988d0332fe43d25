// How the notification sender sees a Canary: its path, the Deployment it verifies, the links of
// its checks, and the Deployment's Datadog unified service tags.
import { LABELS } from '../api/constants.js';
import { CANARY_KIND, type Canary } from '../api/types.js';
import { paths, type KubeObject } from '../kube/raw-client.js';
import type { InformerHandler, ObjectStore } from '../runtime/informer.js';
import type { NotifyKind } from '../notify/sender.js';

const SERVICE_TAGS = { service: 'tags.datadoghq.com/service', env: 'tags.datadoghq.com/env', version: LABELS.ddVersion } as const;

export function canaryNotifyKind(canaries: ObjectStore & { addHandler(h: InformerHandler): void }, deployments: ObjectStore): NotifyKind {
  return {
    kind: CANARY_KIND,
    store: canaries,
    path: paths.canary,
    describe: (obj: KubeObject) => {
      const c = obj as unknown as Canary;
      const links = (c.status?.checks ?? []).flatMap((check) => {
        const url = check.measurements.at(-1)?.url;
        return url ? [{ title: `check ${check.name}`, url }] : [];
      });
      return { ...(c.spec?.targetRef?.name ? { target: c.spec.targetRef.name } : {}), links };
    },
    serviceTags: (obj: KubeObject) => {
      const c = obj as unknown as Canary;
      const dep = deployments.get(c.spec?.targetRef?.name ?? '', c.metadata.namespace) as (KubeObject & { spec?: { template?: { metadata?: { labels?: Record<string, string> } } } }) | undefined;
      const labels = { ...(dep?.spec?.template?.metadata?.labels ?? {}), ...(dep?.metadata.labels ?? {}) };
      const out: { service?: string; env?: string; version?: string } = {};
      if (labels[SERVICE_TAGS.service]) out.service = labels[SERVICE_TAGS.service];
      if (labels[SERVICE_TAGS.env]) out.env = labels[SERVICE_TAGS.env];
      if (labels[SERVICE_TAGS.version]) out.version = labels[SERVICE_TAGS.version];
      return out;
    },
  };
}
