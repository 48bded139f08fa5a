/**
 * Remembers (sender DID, frame id) pairs until the frame's `ts + CLOCK_SKEW` has passed
 * (docs/protocol.md §5, REPLAY).
 *
 * Memory is bounded by time: an entry lives at most 2 × CLOCK_SKEW (a frame's ts may lead the
 * clock by CLOCK_SKEW), and is dropped at most SWEEP_EVERY_S seconds after it expired. Expired
 * entries are dropped at most once a second, without a timer, by compacting the senders whose
 * earliest expiry has passed (one-second buckets of senders), each sender only every
 * SWEEP_EVERY_S seconds, in its own phase (see SWEEP_EVERY_S).
 *
 * Why typed arrays: at a few thousand frames/s the cache holds hundreds of thousands of entries,
 * all long-lived enough to reach V8's old generation, where every heap object is marked by every
 * full GC. Here each sender has an open-addressing table of 52-bit id hashes and expiries in one
 * Float64Array: no heap object per entry at all, and 16 bytes per slot. Measured with 300,000
 * entries (`npm run bench:replay`, docs/performance.md): 21-70 bytes per entry (100 or 10,000
 * senders) and a full GC of 7-31 ms, against 126-150 bytes and 60-90 ms for the previous layout,
 * a Map of id strings per sender (which kept each frame's id string alive).
 *
 * Ids are hashed, not stored: two different ids of one sender collide with probability ~2^-52
 * per pair (a keyed hash with a per-cache key from the CSPRNG: {@link idHasher}). A collision can
 * only refuse one of that sender's own frames as REPLAY, and only a sender can choose its ids, so
 * no agent can make another agent's frames collide: tables are per sender.
 */
import { hash as cryptoHash, randomBytes } from 'node:crypto';
import { loadSodium } from './sodium.js';

/** A keyed hash of a frame id to an integer below 2^52 (exact in a double). */
export type IdHasher = (id: string) => number;

/** UTF-16 units of the longest id hashed from the scratch buffer (ID_PATTERN allows 64). */
const SCRATCH_UNITS = 64;

/**
 * A keyed hash of frame ids under a fresh random key, so that nobody outside can predict where an
 * id lands (hash flooding: ids that pile up in one probe chain would make each of a sender's frames
 * cost a scan of its table). A keyed cryptographic hash rather than a fast hand-written one:
 * - `siphash` (the default where sodium-native loads): SipHash-2-4, libsodium's crypto_shorthash,
 *   the keyed hash made for hash tables facing chosen keys;
 * - `sha256`: the first 52 bits of SHA-256(key ‖ id) (node:crypto), where sodium-native does not load.
 * Measured on the 2-core bench VM (Node 22): 0.17 against 0.51 µs per id in a warm loop; in the
 * gateway at 2,000 frames/s the whole replay check took ~1.4 µs per frame instead of ~5.0 (CPU
 * profiles, docs/performance.md "Early hours of 2026-12-04").
 * Ids are at most 64 UTF-16 units (ID_PATTERN), so they fit a fixed scratch buffer; a longer
 * string is hashed from its own copy.
 */
export function idHasher(kind: 'siphash' | 'sha256' = loadSodium() === null ? 'sha256' : 'siphash'): IdHasher {
  const sodium = loadSodium()?.module;
  if (kind === 'sha256' || sodium === undefined) {
    if (kind === 'siphash') throw new Error('SipHash needs sodium-native, which does not load here');
    const secret = randomBytes(16).toString('base64');
    return (id) => parseInt(cryptoHash('sha256', secret + id, 'hex').slice(0, 13), 16);
  }
  const key = randomBytes(16);
  const out = Buffer.alloc(8);
  // UTF-8 takes at most 3 bytes per UTF-16 unit: room for any id of up to SCRATCH_UNITS units.
  const scratch = Buffer.alloc(3 * SCRATCH_UNITS);
  // One view per length, made once: hashing allocates nothing.
  const views = Array.from({ length: scratch.length + 1 }, (_, n) => scratch.subarray(0, n));
  return (id) => {
    const input = id.length <= SCRATCH_UNITS ? (views[scratch.write(id, 'utf8')] as Buffer) : Buffer.from(id, 'utf8');
    sodium.crypto_shorthash(out, input, key);
    return out.readUInt32LE(0) + (out.readUInt32LE(4) & 0xfffff) * 4294967296;
  };
}

/** One sender's ids: linear probing over a power-of-two table. */
interface Sender {
  readonly did: string;
  /**
   * Two numbers per slot: the id's hash (an integer below 2^52, exact in a double), then its
   * expiry in ms since the Unix epoch (0 = empty slot). Power-of-two slot count.
   */
  table: Float64Array;
  /** Occupied slots (live or expired, until compacted). */
  used: number;
  /** No entry expires before this (a lower bound: renewing an entry may raise the true minimum). */
  minExpiry: number;
  /** The bucket second this sender is queued in for compaction, or -1. */
  queuedAt: number;
  /** Its compactions fall on seconds ≡ phase (mod SWEEP_EVERY_S). */
  readonly phase: number;
}

/** Slots of a new sender's table. */
const INITIAL_SLOTS = 8;
/** Past this share of occupied slots a table is rebuilt: expired entries dropped, grown if needed. */
const MAX_LOAD = 0.75;
/**
 * A sender's table is compacted at most once per this many seconds, in the second its phase
 * (assigned round-robin) falls on. Why: at a steady rate every sender has an id expiring every
 * second, and compacting all of them in the one add() that crosses a second held that frame, and
 * the frames behind it, 2.7 ms at 2,000 frames/s and 5.3 ms at 4,000/s from 500 senders, every
 * second (`npm run bench:replay`, docs/performance.md "Afternoon of 2026-12-04"). In phases, a
 * fifth of the senders per second, each dropping five seconds of expiries in one rewrite. Expired
 * entries stay up to this much longer (lookups already treat them as absent).
 */
export const SWEEP_EVERY_S = 5;

export class ReplayCache {
  private readonly senders = new Map<string, Sender>();
  /** Second → senders whose earliest expiry falls in it (stale when a sender's queuedAt moved on). */
  private readonly buckets = new Map<number, Sender[]>();
  private lastSweep = 0;
  private entries = 0;
  /** The phase the next new sender gets. */
  private nextPhase = 0;
  /** A copy of a table being rewritten in place (same size), so that compaction allocates nothing. */
  private scratch = new Float64Array(0);

  constructor(
    private readonly now: () => number = Date.now,
    /** Frame id → table key (see {@link idHasher}). */
    private readonly keyOf: IdHasher = idHasher(),
  ) {}

  /**
   * Records `id` from `did` until `expiresAt` (ms). Returns false when the pair is already
   * recorded and not yet expired: the frame is a replay.
   */
  add(did: string, id: string, expiresAt: number): boolean {
    const now = this.now();
    if (now - this.lastSweep >= 1000) this.sweep(now);
    let sender = this.senders.get(did);
    if (sender === undefined) {
      sender = { did, table: new Float64Array(2 * INITIAL_SLOTS), used: 0, minExpiry: Infinity, queuedAt: -1, phase: this.nextPhase };
      this.nextPhase = (this.nextPhase + 1) % SWEEP_EVERY_S;
      this.senders.set(did, sender);
    }
    const key = this.keyOf(id);
    const table = sender.table;
    const slots = table.length / 2;
    const mask = slots - 1;
    let i = probeStart(key, mask);
    for (let seen = table[2 * i + 1] as number; seen !== 0; seen = table[2 * i + 1] as number) {
      if (table[2 * i] === key) {
        // Alive through its expiry millisecond: STALE only starts after ts + CLOCK_SKEW.
        if (seen >= now) return false;
        table[2 * i + 1] = expiresAt; // expired, not yet compacted: the id may be used again
        this.noteExpiry(sender, expiresAt);
        return true;
      }
      i = (i + 1) & mask;
    }
    table[2 * i] = key;
    table[2 * i + 1] = expiresAt;
    sender.used++;
    this.entries++;
    this.noteExpiry(sender, expiresAt);
    if (sender.used > MAX_LOAD * slots) this.rebuild(sender, now);
    return true;
  }

  /** Drops every entry whose expiry has passed (expiry < now), sender by sender. */
  sweep(now: number = this.now()): void {
    this.lastSweep = now;
    for (const [second, senders] of this.buckets) {
      if (second * 1000 >= now) continue;
      this.buckets.delete(second);
      for (const sender of senders) {
        if (sender.queuedAt !== second) continue; // queued again, for an earlier second
        sender.queuedAt = -1;
        if (this.senders.get(sender.did) !== sender) continue;
        this.rebuild(sender, now);
      }
    }
  }

  /** Number of remembered pairs (expired ones included until the next sweep). */
  get size(): number {
    return this.entries;
  }

  /** Senders with at least one remembered id. */
  get senderCount(): number {
    return this.senders.size;
  }

  /**
   * Queues `sender` for compaction in the first second of its phase at or after `expiresAt`, if
   * that is its earliest expiry.
   */
  private noteExpiry(sender: Sender, expiresAt: number): void {
    if (expiresAt >= sender.minExpiry) return;
    sender.minExpiry = expiresAt;
    const expirySecond = Math.ceil(expiresAt / 1000);
    const second = expirySecond + ((((sender.phase - expirySecond) % SWEEP_EVERY_S) + SWEEP_EVERY_S) % SWEEP_EVERY_S);
    if (sender.queuedAt !== -1 && sender.queuedAt <= second) return;
    sender.queuedAt = second;
    const bucket = this.buckets.get(second);
    if (bucket) bucket.push(sender);
    else this.buckets.set(second, [sender]);
  }

  /**
   * Rewrites a sender's table without its expired entries: doubled when it would still be more
   * than half full, halved (down to the initial size) when under an eighth full, else the same
   * size. A sender left with no entries is forgotten.
   */
  private rebuild(sender: Sender, now: number): void {
    const old = sender.table;
    const oldSlots = old.length / 2;
    let alive = 0;
    let min = Infinity;
    for (let i = 1; i < old.length; i += 2) {
      const e = old[i] as number;
      if (e !== 0 && e >= now) {
        alive++;
        if (e < min) min = e;
      }
    }
    this.entries -= sender.used - alive;
    if (alive === 0) {
      this.senders.delete(sender.did);
      return;
    }
    let slots = oldSlots;
    while (alive > slots / 2) slots *= 2;
    while (slots > INITIAL_SLOTS && alive < slots / 8) slots /= 2;
    let from = old;
    if (slots === oldSlots) {
      // Same size (the common case: a sender's ids expiring as it keeps sending): rewrite in
      // place from a copy, instead of allocating a table per sender per second.
      if (this.scratch.length < old.length) this.scratch = new Float64Array(old.length);
      from = this.scratch;
      from.set(old);
      old.fill(0);
    } else {
      sender.table = new Float64Array(2 * slots);
    }
    const next = sender.table;
    const mask = slots - 1;
    for (let i = 0; i < old.length; i += 2) {
      const e = from[i + 1] as number;
      if (e === 0 || e < now) continue;
      const key = from[i] as number;
      let j = probeStart(key, mask);
      while (next[2 * j + 1] !== 0) j = (j + 1) & mask;
      next[2 * j] = key;
      next[2 * j + 1] = e;
    }
    sender.used = alive;
    sender.minExpiry = Infinity;
    if (sender.queuedAt !== -1 && sender.queuedAt * 1000 < min) sender.queuedAt = -1; // its bucket is early: re-queue
    this.noteExpiry(sender, min);
  }
}

/** Where probing for `key` starts in a table of `mask + 1` slots: its low bits. */
function probeStart(key: number, mask: number): number {
  return (key % 4294967296) & mask;
}
