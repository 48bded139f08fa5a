import { GCProfiler } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { promotion } from '../../bench/lib/gc-promotion.js';

type Stats = Parameters<typeof promotion>[0];

/** One GC record with the given old_space / lo_space used sizes before and after. */
function gc(gcType: string, before: [number, number], after: [number, number]): Stats[number] {
  const spaces = ([old, lo]: [number, number]) => [
    { spaceName: 'new_space', spaceSize: 0, spaceUsedSize: 999_999, spaceAvailableSize: 0, physicalSpaceSize: 0 },
    { spaceName: 'old_space', spaceSize: 0, spaceUsedSize: old, spaceAvailableSize: 0, physicalSpaceSize: 0 },
    { spaceName: 'lo_space', spaceSize: 0, spaceUsedSize: lo, spaceAvailableSize: 0, physicalSpaceSize: 0 },
  ];
  const heap = {} as Stats[number]['beforeGC']['heapStatistics'];
  return { gcType, cost: 1, beforeGC: { heapStatistics: heap, heapSpaceStatistics: spaces(before) }, afterGC: { heapStatistics: heap, heapSpaceStatistics: spaces(after) } };
}

describe('promotion (bench/lib/gc-promotion.ts)', () => {
  it('adds the old and large-object growth across each scavenge, and only scavenges', () => {
    const stats = [
      gc('Scavenge', [1000, 0], [1500, 0]), // 500 promoted
      gc('MarkSweepCompact', [1500, 0], [200, 0]), // a full GC frees: not promotion
      gc('Scavenge', [200, 100], [260, 300]), // 60 + 200 (a large object) promoted
    ];
    expect(promotion(stats)).toEqual({ scavenges: 2, promotedBytes: 760 });
  });

  it('never counts a shrink as negative promotion', () => {
    expect(promotion([gc('Scavenge', [1000, 0], [900, 0])])).toEqual({ scavenges: 1, promotedBytes: 0 });
  });

  it('reads what V8 reports: objects kept across two scavenges are promoted', () => {
    const profiler = new GCProfiler();
    profiler.start();
    const kept: object[] = [];
    // Enough allocation for several scavenges; every 50th object stays, so it outlives them.
    for (let i = 0; i < 2_000_000; i++) {
      const o = { i, s: [i, i] };
      if (i % 50 === 0) kept.push(o);
    }
    const seen = profiler.stop();
    const { scavenges, promotedBytes } = promotion(seen?.statistics ?? []);
    expect(scavenges).toBeGreaterThan(1);
    expect(promotedBytes).toBeGreaterThan(0);
    expect(kept.length).toBe(40_000);
  });
});
