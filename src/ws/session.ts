/**
 * One WebSocket connection's life: CHALLENGE → REGISTER → REGISTERED, then signaling, discovery
 * and pings until it closes (PROTOCOL.md §3–§6).
 *
 * Listeners are attached synchronously in the constructor, and every inbound frame is handled
 * inside a try/catch: nothing a client sends can throw out of the session or affect another one.
 */
import type { WebSocket } from 'ws';
import { CloseCode, closeReasons, errorFrame, errorTable, ProtocolError, type ErrorCode } from '../errors.js';
import type { AgentKey } from '../identity/verify.js';
import type { VerifyDone } from '../identity/verify-pool.js';
import type { AgentRecord } from '../registry/agent-registry.js';
import type { DeliveryTarget } from '../routing/local-bus.js';
import type { DeliveryResult } from '../routing/router.js';
import { decodeFrame } from '../protocol/codec.js';
import { PROTOCOL_VERSION } from '../protocol/frames.js';
import { admitRegister, admitSignal, prepareRegister, prepareSignal, type PreparedRegister, type PreparedSignal } from '../identity/checks.js';
import { MAX_PENDING_STEPS, RESUME_PENDING_STEPS, TERMINATE_AFTER_CLOSE_MS } from '../constants.js';
import type { FastifyBaseLogger } from 'fastify';
import type { Config } from '../config.js';
import type { ReplayCache } from '../identity/replay-cache.js';
import type { VerifyPool } from '../identity/verify-pool.js';
import type { GatewayMetrics } from '../metrics.js';
import type { Router } from '../routing/router.js';
import type { Discovery } from './discovery.js';
import type { RandomPool } from './random-pool.js';
import type { TurnWrites } from './turn-writes.js';
import { Outbound, type OutboundSocket, type RouteResult } from './outbound.js';
import { RateLimiter } from './rate-limiter.js';
import { discover, ping, type RequestContext } from './requests.js';
import { StepQueue, type Outcome } from './step-queue.js';

type State = 'auth' | 'open' | 'closed';

/** No verdict from the verification workers (one died): an internal failure, not a bad signature. */
const VERIFY_FAILED = 'signature verification failed internally';

/**
 * What a session uses of the node, and nothing more (the Hub provides it): its knobs, the
 * verifier, replay cache, router and discovery, the node's bookkeeping of connections and
 * registrations, metrics and log.
 */
export interface SessionHost {
  readonly config: Pick<
    Config,
    'gatewayId' | 'authTimeoutMs' | 'clockSkewMs' | 'rateLimit' | 'rateBurst' | 'maxBufferedBytes' | 'heartbeatIntervalMs' | 'agentTimeoutMs'
  >;
  readonly log: FastifyBaseLogger;
  /** Per-frame log lines are built only when debug logging is on. */
  readonly debug: boolean;
  readonly metrics: GatewayMetrics;
  now(): number;
  readonly random: Pick<RandomPool, 'base64url'>;
  readonly writes: TurnWrites;
  readonly verifier: Pick<VerifyPool, 'verify'>;
  readonly replay: ReplayCache;
  readonly router: Router;
  readonly discovery: Pick<Discovery, 'reply'>;
  /** Shutdown has begun: a new connection is closed with 1001 at once. */
  readonly draining: boolean;
  /** Every open connection (registered or not). */
  readonly sessions: Set<Session>;
  /** Registering `did` would pass MAX_AGENTS on this node. */
  isFull(did: string): boolean;
  /** Lists the session as its DID's owner; in cluster mode resolves once presence has it. */
  register(session: Session, record: AgentRecord): Promise<void> | undefined;
  /** Unlists the session's DID if it still owns it. */
  unregister(session: Session): void;
}

export class Session implements DeliveryTarget {
  /** Opaque session id, sent in REGISTERED. */
  readonly id: string;
  did: string | undefined;
  private key: AgentKey | undefined;
  private record: AgentRecord | undefined;
  private state: State = 'auth';
  private readonly nonce: string;
  private readonly limiter: RateLimiter;
  private authTimer: NodeJS.Timeout | undefined;
  /** Inbound frames' outcomes, applied in arrival order (src/ws/step-queue.ts). */
  private readonly steps: StepQueue;
  /** What DISCOVER and PING need (src/ws/requests.ts). */
  private readonly requests: RequestContext;
  /**
   * Frames received while they cannot be worked on: a REGISTER is being verified, or the
   * connection is congested (its own unsent output is high). Null otherwise. Bounded: the socket
   * is paused meanwhile, so at most the rest of one read arrives.
   */
  private held: [Buffer, boolean][] | null = null;
  /** True while a REGISTER's signature (and in cluster mode its presence write) is in flight. */
  private registering = false;
  /** Every byte sent on this connection goes through here. */
  private readonly out: Outbound;

  constructor(
    private readonly host: SessionHost,
    private readonly ws: WebSocket,
    readonly remoteAddress: string,
    /** The connection's TCP socket, under `ws`: corked per burst, watched for 'drain'. */
    socket: OutboundSocket,
  ) {
    this.out = new Outbound(ws, socket, host.config.maxBufferedBytes, host.writes, {
      onOverflow: (buffered) => this.onOverflow(buffered),
      onDrained: () => this.onDrained(),
    });
    this.steps = new StepQueue({
      // A congested connection's outcomes wait: one may write a reply. The drain resumes them.
      blocked: () => this.out.congested,
      applied: () => this.checkCongestion(),
      failed: (err) => this.onStepError(err),
      settled: () => this.afterSteps(),
    });
    this.requests = {
      discovery: host.discovery,
      now: host.now,
      charge: (tokens) => this.limiter.charge(tokens),
      send: (text) => this.sendText(text),
    };
    this.id = host.random.base64url(12);
    this.nonce = host.random.base64url(32);
    this.limiter = new RateLimiter(host.config.rateLimit, host.config.rateBurst, host.now);
    ws.on('message', (data, isBinary) => this.onMessage(data as Buffer, isBinary));
    ws.on('pong', () => this.touch());
    ws.on('close', (code) => this.onClose(code));
    ws.on('error', (err) => host.log.debug({ err, remote: remoteAddress }, 'websocket error'));
    host.sessions.add(this);
    host.log.info({ remote: remoteAddress }, 'connection opened');

    if (host.draining) {
      this.close(CloseCode.GOING_AWAY);
      return;
    }
    this.send({
      type: 'CHALLENGE',
      protocol: PROTOCOL_VERSION,
      gateway: host.config.gatewayId,
      nonce: this.nonce,
      expires_in_ms: host.config.authTimeoutMs,
    });
    this.authTimer = setTimeout(() => {
      host.metrics.handshakes.inc({ result: 'timeout' });
      host.log.info({ remote: remoteAddress }, 'auth timeout');
      this.close(CloseCode.AUTH_TIMEOUT);
    }, host.config.authTimeoutMs);
    this.authTimer.unref();
  }

  /** Drops the TCP connection without a closing handshake (shutdown of an unresponsive peer). */
  terminate(): void {
    this.state = 'closed';
    this.ws.terminate();
  }

  /**
   * Sends a routed frame's original bytes (DeliveryTarget). Frames routed to this agent may fill
   * half of MAX_BUFFERED_BYTES; past that they are refused (`busy`: TARGET_BUSY to the sender) and
   * this session is kept, so no sender can get it disconnected.
   */
  deliver(data: Buffer | string): RouteResult {
    if (this.state !== 'open') return 'closed';
    const result = this.out.route(data);
    this.checkCongestion();
    return result;
  }

  /** Heartbeat: a WebSocket ping; the pong (or any frame) counts as activity. */
  ping(): void {
    try {
      this.out.ping();
    } catch (err) {
      this.host.log.debug({ err }, 'ping failed');
    }
  }

  /** Closes the connection with a protocol close code (idempotent). */
  close(code: CloseCode): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.clearAuthTimer();
    this.out.dispose();
    this.host.metrics.closes.inc({ code: String(code) });
    // Unlist at once: frames for this DID must not reach a closing socket.
    this.host.unregister(this);
    try {
      this.ws.close(code, closeReasons[code]);
    } catch {
      this.ws.terminate();
    }
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    if (this.state === 'closed') return;
    this.touch();
    // Rate limit first: before any parsing or signature work (PROTOCOL.md §4).
    if (!this.limiter.take()) {
      this.sendError('RATE_LIMITED', null);
      if (this.limiter.abusive) {
        this.host.log.warn({ did: this.did, remote: this.remoteAddress }, 'closing session for rate-limit abuse');
        this.close(CloseCode.RATE_ABUSE);
      }
      return;
    }
    if (this.held) {
      // A REGISTER is being verified: what follows it waits for the verdict (then runs as a
      // registered session's frames, or is dropped with the connection). Or the connection is
      // congested: nothing more is worked on until the client has read what it was sent.
      this.held.push([data, isBinary]);
      this.updateReading();
      return;
    }
    this.handle(data, isBinary);
  }

  /** A write would pass MAX_BUFFERED_BYTES (the gateway's own replies beside routed frames). */
  private onOverflow(buffered: number): void {
    this.host.log.warn({ did: this.did, remote: this.remoteAddress, buffered }, 'closing slow consumer');
    this.close(CloseCode.SLOW_CONSUMER);
    // Its queued bytes are not going anywhere: free them soon even if it never reads the close.
    setTimeout(() => this.ws.terminate(), TERMINATE_AFTER_CLOSE_MS).unref();
  }

  /** Congestion starts at a write; from here frames are held and the socket is not read. */
  private checkCongestion(): void {
    if (this.out.congested && this.held === null && this.state !== 'closed') {
      this.held = [];
      this.host.metrics.congestions.inc();
      this.updateReading();
    }
  }

  /** The client has read what it was sent: work on what was held, in order, and read again. */
  private onDrained(): void {
    if (this.state === 'closed') return;
    this.steps.flush();
  }

  /**
   * Pauses the socket while frames wait (steps, held frames, congestion) and resumes it once
   * they have drained: TCP back-pressure instead of gateway memory.
   */
  private updateReading(): void {
    if (this.state === 'closed') return;
    const held = this.held?.length ?? 0;
    if (this.out.congested || this.steps.length >= MAX_PENDING_STEPS || held >= MAX_PENDING_STEPS) {
      if (!this.ws.isPaused) this.ws.pause();
    } else if (this.ws.isPaused && this.steps.length <= RESUME_PENDING_STEPS && held <= RESUME_PENDING_STEPS) {
      this.ws.resume();
    }
  }

  private handle(data: Buffer, isBinary: boolean): void {
    if (this.state === 'auth') {
      // Through the step queue: REGISTER completes asynchronously (signature verification, and
      // in cluster mode the presence write), and frames that follow it wait behind it.
      this.steps.push(() => this.onAuthFrame(data, isBinary));
      this.steps.flush();
      return;
    }
    let outcome: Outcome | null;
    try {
      outcome = this.onFrame(data, isBinary);
    } catch (err) {
      outcome = () => {
        throw err;
      };
    }
    if (outcome === null) return; // queued for verification
    this.steps.push(outcome);
    this.steps.flush();
  }

  /**
   * Hands held frames to the normal path in order (or drops them with the connection). Stops
   * where one of them congests the connection again; the rest stay held, ahead of newer frames.
   */
  private releaseHeld(): void {
    const held = this.held;
    if (held === null || this.registering || this.out.congested) return;
    this.held = null;
    let i = 0;
    while (i < held.length && this.state !== 'closed' && this.held === null) {
      const [data, isBinary] = held[i++] as [Buffer, boolean];
      this.handle(data, isBinary);
    }
    if (this.state === 'closed') return;
    if (i < held.length) this.held = held.slice(i).concat(this.held ?? []);
    this.steps.flush();
  }

  private onStepError(err: unknown): void {
    if (err instanceof ProtocolError) {
      this.fail(err);
    } else if (this.state === 'auth') {
      // Whatever went wrong with a REGISTER, the protocol's answer is AUTH_FAILED + 4401.
      this.host.log.warn({ err, remote: this.remoteAddress }, 'REGISTER handling failed');
      this.fail(new ProtocolError('AUTH_FAILED', null, 'REGISTER could not be processed'));
    } else {
      // A bug, not bad input: report it without losing the session.
      this.host.log.error({ err, did: this.did }, 'frame handling failed');
      this.sendError('BAD_FRAME', null, 'frame could not be processed');
    }
  }

  /** The step queue stopped: frames held for congestion go on once it is gone; then read again. */
  private afterSteps(): void {
    if (!this.out.congested && this.held !== null && !this.registering) {
      this.releaseHeld();
      return;
    }
    this.updateReading();
  }

  /** Queues signature verification in the worker pool; the frame is routed when its turn comes. */
  private verifyThenRoute(signal: PreparedSignal, data: Buffer): void {
    const settle = this.steps.reserve();
    this.updateReading();
    this.verify(this.key as AgentKey, signal.signature, signal.message, (ok) => settle(() => this.route(signal, ok, data)));
  }

  /**
   * Verifies with this session's key off the event loop; `done` always runs asynchronously. A
   * missing signature (malformed, S ≥ L) fails without a trip to the workers.
   */
  private verify(key: AgentKey, signature: Buffer | null, message: Uint8Array, done: VerifyDone): void {
    if (signature === null) {
      queueMicrotask(() => done(false));
      return;
    }
    // performance.now() rather than prom-client's startTimer: no hrtime tuples or timer closure per frame.
    const started = performance.now();
    this.host.verifier.verify(key.publicKey, message, signature, (ok) => {
      this.host.metrics.verifySeconds.observe((performance.now() - started) / 1000);
      done(ok);
    });
  }

  /**
   * Replay check, then delivery of the original bytes (PROTOCOL.md §4) through the hub's router:
   * at once to a local target, or (cluster mode, asynchronous) to the node holding a remote one.
   */
  private route(signal: PreparedSignal, verified: boolean | null, data: Buffer): void | Promise<void> {
    if (verified === null) {
      if (this.state === 'closed') return; // e.g. the pool stopped at shutdown: nobody to tell
      // Not the client's fault, and the id is not used up: the same frame may be sent again.
      this.host.log.error({ did: this.did, id: signal.id }, VERIFY_FAILED);
      throw new ProtocolError('BAD_FRAME', signal.id, 'signature could not be verified (gateway error); the frame may be sent again');
    }
    admitSignal(signal, verified, this.host.replay, this.host.config.clockSkewMs);
    const result = this.host.router.deliver(signal.to, data);
    // A plain string when known at once (a local target): no promise on the hot path.
    if (typeof result === 'string') return this.routed(signal, result);
    return result.then((r) => this.routed(signal, r));
  }

  /** Answers a delivery: counted and logged when delivered, else the sender's error. */
  private routed(signal: PreparedSignal, result: DeliveryResult): void {
    if (result === 'busy') throw new ProtocolError('TARGET_BUSY', signal.id);
    if (result === 'unavailable') throw new ProtocolError('UNAVAILABLE', signal.id);
    if (result === 'not_found') throw new ProtocolError('AGENT_NOT_FOUND', signal.id);
    this.host.metrics.framesRouted.inc({ type: signal.type });
    if (this.host.debug) {
      this.host.log.debug({ did: this.did, to: signal.to, type: signal.type, id: signal.id }, 'frame routed');
    }
  }

  private onAuthFrame(data: Buffer, isBinary: boolean): void | Promise<void> {
    const decoded = decodeFrame(data, isBinary);
    if (!decoded.ok || decoded.type !== 'REGISTER') {
      this.host.metrics.handshakes.inc({ result: 'failed' });
      this.host.log.info({ remote: this.remoteAddress }, 'auth failure: frame before REGISTERED');
      throw new ProtocolError('AUTH_REQUIRED', null);
    }
    let prepared: PreparedRegister;
    try {
      prepared = prepareRegister(decoded.value, {
        nonce: this.nonce,
        gatewayId: this.host.config.gatewayId,
        now: this.host.now(),
        clockSkewMs: this.host.config.clockSkewMs,
      });
    } catch (err) {
      this.authFailed(err, didOf(decoded.value));
    }
    this.held ??= [];
    this.registering = true;
    return new Promise<boolean | null>((resolve) => this.verify(prepared.key, prepared.signature, prepared.message, resolve)).then(
      (verified) => {
        try {
          return this.completeRegister(prepared, verified);
        } finally {
          this.registering = false;
          // Registered: what followed the REGISTER runs as the session's frames. Refused: it
          // is dropped with the connection.
          if (this.state === 'open') this.releaseHeld();
          else this.held = null;
        }
      },
    );
  }

  private authFailed(err: unknown, did: string | undefined): never {
    this.host.metrics.handshakes.inc({ result: 'failed' });
    this.host.log.info({ remote: this.remoteAddress, did, reason: (err as Error).message }, 'auth failure');
    throw err;
  }

  private completeRegister(prepared: PreparedRegister, verified: boolean | null): void | Promise<void> {
    // Closed meanwhile (auth timeout, client gone, shutdown): nothing to register.
    if (this.state !== 'auth') return;
    if (verified === null) {
      this.host.metrics.handshakes.inc({ result: 'failed' });
      throw new Error(VERIFY_FAILED);
    }
    try {
      admitRegister(verified);
    } catch (err) {
      this.authFailed(err, prepared.frame.did);
    }
    if (this.host.isFull(prepared.frame.did)) {
      this.host.metrics.handshakes.inc({ result: 'failed' });
      this.host.log.warn({ remote: this.remoteAddress, did: prepared.frame.did }, 'gateway full (MAX_AGENTS)');
      return this.close(CloseCode.FULL);
    }
    this.clearAuthTimer();
    const now = this.host.now();
    const did = prepared.frame.did;
    this.did = did;
    this.key = prepared.key;
    const record: AgentRecord = { did, meta: prepared.frame.meta ?? {}, session: this.id, connectedAt: now, lastSeen: now };
    this.record = record;
    this.state = 'open';
    const announced = this.host.register(this, record);
    this.host.metrics.handshakes.inc({ result: 'ok' });
    this.host.log.info({ did, remote: this.remoteAddress, session: this.id }, 'agent registered');
    if (announced) return announced.then(() => this.sendRegistered());
    this.sendRegistered();
  }

  private sendRegistered(): void {
    this.send({
      type: 'REGISTERED',
      did: this.did,
      session: this.id,
      heartbeat_ms: this.host.config.heartbeatIntervalMs,
      agent_timeout_ms: this.host.config.agentTimeoutMs,
    });
  }

  /**
   * Checks one frame of a registered session. Returns the outcome to apply in order, or null
   * when a signaling frame was queued for verification (its outcome comes when verified).
   */
  private onFrame(data: Buffer, isBinary: boolean): Outcome | null {
    const decoded = decodeFrame(data, isBinary);
    if (!decoded.ok) throw new ProtocolError(decoded.code, decoded.ref, decoded.message);
    const frame = decoded.value;
    switch (decoded.type) {
      case 'OFFER':
      case 'ANSWER':
      case 'ICE':
      case 'BYE': {
        const signal = prepareSignal(decoded.type, frame, {
          did: this.did as string,
          now: this.host.now(),
          clockSkewMs: this.host.config.clockSkewMs,
        });
        this.verifyThenRoute(signal, data);
        return null;
      }
      case 'DISCOVER':
        return discover(frame, this.requests);
      case 'PING':
        return ping(frame, this.requests);
      case 'REGISTER':
        throw new ProtocolError('BAD_FRAME', null, 'already registered');
    }
  }

  /** Sends the ERROR frame of a rejection and closes when the error table says so. */
  private fail(err: ProtocolError): void {
    this.sendError(err.code, err.ref, err.message);
    const close = errorTable[err.code].close;
    if (close !== null) this.close(close);
  }

  private sendError(code: ErrorCode, ref: string | null, message?: string): void {
    this.host.metrics.errors.inc({ code });
    this.send(errorFrame(code, ref, message));
  }

  /** The gateway's own frames, through the connection's one write path. */
  private send(frame: object): void {
    this.sendText(JSON.stringify(frame));
  }

  private sendText(text: string): void {
    if (this.out.reply(text)) this.checkCongestion();
  }

  private touch(): void {
    if (this.record) this.record.lastSeen = this.host.now();
  }

  private clearAuthTimer(): void {
    if (this.authTimer) clearTimeout(this.authTimer);
    this.authTimer = undefined;
  }

  private onClose(code: number): void {
    this.state = 'closed';
    this.clearAuthTimer();
    this.out.dispose();
    this.host.sessions.delete(this);
    this.host.unregister(this);
    this.host.log.info({ did: this.did, remote: this.remoteAddress, code }, 'connection closed');
  }
}

function didOf(frame: Record<string, unknown>): string | undefined {
  return typeof frame.did === 'string' ? frame.did.slice(0, 64) : undefined;
}
