/**
 * The tail bench's GC attribution (bench/lib/gc-overlap.ts): which frame windows overlap a server
 * pause, and what it keeps in the results.
 */
import { describe, expect, it } from 'vitest';
import { attachGcOverlap, overlapPercent } from '../../bench/lib/gc-overlap.js';
import type { LatencyRate } from '../../bench/lib/results.js';

describe('GC overlap of frame windows', () => {
  // Pauses at 100–104 ms and 200–201 ms.
  const pauses = [100, 4, 200, 1];

  it('counts a window that starts, ends or lies within a pause, or spans one; not one that only touches it', () => {
    expect(overlapPercent([99, 101], pauses)).toBe(100); // ends inside
    expect(overlapPercent([103, 110], pauses)).toBe(100); // starts inside
    expect(overlapPercent([101, 102], pauses)).toBe(100); // within
    expect(overlapPercent([150, 250], pauses)).toBe(100); // spans the second
    expect(overlapPercent([90, 100], pauses)).toBe(0); // ends as the pause starts
    expect(overlapPercent([104, 120], pauses)).toBe(0); // starts as it ends
    expect(overlapPercent([110, 190, 99, 101, 0, 1, 300, 301], pauses)).toBe(25);
  });

  it('is NaN without windows, and 0 without pauses', () => {
    expect(overlapPercent([], pauses)).toBeNaN();
    expect(overlapPercent([99, 101], [])).toBe(0);
  });

  it('keeps the shares and drops the windows', () => {
    const rate = { frameWindows: { slow: [99, 101, 110, 120], sample: [99, 101, 110, 120, 130, 140, 150, 160] } } as unknown as LatencyRate;
    attachGcOverlap(rate, pauses);
    expect(rate.gcOverlap).toEqual({ slowFrames: 2, slowPercent: 50, allPercent: 25, pauses: 2 });
    expect(rate.frameWindows).toBeUndefined();
    const both = { frameWindows: { slow: [99, 101, 110, 120], sample: [99, 101, 110, 120], loadgenPauses: [115, 1] } } as unknown as LatencyRate;
    attachGcOverlap(both, pauses);
    expect(both.gcOverlap).toEqual({ slowFrames: 2, slowPercent: 50, allPercent: 50, pauses: 2, loadgenSlowPercent: 50, loadgenAllPercent: 50 });
    const noPauses = { frameWindows: { slow: [1, 2], sample: [1, 2] } } as unknown as LatencyRate;
    attachGcOverlap(noPauses, undefined);
    expect(noPauses.gcOverlap).toBeUndefined();
    expect(noPauses.frameWindows).toBeUndefined();
  });
});
