/**
 * Remembers (sender DID, frame id) pairs until the frame's `ts + CLOCK_SKEW` has passed
 * (PROTOCOL.md §4, REPLAY).
 *
 * Memory is bounded by time: an entry lives at most 2 × CLOCK_SKEW (a frame's ts may lead the
 * clock by CLOCK_SKEW), and entries are grouped in one-second buckets by expiry so that expired
 * ones are dropped in O(expired) work, at most once a second, without a timer.
 *
 * At a few thousand frames/s the cache holds hundreds of thousands of entries, all long-lived
 * enough to reach V8's old generation, so its shape decides how much a full GC has to mark:
 * one heap object per entry (the id string, which the parsed frame allocated anyway) in a map
 * per sender, with the expiry stored as a small integer (ms since the cache was made, no boxed
 * number). Concatenated "did\nid" keys with absolute expiries cost about four objects and
 * twice the bytes per entry (measured with heap snapshots under the latency benchmark).
 */
interface Sender {
  readonly did: string;
  /** id → expiry, in ms since {@link ReplayCache.epoch}. */
  readonly ids: Map<string, number>;
}

export class ReplayCache {
  private readonly senders = new Map<string, Sender>();
  /** Expiry second → the entries to look at then, flattened as sender, id, sender, id, … */
  private readonly buckets = new Map<number, (Sender | string)[]>();
  /** Expiries are stored relative to this, so they stay small integers for ~24 days of uptime. */
  private readonly epoch: number;
  private lastSweep = 0;
  private entries = 0;

  constructor(private readonly now: () => number = Date.now) {
    this.epoch = now();
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
      sender = { did, ids: new Map() };
      this.senders.set(did, sender);
    }
    const seen = sender.ids.get(id);
    // Alive through its expiry millisecond: STALE only starts after ts + CLOCK_SKEW.
    if (seen !== undefined && seen + this.epoch >= now) return false;
    if (seen === undefined) this.entries++;
    sender.ids.set(id, expiresAt - this.epoch);
    const second = Math.ceil(expiresAt / 1000);
    const bucket = this.buckets.get(second);
    if (bucket) bucket.push(sender, id);
    else this.buckets.set(second, [sender, id]);
    return true;
  }

  /** Drops every entry whose expiry has passed (expiry < now). */
  sweep(now: number = this.now()): void {
    this.lastSweep = now;
    for (const [second, pairs] of this.buckets) {
      if (second * 1000 >= now) continue;
      for (let i = 0; i < pairs.length; i += 2) {
        const sender = pairs[i] as Sender;
        const id = pairs[i + 1] as string;
        const expiry = sender.ids.get(id);
        // A re-used id has a later expiry (and a later bucket): keep it.
        if (expiry === undefined || expiry + this.epoch >= now) continue;
        sender.ids.delete(id);
        this.entries--;
        if (sender.ids.size === 0 && this.senders.get(sender.did) === sender) this.senders.delete(sender.did);
      }
      this.buckets.delete(second);
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
}
