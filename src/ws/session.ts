/**
 * One WebSocket connection's life: CHALLENGE → REGISTER → REGISTERED, then signaling, discovery
 * and pings until it closes (PROTOCOL.md §3–§6).
 *
 * Listeners are attached synchronously in the constructor, and every inbound frame is handled
 * inside a try/catch: nothing a client sends can throw out of the session or affect another one.
 */
import { randomBytes } from 'node:crypto';
import type { WebSocket } from 'ws';
import { CloseCode, closeReasons, errorFrame, errorTable, ProtocolError, type ErrorCode } from '../errors.js';
import type { AgentKey } from '../identity/verify.js';
import type { AgentRecord } from '../registry/agent-registry.js';
import type { DeliveryTarget } from '../routing/local-bus.js';
import { PROTOCOL_VERSION } from '../protocol/frames.js';
import { decodeFrame, refOf } from '../protocol/codec.js';
import { checkRegister, checkSignaling } from '../identity/checks.js';
import type { Hub } from './hub.js';
import { RateLimiter } from './rate-limiter.js';
import { discoverSchema, pingSchema } from '../protocol/frames.js';
import { DISCOVER_DEFAULT_LIMIT } from '../protocol/frames.js';
import { schemaError } from '../protocol/codec.js';

type State = 'auth' | 'open' | 'closed';

export class Session implements DeliveryTarget {
  /** Opaque session id, sent in REGISTERED. */
  readonly id = randomBytes(12).toString('base64url');
  did: string | undefined;
  private key: AgentKey | undefined;
  private record: AgentRecord | undefined;
  private state: State = 'auth';
  private readonly nonce = randomBytes(32).toString('base64url');
  private readonly limiter: RateLimiter;
  private authTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly hub: Hub,
    private readonly ws: WebSocket,
    readonly remoteAddress: string,
  ) {
    this.limiter = new RateLimiter(hub.config.rateLimit, hub.config.rateBurst, hub.now);
    ws.on('message', (data, isBinary) => this.onMessage(data as Buffer, isBinary));
    ws.on('pong', () => this.touch());
    ws.on('close', (code) => this.onClose(code));
    ws.on('error', (err) => hub.log.debug({ err, remote: remoteAddress }, 'websocket error'));
    hub.sessions.add(this);
    hub.log.info({ remote: remoteAddress }, 'connection opened');

    if (hub.draining) {
      this.close(CloseCode.GOING_AWAY);
      return;
    }
    this.send({
      type: 'CHALLENGE',
      protocol: PROTOCOL_VERSION,
      gateway: hub.config.gatewayId,
      nonce: this.nonce,
      expires_in_ms: hub.config.authTimeoutMs,
    });
    this.authTimer = setTimeout(() => {
      hub.metrics.handshakes.inc({ result: 'timeout' });
      hub.log.info({ remote: remoteAddress }, 'auth timeout');
      this.close(CloseCode.AUTH_TIMEOUT);
    }, hub.config.authTimeoutMs);
    this.authTimer.unref();
  }

  /** Sends a routed frame's original bytes (DeliveryTarget). */
  deliver(data: Buffer): void {
    if (this.state === 'open' && this.ws.readyState === this.ws.OPEN) this.ws.send(data, { binary: false });
  }

  /** Heartbeat: a WebSocket ping; the pong (or any frame) counts as activity. */
  ping(): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    try {
      this.ws.ping();
    } catch (err) {
      this.hub.log.debug({ err }, 'ping failed');
    }
  }

  /** Closes the connection with a protocol close code (idempotent). */
  close(code: CloseCode): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.clearAuthTimer();
    this.hub.metrics.closes.inc({ code: String(code) });
    if (code === CloseCode.INACTIVE || code === CloseCode.REPLACED || code === CloseCode.GOING_AWAY) {
      // Unlist at once: frames for this DID must not reach a closing socket.
      this.hub.unregister(this);
    }
    try {
      this.ws.close(code, closeReasons[code]);
    } catch {
      this.ws.terminate();
    }
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    if (this.state === 'closed') return;
    try {
      this.touch();
      // Rate limit first: before any parsing or signature work (PROTOCOL.md §4).
      if (!this.limiter.take()) {
        this.sendError('RATE_LIMITED', null);
        if (this.limiter.abusive) {
          this.hub.log.warn({ did: this.did, remote: this.remoteAddress }, 'closing session for rate-limit abuse');
          this.close(CloseCode.RATE_ABUSE);
        }
        return;
      }
      if (this.state === 'auth') this.onAuthFrame(data, isBinary);
      else this.onFrame(data, isBinary);
    } catch (err) {
      if (err instanceof ProtocolError) {
        this.fail(err);
      } else {
        // A bug, not bad input: report it without losing the session.
        this.hub.log.error({ err, did: this.did }, 'frame handling failed');
        this.sendError('BAD_FRAME', null, 'frame could not be processed');
      }
    }
  }

  private onAuthFrame(data: Buffer, isBinary: boolean): void {
    const decoded = decodeFrame(data, isBinary);
    if (!decoded.ok || decoded.type !== 'REGISTER') {
      this.hub.metrics.handshakes.inc({ result: 'failed' });
      this.hub.log.info({ remote: this.remoteAddress }, 'auth failure: frame before REGISTERED');
      throw new ProtocolError('AUTH_REQUIRED', null);
    }
    let checked;
    try {
      checked = checkRegister(decoded.value, {
        nonce: this.nonce,
        gatewayId: this.hub.config.gatewayId,
        now: this.hub.now(),
        clockSkewMs: this.hub.config.clockSkewMs,
        verifyMetrics: this.hub.metrics.verifySeconds,
      });
    } catch (err) {
      this.hub.metrics.handshakes.inc({ result: 'failed' });
      this.hub.log.info(
        { remote: this.remoteAddress, did: didOf(decoded.value), reason: (err as Error).message },
        'auth failure',
      );
      throw err;
    }
    if (this.hub.isFull(checked.frame.did)) {
      this.hub.metrics.handshakes.inc({ result: 'failed' });
      this.hub.log.warn({ remote: this.remoteAddress, did: checked.frame.did }, 'gateway full (MAX_AGENTS)');
      return this.close(CloseCode.FULL);
    }
    this.clearAuthTimer();
    const now = this.hub.now();
    this.did = checked.frame.did;
    this.key = checked.key;
    this.record = { did: this.did, meta: checked.frame.meta ?? {}, session: this.id, connectedAt: now, lastSeen: now };
    this.state = 'open';
    this.hub.register(this, this.record);
    this.hub.metrics.handshakes.inc({ result: 'ok' });
    this.hub.log.info({ did: this.did, remote: this.remoteAddress, session: this.id }, 'agent registered');
    this.send({
      type: 'REGISTERED',
      did: this.did,
      session: this.id,
      heartbeat_ms: this.hub.config.heartbeatIntervalMs,
      agent_timeout_ms: this.hub.config.agentTimeoutMs,
    });
  }

  private onFrame(data: Buffer, isBinary: boolean): void {
    const decoded = decodeFrame(data, isBinary);
    if (!decoded.ok) throw new ProtocolError(decoded.code, decoded.ref, decoded.message);
    const frame = decoded.value;
    switch (decoded.type) {
      case 'OFFER':
      case 'ANSWER':
      case 'ICE':
      case 'BYE': {
        const checked = checkSignaling(decoded.type, frame, {
          did: this.did as string,
          key: this.key as AgentKey,
          now: this.hub.now(),
          clockSkewMs: this.hub.config.clockSkewMs,
          replay: this.hub.replay,
          verifyMetrics: this.hub.metrics.verifySeconds,
        });
        if (!this.hub.bus.deliver(checked.to, data)) throw new ProtocolError('AGENT_NOT_FOUND', checked.id);
        this.hub.metrics.framesRouted.inc({ type: decoded.type });
        if (this.hub.debug) {
          this.hub.log.debug({ did: this.did, to: checked.to, type: decoded.type, id: checked.id }, 'frame routed');
        }
        return;
      }
      case 'DISCOVER': {
        const parsed = discoverSchema.safeParse(frame);
        if (!parsed.success) throw new ProtocolError('BAD_FRAME', refOf(frame), schemaError(parsed.error));
        const { id, capability, limit } = parsed.data;
        this.send({ type: 'AGENTS', ref: id ?? null, agents: this.hub.discover(capability, limit ?? DISCOVER_DEFAULT_LIMIT) });
        return;
      }
      case 'PING': {
        const parsed = pingSchema.safeParse(frame);
        if (!parsed.success) throw new ProtocolError('BAD_FRAME', refOf(frame), schemaError(parsed.error));
        this.send({ type: 'PONG', ref: parsed.data.id ?? null, ts: this.hub.now() });
        return;
      }
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
    this.hub.metrics.errors.inc({ code });
    this.send(errorFrame(code, ref, message));
  }

  private send(frame: object): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(JSON.stringify(frame));
  }

  private touch(): void {
    if (this.record) this.record.lastSeen = this.hub.now();
  }

  private clearAuthTimer(): void {
    if (this.authTimer) clearTimeout(this.authTimer);
    this.authTimer = undefined;
  }

  private onClose(code: number): void {
    this.state = 'closed';
    this.clearAuthTimer();
    this.hub.sessions.delete(this);
    this.hub.unregister(this);
    this.hub.log.info({ did: this.did, remote: this.remoteAddress, code }, 'connection closed');
  }
}

function didOf(frame: Record<string, unknown>): string | undefined {
  return typeof frame.did === 'string' ? frame.did.slice(0, 64) : undefined;
}
