/**
 * GatewayClient against a real gateway (buildApp + listen on port 0).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { buildApp, CloseCode, configWith } from '../../src/app.js';
import {
  ClientError,
  GatewayClient,
  GatewayError,
  GatewayMismatchError,
  generateKeyPair,
  type GatewayClientOptions,
  type KeyPair,
} from '../../src/client/index.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { TestAgent } from '../helpers/agent.js';
import { nextEvent, record, until } from './helpers.js';
import { freePort } from '../helpers/ports.js';

let gw: TestGateway;
const clients: GatewayClient[] = [];
const agents: TestAgent[] = [];
const extraApps: { close(): Promise<void> }[] = [];

/** A client of the test gateway with fast reconnects; closed after the test. */
function client(options: Partial<GatewayClientOptions> = {}): GatewayClient {
  const c = new GatewayClient({ url: gw.wsUrl, key: generateKeyPair(), reconnect: { baseMs: 10, maxMs: 100 }, ...options });
  clients.push(c);
  return c;
}

const health = async (httpUrl = gw.httpUrl) => (await (await fetch(`${httpUrl}/health`)).json()) as { connected_agents: number };

/** Closes the gateway's side of `did`'s session with `code`. */
function closeServerSide(did: string, code: CloseCode): void {
  const session = [...gw.app.hub.sessions].find((s) => s.did === did);
  if (!session) throw new Error(`no session for ${did}`);
  session.close(code);
}

beforeEach(async () => {
  gw = await startGateway();
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  for (const a of agents.splice(0)) a.close();
  await Promise.all(extraApps.splice(0).map((a) => a.close()));
  await gw.close();
});

describe('handshake', () => {
  it('registers with a signed REGISTER and reports the session', async () => {
    const c = client({ meta: { name: 'alice', capabilities: ['vision'] } });
    expect(c.state).toBe('idle');
    const connected = nextEvent(c, 'connected');
    const info = await c.connect();
    expect(info).toMatchObject({ did: c.did, gateway: 'aiconexus-gateway', heartbeatMs: 30_000, agentTimeoutMs: 300_000, reconnected: false });
    expect(typeof info.session).toBe('string');
    expect(await connected).toEqual(info);
    expect(c.state).toBe('connected');
    expect(c.session).toEqual(info);
    expect(await c.connect()).toBe(info); // idempotent
    expect(await health()).toMatchObject({ connected_agents: 1 });
  });

  it('rejects with GatewayError AUTH_FAILED when the gateway refuses the REGISTER, and does not retry', async () => {
    const c = client({ now: () => Date.now() - 10 * 60_000 }); // ts outside CLOCK_SKEW
    const log = record(c);
    const err = await c.connect().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GatewayError);
    expect(err).toMatchObject({ code: 'AUTH_FAILED', closeCode: 4401, ref: null });
    expect(c.state).toBe('closed');
    expect(log.map((e) => e.event)).toEqual(['error']);
  });

  it('rejects with CONNECT_FAILED naming the URL when nothing listens', async () => {
    const url = `ws://127.0.0.1:${await freePort()}/ws`;
    const c = new GatewayClient({ url, key: generateKeyPair() });
    clients.push(c);
    const err = await c.connect().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClientError);
    expect(err).toMatchObject({ code: 'CONNECT_FAILED', closeCode: 1006 });
    expect((err as Error).message).toContain(`cannot reach gateway at ${url}`);
    expect((err as Error).message).toContain('ECONNREFUSED');
    expect(c.state).toBe('closed');
  });

  // Node 22's built-in WebSocket fires 'error' and never 'close' for a refused connection; the
  // client must fail at once, not when its connect timeout (60 s here, beyond the test's own
  // timeout) runs out.
  // CI runs on Node 22, 24 and 26, which all have a global WebSocket.
  it.skipIf(typeof globalThis.WebSocket !== 'function')('on the runtime\'s built-in WebSocket too, at once and naming the URL', async () => {
    const url = `ws://127.0.0.1:${await freePort()}/ws`;
    const c = new GatewayClient({ url, key: generateKeyPair(), WebSocket: globalThis.WebSocket as unknown as GatewayClientOptions['WebSocket'], connectTimeoutMs: 60_000 });
    clients.push(c);
    const err = await c.connect().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'CONNECT_FAILED', closeCode: 1006 });
    expect((err as Error).message).toContain(`cannot reach gateway at ${url}: `);
    expect(c.state).toBe('closed');
  });

  it('refuses to send before it is connected, and rejects bad arguments', async () => {
    const c = client();
    const peer = generateKeyPair().did;
    expect(() => c.offer(peer, { type: 'offer', sdp: 'v=0\r\n' })).toThrow(expect.objectContaining({ code: 'NOT_CONNECTED' }));
    await expect(c.ping()).rejects.toMatchObject({ code: 'NOT_CONNECTED' });
    await c.connect();
    expect(() => c.offer('did:key:zNope', { sdp: '' })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => c.offer(peer, { sdp: 'x'.repeat(32_769) })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => c.ice(peer, { candidate: 'c', sdpMLineIndex: -1 })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    await expect(c.discover({ capability: 'Not Valid' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(c.discover({ limit: 1001 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(() => new GatewayClient({ url: 'http://x', key: generateKeyPair() })).toThrow(ClientError);
    expect(() => new GatewayClient({ url: gw.wsUrl, key: generateKeyPair(), meta: { capabilities: ['UPPER'] } })).toThrow(/bad meta/);
  });
});

/**
 * A man in the middle without TLS: accepts WebSocket connections and relays every frame, both
 * ways, to `upstream`. Records what the client sent upstream.
 */
async function startRelay(upstream: string): Promise<{ url: string; sent: string[]; close(): Promise<void> }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  const sent: string[] = [];
  const upstreams = new Set<WebSocket>();
  wss.on('connection', (victim) => {
    const up = new WebSocket(upstream);
    upstreams.add(up);
    const queue: string[] = [];
    up.on('open', () => queue.splice(0).forEach((m) => up.send(m)));
    up.on('message', (data) => victim.send(String(data)));
    up.on('close', () => victim.close());
    up.on('error', () => victim.terminate());
    victim.on('message', (data) => {
      sent.push(String(data));
      if (up.readyState === WebSocket.OPEN) up.send(String(data));
      else queue.push(String(data));
    });
    victim.on('close', () => up.close());
  });
  const address = wss.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    url: `ws://127.0.0.1:${address.port}/ws`,
    sent,
    close: async () => {
      for (const up of upstreams) up.terminate();
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

describe('gateway id pinning', () => {
  it('a relay that passes on another deployment’s CHALLENGE gets no signed REGISTER, and no session there', async () => {
    // The victim means to use a default gateway; the path leads it to a deployment named "bank-eu-1".
    const bank = await startGateway({ gatewayId: 'bank-eu-1' });
    extraApps.push(bank);
    const relay = await startRelay(bank.wsUrl);
    extraApps.push(relay);
    const victim = new GatewayClient({ url: relay.url, key: generateKeyPair() });
    clients.push(victim);
    const err = await victim.connect().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GatewayMismatchError);
    expect(err).toMatchObject({ code: 'GATEWAY_MISMATCH', expected: 'aiconexus-gateway', received: 'bank-eu-1' });
    expect(victim.state).toBe('closed');
    expect(relay.sent).toEqual([]);
    expect(await health(bank.httpUrl)).toMatchObject({ connected_agents: 0 });
  });

  it('registers with a gateway whose GATEWAY_ID is not the default when gatewayId names it', async () => {
    const other = await startGateway({ gatewayId: 'gw-eu-1' });
    extraApps.push(other);
    const refused = new GatewayClient({ url: other.wsUrl, key: generateKeyPair() });
    clients.push(refused);
    await expect(refused.connect()).rejects.toMatchObject({ code: 'GATEWAY_MISMATCH', received: 'gw-eu-1' });
    const pinned = new GatewayClient({ url: other.wsUrl, key: generateKeyPair(), gatewayId: 'gw-eu-1' });
    clients.push(pinned);
    expect(await pinned.connect()).toMatchObject({ gateway: 'gw-eu-1', did: pinned.did });
    expect(await health(other.httpUrl)).toMatchObject({ connected_agents: 1 });
  });
});

describe('signaling', () => {
  it('delivers OFFER, ANSWER, ICE and BYE, each verified against the sender DID', async () => {
    const a = client();
    const b = client();
    await a.connect();
    await b.connect();
    const bLog = record(b);

    const gotOffer = nextEvent(b, 'offer');
    const withExtras = { type: 'offer', sdp: 'v=0\r\n', extra: { 'ü': [1, 2.5, null] } };
    const offer = a.offer(b.did, withExtras);
    expect(offer).toMatchObject({ type: 'OFFER', from: a.did, to: b.did, payload: { sdp: 'v=0\r\n' } });
    expect(offer.id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(await gotOffer).toEqual(offer);

    const gotAnswer = nextEvent(a, 'answer');
    const answer = b.answer(a.did, { type: 'answer', sdp: 'v=0\r\n' });
    expect(await gotAnswer).toEqual(answer);

    const gotIce = nextEvent(b, 'ice');
    const ice = a.ice(b.did, { candidate: 'candidate:1 1 udp 1 127.0.0.1 9 typ host', sdpMid: '0', sdpMLineIndex: 0, usernameFragment: null });
    expect(await gotIce).toEqual(ice);

    const gotBye = nextEvent(b, 'bye');
    const bye = a.bye(b.did, { reason: 'done' });
    expect(await gotBye).toEqual(bye);

    // Each frame was emitted under its own name and then as 'signal'; nothing was dropped.
    expect(bLog.map((e) => e.event)).toEqual(['offer', 'signal', 'ice', 'signal', 'bye', 'signal']);
    expect(new Set([offer.id, answer.id, ice.id, bye.id]).size).toBe(4);
  });

  it('verifies the parsed frame, whatever the sender’s byte layout', async () => {
    const b = client();
    await b.connect();
    const raw = new TestAgent();
    agents.push(raw);
    await raw.register(gw.wsUrl);
    const offer = raw.signal('OFFER', b.did, { type: 'offer', sdp: 'v=0\r\n', nested: { z: 1, a: ['é', '\u2028'] } });
    const text = `{ "sig":${JSON.stringify(offer.sig)},  "payload":${JSON.stringify(offer.payload)},"to":"${b.did}","from":"${raw.did}","ts":${offer.ts},"id":"${offer.id}","type":"OFFER" }`;
    const got = nextEvent(b, 'offer');
    raw.send(text);
    expect(await got).toEqual(offer);
  });

  it('reports a frame to an offline DID as GatewayError AGENT_NOT_FOUND with its id as ref', async () => {
    const a = client();
    await a.connect();
    const nobody = generateKeyPair().did;
    const gotError = nextEvent(a, 'error');
    const offer = a.offer(nobody, { type: 'offer', sdp: 'v=0\r\n' });
    const err = await gotError;
    expect(err).toBeInstanceOf(GatewayError);
    expect(err).toMatchObject({ code: 'AGENT_NOT_FOUND', ref: offer.id, closeCode: null, request: { type: 'OFFER', to: nobody } });
    expect(a.state).toBe('connected');
  });
});

describe('requests', () => {
  it('discovers agents by capability, with a limit', async () => {
    const a = client({ meta: { name: 'a', capabilities: ['vision', 'chat'] } });
    const b = client({ meta: { name: 'b', capabilities: ['chat'] } });
    await a.connect();
    await b.connect();
    const vision = await a.discover({ capability: 'vision' });
    expect(vision).toEqual([{ did: a.did, meta: { name: 'a', capabilities: ['vision', 'chat'] }, connected_at: expect.any(String) }]);
    const chat = await b.discover({ capability: 'chat' });
    expect(chat.map((x) => x.did).sort()).toEqual([a.did, b.did].sort());
    expect(await b.discover({ limit: 1 })).toHaveLength(1);
    expect(await b.discover({ capability: 'nothing' })).toEqual([]);
  });

  it('pings the gateway and gives the round trip time', async () => {
    const a = client();
    await a.connect();
    const rtts = await Promise.all([a.ping(), a.ping(), a.ping()]);
    for (const rtt of rtts) expect(rtt).toBeGreaterThanOrEqual(0);
  });

  it('rejects pending requests with CLOSED on close() and emits disconnected/closed once', async () => {
    const a = client();
    await a.connect();
    const log = record(a);
    const ping = a.ping().catch((e: unknown) => e);
    await a.close();
    expect(await ping).toMatchObject({ code: 'CLOSED' });
    expect(a.state).toBe('closed');
    expect(log.map((e) => e.event)).toEqual(['disconnected', 'closed']);
    await a.close(); // idempotent
    await until(async () => (await health()).connected_agents === 0, 5000, 'gateway unregisters the agent');
  });

  it('can connect again after close(), even one that interrupted a connect()', async () => {
    const a = client();
    const first = a.connect().catch((e: unknown) => e);
    await a.close();
    expect(await first).toMatchObject({ code: 'CLOSED' });
    const info = await a.connect();
    expect(info.did).toBe(a.did);
    expect(a.state).toBe('connected');
    expect(await a.ping()).toBeGreaterThanOrEqual(0);
    expect(await health()).toMatchObject({ connected_agents: 1 });
  });
});

describe('reconnect', () => {
  it('reconnects and re-registers after the gateway closes the socket', async () => {
    const a = client();
    const b = client();
    await a.connect();
    await b.connect();
    const log = record(a);
    const disconnected = nextEvent(a, 'disconnected');
    const reconnected = nextEvent(a, 'connected');
    closeServerSide(a.did, CloseCode.GOING_AWAY);
    expect(await disconnected).toEqual({ code: 1001, reason: 'gateway shutting down', willReconnect: true });
    const info = await reconnected;
    expect(info).toMatchObject({ did: a.did, reconnected: true });
    expect(a.state).toBe('connected');
    expect(log.map((e) => e.event)).toEqual(['disconnected', 'reconnecting', 'connected']);
    expect(log[1]?.arg).toMatchObject({ attempt: 1 });

    // The new session is routable again.
    const got = nextEvent(a, 'offer');
    const offer = b.offer(a.did, { type: 'offer', sdp: 'v=0\r\n' });
    expect(await got).toEqual(offer);
  });

  it('keeps retrying while the gateway is down and re-registers when it is back on the same port', async () => {
    const a = client({ reconnect: { baseMs: 20, maxMs: 50 } });
    await a.connect();
    const port = Number(new URL(gw.wsUrl).port);
    // An attempt that found nothing listening. Earlier ones may still meet the draining gateway
    // and fail otherwise (CONNECT_FAILED with ECONNRESET, or a 503/close): not what this waits for.
    const isRefused = (r: { error?: unknown }) => {
      const err = r.error as ClientError | undefined;
      return err?.code === 'CONNECT_FAILED' && err.message.includes('ECONNREFUSED');
    };
    const refused = nextEvent(a, 'reconnecting', { predicate: isRefused, timeoutMs: 10_000 });
    await gw.app.close();
    expect((await refused).error?.message).toMatch(/^cannot reach gateway at ws:\/\/127\.0\.0\.1:\d+\/ws: .*ECONNREFUSED/);

    const app = await buildApp(configWith({ host: '127.0.0.1', port, logLevel: 'silent' }), { logger: false, processMetrics: false });
    extraApps.push(app);
    const back = nextEvent(a, 'connected', { timeoutMs: 10_000 });
    await app.listen({ host: '127.0.0.1', port });
    expect(await back).toMatchObject({ did: a.did, reconnected: true });
    expect(await health(`http://127.0.0.1:${port}`)).toMatchObject({ connected_agents: 1 });
    expect(await a.ping()).toBeGreaterThanOrEqual(0);
  });

  it('stops after close 4409 (same DID registered elsewhere) unless reconnectOnReplaced', async () => {
    const key: KeyPair = generateKeyPair();
    const first = client({ key });
    const second = client({ key });
    await first.connect();
    const log = record(first);
    const closed = nextEvent(first, 'closed');
    await second.connect();
    expect(await closed).toMatchObject({ code: 4409 });
    expect(first.state).toBe('closed');
    expect(log.map((e) => e.event)).toEqual(['disconnected', 'closed']);
    expect(log[0]?.arg).toMatchObject({ code: 4409, willReconnect: false });
    // The replacing session is the live one.
    expect(await second.ping()).toBeGreaterThanOrEqual(0);
    expect(second.state).toBe('connected');
  });

  it('with reconnectOnReplaced, takes the DID back after 4409', async () => {
    const key: KeyPair = generateKeyPair();
    const first = client({ key, reconnectOnReplaced: true });
    const second = client({ key });
    await first.connect();
    const back = nextEvent(first, 'connected');
    const secondClosed = nextEvent(second, 'closed');
    await second.connect();
    expect(await back).toMatchObject({ reconnected: true });
    expect(await secondClosed).toMatchObject({ code: 4409 });
    expect(first.state).toBe('connected');
    expect(second.state).toBe('closed');
  });
});
