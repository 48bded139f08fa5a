/**
 * Where a rate's frames spent their latency: before the server read them (the sender's write, the
 * kernel, the server's event loop not getting to the socket because it was busy or waiting for a
 * core) or after (the server's work on the frame, its write, the kernel, the receiver). The slowest
 * 1 % against an even sample of all frames, from the load generator's frame windows and the
 * server's read log (bench/lib/read-log.ts), in one clock (ms since the Unix epoch, from two
 * processes on the same machine, as bench/lib/gc-overlap.ts).
 *
 * If the slow frames waited before the read while the server's own hops stay short, the tail is
 * made where the server cannot see it: the event loop reached the socket late.
 */
import type { Child } from './child.js';
import type { FrameWindows } from './results.js';
import { median } from './stats.js';

export interface ReadSplitPart {
  /** Frames with a read time. */
  frames: number;
  /** Median ms from sent to read, and from read to received. */
  beforeMs: number;
  afterMs: number;
  /** Share of these frames' summed latency spent before the read, %. */
  beforePercent: number;
}

export interface ReadSplit {
  slow: ReadSplitPart;
  all: ReadSplitPart;
}

/** Splits `windows` ([sent, received] pairs, flattened) at `reads` (one read time per pair; NaN: not read or not logged). */
export function splitAtRead(windows: readonly number[], reads: readonly number[]): ReadSplitPart {
  const before: number[] = [];
  const after: number[] = [];
  for (let i = 0; i < reads.length; i++) {
    const read = reads[i] as number;
    if (Number.isNaN(read)) continue;
    before.push(read - (windows[2 * i] as number));
    after.push((windows[2 * i + 1] as number) - read);
  }
  const sumBefore = before.reduce((a, b) => a + b, 0);
  const sumAfter = after.reduce((a, b) => a + b, 0);
  return {
    frames: before.length,
    beforeMs: median(before),
    afterMs: median(after),
    beforePercent: sumBefore + sumAfter > 0 ? (sumBefore / (sumBefore + sumAfter)) * 100 : NaN,
  };
}

/** Asks `server` (one request) when it read the frames of `windows`, and splits their latency there. */
export async function readSplit(server: Child, windows: FrameWindows): Promise<ReadSplit> {
  const seqs = [...windows.slowSeqs, ...windows.sampleSeqs];
  const { times } = await server.request<{ type: 'read-times'; times: number[] }>({ cmd: 'read-times', seqs }, 'read-times', 20_000);
  const slowCount = windows.slowSeqs.length;
  return { slow: splitAtRead(windows.slow, times.slice(0, slowCount)), all: splitAtRead(windows.sample, times.slice(slowCount)) };
}
