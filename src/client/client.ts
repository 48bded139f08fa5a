/**
 * GatewayClient: one agent's connection to an AIConexus gateway (docs/protocol.md §4–§7).
 *
 * It registers with a signed REGISTER, signs every OFFER/ANSWER/ICE/BYE it sends, verifies every
 * one it receives end to end against the sender's DID before emitting it, correlates DISCOVER and
 * PING answers by id, and reconnects (exponential backoff with full jitter) when a session is lost.
 * Browser-safe: no `node:` imports; `ws` is loaded only on Node (transport.ts).
 */
import type * as z from 'zod/mini';
import { CloseCode } from '../errors.js';
import {
  agentsSchema,
  CAPABILITY_PATTERN,
  challengeSchema,
  DISCOVER_MAX_LIMIT,
  errorSchema,
  metaSchema,
  iceServersSchema,
  pongSchema,
  registeredSchema,
  signalingSchemas,
  SIGNALING_TYPES,
  type AgentMeta,
  type AgentsFrame,
  type answerSchema,
  type byeSchema,
  type iceSchema,
  type offerSchema,
  type SignalingType,
} from '../protocol/frames.js';
import { isDidKey } from '../protocol/did-key.js';
import { issuesLine as issues } from '../protocol/issues.js';
import { backoffDelay, DEFAULT_RECONNECT, type ReconnectOptions } from './backoff.js';
import {
  ABNORMAL_CLOSURE,
  CLOSE_WAIT_MS,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_MAX_FRAME_AGE_MS,
  DEFAULT_REQUEST_TIMEOUT_MS,
  ICE_REFRESH_AT_SHARE,
  ICE_REFRESH_MAX_LEAD_MS,
  ICE_REFRESH_RETRY_MS,
  NORMAL_CLOSURE,
  REPLAY_WINDOW_MS,
  SENT_MEMORY,
} from './constants.js';
import { TypedEmitter } from './emitter.js';
import { ClientError, GatewayError, GatewayMismatchError } from './errors.js';
import { randomBytes, signFrame, toBase64url, verifyFrame, type KeyPair } from './keys.js';
import { DEFAULT_REPLAY_LIMITS, ReplayMemory, type ReplayLimits } from './replay.js';
import {
  CONNECTING,
  OPEN,
  resolveWebSocket,
  type CloseEventLike,
  type ErrorEventLike,
  type MessageEventLike,
  type WebSocketConstructor,
  type WebSocketLike,
} from './transport.js';

export type OfferFrame = z.infer<typeof offerSchema>;
export type AnswerFrame = z.infer<typeof answerSchema>;
export type IceFrame = z.infer<typeof iceSchema>;
export type ByeFrame = z.infer<typeof byeSchema>;
/** Any verified signaling frame. */
export type SignalFrame = OfferFrame | AnswerFrame | IceFrame | ByeFrame;
/** One entry of an AGENTS answer. */
export type AgentInfo = AgentsFrame['agents'][number];

/*
 * Payload types have no index signature so that RTCSessionDescription / RTCIceCandidate instances
 * (browser or werift) are accepted as they are: payloads are sent through a JSON round-trip, which
 * uses their toJSON(). Extra fields in an object literal need a cast or a variable.
 */

/** OFFER / ANSWER payload: an RTCSessionDescriptionInit-like object (`sdp` ≤ 32768 chars). */
export interface SdpPayload {
  sdp: string;
  type?: string;
}
/** ICE payload: an RTCIceCandidateInit-like object (`candidate: ""` = end of candidates). */
export interface IcePayload {
  candidate: string;
  sdpMid?: string | null;
  sdpMLineIndex?: number | null;
  usernameFragment?: string | null;
}
/** BYE payload. */
export interface ByePayload {
  reason?: string;
}

/** The gateway's default GATEWAY_ID, and the gateway id a client expects unless told otherwise. */
export const DEFAULT_GATEWAY_ID = 'aiconexus-gateway';

/** A GATEWAY_ID as the gateway accepts it: 1-128 printable ASCII characters, no spaces. */
const GATEWAY_ID_PATTERN = /^[\x21-\x7e]{1,128}$/;

export interface GatewayClientOptions {
  /** The gateway's WebSocket URL, e.g. `wss://gateway.example/ws`. */
  url: string;
  /**
   * The gateway id this client registers with (the gateway's GATEWAY_ID). The REGISTER's `aud`
   * is what stops a signed REGISTER from being relayed to another gateway, and it protects only a
   * client that checks it: when CHALLENGE.gateway is not this id, the client closes the socket
   * without signing anything and fails with a {@link GatewayMismatchError} (ClientError code
   * GATEWAY_MISMATCH). That is a configuration error or an attack, so it is never retried: connect()
   * rejects with it, or, on an automatic reconnect, the client stops ('closed' with the error).
   * Default {@link DEFAULT_GATEWAY_ID} ('aiconexus-gateway', the gateway's default): set it to
   * your deployment's GATEWAY_ID when that is not the default.
   */
  gatewayId?: string;
  /**
   * UNSAFE. Sign a REGISTER for whatever gateway id the CHALLENGE names (no pinning): a hostile
   * gateway, or anyone on the path without TLS, can then pass another deployment's CHALLENGE to
   * this client and register there as this agent with the REGISTER it signs. Default false; not
   * allowed together with `gatewayId`.
   */
  acceptAnyGateway?: boolean;
  /** The agent's key pair (see generateKeyPair / importRawKey / importJwk). */
  key: KeyPair;
  /** Sent in REGISTER: `name` (≤ 64 chars) and `capabilities` (≤ 32 of `[a-z0-9._:-]{1,64}`). */
  meta?: AgentMeta;
  /** Time for connect + CHALLENGE + REGISTERED, in ms. Default 10000. */
  connectTimeoutMs?: number;
  /** Time for an answer to DISCOVER or PING, in ms. Default 10000. */
  requestTimeoutMs?: number;
  /** Reconnect after a lost session (default on), or `false`. */
  reconnect?: false | Partial<ReconnectOptions>;
  /** Reconnect after close 4401 (authentication failed). Default false. */
  reconnectOnAuthFailure?: boolean;
  /** Reconnect after close 4409 (another connection registered this DID). Default false. */
  reconnectOnReplaced?: boolean;
  /**
   * Interval of application-level PINGs that detect a dead connection (no PONG within
   * requestTimeoutMs drops it and reconnects), in ms. Default: the gateway's `heartbeat_ms`; 0 = off.
   */
  keepAliveMs?: number;
  /** Incoming signaling frames whose `ts` is further than this from the local clock are dropped. Default 120000; 0 = no check. */
  maxFrameAgeMs?: number;
  /**
   * Bounds of the replay memory of received (sender, id) pairs. An id stays remembered until its
   * window (`max(ts, now) + maxFrameAgeMs`, or 10 minutes when maxFrameAgeMs is 0) has passed,
   * and is never forgotten earlier; a frame that would need more than `perSender` live ids of one
   * sender (default 1000) or `total` live ids in all (default 100000) is dropped ('invalid' with
   * reason 'replay-limit') until older ids expire.
   */
  replayLimits?: Partial<ReplayLimits>;
  /** WebSocket implementation; default the global WebSocket, else the `ws` package. */
  WebSocket?: WebSocketConstructor;
  /** Clock in ms since the epoch, for `ts` fields. Default Date.now. */
  now?: () => number;
  /** Random source in [0, 1) for backoff jitter. Default Math.random. */
  random?: () => number;
}

/** The registered session, from the REGISTERED frame. */
export interface SessionInfo {
  did: string;
  /** Opaque session id given by the gateway. */
  session: string;
  /** The gateway's id (CHALLENGE.gateway). */
  gateway: string;
  heartbeatMs: number;
  agentTimeoutMs: number;
  /** True when this session replaces a lost one (automatic reconnect). */
  reconnected: boolean;
  /** The ICE servers the gateway gave in REGISTERED (empty when it has none); see {@link GatewayClient.iceServers}. */
  iceServers: IceServer[];
}

/**
 * An RTCIceServer (`new RTCPeerConnection({ iceServers })`). A TURN entry carries a username
 * and credential bound to this agent's DID, valid until {@link IceServersInfo.expiresAt}.
 */
export interface IceServer {
  urls: string[];
  username?: string;
  credential?: string;
}

export interface IceServersInfo {
  iceServers: IceServer[];
  /** When the TURN credential expires (ms since the epoch); null without TURN. */
  expiresAt: number | null;
}

export interface DisconnectInfo {
  /** WebSocket close code (1006 when the connection dropped without one). */
  code: number;
  reason: string;
  willReconnect: boolean;
}

export interface ReconnectingInfo {
  /** 1 for the first retry after a loss. */
  attempt: number;
  delayMs: number;
  /** Why the previous attempt failed (absent for the first retry). */
  error?: Error;
}

export interface ClosedInfo {
  /** Close code of the last connection, when there was one. */
  code?: number;
  reason: string;
  /** Set when the client gave up because of an error (e.g. authentication failed, retries used up). */
  error?: Error;
}

/** Why an incoming frame was dropped. */
export type InvalidReason =
  | 'malformed' // not JSON text, or not an object with a string `type`
  | 'schema' // a signaling frame that does not match docs/protocol.md §5
  | 'wrong-recipient' // `to` is not this agent's DID
  | 'stale' // `ts` is outside maxFrameAgeMs
  | 'bad-signature' // `sig` does not verify with the key of `from`
  | 'replay' // `from` already sent a frame with this `id`, still inside its window
  | 'replay-limit' // the replay memory holds its limit of live ids (of this sender, or in all)
  | 'unexpected'; // a type the gateway must not send here

export interface InvalidFrameInfo {
  reason: InvalidReason;
  message: string;
  /** The parsed frame, when the data was JSON. */
  frame?: unknown;
  /** The frame as received. */
  data: unknown;
}

export type ClientState = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'closed';

/** Events of a {@link GatewayClient} and their listener arguments. */
export type GatewayClientEvents = {
  /** A session is registered (the first one, or one after a reconnect). */
  connected: [info: SessionInfo];
  /** A registered session was lost or closed. */
  disconnected: [info: DisconnectInfo];
  /** A reconnect attempt is scheduled. */
  reconnecting: [info: ReconnectingInfo];
  /** The client stopped for good: close(), a close code that is not retried, or retries used up. */
  closed: [info: ClosedInfo];
  offer: [frame: OfferFrame];
  answer: [frame: AnswerFrame];
  ice: [frame: IceFrame];
  bye: [frame: ByeFrame];
  /** Every verified OFFER, ANSWER, ICE and BYE (after its own event). */
  signal: [frame: SignalFrame];
  /** An incoming frame was dropped (failed verification or was malformed). */
  invalid: [info: InvalidFrameInfo];
  /** An ERROR frame from the gateway (GatewayError), or a protocol problem (ClientError). */
  error: [error: GatewayError | ClientError];
  /** The ICE servers were renewed (a fresh TURN credential), automatically or by refreshIceServers(). */
  iceServers: [info: IceServersInfo];
};

interface Pending {
  expect: 'AGENTS' | 'PONG' | 'ICE_SERVERS';
  resolve: (frame: Record<string, unknown>) => void;
  reject: (err: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

interface Handshake {
  reconnected: boolean;
  gateway?: string;
  resolve: (info: SessionInfo) => void;
  reject: (err: Error) => void;
}

type Phase = 'challenge' | 'register' | 'open';

const noop = () => {};
const unref = (timer: ReturnType<typeof setTimeout>) => (timer as { unref?: () => void }).unref?.();
const monotonic = () => globalThis.performance?.now() ?? Date.now();
const lowerType = { OFFER: 'offer', ANSWER: 'answer', ICE: 'ice', BYE: 'bye' } as const;
const signalingTypes = new Set<string>(SIGNALING_TYPES);

/**
 * An agent's connection to a gateway.
 * @example
 * const client = new GatewayClient({ url: 'ws://127.0.0.1:8000/ws', key: generateKeyPair(), meta: { name: 'bot' } });
 * client.on('offer', (frame) => console.log('offer from', frame.from));
 * await client.connect();
 * const peers = await client.discover({ capability: 'vision' });
 */
export class GatewayClient extends TypedEmitter<GatewayClientEvents> {
  readonly url: string;
  readonly key: KeyPair;
  private readonly meta: AgentMeta | undefined;
  private readonly connectTimeoutMs: number;
  private readonly requestTimeoutMs: number;
  private readonly reconnectOpts: ReconnectOptions | false;
  private readonly reconnectOnAuthFailure: boolean;
  private readonly reconnectOnReplaced: boolean;
  private readonly keepAliveOpt: number | undefined;
  private readonly maxFrameAgeMs: number;
  /** The gateway id CHALLENGE.gateway must name, or null when any is accepted (acceptAnyGateway). */
  private readonly expectedGateway: string | null;
  private readonly WebSocketImpl: WebSocketConstructor | undefined;
  private readonly now: () => number;
  private readonly random: () => number;

  private currentState: ClientState = 'idle';
  private ws: WebSocketLike | null = null;
  private phase: Phase = 'challenge';
  private handshake: Handshake | null = null;
  private lastSocketError: unknown;
  private info: SessionInfo | undefined;
  private connecting: Promise<SessionInfo> | undefined;
  private userClosed = false;
  /** Bumped by close(): a connection attempt started before it must not go on after it. */
  private epoch = 0;
  private attempt = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private keepAliveTimer: ReturnType<typeof setTimeout> | undefined;
  private iceRefreshTimer: ReturnType<typeof setTimeout> | undefined;
  private iceGrant: IceServersInfo = { iceServers: [], expiresAt: null };
  private readonly pending = new Map<string, Pending>();
  private readonly sent = new Map<string, { type: string; to: string }>();
  private readonly seen: ReplayMemory;

  constructor(options: GatewayClientOptions) {
    super();
    if (typeof options.url !== 'string' || !/^wss?:\/\//i.test(options.url)) {
      throw new ClientError('INVALID_ARGUMENT', `url must be a ws:// or wss:// URL (got ${JSON.stringify(options.url)})`);
    }
    if (!options.key || !(options.key.secretKey instanceof Uint8Array) || typeof options.key.did !== 'string') {
      throw new ClientError('INVALID_ARGUMENT', 'key must be a KeyPair (generateKeyPair, importRawKey or importJwk)');
    }
    if (options.meta !== undefined) {
      const parsed = metaSchema.safeParse(options.meta);
      if (!parsed.success) throw new ClientError('INVALID_ARGUMENT', `bad meta: ${issues(parsed.error)}`);
    }
    if (options.acceptAnyGateway === true && options.gatewayId !== undefined) {
      throw new ClientError('INVALID_ARGUMENT', 'gatewayId and acceptAnyGateway cannot be used together');
    }
    if (options.gatewayId !== undefined && (typeof options.gatewayId !== 'string' || !GATEWAY_ID_PATTERN.test(options.gatewayId))) {
      throw new ClientError('INVALID_ARGUMENT', `gatewayId must be 1-128 printable ASCII characters without spaces, like the gateway's GATEWAY_ID (got ${JSON.stringify(options.gatewayId)})`);
    }
    const replayLimits = { ...DEFAULT_REPLAY_LIMITS, ...options.replayLimits };
    for (const name of ['perSender', 'total'] as const) {
      const n = replayLimits[name];
      if (!Number.isSafeInteger(n) || n < 1) throw new ClientError('INVALID_ARGUMENT', `replayLimits.${name} must be a positive integer (got ${String(n)})`);
    }
    this.url = options.url;
    this.key = options.key;
    this.expectedGateway = options.acceptAnyGateway === true ? null : (options.gatewayId ?? DEFAULT_GATEWAY_ID);
    this.seen = new ReplayMemory(replayLimits);
    this.meta = options.meta;
    this.connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.reconnectOpts = options.reconnect === false ? false : { ...DEFAULT_RECONNECT, ...options.reconnect };
    this.reconnectOnAuthFailure = options.reconnectOnAuthFailure ?? false;
    this.reconnectOnReplaced = options.reconnectOnReplaced ?? false;
    this.keepAliveOpt = options.keepAliveMs;
    this.maxFrameAgeMs = options.maxFrameAgeMs ?? DEFAULT_MAX_FRAME_AGE_MS;
    this.WebSocketImpl = options.WebSocket;
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
  }

  /** This agent's DID. */
  get did(): string {
    return this.key.did;
  }

  /** 'idle' → 'connecting' → 'connected' ⇄ 'reconnecting' → 'closed'. */
  get state(): ClientState {
    return this.currentState;
  }

  /** The registered session, while connected. */
  get session(): SessionInfo | undefined {
    return this.info;
  }

  /**
   * Connects and registers (CHALLENGE → signed REGISTER → REGISTERED). Rejects with a GatewayError
   * (e.g. AUTH_FAILED) or a ClientError (CONNECT_FAILED, CONNECTION_CLOSED, TIMEOUT, CLOSED); a
   * failed first connect is not retried. Resolves at once when already connected.
   */
  connect(): Promise<SessionInfo> {
    if (this.currentState === 'connected' && this.info) return Promise.resolve(this.info);
    if (this.connecting) return this.connecting;
    if (this.currentState === 'reconnecting') return this.nextConnected();
    this.userClosed = false;
    this.attempt = 0;
    this.currentState = 'connecting';
    const epoch = this.epoch;
    const connecting = this.openSession(false).then(
      (info) => info,
      (err: unknown) => {
        if (epoch === this.epoch && this.currentState === 'connecting') this.currentState = 'closed';
        throw err;
      },
    );
    this.connecting = connecting;
    const clear = () => {
      if (this.connecting === connecting) this.connecting = undefined;
    };
    connecting.then(clear, clear);
    return connecting;
  }

  /** Sends a signed OFFER to `to`; returns the frame sent (its `id` is the `ref` of any ERROR about it). */
  offer(to: string, payload: SdpPayload): OfferFrame {
    return this.signal('OFFER', to, payload) as OfferFrame;
  }

  /** Sends a signed ANSWER to `to`. */
  answer(to: string, payload: SdpPayload): AnswerFrame {
    return this.signal('ANSWER', to, payload) as AnswerFrame;
  }

  /** Sends a signed ICE candidate to `to` (`{ candidate: '' }` = end of candidates). */
  ice(to: string, payload: IcePayload): IceFrame {
    return this.signal('ICE', to, payload) as IceFrame;
  }

  /** Sends a signed BYE to `to`. */
  bye(to: string, payload: ByePayload = {}): ByeFrame {
    return this.signal('BYE', to, payload) as ByeFrame;
  }

  /**
   * Signs and sends a signaling frame with a random id and a fresh `ts`. Throws a ClientError
   * (NOT_CONNECTED, INVALID_ARGUMENT) synchronously; the gateway's verdict, when it rejects the
   * frame, arrives later as an 'error' event whose `ref` is the returned frame's id.
   */
  signal(type: SignalingType, to: string, payload: object): SignalFrame {
    if (!SIGNALING_TYPES.includes(type)) throw new ClientError('INVALID_ARGUMENT', `not a signaling type: ${String(type)}`);
    if (typeof to !== 'string' || !isDidKey(to)) throw new ClientError('INVALID_ARGUMENT', `"to" is not an Ed25519 did:key: ${String(to)}`);
    let json: Record<string, unknown>;
    try {
      // Exactly what goes on the wire: toJSON applied (RTCSessionDescription), undefined dropped.
      json = JSON.parse(JSON.stringify(payload ?? {})) as Record<string, unknown>;
    } catch (err) {
      throw new ClientError('INVALID_ARGUMENT', `payload is not JSON: ${(err as Error).message}`, { cause: err });
    }
    const ws = this.openSocket();
    const frame = signFrame({ type, id: newId(), from: this.did, to, ts: Math.floor(this.now()), payload: json }, this.key.secretKey);
    const parsed = signalingSchemas[type].safeParse(frame);
    if (!parsed.success) throw new ClientError('INVALID_ARGUMENT', `bad ${type}: ${issues(parsed.error)}`);
    ws.send(JSON.stringify(frame));
    this.remember(frame.id, type, to);
    return frame as SignalFrame;
  }

  /** Lists registered agents (DISCOVER → AGENTS), optionally those with `capability`; default limit 100, max 1000. */
  async discover(query: { capability?: string; limit?: number; timeoutMs?: number } = {}): Promise<AgentInfo[]> {
    const { capability, limit } = query;
    if (capability !== undefined && !CAPABILITY_PATTERN.test(capability)) {
      throw new ClientError('INVALID_ARGUMENT', 'capability must be 1-64 of [a-z0-9._:-]');
    }
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 1 || limit > DISCOVER_MAX_LIMIT)) {
      throw new ClientError('INVALID_ARGUMENT', `limit must be an integer 1-${DISCOVER_MAX_LIMIT}`);
    }
    const frame: Record<string, unknown> & { id: string } = { type: 'DISCOVER', id: newId() };
    if (capability !== undefined) frame.capability = capability;
    if (limit !== undefined) frame.limit = limit;
    const answer = await this.request(frame, 'AGENTS', query.timeoutMs);
    return (answer as AgentsFrame).agents;
  }

  /**
   * The ICE servers to give an RTCPeerConnection: from REGISTERED, renewed before a TURN
   * credential expires (the 'iceServers' event says when). Empty when the gateway has none.
   */
  get iceServers(): IceServer[] {
    return this.iceGrant.iceServers;
  }

  /** When the current TURN credential expires (ms since the epoch); null without TURN. */
  get iceServersExpireAt(): number | null {
    return this.iceGrant.expiresAt;
  }

  /** Asks the gateway for the ICE servers again (GET_ICE_SERVERS → ICE_SERVERS): a fresh TURN credential. */
  async refreshIceServers(options: { timeoutMs?: number } = {}): Promise<IceServersInfo> {
    const answer = await this.request({ type: 'GET_ICE_SERVERS', id: newId() }, 'ICE_SERVERS', options.timeoutMs);
    const parsed = iceServersSchema.parse(answer);
    this.setIce({ iceServers: parsed.ice_servers.map(iceServerOf), expiresAt: parsed.expires_at }, this.ws);
    this.emit('iceServers', this.iceGrant);
    return this.iceGrant;
  }

  /** Round trip of a PING to the gateway, in ms. */
  async ping(options: { timeoutMs?: number } = {}): Promise<number> {
    const start = monotonic();
    await this.request({ type: 'PING', id: newId() }, 'PONG', options.timeoutMs);
    return monotonic() - start;
  }

  /** Closes the connection and stops reconnecting; pending requests reject with ClientError CLOSED. */
  async close(): Promise<void> {
    this.userClosed = true;
    this.epoch++;
    this.connecting = undefined;
    this.clearTimers();
    const ws = this.ws;
    const wasConnected = this.currentState === 'connected';
    const alreadyClosed = this.currentState === 'closed' || this.currentState === 'idle';
    this.ws = null;
    this.info = undefined;
    const closedError = new ClientError('CLOSED', 'client closed');
    this.failHandshakePromise(closedError);
    this.rejectPending(closedError);
    this.currentState = 'closed';
    if (wasConnected) this.emit('disconnected', { code: NORMAL_CLOSURE, reason: 'client closed', willReconnect: false });
    if (!alreadyClosed) this.emit('closed', { code: NORMAL_CLOSURE, reason: 'client closed' });
    if (ws) await closeAndWait(ws);
  }

  // ───────────────────────── connection ─────────────────────────

  /** Opens one WebSocket and runs the handshake on it. */
  private async openSession(reconnected: boolean): Promise<SessionInfo> {
    const epoch = this.epoch;
    const Impl = await resolveWebSocket(this.WebSocketImpl);
    if (this.userClosed || epoch !== this.epoch) throw new ClientError('CLOSED', 'client closed');
    return new Promise<SessionInfo>((resolve, reject) => {
      let ws: WebSocketLike;
      try {
        ws = new Impl(this.url);
      } catch (err) {
        reject(new ClientError('CONNECT_FAILED', `cannot open a WebSocket to ${this.url}: ${(err as Error).message}`, { cause: err }));
        return;
      }
      this.ws = ws;
      this.phase = 'challenge';
      this.lastSocketError = undefined;
      const timer = setTimeout(() => {
        this.abandon(ws, new ClientError('TIMEOUT', `no REGISTERED from ${this.url} within ${this.connectTimeoutMs} ms`));
      }, this.connectTimeoutMs);
      unref(timer);
      this.handshake = {
        reconnected,
        resolve: (info) => {
          clearTimeout(timer);
          resolve(info);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      ws.onmessage = (event: MessageEventLike) => this.onMessage(ws, event.data);
      ws.onclose = (event: CloseEventLike) => this.onSocketClose(ws, event.code, event.reason);
      ws.onerror = (event: ErrorEventLike) => {
        if (ws !== this.ws) return;
        this.lastSocketError = event.error ?? event.message ?? event;
        // A connection that failed before opening. Browsers and `ws` follow with 'close'; Node
        // 22's built-in WebSocket does not (it stays CONNECTING), and the handshake would wait
        // for its timeout. End it here; a later 'close' finds the socket detached.
        if (ws.readyState === CONNECTING) this.onSocketClose(ws, ABNORMAL_CLOSURE, '');
      };
    });
  }

  /** Fails the handshake on `ws` (if it is current) and closes it. */
  private abandon(ws: WebSocketLike, err: Error): void {
    if (ws !== this.ws) return;
    this.ws = null;
    this.failHandshakePromise(err);
    void closeAndWait(ws);
  }

  private failHandshakePromise(err: Error): void {
    const handshake = this.handshake;
    this.handshake = null;
    handshake?.reject(err);
  }

  private onSocketClose(ws: WebSocketLike, code: number, reason: string): void {
    if (ws !== this.ws) return;
    this.ws = null;
    detach(ws);
    if (this.handshake) {
      const cause = this.lastSocketError;
      const err =
        this.phase === 'challenge' && cause !== undefined && code === ABNORMAL_CLOSURE
          ? new ClientError('CONNECT_FAILED', `cannot reach gateway at ${this.url}: ${describeCause(cause)}`, { closeCode: code, cause })
          : new ClientError('CONNECTION_CLOSED', `gateway closed the connection during the handshake (${closeText(code, reason)})`, { closeCode: code });
      this.failHandshakePromise(err);
      return;
    }
    this.lostSession(code, reason);
  }

  /** A registered session ended without close(): report it and reconnect when allowed. */
  private lostSession(code: number, reason: string): void {
    this.stopKeepAlive();
    this.info = undefined;
    this.rejectPending(new ClientError('CONNECTION_CLOSED', `connection closed (${closeText(code, reason)})`, { closeCode: code }));
    const retry = this.mayRetryAfterClose(code);
    const willReconnect = retry && this.reconnectOpts !== false && this.reconnectOpts.maxAttempts > 0;
    this.emit('disconnected', { code, reason, willReconnect });
    if (willReconnect) this.scheduleReconnect(undefined);
    else this.stop({ code, reason: closeText(code, reason) });
  }

  private mayRetryAfterClose(code: number): boolean {
    if (this.userClosed) return false;
    if (code === CloseCode.AUTH) return this.reconnectOnAuthFailure;
    if (code === CloseCode.REPLACED) return this.reconnectOnReplaced;
    return true;
  }

  private scheduleReconnect(lastError: Error | undefined): void {
    const opts = this.reconnectOpts;
    if (opts === false || this.userClosed) return;
    if (this.attempt >= opts.maxAttempts) {
      this.stop({ reason: `gave up after ${this.attempt} reconnect attempts`, ...(lastError ? { error: lastError } : {}) });
      return;
    }
    const delayMs = backoffDelay(this.attempt, opts, this.random);
    this.attempt++;
    this.currentState = 'reconnecting';
    this.emit('reconnecting', { attempt: this.attempt, delayMs, ...(lastError ? { error: lastError } : {}) });
    // Not unref'd: an agent waiting to reconnect must keep its process alive.
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      void this.reconnectNow();
    }, delayMs);
  }

  private async reconnectNow(): Promise<void> {
    if (this.userClosed) return;
    try {
      await this.openSession(true);
    } catch (err) {
      if (this.userClosed) return;
      const error = err as Error;
      const authFailure =
        (error instanceof GatewayError && error.closeCode === CloseCode.AUTH) ||
        (error instanceof ClientError && error.closeCode === CloseCode.AUTH);
      if (authFailure && !this.reconnectOnAuthFailure) {
        this.stop({ reason: 'authentication failed', error, ...(error instanceof ClientError && error.closeCode ? { code: error.closeCode } : {}) });
      } else if (error instanceof GatewayMismatchError) {
        // A configuration error (or an attack): the next attempt would meet the same id.
        this.stop({ reason: 'gateway id mismatch', error });
      } else {
        this.scheduleReconnect(error);
      }
    }
  }

  private stop(info: ClosedInfo): void {
    this.clearTimers();
    this.currentState = 'closed';
    this.emit('closed', info);
  }

  private nextConnected(): Promise<SessionInfo> {
    return new Promise((resolve, reject) => {
      const offConnected = this.once('connected', (info) => {
        offClosed();
        resolve(info);
      });
      const offClosed = this.once('closed', (info) => {
        offConnected();
        reject(info.error ?? new ClientError('CLOSED', info.reason));
      });
    });
  }

  // ───────────────────────── inbound ─────────────────────────

  private onMessage(ws: WebSocketLike, data: unknown): void {
    if (ws !== this.ws) return;
    if (typeof data !== 'string') return this.invalid('malformed', 'binary frame', data);
    let frame: unknown;
    try {
      frame = JSON.parse(data);
    } catch {
      return this.invalid('malformed', 'frame is not JSON', data);
    }
    if (typeof frame !== 'object' || frame === null || Array.isArray(frame) || typeof (frame as { type?: unknown }).type !== 'string') {
      return this.invalid('malformed', 'frame is not an object with a string "type"', data, frame);
    }
    const obj = frame as Record<string, unknown> & { type: string };
    if (this.phase === 'open') this.onSessionFrame(obj, data);
    else this.onHandshakeFrame(ws, obj, data);
  }

  private onHandshakeFrame(ws: WebSocketLike, frame: Record<string, unknown> & { type: string }, data: string): void {
    if (frame.type === 'ERROR') {
      const err = this.toError(frame, data);
      if (err) {
        this.emit('error', err);
        this.abandon(ws, err);
      }
      return;
    }
    if (this.phase === 'challenge' && frame.type === 'CHALLENGE') {
      const parsed = challengeSchema.safeParse(frame);
      if (!parsed.success) {
        return this.abandon(ws, new ClientError('PROTOCOL', `bad CHALLENGE (protocol ${JSON.stringify(frame.protocol)}): ${issues(parsed.error)}`));
      }
      const challenge = parsed.data;
      // Pinning: a REGISTER signed for another gateway's CHALLENGE would let whoever relayed it
      // register there as this agent. Nothing is signed before this check.
      if (this.expectedGateway !== null && challenge.gateway !== this.expectedGateway) {
        return this.abandon(ws, new GatewayMismatchError(this.url, this.expectedGateway, challenge.gateway));
      }
      if (this.handshake) this.handshake.gateway = challenge.gateway;
      const register: Record<string, unknown> = {
        type: 'REGISTER',
        did: this.did,
        nonce: challenge.nonce,
        aud: challenge.gateway,
        ts: Math.floor(this.now()),
      };
      if (this.meta !== undefined) register.meta = this.meta;
      this.phase = 'register';
      ws.send(JSON.stringify(signFrame(register, this.key.secretKey)));
      return;
    }
    if (this.phase === 'register' && frame.type === 'REGISTERED') {
      const parsed = registeredSchema.safeParse(frame);
      if (!parsed.success || parsed.data.did !== this.did) {
        return this.abandon(ws, new ClientError('PROTOCOL', `bad REGISTERED: ${parsed.success ? 'did is not ours' : issues(parsed.error)}`));
      }
      const handshake = this.handshake;
      this.handshake = null;
      const info: SessionInfo = {
        did: parsed.data.did,
        session: parsed.data.session,
        gateway: handshake?.gateway ?? '',
        heartbeatMs: parsed.data.heartbeat_ms,
        agentTimeoutMs: parsed.data.agent_timeout_ms,
        reconnected: handshake?.reconnected ?? false,
        iceServers: (parsed.data.ice_servers ?? []).map(iceServerOf),
      };
      this.phase = 'open';
      this.info = info;
      this.attempt = 0;
      this.currentState = 'connected';
      this.startKeepAlive(ws, info.heartbeatMs);
      this.setIce({ iceServers: info.iceServers, expiresAt: parsed.data.ice_servers_expires_at ?? null }, ws);
      this.emit('connected', info);
      handshake?.resolve(info);
      return;
    }
    this.abandon(ws, new ClientError('PROTOCOL', `unexpected ${frame.type} frame during the handshake`));
  }

  private onSessionFrame(frame: Record<string, unknown> & { type: string }, data: string): void {
    const type = frame.type;
    if (signalingTypes.has(type)) return this.onSignal(type as SignalingType, frame, data);
    switch (type) {
      case 'AGENTS':
      case 'PONG':
      case 'ICE_SERVERS': {
        const parsed = (type === 'AGENTS' ? agentsSchema : type === 'PONG' ? pongSchema : iceServersSchema).safeParse(frame);
        if (!parsed.success) return this.invalid('unexpected', `bad ${type}: ${issues(parsed.error)}`, data, frame);
        const ref = parsed.data.ref;
        const pending = ref === null ? undefined : this.pending.get(ref);
        // An answer nobody waits for (its request timed out) is dropped silently.
        if (!pending || pending.expect !== type || ref === null) return;
        this.settle(ref)?.resolve(frame);
        return;
      }
      case 'ERROR': {
        const err = this.toError(frame, data);
        if (!err) return;
        const ref = err instanceof GatewayError ? err.ref : (frame.ref as string | null);
        if (typeof ref === 'string') this.settle(ref)?.reject(err);
        this.emit('error', err);
        return;
      }
      default:
        this.invalid('unexpected', `unexpected ${type} frame`, data, frame);
    }
  }

  /** Verifies a signaling frame end to end, then emits it; otherwise reports it as invalid. */
  private onSignal(type: SignalingType, frame: Record<string, unknown>, data: string): void {
    const parsed = signalingSchemas[type].safeParse(frame);
    if (!parsed.success) return this.invalid('schema', `bad ${type}: ${issues(parsed.error)}`, data, frame);
    const { from, to, ts, id } = parsed.data;
    if (to !== this.did) return this.invalid('wrong-recipient', `${type} ${id} is addressed to ${to}`, data, frame);
    if (this.maxFrameAgeMs > 0 && Math.abs(this.now() - ts) > this.maxFrameAgeMs) {
      return this.invalid('stale', `${type} ${id} has ts ${ts}, outside ${this.maxFrameAgeMs} ms`, data, frame);
    }
    // Replay memory first: a frame it refuses is dropped whatever its signature, without the cost of verifying it.
    const now = this.now();
    const verdict = this.seen.check(from, id, now);
    if (verdict === 'replay') return this.invalid('replay', `${type} ${id} from ${from} was already received`, data, frame);
    if (verdict === 'sender-full') {
      return this.invalid('replay-limit', `${type} ${id} from ${from} refused: ${this.seen.limits.perSender} ids of this sender are inside their replay window`, data, frame);
    }
    if (verdict === 'full') {
      return this.invalid('replay-limit', `${type} ${id} from ${from} refused: the replay memory holds ${this.seen.limits.total} ids inside their window`, data, frame);
    }
    // Verify the parsed object: JCS of it is exactly what the sender signed, whatever the bytes' layout.
    if (!verifyFrame(frame, from)) return this.invalid('bad-signature', `${type} ${id}: signature does not verify with the key of ${from}`, data, frame);
    // A frame passes the age check while |now - ts| <= maxFrameAgeMs: after max(ts, now) + maxFrameAgeMs (kept
    // up to and including that instant) it can only come back stale. Without the check (0) ids are kept 10 minutes.
    const window = this.maxFrameAgeMs > 0 ? this.maxFrameAgeMs : REPLAY_WINDOW_MS;
    this.seen.add(from, id, Math.max(ts, now) + window);
    const event = lowerType[type];
    this.emit(event, frame as never);
    this.emit('signal', frame as SignalFrame);
  }

  /** A GatewayError of an ERROR frame, or a ClientError PROTOCOL when it is not one. */
  private toError(frame: Record<string, unknown>, data: string): GatewayError | ClientError | undefined {
    const parsed = errorSchema.safeParse(frame);
    if (!parsed.success) {
      this.invalid('unexpected', `bad ERROR: ${issues(parsed.error)}`, data, frame);
      return undefined;
    }
    const { code, message, ref } = parsed.data;
    if (!GatewayError.isCode(code)) return new ClientError('PROTOCOL', `gateway sent unknown error code ${code}: ${message}`);
    return new GatewayError(code, message, ref, ref === null ? undefined : this.sent.get(ref));
  }

  private invalid(reason: InvalidReason, message: string, data: unknown, frame?: unknown): void {
    this.emit('invalid', { reason, message, data, ...(frame === undefined ? {} : { frame }) });
  }

  // ───────────────────────── requests ─────────────────────────

  private request(frame: Record<string, unknown> & { id: string }, expect: Pending['expect'], timeoutMs = this.requestTimeoutMs): Promise<Record<string, unknown>> {
    const ws = this.openSocket();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.settle(frame.id)?.reject(new ClientError('TIMEOUT', `no ${expect} for ${String(frame.type)} ${frame.id} within ${timeoutMs} ms`));
      }, timeoutMs);
      unref(timer);
      this.pending.set(frame.id, { expect, resolve, reject, timer });
      ws.send(JSON.stringify(frame));
    });
  }

  /** Removes and returns a pending request. */
  private settle(id: string): Pending | undefined {
    const pending = this.pending.get(id);
    if (!pending) return undefined;
    this.pending.delete(id);
    clearTimeout(pending.timer);
    return pending;
  }

  private rejectPending(err: Error): void {
    for (const id of [...this.pending.keys()]) this.settle(id)?.reject(err);
  }

  /** The socket of the registered session, or throws NOT_CONNECTED. */
  private openSocket(): WebSocketLike {
    const ws = this.ws;
    if (!ws || this.phase !== 'open' || this.currentState !== 'connected' || ws.readyState !== OPEN) {
      throw new ClientError('NOT_CONNECTED', `not connected (state: ${this.currentState})`);
    }
    return ws;
  }

  private remember(id: string, type: string, to: string): void {
    this.sent.set(id, { type, to });
    if (this.sent.size > SENT_MEMORY) {
      const oldest = this.sent.keys().next().value;
      if (oldest !== undefined) this.sent.delete(oldest);
    }
  }

  // ───────────────────────── keep-alive and timers ─────────────────────────

  private startKeepAlive(ws: WebSocketLike, heartbeatMs: number): void {
    this.stopKeepAlive();
    const interval = this.keepAliveOpt ?? heartbeatMs;
    if (!(interval > 0)) return;
    const tick = () => {
      this.keepAliveTimer = undefined;
      if (ws !== this.ws) return;
      this.ping().then(
        () => {
          if (ws === this.ws) schedule();
        },
        (err: unknown) => {
          // No PONG in time: the link is dead even if the socket does not know it yet.
          if (ws !== this.ws || !(err instanceof ClientError) || err.code !== 'TIMEOUT') return;
          this.ws = null;
          detach(ws);
          void closeAndWait(ws);
          this.lostSession(ABNORMAL_CLOSURE, 'keep-alive timeout');
        },
      );
    };
    const schedule = () => {
      this.keepAliveTimer = setTimeout(tick, interval);
      unref(this.keepAliveTimer);
    };
    schedule();
  }

  /**
   * Holds the current ICE servers and schedules their renewal: when ICE_REFRESH_AT_SHARE of the
   * credential's remaining lifetime has passed (at most ICE_REFRESH_MAX_LEAD_MS before it
   * expires); a failed renewal is retried every ICE_REFRESH_RETRY_MS while the credential lasts.
   */
  private setIce(info: IceServersInfo, ws: WebSocketLike | null): void {
    this.iceGrant = info;
    if (this.iceRefreshTimer !== undefined) clearTimeout(this.iceRefreshTimer);
    this.iceRefreshTimer = undefined;
    if (info.expiresAt === null || ws === null) return;
    const left = info.expiresAt - this.now();
    this.scheduleIceRefresh(ws, Math.max(left * ICE_REFRESH_AT_SHARE, left - ICE_REFRESH_MAX_LEAD_MS));
  }

  private scheduleIceRefresh(ws: WebSocketLike, delayMs: number): void {
    this.iceRefreshTimer = setTimeout(
      () => {
        this.iceRefreshTimer = undefined;
        if (ws !== this.ws) return;
        this.refreshIceServers().catch(() => {
          const expiresAt = this.iceGrant.expiresAt;
          if (ws === this.ws && expiresAt !== null && expiresAt - this.now() > ICE_REFRESH_RETRY_MS) this.scheduleIceRefresh(ws, ICE_REFRESH_RETRY_MS);
        });
      },
      Math.max(0, delayMs),
    );
    unref(this.iceRefreshTimer);
  }

  private stopKeepAlive(): void {
    if (this.keepAliveTimer !== undefined) clearTimeout(this.keepAliveTimer);
    this.keepAliveTimer = undefined;
  }

  private clearTimers(): void {
    this.stopKeepAlive();
    if (this.iceRefreshTimer !== undefined) clearTimeout(this.iceRefreshTimer);
    this.iceRefreshTimer = undefined;
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
  }
}

/** An RTCIceServer as given to the application: only the fields RTCPeerConnection takes. */
function iceServerOf(s: { urls: string[]; username?: string | undefined; credential?: string | undefined }): IceServer {
  return { urls: [...s.urls], ...(s.username === undefined ? {} : { username: s.username }), ...(s.credential === undefined ? {} : { credential: s.credential }) };
}

/** A random frame id: 16 bytes, base64url (22 characters of [A-Za-z0-9_-]). */
function newId(): string {
  return toBase64url(randomBytes(16));
}

/** Stops delivering a socket's events to the client (an error handler stays: `ws` throws without one). */
function detach(ws: WebSocketLike): void {
  ws.onmessage = null;
  ws.onclose = null;
  ws.onopen = null;
  ws.onerror = noop;
}

/** Closes a socket and resolves when it is closed, or after CLOSE_WAIT_MS. */
function closeAndWait(ws: WebSocketLike): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, CLOSE_WAIT_MS);
    unref(timer);
    detach(ws);
    ws.onclose = () => {
      clearTimeout(timer);
      resolve();
    };
    if (ws.readyState >= 2) {
      // Already closing or closed: a closed socket fires no further close event.
      if (ws.readyState === 3) {
        clearTimeout(timer);
        resolve();
      }
      return;
    }
    try {
      ws.close(NORMAL_CLOSURE, 'client closing');
    } catch {
      clearTimeout(timer);
      resolve();
    }
  });
}

function closeText(code: number, reason: string): string {
  return reason ? `${code} ${reason}` : String(code);
}

/** One line for a socket error: `ws` errors carry a code such as ECONNREFUSED. */
function describeCause(cause: unknown): string {
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    // Built-in WebSockets (Node 24+, browsers) give an error without a message or code.
    if (!cause.message) return typeof code === 'string' ? code : 'connection failed (the WebSocket implementation gives no detail)';
    return typeof code === 'string' && !cause.message.includes(code) ? `${cause.message} (${code})` : cause.message;
  }
  return typeof cause === 'string' ? cause : 'connection failed';
}
