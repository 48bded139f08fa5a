import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { countSocketWrites, get, startGateway, type TestGateway } from '../helpers/gateway.js';
import { agentTracker, sendInOneWrite } from '../helpers/agent.js';
import { eventually } from '../helpers/eventually.js';

let gw: TestGateway;
const { agent, closeAgents } = agentTracker();

beforeEach(async () => {
  gw = await startGateway();
});
afterEach(async () => {
  closeAgents();
  await gw.close();
});

describe('handshake', () => {
  it('sends CHALLENGE on connect and REGISTERED for a valid REGISTER', async () => {
    const a = agent();
    const challenge = await a.connect(gw.wsUrl);
    expect(challenge).toMatchObject({ type: 'CHALLENGE', protocol: 'aiconexus/1', gateway: 'aiconexus-gateway', expires_in_ms: 10_000 });
    const nonce = a.challenge.nonce as string;
    expect(Buffer.from(nonce, 'base64url')).toHaveLength(32);
    expect(nonce).not.toContain('=');
    a.send(a.registerFrame({ name: 'alice', capabilities: ['vision'] }));
    const registered = await a.next();
    expect(registered).toMatchObject({ type: 'REGISTERED', did: a.did, heartbeat_ms: 30_000, agent_timeout_ms: 300_000 });
    expect(typeof registered.session).toBe('string');
    const health = (await get(gw, '/health')).body;
    expect(health).toMatchObject({ status: 'healthy', connected_agents: 1 });
  });
});

/** A new registered agent whose connection's socket writes the gateway counts (2 so far: 101 + CHALLENGE, then REGISTERED). */
async function countedTarget() {
  const writes = countSocketWrites(gw); // counts this connection only
  const b = agent();
  await b.register(gw.wsUrl);
  expect(writes).toEqual([2]);
  return { b, writes };
}

describe('routing', () => {
  it('forwards OFFER/ANSWER/ICE/BYE byte for byte to the target', async () => {
    const a = agent();
    const b = agent();
    await a.register(gw.wsUrl);
    await b.register(gw.wsUrl);
    const offer = a.signal('OFFER', b.did, { type: 'offer', sdp: 'v=0\r\n', extra: { 'ü': [1, 2.5, null] } });
    // Unusual spacing and key order: the target must receive exactly these bytes.
    const text = `{ "sig":${JSON.stringify(offer.sig)},  "payload":${JSON.stringify(offer.payload)},"to":"${b.did}","from":"${a.did}","ts":${offer.ts},"id":"${offer.id}","type":"OFFER" }`;
    a.send(text);
    const got = await b.next();
    expect(got).toEqual(offer);
    expect(b.raw.at(-1)).toBe(text);

    const answer = b.signal('ANSWER', a.did, { type: 'answer', sdp: 'v=0\r\n' });
    b.send(answer);
    expect(await a.next()).toEqual(answer);
    const ice = a.signal('ICE', b.did, { candidate: 'candidate:1 1 udp 1 127.0.0.1 9 typ host', sdpMid: '0', sdpMLineIndex: 0, usernameFragment: null });
    a.send(ice);
    expect(await b.next()).toEqual(ice);
    const bye = a.signal('BYE', b.did, { reason: 'done' });
    a.send(bye);
    expect(await b.next()).toEqual(bye);
    expect(await a.barrier()).toEqual([]);
  });

  it('writes each frame of one read as soon as it is verified while the event loop has time', async () => {
    const a = agent();
    await a.register(gw.wsUrl);
    const { b, writes } = await countedTarget();
    const frames = [1, 2].map((n) => JSON.stringify(a.signal('ICE', b.did, { candidate: `candidate:${n} 1 udp 1 127.0.0.1 9 typ host` })));
    // The loop's recent load is low (the handshakes are over): frames are verified as they come.
    const pool = gw.app.hub.verifier;
    await eventually(() => pool.hasTimeToSpare(), 10_000, 'a quiet event loop');
    sendInOneWrite(a, frames);
    for (let i = 0; i < frames.length; i++) await b.next();
    expect(b.raw.slice(-2)).toEqual(frames);
    // Two writes: the first frame did not wait for the second one's verification.
    expect(writes).toEqual([4]);
    expect(await a.barrier()).toEqual([]);
  });

  it('sends the frames routed to one agent in one burst in one write, in order and byte for byte', async () => {
    await gw.close();
    // One thread and no inline verification while the loop has time: the first frame of the burst
    // is verified on the event loop (workers idle), the other three by the worker in one batch.
    // So the burst is routed in two callbacks, whatever the machine's speed.
    gw = await startGateway({ verifyThreads: 1, verifyInlineMaxLoad: 0 });
    const a = agent();
    await a.register(gw.wsUrl);
    // A burst to itself starts the thread (verified on the event loop while it starts); the
    // burst below must find it ready.
    sendInOneWrite(a, [0, 1, 2, 3].map((n) => a.signal('ICE', a.did, { candidate: `candidate:${n} 1 udp 1 127.0.0.1 9 typ host` })));
    for (let n = 0; n < 4; n++) expect(await a.next()).toMatchObject({ type: 'ICE', from: a.did });
    const pool = gw.app.hub.verifier;
    await eventually(() => pool.ready === 1, 10_000, 'the verification thread to be ready');
    const { b, writes } = await countedTarget();
    const frames = [1, 2, 3, 4].map((n) => JSON.stringify(a.signal('ICE', b.did, { candidate: `candidate:${n} 1 udp 1 127.0.0.1 9 typ host`, sdpMid: '0' })));
    // One TCP write from a: the gateway reads the four frames in one turn.
    sendInOneWrite(a, frames);
    for (let i = 0; i < frames.length; i++) await b.next();
    expect(b.raw.slice(-4)).toEqual(frames);
    // Two more writes, not four: each callback's deliveries to b leave together.
    expect(writes).toEqual([4]);
    expect(await a.barrier()).toEqual([]);
  });
});
