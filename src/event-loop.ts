/**
 * The event loop's busy share, measured between calls. Used by the verification pool (to decide
 * whether the loop has time to verify inline) and by /metrics (aiconexus_event_loop_utilization).
 */
import { performance } from 'node:perf_hooks';

/**
 * Returns a function that answers the share of time (0–1) the event loop was busy since its
 * previous call (the first call: since this one).
 */
export function busyShareMeter(): () => number {
  let mark = performance.eventLoopUtilization();
  return () => {
    const now = performance.eventLoopUtilization();
    const share = performance.eventLoopUtilization(now, mark).utilization;
    mark = now;
    return share;
  };
}
