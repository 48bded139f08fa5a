/**
 * Bytes the young-generation collections moved into the old generation, from V8's per-GC heap
 * statistics (node:v8 GCProfiler). A frame's objects should die young; what a scavenge promotes
 * fills the old space, and a full mark-compact (the longest pauses in the tail bench) follows.
 * Measured as the growth of the old spaces across each scavenge: a scavenge allocates nothing
 * else there.
 */
import type { GCProfilerResult, HeapSpaceStatistics } from 'node:v8';

/** The spaces a scavenge promotes into: regular objects, and large ones. */
const OLD_SPACES = new Set(['old_space', 'lo_space']);

function oldUsed(spaces: HeapSpaceStatistics[]): number {
  let used = 0;
  for (const s of spaces) if (OLD_SPACES.has(s.spaceName)) used += s.spaceUsedSize;
  return used;
}

/** Scavenges in `stats`, and the bytes they promoted (growth of the old spaces across each). */
export function promotion(stats: GCProfilerResult['statistics']): { scavenges: number; promotedBytes: number } {
  let scavenges = 0;
  let promotedBytes = 0;
  for (const gc of stats) {
    if (gc.gcType !== 'Scavenge') continue;
    scavenges++;
    promotedBytes += Math.max(0, oldUsed(gc.afterGC.heapSpaceStatistics) - oldUsed(gc.beforeGC.heapSpaceStatistics));
  }
  return { scavenges, promotedBytes };
}
