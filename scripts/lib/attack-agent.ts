/**
 * Agents for `npm run attack` (scripts/attack.ts and its worker processes), self-contained: they
 * import nothing from src/, so the harness keeps working while the gateway's code changes under it.
 *
 * Identities are made with @noble/ed25519 (as test/helpers/agent.ts does); frames are signed over
 * RFC 8785 canonical JSON from the `canonicalize` package with node:crypto (the same key, imported
 * as a JWK), which is several times faster than noble for the 64 KB frames some scenarios send.
 * The handshake is the real one: CHALLENGE → signed REGISTER → REGISTERED (docs/protocol.md §4).
 */
import { createPrivateKey, sign, type KeyObject } from 'node:crypto';
import { createRequire } from 'node:module';
import * as ed from '@noble/ed25519';
import { sha512 } from '@noble/hashes/sha2.js';
import { base58 } from '@scure/base';
import WebSocket from 'ws';

ed.hashes.sha512 = sha512;

/** RFC 8785 canonical JSON (`canonicalize` is CommonJS). */
const jcs = createRequire(import.meta.url)('canonicalize') as (input: unknown) => string | undefined;

export interface Identity {
  readonly did: string;
  readonly privateKey: KeyObject;
}

/** A fresh random Ed25519 identity and its did:key (docs/protocol.md §2). */
export function newIdentity(): Identity {
  const secretKey = ed.utils.randomSecretKey();
  const publicKey = ed.getPublicKey(secretKey);
  const bytes = new Uint8Array(34);
  bytes[0] = 0xed;
  bytes[1] = 0x01;
  bytes.set(publicKey, 2);
  const privateKey = createPrivateKey({
    key: { kty: 'OKP', crv: 'Ed25519', d: Buffer.from(secretKey).toString('base64url'), x: Buffer.from(publicKey).toString('base64url') },
    format: 'jwk',
  });
  return { did: `did:key:z${base58.encode(bytes)}`, privateKey };
}

/** Wire text of `canonical` (the JCS text of a frame without `sig`) with its signature appended. */
function withSig(identity: Identity, canonical: string): string {
  const sig = sign(null, Buffer.from(canonical, 'utf8'), identity.privateKey).toString('base64url');
  return `${canonical.slice(0, -1)},"sig":"${sig}"}`;
}

/** The wire text of `frame` signed by `identity` (any key order is valid on the wire). */
export function signedText(identity: Identity, frame: Record<string, unknown>): string {
  return withSig(identity, jcs(frame) as string);
}

/**
 * `meta` of exactly `bytes` bytes as JSON (≤ 4096 is accepted): a name, two capabilities and a
 * filler field.
 */
export function paddedMeta(name: string, bytes: number, capabilities = ['attack-filler', 'llm:chat']): Record<string, unknown> {
  const meta = { name, capabilities, filler: '' };
  const base = Buffer.byteLength(JSON.stringify(meta));
  meta.filler = 'x'.repeat(Math.max(0, bytes - base));
  return meta;
}

/** An SDP-looking string of exactly `chars` characters (CRLF line ends, the rest one long attribute). */
export function sdpOf(chars: number): string {
  const head = 'v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=x-attack:';
  const tail = '\r\n';
  return head + 'A'.repeat(Math.max(0, chars - head.length - tail.length)) + tail;
}

/**
 * Signed OFFERs from `from` to `to`, built fast: the canonical text is assembled around the
 * payload's canonical text (computed once), so a frame costs one signature and a string concat.
 * With `frameBytes`, an extra payload field pads every frame to exactly that many bytes.
 */
export class OfferFactory {
  private readonly payloadText: string;
  private seq = 0;
  readonly frameBytes: number;

  constructor(
    private readonly from: Identity,
    private readonly to: string,
    sdpChars: number,
    frameBytes?: number,
    private readonly idPrefix = 'o',
  ) {
    const sdp = sdpOf(sdpChars);
    let payloadText = jcs({ type: 'offer', sdp }) as string;
    const probe = this.canonical(payloadText, 0, Date.now());
    const unpadded = probe.length - 1 + `,"sig":"${'A'.repeat(86)}"}`.length;
    if (frameBytes !== undefined && frameBytes > unpadded) {
      const padOverhead = `"pad":"",`.length;
      const pad = 'P'.repeat(Math.max(0, frameBytes - unpadded - padOverhead));
      payloadText = jcs({ type: 'offer', sdp, pad }) as string;
    }
    this.payloadText = payloadText;
    this.frameBytes = this.canonical(payloadText, 0, Date.now()).length - 1 + `,"sig":"${'A'.repeat(86)}"}`.length;
  }

  /** Fixed-width ids (so every frame has the same size). */
  private canonical(payloadText: string, seq: number, ts: number): string {
    const id = `${this.idPrefix}-${String(seq).padStart(10, '0')}`;
    // JCS key order: from, id, payload, to, ts, type.
    return `{"from":${JSON.stringify(this.from.did)},"id":"${id}","payload":${payloadText},"to":${JSON.stringify(this.to)},"ts":${ts},"type":"OFFER"}`;
  }

  /** The next signed frame (fresh id, ts = now). */
  next(): string {
    return withSig(this.from, this.canonical(this.payloadText, ++this.seq, Date.now()));
  }

  /** The next signed frame, signed on the libuv threadpool. */
  nextAsync(): Promise<string> {
    const canonical = this.canonical(this.payloadText, ++this.seq, Date.now());
    return new Promise((resolve, reject) =>
      sign(null, Buffer.from(canonical, 'utf8'), this.from.privateKey, (err, sig) =>
        err ? reject(err) : resolve(`${canonical.slice(0, -1)},"sig":"${sig.toString('base64url')}"}`),
      ),
    );
  }
}

export interface ConnectOptions {
  meta?: Record<string, unknown>;
  /** Source address of the TCP connection (a loopback address). */
  localAddress?: string;
  timeoutMs?: number;
}

export interface AgentSocket {
  readonly ws: WebSocket;
  readonly identity: Identity;
  /** Called with every frame after REGISTERED (raw bytes; not parsed). */
  onData: (data: Buffer) => void;
  /** Resolves when the connection closes (after REGISTERED). */
  readonly closed: Promise<{ code: number; reason: string; at: number }>;
}

/**
 * Opens a WebSocket to `url` and registers `identity`; rejects (and terminates the socket) on a
 * refused upgrade, a close, an unexpected frame, or after `timeoutMs`.
 */
export function connectAgent(url: string, identity: Identity, opts: ConnectOptions = {}): Promise<AgentSocket> {
  const timeoutMs = opts.timeoutMs ?? 15_000;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, {
      perMessageDeflate: false,
      skipUTF8Validation: true,
      handshakeTimeout: timeoutMs,
      ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
    });
    let resolveClosed: (c: { code: number; reason: string; at: number }) => void = () => {};
    const closed = new Promise<{ code: number; reason: string; at: number }>((r) => (resolveClosed = r));
    const agent: AgentSocket = { ws, identity, onData: () => {}, closed };
    let state: 'challenge' | 'register' | 'open' | 'failed' = 'challenge';
    const fail = (err: Error) => {
      if (state === 'open' || state === 'failed') return;
      state = 'failed';
      clearTimeout(timer);
      ws.terminate();
      reject(err);
    };
    const timer = setTimeout(() => fail(new Error(`handshake not done within ${timeoutMs} ms`)), timeoutMs);
    ws.on('unexpected-response', (_req, res) => fail(new Error(`upgrade refused: HTTP ${res.statusCode}`)));
    ws.on('error', (err) => fail(err));
    ws.on('close', (code, reason) => {
      fail(new Error(`closed with ${code} ${reason.toString()} during the handshake`));
      resolveClosed({ code, reason: reason.toString(), at: Date.now() });
    });
    ws.on('message', (data: Buffer) => {
      if (state === 'open') return agent.onData(data);
      let frame: Record<string, unknown>;
      try {
        frame = JSON.parse(data.toString('utf8')) as Record<string, unknown>;
      } catch {
        return fail(new Error(`non-JSON frame during the handshake: ${data.toString('utf8').slice(0, 100)}`));
      }
      if (state === 'challenge' && frame.type === 'CHALLENGE') {
        state = 'register';
        const register: Record<string, unknown> = { type: 'REGISTER', did: identity.did, nonce: frame.nonce, aud: frame.gateway, ts: Date.now() };
        if (opts.meta) register.meta = opts.meta;
        ws.send(signedText(identity, register));
      } else if (state === 'register' && frame.type === 'REGISTERED') {
        state = 'open';
        clearTimeout(timer);
        resolve(agent);
      } else {
        fail(new Error(`unexpected frame during the handshake: ${data.toString('utf8').slice(0, 200)}`));
      }
    });
  });
}

/** Reads the `type` and `code` of a small frame without parsing a large one (AGENTS replies are large). */
export function frameKind(data: Buffer): { type: string; code?: string; ref?: string | null } | null {
  if (data.length > 4096) {
    const m = /^\{"type":"([A-Z_]+)"/.exec(data.subarray(0, 64).toString('latin1'));
    return m ? { type: m[1] as string } : null;
  }
  try {
    const f = JSON.parse(data.toString('utf8')) as { type?: unknown; code?: unknown; ref?: unknown };
    if (typeof f.type !== 'string') return null;
    return { type: f.type, ...(typeof f.code === 'string' ? { code: f.code } : {}), ref: typeof f.ref === 'string' ? f.ref : null };
  } catch {
    return null;
  }
}

/**
 * A client-side token bucket mirroring the gateway's (docs/protocol.md §10): full at start,
 * refilled continuously. `due()` says how many frames may be sent now and takes them.
 */
export class Pacer {
  private tokens: number;
  private at = performance.now();

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
  ) {
    this.tokens = burst;
  }

  due(): number {
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) * this.perSecond) / 1000);
    this.at = now;
    const n = Math.floor(this.tokens);
    this.tokens -= n;
    return n;
  }
}

/** Percentile of an ascending array (nearest rank); null when empty. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

/** Counts by key, as a plain object. */
export function bump(counts: Record<string, number>, key: string, n = 1): void {
  counts[key] = (counts[key] ?? 0) + n;
}
