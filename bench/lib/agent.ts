/**
 * The benchmark's agents: Ed25519 keys from node:crypto, frames signed over the gateway's own JCS
 * canonicaliser (src/protocol/canonical.ts), and a lean `ws` client that does the real handshake
 * (CHALLENGE → signed REGISTER → REGISTERED) and then hands every inbound frame to one callback.
 */
import { createPrivateKey, createPublicKey, randomBytes, sign, type KeyObject } from 'node:crypto';
import WebSocket from 'ws';
import { didFromPublicKey } from '../../src/protocol/did-key.js';
import { signedBytes } from '../../src/protocol/canonical.js';

export interface AgentKeys {
  readonly did: string;
  readonly privateKey: KeyObject;
}

/**
 * A fresh Ed25519 identity: a random seed imported as PKCS#8 (a fixed 16-byte header, then the
 * seed), and the public key read back as JWK. ~40 µs a key on Node 22-26 (on Node 20's OpenSSL
 * ~0.4 ms).
 *
 * Not generateKeyPairSync + export({format:'jwk'}): on Node 20.20 that pair deadlocks now and
 * then when thousands of keys are made in a row (a GC during the JWK export runs the destructor
 * of an earlier KeyGenJob, which takes a mutex the export already holds; gdb: ExportJWKEdKey →
 * Heap::CollectGarbage → ~KeyGenJob → uv_mutex_lock), and the process hangs at 0 % CPU.
 * Not a JWK private key with a placeholder `x` (what this did before): Node 26 checks `x`
 * against `d` and refuses it ("Invalid JWK OKP key").
 */
export function newAgentKeys(): AgentKeys {
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, randomBytes(32)]), format: 'der', type: 'pkcs8' });
  const x = createPublicKey(privateKey).export({ format: 'jwk' }).x as string;
  return { did: didFromPublicKey(Buffer.from(x, 'base64url')), privateKey };
}

/** PKCS#8 for an Ed25519 private key (RFC 8410), up to the 32-byte seed that follows it. */
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** The wire text of `frame` signed by `keys` (key order of `frame` is kept; `sig` goes last). */
export function signFrameText(keys: AgentKeys, frame: Record<string, unknown>): string {
  const sig = sign(null, signedBytes(frame), keys.privateKey).toString('base64url');
  return JSON.stringify({ ...frame, sig });
}

/**
 * Signs `count` frames on the libuv threadpool (the callback form of crypto.sign), so pre-signing
 * uses every core. `make(i)` builds frame i. Resolves with the wire texts in order.
 */
export function signFramesAsync(
  count: number,
  make: (i: number) => { keys: AgentKeys; frame: Record<string, unknown> },
  inFlight = 256,
): Promise<string[]> {
  const out = new Array<string>(count);
  return new Promise((resolve, reject) => {
    if (count === 0) return resolve(out);
    let next = 0;
    let done = 0;
    let failed = false;
    const start = () => {
      const i = next++;
      const { keys, frame } = make(i);
      sign(null, signedBytes(frame), keys.privateKey, (err, sig) => {
        if (failed) return;
        if (err) {
          failed = true;
          return reject(err);
        }
        out[i] = JSON.stringify({ ...frame, sig: sig.toString('base64url') });
        if (++done === count) return resolve(out);
        if (next < count) start();
      });
    };
    for (let k = 0; k < Math.min(inFlight, count); k++) start();
  });
}

/** A typical trickled ICE candidate (~400-byte frame on the wire). */
const ICE_PAYLOAD = {
  candidate: 'candidate:842163049 1 udp 1677729535 203.0.113.7 49203 typ srflx raddr 10.0.0.12 rport 49203 generation 0 ufrag Fz3d network-cost 999',
  sdpMid: '0',
  sdpMLineIndex: 0,
  usernameFragment: 'Fz3d',
};

/** A small audio+data OFFER (~1.6 KB frame on the wire). */
const OFFER_PAYLOAD = {
  type: 'offer',
  sdp: [
    'v=0',
    'o=- 4611731400430051336 2 IN IP4 127.0.0.1',
    's=-',
    't=0 0',
    'a=group:BUNDLE 0 1',
    'a=extmap-allow-mixed',
    'a=msid-semantic: WMS',
    'm=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126',
    'c=IN IP4 0.0.0.0',
    'a=rtcp:9 IN IP4 0.0.0.0',
    'a=ice-ufrag:Fz3d',
    'a=ice-pwd:8gB2mT0wq3xVvJ9pYk1rZc7s',
    'a=ice-options:trickle',
    'a=fingerprint:sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08',
    'a=setup:actpass',
    'a=mid:0',
    'a=sendrecv',
    'a=rtcp-mux',
    'a=rtpmap:111 opus/48000/2',
    'a=rtcp-fb:111 transport-cc',
    'a=fmtp:111 minptime=10;useinbandfec=1',
    'm=application 9 UDP/DTLS/SCTP webrtc-datachannel',
    'c=IN IP4 0.0.0.0',
    'a=ice-ufrag:Fz3d',
    'a=ice-pwd:8gB2mT0wq3xVvJ9pYk1rZc7s',
    'a=ice-options:trickle',
    'a=fingerprint:sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08',
    'a=setup:actpass',
    'a=mid:1',
    'a=sctp-port:5000',
    'a=max-message-size:262144',
    '',
  ].join('\r\n'),
};

export type FrameKind = 'ice' | 'offer' | 'offer-small';

/** A minimal data-channel OFFER: the signed frame is ~420 bytes on the wire (the latency-tail scenario's frame). */
const SMALL_OFFER_PAYLOAD = {
  type: 'offer',
  sdp: 'v=0\r\no=- 4611731400 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n',
};

/**
 * A signaling frame (unsigned) from `from` to `to` with frame id `id`. `type` and `id` come first
 * on the wire, so a receiver finds the id at a fixed place without parsing JSON.
 */
export function signalingFrame(kind: FrameKind, id: string, from: string, to: string, ts: number): Record<string, unknown> {
  if (kind === 'ice') return { type: 'ICE', id, from, to, ts, payload: ICE_PAYLOAD };
  return { type: 'OFFER', id, from, to, ts, payload: kind === 'offer' ? OFFER_PAYLOAD : SMALL_OFFER_PAYLOAD };
}

/** The first bytes of every frame of `kind` on the wire: tells a delivered frame from an ERROR without parsing. */
export function wirePrefix(kind: FrameKind): Buffer {
  return Buffer.from(kind === 'ice' ? '{"type":"ICE",' : '{"type":"OFFER",');
}

/** A registered agent connection. `onData` receives every frame after REGISTERED (raw bytes). */
export interface AgentConn {
  readonly ws: WebSocket;
  readonly keys: AgentKeys;
  onData: (data: Buffer) => void;
}

const CLIENT_OPTIONS: WebSocket.ClientOptions = {
  perMessageDeflate: false,
  // The load generator trusts the gateway's UTF-8; skipping validation keeps client CPU down.
  skipUTF8Validation: true,
};

/** Opens a connection and completes the handshake; rejects (and terminates) on failure or after `timeoutMs`. */
export function registerAgent(url: string, keys: AgentKeys, timeoutMs = 15_000): Promise<AgentConn> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, CLIENT_OPTIONS);
    const conn: AgentConn = { ws, keys, onData: () => {} };
    let state: 'challenge' | 'registered' | 'open' = 'challenge';
    const timer = setTimeout(() => fail(new Error(`handshake timed out after ${timeoutMs} ms`)), timeoutMs);
    const fail = (err: Error) => {
      clearTimeout(timer);
      ws.terminate();
      reject(err);
    };
    ws.on('error', (err) => {
      if (state !== 'open') fail(err);
    });
    ws.on('close', (code) => {
      if (state !== 'open') fail(new Error(`closed with ${code} during the handshake`));
    });
    ws.on('message', (data: Buffer) => {
      if (state === 'open') return conn.onData(data);
      const frame = JSON.parse(data.toString()) as Record<string, unknown>;
      if (state === 'challenge' && frame.type === 'CHALLENGE') {
        state = 'registered';
        ws.send(signFrameText(keys, { type: 'REGISTER', did: keys.did, nonce: frame.nonce, aud: frame.gateway, ts: Date.now() }));
      } else if (state === 'registered' && frame.type === 'REGISTERED') {
        state = 'open';
        clearTimeout(timer);
        resolve(conn);
      } else {
        fail(new Error(`unexpected frame during the handshake: ${data.toString().slice(0, 200)}`));
      }
    });
  });
}
