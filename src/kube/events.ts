// Kubernetes Events (core/v1), one per transition, with specific reasons.
import { paths, type KubeObject, type RawClient } from './raw-client.js';

export interface EventTarget {
  apiVersion: string;
  kind: string;
  name: string;
  namespace: string;
  uid?: string;
}

export interface EventRecorder {
  record(target: EventTarget, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void>;
}

export class KubeEventRecorder implements EventRecorder {
  constructor(
    private readonly client: RawClient,
    private readonly component: string,
    private readonly instance: string,
  ) {}

  async record(target: EventTarget, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const now = new Date().toISOString();
    await this.client.create<KubeObject>(paths.events(target.namespace), {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { generateName: `${target.name}.`, namespace: target.namespace },
      involvedObject: { apiVersion: target.apiVersion, kind: target.kind, name: target.name, namespace: target.namespace, ...(target.uid ? { uid: target.uid } : {}) },
      reason,
      message: message.length > 1000 ? `${message.slice(0, 997)}...` : message,
      type,
      source: { component: this.component },
      reportingComponent: this.component,
      reportingInstance: this.instance,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    });
  }
}
