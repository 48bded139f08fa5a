import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { TurnWrites } from '../../src/ws/turn-writes.js';

/** A Writable that records each write reaching it (corked writes arrive as one _writev). */
function sink() {
  const writes: string[][] = [];
  const stream = new PassThrough();
  stream._writev = (chunks, cb) => {
    writes.push(chunks.map((c) => String(c.chunk)));
    cb();
  };
  stream._write = (chunk, _enc, cb) => {
    writes.push([String(chunk)]);
    cb();
  };
  return { stream, writes };
}

describe('TurnWrites', () => {
  it('holds a socket once per burst and sends its writes together after the burst', async () => {
    const turn = new TurnWrites();
    const a = sink();
    const b = sink();
    for (const [s, text] of [[a, 'a1'], [b, 'b1'], [a, 'a2'], [a, 'a3']] as const) {
      turn.hold(s.stream);
      s.stream.write(text);
    }
    expect(a.stream.writableCorked).toBe(1);
    expect(turn.size).toBe(2);
    expect(a.writes).toEqual([]);
    await Promise.resolve();
    expect(turn.size).toBe(0);
    expect(a.writes).toEqual([['a1', 'a2', 'a3']]);
    expect(b.writes).toEqual([['b1']]);
    // The next burst starts afresh.
    turn.hold(a.stream);
    a.stream.write('a4');
    await Promise.resolve();
    expect(a.writes).toEqual([['a1', 'a2', 'a3'], ['a4']]);
  });

  it('leaves a socket corked by someone else to them', async () => {
    const turn = new TurnWrites();
    const a = sink();
    a.stream.cork();
    turn.hold(a.stream);
    a.stream.write('x');
    expect(turn.size).toBe(0);
    await Promise.resolve();
    expect(a.stream.writableCorked).toBe(1);
    expect(a.writes).toEqual([]);
    a.stream.uncork();
    expect(a.writes).toEqual([['x']]);
  });
});
