/**
 * When a server under test read each load-generator frame: the time its WebSocket `message` event
 * fired, by frame number (bench/lib/frame-seq.ts), in ms since the Unix epoch
 * (`performance.timeOrigin` + `performance.now()`, the clock of the load generator's frame windows).
 *
 * With it the tail scenario splits a slow frame's latency into the time before the server read
 * it (the sender's write, the kernel, and the server's event loop not getting to the socket: busy,
 * or waiting for a core) and the time after (the server's own work on it, its write, and the
 * receiver). On 2026-12-03 the slowest 1 % at 2,000–4,000/s spent 53–90 % of their latency before
 * the gateway read them, while its own hops stayed under 0.1 ms (docs/performance.md).
 *
 * The listener is prepended, so it runs before the server's own: the time is the read, not the
 * end of the server's handling. Cost per frame: one scan for the id and two typed-array writes (no
 * allocation). The log is a ring indexed by frame number: a lookup finds a frame while fewer than
 * CAPACITY frames were read after it (11 s at 4,000/s is 44,000).
 */
import type { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { frameSeq } from './frame-seq.js';

const CAPACITY = 1 << 17;

export class ReadLog {
  private readonly seqs = new Float64Array(CAPACITY).fill(-1);
  private readonly times = new Float64Array(CAPACITY);
  private readonly record = (data: unknown): void => {
    if (!Buffer.isBuffer(data)) return;
    const seq = frameSeq(data);
    if (seq < 0) return;
    const slot = seq % CAPACITY;
    this.seqs[slot] = seq;
    this.times[slot] = performance.timeOrigin + performance.now();
  };

  /** Logs the reads of every connection `server` (a `ws` WebSocketServer) accepts from now on. */
  watch(server: EventEmitter): this {
    server.on('connection', (ws: EventEmitter) => this.watchSocket(ws));
    return this;
  }

  /** Logs the reads of one connection (a `ws` WebSocket), ahead of the listeners it already has. */
  watchSocket(ws: EventEmitter): void {
    ws.prependListener('message', this.record);
  }

  /** When each of `seqs` was read (NaN where it was not, or was overwritten since). */
  timesOf(seqs: readonly number[]): number[] {
    return seqs.map((seq) => {
      const slot = seq % CAPACITY;
      return this.seqs[slot] === seq ? (this.times[slot] as number) : NaN;
    });
  }
}
