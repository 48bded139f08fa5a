/**
 * One full garbage collection when the event loop goes quiet after a burst: JS heap + external
 * memory grew IDLE_COLLECT_MIN_GROWTH_BYTES, or IDLE_COLLECT_MIN_RECEIVED_BYTES of messages were
 * received, since the last one.
 *
 * Why: a burst of large frames leaves tens of MB of socket buffers and frame copies that are dead
 * but not yet collected, and an idle gateway allocates so little that V8 may not collect them for
 * many minutes. Until then the memory they occupy cannot be returned to the system (with
 * jemalloc, as in the Docker image, it is returned within seconds of being freed). Collecting
 * once when the burst is over frees it at a moment when the pause costs nobody anything: the
 * event loop was busy less than IDLE_COLLECT_MAX_BUSY of the last check interval. Measured on
 * the bench VM (docs/operations.md): 60 s after a 150 MB burst, RSS +38 MB → −14 MB with jemalloc,
 * +100 MB → +42 MB with glibc.
 *
 * When the young generation is larger than IDLE_COLLECT_SHRINK_YOUNG_BYTES, the collection is a
 * memory-reducing one, which also shrinks the young generation back to its initial size: a plain
 * full collection leaves it as large as the burst made it (up to 128 MB with the gateway's
 * --max-semi-space-size=64), and V8 only shrinks it on its own when nothing at all is allocated.
 *
 * Process-wide (garbage collection is), so the process entry (server.ts) starts one per process,
 * not buildApp.
 */
import { performance } from 'node:perf_hooks';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { busyShareMeter } from './event-loop.js';
import {
  IDLE_COLLECT_CHECK_MS,
  IDLE_COLLECT_MAX_BUSY,
  IDLE_COLLECT_MIN_GAP_MS,
  IDLE_COLLECT_MIN_GROWTH_BYTES,
  IDLE_COLLECT_MIN_RECEIVED_BYTES,
  IDLE_COLLECT_SHRINK_YOUNG_BYTES,
} from './constants.js';

/**
 * The options V8's `gc()` takes (its gc extension). `flavor: 'last-resort'` is the memory-reducing
 * collection V8 runs before giving up on an allocation: repeated full collections with compaction,
 * after which the young generation is shrunk. Node 22 and later (the gateway's minimum); on Node 20
 * it did not shrink the young generation.
 */
export interface GcOptions {
  type?: 'major' | 'minor';
  execution?: 'sync' | 'async';
  flavor?: 'regular' | 'last-resort';
}

export type Gc = (options?: GcOptions) => void;

/**
 * A full collection, and one that also gives the young generation back (see GcOptions). Always
 * passed explicitly: V8 reads `gc(undefined)` as its legacy boolean form and only scavenges.
 */
const FULL: GcOptions = { type: 'major', execution: 'sync', flavor: 'regular' };
const SHRINK: GcOptions = { type: 'major', execution: 'sync', flavor: 'last-resort' };

export interface IdleCollectOptions {
  /**
   * Called after each collection with heap + external before it and its duration. (What it freed
   * is not known yet: V8 frees ArrayBuffer memory concurrently, after the collection returns.)
   */
  onCollect?: (allocatedBefore: number, ms: number) => void;
  /** Bytes received so far (monotonic); without it only memory growth counts. */
  received?: () => number;
  /** JS heap in use + external memory, in bytes (tests inject one). */
  allocated?: () => number;
  /** The event loop's busy share since the previous call, 0–1 (tests inject one). */
  busyShare?: () => number;
  /** Runs a collection with the options given (FULL or SHRINK; tests inject one). */
  gc?: Gc;
  /** Bytes V8's young generation holds now (tests inject one). */
  youngBytes?: () => number;
  /** Milliseconds, monotonic (tests inject one). */
  now?: () => number;
}

export class IdleCollector {
  private readonly allocated: () => number;
  private readonly busyShare: () => number;
  private readonly gc: Gc;
  private readonly youngBytes: () => number;
  private readonly now: () => number;
  /** The lowest heap + external seen since the last collection. */
  private baseline: number;
  private lastAt = Number.NEGATIVE_INFINITY;
  /** Bytes received as of the last collection. */
  private receivedAt: number;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: IdleCollectOptions = {}) {
    this.allocated = opts.allocated ?? allocatedNow;
    this.busyShare = opts.busyShare ?? busyShareMeter();
    this.gc = opts.gc ?? exposeGc();
    this.youngBytes = opts.youngBytes ?? youngGenerationBytes;
    this.now = opts.now ?? (() => performance.now());
    this.baseline = this.allocated();
    this.receivedAt = opts.received?.() ?? 0;
  }

  /** Checks every IDLE_COLLECT_CHECK_MS (unref'd) until stop(). */
  start(): this {
    this.stop();
    this.timer = setInterval(() => this.check(), IDLE_COLLECT_CHECK_MS);
    this.timer.unref();
    return this;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * One check: collects when the loop was quiet and, since the last collection, memory grew or a
   * burst of bytes was received (V8 may have collected on its own meanwhile: one collection
   * more, on a quiet loop, is cheap). Returns whether it collected.
   */
  check(): boolean {
    const busy = this.busyShare();
    const before = this.allocated();
    // A collection V8 ran on its own lowers the baseline too.
    if (before < this.baseline) this.baseline = before;
    if (busy >= IDLE_COLLECT_MAX_BUSY) return false;
    const received = this.opts.received?.() ?? 0;
    const burst = received - this.receivedAt >= IDLE_COLLECT_MIN_RECEIVED_BYTES;
    if (!burst && before - this.baseline < IDLE_COLLECT_MIN_GROWTH_BYTES) return false;
    const t0 = this.now();
    if (t0 - this.lastAt < IDLE_COLLECT_MIN_GAP_MS) return false;
    this.lastAt = t0;
    this.receivedAt = received;
    this.gc(this.youngBytes() > IDLE_COLLECT_SHRINK_YOUNG_BYTES ? SHRINK : FULL);
    // An upper bound (see onCollect); later checks lower it to what is really left.
    this.baseline = this.allocated();
    const ms = this.now() - t0;
    // The collection's own time is not load.
    this.busyShare();
    this.opts.onCollect?.(before, ms);
    return true;
  }
}

/** The young generation's size (V8's `new_space`, committed), in bytes. */
export function youngGenerationBytes(): number {
  for (const space of getHeapSpaceStatistics()) if (space.space_name === 'new_space') return space.space_size;
  return 0;
}

function allocatedNow(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

/**
 * V8's `gc()` without starting Node with --expose-gc: the flag only adds `gc` to contexts created
 * after it is set, so a fresh context hands it over and the main context's globals stay as they
 * are (the way jest's leak detector does it).
 */
export function exposeGc(): Gc {
  const existing = (globalThis as { gc?: Gc }).gc;
  if (typeof existing === 'function') return existing;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as Gc;
}
