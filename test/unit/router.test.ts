/**
 * LocalRouter and ClusterRouter over a LocalBus and a fake remote: a local answer is a plain
 * string and never reaches the remote; only a DID not held here goes to the remote.
 */
import { describe, expect, it } from 'vitest';
import { LocalBus, type DeliveryTarget } from '../../src/routing/local-bus.js';
import { ClusterRouter, LocalRouter, type RemoteDelivery, type RemoteResult } from '../../src/routing/router.js';

function target(answer: 'delivered' | 'busy' | 'closed'): DeliveryTarget {
  return { deliver: () => answer };
}

class FakeRemote implements RemoteDelivery {
  readonly calls: string[] = [];
  constructor(private readonly answer: RemoteResult) {}
  deliver(to: string): Promise<RemoteResult> {
    this.calls.push(to);
    return Promise.resolve(this.answer);
  }
}

describe('LocalRouter', () => {
  it('maps the local bus: delivered, busy, not_found (closing or unknown)', () => {
    const bus = new LocalBus();
    bus.attach('a', target('delivered'));
    bus.attach('b', target('busy'));
    bus.attach('c', target('closed'));
    const router = new LocalRouter(bus);
    expect(['a', 'b', 'c', 'd'].map((to) => router.deliver(to, Buffer.from('x')))).toEqual(['delivered', 'busy', 'not_found', 'not_found']);
  });
});

describe('ClusterRouter', () => {
  it('answers a local target synchronously without asking the remote', () => {
    const bus = new LocalBus();
    bus.attach('a', target('delivered'));
    bus.attach('b', target('busy'));
    const remote = new FakeRemote('delivered');
    const router = new ClusterRouter(bus, remote);
    expect(router.deliver('a', Buffer.from('x'))).toBe('delivered');
    expect(router.deliver('b', Buffer.from('x'))).toBe('busy');
    expect(remote.calls).toEqual([]);
  });

  it.each<RemoteResult>(['delivered', 'not_found', 'unavailable'])('passes the remote answer %s through for a DID not held here', async (answer) => {
    const bus = new LocalBus();
    bus.attach('closing', target('closed'));
    const remote = new FakeRemote(answer);
    const router = new ClusterRouter(bus, remote);
    const unknown = router.deliver('elsewhere', Buffer.from('x'));
    expect(unknown).toBeInstanceOf(Promise);
    expect(await unknown).toBe(answer);
    expect(await router.deliver('closing', Buffer.from('x'))).toBe(answer);
    expect(remote.calls).toEqual(['elsewhere', 'closing']);
  });
});
