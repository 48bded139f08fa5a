/** DISCOVER/AGENTS, PING/PONG (docs/protocol.md §6) and the HTTP routes (docs/operations.md "HTTP endpoints"). */
import { afterEach, describe, expect, it } from 'vitest';
import { get, startGateway, type TestGateway } from '../helpers/gateway.js';
import { TestAgent } from '../helpers/agent.js';

let gw: TestGateway | undefined;
const open: TestAgent[] = [];
async function registered(url: string, meta?: Record<string, unknown>): Promise<TestAgent> {
  const a = new TestAgent();
  await a.register(url, meta);
  open.push(a);
  return a;
}
afterEach(async () => {
  for (const a of open.splice(0)) a.close();
  await gw?.close();
  gw = undefined;
});

describe('DISCOVER', () => {
  it('lists matching agents (including the asker), honours limit, and refs the id', async () => {
    gw = await startGateway();
    const a = await registered(gw.wsUrl, { name: 'a', capabilities: ['vision'] });
    const b = await registered(gw.wsUrl, { name: 'b', capabilities: ['vision', 'speech'] });
    await registered(gw.wsUrl, { name: 'c', capabilities: ['speech'] });
    a.send({ type: 'DISCOVER', id: 'q1', capability: 'vision' });
    const res = await a.next();
    expect(res).toMatchObject({ type: 'AGENTS', ref: 'q1' });
    const agents = res.agents as { did: string; meta: { name: string }; connected_at: string }[];
    expect(agents.map((x) => x.did).sort()).toEqual([a.did, b.did].sort());
    for (const x of agents) expect(new Date(x.connected_at).toISOString()).toBe(x.connected_at);
    expect(agents.find((x) => x.did === b.did)?.meta).toEqual({ name: 'b', capabilities: ['vision', 'speech'] });

    a.send({ type: 'DISCOVER', limit: 2 });
    const limited = await a.next();
    expect(limited).toMatchObject({ type: 'AGENTS', ref: null });
    expect(limited.agents).toHaveLength(2);

    a.send({ type: 'DISCOVER', id: 'q3', capability: 'nobody-has-this' });
    expect(await a.next()).toEqual({ type: 'AGENTS', ref: 'q3', agents: [] });
  });

  it('PING → PONG with the server time; id optional', async () => {
    gw = await startGateway();
    const a = await registered(gw.wsUrl);
    const before = Date.now();
    a.send({ type: 'PING', id: 'p1' });
    const pong = await a.next();
    expect(pong).toMatchObject({ type: 'PONG', ref: 'p1' });
    expect(pong.ts).toBeGreaterThanOrEqual(before);
    expect(pong.ts).toBeLessThanOrEqual(Date.now());
    a.send({ type: 'PING' });
    expect(await a.next()).toMatchObject({ type: 'PONG', ref: null });
  });
});

describe('GET /agents', () => {
  it('paginates with an opaque cursor, filters by capability and reports the total count', async () => {
    gw = await startGateway();
    const all: TestAgent[] = [];
    for (let i = 0; i < 5; i++) all.push(await registered(gw.wsUrl, { capabilities: i % 2 === 0 ? ['even'] : ['odd'] }));
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = cursor ? `?limit=2&cursor=${cursor}` : '?limit=2';
      const { status, body } = await get(gw, `/agents${query}`);
      expect(status).toBe(200);
      expect(body.count).toBe(5);
      expect(body.agents.length).toBeLessThanOrEqual(2);
      for (const x of body.agents) {
        expect(Object.keys(x).sort()).toEqual(['connected_at', 'did', 'last_seen', 'meta']);
        seen.push(x.did);
      }
      cursor = body.next_cursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual(all.map((a) => a.did).sort());

    const even = await get(gw, '/agents?capability=even');
    expect(even.body.count).toBe(3);
    expect(even.body.next_cursor).toBeNull();
  });

  it('answers a bad query value with 400 and a JSON error', async () => {
    gw = await startGateway();
    for (const q of ['limit=0', 'limit=1001', 'limit=abc', 'capability=UPPER', 'cursor=%%%', 'cursor=bm90LWEtZGlk', 'unknown=1', 'limit=1&limit=2']) {
      const res = await get(gw, `/agents?${q}`);
      expect(res.status, q).toBe(400);
      expect(typeof res.body.message, q).toBe('string');
    }
  });

  it('requires the bearer token when ADMIN_TOKEN is set', async () => {
    const token = 'a-very-secret-admin-token';
    gw = await startGateway({ adminToken: token });
    expect((await get(gw, '/agents')).status).toBe(401);
    expect((await get(gw, '/agents', { authorization: 'Bearer wrong' })).status).toBe(401);
    expect((await get(gw, '/agents', { authorization: token })).status).toBe(401);
    const ok = await get(gw, '/agents', { authorization: `Bearer ${token}` });
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ count: 0, agents: [], next_cursor: null });
    // /health stays open for probes.
    expect((await get(gw, '/health')).status).toBe(200);
  });
});

describe('GET /health, /ready, /metrics', () => {
  it('reports healthy with counts and an ISO timestamp; ready', async () => {
    gw = await startGateway();
    await registered(gw.wsUrl);
    const { status, body } = await get(gw, '/health');
    expect(status).toBe(200);
    expect(body).toMatchObject({ status: 'healthy', connected_agents: 1, gateway_id: 'aiconexus-gateway' });
    expect(new Date(body.timestamp).toISOString()).toBe(body.timestamp);
    expect(await get(gw, '/ready')).toMatchObject({ status: 200, body: { ready: true } });
  });

  it('exposes Prometheus metrics that move with traffic', async () => {
    gw = await startGateway();
    const a = await registered(gw.wsUrl);
    const b = await registered(gw.wsUrl);
    a.send(a.signal('OFFER', b.did, { sdp: 'v=0' }));
    await b.next();
    a.send('garbage');
    await a.next();
    const { status, body, headers } = await get(gw, '/metrics');
    expect(status).toBe(200);
    expect(headers.get('content-type')).toContain('text/plain');
    expect(body).toContain('aiconexus_connected_agents 2');
    expect(body).toContain('aiconexus_handshakes_total{result="ok"} 2');
    expect(body).toContain('aiconexus_frames_routed_total{type="OFFER"} 1');
    expect(body).toContain('aiconexus_errors_total{code="BAD_FRAME"} 1');
    expect(body).toMatch(/aiconexus_signature_verify_seconds_count \d+/);
  });
});
