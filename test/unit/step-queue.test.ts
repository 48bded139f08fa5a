/** The ordered step queue of a session (src/ws/step-queue.ts). */
import { describe, expect, it } from 'vitest';
import { StepQueue, type StepQueueHooks } from '../../src/ws/step-queue.js';

function queue(over: Partial<StepQueueHooks> = {}) {
  const log: string[] = [];
  let blocked = false;
  const q = new StepQueue({
    blocked: () => blocked,
    applied: () => log.push('applied'),
    failed: (err) => log.push(`failed:${(err as Error).message}`),
    settled: () => log.push('settled'),
    ...over,
  });
  return { q, log, block: (b: boolean) => (blocked = b) };
}

describe('StepQueue', () => {
  it('applies outcomes in arrival order, a reserved slot holding back everything behind it until filled', () => {
    const { q } = queue();
    const out: string[] = [];
    q.push(() => void out.push('a'));
    const fill = q.reserve();
    q.push(() => void out.push('c'));
    q.flush();
    expect(out).toEqual(['a']);
    expect(q.length).toBe(2);
    fill(() => void out.push('b'));
    expect(out).toEqual(['a', 'b', 'c']);
    expect(q.length).toBe(0);
  });

  it('fills reserved slots in any order and still applies them in arrival order', () => {
    const { q } = queue();
    const out: number[] = [];
    const fills = [q.reserve(), q.reserve(), q.reserve()];
    fills[2]?.(() => void out.push(2));
    fills[1]?.(() => void out.push(1));
    expect(out).toEqual([]);
    fills[0]?.(() => void out.push(0));
    expect(out).toEqual([0, 1, 2]);
  });

  it('applies a slot object its owner made ready, as a method call on it, in arrival order', () => {
    const { q } = queue();
    const out: string[] = [];
    // A step object as src/ws/signaling.ts SignalStep: run() reads its own fields.
    class Frame {
      ready = false;
      constructor(readonly name: string) {}
      run(): void {
        out.push(this.name);
      }
    }
    const [a, b] = [new Frame('a'), new Frame('b')];
    q.enqueue(a);
    q.enqueue(b);
    q.push(() => void out.push('c'));
    b.ready = true;
    q.flush();
    expect(out).toEqual([]);
    a.ready = true;
    q.flush();
    expect(out).toEqual(['a', 'b', 'c']);
    expect(q.length).toBe(0);
  });

  it('waits for an asynchronous outcome before the next one', async () => {
    const { q } = queue();
    const out: string[] = [];
    let release!: () => void;
    q.push(() => new Promise<void>((r) => (release = r)).then(() => void out.push('slow')));
    q.push(() => void out.push('next'));
    q.flush();
    expect(out).toEqual([]);
    q.flush(); // a flush while it runs applies nothing
    expect(out).toEqual([]);
    release();
    await Promise.resolve();
    await Promise.resolve();
    await Promise.resolve();
    expect(out).toEqual(['slow', 'next']);
  });

  it('applies nothing while blocked, and resumes on the next flush', () => {
    const { q, block } = queue();
    const out: string[] = [];
    q.push(() => void out.push('a'));
    block(true);
    q.flush();
    expect(out).toEqual([]);
    block(false);
    q.flush();
    expect(out).toEqual(['a']);
  });

  it('stops as soon as an outcome blocks it (a reply that congested the socket)', () => {
    const h = queue();
    const out: string[] = [];
    h.q.push(() => {
      out.push('a');
      h.block(true);
    });
    h.q.push(() => void out.push('b'));
    h.q.flush();
    expect(out).toEqual(['a']);
    expect(h.q.length).toBe(1);
  });

  it('reports what throws or rejects and goes on with the next outcome', async () => {
    const { q, log } = queue();
    const out: string[] = [];
    q.push(() => {
      throw new Error('sync');
    });
    q.push(() => Promise.reject(new Error('async')));
    q.push(() => void out.push('after'));
    q.flush();
    await new Promise((r) => setImmediate(r));
    expect(log.filter((l) => l.startsWith('failed'))).toEqual(['failed:sync', 'failed:async']);
    expect(out).toEqual(['after']);
  });

  it('tells the owner after each outcome and whenever it stops', () => {
    const { q, log } = queue();
    q.push(() => {});
    q.push(() => {});
    q.flush();
    expect(log).toEqual(['applied', 'applied', 'settled']);
  });
});
