/**
 * The tail bench's read split (bench/lib/read-log.ts, bench/lib/read-split.ts): when a server read
 * each load-generator frame, and how a frame's latency splits there; and the kernel threads'
 * share (bench/lib/ipc.ts).
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { frameSeq } from '../../bench/lib/frame-seq.js';
import type { ProcessStats } from '../../bench/lib/ipc.js';
import { kernelThreadsBetween } from '../../bench/lib/kernel-threads.js';
import { ReadLog } from '../../bench/lib/read-log.js';
import { splitAtRead } from '../../bench/lib/read-split.js';

describe('frame numbers', () => {
  it('reads the number after "id":"L, and -1 without one', () => {
    expect(frameSeq(Buffer.from('{"type":"OFFER","id":"L1234","to":"x"}'))).toBe(1234);
    expect(frameSeq(Buffer.from('{"id":"L0"}'))).toBe(0);
    expect(frameSeq(Buffer.from('{"type":"PING","id":"x1"}'))).toBe(-1);
    expect(frameSeq(Buffer.from('{"id":"L12'))).toBe(-1); // cut off: no end of the number
  });
});

describe('read log', () => {
  let wss: WebSocketServer | undefined;
  afterEach(async () => {
    for (const c of wss?.clients ?? []) c.terminate();
    await new Promise((r) => wss?.close(r));
    wss = undefined;
  });

  it('logs when the server read each numbered frame, before its own handler runs', async () => {
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    const reads = new ReadLog().watch(wss);
    const handled: number[] = [];
    wss.on('connection', (ws) =>
      ws.on('message', (data: Buffer) => {
        const seq = frameSeq(data);
        // The server's own handler sees the read already logged.
        handled.push(reads.timesOf([seq])[0] as number);
        if (seq === 9) ws.send('done');
      }),
    );
    await once(wss, 'listening');
    const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
    await once(client, 'open');
    const before = performance.timeOrigin + performance.now();
    for (const id of ['L5', 'L7', 'x8', 'L9']) client.send(JSON.stringify({ type: 'OFFER', id }));
    await once(client, 'message');
    const after = performance.timeOrigin + performance.now();
    client.close();
    const [t5, t7, t6, t9] = reads.timesOf([5, 7, 6, 9]);
    for (const t of [t5, t7, t9]) {
      expect(t).toBeGreaterThanOrEqual(before);
      expect(t).toBeLessThanOrEqual(after);
    }
    expect(t5).toBeLessThanOrEqual(t7 as number);
    expect(t6).toBeNaN(); // never sent
    expect(handled.filter((t) => !Number.isNaN(t))).toHaveLength(3);
  });
});

describe('read split', () => {
  it('splits each frame at its read and skips frames without one', () => {
    // Frame 1: sent 0, read 8, received 10. Frame 2: not read. Frame 3: sent 100, read 101, received 104.
    const part = splitAtRead([0, 10, 50, 60, 100, 104], [8, NaN, 101]);
    expect(part.frames).toBe(2);
    expect(part.beforeMs).toBe(4.5); // median of 8 and 1
    expect(part.afterMs).toBe(2.5); // median of 2 and 3
    expect(part.beforePercent).toBeCloseTo((9 / 14) * 100);
  });

  it('is empty (NaN) when nothing was read', () => {
    const part = splitAtRead([0, 10], [NaN]);
    expect(part.frames).toBe(0);
    expect(part.beforeMs).toBeNaN();
    expect(part.beforePercent).toBeNaN();
  });
});

describe('kernel threads', () => {
  const at = (ms: number, kernelThreads: ProcessStats['kernelThreads']) => ({ at: ms, kernelThreads }) as ProcessStats;

  it('reports their CPU per second and the busiest one with its mean slice', () => {
    const a = at(0, { 83: { name: 'kdamond.0', ns: 1e9, slices: 100 }, 14: { name: 'ksoftirqd/0', ns: 5e8, slices: 1000 }, 40: { name: 'kworker/0:1-events', ns: 9e9, slices: 9000 } });
    const b = at(2000, {
      83: { name: 'kdamond.0', ns: 1e9 + 40e6, slices: 104 },
      14: { name: 'ksoftirqd/0', ns: 5e8 + 2e6, slices: 1100 },
      // Renamed by the work it does now: still the same thread, counted from its earlier time.
      40: { name: 'kworker/0:1-mm_percpu_wq', ns: 9e9 + 1e6, slices: 9010 },
    });
    const use = kernelThreadsBetween(a, b);
    expect(use?.msPerSecond).toBeCloseTo((40 + 2 + 1) / 2);
    expect(use?.top).toEqual({ name: 'kdamond.0', msPerSecond: 20, meanSliceMs: 10 });
  });

  it('is undefined where /proc did not have them', () => {
    expect(kernelThreadsBetween(at(0, undefined), at(1000, { 1: { name: 'x', ns: 1, slices: 1 } }))).toBeUndefined();
  });
});
