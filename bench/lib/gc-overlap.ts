/**
 * Which of a rate's frames were in flight while the server paused for garbage collection: the
 * slowest 1 % (latency ≥ p99) against an even sample of all of them. If GC pauses set the tail,
 * the slow frames overlap a pause far more often than frames in general do; if they overlap about
 * as often, something else (a busy loop, a thread waiting for a core, the load generator) does.
 *
 * The load generator's own pauses are laid over the same frames: a frame received during one is
 * timestamped late, whichever server it went through.
 *
 * Both sides come in ms since the Unix epoch from two processes on the same machine
 * (`performance.timeOrigin` + `performance.now()`): the load generator's frame windows
 * (bench/loadgen.ts) and the server's pauses (bench/lib/ipc.ts `gcPauses`).
 */
import type { LatencyRate } from './results.js';

/** Share of windows ([start, end] pairs, flattened) that overlap a pause ([start, duration] pairs, flattened), %. */
export function overlapPercent(windows: readonly number[], pauses: readonly number[]): number {
  const count = windows.length / 2;
  if (count === 0) return NaN;
  let hit = 0;
  for (let w = 0; w < windows.length; w += 2) {
    const from = windows[w] as number;
    const to = windows[w + 1] as number;
    for (let p = 0; p < pauses.length; p += 2) {
      const start = pauses[p] as number;
      if (start < to && start + (pauses[p + 1] as number) > from) {
        hit++;
        break;
      }
    }
  }
  return (hit / count) * 100;
}

/**
 * Sets `rate.gcOverlap` from the load generator's frame windows and the server's pauses during
 * the rate, and drops the windows (thousands of numbers the results file does not need).
 */
export function attachGcOverlap(rate: LatencyRate, pauses: readonly number[] | undefined): void {
  const windows = rate.frameWindows;
  delete rate.frameWindows;
  if (!windows || !pauses) return;
  const own = windows.loadgenPauses;
  rate.gcOverlap = {
    slowFrames: windows.slow.length / 2,
    slowPercent: overlapPercent(windows.slow, pauses),
    allPercent: overlapPercent(windows.sample, pauses),
    pauses: pauses.length / 2,
    ...(own ? { loadgenSlowPercent: overlapPercent(windows.slow, own), loadgenAllPercent: overlapPercent(windows.sample, own) } : {}),
  };
}
