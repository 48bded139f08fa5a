/** Cluster mode in one process: two gateway nodes sharing a real redis-server. */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { eventually, get, startGateway, waitReady, type TestGateway } from '../helpers/gateway.js';
import { TestAgent } from '../helpers/agent.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

let redis: TestRedis;
let n1: TestGateway;
let n2: TestGateway;
const open: TestAgent[] = [];
let prefixCounter = 0;

async function node(prefix: string, overrides = {}): Promise<TestGateway> {
  const gw = await startGateway({ redisUrl: redis.url, redisKeyPrefix: prefix, heartbeatIntervalMs: 400, ...overrides });
  await waitReady(gw);
  return gw;
}
async function agentOn(gw: TestGateway, meta?: Record<string, unknown>, secret?: Uint8Array): Promise<TestAgent> {
  const a = new TestAgent(secret);
  await a.register(gw.wsUrl, meta);
  open.push(a);
  return a;
}

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis.stop();
});

describe('two nodes', () => {
  beforeAll(async () => {
    const prefix = `c${++prefixCounter}:`;
    n1 = await node(prefix);
    n2 = await node(prefix);
  });
  afterAll(async () => {
    await n1.close();
    await n2.close();
  });
  afterEach(async () => {
    for (const a of open.splice(0)) a.close();
    // Tests count the agents they open: wait until the cluster has dropped the previous test's
    // (a close reaches Redis a little after the client's close returns).
    await eventually(async () => (await get(n2, '/health')).body.cluster?.connected_agents === 0, 10_000, 'presence emptied');
  });

  it('routes OFFER/ANSWER/ICE/BYE across nodes byte for byte', async () => {
    const a = await agentOn(n1);
    const b = await agentOn(n2);
    await eventually(async () => (await get(n1, '/agents')).body.count === 2, 5000, 'presence');
    const offer = a.signal('OFFER', b.did, { type: 'offer', sdp: 'v=0\r\n', 'ключ': '✓' });
    const text = ` ${JSON.stringify(offer)}\n`;
    a.send(text);
    expect(await b.next()).toEqual(offer);
    expect(b.raw.at(-1)).toBe(text);
    for (const [from, to, type, payload] of [
      [b, a, 'ANSWER', { sdp: 'v=0' }],
      [a, b, 'ICE', { candidate: 'candidate:1 1 udp 1 127.0.0.1 9 typ host', sdpMid: '0' }],
      [b, a, 'BYE', { reason: 'done' }],
    ] as const) {
      const f = from.signal(type, to.did, payload);
      from.send(f);
      expect(await to.next()).toEqual(f);
    }
    // Nothing stray for a: not from b's node (a last frame from b, which keeps per-pair order
    // across nodes, is the next one a gets) nor from its own (the PING barrier).
    const last = b.signal('ICE', a.did, { candidate: '' });
    b.send(last);
    expect(await a.next()).toEqual(last);
    expect(await a.barrier()).toEqual([]);
  });

  it('keeps per-pair order across nodes (300 frames)', async () => {
    const a = await agentOn(n1);
    const b = await agentOn(n2);
    await eventually(async () => (await get(n1, '/agents')).body.agents.some((x: { did: string }) => x.did === b.did), 5000, 'presence');
    const frames = Array.from({ length: 150 }, (_, i) => a.signal('ICE', b.did, { candidate: `c${i}` }));
    for (const f of frames) a.send(f);
    const got: unknown[] = [];
    while (got.length < frames.length) got.push(await b.next());
    expect(got).toEqual(frames);
  });

  it('lists the whole cluster in DISCOVER, /agents and /health', async () => {
    const a = await agentOn(n1, { capabilities: ['x-disc'] });
    const b = await agentOn(n2, { capabilities: ['x-disc'] });
    await agentOn(n2, { capabilities: ['other'] });
    await eventually(async () => (await get(n1, '/agents?capability=x-disc')).body.count === 2, 5000, 'presence');
    a.send({ type: 'DISCOVER', id: 'd', capability: 'x-disc' });
    const res = await a.next();
    expect((res.agents as { did: string }[]).map((x) => x.did).sort()).toEqual([a.did, b.did].sort());
    const health = (await get(n2, '/health')).body;
    expect(health).toMatchObject({ mode: 'cluster', connected_agents: 2, cluster: { redis: 'ready', connected_agents: 3 } });
  });

  it('keeps one session per DID across nodes: a REGISTER on node 2 closes node 1 with 4409', async () => {
    const first = await agentOn(n1);
    await eventually(async () => (await get(n2, '/agents')).body.agents.some((x: { did: string }) => x.did === first.did), 5000, 'presence');
    const second = await agentOn(n2, undefined, first.secretKey);
    expect(await first.closed).toMatchObject({ code: 4409 });
    const peer = await agentOn(n1);
    const f = peer.signal('OFFER', second.did, { sdp: 'v=0' });
    peer.send(f);
    expect(await second.next()).toEqual(f);
    const agents = (await get(n1, '/agents')).body.agents.filter((x: { did: string }) => x.did === first.did);
    expect(agents).toHaveLength(1);
  });

  it('lets a peer on another node reach an agent as soon as it has REGISTERED', async () => {
    const a = await agentOn(n1);
    for (let i = 0; i < 20; i++) {
      // No waiting for presence: REGISTERED is only sent once the presence write has landed.
      const b = await agentOn(n2);
      const f = a.signal('OFFER', b.did, { sdp: `v=${i}` });
      a.send(f);
      expect(await b.next()).toEqual(f);
      b.close();
    }
    expect(a.inbox).toEqual([]);
  });

  it('answers AGENT_NOT_FOUND only when no node holds the target', async () => {
    const a = await agentOn(n1);
    const nobody = new TestAgent();
    const f = a.signal('OFFER', nobody.did, { sdp: 'v=0' });
    a.send(f);
    expect(await a.next()).toMatchObject({ type: 'ERROR', code: 'AGENT_NOT_FOUND', ref: f.id });
  });
});

describe('Redis outage', () => {
  it('keeps local routing, answers UNAVAILABLE across nodes, reports not ready, and recovers', async () => {
    const prefix = `o${++prefixCounter}:`;
    const g1 = await node(prefix);
    const g2 = await node(prefix);
    try {
      const a = await agentOn(g1);
      const local = await agentOn(g1);
      const b = await agentOn(g2);
      await eventually(async () => (await get(g1, '/agents')).body.count === 3, 5000, 'presence');

      await redis.stop(true);
      await eventually(async () => (await get(g1, '/ready')).status === 503, 5000, 'not ready');
      expect((await get(g1, '/health')).status).toBe(200);
      const remote = a.signal('OFFER', b.did, { sdp: 'v=0' });
      a.send(remote);
      expect(await a.next()).toMatchObject({ type: 'ERROR', code: 'UNAVAILABLE', ref: remote.id });
      const near = a.signal('OFFER', local.did, { sdp: 'v=0' });
      a.send(near);
      expect(await local.next()).toEqual(near);
      a.send({ type: 'DISCOVER', id: 'during-outage' });
      expect(await a.next()).toMatchObject({ type: 'ERROR', code: 'UNAVAILABLE', ref: 'during-outage' });
      expect(await get(g1, '/agents')).toMatchObject({ status: 503, body: { error: 'unavailable' } });

      // Redis comes back empty: nodes reconnect, re-subscribe and re-publish their agents.
      await redis.start();
      await waitReady(g1);
      await waitReady(g2);
      await eventually(async () => (await get(g1, '/agents')).body.count === 3, 10_000, 'presence re-published');
      const again = a.signal('OFFER', b.did, { sdp: 'v=1' });
      a.send(again);
      expect(await b.next()).toEqual(again);
      for (const x of open.splice(0)) x.close();
    } finally {
      await g1.close();
      await g2.close();
    }
  });
});
