/**
 * Ed25519 verification off the event loop, in a small pool of worker threads.
 *
 * Why not the callback form of crypto.verify (libuv threadpool), which the gateway used first:
 * each call there costs the event loop 13–30 µs of dispatch and completion (measured on the
 * 2-core bench machine, about a tenth of a verification), shares four threads with fs and dns,
 * and oversubscribes small machines. Here every verification requested during one turn of the
 * event loop goes to a worker as one message (one transferred buffer), and the results come back
 * as one message: about 3 µs of event-loop time per verification.
 *
 * Handing a signature to a thread and back costs two cross-thread wake-ups, which on a small VM
 * cost more CPU than the verification, and each busy thread competes with the event loop for the
 * cores. So verification runs on the event loop itself while the loop has time to spare (its
 * recent busy share is below `inlineBelowUtilization`, up to `inlineBudgetMs` per turn), and
 * otherwise the first verification of a turn does while the workers are idle (see dispatch).
 *
 * Callers keep their own order (the session's step queue): the pool promises only that every
 * `done` (a request's `verified`) is called exactly once, asynchronously, with true/false, or with null when the frame
 * could not be verified at all (a worker died; it is replaced).
 *
 * Workers start when needed (the first batch starts one, another starts when every running one
 * has a batch in flight), so an idle gateway does not pay their memory, and they exit after
 * `idleExitMs` without a batch (default 30 s) once the event loop has been quiet over that time
 * (`idleExitMaxBusy`): at moderate load the loop verifies everything itself and the threads sit
 * idle, but the next busy spell would pay for a new one, so a busy loop keeps them. After a burst
 * a worker holds 10–12 MB of RSS (its V8 heap ~5 MB, the rest its stack and per-thread state);
 * its exit returns that. The pool decides the exit on the event loop and takes the lane out
 * before stopping the worker, so nothing is ever sent to a worker that is exiting: a verification
 * arriving then starts a fresh one. A fresh worker is ready 55–110 ms after it starts (starting
 * a Node thread costs 65–100 ms of CPU on the 2-core bench VM) and says so; until then the event
 * loop verifies what would go to it, so a burst after a quiet spell waits for the loop, never for
 * a thread (see dispatch).
 */
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { VERIFY_IDLE_EXIT_MAX_BUSY } from '../constants.js';
import { busyShareMeter } from '../event-loop.js';
import { ed25519Verifier, type Ed25519Verifier } from './ed25519.js';
import { SMALL_ORDER_Y_HEX } from './verify.js';

/** Called once per verification: true/false, or null when verification itself failed. */
export type VerifyDone = (ok: boolean | null) => void;

/**
 * One verification, answered by one call of `verified`. The gateway's signaling frames pass an
 * object that is also their step-queue slot (src/ws/signaling.ts SignalStep): one allocation per
 * frame instead of an item, a callback and the closures around it.
 */
export interface VerifyRequest {
  readonly publicKey: Uint8Array;
  readonly message: Uint8Array;
  readonly signature: Uint8Array;
  /** The verdict: true/false, or null when the signature could not be verified at all. */
  verified(ok: boolean | null): void;
}


/** Bytes of one item in a batch: message length (u32), public key, signature, message. */
const HEADER = 4 + 32 + 64;

/**
 * The worker: CommonJS evaluated from a string (`eval: true`), so it runs unchanged from src/
 * under tsx and vitest and from dist/ under plain node. It verifies as the event loop's
 * Ed25519Verifier does (ed25519.ts): libsodium when `sodiumPath` is set; otherwise OpenSSL, after
 * refusing a small-order R as libsodium does. OpenSSL's KeyObjects are cached per public key; the
 * cache is bounded (cleared when full: rebuilding one costs ~20 µs).
 */
const WORKER_SOURCE = `
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const { createPublicKey, verify } = require('node:crypto');
const sodium = workerData.sodiumPath === null ? null : require(workerData.sodiumPath);
const smallOrderY = workerData.smallOrderY.map((h) => Buffer.from(h, 'hex'));
const keys = new Map();
const maxKeys = workerData.maxKeys;
function smallOrderR(buf, at) {
  for (const y of smallOrderY) {
    if (buf.compare(y, 0, 31, at, at + 31) === 0 && (buf[at + 31] & 0x7f) === y[31]) return true;
  }
  return false;
}
function opensslVerify(buf, key, sig, msg, end) {
  if (smallOrderR(buf, sig)) return false;
  return verify(null, buf.subarray(msg, end), keyObject(buf, key), buf.subarray(sig, msg));
}
function keyObject(buf, at) {
  const id = buf.toString('latin1', at, at + 32);
  let key = keys.get(id);
  if (key === undefined) {
    if (keys.size >= maxKeys) keys.clear();
    key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: buf.toString('base64url', at, at + 32) }, format: 'jwk' });
    keys.set(id, key);
  }
  return key;
}
parentPort.on('message', (batch) => {
  const buf = Buffer.from(batch.buffer);
  const results = new Uint8Array(batch.count);
  let at = 0;
  for (let i = 0; i < batch.count; i++) {
    const length = buf.readUInt32LE(at);
    const key = at + 4;
    const sig = key + 32;
    const msg = sig + 64;
    at = msg + length;
    try {
      const ok = sodium === null
        ? opensslVerify(buf, key, sig, msg, at)
        : sodium.crypto_sign_verify_detached(buf.subarray(sig, msg), buf.subarray(msg, at), buf.subarray(key, sig));
      results[i] = ok ? 1 : 0;
    } catch {
      results[i] = 0;
    }
  }
  parentPort.postMessage(results, [results.buffer]);
});
parentPort.postMessage('ready');
`;

export interface VerifyPoolOptions {
  /** Worker threads (≥ 1). */
  threads: number;
  /**
   * Verify the first signature of a turn on the event loop itself when no worker has anything in
   * flight (default true). See {@link VerifyPool.dispatch}.
   */
  inlineWhenIdle?: boolean;
  /**
   * While the event loop's recent utilization (busy share of the last ~100 ms) is below this,
   * a turn's signatures are verified on the event loop, up to {@link inlineBudgetMs} per turn;
   * only the rest goes to the workers. 0 turns this off (default 0.75). See dispatch.
   */
  inlineBelowUtilization?: number;
  /** Event-loop time one turn may spend verifying inline under inlineBelowUtilization (default 2 ms). */
  inlineBudgetMs?: number;
  /**
   * While no worker is ready (the first one, or the first after they idled out, is starting),
   * verify on the event loop what would go to the workers, rather than queue it for a thread
   * that answers 55–110 ms later; and start no second thread while one is starting (default
   * true). See {@link VerifyPool.dispatch}.
   */
  inlineWhileStarting?: boolean;
  /** KeyObjects cached per worker thread when it verifies with OpenSSL (default 65,536). */
  maxKeysPerWorker?: number;
  /** The Ed25519 implementation, on the event loop and in the threads (default: ed25519Verifier('auto')). */
  verifier?: Ed25519Verifier;
  /**
   * A worker thread with nothing in flight exits after this long without a batch, and the next
   * batch starts a new one (default 30,000 ms; 0 or Infinity: never).
   */
  idleExitMs?: number;
  /**
   * An idle worker exits only when the event loop was busy less than this share (0–1) since the
   * worker started or was last kept; otherwise it is kept, and looked at again idleExitMs later
   * (default VERIFY_IDLE_EXIT_MAX_BUSY, 0.05; 1: whatever the load).
   */
  idleExitMaxBusy?: number;
  /**
   * Called when an idle worker is told to exit (it is already out of the pool), with a promise
   * that resolves once its thread has exited.
   */
  onIdleExit?: (exited: Promise<void>) => void;
  /** Reports a worker that failed (it is replaced); default: ignore. */
  onWorkerError?: (err: Error) => void;
  /** Reports a `done` callback that threw (the other verdicts are still delivered). */
  onCallbackError?: (err: unknown) => void;
}

interface Lane {
  worker: Worker;
  /** The worker has set itself up and said so (its first message): batches sent now are answered at once. */
  ready: boolean;
  /** Batches sent and not yet answered, oldest first (a worker answers in order). */
  inFlight: VerifyRequest[][];
  /** Items in `inFlight`, for picking the least loaded lane. */
  load: number;
  /** performance.now() when the lane last received a batch or answered one. */
  active: number;
  /** Fires every idleExitMs while the lane runs; exits the worker once it has been idle that long. */
  idle: NodeJS.Timeout | undefined;
  /** The event loop's busy share since the worker started or was last kept for a busy loop (checkIdle). */
  busySince: () => number;
}

/** Default for {@link VerifyPoolOptions.idleExitMs}. */
export const DEFAULT_IDLE_EXIT_MS = 30_000;

/** A pool of verification workers; one per gateway (buildApp), closed with it. */
export class VerifyPool {
  private readonly lanes: (Lane | undefined)[];
  /** Submitted during this turn of the event loop, sent to the workers at its end. */
  private queued: VerifyRequest[] = [];
  private scheduled = false;
  /** To verify on the event loop, one per microtask (see verifyNext), and whether that runs. */
  private inline: VerifyRequest[] = [];
  private inlineRunning = false;
  /** Event-loop time spent verifying inline in this turn (reset at its end), ms. */
  private turnSpentMs = 0;
  private readonly endTurn = (): void => {
    this.turnSpentMs = 0;
  };
  private closed = false;
  /** Items sent to workers and not yet answered. */
  private inFlight = 0;
  /** Verifies on the event loop; its backend and sodium-native's path go to the threads. */
  readonly ed25519: Ed25519Verifier;
  /** Verifications done on the event loop and by the workers (for tests and metrics). */
  readonly counts = { inline: 0, workers: 0 };
  /**
   * Worker threads started, stopped for being idle, and idle ones kept because the event loop
   * was busy (idleExitMaxBusy; for tests and metrics).
   */
  readonly threads = { started: 0, idleExits: 0, keptBusy: 0 };
  /** Workers told to exit for being idle, until their threads have exited (close() waits for them). */
  private readonly exiting = new Set<Promise<void>>();
  private readonly idleExitMs: number;
  private readonly idleExitMaxBusy: number;
  /** The event loop's busy share: measured when it was last sampled (`sampledAt`). */
  private readonly busyShare = busyShareMeter();
  private sampledAt = performance.now();
  private utilization = 0;
  /** Verifications sent to the workers since the busy share was last sampled. */
  private offloaded = 0;
  /**
   * Moving average of one inline verification, ms: what the loop would have spent on the
   * verifications it sent to the workers (see loopUtilization).
   */
  private inlineMs = 0.15;
  /** options.inlineBelowUtilization and options.inlineBudgetMs with their defaults. */
  private readonly inlineBelow: number;
  private readonly inlineBudgetMs: number;

  constructor(private readonly options: VerifyPoolOptions) {
    if (!Number.isInteger(options.threads) || options.threads < 1) throw new RangeError('threads must be an integer ≥ 1');
    this.lanes = Array.from({ length: options.threads }, () => undefined);
    const idle = options.idleExitMs ?? DEFAULT_IDLE_EXIT_MS;
    if (!(idle >= 0)) throw new RangeError('idleExitMs must be ≥ 0');
    // setTimeout takes at most 2^31-1 ms; longer means never.
    this.idleExitMs = idle > 0 && idle < 2 ** 31 ? idle : 0;
    this.idleExitMaxBusy = options.idleExitMaxBusy ?? VERIFY_IDLE_EXIT_MAX_BUSY;
    if (!(this.idleExitMaxBusy >= 0 && this.idleExitMaxBusy <= 1)) throw new RangeError('idleExitMaxBusy must be within 0–1');
    this.inlineBelow = options.inlineBelowUtilization ?? 0.75;
    this.inlineBudgetMs = options.inlineBudgetMs ?? 2;
    this.ed25519 = options.verifier ?? ed25519Verifier('auto');
  }

  /** Worker threads currently running (they start on first use). */
  get running(): number {
    return this.lanes.filter((l) => l !== undefined).length;
  }

  /** Worker threads that have started and answer batches (the others are starting). */
  get ready(): number {
    return this.lanes.filter((l) => l?.ready === true).length;
  }

  /** Verifications submitted and not yet answered. */
  get pending(): number {
    return this.queued.length + this.inFlight;
  }

  /**
   * Verifies `signature` (64 bytes) over `message` with the raw Ed25519 `publicKey` (32 bytes,
   * already vetted: see isAcceptablePublicKey). `done` runs asynchronously, exactly once.
   */
  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array, done: VerifyDone): void {
    this.submit({ publicKey, message, signature, verified: done });
  }

  /** {@link verify} for a request object: `item.verified` runs asynchronously, exactly once. */
  submit(item: VerifyRequest): void {
    if (this.closed || item.publicKey.length !== 32 || item.signature.length !== 64) {
      queueMicrotask(() => this.answer(item, this.closed ? null : false));
      return;
    }
    if (this.queued.length === 0 && this.turnSpentMs < this.inlineBudgetMs && this.hasTimeToSpare()) {
      this.inline.push(item);
      if (!this.inlineRunning) {
        this.inlineRunning = true;
        queueMicrotask(this.verifyNext);
      }
      return;
    }
    this.defer(item);
  }

  /** Queues `item` for the end of the turn (dispatch). */
  private defer(item: VerifyRequest): void {
    this.queued.push(item);
    if (!this.scheduled) {
      this.scheduled = true;
      // After the poll phase: every frame read in this turn of the loop goes in one batch.
      setImmediate(() => this.dispatch());
    }
  }

  /**
   * Verifies the next inline item here and answers it, then queues itself again as a microtask.
   * It starts in the callback that submitted the item (the socket read that brought the frame),
   * not at the end of the turn, and what the answer queued (the delivery's write, uncorked in a
   * microtask: src/ws/turn-writes.ts) runs before the next verification: each frame leaves as
   * soon as it is verified, as from a relay that verifies inline, instead of all of a turn's
   * frames after all of its verifications. Past the turn's budget the rest go to the workers.
   */
  private readonly verifyNext = (): void => {
    const item = this.inline.shift();
    if (item === undefined) {
      this.inlineRunning = false;
      return;
    }
    if (this.closed || this.turnSpentMs >= this.inlineBudgetMs) {
      this.defer(item);
    } else {
      if (this.turnSpentMs === 0) setImmediate(this.endTurn);
      this.turnSpentMs += this.verifyInline(item);
    }
    queueMicrotask(this.verifyNext);
  };

  /** Stops the workers; verifications still in flight get `null`. */
  async close(): Promise<void> {
    this.closed = true;
    const lanes = this.lanes.filter((l): l is Lane => l !== undefined);
    this.lanes.fill(undefined);
    for (const lane of lanes) {
      clearTimeout(lane.idle);
      lane.worker.removeAllListeners('exit');
    }
    await Promise.all([...lanes.map((lane) => lane.worker.terminate()), ...this.exiting]);
    for (const lane of lanes) failAll(lane.inFlight.flat());
    this.inFlight = 0;
    failAll(this.queued);
    this.queued = [];
  }

  /**
   * Runs at the end of the turn and decides where each item is verified:
   * - the event loop was less busy than `inlineBelowUtilization` over its last ~100 ms: here, on
   *   the event loop, as many as fit in `inlineBudgetMs` (by the running average cost of one),
   *   the rest to the workers. A gateway at moderate load then behaves like a single-threaded
   *   relay (measured at 1,000 frames/s on the 2-core bench VM: 47–49 % CPU against 56–57 % with
   *   only the rule below; throughput at saturation unchanged, as the loop is busy there);
   * - otherwise, when the workers are idle, the first item here and the rest to them: one
   *   signature handed over costs two cross-thread wake-ups, more CPU than verifying it (at
   *   500–2,500 frames/s the gateway used 40–60 % more CPU than an inline-verifying relay
   *   before this rule);
   * - under load the workers are never idle, so everything goes to them in batches, split over
   *   the lanes, least loaded first, one message per lane;
   * - but while no worker is ready (one is starting: the first of a burst after a quiet spell,
   *   when the threads had idled out), here too. A thread answers its first batch 55–110 ms
   *   after it starts, and in the latency-tail scenario the frames held for it set the p99.9
   *   and at times the p99 (two starts in one rate at 4,000/s: p99 9.5 ms, max 114 ms, against
   *   2.3–3.5 ms without; docs/performance.md, "Morning of 2026-12-04"). Verified here they wait
   *   for the loop instead, as on a relay that verifies inline.
   * The budget bounds how long one turn's inline work delays the other connections' frames.
   */
  private dispatch(): void {
    this.scheduled = false;
    const items = this.queued;
    this.queued = [];
    if (this.closed) return failAll(items);
    // `items` is this turn's own array: what is spliced off it is verified here. Below the
    // utilization threshold the turn's inline share was verified as it came (verifyNext), and
    // what is queued is past its budget.
    const firstHere = !this.hasTimeToSpare() && this.inFlight === 0 && this.options.inlineWhenIdle !== false;
    let inline = firstHere ? items.splice(0, 1) : [];
    // The rest first, so the workers run while the event loop verifies its share.
    if (items.length > 0) {
      const share = Math.ceil(items.length / this.lanes.length);
      for (let start = 0; start < items.length; start += share) {
        const lane = this.readyLane();
        if (lane === undefined) {
          inline = inline.concat(items.slice(start));
          break;
        }
        const batch = items.slice(start, start + share);
        this.offloaded += batch.length;
        this.send(lane, batch);
      }
    }
    for (const item of inline) this.verifyInline(item);
  }

  /**
   * Below inlineBelowUtilization: verify on the event loop as frames come (within the budget).
   * Public for tests, which wait for it before counting what a burst does on a quiet loop
   * (calling it samples the loop's busy share, as a submit does).
   */
  hasTimeToSpare(): boolean {
    return this.inlineBelow > 0 && this.loopUtilization() < this.inlineBelow;
  }

  /** Verifies `item` on the event loop and answers it; returns the time the verification took, ms. */
  private verifyInline(item: VerifyRequest): number {
    const started = performance.now();
    const ok = this.ed25519.verify(item.publicKey, item.message, item.signature);
    const ms = performance.now() - started;
    this.inlineMs = 0.9 * this.inlineMs + 0.1 * ms;
    this.counts.inline++;
    this.answer(item, ok);
    return ms;
  }

  /**
   * The event loop's busy share over the last ~100 ms, had it verified inline what it sent to the
   * workers (at the running cost of one inline verification). Deciding on the measured share alone
   * flipped between the two every window at loads near the threshold: verifying inline makes the
   * loop busy, so the next window goes to the workers; then it is not busy, so the next verifies
   * inline again; and every flip wakes sleeping workers on the cores the loop (and, on the bench
   * VM, the load generator) use. At 4,000 frames/s on the bench VM the flipping gave a p99 of
   * 14–23 ms where either mode held steadily gave 5–7 ms (docs/performance.md, "Latency tail").
   */
  private loopUtilization(): number {
    const now = performance.now();
    const window = now - this.sampledAt;
    if (window >= 100) {
      this.utilization = this.busyShare() + (this.offloaded * this.inlineMs) / window;
      this.offloaded = 0;
      this.sampledAt = now;
    }
    return this.utilization;
  }

  /** Delivers one verdict; a callback that throws cannot keep the others from theirs. */
  private answer(item: VerifyRequest, ok: boolean | null): void {
    try {
      item.verified(ok);
    } catch (err) {
      this.options.onCallbackError?.(err);
    }
  }

  /**
   * The ready lane with the least in flight; a new worker only when every ready one has a batch
   * in flight (a steady trickle keeps one worker, not all of them, from idling out) and none is
   * starting. Undefined while no worker is ready: the caller verifies on the event loop. With
   * inlineWhileStarting off, a starting worker counts as ready (its batch waits for it).
   */
  private readyLane(): Lane | undefined {
    let best: Lane | undefined;
    let free = -1;
    let starting = false;
    for (let i = 0; i < this.lanes.length; i++) {
      const lane = this.lanes[i];
      if (lane === undefined) {
        if (free < 0) free = i;
      } else if (!lane.ready) {
        starting = true;
      } else if (best === undefined || lane.load < best.load) {
        best = lane;
      }
    }
    if (free >= 0 && !starting && (best === undefined || best.load > 0)) {
      const lane = (this.lanes[free] = this.spawn(free));
      if (lane.ready) return lane;
    }
    return best;
  }

  private send(lane: Lane, batch: VerifyRequest[]): void {
    let size = 0;
    for (const item of batch) size += HEADER + item.message.length;
    const buf = Buffer.allocUnsafeSlow(size);
    let at = 0;
    for (const item of batch) {
      buf.writeUInt32LE(item.message.length, at);
      buf.set(item.publicKey, at + 4);
      buf.set(item.signature, at + 36);
      buf.set(item.message, at + HEADER);
      at += HEADER + item.message.length;
    }
    lane.inFlight.push(batch);
    lane.load += batch.length;
    lane.active = performance.now();
    this.inFlight += batch.length;
    this.counts.workers += batch.length;
    lane.worker.postMessage({ buffer: buf.buffer, count: batch.length }, [buf.buffer]);
  }

  private spawn(index: number): Lane {
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { maxKeys: this.options.maxKeysPerWorker ?? 65_536, sodiumPath: this.ed25519.sodiumPath, smallOrderY: SMALL_ORDER_Y_HEX },
      // Verification allocates little; small heaps keep each worker near its ~9 MB floor.
      resourceLimits: { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 32 },
    });
    // The gateway's lifetime is decided by its sockets and close(), not by these threads.
    worker.unref();
    this.threads.started++;
    const lane: Lane = {
      worker,
      ready: this.options.inlineWhileStarting === false,
      inFlight: [],
      load: 0,
      active: performance.now(),
      idle: undefined,
      busySince: busyShareMeter(),
    };
    if (this.idleExitMs > 0) this.checkIdleIn(this.idleExitMs, index, lane);
    worker.on('message', (results: Uint8Array | 'ready') => {
      if (results === 'ready') {
        lane.ready = true;
        return;
      }
      const batch = lane.inFlight.shift();
      if (!batch) return;
      lane.active = performance.now();
      lane.load -= batch.length;
      this.inFlight -= batch.length;
      for (let i = 0; i < batch.length; i++) this.answer(batch[i] as VerifyRequest, results[i] === 1);
    });
    worker.on('error', (err) => this.options.onWorkerError?.(err));
    worker.on('exit', () => {
      // Unexpected unless idle (close() removes this listener first): answer what it held (an
      // idle worker held nothing), replace it lazily.
      clearTimeout(lane.idle);
      if (this.lanes[index] === lane) this.lanes[index] = undefined;
      this.inFlight -= lane.load;
      failAll(lane.inFlight.flat());
      lane.inFlight = [];
      lane.load = 0;
    });
    return lane;
  }

  /** Sets the lane's idle timer: {@link checkIdle} in `ms` (the timer keeps no process alive). */
  private checkIdleIn(ms: number, index: number, lane: Lane): void {
    lane.idle = setTimeout(() => this.checkIdle(index, lane), ms);
    lane.idle.unref();
  }

  /**
   * The lane's idle timer: stops its worker when nothing is in flight, nothing was sent or
   * answered for idleExitMs, and the event loop was busy less than idleExitMaxBusy since the
   * worker started or was last kept (at least idleExitMs); otherwise looks again when that much
   * time will have passed. The lane leaves `lanes` before the worker is told to stop, so the next
   * batch goes to a new worker.
   */
  private checkIdle(index: number, lane: Lane): void {
    if (this.lanes[index] !== lane) return;
    const idleFor = performance.now() - lane.active;
    if (lane.load > 0 || idleFor < this.idleExitMs) return this.checkIdleIn(lane.load > 0 ? this.idleExitMs : this.idleExitMs - idleFor, index, lane);
    if (this.idleExitMaxBusy < 1 && lane.busySince() >= this.idleExitMaxBusy) {
      this.threads.keptBusy++;
      return this.checkIdleIn(this.idleExitMs, index, lane);
    }
    this.lanes[index] = undefined;
    this.threads.idleExits++;
    const exited = lane.worker.terminate().then(
      () => undefined,
      () => undefined,
    );
    this.exiting.add(exited);
    void exited.then(() => this.exiting.delete(exited));
    this.options.onIdleExit?.(exited);
  }
}

function failAll(items: VerifyRequest[]): void {
  for (const item of items) {
    try {
      item.verified(null);
    } catch {
      // Shutdown or a dead worker: the verdict is "none" either way; keep answering the others.
    }
  }
}
