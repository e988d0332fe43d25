// The notification sender at rest: with nothing to deliver it does not walk every cached object
// every pollMs (at 1,000 idle Canaries that walk was most of the operator's idle CPU); a delivery
// that falls due is still picked up.
import { expect } from 'chai';
import { Registry } from 'prom-client';
import type { KubeObject, RawClient } from '../../src/kube/raw-client.js';
import { NotificationSender, type NotifyKind } from '../../src/notify/sender.js';
import { notificationMetrics } from '../../src/notify/metrics.js';
import { alwaysLeader } from '../../src/runtime/leadership.js';
import { createLogger } from '../../src/runtime/logger.js';
import type { InformerHandler } from '../../src/runtime/informer.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function fakeKind(objects: KubeObject[]): { kind: NotifyKind; lists: () => number; gets: string[]; handlers: InformerHandler[] } {
  let lists = 0;
  const handlers: InformerHandler[] = [];
  const gets: string[] = [];
  const kind: NotifyKind = {
    kind: 'Canary',
    store: {
      get: (name) => objects.find((o) => o.metadata.name === name),
      list: () => {
        lists++;
        return objects;
      },
      addHandler: (h) => void handlers.push(h),
    },
    path: (ns, name) => `/apis/deployer.dev/v1alpha1/namespaces/${ns}/canaries/${name}`,
    describe: () => ({}),
    serviceTags: () => ({}),
  };
  return { kind, lists: () => lists, gets, handlers };
}

function sender(kind: NotifyKind, client: Partial<RawClient>, pollMs = 10): NotificationSender {
  return new NotificationSender({
    client: client as RawClient,
    kinds: [kind],
    leadership: alwaysLeader,
    logger: createLogger({ silent: true }),
    metrics: notificationMetrics(new Registry()),
    defaults: () => [],
    operatorNamespace: 'deployer-system',
    pollMs,
  });
}

const canary = (name: string, status: Record<string, unknown> = {}): KubeObject => ({ apiVersion: 'deployer.dev/v1alpha1', kind: 'Canary', metadata: { name, namespace: 'shop', uid: `uid-${name}` }, status } as KubeObject);

describe('notification sender at rest', () => {
  it('does not scan the caches every pollMs while nothing is pending', async () => {
    const fake = fakeKind(Array.from({ length: 1_000 }, (_, i) => canary(`c${i}`)));
    const s = sender(fake.kind, {});
    s.start();
    await sleep(300);
    await s.stop();
    expect(fake.lists(), 'scans in 300 ms at pollMs 10').to.be.at.most(2);
  });

  it('scans again when a pending delivery falls due', async () => {
    const due = new Date(Date.now() + 150).toISOString();
    const pending = canary('c0', { notifications: [{ id: 'e1', transition: 'Promoted', at: new Date().toISOString(), sinks: [{ sink: 'team', attempts: 1, nextAttemptAt: due }] }] });
    const fake = fakeKind([pending]);
    const reads: string[] = [];
    const s = sender(fake.kind, { get: async <T>(path: string): Promise<T> => { reads.push(path); return pending as T; } });
    s.start();
    await sleep(80);
    expect(reads, 'not before it is due').to.have.length(0);
    await sleep(250);
    await s.stop();
    expect(reads.length, 'read live once due').to.be.at.least(1);
  });

  it('an unreadable nextAttemptAt (a hand edit of status) is due now, not a timer that fires every millisecond', async () => {
    const pending = canary('c0', { notifications: [{ id: 'e1', transition: 'Promoted', at: new Date().toISOString(), sinks: [{ sink: 'team', attempts: 1, nextAttemptAt: 'soon' }] }] });
    const fake = fakeKind([pending]);
    // A read that hangs until the test ends (stop() waits for it).
    let answer: () => void = () => undefined;
    const s = sender(fake.kind, { get: async <T>(): Promise<T> => new Promise<T>((resolve) => (answer = () => resolve(pending as T))) }, 100);
    s.start();
    await sleep(300);
    const lists = fake.lists();
    const stopped = s.stop();
    answer();
    await stopped;
    expect(lists, 'scans in 300 ms at pollMs 100').to.be.at.most(5);
  });
});
