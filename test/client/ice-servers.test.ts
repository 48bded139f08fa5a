/** GatewayClient's ICE servers against a real gateway with STUN and TURN configured. */
import { afterEach, describe, expect, it } from 'vitest';
import { GatewayClient, generateKeyPair } from '../../src/client/index.js';
import { turnCredential } from '../../src/ice-servers.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { nextEvent } from './helpers.js';

const SECRET = 'client-test-turn-secret-42';
let gw: TestGateway | undefined;
const clients: GatewayClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await gw?.close();
  gw = undefined;
});

async function connected(turnTtlMs: number): Promise<GatewayClient> {
  gw = await startGateway({ stunUrls: ['stun:stun.example.com'], turnUrls: ['turn:turn.example.com:3478'], turnSecret: SECRET, turnTtlMs });
  const c = new GatewayClient({ url: gw.wsUrl, key: generateKeyPair() });
  clients.push(c);
  await c.connect();
  return c;
}

/** The TURN entry is valid: its credential is the HMAC of its username, which names the client's DID. */
function expectValidTurn(c: GatewayClient): void {
  const turn = c.iceServers[1];
  expect(turn?.urls).toEqual(['turn:turn.example.com:3478']);
  expect(turn?.username).toMatch(new RegExp(`^\\d+:${c.did}$`));
  expect(turn?.credential).toBe(turnCredential(SECRET, turn?.username as string));
  expect(Number(turn?.username?.split(':')[0]) * 1000).toBe(c.iceServersExpireAt);
}

describe('GatewayClient ICE servers', () => {
  it('has the servers of REGISTERED, ready for RTCPeerConnection', async () => {
    const c = await connected(3_600_000);
    expect(c.iceServers[0]).toEqual({ urls: ['stun:stun.example.com'] });
    expectValidTurn(c);
    expect(c.session?.iceServers).toEqual(c.iceServers);
  });

  it('refreshIceServers() asks again and emits iceServers', async () => {
    const c = await connected(3_600_000);
    const event = nextEvent(c, 'iceServers');
    const info = await c.refreshIceServers();
    expect(await event).toBe(info);
    expect(info.iceServers).toEqual(c.iceServers);
    expectValidTurn(c);
  });

  it('renews a credential before it expires, by itself', async () => {
    // A 3-second credential: renewed when 80 % of its remaining life has passed.
    const c = await connected(3_000);
    const first = c.iceServersExpireAt as number;
    const renewed = await nextEvent(c, 'iceServers', { timeoutMs: 10_000, predicate: (i) => (i.expiresAt ?? 0) > first });
    expect(renewed.expiresAt).toBeGreaterThan(first);
    expectValidTurn(c);
  });
});
