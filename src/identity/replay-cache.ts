/**
 * Remembers (sender DID, frame id) pairs until the frame's `ts + CLOCK_SKEW` has passed
 * (PROTOCOL.md §4, REPLAY).
 *
 * Memory is bounded by time: an entry lives at most 2 × CLOCK_SKEW (a frame's ts may lead the
 * clock by CLOCK_SKEW), and entries are grouped in one-second buckets by expiry so that expired
 * ones are dropped in O(expired) work, at most once a second, without a timer.
 */
export class ReplayCache {
  private readonly expiries = new Map<string, number>();
  private readonly buckets = new Map<number, string[]>();
  private lastSweep = 0;

  constructor(private readonly now: () => number = Date.now) {}

  /**
   * Records `id` from `did` until `expiresAt` (ms). Returns false when the pair is already
   * recorded and not yet expired: the frame is a replay.
   */
  add(did: string, id: string, expiresAt: number): boolean {
    const now = this.now();
    if (now - this.lastSweep >= 1000) this.sweep(now);
    const key = did + '\n' + id;
    const seen = this.expiries.get(key);
    // Alive through its expiry millisecond: STALE only starts after ts + CLOCK_SKEW.
    if (seen !== undefined && seen >= now) return false;
    this.expiries.set(key, expiresAt);
    const second = Math.ceil(expiresAt / 1000);
    const bucket = this.buckets.get(second);
    if (bucket) bucket.push(key);
    else this.buckets.set(second, [key]);
    return true;
  }

  /** Drops every entry whose expiry has passed (expiry < now). */
  sweep(now: number = this.now()): void {
    this.lastSweep = now;
    for (const [second, keys] of this.buckets) {
      if (second * 1000 >= now) continue;
      for (const key of keys) {
        const expiry = this.expiries.get(key);
        if (expiry !== undefined && expiry < now) this.expiries.delete(key);
      }
      this.buckets.delete(second);
    }
  }

  /** Number of remembered pairs (expired ones included until the next sweep). */
  get size(): number {
    return this.expiries.size;
  }
}
