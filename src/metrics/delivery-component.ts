// Delivery metrics as one component of the operator: it follows the histories of Canaries and
// Releases in the informer cache, exports the figures on /metrics, logs each finished deploy and
// reports promotions and change failures to Datadog DORA from the leader.
import type { Registry } from 'prom-client';
import type { Canary } from '../api/types.js';
import type { Release } from '../api/release-types.js';
import { CANARIES } from '../canary/controller.js';
import type { RawClient } from '../kube/raw-client.js';
import { RELEASES } from '../release/controller.js';
import type { Logger } from '../runtime/logger.js';
import type { SharedInformers } from '../runtime/shared-informers.js';
import { DeliveryExporter } from './delivery-exporter.js';
import { datadogDoraClient } from './dora-client.js';
import { doraCredentials } from './dora-credentials.js';
import { DoraSender } from './dora-sender.js';

export interface DeliveryComponentOptions {
  client: RawClient;
  informers: SharedInformers;
  registry: Registry;
  logger: Logger;
  isLeader: () => boolean;
  /** Allow plain http to a Datadog url that is not loopback (--datadog-allow-http). */
  allowPlainHttp: boolean;
}

export class DeliveryComponent {
  readonly exporter: DeliveryExporter;
  readonly dora: DoraSender;

  constructor(o: DeliveryComponentOptions) {
    this.dora = new DoraSender({
      client: datadogDoraClient,
      credentials: doraCredentials(o.client, { allowPlainHttp: o.allowPlainHttp }),
      isLeader: o.isLeader,
      logger: o.logger.child({ component: 'dora' }),
      registry: o.registry,
    });
    this.exporter = new DeliveryExporter({ registry: o.registry, logger: o.logger.child({ component: 'delivery' }), listeners: [(e) => this.dora.onEvent(e)] });
    o.informers.for(CANARIES).addHandler({
      onChange: (c) => this.exporter.observeCanary(c as unknown as Canary),
      onDelete: (c) => this.exporter.forget('Canary', c.metadata.namespace ?? '', c.metadata.name),
    });
    o.informers.for(RELEASES).addHandler({
      onChange: (r) => {
        const release = r as unknown as Release;
        this.exporter.observeRelease(release);
        this.dora.reportReleasePromotion(release);
      },
      onDelete: (r) => this.exporter.forget('Release', r.metadata.namespace ?? '', r.metadata.name),
    });
  }

  /** The leader sends what waited while another replica led. */
  onStartedLeading(): void {
    this.dora.kick();
  }

  close(): void {
    this.dora.close();
  }
}
