/**
 * One contract suite over both Router implementations: LocalRouter (single node) and ClusterRouter
 * (two Cluster nodes on a real redis-server). The session calls `router.deliver` and never branches
 * on local vs remote, so both must answer the same cases the same way; then the cluster-only cases
 * (a target on another node, Redis down).
 */
import type { FastifyBaseLogger } from 'fastify';
import { Redis } from 'ioredis';
import { MemoryRegistry } from '../../src/registry/memory-registry.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from '../../src/cluster/cluster.js';
import type { AgentRecord } from '../../src/registry/agent-registry.js';
import { LocalBus, type DeliveryTarget } from '../../src/routing/local-bus.js';
import { ClusterRouter, LocalRouter, type Router } from '../../src/routing/router.js';
import { eventually } from '../helpers/eventually.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

let redis: TestRedis;
const clusters: Cluster[] = [];
const clients: Redis[] = [];
let counter = 0;

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await Promise.all(clusters.map((c) => c.stop()));
  for (const c of clients) c.disconnect();
  await redis.stop();
});

const noop = () => {};
const log = { info: noop, warn: noop, error: noop, debug: noop, trace: noop, fatal: noop, child: () => log } as unknown as FastifyBaseLogger;

/** A session stand-in: answers `answer`, and keeps what it accepted. */
class Target implements DeliveryTarget {
  readonly received: Buffer[] = [];
  constructor(private readonly answer: 'delivered' | 'busy' | 'closed' = 'delivered') {}
  deliver(data: Buffer | string): 'delivered' | 'busy' | 'closed' {
    if (this.answer === 'delivered') this.received.push(Buffer.from(data));
    return this.answer;
  }
}

interface Node {
  bus: LocalBus;
  router: Router;
}

interface ClusterNode extends Node {
  cluster: Cluster;
}

async function clusterNode(nodeId: string, prefix: string): Promise<ClusterNode> {
  const bus = new LocalBus();
  const cluster = new Cluster({
    nodeId,
    redisUrl: redis.url,
    prefix,
    heartbeatIntervalMs: 1_000,
    log,
    registry: new MemoryRegistry(),
    onFrame: (to, data) => void bus.deliver(to, data),
    onKick: noop,
    onRefresh: noop,
  });
  clusters.push(cluster);
  await cluster.start();
  await eventually(() => cluster.status === 'ready', 10_000, `${nodeId} ready`);
  await cluster.presence.markAlive();
  return { bus, cluster, router: new ClusterRouter(bus, cluster) };
}

const routers: [string, () => Promise<Node>][] = [
  [
    'LocalRouter',
    async () => {
      const bus = new LocalBus();
      return { bus, router: new LocalRouter(bus) };
    },
  ],
  ['ClusterRouter', () => clusterNode(`node-${++counter}`, `r${counter}:`)],
];

const did = (name: string) => `did:key:z6Mk${name}${++counter}`;
const frame = (text: string) => Buffer.from(JSON.stringify({ type: 'SIGNAL', text }));

function record(agent: string, session: string): AgentRecord {
  const now = Date.now();
  return { did: agent, session, meta: { name: 'x' }, connectedAt: now, lastSeen: now };
}

describe.each(routers)('Router contract: %s', (_name, make) => {
  it('delivers to a local target synchronously (a plain string: no promise on the hot path)', async () => {
    const { bus, router } = await make();
    const target = new Target();
    const to = did('local');
    bus.attach(to, target);
    const data = frame('hello');
    const result = router.deliver(to, data);
    expect(result).toBe('delivered');
    expect(target.received).toEqual([data]);
  });

  it('answers busy, synchronously, for a local target whose inbound budget is used up', async () => {
    const { bus, router } = await make();
    const to = did('busy');
    bus.attach(to, new Target('busy'));
    expect(router.deliver(to, frame('x'))).toBe('busy');
  });

  it('answers not_found for a DID no node holds', async () => {
    const { router } = await make();
    expect(await router.deliver(did('unknown'), frame('x'))).toBe('not_found');
  });

  it('answers not_found for a local target that is closing', async () => {
    const { bus, router } = await make();
    const to = did('closing');
    bus.attach(to, new Target('closed'));
    expect(await router.deliver(to, frame('x'))).toBe('not_found');
  });

  it('stops delivering to a detached target', async () => {
    const { bus, router } = await make();
    const to = did('gone');
    const target = new Target();
    bus.attach(to, target);
    bus.detach(to, target);
    expect(await router.deliver(to, frame('x'))).toBe('not_found');
    expect(target.received).toEqual([]);
  });
});

describe('ClusterRouter: across nodes', () => {
  const prefix = 'rc:';
  let a: ClusterNode;
  let b: ClusterNode;

  beforeAll(async () => {
    a = await clusterNode('node-a', prefix);
    b = await clusterNode('node-b', prefix);
  });

  it('delivers the original bytes to a target on another node (asynchronously)', async () => {
    const to = did('remote');
    const target = new Target();
    b.bus.attach(to, target);
    await b.cluster.presence.announce(record(to, 's1'));
    const data = frame('across');
    const result = a.router.deliver(to, data);
    expect(result).toBeInstanceOf(Promise);
    expect(await result).toBe('delivered');
    await eventually(() => target.received.length === 1, 5_000, 'the frame on node b');
    expect(target.received[0]?.equals(data)).toBe(true);
  });

  it('answers not_found for an agent listed on this node but no longer connected here', async () => {
    const to = did('left');
    await a.cluster.presence.announce(record(to, 's1'));
    expect(await a.router.deliver(to, frame('x'))).toBe('not_found');
  });

  it('answers not_found for a corrupt presence entry (never fails the script)', async () => {
    const raw = new Redis(redis.url);
    clients.push(raw);
    const to = did('corrupt');
    await raw.set(`${prefix}agent:${to}`, 'garbage');
    expect(await a.router.deliver(to, frame('x'))).toBe('not_found');
  });

  it('with Redis down: a local target is still delivered synchronously, a remote one is unavailable', async () => {
    const remote = did('remote-down');
    b.bus.attach(remote, new Target());
    await b.cluster.presence.announce(record(remote, 's1'));
    const local = did('local-down');
    const here = new Target();
    a.bus.attach(local, here);

    await redis.stop();
    await eventually(() => a.cluster.redisStatus !== 'ready', 10_000, 'node a to see Redis gone');
    expect(a.router.deliver(local, frame('x'))).toBe('delivered');
    expect(here.received).toHaveLength(1);
    expect(await a.router.deliver(remote, frame('x'))).toBe('unavailable');
    await redis.start();
    await eventually(() => a.cluster.status === 'ready' && b.cluster.status === 'ready', 15_000, 'Redis back');
    // Node b subscribed its channel again: frames reach it (the restarted Redis lost b's entry).
    const after = new Target();
    const again = did('remote-again');
    b.bus.attach(again, after);
    await b.cluster.presence.announce(record(again, 's2'));
    await eventually(async () => (await a.router.deliver(again, frame('y'))) === 'delivered', 10_000, 'delivery to node b again');
    await eventually(() => after.received.length >= 1, 5_000, 'the frame on node b');
  });
});
