/**
 * Two agents open a real WebRTC data channel, negotiated through the gateway: A offers, B answers,
 * both trickle ICE candidates, then "hello from A" goes over the channel and B replies. Peer to
 * peer media never touches the gateway; only the signed OFFER / ANSWER / ICE / BYE frames do.
 *
 *   npx tsx examples/webrtc-pair.ts                               # starts its own gateway on 127.0.0.1
 *   npx tsx examples/webrtc-pair.ts --url ws://127.0.0.1:8000/ws  # uses a running gateway
 *
 * Both agents use werift (WebRTC in pure TypeScript). When the gateway hands out ICE servers
 * (STUN_URLS / TURN_URLS: client.iceServers after REGISTERED), each agent's RTCPeerConnection uses
 * them, TURN credential included, so the pair also connects across NATs; without them ICE is kept
 * on 127.0.0.1 (no STUN/TURN), enough for two agents on one machine.
 * In your own project, import from 'aiconexus-gateway/client' instead of '../src/client/index.js'.
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { RTCPeerConnection, type RTCDataChannel, type RTCIceServer } from 'werift';
import { GatewayClient, generateKeyPair, type IceServer, type SignalFrame } from '../src/client/index.js';
import { loopbackPeerConnection, PeerLink } from './webrtc-signaling.js';

export interface PairResult {
  /** What B received on the data channel. */
  atB: string;
  /** What A received on the data channel. */
  atA: string;
  /** Milliseconds from the OFFER to the open data channel. */
  connectMs: number;
}

export interface PairOptions {
  /** The gateway's WebSocket URL. */
  url: string;
  /** Bound of the whole exchange, in ms. Default 15000. */
  timeoutMs?: number;
  log?: (line: string) => void;
  /** Sees every verified signaling frame an agent receives (`at` = the receiver). */
  observe?: (at: 'A' | 'B', frame: SignalFrame) => void;
}

/**
 * The gateway's ICE servers (client.iceServers) for werift: one entry per URL with `urls` a
 * string, the plain RTCIceServer form (werift then uses the first stun: and the first turn: URL,
 * each with its own entry's credential).
 */
export function weriftIceServers(servers: readonly IceServer[]): RTCIceServer[] {
  return servers.flatMap(({ urls, username, credential }) =>
    urls.map((url) => ({ urls: url, ...(username === undefined ? {} : { username }), ...(credential === undefined ? {} : { credential }) })),
  );
}

/**
 * The RTCPeerConnection for an agent: with the gateway's ICE servers when it has some (STUN and
 * TURN work across NATs), otherwise one that stays on 127.0.0.1.
 */
export function peerConnectionFor(client: GatewayClient): RTCPeerConnection {
  return client.iceServers.length > 0 ? new RTCPeerConnection({ iceServers: weriftIceServers(client.iceServers) }) : loopbackPeerConnection();
}

/** Rejects after `ms` unless `promise` settles first. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The next message of a werift data channel, as text. */
export function nextMessage(channel: RTCDataChannel): Promise<string> {
  return new Promise((resolve) => {
    const { unSubscribe } = channel.onMessage.subscribe((data) => {
      unSubscribe();
      resolve(typeof data === 'string' ? data : data.toString('utf8'));
    });
  });
}

/** Resolves when a werift data channel is open. */
export function channelOpen(channel: RTCDataChannel): Promise<void> {
  if (channel.readyState === 'open') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const { unSubscribe } = channel.stateChanged.subscribe((state) => {
      if (state === 'open') {
        unSubscribe();
        resolve();
      } else if (state === 'closed') {
        unSubscribe();
        reject(new Error(`data channel ${channel.label} closed before opening`));
      }
    });
  });
}

/**
 * Runs the A ↔ B exchange against the gateway at `url` and closes everything it opened (BYE,
 * both RTCPeerConnections, both clients), whether it succeeds or not.
 */
export async function runPair({ url, timeoutMs = 15_000, log = () => {}, observe }: PairOptions): Promise<PairResult> {
  const deadline = Date.now() + timeoutMs;
  const left = () => Math.max(1, deadline - Date.now());
  const clientA = new GatewayClient({ url, key: generateKeyPair(), meta: { name: 'webrtc-a' }, reconnect: false });
  const clientB = new GatewayClient({ url, key: generateKeyPair(), meta: { name: 'webrtc-b' }, reconnect: false });
  const pcs: RTCPeerConnection[] = [];
  const links: PeerLink[] = [];
  const gatewayErrors: Error[] = [];
  clientA.on('error', (err) => gatewayErrors.push(err));
  clientB.on('error', (err) => gatewayErrors.push(err));
  if (observe) {
    clientA.on('signal', (frame) => observe('A', frame));
    clientB.on('signal', (frame) => observe('B', frame));
  }
  try {
    await withTimeout(Promise.all([clientA.connect(), clientB.connect()]), left(), 'both agents to register');
    log(`A ${clientA.did}\nB ${clientB.did}`);

    // Created after REGISTERED, which carries the ICE servers.
    const pcA = peerConnectionFor(clientA);
    const pcB = peerConnectionFor(clientB);
    pcs.push(pcA, pcB);
    const loopbackOnly = clientA.iceServers.length === 0;
    if (!loopbackOnly) log(`ICE servers from the gateway: ${clientA.iceServers.flatMap((s) => s.urls).join(', ')}`);
    const linkA = new PeerLink(clientA, pcA, clientB.did, { loopbackOnly });
    const linkB = new PeerLink(clientB, pcB, clientA.did, { loopbackOnly });
    links.push(linkA, linkB);

    // B: the channel A opens arrives as a 'datachannel'; B answers the first message.
    const channelAtB = new Promise<RTCDataChannel>((resolve) => pcB.onDataChannel.subscribe(resolve));
    const receivedAtB = channelAtB.then(async (channel) => {
      const text = await nextMessage(channel);
      channel.send('hello from B');
      return text;
    });

    const channelA = pcA.createDataChannel('chat');
    const started = Date.now();
    await linkA.call();
    log('A sent OFFER');
    await withTimeout(channelOpen(channelA), left(), 'the data channel to open at A');
    const connectMs = Date.now() - started;
    log(`data channel open after ${connectMs} ms`);

    const receivedAtA = nextMessage(channelA);
    channelA.send('hello from A');
    const atB = await withTimeout(receivedAtB, left(), 'the message at B');
    const atA = await withTimeout(receivedAtA, left(), 'the reply at A');
    log(`B got "${atB}", A got "${atA}"`);

    const problems = [...linkA.errors, ...linkB.errors, ...gatewayErrors];
    if (problems.length > 0) throw new AggregateError(problems, `signaling errors: ${problems.map((e) => e.message).join('; ')}`);

    // A hangs up; B closes its side when the BYE arrives.
    linkA.hangUp('done');
    await withTimeout(linkB.remoteBye, left(), 'the BYE at B');
    return { atB, atA, connectMs };
  } finally {
    for (const link of links) link.dispose();
    await Promise.allSettled(pcs.map((pc) => pc.close()));
    await Promise.allSettled([clientA.close(), clientB.close()]);
  }
}

// Run as a script: `npx tsx examples/webrtc-pair.ts [--url ws://…]`.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({ options: { url: { type: 'string' }, timeout: { type: 'string' } } });
  let stopGateway: (() => Promise<unknown>) | undefined;
  let url = values.url ?? process.env.GATEWAY_URL;
  if (url === undefined) {
    // No gateway given: run one in this process on a free loopback port.
    const { buildApp } = await import('../src/app.js');
    const { configWith } = await import('../src/config.js');
    const app = await buildApp(configWith({ host: '127.0.0.1', port: 0, logLevel: 'warn' }), { processMetrics: false });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address();
    if (address === null || typeof address === 'string') throw new Error('gateway has no TCP address');
    url = `ws://127.0.0.1:${address.port}/ws`;
    stopGateway = () => app.close();
    console.error(`started a gateway at ${url}`);
  }
  try {
    const result = await runPair({ url, timeoutMs: Number(values.timeout ?? 15_000), log: (line) => console.error(line) });
    console.log(JSON.stringify(result));
  } catch (err) {
    console.error(`failed: ${(err as Error).message}`);
    process.exitCode = 1;
  } finally {
    await stopGateway?.();
  }
  // With a TURN server, werift (0.24) leaves its allocation-refresh timer pending after
  // pc.close() (minutes long): without this the process would linger after its work is done.
  process.exit();
}
