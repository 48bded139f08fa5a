/**
 * Two agents behind real NATs connect through TURN with the credentials the gateway hands out.
 *
 * test/nat/topology.ts builds namespaces: a public one (bridge 198.51.100.1/24) running the real
 * gateway (src/server.ts, TURN_URLS / TURN_SECRET / STUN_URLS) and a real coturn; two routers
 * masquerading with `fully-random` (symmetric NATs, no hole punching possible); an agent behind
 * each. Each agent (test/nat/agent.ts) is a separate process in its namespace: client SDK to the
 * gateway over the NAT, werift RTCPeerConnection with client.iceServers.
 *
 * Needs root, iproute2, nftables and coturn; without them it fails with the reason (it never
 * skips). Everything it creates is removed in afterAll, and a killed earlier run's namespaces are
 * removed before it starts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair, didFromKey } from '../../src/client/index.js';
import { turnCredential } from '../../src/ice-servers.js';
import { reflexiveAddress, runAgentPair, startNatLab, tryAllocation, STUN_URL, TURN_URL, type NatLab } from './lab.js';
import { ADDR } from './topology.js';

/** STUN-only must not connect within this (the TURN pair connects in well under a second). */
const STUN_BOUND_MS = 12_000;

let lab: NatLab | undefined;

beforeAll(async () => {
  lab = await startNatLab();
}, 40_000);

afterAll(async () => {
  await lab?.stop();
}, 20_000);

function theLab(): NatLab {
  if (lab === undefined) throw new Error('the NAT lab did not start');
  return lab;
}

describe('agents behind symmetric NATs (network namespaces, nftables masquerade fully-random)', () => {
  it('the NAT is real: each agent is seen from outside as its router, not its private address', async () => {
    const { ns } = theLab().topology;
    const [r1, r2] = await Promise.all([reflexiveAddress(ns.agent1), reflexiveAddress(ns.agent2)]);
    expect(r1.split(':')[0]).toBe(ADDR.router1);
    expect(r2.split(':')[0]).toBe(ADDR.router2);
  });

  it('with the gateway’s ice_servers they open a data channel over a TURN relay and echo', async () => {
    const { offer, answer } = await runAgentPair(theLab(), 'gateway', { timeoutMs: 20_000 });
    const why = `offerer: ${JSON.stringify(offer.events)}\n${offer.stderr}\nanswerer: ${JSON.stringify(answer.events)}\n${answer.stderr}\nturnserver:\n${theLab().turnLog().slice(-1500)}`;

    // Both got STUN and TURN from REGISTERED (the TURN entry with the DID-bound credential).
    expect(offer.find('registered')?.iceUrls, why).toEqual([STUN_URL, TURN_URL]);
    expect(answer.find('registered')?.iceUrls, why).toEqual([STUN_URL, TURN_URL]);

    // Each agent's server-reflexive candidate is its router's public address (the NAT at work).
    const srflx = (lines: string[] | undefined) => (lines ?? []).filter((l) => l.includes(' typ srflx ')).map((l) => l.split(' ')[4]);
    expect(srflx(offer.find('candidates')?.local), why).toContain(ADDR.router1);
    expect(srflx(answer.find('candidates')?.local), why).toContain(ADDR.router2);

    expect(offer.find('echo'), why).toEqual({ event: 'echo', sent: expect.stringMatching(/^ping /), received: offer.find('echo')?.sent });
    expect(offer.code, why).toBe(0);
    expect(answer.code, why).toBe(0);

    // The selected pair goes through the relay: one side's candidate at least is coturn's.
    for (const run of [offer, answer]) {
      const c = run.find('connected');
      expect(c, why).toBeDefined();
      const types = [c?.local.type, c?.remote.type];
      expect(types, why).toContain('relay');
      const relayEnd = c?.local.type === 'relay' ? c.local : c?.remote;
      expect(relayEnd?.address, why).toBe(ADDR.public);
    }
  }, 30_000);

  it('with STUN only (no relay) the same pair does not connect', async () => {
    const { offer, answer } = await runAgentPair(theLab(), 'stun', { timeoutMs: STUN_BOUND_MS });
    const why = `offerer: ${JSON.stringify(offer.events)}\nanswerer: ${JSON.stringify(answer.events)}`;
    expect(offer.find('registered')?.iceUrls, why).toEqual([STUN_URL]);
    // ICE did run (candidates exchanged, checks started) and got nowhere.
    expect(offer.find('ice')?.state, why).toBe('checking');
    expect(offer.find('connected'), why).toBeUndefined();
    expect(answer.find('connected'), why).toBeUndefined();
    expect(offer.find('failed'), why).toBeDefined();
    expect(offer.code).toBe(1);
  }, STUN_BOUND_MS + 15_000);

  it('coturn refuses an expired credential and one made with another secret', async () => {
    const { ns } = theLab().topology;
    const did = didFromKey(generateKeyPair());
    const now = Math.floor(Date.now() / 1000);
    const valid = `${now + 600}:${did}`;
    const expired = `${now - 60}:${did}`;
    const [good, old, forged] = await Promise.all([
      tryAllocation(ns.agent1, valid, turnCredential(theLab().turnSecret, valid)),
      tryAllocation(ns.agent1, expired, turnCredential(theLab().turnSecret, expired)),
      tryAllocation(ns.agent2, valid, turnCredential('another-secret-0123456789', valid)),
    ]);
    // The control: the same secret and a live expiry allocate (through the NAT), so the two
    // refusals below are about the credential, not about reachability.
    expect(good.allocated, good.output).toBe(true);
    expect(old.allocated, old.output).toBe(false);
    expect(old.output).toContain('Cannot complete Allocation');
    expect(forged.allocated, forged.output).toBe(false);
    expect(forged.output).toContain('Cannot complete Allocation');
  }, 30_000);
});
