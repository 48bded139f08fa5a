/**
 * One connection's handshake (docs/protocol.md §3): CHALLENGE with a fresh nonce, the
 * AUTH_TIMEOUT timer, the checks of the REGISTER frame, the verdict on it, and REGISTERED.
 * The session drives it and owns the state; this module owns what the handshake decides.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Config } from '../config.js';
import { ProtocolError } from '../errors.js';
import { admitRegister, prepareRegister, type PreparedRegister } from '../identity/checks.js';
import type { GatewayMetrics } from '../metrics.js';
import { decodeFrame } from '../protocol/codec.js';
import { PROTOCOL_VERSION } from '../protocol/frames.js';
import { iceConfigured, iceServersFor } from '../ice-servers.js';
import type { RandomPool } from './random-pool.js';
import { VERIFY_FAILED } from './signaling.js';

/** What the handshake needs of the node. */
export interface HandshakeHost {
  readonly config: Pick<
    Config,
    'gatewayId' | 'authTimeoutMs' | 'clockSkewMs' | 'heartbeatIntervalMs' | 'agentTimeoutMs' | 'stunUrls' | 'turnUrls' | 'turnSecret' | 'turnTtlMs'
  >;
  readonly metrics: Pick<GatewayMetrics, 'handshakes'>;
  readonly log: FastifyBaseLogger;
  readonly random: Pick<RandomPool, 'base64url'>;
  now(): number;
  /** Registering `did` would pass MAX_AGENTS on this node. */
  isFull(did: string): boolean;
}

export class Handshake {
  /** This connection's CHALLENGE nonce: a REGISTER must sign it. */
  readonly nonce: string;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly host: HandshakeHost,
    private readonly remote: string,
  ) {
    this.nonce = host.random.base64url(32);
  }

  /** The CHALLENGE frame; `onTimeout` runs if no REGISTER is accepted within AUTH_TIMEOUT. */
  challenge(onTimeout: () => void): object {
    const { config } = this.host;
    this.timer = setTimeout(() => {
      this.host.metrics.handshakes.inc({ result: 'timeout' });
      this.host.log.info({ remote: this.remote }, 'auth timeout');
      onTimeout();
    }, config.authTimeoutMs);
    this.timer.unref();
    return { type: 'CHALLENGE', protocol: PROTOCOL_VERSION, gateway: config.gatewayId, nonce: this.nonce, expires_in_ms: config.authTimeoutMs };
  }

  /**
   * The synchronous checks of a frame received before REGISTERED: it must be a REGISTER that
   * passes schema → nonce → aud → ts → did (AUTH_REQUIRED or AUTH_FAILED otherwise). The
   * signature is verified next.
   */
  check(data: Buffer, isBinary: boolean): PreparedRegister {
    const decoded = decodeFrame(data, isBinary);
    if (!decoded.ok || decoded.type !== 'REGISTER') {
      this.host.metrics.handshakes.inc({ result: 'failed' });
      this.host.log.info({ remote: this.remote }, 'auth failure: frame before REGISTERED');
      throw new ProtocolError('AUTH_REQUIRED', null);
    }
    try {
      return prepareRegister(decoded.value, {
        nonce: this.nonce,
        gatewayId: this.host.config.gatewayId,
        now: this.host.now(),
        clockSkewMs: this.host.config.clockSkewMs,
      });
    } catch (err) {
      this.failed(err, didOf(decoded.value));
    }
  }

  /**
   * The verdict on a checked REGISTER: throws AUTH_FAILED for a bad signature (an Error when
   * there was no verdict), answers 'full' past MAX_AGENTS, else 'accepted' (the timer stops).
   */
  admit(prepared: PreparedRegister, verified: boolean | null): 'accepted' | 'full' {
    if (verified === null) {
      this.host.metrics.handshakes.inc({ result: 'failed' });
      throw new Error(VERIFY_FAILED);
    }
    try {
      admitRegister(verified);
    } catch (err) {
      this.failed(err, prepared.frame.did);
    }
    if (this.host.isFull(prepared.frame.did)) {
      this.host.metrics.handshakes.inc({ result: 'failed' });
      this.host.log.warn({ remote: this.remote, did: prepared.frame.did }, 'gateway full (MAX_AGENTS)');
      return 'full';
    }
    this.stop();
    this.host.metrics.handshakes.inc({ result: 'ok' });
    return 'accepted';
  }

  /** The REGISTERED frame of an accepted REGISTER; with ICE servers when the gateway has them. */
  registered(did: string, session: string): object {
    const { config } = this.host;
    const frame = { type: 'REGISTERED', did, session, heartbeat_ms: config.heartbeatIntervalMs, agent_timeout_ms: config.agentTimeoutMs };
    if (!iceConfigured(config)) return frame;
    const grant = iceServersFor(config, did, this.host.now());
    return { ...frame, ice_servers: grant.iceServers, ice_servers_expires_at: grant.expiresAt };
  }

  /** Stops the AUTH_TIMEOUT timer (accepted, or the connection closed). */
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private failed(err: unknown, did: string | undefined): never {
    this.host.metrics.handshakes.inc({ result: 'failed' });
    this.host.log.info({ remote: this.remote, did, reason: (err as Error).message }, 'auth failure');
    throw err;
  }
}

function didOf(frame: Record<string, unknown>): string | undefined {
  return typeof frame.did === 'string' ? frame.did.slice(0, 64) : undefined;
}
