/**
 * Whether a rate's slowest 1 % came together or spread out: the largest share of them sent within
 * any one window of BUNCH_WINDOW_MS. Evenly spread over a 10 s rate, a 250 ms window holds ~2.5 %
 * of them; one event that stalled the server (a thread starting or exiting, a collection, the
 * machine not running it) puts most of them in one window. Found this way on 2026-12-04: the
 * gateway's worst rounds at 2,000 and 4,000/s had 50–80 % of their slowest 1 % in one 250 ms window
 * (docs/performance.md, "Afternoon of 2026-12-04").
 */

/** The span the slow frames are counted in, ms. */
export const BUNCH_WINDOW_MS = 250;

/**
 * The largest share (%) of the frames whose send times fall within one span of `windowMs`;
 * `windows` are [sent, received] pairs, flattened (bench/lib/results.ts FrameWindows.slow).
 */
export function bunchedPercent(windows: readonly number[], windowMs = BUNCH_WINDOW_MS): number {
  const sent: number[] = [];
  for (let i = 0; i < windows.length; i += 2) sent.push(windows[i] as number);
  if (sent.length === 0) return NaN;
  sent.sort((a, b) => a - b);
  let best = 0;
  let from = 0;
  for (let to = 0; to < sent.length; to++) {
    while ((sent[to] as number) - (sent[from] as number) >= windowMs) from++;
    best = Math.max(best, to - from + 1);
  }
  return (best / sent.length) * 100;
}
