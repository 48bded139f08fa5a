/**
 * Demo: two agents behind symmetric NATs reach each other through TURN, with the credentials the
 * gateway hands out. Builds the same network-namespace lab as test/nat/nat-turn.test.ts (a public
 * network with the gateway and coturn, two NAT routers with `masquerade fully-random`, an agent
 * behind each), then:
 *   1. shows each agent's private address and the address the outside sees (its router's);
 *   2. tries with STUN only: no connection (the NATs' mappings defeat hole punching);
 *   3. tries with the gateway's ice_servers (STUN + TURN): a data channel over the relay, echo.
 * Removes everything it created on exit, Ctrl-C included. Needs root (network namespaces).
 *
 *   npm run demo:nat                         (as root; or: sudo env "PATH=$PATH" npm run demo:nat)
 *
 * Exits 0 when step 3 connects through the relay and step 2 did not connect; 1 otherwise.
 */
import type { AgentEvent } from '../test/nat/agent.js';
import { reflexiveAddress, runAgentPair, startNatLab, type NatLab } from '../test/nat/lab.js';
import { ADDR, removeOwnNamespaces, topologyUnavailable } from '../test/nat/topology.js';

const STUN_BOUND_MS = 12_000;
const t0 = Date.now();
const say = (line: string) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s] ${line}`);

/** One human line per agent event. */
function narrate(who: 'agent1' | 'agent2', e: AgentEvent): void {
  const name = who === 'agent1' ? 'agent1 (offers) ' : 'agent2 (answers)';
  switch (e.event) {
    case 'registered':
      return say(`${name} registered as ${e.did.slice(0, 24)}…; ICE servers from the gateway: ${e.iceUrls.join(', ') || 'none'}`);
    case 'candidates': {
      const list = e.local.map((l) => l.split(' ')).map((f) => `${f[7]} ${f[4]}:${f[5]}`);
      return say(`${name} candidates: ${list.join(', ')}`);
    }
    case 'ice':
      return say(`${name} ICE ${e.state}`);
    case 'connected':
      return say(`${name} data channel open${who === 'agent1' ? ` ${e.ms} ms after the OFFER` : ''}, selected pair: local ${e.local.type} ${e.local.address}:${e.local.port} ↔ remote ${e.remote.type} ${e.remote.address}:${e.remote.port}`);
    case 'echo':
      return say(`${name} sent "${e.sent}", echoed back: "${e.received}"`);
    case 'failed':
      return say(`${name} gave up: ${e.reason}`);
    case 'done':
      return say(`${name} done`);
  }
}

// A closed stdout (`… | head`) must not kill the demo before it has cleaned up.
process.stdout.on('error', () => {});

let lab: NatLab | undefined;
let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    say('cleaning up: stopping coturn and the gateway, deleting the namespaces');
    await lab?.stop();
    // An interrupt during set-up: namespaces may exist that no lab object holds yet.
    await removeOwnNamespaces();
  })();
  return cleaning;
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    say(`${signal}: interrupted`);
    void cleanup().finally(() => process.exit(130));
  });
}

async function main(): Promise<boolean> {
  say('building the lab: public network 198.51.100.0/24 (gateway + coturn), two NAT routers, one agent behind each');
  lab = await startNatLab({ log: say });

  say('— step 1: who is where');
  const { ns } = lab.topology;
  const [r1, r2] = await Promise.all([reflexiveAddress(ns.agent1), reflexiveAddress(ns.agent2)]);
  say(`agent1: private ${ADDR.agent1}, seen from outside (STUN) as ${r1}  ← its router ${ADDR.router1}`);
  say(`agent2: private ${ADDR.agent2}, seen from outside (STUN) as ${r2}  ← its router ${ADDR.router2}`);

  say(`— step 2: STUN only (no relay), ${STUN_BOUND_MS / 1000} s to connect`);
  const stun = await runAgentPair(lab, 'stun', { timeoutMs: STUN_BOUND_MS, onEvent: narrate });
  const stunConnected = stun.offer.find('connected') !== undefined;
  say(
    stunConnected
      ? 'STUN only connected: unexpected, the NATs are not symmetric'
      : 'STUN only: no connection, as expected: each NAT maps every new destination to a new random port, so the reflexive addresses are useless to the peer',
  );

  say('— step 3: the ice_servers the gateway hands out (STUN + TURN with a credential bound to the agent DID)');
  const turn = await runAgentPair(lab, 'gateway', { timeoutMs: 20_000, onEvent: narrate });
  const pair = turn.offer.find('connected');
  const echo = turn.offer.find('echo');
  const relayed = pair !== undefined && (pair.local.type === 'relay' || pair.remote.type === 'relay');
  const ok = !stunConnected && relayed && echo !== undefined && echo.received === echo.sent;
  say(ok ? 'connected through the TURN relay at 198.51.100.1 and echoed: success' : 'the TURN attempt did not connect through the relay: failure');
  return ok;
}

const why = topologyUnavailable();
if (why !== null) {
  console.error(`demo:nat needs root, iproute2 and nftables to build network namespaces: ${why}.\nRun it as root: npm run demo:nat (or: sudo env "PATH=$PATH" npm run demo:nat)`);
  process.exit(1);
}

let ok = false;
try {
  ok = await main();
} catch (err) {
  say(`failed: ${(err as Error).message}`);
} finally {
  await cleanup();
  say('everything removed');
}
process.exit(ok ? 0 : 1);
