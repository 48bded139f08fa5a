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
import { eventually } from '../helpers/eventually.js';

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

function redisPresence(nodeId: string, prefix: string, nodeTtlMs = 60_000, local = new MemoryRegistry()): RedisPresence {
  const client = new Redis(redis.url);
  clients.push(client);
  return new RedisPresence({ redis: client, local, nodeId, prefix, nodeTtlMs, agentTtlMs: 60_000 });
}

/** Each implementation over a local registry of its own (which it alone writes). */
const implementations: [string, (local?: MemoryRegistry) => Presence][] = [
  ['MemoryPresence', (local = new MemoryRegistry()) => new MemoryPresence(local, 'node-m')],
  ['RedisPresence', (local) => redisPresence('node-m', `t${++prefixCounter}:`, 60_000, local)],
];

const dids = Array.from({ length: 5 }, () => new TestAgent().did).sort();
const did = (i: number) => dids[i] as string;
function record(i: number, session: string, capabilities?: string[]): AgentRecord {
  const now = Date.now();
  return { did: did(i), session, meta: { name: `agent-${i}`, ...(capabilities ? { capabilities } : {}) }, connectedAt: now, lastSeen: now };
}

describe.each(implementations)('Presence contract: %s', (_name, make) => {
  it('is the writer of the local registry: announce lists at once, withdraw of the owner unlists at once', async () => {
    const local = new MemoryRegistry();
    const p = make(local);
    const r = record(2, 's1');
    const announced = p.announce(r);
    expect(local.get(did(2))).toBe(r); // before the announce resolves
    await announced;
    const notOwner = p.withdraw(did(2), 'someone-else');
    expect(local.get(did(2))).toBe(r);
    await notOwner;
    const withdrawn = p.withdraw(did(2), 's1');
    expect(local.get(did(2))).toBeUndefined(); // before the withdraw resolves
    await withdrawn;
    expect(local.size).toBe(0);
  });

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
    // The dead node stops refreshing: its liveness key expires (Redis's own clock, 150 ms TTL).
    await eventually(async () => (await live.locate(did(0))) === null, 5000, "the dead node's liveness key to expire");
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

describe('RedisPresence with corrupt entries', () => {
  type Warning = { did: string; reason: string };
  function withLog(nodeId: string, prefix: string, warnings: Warning[], nodeTtlMs = 60_000): RedisPresence {
    const client = new Redis(redis.url);
    clients.push(client);
    const log = { warn: (obj: Record<string, unknown>, msg: string) => msg === 'corrupt presence entry skipped' && warnings.push(obj as Warning) };
    return new RedisPresence({ redis: client, local: new MemoryRegistry(), nodeId, prefix, nodeTtlMs, agentTtlMs: 60_000, log });
  }
  function raw(): Redis {
    const client = new Redis(redis.url);
    clients.push(client);
    return client;
  }
  const many = Array.from({ length: 14 }, () => new TestAgent().did).sort();
  const at = (i: number) => many[i] as string;
  /** Writes `agent:<did>` as given, indexed like ANNOUNCE does (agents, cap:x, the node's set). */
  async function plant(r: Redis, prefix: string, d: string, entry: Record<string, string> | string, node = 'node-m'): Promise<void> {
    const key = `${prefix}agent:${d}`;
    await r.del(key);
    if (typeof entry === 'string') await r.set(key, entry);
    else await r.hset(key, entry);
    await r.zadd(`${prefix}agents`, 0, d);
    await r.zadd(`${prefix}cap:x`, 0, d);
    await r.sadd(`${prefix}node:${node}:agents`, d);
  }
  const good = (d: string, session = 's') => {
    const now = String(Date.now());
    return { node: 'node-m', session, meta: JSON.stringify({ name: d.slice(-4), capabilities: ['x'] }), caps: '["x"]', connected_at: now, last_seen: now };
  };

  it('lists the good agents, skips and logs each corrupt one, and keeps count and paging consistent', async () => {
    const prefix = `k${++prefixCounter}:`;
    const warnings: Warning[] = [];
    const p = withLog('node-m', prefix, warnings);
    const r = raw();
    const goods = many.filter((_, i) => i % 2 === 0);
    // Whatever announce writes is never judged corrupt: zero, negative or fractional timestamps too.
    const times = [0, -1, 0.5, 1712345678901.25, 8.64e15, 2, 3];
    for (const [i, d] of goods.entries()) await p.announce({ did: d, session: `s${i}`, meta: { capabilities: ['x'] }, connectedAt: times[i] as number, lastSeen: i });
    const corrupt: [string, Record<string, string> | string, string][] = [
      [at(1), { ...good(at(1)), connected_at: 'yesterday' }, 'connected_at not a timestamp'],
      [at(3), { ...good(at(3)), meta: '{"name":' }, 'meta not JSON'],
      [at(5), { ...good(at(5)), meta: '[1,2]' }, 'meta not an object'],
      [at(7), { ...good(at(7)), session: '' }, 'session missing'],
      [at(9), 'not a hash at all', 'not a hash'],
      [at(11), { meta: '{}', caps: '["x"]' }, 'node missing'],
      [at(13), { ...good(at(13)), last_seen: '1e99' }, 'last_seen not a timestamp'],
    ];
    for (const [d, entry] of corrupt) await plant(r, prefix, d, entry);
    expect(await r.zcard(`${prefix}agents`)).toBe(14);

    const page = await p.list({ limit: 100 });
    expect(page.agents.map((a) => [a.did, a.connectedAt, a.lastSeen])).toEqual(goods.map((d, i) => [d, times[i], i]));
    expect(page.count).toBe(goods.length); // the corrupt entries were unindexed by this listing
    expect(page.nextAfter).toBeNull();
    expect(warnings.map((w) => [w.did, w.reason])).toEqual(corrupt.map(([d, , reason]) => [d, reason]));
    // Removed, so their owners' next heartbeat re-announces them (TOUCH: missing).
    for (const [d] of corrupt) expect(await r.exists(`${prefix}agent:${d}`)).toBe(0);
    expect(await r.zcard(`${prefix}agents`)).toBe(goods.length);

    // The capability index still held them: that listing tidies them as expired entries.
    const caps = await p.list({ limit: 3, capability: 'x' });
    expect(caps.agents.map((a) => a.did)).toEqual(goods.slice(0, 3));
    let after = caps.nextAfter ?? undefined;
    const seen = [...caps.agents.map((a) => a.did)];
    while (after !== undefined) {
      const next = await p.list({ limit: 3, capability: 'x', after });
      seen.push(...next.agents.map((a) => a.did));
      expect(next.count).toBe(goods.length);
      after = next.nextAfter ?? undefined;
    }
    expect(seen).toEqual(goods);
    expect(warnings).toHaveLength(corrupt.length);
  });

  it('skips corrupt entries met while paging, without throwing, and a page of them only is empty', async () => {
    const prefix = `k${++prefixCounter}:`;
    const warnings: Warning[] = [];
    const p = withLog('node-m', prefix, warnings);
    const r = raw();
    await p.announce({ did: at(0), session: 's0', meta: {}, connectedAt: 1, lastSeen: 1 });
    await plant(r, prefix, at(1), { ...good(at(1)), node: '' });
    await plant(r, prefix, at(2), 'garbage');
    await p.announce({ did: at(3), session: 's3', meta: {}, connectedAt: 1, lastSeen: 1 });
    const long = `did:key:z${'Z'.repeat(300)}`; // sorts last; logged truncated
    await plant(r, prefix, long, { ...good(long), meta: 'null' });
    const first = await p.list({ limit: 1 });
    expect(first.agents.map((a) => a.did)).toEqual([at(0)]);
    const second = await p.list({ limit: 2, after: first.nextAfter ?? undefined });
    expect(second.agents).toEqual([]);
    expect(second.nextAfter).toBe(at(2));
    const third = await p.list({ limit: 2, after: second.nextAfter ?? undefined });
    expect(third.agents.map((a) => a.did)).toEqual([at(3)]);
    expect(third.count).toBe(2);
    expect(warnings.map((w) => [w.did, w.reason])).toEqual([
      [at(1), 'node missing'],
      [at(2), 'not a hash'],
      [`${long.slice(0, 64)}…`, 'meta not an object'],
    ]);
  });

  it('does not purge an entry repaired since the listing read it', async () => {
    const prefix = `k${++prefixCounter}:`;
    const r = raw();
    const client = new Redis(redis.url);
    clients.push(client);
    let repair: Promise<unknown> | undefined;
    // The owner re-announces it after the listing read it and before the purge: the log hook runs
    // in between, and the announce goes first on the same connection.
    const log = { warn: () => void (repair = p.announce({ did: at(1), session: 'sx', meta: {}, connectedAt: 5, lastSeen: 5 })) };
    const p: RedisPresence = new RedisPresence({ redis: client, local: new MemoryRegistry(), nodeId: 'node-m', prefix, nodeTtlMs: 60_000, agentTtlMs: 60_000, log });
    await p.announce({ did: at(0), session: 's0', meta: {}, connectedAt: 1, lastSeen: 1 });
    await plant(r, prefix, at(1), { ...good(at(1), 'sx'), connected_at: 'bad' });
    const page = await p.list({ limit: 10 });
    expect(page.agents.map((a) => a.did)).toEqual([at(0)]);
    expect(page.count).toBe(2);
    await repair;
    expect((await p.list({ limit: 10 })).agents.map((a) => [a.did, a.connectedAt])).toEqual([
      [at(0), 1],
      [at(1), 5],
    ]);
  });

  it('keeps locate, route, refresh, announce, withdraw and reap working over corrupt entries', async () => {
    const prefix = `k${++prefixCounter}:`;
    const r = raw();
    const p = withLog('node-m', prefix, []);
    await p.markAlive();
    // Not a hash: not routable, refresh says missing (so the owner re-announces), announce replaces it.
    await plant(r, prefix, at(0), 'garbage');
    expect(await p.locate(at(0))).toBeNull();
    // Routing over a corrupt entry (not_found) is covered in test/contract/router.test.ts.
    const mine = { did: at(0), session: 's0', meta: { capabilities: ['y'] }, connectedAt: 1, lastSeen: 1 };
    expect(Object.fromEntries(await p.refresh([mine]))).toEqual({ [at(0)]: 'missing' });
    expect(await p.announce(mine)).toBeNull();
    expect(await p.locate(at(0))).toBe('node-m');
    expect((await p.list({ limit: 10, capability: 'y' })).agents.map((a) => a.did)).toEqual([at(0)]);

    // caps not a JSON array: a new registration, a withdraw and the reaper still clean up.
    await plant(r, prefix, at(1), { ...good(at(1), 's1'), caps: '{oops' });
    expect(await p.announce({ did: at(1), session: 's1b', meta: {}, connectedAt: 1, lastSeen: 1 })).toBeNull();
    await plant(r, prefix, at(2), { ...good(at(2), 's2'), caps: '"x"' });
    await p.withdraw(at(2), 's2');
    expect(await r.exists(`${prefix}agent:${at(2)}`)).toBe(0);
    expect(await p.locate(at(2))).toBeNull();

    await plant(r, prefix, at(3), { ...good(at(3), 's3'), node: 'node-gone', caps: '[1,{"a":2},"x"]' }, 'node-gone');
    await plant(r, prefix, at(4), 'garbage', 'node-gone');
    await r.sadd(`${prefix}nodes`, 'node-gone');
    expect(await p.reap()).toBe(1);
    expect(await r.exists(`${prefix}agent:${at(3)}`)).toBe(0);
    expect(await r.zscore(`${prefix}cap:x`, at(3))).toBeNull();
    expect(await r.zscore(`${prefix}agents`, at(4))).toBeNull();
  });
});
