/**
 * ICE servers through the gateway (docs/protocol.md §6): REGISTERED carries them when configured,
 * GET_ICE_SERVERS answers ICE_SERVERS with a fresh credential bound to the asking agent's DID,
 * rate-limited like every frame; the secret never reaches a log line.
 */
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { turnCredential } from '../../src/ice-servers.js';
import { TestAgent } from '../helpers/agent.js';
import { manualClock } from '../helpers/clock.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

const SECRET = 'test-turn-secret-0123456789';
const TURN = { stunUrls: ['stun:stun.example.com:3478'], turnUrls: ['turn:turn.example.com:3478?transport=udp'], turnSecret: SECRET, turnTtlMs: 600_000 };

let gw: TestGateway | undefined;
const open: TestAgent[] = [];
afterEach(async () => {
  for (const a of open.splice(0)) a.close();
  await gw?.close();
  gw = undefined;
});

async function agent(url: string): Promise<[TestAgent, Record<string, unknown>]> {
  const a = new TestAgent();
  open.push(a);
  const registered = await a.register(url);
  return [a, registered];
}

describe('ICE servers', () => {
  it('REGISTERED carries STUN and a TURN credential for the agent; GET_ICE_SERVERS renews it', async () => {
    const t0 = Date.now();
    const clock = manualClock(t0);
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) });
    gw = await startGateway({ ...TURN, logLevel: 'debug' }, { now: clock.now, logger: { level: 'debug', stream: sink } });
    const [a, registered] = await agent(gw.wsUrl);
    const [b, other] = await agent(gw.wsUrl);
    const expiry = Math.floor((t0 + 600_000) / 1000);
    const username = `${expiry}:${a.did}`;
    expect(registered).toMatchObject({
      ice_servers: [
        { urls: ['stun:stun.example.com:3478'] },
        { urls: ['turn:turn.example.com:3478?transport=udp'], username, credential: turnCredential(SECRET, username) },
      ],
      ice_servers_expires_at: expiry * 1000,
    });
    // Another agent gets its own username: a credential names one DID.
    expect((other.ice_servers as { username?: string }[])[1]?.username).toBe(`${expiry}:${b.did}`);

    // Later (REGISTERs are checked against this clock, so both agents registered first).
    clock.advance(500_000);
    a.send({ type: 'GET_ICE_SERVERS', id: 'ice-1' });
    const renewedExpiry = Math.floor((t0 + 500_000 + 600_000) / 1000);
    const renewed = `${renewedExpiry}:${a.did}`;
    expect(await a.next()).toEqual({
      type: 'ICE_SERVERS',
      ref: 'ice-1',
      ice_servers: [{ urls: ['stun:stun.example.com:3478'] }, { urls: ['turn:turn.example.com:3478?transport=udp'], username: renewed, credential: turnCredential(SECRET, renewed) }],
      expires_at: renewedExpiry * 1000,
    });
    expect(await a.barrier()).toEqual([]);
    expect(lines.join('')).not.toContain(SECRET);
  });

  it('without STUN_URLS / TURN_URLS: no ice_servers in REGISTERED, an empty ICE_SERVERS list', async () => {
    gw = await startGateway();
    const [a, registered] = await agent(gw.wsUrl);
    expect(registered).not.toHaveProperty('ice_servers');
    a.send({ type: 'GET_ICE_SERVERS' });
    expect(await a.next()).toEqual({ type: 'ICE_SERVERS', ref: null, ice_servers: [], expires_at: null });
  });

  it('refuses a malformed request with BAD_FRAME and counts it against the rate limit', async () => {
    // The burst covers REGISTER, the bad request and one good one.
    gw = await startGateway({ ...TURN, rateLimit: 1, rateBurst: 3 });
    const [a] = await agent(gw.wsUrl);
    a.send({ type: 'GET_ICE_SERVERS', id: 'x', extra: true });
    expect(await a.next()).toMatchObject({ type: 'ERROR', code: 'BAD_FRAME', ref: 'x' });
    a.send({ type: 'GET_ICE_SERVERS', id: 'y' });
    expect(await a.next()).toMatchObject({ type: 'ICE_SERVERS', ref: 'y' });
    a.send({ type: 'GET_ICE_SERVERS', id: 'z' });
    expect(await a.next()).toMatchObject({ type: 'ERROR', code: 'RATE_LIMITED' });
  });
});
