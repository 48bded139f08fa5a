/**
 * One agent of the NAT lab (test/nat/lab.ts), run inside an agent namespace:
 *
 *   ip netns exec <agentNs> node --import tsx test/nat/agent.ts
 *
 * It registers with the gateway over the NAT with the client SDK, takes the ICE servers from
 * REGISTERED (client.iceServers; in ICE_MODE=stun only the STUN entries), and opens a werift data
 * channel with PEER_DID, signaling OFFER / ANSWER / ICE through the gateway. The offerer sends one
 * message and expects it back; the answerer echoes. Everything it learns goes to stdout as one
 * JSON object per line (AgentEvent), so the parent waits on events instead of sleeping.
 *
 * Environment: GATEWAY_URL, AGENT_KEY (private JWK, JSON), PEER_DID, ROLE (offer | answer),
 * ICE_MODE (gateway | stun), TIMEOUT_MS (bound of the whole run; default 20000).
 * Exit status 0 after a successful echo (offerer) or the peer's BYE (answerer), 1 otherwise.
 */
import { RTCPeerConnection, type RTCDataChannel, type RTCStatsReport } from 'werift';
import { GatewayClient, importJwk } from '../../src/client/index.js';
import { channelOpen, nextMessage, weriftIceServers, withTimeout } from '../../examples/webrtc-pair.js';
import { PeerLink } from '../../examples/webrtc-signaling.js';

/** A candidate of the selected pair, from getStats(). */
export interface PairEnd {
  type: string;
  address: string;
  port: number;
}

/** One stdout line of the agent. */
export type AgentEvent =
  | { event: 'registered'; did: string; iceUrls: string[] }
  | { event: 'candidates'; local: string[] }
  | { event: 'ice'; state: string }
  | { event: 'connected'; ms: number; local: PairEnd; remote: PairEnd }
  | { event: 'echo'; sent: string; received: string }
  | { event: 'failed'; reason: string }
  | { event: 'done' };

function emit(e: AgentEvent): void {
  process.stdout.write(`${JSON.stringify(e)}\n`);
}

function env(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Error(`${name} is not set`);
  return value;
}

/** The selected candidate pair: the transport's selectedCandidatePairId, else the nominated pair. */
function selectedPair(report: RTCStatsReport): { local: PairEnd; remote: PairEnd } | null {
  const all = [...report.values()] as unknown as Array<Record<string, unknown>>;
  const transport = all.find((s) => s.type === 'transport' && typeof s.selectedCandidatePairId === 'string');
  const pair =
    all.find((s) => s.type === 'candidate-pair' && s.id === transport?.selectedCandidatePairId) ??
    all.find((s) => s.type === 'candidate-pair' && s.nominated === true);
  if (pair === undefined) return null;
  const end = (id: unknown): PairEnd => {
    const c = all.find((s) => s.id === id) ?? {};
    return { type: String(c.candidateType), address: String(c.address), port: Number(c.port) };
  };
  return { local: end(pair.localCandidateId), remote: end(pair.remoteCandidateId) };
}

async function main(): Promise<void> {
  const role = env('ROLE');
  const mode = env('ICE_MODE');
  const peer = env('PEER_DID');
  const deadline = Date.now() + Number(process.env.TIMEOUT_MS ?? 20_000);
  const left = () => Math.max(1, deadline - Date.now());

  const client = new GatewayClient({ url: env('GATEWAY_URL'), key: importJwk(JSON.parse(env('AGENT_KEY'))), meta: { name: `nat-${role}` }, reconnect: false });
  client.on('error', (err) => emit({ event: 'failed', reason: `gateway: ${err.message}` }));
  await withTimeout(client.connect(), left(), 'REGISTERED');

  // The gateway's ICE servers (STUN and a TURN credential bound to our DID); STUN-only mode
  // keeps just the stun: URLs, to show that without the relay the NATs cannot be crossed.
  const servers = client.iceServers
    .map((s) => (mode === 'stun' ? { urls: s.urls.filter((u) => u.startsWith('stun:')) } : s))
    .filter((s) => s.urls.length > 0);
  emit({ event: 'registered', did: client.did, iceUrls: servers.flatMap((s) => s.urls) });

  // iceUseIpv6 off: the namespaces have only IPv6 link-local addresses, noise for ICE here.
  const pc = new RTCPeerConnection({ iceServers: weriftIceServers(servers), iceUseIpv6: false });
  const link = new PeerLink(client, pc, peer, { onError: (err) => emit({ event: 'failed', reason: `signaling: ${err.message}` }) });
  let checking = false;
  const iceFailed = new Promise<never>((_, reject) =>
    pc.iceConnectionStateChange.subscribe((state) => {
      // werift reports "completed" when gathering ends, before any check: not an ICE result.
      checking ||= state === 'checking';
      if (checking) emit({ event: 'ice', state });
      if (state === 'failed') reject(new Error('ICE failed'));
    }),
  );
  // The peer gave up (it sends BYE when it fails): stop waiting for it.
  const peerGone = link.remoteBye.then((reason) => Promise.reject(new Error(`the peer hung up (${reason ?? 'no reason'})`)));
  // Both are raced below; an unobserved rejection must not end the process.
  iceFailed.catch(() => {});
  peerGone.catch(() => {});
  pc.iceGatheringStateChange.subscribe((state) => {
    if (state === 'complete') emit({ event: 'candidates', local: pc.localDescription?.sdp.split('\r\n').filter((l) => l.startsWith('a=candidate:')) ?? [] });
  });

  try {
    const started = Date.now();
    let channel: RTCDataChannel;
    if (role === 'offer') {
      channel = pc.createDataChannel('echo');
      await link.call();
    } else {
      channel = await withTimeout(Promise.race([new Promise<RTCDataChannel>((resolve) => pc.onDataChannel.subscribe(resolve)), iceFailed, peerGone]), left(), 'the data channel');
      // Echo from the start: the peer may send as soon as the channel opens on its side.
      const answering = channel;
      answering.onMessage.subscribe((data) => answering.send(typeof data === 'string' ? data : data.toString('utf8')));
    }
    await withTimeout(Promise.race([channelOpen(channel), iceFailed, peerGone]), left(), 'the data channel to open');
    const pair = selectedPair(await pc.getStats());
    if (pair === null) throw new Error('connected, but getStats() has no selected candidate pair');
    emit({ event: 'connected', ms: Date.now() - started, ...pair });

    if (role === 'offer') {
      const sent = `ping ${Math.random().toString(36).slice(2)}`;
      const reply = nextMessage(channel);
      channel.send(sent);
      emit({ event: 'echo', sent, received: await withTimeout(reply, left(), 'the echo') });
      link.hangUp('done');
    } else {
      await withTimeout(link.remoteBye, left(), 'the BYE');
    }
    emit({ event: 'done' });
  } catch (err) {
    emit({ event: 'failed', reason: (err as Error).message });
    process.exitCode = 1;
    link.hangUp('failed');
  } finally {
    link.dispose();
    await pc.close().catch(() => {});
    await client.close().catch(() => {});
  }
}

main().then(
  // werift (0.24) leaves its TURN allocation-refresh timer pending after pc.close() (minutes
  // long): leave once everything is reported.
  () => process.exit(),
  (err: unknown) => {
    emit({ event: 'failed', reason: (err as Error).message });
    process.exit(1);
  },
);
