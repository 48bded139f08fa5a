/**
 * Remembers (sender DID, frame id) pairs until the frame's `ts + CLOCK_SKEW` has passed
 * (PROTOCOL.md §4, REPLAY).
 *
 * Memory is bounded by time: an entry lives at most 2 × CLOCK_SKEW (a frame's ts may lead the
 * clock by CLOCK_SKEW). Expired entries are dropped at most once a second, without a timer, by
 * compacting the senders whose earliest expiry has passed (one-second buckets of senders).
 *
 * Why typed arrays: at a few thousand frames/s the cache holds hundreds of thousands of entries,
 * all long-lived enough to reach V8's old generation, where every heap object is marked by every
 * full GC. Here each sender has an open-addressing table of 64-bit id hashes and expiries in two
 * typed arrays: no heap object per entry at all, and 16 bytes per slot. Measured with 300,000
 * entries (numbers and method in docs/performance.md): 28-51 bytes per entry
 * (100 or 10,000 senders) and a full GC of 7-21 ms, against 148-151 bytes and 73-106 ms for the
 * previous layout, a Map of id strings per sender (which kept each frame's id string alive).
 *
 * Ids are hashed, not stored: two different ids of one sender collide with probability ~2^-64
 * per pair (the hash is seeded per cache from the CSPRNG). A collision can only refuse one of
 * that sender's own frames as REPLAY, and only a sender can choose its ids, so no agent can make
 * another agent's frames collide: tables are per sender.
 */
import { randomBytes } from 'node:crypto';

/** One sender's ids: linear probing over a power-of-two table. */
interface Sender {
  readonly did: string;
  /** Per slot: the id's hash, high then low 32 bits. */
  keys: Uint32Array;
  /** Per slot: expiry in ms since the Unix epoch; 0 = empty slot. */
  expiries: Float64Array;
  /** Occupied slots (live or expired, until compacted). */
  used: number;
  /** No entry expires before this (a lower bound: renewing an entry may raise the true minimum). */
  minExpiry: number;
  /** The bucket second this sender is queued in for compaction, or -1. */
  queuedAt: number;
}

/** Slots of a new sender's table. */
const INITIAL_SLOTS = 8;
/** Past this share of occupied slots a table is rebuilt: expired entries dropped, grown if needed. */
const MAX_LOAD = 0.75;

export class ReplayCache {
  private readonly senders = new Map<string, Sender>();
  /** Second → senders whose earliest expiry falls in it (stale when a sender's queuedAt moved on). */
  private readonly buckets = new Map<number, Sender[]>();
  private lastSweep = 0;
  private entries = 0;
  private readonly seed1: number;
  private readonly seed2: number;
  /** The last hash computed by {@link hash}: two fields rather than a tuple allocated per frame. */
  private hi = 0;
  private lo = 0;
  /** Copies of a table being rewritten in place (same size), so that compaction allocates nothing. */
  private scratchKeys = new Uint32Array(0);
  private scratchExpiries = new Float64Array(0);

  constructor(private readonly now: () => number = Date.now) {
    const seed = randomBytes(8);
    this.seed1 = seed.readUInt32LE(0);
    this.seed2 = seed.readUInt32LE(4);
  }

  /**
   * Records `id` from `did` until `expiresAt` (ms). Returns false when the pair is already
   * recorded and not yet expired: the frame is a replay.
   */
  add(did: string, id: string, expiresAt: number): boolean {
    const now = this.now();
    if (now - this.lastSweep >= 1000) this.sweep(now);
    let sender = this.senders.get(did);
    if (sender === undefined) {
      sender = { did, keys: new Uint32Array(2 * INITIAL_SLOTS), expiries: new Float64Array(INITIAL_SLOTS), used: 0, minExpiry: Infinity, queuedAt: -1 };
      this.senders.set(did, sender);
    }
    this.hash(id);
    const { keys, expiries } = sender;
    const mask = expiries.length - 1;
    let i = this.lo & mask;
    for (let seen = expiries[i] as number; seen !== 0; seen = expiries[i] as number) {
      if (keys[2 * i] === this.hi && keys[2 * i + 1] === this.lo) {
        // Alive through its expiry millisecond: STALE only starts after ts + CLOCK_SKEW.
        if (seen >= now) return false;
        expiries[i] = expiresAt; // expired, not yet compacted: the id may be used again
        this.noteExpiry(sender, expiresAt);
        return true;
      }
      i = (i + 1) & mask;
    }
    keys[2 * i] = this.hi;
    keys[2 * i + 1] = this.lo;
    expiries[i] = expiresAt;
    sender.used++;
    this.entries++;
    this.noteExpiry(sender, expiresAt);
    if (sender.used > MAX_LOAD * expiries.length) this.rebuild(sender, now);
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

  /** Queues `sender` for compaction in the second of `expiresAt` if that is its earliest. */
  private noteExpiry(sender: Sender, expiresAt: number): void {
    if (expiresAt >= sender.minExpiry) return;
    sender.minExpiry = expiresAt;
    const second = Math.ceil(expiresAt / 1000);
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
    const { keys, expiries } = sender;
    let alive = 0;
    let min = Infinity;
    for (let i = 0; i < expiries.length; i++) {
      const e = expiries[i] as number;
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
    let slots = expiries.length;
    while (alive > slots / 2) slots *= 2;
    while (slots > INITIAL_SLOTS && alive < slots / 8) slots /= 2;
    let fromKeys = keys;
    let fromExpiries = expiries;
    if (slots === expiries.length) {
      // Same size (the common case: a sender's ids expiring as it keeps sending): rewrite in
      // place from a copy, instead of allocating two arrays per sender per second.
      if (this.scratchExpiries.length < slots) {
        this.scratchKeys = new Uint32Array(2 * slots);
        this.scratchExpiries = new Float64Array(slots);
      }
      fromKeys = this.scratchKeys;
      fromExpiries = this.scratchExpiries;
      fromKeys.set(keys);
      fromExpiries.set(expiries);
      expiries.fill(0);
    } else {
      sender.keys = new Uint32Array(2 * slots);
      sender.expiries = new Float64Array(slots);
    }
    const nextKeys = sender.keys;
    const nextExpiries = sender.expiries;
    const mask = slots - 1;
    for (let i = 0; i < expiries.length; i++) {
      const e = fromExpiries[i] as number;
      if (e === 0 || e < now) continue;
      const lo = fromKeys[2 * i + 1] as number;
      let j = lo & mask;
      while (nextExpiries[j] !== 0) j = (j + 1) & mask;
      nextKeys[2 * j] = fromKeys[2 * i] as number;
      nextKeys[2 * j + 1] = lo;
      nextExpiries[j] = e;
    }
    sender.used = alive;
    sender.minExpiry = Infinity;
    if (sender.queuedAt !== -1 && sender.queuedAt * 1000 < min) sender.queuedAt = -1; // its bucket is early: re-queue
    this.noteExpiry(sender, min);
  }

  /** Two seeded 32-bit hashes of `id` (FNV-1a and a murmur3-style mix, each finalised) → hi, lo. */
  private hash(id: string): void {
    let h1 = this.seed1 ^ 0x811c9dc5;
    let h2 = this.seed2;
    for (let k = 0; k < id.length; k++) {
      const c = id.charCodeAt(k);
      h1 = Math.imul(h1 ^ c, 0x01000193);
      let m = Math.imul(c, 0xcc9e2d51);
      m = Math.imul((m << 15) | (m >>> 17), 0x1b873593);
      h2 ^= m;
      h2 = Math.imul((h2 << 13) | (h2 >>> 19), 5) + 0xe6546b64;
    }
    this.hi = fmix32(h1 ^ id.length) >>> 0;
    this.lo = fmix32(h2 ^ id.length) >>> 0;
  }
}

/** murmur3's finaliser: every input bit affects every output bit. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}
