/**
 * A corrupt agent entry in Redis (written by hand, a buggy tool, a bad restore) must not take
 * listings down for everyone: GET /agents answers 200 and DISCOVER answers AGENTS with the good
 * agents, the node logs the skip at warn, and routing to the agents around it goes on.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, get, startGateway, waitReady, type TestGateway } from '../helpers/gateway.js';
import { TestAgent } from '../helpers/agent.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

let redis: TestRedis;
let admin: Redis;
let n1: TestGateway;
let n2: TestGateway;
const prefix = 'corrupt:';
const logs: { level: number; msg: string; did?: string; reason?: string }[] = [];

async function node(): Promise<TestGateway> {
  const stream = { write: (line: string) => void logs.push(JSON.parse(line)) };
  const gw = await startGateway({ redisUrl: redis.url, redisKeyPrefix: prefix, heartbeatIntervalMs: 400 }, { logger: { level: 'warn', stream } });
  await waitReady(gw);
  return gw;
}

/** Writes `agent:<did>` owned by `nodeId` (alive), indexed like a registration with capability x. */
async function plant(did: string, nodeId: string, entry: Record<string, string> | string): Promise<void> {
  const key = `${prefix}agent:${did}`;
  await admin.del(key);
  if (typeof entry === 'string') await admin.set(key, entry);
  else await admin.hset(key, { node: nodeId, session: 'forged', caps: '["x"]', ...entry });
  await admin.zadd(`${prefix}agents`, 0, did);
  await admin.zadd(`${prefix}cap:x`, 0, did);
}

beforeAll(async () => {
  redis = await startRedis();
  admin = new Redis(redis.url);
  n1 = await node();
  n2 = await node();
});
afterAll(async () => {
  await n1.close();
  await n2.close();
  admin.disconnect();
  await redis.stop();
});

describe('corrupt presence entries in cluster mode', () => {
  it('GET /agents answers 200 and DISCOVER answers AGENTS, without the corrupt entries', async () => {
    const a = new TestAgent();
    const b = new TestAgent();
    await a.register(n1.wsUrl, { capabilities: ['x'] });
    await b.register(n2.wsUrl, { capabilities: ['x'] });
    try {
      await eventually(async () => (await get(n1, '/agents')).body.count === 2, 5000, 'presence');
      const owner = (await get(n1, '/health')).body.cluster.node_id as string;
      const now = String(Date.now());
      const bad = Array.from({ length: 4 }, () => new TestAgent().did);
      await plant(bad[0] as string, owner, { meta: '{}', connected_at: 'not-a-number', last_seen: now });
      await plant(bad[1] as string, owner, { meta: '{"name":', connected_at: now, last_seen: now });

      const res = await get(n2, '/agents?capability=x');
      expect(res.status).toBe(200);
      expect(res.body.agents.map((x: { did: string }) => x.did).sort()).toEqual([a.did, b.did].sort());
      expect(res.body.count).toBe(2);
      const skipped = logs.filter((l) => l.msg === 'corrupt presence entry skipped');
      expect(skipped.map((l) => [l.level, l.did, l.reason]).sort()).toEqual(
        [
          [40, bad[0], 'connected_at not a timestamp'],
          [40, bad[1], 'meta not JSON'],
        ].sort(),
      );

      await plant(bad[2] as string, owner, { meta: '[]', connected_at: now, last_seen: now });
      await plant(bad[3] as string, owner, 'not a hash');
      a.send({ type: 'DISCOVER', id: 'd1', capability: 'x' });
      const reply = await a.next();
      expect(reply).toMatchObject({ type: 'AGENTS', ref: 'd1' });
      expect((reply.agents as { did: string }[]).map((x) => x.did).sort()).toEqual([a.did, b.did].sort());

      // Routing to a corrupt entry is AGENT_NOT_FOUND; to a good agent it goes on.
      await plant(bad[3] as string, owner, 'not a hash');
      const lost = a.signal('OFFER', bad[3] as string, { sdp: 'v=0' });
      a.send(lost);
      expect(await a.next()).toMatchObject({ type: 'ERROR', code: 'AGENT_NOT_FOUND', ref: lost.id });
      const f = a.signal('OFFER', b.did, { sdp: 'v=0' });
      a.send(f);
      expect(await b.next()).toEqual(f);
    } finally {
      a.close();
      b.close();
    }
  });
});
