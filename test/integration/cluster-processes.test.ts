/**
 * Cluster mode with real processes: three gateway nodes on one redis-server (kill -9 of a node),
 * and GATEWAY_WORKERS=2 (node:cluster workers sharing one port).
 */
import { get } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestAgent } from '../helpers/agent.js';
import { eventually, type Json } from '../helpers/gateway.js';
import { spawnGateway, waitFor200, type GatewayProcess } from '../helpers/process.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

let redis: TestRedis;
const procs: GatewayProcess[] = [];
const agents: TestAgent[] = [];

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  for (const a of agents) a.close();
  for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  await redis.stop();
});

async function node(extra: Record<string, string> = {}): Promise<GatewayProcess> {
  const gp = spawnGateway({
    GATEWAY_PORT: '0', // the port is read back from the log (process.ts)
    REDIS_URL: redis.url,
    REDIS_KEY_PREFIX: `p${procs.length}${Date.now()}:`.slice(0, 20),
    HEARTBEAT_INTERVAL: '1',
    LOG_LEVEL: 'warn',
    ...extra,
  });
  procs.push(gp);
  return gp;
}
async function agentOn(gp: GatewayProcess): Promise<TestAgent> {
  const a = new TestAgent();
  await a.register(gp.wsUrl);
  agents.push(a);
  return a;
}
async function agentDids(gp: GatewayProcess): Promise<string[]> {
  const body = (await (await fetch(`${gp.httpUrl}/agents?limit=1000`)).json()) as Json;
  return (body.agents as { did: string }[]).map((x) => x.did).sort();
}

describe('three nodes', () => {
  it("routes across processes; after kill -9 of a node its agents vanish from the survivors' views and they keep routing", async () => {
    const prefix = `k${Date.now()}:`;
    const [n1, n2, n3] = [await node({ REDIS_KEY_PREFIX: prefix }), await node({ REDIS_KEY_PREFIX: prefix }), await node({ REDIS_KEY_PREFIX: prefix })];
    await Promise.all([n1, n2, n3].map((n) => waitFor200(n, '/ready')));
    const a = await agentOn(n1);
    const b = await agentOn(n2);
    const c = await agentOn(n3);
    const all = [a.did, b.did, c.did].sort();
    await eventually(async () => JSON.stringify(await agentDids(n1)) === JSON.stringify(all), 5000, 'presence on n1');

    const f = a.signal('OFFER', c.did, { sdp: 'v=0' });
    a.send(f);
    expect(await c.next()).toEqual(f);

    const killedAt = Date.now();
    n3.child.kill('SIGKILL');
    await n3.exited;
    // The view must drop c within 2 heartbeat intervals (2 s); the bound here only stops a hang.
    await eventually(async () => !(await agentDids(n1)).includes(c.did) && !(await agentDids(n2)).includes(c.did), 10_000, 'dead node unlisted');
    const vanishedMs = Date.now() - killedAt;
    console.log(`[cluster] agents of a kill -9'd node vanished from survivors' views after ${vanishedMs} ms (HEARTBEAT_INTERVAL=1 s)`);
    expect(await agentDids(n2)).toEqual([a.did, b.did].sort());

    const toDead = a.signal('OFFER', c.did, { sdp: 'v=0' });
    a.send(toDead);
    expect(await a.next()).toMatchObject({ type: 'ERROR', code: 'AGENT_NOT_FOUND', ref: toDead.id });
    const g = b.signal('ANSWER', a.did, { sdp: 'v=0' });
    b.send(g);
    expect(await a.next()).toEqual(g);
    for (const n of [n1, n2]) n.child.kill('SIGTERM');
    expect(await n1.exited).toBe(0);
    expect(await n2.exited).toBe(0);
  });
});

describe('GATEWAY_WORKERS=2', () => {
  it('serves one port from two workers that route to each other, and stops with exit 0', async () => {
    const gp = await node({ GATEWAY_WORKERS: '2', LOG_LEVEL: 'info' });
    await waitFor200(gp, '/ready');
    // The primary hands out connections round-robin among listening workers: new TCP connections
    // (no keep-alive) reach both once both are up.
    const nodes = new Set<string>();
    const health = () =>
      new Promise<Json>((resolve, reject) => {
        get(`${gp.httpUrl}/health`, { agent: false }, (res) => {
          let body = '';
          res.on('data', (d) => (body += d));
          res.on('end', () => resolve(JSON.parse(body)));
        }).on('error', reject);
      });
    await eventually(async () => {
      const h = await health();
      if (h.cluster?.redis === 'ready') nodes.add(h.cluster.node_id);
      return nodes.size === 2;
    }, 15_000, 'both workers serving');
    const list: TestAgent[] = [];
    for (let i = 0; i < 6; i++) list.push(await agentOn(gp));
    await eventually(async () => (await agentDids(gp)).length === 6, 5000, 'all agents listed');
    // Both workers hold some of the agents (local counts per worker add up to 6).
    const local = new Map<string, number>();
    await eventually(async () => {
      const h = await health();
      local.set(h.cluster.node_id, h.connected_agents);
      return local.size === 2;
    }, 10_000, 'local counts of both workers');
    expect([...local.values()].reduce((x, y) => x + y, 0)).toBe(6);
    expect(Math.min(...local.values())).toBeGreaterThan(0);
    // Every agent reaches every other, wherever each one landed.
    for (const from of list) {
      for (const to of list) {
        if (from === to) continue;
        const f = from.signal('ICE', to.did, { candidate: '' });
        from.send(f);
        expect(await to.next()).toEqual(f);
      }
    }
    gp.child.kill('SIGTERM');
    for (const a of list) expect((await a.closed).code).toBe(1001);
    expect(await gp.exited).toBe(0);
  });
});
