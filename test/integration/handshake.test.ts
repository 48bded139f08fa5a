/** docs/protocol.md §4: CHALLENGE → REGISTER → REGISTERED, and every way a handshake fails. */
import * as ed from '@noble/ed25519';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { didFromPublicKey } from '../../src/protocol/did-key.js';
import { countSocketWrites, get, startGateway, type TestGateway } from '../helpers/gateway.js';
import { agentTracker, signFrame, TestAgent, type Closed } from '../helpers/agent.js';

let gw: TestGateway | undefined;
const { agent, closeAgents } = agentTracker();
afterEach(async () => {
  closeAgents();
  await gw?.close();
  gw = undefined;
});

async function expectRejected(a: TestAgent, code: string, closeCode: number, messagePart?: string) {
  const error = await a.next();
  expect(error).toMatchObject({ type: 'ERROR', code, ref: null });
  if (messagePart) expect(error.message).toContain(messagePart);
  expect(await a.closed).toMatchObject({ code: closeCode });
}

describe('REGISTER', () => {
  it('answers REGISTERED with the configured timings and lists the agent with its meta', async () => {
    gw = await startGateway({ heartbeatIntervalMs: 7000, agentTimeoutMs: 70_000, gatewayId: 'gw-test-1' });
    const a = agent();
    await a.connect(gw.wsUrl);
    expect(a.challenge.gateway).toBe('gw-test-1');
    a.send(a.registerFrame({ name: 'alice', capabilities: ['vision', 'llm:chat'], extra: { x: 1 } }));
    const reg = await a.next();
    expect(reg).toMatchObject({ type: 'REGISTERED', did: a.did, heartbeat_ms: 7000, agent_timeout_ms: 70_000 });
    const list = (await get(gw, '/agents')).body;
    expect(list.agents).toEqual([
      expect.objectContaining({ did: a.did, meta: { name: 'alice', capabilities: ['vision', 'llm:chat'], extra: { x: 1 } } }),
    ]);
  });

  it('gives each connection its own nonce', async () => {
    gw = await startGateway();
    const a = agent();
    const b = agent();
    await a.connect(gw.wsUrl);
    await b.connect(gw.wsUrl);
    expect(a.challenge.nonce).not.toBe(b.challenge.nonce);
    // A REGISTER signed for b's challenge is refused on a's connection.
    a.send(a.registerFrame(undefined, { nonce: b.challenge.nonce }));
    await expectRejected(a, 'AUTH_FAILED', 4401, 'nonce');
  });

  it('sends the 101 response and the CHALLENGE in one write', async () => {
    gw = await startGateway();
    const writes = countSocketWrites(gw);
    const a = agent();
    await a.connect(gw.wsUrl);
    expect(a.challenge.type).toBe('CHALLENGE');
    expect(writes).toEqual([1]);
    // The connection goes on as usual: REGISTERED is the next write.
    a.send(a.registerFrame());
    expect(await a.next()).toMatchObject({ type: 'REGISTERED' });
    expect(writes).toEqual([2]);
  });

  it('still answers an upgrade that ws refuses (the held 101 path) with its HTTP error', async () => {
    gw = await startGateway();
    const { hostname, port } = new URL(gw.httpUrl);
    const socket = connect(Number(port), hostname);
    try {
      let text = '';
      socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
      const ended = new Promise((resolve) => socket.once('close', resolve));
      socket.write(
        'GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 99\r\n\r\n',
      );
      await ended;
      expect(text).toMatch(/^HTTP\/1\.1 400 /);
    } finally {
      socket.destroy();
    }
  });

  const failures: [string, (a: TestAgent) => unknown, string][] = [
    ['wrong aud', (a) => a.registerFrame(undefined, { aud: 'other-gateway' }), 'aud'],
    ['ts too old', (a) => a.registerFrame(undefined, { ts: Date.now() - 31_000 }), 'ts'],
    ['ts in the future', (a) => a.registerFrame(undefined, { ts: Date.now() + 31_000 }), 'ts'],
    ['non-integer ts', (a) => a.registerFrame(undefined, { ts: Date.now() + 0.5 }), 'ts'],
    ['unknown top-level field', (a) => a.registerFrame(undefined, { extra: true }), 'extra'],
    ['missing sig', (a) => {
      const f = a.registerFrame();
      delete f.sig;
      return f;
    }, 'sig'],
    ['signature by another key', (a) => signFrame(new TestAgent().secretKey, { ...a.registerFrame(), sig: undefined }), 'signature'],
    ['tampered after signing', (a) => ({ ...a.registerFrame({ name: 'a' }), meta: { name: 'b' } }), 'signature'],
    ['meta.name too long', (a) => a.registerFrame({ name: 'x'.repeat(65) }), 'meta'],
    ['too many capabilities', (a) => a.registerFrame({ capabilities: Array.from({ length: 33 }, (_, i) => `c${i}`) }), 'meta'],
    ['capability with upper case', (a) => a.registerFrame({ capabilities: ['Vision'] }), 'meta'],
    ['meta larger than 4096 bytes', (a) => a.registerFrame({ blob: 'é'.repeat(2100) }), 'meta'],
    ['did with another multicodec', (a) => {
      const bad = 'did:key:z6LSeu9HkTHSfLLeUs2nnzUSNedgDUevfNQgQjQC23ZCit6F'; // X25519 (0xec01)
      return signFrame(a.secretKey, { ...a.registerFrame(), did: bad, sig: undefined });
    }, 'did'],
  ];
  for (const [name, build, part] of failures) {
    it(`refuses a REGISTER with ${name}: ERROR AUTH_FAILED then close 4401`, async () => {
      gw ??= await startGateway();
      const a = agent();
      await a.connect(gw.wsUrl);
      const frame = build(a) as Record<string, unknown>;
      if (frame.sig === undefined) delete frame.sig;
      a.send(frame);
      await expectRejected(a, 'AUTH_FAILED', 4401, part);
    });
  }

  it('refuses a small-order public key even though its (R=identity, S=0) signature verifies in OpenSSL', async () => {
    gw = await startGateway();
    const a = agent();
    await a.connect(gw.wsUrl);
    const identity = new Uint8Array(32);
    identity[0] = 1;
    const did = didFromPublicKey(identity);
    const frame = { ...a.registerFrame(), did };
    // R = identity point encoding, S = 0.
    const sig = new Uint8Array(64);
    sig[0] = 1;
    a.send({ ...frame, sig: Buffer.from(sig).toString('base64url') });
    await expectRejected(a, 'AUTH_FAILED', 4401, 'did');
  });

  it('accepts a key made by @noble/ed25519 from a fixed secret (RFC 8032 test 1)', async () => {
    gw = await startGateway();
    const secret = Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex');
    const a = agent(secret);
    expect(a.did).toBe('did:key:z6MktwupdmLXVVqTzCw4i46r4uGyosGXRnR3XjN4Zq7oMMsw');
    expect(Buffer.from(ed.getPublicKey(secret)).toString('hex')).toBe('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
    await a.register(gw.wsUrl);
  });
});

describe('frames before REGISTERED', () => {
  const cases: [string, (a: TestAgent) => void][] = [
    ['PING', (a) => a.send({ type: 'PING', id: 'p1' })],
    ['an OFFER', (a) => a.send(a.signal('OFFER', a.did, { sdp: 'v=0' }))],
    ['text that is not JSON', (a) => a.send('hello')],
    ['a binary frame', (a) => a.send(Buffer.from('{"type":"PING"}'), { binary: true })],
    ['an unknown type', (a) => a.send({ type: 'HELLO' })],
    ['a JSON array', (a) => a.send('[1,2]')],
  ];
  for (const [name, act] of cases) {
    it(`answers ${name} with ERROR AUTH_REQUIRED and close 4401`, async () => {
      gw ??= await startGateway();
      const a = agent();
      await a.connect(gw.wsUrl);
      act(a);
      await expectRejected(a, 'AUTH_REQUIRED', 4401);
    });
  }
});


describe('frames sent right behind REGISTER (before REGISTERED arrives)', () => {
  it('handles them as the registered agent’s, in order, once the REGISTER verifies', async () => {
    gw = await startGateway();
    const b = agent();
    await b.register(gw.wsUrl);
    const a = agent();
    await a.connect(gw.wsUrl);
    // One burst: REGISTER, 20 OFFERs to b, a PING. The signature of REGISTER is still being
    // verified in a worker when the others arrive.
    const offers = Array.from({ length: 20 }, (_, i) => a.signal('OFFER', b.did, { sdp: `v=${i}` }));
    a.send(a.registerFrame());
    for (const o of offers) a.send(o);
    a.send({ type: 'PING', id: 'after-register' });
    expect(await a.next()).toMatchObject({ type: 'REGISTERED', did: a.did });
    expect(await a.next()).toMatchObject({ type: 'PONG', ref: 'after-register' });
    const received = [];
    for (let i = 0; i < offers.length; i++) received.push(await b.next());
    expect(received.map((f) => f.id)).toEqual(offers.map((o) => o.id));
  });

  it('drops them when the REGISTER fails: only AUTH_FAILED and close 4401 come back', async () => {
    gw = await startGateway();
    const b = agent();
    await b.register(gw.wsUrl);
    const a = agent();
    await a.connect(gw.wsUrl);
    const reg = a.registerFrame();
    // A well-formed signature of another message: fails only at the verification step.
    const wrongSig = (a.registerFrame(undefined, { ts: (reg.ts as number) - 1 }) as { sig: string }).sig;
    a.send({ ...reg, sig: wrongSig });
    a.send(a.signal('OFFER', b.did, { sdp: 'v=0' }));
    a.send({ type: 'PING', id: 'p' });
    await expectRejected(a, 'AUTH_FAILED', 4401, 'signature');
    expect(a.inbox).toEqual([]);
    // a's connection is closed (4401), so the gateway is done with its frames: nothing reached b.
    expect(await b.barrier()).toEqual([]);
  });
});
describe('AUTH_TIMEOUT', () => {
  it('closes a connection that does not register in time with 4408', async () => {
    gw = await startGateway({ authTimeoutMs: 300 });
    const a = agent();
    const challenge = await a.connect(gw.wsUrl);
    expect(challenge).toMatchObject({ type: 'CHALLENGE', expires_in_ms: 300 });
    expect(await a.closed).toMatchObject({ code: 4408 });
  });

  it('does not close a registered agent when the auth timeout passes', async () => {
    gw = await startGateway({ authTimeoutMs: 200 });
    const a = agent();
    await a.register(gw.wsUrl);
    // A sleep on purpose: AUTH_TIMEOUT is a real timer, and "its time has passed and nothing
    // happened" has no event to wait for. 400 ms is a lower bound, so a busy machine cannot make
    // this pass wrongly, only later.
    await new Promise((r) => setTimeout(r, 400));
    a.send({ type: 'PING', id: 'still-here' });
    expect(await a.next()).toMatchObject({ type: 'PONG', ref: 'still-here' });
  });
});

describe('MAX_AGENTS', () => {
  it('closes with 4503 at REGISTER when full', async () => {
    gw = await startGateway({ maxAgents: 1 });
    const a = agent();
    const b = agent();
    await a.connect(gw.wsUrl);
    await b.connect(gw.wsUrl); // both connected before either registered
    a.send(a.registerFrame());
    expect(await a.next()).toMatchObject({ type: 'REGISTERED' });
    b.send(b.registerFrame());
    expect(await b.closed).toMatchObject({ code: 4503 });
    // A later connection still gets a CHALLENGE (the DID is only known at REGISTER) and is refused there.
    const c = agent();
    expect(await c.connect(gw.wsUrl)).toMatchObject({ type: 'CHALLENGE' });
    c.send(c.registerFrame());
    expect(await c.closed).toMatchObject({ code: 4503 } satisfies Partial<Closed>);
    // The registered agent is unaffected.
    a.send({ type: 'PING', id: 'ok' });
    expect(await a.next()).toMatchObject({ type: 'PONG', ref: 'ok' });
  });

  it('lets an online DID re-register when full (the old session is replaced)', async () => {
    gw = await startGateway({ maxAgents: 1 });
    const a1 = agent();
    await a1.register(gw.wsUrl);
    const a2 = agent(a1.secretKey);
    await a2.register(gw.wsUrl);
    expect(await a1.closed).toMatchObject({ code: 4409 });
  });
});

describe('one session per DID', () => {
  it('closes the old session with 4409 and routes to the new one', async () => {
    gw = await startGateway();
    const a1 = agent();
    await a1.register(gw.wsUrl);
    const a2 = agent(a1.secretKey);
    await a2.register(gw.wsUrl);
    expect(await a1.closed).toMatchObject({ code: 4409 });

    const peer = agent();
    await peer.register(gw.wsUrl);
    const offer = peer.signal('OFFER', a1.did, { sdp: 'v=0' });
    peer.send(offer);
    expect(await a2.next()).toEqual(offer);
    const health = (await get(gw, '/health')).body;
    expect(health.connected_agents).toBe(2);
  });
});
