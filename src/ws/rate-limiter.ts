/**
 * Per-session token bucket (docs/protocol.md §10: RATE_LIMIT frames/s, bursts up to RATE_BURST) and the
 * abuse rule for close 4429.
 *
 * Abuse threshold (the implementation's to choose, docs/protocol.md §10): a session that has more than
 * RATE_BURST frames dropped within one 10-second window is closed with 4429. A client that
 * briefly overshoots gets RATE_LIMITED errors and keeps its connection; one that keeps flooding
 * is cut off before its error replies cost more than its frames.
 */
export const ABUSE_WINDOW_MS = 10_000;

export class RateLimiter {
  private tokens: number;
  private updatedAt: number;
  private dropped = 0;
  private windowStart: number;

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = burst;
    this.updatedAt = now();
    this.windowStart = this.updatedAt;
  }

  /** Takes one token; false when the frame must be dropped. */
  take(): boolean {
    const now = this.now();
    const elapsed = now - this.updatedAt;
    if (elapsed > 0) {
      this.tokens = Math.min(this.burst, this.tokens + (elapsed * this.ratePerSecond) / 1000);
      this.updatedAt = now;
    }
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    if (now - this.windowStart >= ABUSE_WINDOW_MS) {
      this.windowStart = now;
      this.dropped = 0;
    }
    this.dropped += 1;
    return false;
  }

  /**
   * Takes `n` more tokens for work a frame turned out to cost (a large DISCOVER reply). The bucket
   * may go below zero: the session's next frames wait until the refill has paid the debt.
   */
  charge(n: number): void {
    if (n > 0) this.tokens -= n;
  }

  /** True once more than `burst` frames were dropped in the current abuse window. */
  get abusive(): boolean {
    return this.dropped > this.burst;
  }
}
