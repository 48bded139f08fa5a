/**
 * bench/lib/bunching.ts: the largest share of a rate's slowest 1 % sent within one span.
 */
import { describe, expect, it } from 'vitest';
import { bunchedPercent } from '../../bench/lib/bunching.js';

/** [sent, received] pairs, flattened, for frames sent at `times` (received 5 ms later). */
const windows = (times: number[]) => times.flatMap((t) => [t, t + 5]);

describe('bunchedPercent', () => {
  it('is NaN without slow frames', () => {
    expect(bunchedPercent([])).toBeNaN();
  });

  it('finds the one span that holds most of them, in any order', () => {
    // 6 of 10 within 250 ms of each other (1,000–1,240), the rest a second apart.
    const times = [5_000, 1_100, 0, 1_240, 1_000, 3_000, 1_050, 1_200, 2_000, 1_150];
    expect(bunchedPercent(windows(times))).toBe(60);
  });

  it('counts a span as [first, first + window): a frame exactly one window later starts the next', () => {
    expect(bunchedPercent(windows([0, 249, 250]), 250)).toBeCloseTo(66.67, 1);
    expect(bunchedPercent(windows([0, 250, 500, 750]), 250)).toBe(25);
  });

  it('gives 100 % for a single frame and for frames all in one span', () => {
    expect(bunchedPercent(windows([42]))).toBe(100);
    expect(bunchedPercent(windows([10, 20, 30]))).toBe(100);
  });
});
