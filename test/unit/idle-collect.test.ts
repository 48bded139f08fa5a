/** IdleCollector (src/idle-collect.ts): when it collects, driven by injected readings. */
import { describe, expect, it } from 'vitest';
import {
  IDLE_COLLECT_MAX_BUSY,
  IDLE_COLLECT_MIN_GAP_MS,
  IDLE_COLLECT_MIN_GROWTH_BYTES,
  IDLE_COLLECT_MIN_RECEIVED_BYTES,
  IDLE_COLLECT_SHRINK_YOUNG_BYTES,
} from '../../src/constants.js';
import { IdleCollector, youngGenerationBytes, type GcOptions } from '../../src/idle-collect.js';
import { eventually } from '../helpers/eventually.js';

const MB = 1024 * 1024;

/**
 * A collector over a fake process: settable memory, young generation, busy share and clock; gc()
 * drops memory to `floor` and records the options it was given.
 */
function fake(start = 50 * MB) {
  const state = { allocated: start, young: 1 * MB, busy: 0, now: 0, floor: start, gcs: 0, received: 0, options: [] as (GcOptions | undefined)[] };
  const collected: number[] = [];
  const collector = new IdleCollector({
    allocated: () => state.allocated,
    received: () => state.received,
    busyShare: () => state.busy,
    youngBytes: () => state.young,
    now: () => state.now,
    gc: (options) => {
      state.gcs++;
      state.options.push(options);
      state.allocated = state.floor;
    },
    onCollect: (before) => collected.push(before),
  });
  return { state, collected, collector };
}

describe('IdleCollector', () => {
  it('collects once the loop is quiet after memory grew', () => {
    const { state, collected, collector } = fake();
    state.allocated += 40 * MB;
    state.busy = 0.6; // the burst
    expect(collector.check()).toBe(false);
    state.busy = IDLE_COLLECT_MAX_BUSY; // not yet quiet
    expect(collector.check()).toBe(false);
    state.busy = 0.01;
    expect(collector.check()).toBe(true);
    expect(state.gcs).toBe(1);
    expect(collected).toEqual([90 * MB]);
    // Nothing grew since: no more collections, however quiet.
    state.now += 10 * IDLE_COLLECT_MIN_GAP_MS;
    expect(collector.check()).toBe(false);
    expect(state.gcs).toBe(1);
  });

  it('needs growth of IDLE_COLLECT_MIN_GROWTH_BYTES above the lowest level seen', () => {
    const { state, collector } = fake();
    state.allocated += IDLE_COLLECT_MIN_GROWTH_BYTES - 1;
    expect(collector.check()).toBe(false);
    // V8 collected on its own: the baseline follows it down.
    state.allocated -= 20 * MB;
    state.floor = state.allocated;
    expect(collector.check()).toBe(false);
    state.allocated += IDLE_COLLECT_MIN_GROWTH_BYTES;
    expect(collector.check()).toBe(true);
    expect(state.gcs).toBe(1);
  });

  it('collects after IDLE_COLLECT_MIN_RECEIVED_BYTES were received, even if V8 already collected', () => {
    const { state, collector } = fake();
    state.received += IDLE_COLLECT_MIN_RECEIVED_BYTES - 1;
    expect(collector.check()).toBe(false);
    state.received += 1;
    state.busy = 0.5;
    expect(collector.check()).toBe(false);
    state.busy = 0;
    expect(collector.check()).toBe(true);
    // Counted from this collection on.
    state.now += IDLE_COLLECT_MIN_GAP_MS;
    state.received += IDLE_COLLECT_MIN_RECEIVED_BYTES - 1;
    expect(collector.check()).toBe(false);
    expect(state.gcs).toBe(1);
  });

  it('collects at most once per IDLE_COLLECT_MIN_GAP_MS', () => {
    const { state, collector } = fake();
    state.allocated += 20 * MB;
    expect(collector.check()).toBe(true);
    state.allocated += 20 * MB;
    state.now += IDLE_COLLECT_MIN_GAP_MS - 1;
    expect(collector.check()).toBe(false);
    state.now += 1;
    expect(collector.check()).toBe(true);
    expect(state.gcs).toBe(2);
  });

  it('runs a full collection, a memory-reducing one while the young generation is large', () => {
    const { state, collector } = fake();
    state.allocated += 20 * MB;
    state.young = IDLE_COLLECT_SHRINK_YOUNG_BYTES;
    expect(collector.check()).toBe(true);
    state.allocated += 20 * MB;
    state.young = IDLE_COLLECT_SHRINK_YOUNG_BYTES + 1;
    state.now += IDLE_COLLECT_MIN_GAP_MS;
    expect(collector.check()).toBe(true);
    // Always explicit options: V8 reads gc(undefined) as a minor collection.
    expect(state.options).toEqual([
      { type: 'major', execution: 'sync', flavor: 'regular' },
      { type: 'major', execution: 'sync', flavor: 'last-resort' },
    ]);
  });

  it('gives back the young generation a burst grew (real collection)', () => {
    // Short-lived objects with many survivors per scavenge: V8 grows the young generation
    // (to 32-64 MB on Node 22-26 with their default limits).
    let keep: { a: number; b: string }[] = [];
    for (let i = 0; i < 2_000_000; i++) {
      keep.push({ a: i, b: String(i) });
      if (keep.length > 100_000) keep = [];
    }
    expect(keep.length).toBeGreaterThan(0);
    expect(youngGenerationBytes()).toBeGreaterThan(IDLE_COLLECT_SHRINK_YOUNG_BYTES);
    let allocated = 0;
    const collector = new IdleCollector({ busyShare: () => 0, allocated: () => allocated });
    allocated = IDLE_COLLECT_MIN_GROWTH_BYTES;
    expect(collector.check()).toBe(true);
    // V8's initial size: 1 MB on Node 22 and 24, 0.5 MB on Node 26.
    expect(youngGenerationBytes()).toBeLessThanOrEqual(2 * MB);
  });

  it('runs a real full collection by default (no --expose-gc needed), leaving globals alone', async () => {
    const hadGc = 'gc' in globalThis;
    const collector = new IdleCollector({ busyShare: () => 0 });
    // 64 MB of buffers that are garbage once the allocating call has returned.
    expect(allocateGarbage(64)).toBe(64 * MB);
    const held = process.memoryUsage().arrayBuffers;
    expect(collector.check()).toBe(true);
    // V8 frees ArrayBuffer memory concurrently, just after the collection.
    await eventually(() => process.memoryUsage().arrayBuffers < held - 48 * MB, 10_000, 'the 64 MB freed');
    expect('gc' in globalThis).toBe(hadGc);
  });
});

/** Allocates `mb` 1 MB buffers and drops them; returns their size. */
function allocateGarbage(mb: number): number {
  const junk = Array.from({ length: mb }, () => Buffer.alloc(MB, 1));
  return junk.reduce((sum, b) => sum + b.length, 0);
}
