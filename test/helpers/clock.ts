/**
 * A clock for `buildApp(config, { now })` (startGateway's second argument) that moves only when the
 * test says so: the rate limiter, the sweeper, the registry's timestamps and the replay cache read
 * it, so a test can put "1 s later" between two frames without waiting a second of wall time, and
 * without a slow machine adding time of its own. Timers (heartbeat pings, AUTH_TIMEOUT, the
 * sweeper's period) still run on wall time.
 *
 * It starts at the real time, so frames signed with `ts: Date.now()` stay within the clock skew.
 */
export interface ManualClock {
  now: () => number;
  advance(ms: number): void;
}

export function manualClock(start = Date.now()): ManualClock {
  let t = start;
  return {
    now: () => t,
    advance: (ms) => {
      t += ms;
    },
  };
}
