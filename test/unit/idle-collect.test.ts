/** IdleCollector (src/idle-collect.ts): when it collects, driven by injected readings. */
import { describe, expect, it } from 'vitest';
import { IDLE_COLLECT_MAX_BUSY, IDLE_COLLECT_MIN_GAP_MS, IDLE_COLLECT_MIN_GROWTH_BYTES, IDLE_COLLECT_MIN_RECEIVED_BYTES } from '../../src/constants.js';
import { IdleCollector } from '../../src/idle-collect.js';
import { eventually } from '../helpers/eventually.js';

const MB = 1024 * 1024;

/** A collector over a fake process: settable memory, busy share and clock; gc() drops memory to `floor`. */
function fake(start = 50 * MB) {
  const state = { allocated: start, busy: 0, now: 0, floor: start, gcs: 0, received: 0 };
  const collected: number[] = [];
  const collector = new IdleCollector({
    allocated: () => state.allocated,
    received: () => state.received,
    busyShare: () => state.busy,
    now: () => state.now,
    gc: () => {
      state.gcs++;
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
