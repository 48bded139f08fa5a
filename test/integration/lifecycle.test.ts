/** Heartbeat, the idle sweeper, isolation of gateways in one process, and shutdown (1001). */
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, get, startGateway, type TestGateway } from '../helpers/gateway.js';
import { clientSocket, TestAgent } from '../helpers/agent.js';
import { manualClock } from '../helpers/clock.js';
import type { BuildOptions } from '../../src/app.js';
import type { IncomingMessage } from 'node:http';
import { exposeGc } from '../../src/idle-collect.js';

const gateways: TestGateway[] = [];
const open: TestAgent[] = [];
async function gateway(overrides = {}, opts: BuildOptions = {}) {
  const gw = await startGateway(overrides, opts);
  gateways.push(gw);
  return gw;
}
afterEach(async () => {
  for (const a of open.splice(0)) a.close();
  for (const gw of gateways.splice(0)) await gw.close();
});

describe('heartbeat and sweeper', () => {
  it('pings every HEARTBEAT_INTERVAL', async () => {
    const gw = await gateway({ heartbeatIntervalMs: 100 });
    const a = new TestAgent();
    open.push(a);
    await a.register(gw.wsUrl);
    let pings = 0;
    a.ws.on('ping', () => pings++);
    // Wall time is what is tested here (the heartbeat is a real timer): at least 2 pings within
    // the same 550 ms as before, but done as soon as the second one comes.
    await eventually(() => pings >= 2, 550, '2 pings within 550 ms');
    expect(pings).toBeGreaterThanOrEqual(2);
  });

  it('sweeps an agent that answers neither frames nor pings: unlisted, closed with 4000', async () => {
    const gw = await gateway({ heartbeatIntervalMs: 100, agentTimeoutMs: 600 });
    const silent = new TestAgent();
    const lively = new TestAgent();
    open.push(silent, lively);
    await silent.connect(gw.wsUrl, { autoPong: false });
    silent.send(silent.registerFrame());
    expect(await silent.next()).toMatchObject({ type: 'REGISTERED' });
    await lively.register(gw.wsUrl); // ws answers pings automatically: it stays
    const closed = await silent.closed;
    expect(closed.code).toBe(4000);
    const { body } = await get(gw, '/agents');
    expect(body.agents.map((x: { did: string }) => x.did)).toEqual([lively.did]);
    // Frames to the swept agent are refused at once.
    const f = lively.signal('OFFER', silent.did, { sdp: 'v=0' });
    lively.send(f);
    expect(await lively.next()).toMatchObject({ type: 'ERROR', code: 'AGENT_NOT_FOUND' });
  });

  it('counts frames as activity even without pongs', async () => {
    // The gateway's clock is the test's: each step is exactly 150 ms against the 500 ms timeout
    // (with wall-time sleeps a slow step on a busy machine got the agent swept).
    const clock = manualClock();
    const gw = await gateway({ heartbeatIntervalMs: 100, agentTimeoutMs: 500 }, { now: clock.now });
    const a = new TestAgent();
    open.push(a);
    await a.connect(gw.wsUrl, { autoPong: false });
    a.send(a.registerFrame());
    await a.next();
    for (let i = 0; i < 8; i++) {
      clock.advance(150);
      gw.app.hub.sweep(); // as the sweeper's timer would, 150 ms after the last frame
      expect(gw.app.hub.registry.get(a.did)).toBeDefined();
      a.send({ type: 'PING', id: `k${i}` });
      expect(await a.next()).toMatchObject({ type: 'PONG', ref: `k${i}` });
    }
    // The clock does drive the sweeper: past the timeout without a frame, the agent goes.
    clock.advance(501);
    gw.app.hub.sweep();
    expect(await a.closed).toMatchObject({ code: 4000 });
  });
});

describe('several gateways in one process', () => {
  it('share no state: registries, replay caches and routing are separate', async () => {
    const g1 = await gateway({ gatewayId: 'g1' });
    const g2 = await gateway({ gatewayId: 'g2' });
    const a = new TestAgent();
    const b = new TestAgent();
    open.push(a, b);
    await a.register(g1.wsUrl);
    await b.register(g2.wsUrl);
    expect(a.challenge.gateway).toBe('g1');
    expect(b.challenge.gateway).toBe('g2');
    expect((await get(g1, '/agents')).body.agents.map((x: { did: string }) => x.did)).toEqual([a.did]);
    expect((await get(g2, '/agents')).body.agents.map((x: { did: string }) => x.did)).toEqual([b.did]);
    const f = a.signal('OFFER', b.did, { sdp: 'v=0' });
    a.send(f);
    expect(await a.next()).toMatchObject({ type: 'ERROR', code: 'AGENT_NOT_FOUND', ref: f.id });
    // The same DID may be online on both (one session per DID is per gateway in single-node mode).
    const a2 = new TestAgent(a.secretKey);
    open.push(a2);
    await a2.register(g2.wsUrl);
    a2.send(f); // the id is used up on g1 only
    expect(await b.next()).toEqual(f);
  });
});

describe('shutdown', () => {
  it('app.close() closes every agent with 1001 and refuses new connections', async () => {
    const gw = await startGateway();
    const a = new TestAgent();
    const b = new TestAgent();
    await a.register(gw.wsUrl);
    await b.connect(gw.wsUrl); // not yet registered
    const closing = gw.app.close();
    expect(await a.closed).toMatchObject({ code: 1001 });
    expect(gw.app.hub.draining).toBe(true);
    expect(await b.closed).toMatchObject({ code: 1001 });
    await closing;
    const late = new TestAgent();
    // The listener is gone: the client sees an abnormal close (connection refused).
    expect(await late.connect(gw.wsUrl)).toMatchObject({ code: 1006 });
  });

  it('reports draining on /health and /ready during shutdown, and cuts off a peer that ignores the close', async () => {
    const gw = await startGateway();
    const stuck = new TestAgent();
    await stuck.register(gw.wsUrl);
    // The client stops reading: it never sees the 1001 close frame, so it never answers it.
    clientSocket(stuck).pause();
    const closing = gw.app.close();
    await eventually(() => gw.app.hub.draining, 2000, 'draining');
    expect(await get(gw, '/health')).toMatchObject({ status: 503, body: { status: 'draining' } });
    expect(await get(gw, '/ready')).toMatchObject({ status: 503, body: { ready: false, status: 'draining' } });
    await closing; // resolves after the grace period although the peer never answered
    expect(gw.app.hub.sessions.size).toBe(0);
  });
});


describe('connection memory', () => {
  it("does not keep a connection's upgrade request alive once its session is open", async () => {
    const gw = await gateway();
    // The HTTP upgrade request of each connection (the IncomingMessage Fastify routed), as the
    // server saw it; its ServerResponse, Fastify's Request and Reply, headers and logger hang off it.
    const requests: WeakRef<IncomingMessage>[] = [];
    gw.app.server.on('upgrade', (req: IncomingMessage) => requests.push(new WeakRef(req)));
    const [a, b] = [new TestAgent(), new TestAgent()];
    open.push(a, b);
    await a.register(gw.wsUrl);
    await b.register(gw.wsUrl);
    expect(requests).toHaveLength(2);
    const gc = exposeGc();
    // WeakRefs are cleared after the job that collected their target: collect, then look in a later turn.
    await eventually(
      () => {
        gc();
        return requests.every((r) => r.deref() === undefined);
      },
      5000,
      'both upgrade requests collected',
    );
    // The sessions, which no longer hold them, still work both ways.
    const offer = a.signal('OFFER', b.did, { sdp: 'v=0' });
    a.send(offer);
    expect(await b.next()).toMatchObject({ type: 'OFFER', id: offer.id });
  });
});
