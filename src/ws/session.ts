/**
 * One WebSocket connection's life: the handshake (src/ws/handshake.ts), then signaling
 * (src/ws/signaling.ts), discovery and pings (src/ws/requests.ts) until it closes
 * (docs/protocol.md §3–§7). The session owns the connection's state and the order of work:
 * frames are rate-limited, taken in by the intake (src/ws/intake.ts), and their outcomes
 * applied in arrival order by the step queue (src/ws/step-queue.ts); every byte sent goes
 * through the outbound (src/ws/outbound.ts).
 *
 * Listeners are attached synchronously in the constructor, and every inbound frame is handled
 * inside a try/catch: nothing a client sends can throw out of the session or affect another one.
 */
import type { WebSocket } from 'ws';
import type { FastifyBaseLogger } from 'fastify';
import type { Config } from '../config.js';
import { TERMINATE_AFTER_CLOSE_MS } from '../constants.js';
import { CloseCode, closeReasons, errorFrame, errorTable, ProtocolError, type ErrorCode } from '../errors.js';
import type { PreparedRegister, PreparedSignal } from '../identity/checks.js';
import type { AgentKey } from '../identity/verify.js';
import type { GatewayMetrics } from '../metrics.js';
import { decodeFrame } from '../protocol/codec.js';
import type { AgentRecord } from '../registry/agent-registry.js';
import type { DeliveryTarget } from '../routing/local-bus.js';
import type { Discovery } from './discovery.js';
import { Handshake, type HandshakeHost } from './handshake.js';
import { Intake } from './intake.js';
import { Outbound, type OutboundSocket, type RouteResult } from './outbound.js';
import { RateLimiter } from './rate-limiter.js';
import { discover, iceServers, ping, type RequestContext } from './requests.js';
import { iceServersFor } from '../ice-servers.js';
import { checkSignal, SignalStep, verifyTimed, type SignalingHost, type SignalOwner } from './signaling.js';
import { StepQueue, type Outcome } from './step-queue.js';
import type { HeartbeatSet } from './heartbeat-set.js';
import type { TurnWrites } from './turn-writes.js';

type State = 'auth' | 'open' | 'closed';

/**
 * What a session uses of the node, and nothing more (the Hub provides it): what the handshake
 * and signaling need, discovery, the node's bookkeeping of connections and registrations.
 */
export interface SessionHost extends HandshakeHost, SignalingHost {
  readonly config: Pick<
    Config,
    | 'gatewayId'
    | 'authTimeoutMs'
    | 'clockSkewMs'
    | 'rateLimit'
    | 'rateBurst'
    | 'maxBufferedBytes'
    | 'heartbeatIntervalMs'
    | 'agentTimeoutMs'
    | 'stunUrls'
    | 'turnUrls'
    | 'turnSecret'
    | 'turnTtlMs'
  >;
  readonly log: FastifyBaseLogger;
  readonly metrics: GatewayMetrics;
  readonly writes: TurnWrites;
  readonly discovery: Pick<Discovery, 'reply'>;
  /** Shutdown has begun: a new connection is closed with 1001 at once. */
  readonly draining: boolean;
  /** Every open connection (registered or not). */
  readonly sessions: Pick<HeartbeatSet<Session>, 'add' | 'delete'>;
  /** Bytes of messages received, on every connection of the node. */
  readonly inbound: { bytes: number };
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
  private readonly handshake: Handshake;
  private readonly limiter: RateLimiter;
  /** Inbound frames' outcomes, applied in arrival order. */
  private readonly steps: StepQueue;
  /** Which frames are worked on now and which wait; when the socket is read. */
  private readonly intake: Intake;
  /** What DISCOVER and PING need. */
  private readonly requests: RequestContext;
  /** Every byte sent on this connection goes through here. */
  private readonly out: Outbound;
  /** What this connection's signaling frames need of it (src/ws/signaling.ts SignalStep). */
  private readonly signals: SignalOwner;

  constructor(
    private readonly host: SessionHost,
    private readonly ws: WebSocket,
    readonly remoteAddress: string,
    /** The connection's TCP socket, under `ws`: corked per burst, watched for 'drain'. */
    socket: OutboundSocket,
  ) {
    this.out = new Outbound(ws, socket, host.config.maxBufferedBytes, host.writes, {
      onOverflow: (buffered) => this.onOverflow(buffered),
      // The client has read what it was sent: work on what waited, in order, and read again.
      onDrained: () => this.state !== 'closed' && this.steps.flush(),
    });
    this.steps = new StepQueue({
      // A congested connection's outcomes wait: one may write a reply. The drain resumes them.
      blocked: () => this.out.congested,
      applied: () => this.intake.checkCongestion(),
      failed: (err) => this.onStepError(err),
      settled: () => this.intake.afterSteps(),
    });
    this.intake = new Intake(ws, {
      handle: (data, isBinary) => this.handle(data, isBinary),
      closed: () => this.state === 'closed',
      congested: () => this.out.congested,
      pendingSteps: () => this.steps.length,
      flushSteps: () => this.steps.flush(),
      congestion: () => host.metrics.congestions.inc(),
    });
    this.requests = {
      discovery: host.discovery,
      now: host.now,
      charge: (tokens) => this.limiter.charge(tokens),
      send: (text) => this.sendText(text),
      iceServers: () => iceServersFor(host.config, this.did as string, host.now()),
    };
    this.signals = {
      host,
      did: () => this.did as string,
      flush: () => this.steps.flush(),
      closed: () => this.state === 'closed',
    };
    this.id = host.random.base64url(12);
    this.handshake = new Handshake(host, remoteAddress);
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
    this.send(this.handshake.challenge(() => this.close(CloseCode.AUTH_TIMEOUT)));
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
    this.intake.checkCongestion();
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
    this.handshake.stop();
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
    this.host.inbound.bytes += data.length;
    this.touch();
    // Rate limit first: before any parsing or signature work (docs/protocol.md §4).
    if (!this.limiter.take()) {
      this.sendError('RATE_LIMITED', null);
      if (this.limiter.abusive) {
        this.host.log.warn({ did: this.did, remote: this.remoteAddress }, 'closing session for rate-limit abuse');
        this.close(CloseCode.RATE_ABUSE);
      }
      return;
    }
    this.intake.receive(data, isBinary);
  }

  /** A write would pass MAX_BUFFERED_BYTES (the gateway's own replies beside routed frames). */
  private onOverflow(buffered: number): void {
    this.host.log.warn({ did: this.did, remote: this.remoteAddress, buffered }, 'closing slow consumer');
    this.close(CloseCode.SLOW_CONSUMER);
    // Its queued bytes are not going anywhere: free them soon even if it never reads the close.
    setTimeout(() => this.ws.terminate(), TERMINATE_AFTER_CLOSE_MS).unref();
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
      case 'BYE':
        this.verifyThenRoute(checkSignal(this.host, decoded.type, frame, this.did as string), data);
        return null;
      case 'DISCOVER':
        return discover(frame, this.requests);
      case 'PING':
        return ping(frame, this.requests);
      case 'GET_ICE_SERVERS':
        return iceServers(frame, this.requests);
      case 'REGISTER':
        throw new ProtocolError('BAD_FRAME', null, 'already registered');
    }
  }

  /** Verifies (on the event loop or off it); the frame is admitted and routed when its turn comes. */
  private verifyThenRoute(signal: PreparedSignal, data: Buffer): void {
    const step = new SignalStep(this.signals, signal, data, this.key as AgentKey, performance.now());
    this.steps.enqueue(step);
    this.intake.update();
    step.submit();
  }

  private onAuthFrame(data: Buffer, isBinary: boolean): Promise<void> {
    const prepared = this.handshake.check(data, isBinary);
    this.intake.holdForRegister();
    return new Promise<boolean | null>((resolve) => verifyTimed(this.host, prepared.key, prepared.signature, prepared.message, resolve)).then(
      (verified) => {
        try {
          return this.completeRegister(prepared, verified);
        } finally {
          // Registered: what followed the REGISTER runs as the session's frames. Refused: it
          // is dropped with the connection.
          this.intake.registerDone(this.state === 'open');
        }
      },
    );
  }

  private completeRegister(prepared: PreparedRegister, verified: boolean | null): void | Promise<void> {
    // Closed meanwhile (auth timeout, client gone, shutdown): nothing to register.
    if (this.state !== 'auth') return;
    if (this.handshake.admit(prepared, verified) === 'full') return this.close(CloseCode.FULL);
    const now = this.host.now();
    const did = prepared.frame.did;
    this.did = did;
    this.key = prepared.key;
    const record: AgentRecord = { did, meta: prepared.frame.meta ?? {}, session: this.id, connectedAt: now, lastSeen: now };
    this.record = record;
    this.state = 'open';
    const announced = this.host.register(this, record);
    this.host.log.info({ did, remote: this.remoteAddress, session: this.id }, 'agent registered');
    const registered = this.handshake.registered(did, this.id);
    if (announced) return announced.then(() => this.send(registered));
    this.send(registered);
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
    if (this.out.reply(text)) this.intake.checkCongestion();
  }

  private touch(): void {
    if (this.record) this.record.lastSeen = this.host.now();
  }

  private onClose(code: number): void {
    this.state = 'closed';
    this.handshake.stop();
    this.out.dispose();
    this.host.sessions.delete(this);
    this.host.unregister(this);
    this.host.log.info({ did: this.did, remote: this.remoteAddress, code }, 'connection closed');
  }
}
