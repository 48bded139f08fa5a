/**
 * Cost of one cluster listing (DISCOVER, GET /agents → RedisPresence.list): a bounded number of
 * Redis commands and round trips whatever the number of agents listed, counted on the listing
 * node's ioredis client (every command, pipelined or not, goes through its sendCommand).
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentRecord } from '../../src/registry/agent-registry.js';
import { MemoryRegistry } from '../../src/registry/memory-registry.js';
import { RedisPresence } from '../../src/registry/redis-presence.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

let redis: TestRedis;
let admin: Redis;
const clients: Redis[] = [];

beforeAll(async () => {
  redis = await startRedis();
  admin = new Redis(redis.url);
});
afterAll(async () => {
  for (const c of clients) c.disconnect();
  admin.disconnect();
  await redis.stop();
});

function presence(nodeId: string, prefix: string): { presence: RedisPresence; client: Redis } {
  const client = new Redis(redis.url);
  clients.push(client);
  return { presence: new RedisPresence({ redis: client, local: new MemoryRegistry(), nodeId, prefix, nodeTtlMs: 60_000, agentTtlMs: 60_000 }), client };
}

/**
 * Counts the commands `client` sends and the round trips they take: a round trip starts with a
 * command sent while no reply is pending (commands sent together, e.g. a pipeline, share one).
 */
function meter(client: Redis): { commands: number; roundTrips: number } {
  const stats = { commands: 0, roundTrips: 0 };
  let pending = 0;
  const send = client.sendCommand.bind(client);
  client.sendCommand = ((command: Parameters<Redis['sendCommand']>[0], ...rest: unknown[]) => {
    if (pending === 0) stats.roundTrips++;
    stats.commands++;
    pending++;
    const settle = () => {
      pending--;
    };
    command.promise.then(settle, settle);
    return (send as (...args: unknown[]) => unknown)(command, ...rest);
  }) as Redis['sendCommand'];
  return stats;
}

const did = (i: number) => `did:key:z6Mk${String(i).padStart(6, '0')}${'x'.repeat(38)}`;

/** `n` agents spread over four live nodes, two capabilities; then one node dies and some entries expire. */
async function populate(prefix: string, n: number): Promise<void> {
  const nodes = Array.from({ length: 4 }, (_, i) => presence(`node-${i}`, prefix).presence);
  const now = Date.now();
  for (let i = 0; i < n; i++) {
    const record: AgentRecord = { did: did(i), session: `s${i}`, meta: { name: `agent-${i}`, capabilities: ['chat', `c${i % 2}`] }, connectedAt: now, lastSeen: now };
    await (nodes[i % 4] as RedisPresence).announce(record);
  }
}

async function measure(client: Redis, list: () => Promise<unknown>): Promise<{ commands: number; roundTrips: number }> {
  await client.ping(); // connected: the connection's own set-up commands are not the listing's
  const stats = meter(client);
  await list();
  client.sendCommand = Object.getPrototypeOf(client).sendCommand;
  return stats;
}

describe('cluster listing cost', () => {
  it('lists 200 agents in at most 2 commands and 2 round trips, as it lists 20', async () => {
    const small = `s${Date.now()}:`;
    const large = `l${Date.now()}:`;
    await populate(small, 20);
    await populate(large, 200);
    await admin.script('FLUSH'); // the first listing below also pays for loading its script
    const { presence: lister, client } = presence('lister', large);
    const { presence: smallLister, client: smallClient } = presence('lister', small);

    const cold = await measure(client, async () => {
      const page = await lister.list({ limit: 200 });
      expect(page.agents).toHaveLength(200);
      expect(page.count).toBe(200);
    });
    expect(cold.commands).toBeLessThanOrEqual(2);
    expect(cold.roundTrips).toBeLessThanOrEqual(2);

    const costs = [];
    for (const [c, p, query] of [
      [client, lister, { limit: 200 }],
      [client, lister, { limit: 100 }], // DISCOVER's default page
      [client, lister, { limit: 1000, capability: 'c1' }],
      [client, lister, { limit: 50, after: did(120) }],
      [smallClient, smallLister, { limit: 200 }],
    ] as const) {
      costs.push(await measure(c, () => p.list(query)));
    }
    for (const cost of costs) {
      expect(cost.commands).toBeLessThanOrEqual(2);
      expect(cost.roundTrips).toBeLessThanOrEqual(2);
    }
  });

  it('reads a page over 1000 (beyond the HTTP and DISCOVER maximum) in scripts of at most 1000 entries', async () => {
    const prefix = `b${Date.now()}:`;
    await populate(prefix, 1100);
    const { presence: lister, client } = presence('lister', prefix);
    let pages: Awaited<ReturnType<RedisPresence['list']>>[] = [];
    const cost = await measure(client, async () => {
      pages = [await lister.list({ limit: 1050 }), await lister.list({ limit: 1000, after: did(1049) })];
    });
    expect(cost.commands).toBe(3);
    expect(pages.map((p) => [p.agents.length, p.count, p.nextAfter])).toEqual([
      [1050, 1100, did(1049)],
      [50, 1100, null],
    ]);
    expect([...(pages[0]?.agents ?? []), ...(pages[1]?.agents ?? [])].map((a) => a.did)).toEqual(Array.from({ length: 1100 }, (_, i) => did(i)));
  });

  it('stays bounded while it skips a dead node and tidies expired entries', async () => {
    const prefix = `d${Date.now()}:`;
    await populate(prefix, 200);
    // node-3 dies (its liveness key expires) and ten entries of node-0 expire, still indexed.
    await admin.del(`${prefix}node:node-3`);
    const expired = Array.from({ length: 10 }, (_, k) => did(k * 4));
    await admin.del(...expired.map((d) => `${prefix}agent:${d}`));
    const { presence: lister, client } = presence('lister', prefix);

    let page: Awaited<ReturnType<RedisPresence['list']>> | undefined;
    const cost = await measure(client, async () => {
      page = await lister.list({ limit: 1000 });
    });
    expect(cost.commands).toBeLessThanOrEqual(2);
    expect(cost.roundTrips).toBeLessThanOrEqual(2);
    const expected = Array.from({ length: 200 }, (_, i) => did(i)).filter((d, i) => i % 4 !== 3 && !expired.includes(d));
    expect(page?.agents.map((a) => a.did)).toEqual(expected);
    // The expired entries left the index in the same script; the dead node's wait for the reaper.
    expect(page?.count).toBe(190);
    expect(await admin.zscore(`${prefix}agents`, expired[0] as string)).toBeNull();
  });
});
