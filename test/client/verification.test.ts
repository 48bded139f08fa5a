/**
 * The client's own checks, against a scripted fake gateway: incoming signaling frames are verified
 * end to end (a real gateway would never forward these), ERRORs reject the request they answer,
 * and the reconnect policy follows the close code.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  ClientError,
  GatewayClient,
  GatewayError,
  GatewayMismatchError,
  generateKeyPair,
  signFrame,
  verifyFrame,
  type GatewayClientOptions,
  type KeyPair,
} from '../../src/client/index.js';
import { FakeGateway, type FakeConnection } from './fake-gateway.js';
import { nextEvent, record } from './helpers.js';

const fakes: FakeGateway[] = [];
const clients: GatewayClient[] = [];

async function setup(
  fakeOptions: Parameters<typeof FakeGateway.start>[0] = {},
  clientOptions: Partial<GatewayClientOptions> = {},
): Promise<{ fake: FakeGateway; client: GatewayClient; conn: FakeConnection }> {
  const fake = await FakeGateway.start(fakeOptions);
  fakes.push(fake);
  const client = new GatewayClient({ url: fake.url, key: generateKeyPair(), gatewayId: fake.gatewayId, reconnect: { baseMs: 5, maxMs: 20 }, ...clientOptions });
  clients.push(client);
  const connection = fake.nextConnection();
  await client.connect();
  return { fake, client, conn: await connection };
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(fakes.splice(0).map((f) => f.close()));
});

const offerFrom = (sender: KeyPair, to: string, override: Record<string, unknown> = {}, id = `o-${Math.random().toString(36).slice(2)}`) =>
  signFrame({ type: 'OFFER', id, from: sender.did, to, ts: Date.now(), payload: { type: 'offer', sdp: 'v=0\r\n' }, ...override }, sender.secretKey);

describe('REGISTER', () => {
  it('is signed by the agent and answers the challenge (nonce, aud = CHALLENGE.gateway, fresh ts, meta)', async () => {
    const before = Date.now();
    const { client, conn } = await setup({}, { meta: { name: 'bot', capabilities: ['chat'] } });
    const register = conn.frames[0];
    expect(register).toMatchObject({ type: 'REGISTER', did: client.did, nonce: conn.nonce, aud: 'fake-gateway', meta: { name: 'bot', capabilities: ['chat'] } });
    expect(register?.ts).toBeGreaterThanOrEqual(before);
    expect(Number.isInteger(register?.ts)).toBe(true);
    expect(verifyFrame(register as Record<string, unknown>, client.did)).toBe(true);
  });

  it('times out when no CHALLENGE comes', async () => {
    const fake = await FakeGateway.start({ challenge: false });
    fakes.push(fake);
    const client = new GatewayClient({ url: fake.url, key: generateKeyPair(), connectTimeoutMs: 100 });
    clients.push(client);
    await expect(client.connect()).rejects.toMatchObject({ code: 'TIMEOUT' });
    expect(client.state).toBe('closed');
  });

  it('refuses a CHALLENGE of another protocol version', async () => {
    const fake = await FakeGateway.start({ challenge: false, register: false });
    fakes.push(fake);
    const client = new GatewayClient({ url: fake.url, key: generateKeyPair() });
    clients.push(client);
    const connecting = client.connect().catch((e: unknown) => e);
    const conn = await fake.nextConnection();
    conn.send({ type: 'CHALLENGE', protocol: 'aiconexus/2', gateway: 'g', nonce: 'n', expires_in_ms: 1000 });
    const err = await connecting;
    expect(err).toBeInstanceOf(ClientError);
    expect(err).toMatchObject({ code: 'PROTOCOL' });
  });
});

describe('gateway id pinning', () => {
  it('refuses a CHALLENGE naming another gateway id: closes without signing a REGISTER and rejects with GATEWAY_MISMATCH', async () => {
    // A default client expects the gateway's default id; this "gateway" passes on another deployment's CHALLENGE.
    const fake = await FakeGateway.start({ gatewayId: 'other-deployment', register: false });
    fakes.push(fake);
    const client = new GatewayClient({ url: fake.url, key: generateKeyPair(), connectTimeoutMs: 2000 });
    clients.push(client);
    const log = record(client);
    const err = await client.connect().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GatewayMismatchError);
    expect(err).toBeInstanceOf(ClientError);
    expect(err).toMatchObject({ code: 'GATEWAY_MISMATCH', expected: 'aiconexus-gateway', received: 'other-deployment' });
    expect((err as Error).message).toContain('named itself "other-deployment" in its CHALLENGE, but this client expects "aiconexus-gateway"');
    expect(client.state).toBe('closed');
    const [conn] = fake.connections;
    expect(await conn?.closed).toBe(1000);
    expect(conn?.frames).toEqual([]); // nothing signed, nothing sent
    expect(log).toEqual([]);
    expect(fake.connections).toHaveLength(1);
  });

  it('on a reconnect, refuses a relayed CHALLENGE and stops instead of retrying', async () => {
    const { fake, client, conn } = await setup();
    const log = record(client);
    fake.gatewayId = 'other-deployment'; // from now on the path hands out another deployment's CHALLENGE
    const closed = nextEvent(client, 'closed');
    conn.ws.close(1001, 'bye');
    const info = await closed;
    expect(info.reason).toBe('gateway id mismatch');
    expect(info.error).toBeInstanceOf(GatewayMismatchError);
    expect(info.error).toMatchObject({ expected: 'fake-gateway', received: 'other-deployment' });
    expect(client.state).toBe('closed');
    expect(log.map((e) => e.event)).toEqual(['disconnected', 'reconnecting', 'closed']);
    const relayed = fake.connections[1];
    expect(await relayed?.closed).toBe(1000);
    expect(relayed?.frames).toEqual([]);
    expect(fake.connections).toHaveLength(2);
  });

  it('acceptAnyGateway (unsafe) registers with whatever id the CHALLENGE names; bad or conflicting options are refused', async () => {
    const fake = await FakeGateway.start({ gatewayId: 'other-deployment' });
    fakes.push(fake);
    const key = generateKeyPair();
    const client = new GatewayClient({ url: fake.url, key, acceptAnyGateway: true });
    clients.push(client);
    const registered = fake.nextConnection();
    expect(await client.connect()).toMatchObject({ gateway: 'other-deployment' });
    expect((await registered).frames[0]).toMatchObject({ type: 'REGISTER', aud: 'other-deployment' });

    const bad = (options: Partial<GatewayClientOptions>) => () => new GatewayClient({ url: fake.url, key, ...options });
    expect(bad({ gatewayId: 'x', acceptAnyGateway: true })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    for (const gatewayId of ['', 'with space', 'x'.repeat(129), 'tab\t', 'caf\u00e9']) {
      expect(bad({ gatewayId }), JSON.stringify(gatewayId)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('gatewayId') }));
    }
    expect(bad({ replayLimits: { perSender: 0 } })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
});

describe('incoming signaling frames', () => {
  it('emits only frames that verify against `from`, addressed to this agent, fresh and not replayed', async () => {
    const { client, conn } = await setup();
    const log = record(client);
    const peer = generateKeyPair();
    const mallory = generateKeyPair();

    const good = offerFrom(peer, client.did, {}, 'good-1');
    // Signed by mallory, claiming to come from peer.
    const forged = { ...offerFrom(mallory, client.did, { from: peer.did }), from: peer.did };
    // Validly signed by peer, then altered in transit.
    const tampered = { ...offerFrom(peer, client.did), payload: { type: 'offer', sdp: 'v=0\r\nevil' } };
    const misaddressed = offerFrom(peer, generateKeyPair().did);
    const stale = offerFrom(peer, client.did, { ts: Date.now() - 10 * 60_000 });
    const noSdp = signFrame({ type: 'ANSWER', id: 'a-1', from: peer.did, to: client.did, ts: Date.now(), payload: {} }, peer.secretKey);
    const extraField = offerFrom(peer, client.did, { extra: true });
    const last = signFrame({ type: 'BYE', id: 'bye-1', from: peer.did, to: client.did, ts: Date.now(), payload: {} }, peer.secretKey);

    for (const frame of [good, forged, tampered, misaddressed, stale, noSdp, extraField, good]) conn.send(frame);
    conn.send('not json');
    conn.send('[1,2]');
    const done = nextEvent(client, 'bye');
    conn.send(last);
    expect(await done).toEqual(last);

    const seen = log.map((e) => (e.event === 'invalid' ? `invalid:${(e.arg as { reason: string }).reason}` : e.event));
    expect(seen).toEqual([
      'offer',
      'signal',
      'invalid:bad-signature',
      'invalid:bad-signature',
      'invalid:wrong-recipient',
      'invalid:stale',
      'invalid:schema',
      'invalid:schema',
      'invalid:replay',
      'invalid:malformed',
      'invalid:malformed',
      'bye',
      'signal',
    ]);
    expect(log[0]?.arg).toEqual(good);
    expect(log[2]?.arg).toMatchObject({ frame: forged, data: JSON.stringify(forged), message: expect.stringContaining(peer.did) });
  });

  it('accepts old frames when maxFrameAgeMs is 0', async () => {
    const { client, conn } = await setup({}, { maxFrameAgeMs: 0 });
    const peer = generateKeyPair();
    const old = offerFrom(peer, client.did, { ts: 1764028800000 });
    const got = nextEvent(client, 'offer');
    conn.send(old);
    expect(await got).toEqual(old);
  });
});

/** Sends `frame` and resolves with what the client made of it: 'emitted' or the 'invalid' reason. */
function verdict(client: GatewayClient, conn: FakeConnection, frame: object): Promise<string> {
  return new Promise((resolve) => {
    const done = (result: string) => {
      offSignal();
      offInvalid();
      resolve(result);
    };
    const offSignal = client.on('signal', () => done('emitted'));
    const offInvalid = client.on('invalid', (i) => done(i.reason));
    conn.send(frame);
  });
}

describe('replay memory', () => {
  it('bounds memory by refusing: at most perSender live ids per sender and total in all; ids leave only once their window has passed', async () => {
    let clock = Date.now();
    const t0 = clock;
    const { client, conn } = await setup({}, { now: () => clock, maxFrameAgeMs: 60_000, replayLimits: { perSender: 2, total: 4 } });
    const peer = generateKeyPair();
    const mallory = generateKeyPair();
    const newcomer = generateKeyPair();
    const frame = (from: KeyPair, id: string) => offerFrom(from, client.did, { ts: clock }, id);
    const send = (from: KeyPair, id: string) => verdict(client, conn, frame(from, id));

    expect(await send(peer, 'p1')).toBe('emitted');
    expect(await send(peer, 'p2')).toBe('emitted');
    expect(await send(peer, 'p3')).toBe('replay-limit'); // 2 live ids of peer
    expect(await send(mallory, 'm1')).toBe('emitted');
    expect(await send(mallory, 'm2')).toBe('emitted');
    expect(await send(newcomer, 'n1')).toBe('replay-limit'); // 4 live ids in all: a new sender is refused too
    expect(await verdict(client, conn, offerFrom(peer, client.did, { ts: t0 }, 'p1'))).toBe('replay');

    // Until each window (max(ts, now) + 60 s) has passed nothing is forgotten...
    clock = t0 + 59_999;
    expect(await send(newcomer, 'n1')).toBe('replay-limit');
    expect(await verdict(client, conn, offerFrom(peer, client.did, { ts: t0 }, 'p1'))).toBe('replay');
    clock = t0 + 60_000; // the last instant p1 passes the age check: still remembered
    expect(await verdict(client, conn, offerFrom(peer, client.did, { ts: t0 }, 'p1'))).toBe('replay');
    // ...then everything is: the old frame comes back stale, and there is room again.
    clock = t0 + 60_001;
    expect(await verdict(client, conn, offerFrom(peer, client.did, { ts: t0 }, 'p1'))).toBe('stale');
    expect(await send(newcomer, 'n1')).toBe('emitted');
    expect(await send(peer, 'p3')).toBe('emitted');
  });
});

describe('ERROR frames', () => {
  it('reject the pending request they reference and are emitted as GatewayError', async () => {
    const { client } = await setup({
      discover: (frame, conn) => conn.send({ type: 'ERROR', code: 'BAD_FRAME', message: 'no discovery here', ref: frame.id }),
    });
    const emitted = nextEvent(client, 'error');
    const err = await client.discover({ capability: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GatewayError);
    expect(err).toMatchObject({ code: 'BAD_FRAME', message: 'no discovery here', closeCode: null });
    expect(await emitted).toBe(err);
    expect(client.state).toBe('connected');
  });

  it('without a pending request are only emitted; an unknown code is a ClientError PROTOCOL', async () => {
    const { client, conn } = await setup();
    const first = nextEvent(client, 'error');
    conn.send({ type: 'ERROR', code: 'RATE_LIMITED', message: 'slow down', ref: null });
    expect(await first).toMatchObject({ name: 'GatewayError', code: 'RATE_LIMITED', ref: null });
    const second = nextEvent(client, 'error');
    conn.send({ type: 'ERROR', code: 'FROM_THE_FUTURE', message: '?', ref: null });
    expect(await second).toMatchObject({ name: 'ClientError', code: 'PROTOCOL' });
  });

  it('a request without an answer times out', async () => {
    const { client } = await setup({ pong: false });
    await expect(client.ping({ timeoutMs: 50 })).rejects.toMatchObject({ code: 'TIMEOUT' });
    expect(client.state).toBe('connected');
  });
});

describe('reconnect policy', () => {
  it('does not reconnect after close 4401', async () => {
    const { client, conn } = await setup();
    const log = record(client);
    const closed = nextEvent(client, 'closed');
    conn.ws.close(4401, 'authentication failed');
    expect(await closed).toMatchObject({ code: 4401 });
    expect(client.state).toBe('closed');
    expect(log.map((e) => e.event)).toEqual(['disconnected', 'closed']);
  });

  it('reconnects after close 4401 with reconnectOnAuthFailure', async () => {
    const { fake, client, conn } = await setup({}, { reconnectOnAuthFailure: true });
    const again = fake.nextConnection();
    const back = nextEvent(client, 'connected');
    conn.ws.close(4401, 'authentication failed');
    expect(await back).toMatchObject({ reconnected: true });
    expect((await again).did).toBe(client.did);
  });

  it('drops a connection whose PINGs go unanswered and reconnects (keep-alive)', async () => {
    const { fake, client, conn } = await setup({ pong: false }, { keepAliveMs: 20, requestTimeoutMs: 50 });
    const again = fake.nextConnection();
    const disconnected = nextEvent(client, 'disconnected');
    const back = nextEvent(client, 'connected');
    expect(await disconnected).toEqual({ code: 1006, reason: 'keep-alive timeout', willReconnect: true });
    expect(conn.frames.some((f) => f.type === 'PING')).toBe(true);
    expect(await back).toMatchObject({ reconnected: true });
    expect((await again).did).toBe(client.did);
    // The abandoned socket is closed by the client.
    expect(await conn.closed).toBe(1000);
  });

  it('gives up after maxAttempts and says why', async () => {
    const { fake, client } = await setup({}, { reconnect: { baseMs: 1, maxMs: 5, maxAttempts: 2 } });
    const log = record(client);
    const closed = nextEvent(client, 'closed');
    await fake.close();
    const info = await closed;
    expect(info.reason).toBe('gave up after 2 reconnect attempts');
    expect(info.error).toMatchObject({ code: 'CONNECT_FAILED' });
    expect(log.map((e) => e.event)).toEqual(['disconnected', 'reconnecting', 'reconnecting', 'closed']);
    expect(client.state).toBe('closed');
  });

  it('does not reconnect when reconnect is false', async () => {
    const { client, conn } = await setup({}, { reconnect: false });
    const disconnected = nextEvent(client, 'disconnected');
    const closed = nextEvent(client, 'closed');
    conn.ws.close(1001, 'bye');
    expect(await disconnected).toMatchObject({ code: 1001, willReconnect: false });
    await closed;
    expect(client.state).toBe('closed');
  });

  it('close() during a reconnect wait stops it', async () => {
    const { client, conn } = await setup({}, { reconnect: { baseMs: 60_000, maxMs: 60_000 }, random: () => 0.5 });
    const reconnecting = nextEvent(client, 'reconnecting');
    conn.ws.close(1001, 'bye');
    expect(await reconnecting).toMatchObject({ attempt: 1, delayMs: 30_000 });
    const pending = client.connect(); // waits for the reconnect…
    await client.close(); // …which close() cancels
    await expect(pending).rejects.toMatchObject({ code: 'CLOSED' });
    expect(client.state).toBe('closed');
  });
});
