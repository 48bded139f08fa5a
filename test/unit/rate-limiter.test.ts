/**
 * src/ws/rate-limiter.ts with an injected clock: token bucket (RATE_LIMIT/s, RATE_BURST) and the
 * abuse rule (more than RATE_BURST drops within ABUSE_WINDOW_MS → close 4429).
 */
import { describe, expect, it } from 'vitest';
import { ABUSE_WINDOW_MS, RateLimiter } from '../../src/ws/rate-limiter.js';

function clock(start = 1_700_000_000_000) {
  const c = { t: start, now: () => c.t };
  return c;
}

/** Calls take() n times; returns how many were allowed. */
function takeN(limiter: RateLimiter, n: number): number {
  let ok = 0;
  for (let i = 0; i < n; i++) if (limiter.take()) ok++;
  return ok;
}

describe('RateLimiter: token bucket', () => {
  it('allows a full burst at once, then refuses', () => {
    const c = clock();
    const limiter = new RateLimiter(50, 200, c.now);
    expect(takeN(limiter, 200)).toBe(200);
    expect(limiter.take()).toBe(false);
    expect(limiter.take()).toBe(false);
  });

  it('charges extra tokens for costly work: the bucket goes into debt and the refill pays it first', () => {
    const c = clock();
    const limiter = new RateLimiter(10, 5, c.now); // one token per 100 ms
    expect(limiter.take()).toBe(true); // 4 left
    limiter.charge(7); // -3
    expect(limiter.take()).toBe(false);
    c.t += 399; // -3 + 3.99
    expect(limiter.take()).toBe(false);
    c.t += 1; // 1.0
    expect(limiter.take()).toBe(true);
    limiter.charge(0);
    limiter.charge(-5); // never a credit
    expect(limiter.take()).toBe(false);
  });

  it('refills at the configured rate', () => {
    const c = clock();
    const limiter = new RateLimiter(10, 5, c.now); // one token per 100 ms
    expect(takeN(limiter, 5)).toBe(5);
    c.t += 99;
    expect(limiter.take()).toBe(false);
    c.t += 1;
    expect(limiter.take()).toBe(true);
    expect(limiter.take()).toBe(false);
    c.t += 350; // 3.5 tokens
    expect(takeN(limiter, 10)).toBe(3);
    c.t += 50; // the half token left over plus half a token
    expect(limiter.take()).toBe(true);
  });

  it('refills fractionally: rate 3/s gives a token after 333⅓ ms, not 333', () => {
    const c = clock();
    const t0 = c.t;
    const limiter = new RateLimiter(3, 1, c.now);
    expect(limiter.take()).toBe(true);
    c.t = t0 + 333; // 0.999 token
    expect(limiter.take()).toBe(false);
    c.t = t0 + 334; // 1.002 tokens
    expect(limiter.take()).toBe(true);
  });

  it('keeps partial tokens across refused takes', () => {
    const c = clock();
    const limiter = new RateLimiter(3, 1, c.now);
    const t0 = c.t;
    expect(limiter.take()).toBe(true);
    // poll every 37 ms: each refused take must not throw away the time accumulated so far
    let firstAllowed = -1;
    for (let ms = 37; firstAllowed < 0 && ms < 2000; ms += 37) {
      c.t = t0 + ms;
      if (limiter.take()) firstAllowed = ms;
    }
    expect(firstAllowed).toBe(37 * 10); // the first poll at or after 333⅓ ms
  });

  it('never holds more than the burst, however long the session was idle', () => {
    const c = clock();
    const limiter = new RateLimiter(50, 20, c.now);
    c.t += 3_600_000;
    expect(takeN(limiter, 100)).toBe(20);
  });

  it('a steady sender at exactly the rate is never refused', () => {
    const c = clock();
    const limiter = new RateLimiter(50, 1, c.now);
    for (let i = 0; i < 5000; i++) {
      expect(limiter.take()).toBe(true);
      c.t += 20;
    }
    expect(limiter.abusive).toBe(false);
  });

  it('over a long flood, allows burst + rate × time frames', () => {
    const c = clock();
    const rate = 50;
    const burst = 200;
    const limiter = new RateLimiter(rate, burst, c.now);
    let allowed = 0;
    for (let ms = 0; ms < 20_000; ms++) {
      // 5 attempts per millisecond: far above the rate
      allowed += takeN(limiter, 5);
      c.t += 1;
    }
    const expected = burst + (rate * 20_000) / 1000;
    expect(allowed).toBeGreaterThanOrEqual(expected - 1);
    expect(allowed).toBeLessThanOrEqual(expected + 1);
  });

  it('a clock stepping backwards grants no tokens', () => {
    const c = clock();
    const limiter = new RateLimiter(10, 2, c.now);
    expect(takeN(limiter, 2)).toBe(2);
    c.t -= 5_000;
    expect(limiter.take()).toBe(false);
    c.t += 5_000;
    expect(limiter.take()).toBe(false);
    c.t += 100;
    expect(limiter.take()).toBe(true);
  });
});

describe('RateLimiter: abuse rule', () => {
  it('is not abusive while drops are at most `burst`', () => {
    const c = clock();
    const limiter = new RateLimiter(1, 3, c.now);
    expect(limiter.abusive).toBe(false);
    expect(takeN(limiter, 3)).toBe(3);
    expect(limiter.abusive).toBe(false); // no drops yet
    expect(takeN(limiter, 3)).toBe(0);
    expect(limiter.abusive).toBe(false); // exactly `burst` drops
    expect(limiter.take()).toBe(false);
    expect(limiter.abusive).toBe(true); // burst + 1
  });

  it('counts drops across the whole window', () => {
    const c = clock();
    const limiter = new RateLimiter(1, 3, c.now);
    takeN(limiter, 3);
    expect(takeN(limiter, 3)).toBe(0); // 3 drops at t0
    c.t += ABUSE_WINDOW_MS - 1; // bucket is full again (capped at 3)
    expect(takeN(limiter, 3)).toBe(3);
    expect(limiter.abusive).toBe(false);
    expect(limiter.take()).toBe(false); // 4th drop within the same window
    expect(limiter.abusive).toBe(true);
  });

  it('starts a new window once ABUSE_WINDOW_MS has passed', () => {
    const c = clock();
    const limiter = new RateLimiter(1, 3, c.now);
    takeN(limiter, 3);
    expect(takeN(limiter, 3)).toBe(0); // 3 drops in the first window
    c.t += ABUSE_WINDOW_MS;
    expect(takeN(limiter, 3)).toBe(3);
    expect(limiter.take()).toBe(false); // 1st drop of a new window
    expect(limiter.abusive).toBe(false);
    expect(takeN(limiter, 2)).toBe(0); // 3 drops in this window
    expect(limiter.abusive).toBe(false);
    expect(limiter.take()).toBe(false);
    expect(limiter.abusive).toBe(true);
  });

  it('an abusive flood is detected within the window; a brief overshoot is not', () => {
    const c = clock();
    const burst = 200;
    const flood = new RateLimiter(50, burst, c.now);
    let firstAbusiveAt = -1;
    for (let i = 0; i < 10_000 && firstAbusiveAt < 0; i++) {
      flood.take();
      if (flood.abusive) firstAbusiveAt = i;
    }
    // the burst passes, then burst + 1 drops (no time passes, so no refill)
    expect(firstAbusiveAt).toBe(burst + burst);

    const brief = new RateLimiter(50, burst, c.now);
    expect(takeN(brief, burst + burst)).toBe(burst);
    expect(brief.abusive).toBe(false);
  });

  it('exposes a 10-second abuse window', () => {
    expect(ABUSE_WINDOW_MS).toBe(10_000);
  });
});
