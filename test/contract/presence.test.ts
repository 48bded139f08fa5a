/**
 * One contract suite over every Presence implementation: the in-memory default and Redis (a real
 * redis-server). Then the cluster-only behaviour of RedisPresence with two nodes.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentRecord } from '../../src/registry/agent-registry.js';
import { MemoryRegistry } from '../../src/registry/memory-registry.js';
import { MemoryPresence } from '../../src/registry/memory-presence.js';
import type { Presence } from '../../src/registry/presence.js';
import { RedisPresence } from '../../src/registry/redis-presence.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { TestAgent } from '../helpers/agent.js';

let redis: TestRedis;
const clients: Redis[] = [];
let prefixCounter = 0;

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  for (const c of clients) c.disconnect();
  await redis.stop();
});

function redisPresence(nodeId: string, prefix: string, nodeTtlMs = 60_000): RedisPresence {
  const client = new Redis(redis.url);
  clients.push(client);
  return new RedisPresence({ redis: client, nodeId, prefix, nodeTtlMs, agentTtlMs: 60_000 });
}

const implementations: [string, () => Presence][] = [
  ['MemoryPresence', () => new MemoryPresence(new MemoryRegistry(), 'node-m')],
  ['RedisPresence', () => redisPresence('node-m', `t${++prefixCounter}:`)],
];

const dids = Array.from({ length: 5 }, () => new TestAgent().did).sort();
const did = (i: number) => dids[i] as string;
function record(i: number, session: string, capabilities?: string[]): AgentRecord {
  const now = Date.now();
  return { did: did(i), session, meta: { name: `agent-${i}`, ...(capabilities ? { capabilities } : {}) }, connectedAt: now, lastSeen: now };
}

describe.each(implementations)('Presence contract: %s', (_name, make) => {
  it('announces, locates, lists and withdraws an agent', async () => {
    const p = make();
    await p.announce(record(0, 's1', ['vision']));
    expect(await p.locate(did(0))).toBe('node-m');
    expect(await p.count()).toBe(1);
    const page = await p.list({ limit: 10 });
    expect(page).toMatchObject({ count: 1, nextAfter: null });
    expect(page.agents[0]).toMatchObject({ did: did(0), session: 's1', meta: { name: 'agent-0', capabilities: ['vision'] } });
    await p.withdraw(did(0), 'not-the-owner');
    expect(await p.locate(did(0))).toBe('node-m');
    await p.withdraw(did(0), 's1');
    expect(await p.locate(did(0))).toBeNull();
    expect(await p.count()).toBe(0);
    expect((await p.list({ limit: 10 })).agents).toEqual([]);
  });

  it('replaces a registration of the same DID; the old session can no longer withdraw it', async () => {
    const p = make();
    await p.announce(record(1, 'old', ['a']));
    expect(await p.announce(record(1, 'new', ['b']))).toBeNull(); // same node: nothing to kick remotely
    await p.withdraw(did(1), 'old');
    expect(await p.locate(did(1))).toBe('node-m');
    expect((await p.list({ limit: 10, capability: 'a' })).count).toBe(0);
    expect((await p.list({ limit: 10, capability: 'b' })).agents.map((a) => a.session)).toEqual(['new']);
  });

  it('pages by DID with a cursor and filters by capability, counting all matches', async () => {
    const p = make();
    for (let i = 0; i < 5; i++) await p.announce(record(i, `s${i}`, i % 2 === 0 ? ['even'] : ['odd']));
    const first = await p.list({ limit: 2 });
    expect(first.count).toBe(5);
    expect(first.agents.map((a) => a.did)).toEqual([did(0), did(1)]);
    expect(first.nextAfter).toBe(did(1));
    const second = await p.list({ limit: 2, after: first.nextAfter ?? undefined });
    expect(second.agents.map((a) => a.did)).toEqual([did(2), did(3)]);
    const third = await p.list({ limit: 2, after: second.nextAfter ?? undefined });
    expect(third.agents.map((a) => a.did)).toEqual([did(4)]);
    expect(third.nextAfter).toBeNull();
    const even = await p.list({ limit: 10, capability: 'even' });
    expect(even.count).toBe(3);
    expect(even.agents.map((a) => a.did)).toEqual([did(0), did(2), did(4)]);
    // A cursor whose agent has left still positions the next page.
    await p.withdraw(did(1), 's1');
    const resumed = await p.list({ limit: 2, after: did(1) });
    expect(resumed.agents.map((a) => a.did)).toEqual([did(2), did(3)]);
  });

  it('refresh reports ok, missing and replaced', async () => {
    const p = make();
    const mine = record(0, 'mine');
    const gone = record(1, 'gone');
    await p.announce(mine);
    await p.announce(gone);
    await p.withdraw(gone.did, gone.session);
    await p.announce(record(2, 'theirs'));
    const results = await p.refresh([mine, gone, record(2, 'stale-local')]);
    expect(Object.fromEntries(results)).toEqual({ [did(0)]: 'ok', [did(1)]: 'missing', [did(2)]: 'replaced' });
  });
});

describe('RedisPresence across nodes', () => {
  it('tells a node whose session on another node it replaced', async () => {
    const prefix = `x${++prefixCounter}:`;
    const a = redisPresence('node-a', prefix);
    const b = redisPresence('node-b', prefix);
    await a.announce(record(0, 'on-a', ['x']));
    expect(await b.locate(did(0))).toBe('node-a');
    expect(await b.announce(record(0, 'on-b', ['y']))).toEqual({ node: 'node-a', session: 'on-a' });
    expect(await a.locate(did(0))).toBe('node-b');
    // A's late withdraw of its replaced session does not unlist B's.
    await a.withdraw(did(0), 'on-a');
    expect(await a.locate(did(0))).toBe('node-b');
    expect((await a.list({ limit: 10, capability: 'x' })).count).toBe(0);
  });

  it("hides a dead node's agents at once and reaps them", async () => {
    const prefix = `d${++prefixCounter}:`;
    const dead = redisPresence('node-dead', prefix, 150);
    const live = redisPresence('node-live', prefix);
    await dead.announce(record(0, 's0'));
    await dead.announce(record(1, 's1'));
    await live.announce(record(2, 's2'));
    expect((await live.list({ limit: 10 })).agents).toHaveLength(3);
    // The dead node stops refreshing: its liveness key expires.
    await new Promise((r) => setTimeout(r, 300));
    expect(await live.locate(did(0))).toBeNull();
    expect((await live.list({ limit: 10 })).agents.map((a) => a.did)).toEqual([did(2)]);
    expect(await live.reap()).toBe(2);
    expect(await live.count()).toBe(1);
  });

  it('leave() unlists every agent of the node at once', async () => {
    const prefix = `l${++prefixCounter}:`;
    const a = redisPresence('node-a', prefix);
    const b = redisPresence('node-b', prefix);
    await a.announce(record(0, 's0'));
    await b.announce(record(1, 's1'));
    expect(await a.leave()).toBe(1);
    expect((await b.list({ limit: 10 })).agents.map((x) => x.did)).toEqual([did(1)]);
  });
});
