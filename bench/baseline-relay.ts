/**
 * Baseline: the simplest relay that still does the gateway's essential per-frame work, on one
 * thread with a bare `ws` WebSocketServer (no Fastify, no schemas, no rate limiter, no replay
 * cache, no metrics):
 *
 *   JSON.parse → JCS canonical bytes (src/protocol/canonical.ts) → Ed25519 verify inline with
 *   node:crypto (KeyObject cached per connection) → forward the original bytes to the target.
 *
 * It speaks the real handshake (CHALLENGE → signed REGISTER → REGISTERED), so the same load
 * generator drives it and the gateway. The throughput ratio gateway ÷ this relay says what the
 * gateway's design buys (or costs) over "parse, verify inline, forward".
 *
 * With RELAY_VERIFY=none it skips the per-frame verification (REGISTER is still verified): the
 * bare relay, "parse and forward", that the latency-tail scenario compares the gateway with.
 * With RELAY_VERIFY=libsodium it verifies frames with the gateway's libsodium verifier
 * (src/identity/ed25519.ts) instead of node:crypto: the same relay with the gateway's faster
 * Ed25519, for a like-for-like ratio (`npm run bench:ab -- . --b-env RELAY_VERIFY=libsodium`).
 * With RELAY_VERIFY=gateway it verifies with whatever the gateway's default picks (libsodium
 * where sodium-native loads, else node:crypto): the latency-tail scenario's verifying relay.
 *
 * RELAY_SPIN_US=N adds N µs of busy CPU per frame where the verification would run (after the
 * sender check, before the lookup): a relay whose per-frame work costs exactly N µs more, to
 * measure how much CPU on a frame's path the tail can take before its p99 doubles
 * (`npm run bench -- --only tail --tail-spin-us 25,50` runs it beside the other targets).
 *
 * Same IPC contract as bench/server.ts: `ready` with the port, `stats`, `stop`.
 */
import { createPublicKey, randomBytes, verify, type KeyObject } from 'node:crypto';
import { WebSocketServer, type WebSocket } from 'ws';
import { ed25519Verifier } from '../src/identity/ed25519.js';
import { publicKeyFromDid } from '../src/protocol/did-key.js';
import { signedBytes } from '../src/protocol/canonical.js';
import { serveServerCommands, toParent } from './lib/ipc.js';
import { ReadLog } from './lib/read-log.js';

const GATEWAY_ID = 'baseline-relay';
const VERIFY_FRAMES = process.env.RELAY_VERIFY !== 'none';
const RELAY_VERIFIERS: Record<string, 'libsodium' | 'auto'> = { libsodium: 'libsodium', gateway: 'auto' };
const relayVerifier = RELAY_VERIFIERS[process.env.RELAY_VERIFY ?? ''];
/** The gateway's Ed25519 verifier when RELAY_VERIFY asks for it; null: node:crypto with a cached KeyObject. */
const gatewayVerifier = relayVerifier ? ed25519Verifier(relayVerifier) : null;
const SPIN_NS = BigInt(Math.round(Number(process.env.RELAY_SPIN_US ?? 0) * 1000));
const agents = new Map<string, WebSocket>();

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 65536, perMessageDeflate: false });
const reads = new ReadLog().watch(wss);

function sendError(ws: WebSocket, code: string, ref: unknown): void {
  ws.send(JSON.stringify({ type: 'ERROR', code, message: code, ref: typeof ref === 'string' ? ref : null }));
}

function keyOfDid(did: unknown): KeyObject | null {
  if (typeof did !== 'string') return null;
  const raw = publicKeyFromDid(did);
  if (!raw) return null;
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });
}

wss.on('connection', (ws) => {
  const nonce = randomBytes(32).toString('base64url');
  let did: string | undefined;
  let key: KeyObject | undefined;
  let rawKey: Uint8Array | undefined;
  ws.on('error', () => {});
  ws.on('close', () => {
    if (did !== undefined && agents.get(did) === ws) agents.delete(did);
  });
  ws.on('message', (data: Buffer) => {
    let frame: Record<string, unknown>;
    try {
      frame = JSON.parse(data.toString()) as Record<string, unknown>;
    } catch {
      return sendError(ws, 'BAD_FRAME', null);
    }
    if (frame === null || typeof frame !== 'object' || typeof frame.sig !== 'string') return sendError(ws, 'BAD_FRAME', null);
    const sig = Buffer.from(frame.sig, 'base64url');

    if (key === undefined) {
      // Simplified REGISTER: the nonce and the signature by the DID's key.
      const candidate = frame.type === 'REGISTER' && frame.nonce === nonce ? keyOfDid(frame.did) : null;
      if (!candidate || !verify(null, signedBytes(frame), candidate, sig)) {
        sendError(ws, 'AUTH_FAILED', null);
        return ws.close(4401);
      }
      key = candidate;
      did = frame.did as string;
      rawKey = publicKeyFromDid(did) ?? undefined;
      agents.get(did)?.close(4409);
      agents.set(did, ws);
      ws.send(JSON.stringify({ type: 'REGISTERED', did, session: randomBytes(12).toString('base64url'), heartbeat_ms: 30000, agent_timeout_ms: 300000 }));
      return;
    }

    if (frame.from !== did) return sendError(ws, 'SENDER_MISMATCH', frame.id);
    if (VERIFY_FRAMES && !(gatewayVerifier ? gatewayVerifier.verify(rawKey as Uint8Array, signedBytes(frame), sig) : verify(null, signedBytes(frame), key, sig))) {
      return sendError(ws, 'BAD_SIGNATURE', frame.id);
    }
    if (SPIN_NS > 0n) {
      const until = process.hrtime.bigint() + SPIN_NS;
      while (process.hrtime.bigint() < until);
    }
    const target = agents.get(frame.to as string);
    if (!target) return sendError(ws, 'AGENT_NOT_FOUND', frame.id);
    target.send(data, { binary: false });
  });
  ws.send(JSON.stringify({ type: 'CHALLENGE', protocol: 'aiconexus/1', gateway: GATEWAY_ID, nonce, expires_in_ms: 10000 }));
});

wss.on('listening', () => {
  const address = wss.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  serveServerCommands({
    stop: () =>
      new Promise<void>((resolve) => {
        for (const ws of wss.clients) ws.terminate();
        wss.close(() => resolve());
      }),
    connections: () => wss.clients.size,
    reads,
  });
  toParent({ type: 'ready', port: address.port, pid: process.pid });
});
