/**
 * A registered session's signaling frames (OFFER, ANSWER, ICE, BYE; docs/protocol.md §5):
 * checks → signature verification → freshness and replay → delivery of the original bytes
 * through the node's router. Also the timed signature verification the handshake uses.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Config } from '../config.js';
import { ProtocolError } from '../errors.js';
import { admitSignal, prepareSignal, type PreparedSignal } from '../identity/checks.js';
import type { ReplayCache } from '../identity/replay-cache.js';
import type { AgentKey } from '../identity/verify.js';
import type { VerifyDone, VerifyPool, VerifyRequest } from '../identity/verify-pool.js';
import type { GatewayMetrics } from '../metrics.js';
import type { SignalingType } from '../protocol/frames.js';
import type { DeliveryResult, Router } from '../routing/router.js';
import type { Step } from './step-queue.js';

/** No verdict from the verification workers (one died): an internal failure, not a bad signature. */
export const VERIFY_FAILED = 'signature verification failed internally';

/** What verification needs: the verifier and the histogram it reports to. */
export interface VerifyHost {
  readonly verifier: Pick<VerifyPool, 'verify' | 'submit'>;
  readonly metrics: Pick<GatewayMetrics, 'verifySeconds'>;
}

/** What signaling needs of the node. */
export interface SignalingHost extends VerifyHost {
  readonly config: Pick<Config, 'clockSkewMs'>;
  readonly metrics: Pick<GatewayMetrics, 'verifySeconds' | 'framesRouted' | 'routeSeconds'>;
  readonly replay: ReplayCache;
  readonly router: Router;
  readonly log: FastifyBaseLogger;
  /** Per-frame log lines are built only when debug logging is on. */
  readonly debug: boolean;
  now(): number;
}

/**
 * Verifies `signature` over `message` with `key` off the event loop (or inline when it has time);
 * `done` always runs asynchronously. A missing signature (malformed, S ≥ L) fails without a trip
 * to the workers.
 */
export function verifyTimed(host: VerifyHost, key: AgentKey, signature: Buffer | null, message: Uint8Array, done: VerifyDone): void {
  if (signature === null) {
    queueMicrotask(() => done(false));
    return;
  }
  const started = performance.now();
  host.verifier.verify(key.publicKey, message, signature, (ok) => {
    observeVerify(host, started);
    done(ok);
  });
}

/**
 * Records one verification, submitted at `startedAt` (performance.now()), in
 * aiconexus_signature_verify_seconds. performance.now() rather than prom-client's startTimer: no
 * hrtime tuples or timer closure per frame.
 */
function observeVerify(host: VerifyHost, startedAt: number): void {
  host.metrics.verifySeconds.observe((performance.now() - startedAt) / 1000);
}

/** What a {@link SignalStep} needs of its connection (one object per session, not per frame). */
export interface SignalOwner {
  readonly host: SignalingHost;
  /** The session's DID (registered). */
  did(): string;
  /** Applies the connection's ready steps in order (its step queue's flush). */
  flush(): void;
  closed(): boolean;
}

/**
 * One signaling frame from its checks to its outcome: the verification request the pool answers
 * and the slot it holds in its connection's step queue, in one object. Per frame that replaces a
 * slot record, a pool item and four closures: 0.4-0.45 KB of the ~10 KB a frame allocated
 * (`npm run bench -- --only latency --heap-sample --rates 1000,2500`, 2 rounds each: 11.5 → 11.1
 * and 10.05 → 9.6 KB). Each scavenge of the young generation pauses the event loop, and how
 * often one comes follows the bytes allocated.
 */
export class SignalStep implements VerifyRequest, Step {
  ready = false;
  private ok: boolean | null = null;
  readonly publicKey: Uint8Array;
  readonly message: Uint8Array;
  readonly signature: Uint8Array;

  constructor(
    private readonly owner: SignalOwner,
    private readonly signal: PreparedSignal,
    private readonly data: Buffer,
    key: AgentKey,
    /** performance.now() when the frame passed its checks: times verification and the route. */
    private readonly checkedAt: number,
  ) {
    this.publicKey = key.publicKey;
    this.message = signal.message;
    this.signature = signal.signature ?? NO_SIGNATURE;
  }

  /** Hands the signature to the verifier; a missing one (malformed, S ≥ L) fails without a trip there. */
  submit(): void {
    if (this.signal.signature === null) queueMicrotask(() => this.verified(false));
    else this.owner.host.verifier.submit(this);
  }

  /** The pool's verdict: the step is ready, and runs once the frames before it have. */
  verified(ok: boolean | null): void {
    const host = this.owner.host;
    if (this.signal.signature !== null) observeVerify(host, this.checkedAt);
    this.ok = ok;
    this.ready = true;
    this.owner.flush();
  }

  /** The outcome, in the connection's order: admitted and routed, or the sender's error. */
  run(): void | Promise<void> {
    if (this.ok !== null) return admitAndRoute(this.owner.host, this.signal, this.ok, this.data, this.owner.did(), this.checkedAt);
    // e.g. the pool stopped at shutdown: nobody to tell
    if (!this.owner.closed()) throw verifyFailed(this.owner.host, this.signal, this.owner.did());
  }
}

/** Stands in for a signature that did not decode (never sent to the verifier). */
const NO_SIGNATURE = new Uint8Array(0);

/** The synchronous checks of one signaling frame from `did` (throws its ProtocolError). */
export function checkSignal(host: SignalingHost, type: SignalingType, frame: Record<string, unknown>, did: string): PreparedSignal {
  return prepareSignal(type, frame, { did, now: host.now(), clockSkewMs: host.config.clockSkewMs });
}

/**
 * After the verdict: freshness and replay, then delivery of the original bytes. A plain return
 * when the target is local (no promise on the hot path); a promise when it is on another node.
 * Every refusal throws the sender's ProtocolError. `checkedAt` (performance.now() when the
 * frame passed its checks) times the route for aiconexus_frame_route_seconds.
 */
export function admitAndRoute(host: SignalingHost, signal: PreparedSignal, verified: boolean, data: Buffer, from: string, checkedAt: number): void | Promise<void> {
  admitSignal(signal, verified, host.replay, host.config.clockSkewMs);
  const result = host.router.deliver(signal.to, data);
  if (typeof result === 'string') return routed(host, signal, result, from, checkedAt);
  return result.then((r) => routed(host, signal, r, from, checkedAt));
}

/** No verdict: not the client's fault, and the id is not used up (the frame may be sent again). */
export function verifyFailed(host: SignalingHost, signal: PreparedSignal, from: string): ProtocolError {
  host.log.error({ did: from, id: signal.id }, VERIFY_FAILED);
  return new ProtocolError('BAD_FRAME', signal.id, 'signature could not be verified (gateway error); the frame may be sent again');
}

/** Answers a delivery: counted and logged when delivered, else the sender's error. */
function routed(host: SignalingHost, signal: PreparedSignal, result: DeliveryResult, from: string, checkedAt: number): void {
  if (result === 'busy') throw new ProtocolError('TARGET_BUSY', signal.id);
  if (result === 'unavailable') throw new ProtocolError('UNAVAILABLE', signal.id);
  if (result === 'not_found') throw new ProtocolError('AGENT_NOT_FOUND', signal.id);
  host.metrics.routeSeconds.observe((performance.now() - checkedAt) / 1000);
  host.metrics.framesRouted.inc(signal.type);
  if (host.debug) host.log.debug({ did: from, to: signal.to, type: signal.type, id: signal.id }, 'frame routed');
}
