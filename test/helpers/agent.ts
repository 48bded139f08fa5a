/**
 * A test agent: a real `ws` client with a real Ed25519 key, signing with @noble/ed25519 (an
 * implementation independent of the gateway's node:crypto verifier).
 */
import * as ed from '@noble/ed25519';
import { sha512 } from '@noble/hashes/sha2.js';
import type { Socket } from 'node:net';
import WebSocket from 'ws';
import { signedBytes } from '../../src/protocol/canonical.js';
import { didFromPublicKey } from '../../src/protocol/did-key.js';

ed.hashes.sha512 = sha512;

export type Frame = Record<string, unknown> & { type: string };

export interface Closed {
  code: number;
  reason: string;
}

/** The agent's TCP socket, under its `ws` client (to pause its reading, or to cork its writes). */
export function clientSocket(a: TestAgent): Socket {
  return (a.ws as unknown as { _socket: Socket })._socket;
}

/** Sends `frames` from `a` in one TCP write, so that the gateway reads them in one turn. */
export function sendInOneWrite(a: TestAgent, frames: unknown[]): void {
  const socket = clientSocket(a);
  socket.cork();
  for (const frame of frames) a.send(frame);
  socket.uncork();
}

/** S + L of a signature: the same point R with a malleated scalar (must be rejected). */
export function malleate(sig: string): string {
  const bytes = Buffer.from(sig, 'base64url');
  const L = Buffer.from('edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010', 'hex');
  let carry = 0;
  for (let i = 0; i < 32; i++) {
    const sum = (bytes[32 + i] as number) + (L[i] as number) + carry;
    bytes[32 + i] = sum & 0xff;
    carry = sum >> 8;
  }
  return bytes.toString('base64url');
}

/** Signs `frame` (everything but `sig`) and returns it with `sig` set. */
export function signFrame<T extends Record<string, unknown>>(secretKey: Uint8Array, frame: T): T & { sig: string } {
  const sig = ed.sign(signedBytes(frame), secretKey);
  return { ...frame, sig: Buffer.from(sig).toString('base64url') };
}

let idCounter = 0;
/** A frame id unique within the test process. */
export const nextId = (prefix = 'f') => `${prefix}-${process.pid}-${++idCounter}`;

export class TestAgent {
  readonly secretKey: Uint8Array;
  readonly publicKey: Uint8Array;
  readonly did: string;
  ws!: WebSocket;
  challenge!: Frame;
  /** Frames received and not yet taken by next(). */
  readonly inbox: Frame[] = [];
  /** Raw text of every frame received, in order (for byte-for-byte checks). */
  readonly raw: string[] = [];
  closed: Promise<Closed> = new Promise(() => {});
  private waiters: ((f: Frame) => void)[] = [];

  constructor(secretKey?: Uint8Array) {
    this.secretKey = secretKey ?? ed.utils.randomSecretKey();
    this.publicKey = ed.getPublicKey(this.secretKey);
    this.did = didFromPublicKey(this.publicKey);
  }

  /** Opens the socket and waits for the CHALLENGE (or for the close, when the gateway refuses). */
  async connect(url: string, wsOptions: WebSocket.ClientOptions = {}): Promise<Frame | Closed> {
    this.ws = new WebSocket(url, wsOptions);
    this.closed = new Promise((resolve) => this.ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    this.ws.on('message', (data, isBinary) => {
      const text = isBinary ? '' : data.toString();
      this.raw.push(text);
      const frame = JSON.parse(text) as Frame;
      const waiter = this.waiters.shift();
      if (waiter) waiter(frame);
      else this.inbox.push(frame);
    });
    this.ws.on('error', () => {});
    const first = await Promise.race([this.next(), this.closed]);
    if ('type' in first) this.challenge = first as Frame;
    return first;
  }

  /** connect + a valid REGISTER; resolves with the REGISTERED frame. */
  async register(url: string, meta?: Record<string, unknown>): Promise<Frame> {
    await this.connect(url);
    this.send(this.registerFrame(meta));
    const reply = await this.next();
    if (reply.type !== 'REGISTERED') throw new Error(`expected REGISTERED, got ${JSON.stringify(reply)}`);
    return reply;
  }

  /** A signed REGISTER answering this connection's challenge; `override` changes fields before signing. */
  registerFrame(meta?: Record<string, unknown>, override: Record<string, unknown> = {}): Record<string, unknown> {
    const frame: Record<string, unknown> = {
      type: 'REGISTER',
      did: this.did,
      nonce: this.challenge.nonce,
      aud: this.challenge.gateway,
      ts: Date.now(),
      ...(meta ? { meta } : {}),
      ...override,
    };
    return signFrame(this.secretKey, frame);
  }

  /** A signed signaling frame from this agent. */
  signal(type: string, to: string, payload: Record<string, unknown>, override: Record<string, unknown> = {}): Record<string, unknown> & { id: string } {
    const frame = { type, id: nextId(type.toLowerCase()), from: this.did, to, ts: Date.now(), payload, ...override };
    return signFrame(this.secretKey, frame) as Record<string, unknown> & { id: string };
  }

  /** Sends an object as JSON text, or a string / Buffer as given. */
  send(frame: unknown, opts: { binary?: boolean } = {}): void {
    const data = typeof frame === 'string' || Buffer.isBuffer(frame) ? frame : JSON.stringify(frame);
    this.ws.send(data, { binary: opts.binary ?? false });
  }

  /** The next frame received (queued or future); rejects after `timeoutMs`. */
  next(timeoutMs = 5000): Promise<Frame> {
    const queued = this.inbox.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`no frame within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = (f: Frame) => {
        clearTimeout(timer);
        resolve(f);
      };
      this.waiters.push(waiter);
    });
  }

  /**
   * A PING/PONG barrier: sends `{"type":"PING","id":X}` and returns every frame that arrives
   * before the PONG with ref X (queued frames included). The gateway writes a connection's frames
   * in order, so whatever it had sent this agent before it answered the PING is in the result:
   * `expect(await a.barrier()).toEqual([])` proves that nothing stray came, however late a timer
   * would have let it arrive. Needs a registered session (the gateway answers PING only then).
   */
  async barrier(timeoutMs = 5000): Promise<Frame[]> {
    const id = nextId('barrier');
    this.send({ type: 'PING', id });
    const before: Frame[] = [];
    for (;;) {
      const frame = await this.next(timeoutMs);
      if (frame.type === 'PONG' && frame.ref === id) return before;
      before.push(frame);
    }
  }

  /**
   * Resolves true if no frame arrives within `ms`. A weak negative (a frame arriving later is
   * missed): use barrier() wherever the agent is registered.
   */
  async quiet(ms = 200): Promise<boolean> {
    if (this.inbox.length > 0) return false;
    try {
      await this.next(ms);
      return false;
    } catch {
      return true;
    }
  }

  close(): void {
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) this.ws.close();
  }
}

/**
 * The agents one test file opens, closed together after each test:
 * `const { agent, closeAgents } = agentTracker();` then `closeAgents()` in `afterEach`.
 */
export function agentTracker(): { agent: (secretKey?: Uint8Array) => TestAgent; closeAgents: () => void } {
  const open: TestAgent[] = [];
  return {
    agent: (secretKey) => {
      const a = new TestAgent(secretKey);
      open.push(a);
      return a;
    },
    closeAgents: () => {
      for (const a of open.splice(0)) a.close();
    },
  };
}
