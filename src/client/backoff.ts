/**
 * Reconnect delays: exponential backoff with full jitter (AWS Architecture Blog, "Exponential
 * Backoff And Jitter"): the n-th retry waits a uniformly random time in [0, min(max, base · 2ⁿ)).
 */

export interface ReconnectOptions {
  /** Delay cap of the first retry, in ms. Default 500. */
  baseMs: number;
  /** Largest delay cap, in ms. Default 30000. */
  maxMs: number;
  /** Retries after a lost session before giving up. Default Infinity. */
  maxAttempts: number;
}

export const DEFAULT_RECONNECT: Readonly<ReconnectOptions> = Object.freeze({ baseMs: 500, maxMs: 30_000, maxAttempts: Infinity });

/** The delay of retry number `attempt` (0-based); `random` returns a number in [0, 1). */
export function backoffDelay(attempt: number, opts: Pick<ReconnectOptions, 'baseMs' | 'maxMs'>, random: () => number = Math.random): number {
  // 2 ** attempt overflows to Infinity for huge attempts, which Math.min then caps.
  const cap = Math.min(opts.maxMs, opts.baseMs * 2 ** attempt);
  return Math.floor(random() * cap);
}
