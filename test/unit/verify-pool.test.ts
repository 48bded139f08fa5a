/**
 * src/identity/verify-pool.ts: verification in worker threads, batched per event-loop turn.
 * Keys and signatures come from @noble/ed25519, so the workers' node:crypto is checked against an
 * independent implementation.
 */
import * as ed from '@noble/ed25519';
import { afterEach, describe, expect, it } from 'vitest';
import { VerifyPool } from '../../src/identity/verify-pool.js';
import { eventually } from '../helpers/eventually.js';

interface Signed {
  publicKey: Uint8Array;
  message: Uint8Array;
  signature: Uint8Array;
}

async function signed(count: number, keys = count): Promise<Signed[]> {
  const secrets = Array.from({ length: keys }, () => ed.utils.randomSecretKey());
  const publics = await Promise.all(secrets.map((s) => ed.getPublicKeyAsync(s)));
  return Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const message = new TextEncoder().encode(`{"id":"m${i}","n":${i}}`.padEnd(40 + (i % 300), ' '));
      return { publicKey: publics[i % keys] as Uint8Array, message, signature: await ed.signAsync(message, secrets[i % keys] as Uint8Array) };
    }),
  );
}

const verdict = (pool: VerifyPool, s: Signed) =>
  new Promise<boolean | null>((resolve) => pool.verify(s.publicKey, s.message, s.signature, resolve));

let pool: VerifyPool | undefined;
afterEach(async () => {
  await pool?.close();
  pool = undefined;
});

describe('VerifyPool', () => {
  it('starts no worker until the first verification that goes to one, and then only one', async () => {
    pool = new VerifyPool({ threads: 2, inlineWhileStarting: false, inlineWhenIdle: false, inlineBelowUtilization: 0 });
    expect(pool.running).toBe(0);
    const [s] = await signed(1);
    expect(await verdict(pool, s as Signed)).toBe(true);
    expect(pool.running).toBe(1);
    expect(pool.counts).toEqual({ inline: 0, workers: 1 });
  });

  it('keeps one worker for a trickle and starts another only while the first has a batch in flight', async () => {
    pool = new VerifyPool({ threads: 3, inlineWhileStarting: false, inlineWhenIdle: false, inlineBelowUtilization: 0 });
    const items = await signed(40, 4);
    // One batch at a time: the running worker is idle each time, so no other starts.
    for (const s of items.slice(0, 10)) expect(await verdict(pool, s)).toBe(true);
    expect(pool.threads.started).toBe(1);
    // 30 in one turn: split into 3 batches, each to a worker with nothing in flight.
    const burst = await Promise.all(items.slice(10).map((s) => verdict(pool as VerifyPool, s)));
    expect(burst.every((r) => r === true)).toBe(true);
    expect(pool.running).toBe(3);
    expect(pool.threads.started).toBe(3);
  });

  it('verifies on the event loop while the workers are idle, and hands the rest of a burst to them', async () => {
    pool = new VerifyPool({ threads: 2, inlineWhileStarting: false, inlineBelowUtilization: 0 });
    const items = await signed(30, 3);
    // One at a time: the workers are idle each time, so each is verified inline.
    for (const s of items.slice(0, 5)) expect(await verdict(pool, s)).toBe(true);
    expect(pool.counts).toEqual({ inline: 5, workers: 0 });
    expect(pool.running).toBe(0);
    // A burst in one turn: the first inline, the other 24 in worker batches.
    const burst = await Promise.all(items.slice(5).map((s) => verdict(pool as VerifyPool, s)));
    expect(burst.every((r) => r === true)).toBe(true);
    expect(pool.counts).toEqual({ inline: 6, workers: 24 });
    // Inline verification refuses what the workers refuse.
    const bad = { ...(items[0] as Signed), message: (items[1] as Signed).message };
    expect(await verdict(pool, bad)).toBe(false);
    expect(pool.counts.inline).toBe(7);
  });

  it('verifies on the event loop while its first worker starts, and starts no second one meanwhile', async () => {
    // Workers only, but for the thread start: nothing else would be verified inline.
    pool = new VerifyPool({ threads: 3, inlineWhenIdle: false, inlineBelowUtilization: 0 });
    const items = await signed(21, 3);
    const first = await Promise.all(items.slice(0, 10).map((s) => verdict(pool as VerifyPool, s)));
    expect(first.every((r) => r === true)).toBe(true);
    expect(pool.counts).toEqual({ inline: 10, workers: 0 });
    expect(pool.threads.started).toBe(1);
    await eventually(() => (pool as VerifyPool).ready === 1, 10_000, 'the first worker to be ready');
    // Ready: the next burst goes to the workers (batches of ceil(10 / 3); the second lane starts
    // while the first has a batch in flight, and gets nothing until it is ready).
    const second = await Promise.all(items.slice(10, 20).map((s) => verdict(pool as VerifyPool, s)));
    expect(second.every((r) => r === true)).toBe(true);
    expect(pool.counts).toEqual({ inline: 10, workers: 10 });
    expect(pool.threads.started).toBe(2);
    // What the workers refuse is refused inline too (the first batch of a fresh pool).
    const fresh = new VerifyPool({ threads: 1, inlineWhenIdle: false, inlineBelowUtilization: 0 });
    const bad = { ...(items[20] as Signed), message: (items[0] as Signed).message };
    expect(await verdict(fresh, bad)).toBe(false);
    expect(fresh.counts).toEqual({ inline: 1, workers: 0 });
    await fresh.close();
  });

  it('accepts 400 good signatures from 40 keys and refuses each one-bit change, whatever the batch', async () => {
    pool = new VerifyPool({ threads: 2, inlineWhileStarting: false });
    const good = await signed(400, 40);
    const flipped = good.map((s, i) => {
      const signature = Uint8Array.from(s.signature);
      signature[i % 64] = (signature[i % 64] as number) ^ (1 << (i % 8));
      return { ...s, signature };
    });
    const wrongKey = good.map((s, i) => ({ ...s, publicKey: (good[(i + 1) % good.length] as Signed).publicKey }));
    const otherMessage = good.map((s, i) => ({ ...s, message: (good[(i + 1) % good.length] as Signed).message }));
    // Submitted in one turn: one batch per worker.
    const results = await Promise.all([...good, ...flipped, ...wrongKey, ...otherMessage].map((s) => verdict(pool as VerifyPool, s)));
    expect(results.slice(0, 400).every((r) => r === true)).toBe(true);
    expect(results.slice(400).filter((r) => r !== false)).toEqual([]);
  });

  it('answers every call exactly once, over many turns and with a key cache smaller than the keys', async () => {
    pool = new VerifyPool({ threads: 3, inlineWhileStarting: false, maxKeysPerWorker: 2 });
    const items = await signed(120, 12);
    const calls = new Array<number>(items.length).fill(0);
    const answers: Promise<boolean | null>[] = [];
    for (let turn = 0; turn < 12; turn++) {
      for (let i = turn * 10; i < turn * 10 + 10; i++) {
        answers.push(
          new Promise((resolve) =>
            (pool as VerifyPool).verify((items[i] as Signed).publicKey, (items[i] as Signed).message, (items[i] as Signed).signature, (ok) => {
              calls[i] = (calls[i] as number) + 1;
              resolve(ok);
            }),
          ),
        );
      }
      await new Promise((r) => setImmediate(r));
    }
    expect((await Promise.all(answers)).every((r) => r === true)).toBe(true);
    await new Promise((r) => setTimeout(r, 20));
    expect(calls.every((c) => c === 1)).toBe(true);
  });

  it('refuses a signature or key of the wrong length without a worker, asynchronously', async () => {
    pool = new VerifyPool({ threads: 1, inlineWhileStarting: false });
    const [s] = (await signed(1)) as [Signed];
    let answered = false;
    const short = new Promise((resolve) =>
      pool?.verify(s.publicKey, s.message, s.signature.subarray(0, 63), (ok) => {
        answered = true;
        resolve(ok);
      }),
    );
    const longKey = verdict(pool, { ...s, publicKey: new Uint8Array(33) });
    expect(answered).toBe(false); // never inside the call
    expect(await short).toBe(false);
    expect(await longKey).toBe(false);
    expect(pool.running).toBe(0);
  });

  it('answers request objects through their own verified() method, inline, from a worker and when refused', async () => {
    const items = await signed(3);
    // As src/ws/signaling.ts SignalStep: the verdict lands on the object that was submitted.
    class Request {
      ok: boolean | null | undefined;
      readonly settled: Promise<void>;
      private resolve!: () => void;
      constructor(
        readonly publicKey: Uint8Array,
        readonly message: Uint8Array,
        readonly signature: Uint8Array,
      ) {
        this.settled = new Promise((r) => (this.resolve = r));
      }
      verified(ok: boolean | null): void {
        this.ok = ok;
        this.resolve();
      }
    }
    const make = (s: Signed, signature = s.signature) => new Request(s.publicKey, s.message, signature);
    const [a, b, c] = items as [Signed, Signed, Signed];
    pool = new VerifyPool({ threads: 1, inlineWhileStarting: false, inlineBelowUtilization: 1 });
    const inline = make(a);
    pool.submit(inline);
    await inline.settled;
    expect(inline.ok).toBe(true);
    expect(pool.counts).toEqual({ inline: 1, workers: 0 });
    await pool.close();
    pool = new VerifyPool({ threads: 1, inlineWhileStarting: false, inlineWhenIdle: false, inlineBelowUtilization: 0 });
    const flipped = new Uint8Array(c.signature);
    flipped[0] = (flipped[0] as number) ^ 1;
    const [good, bad, short] = [make(b), make(c, flipped), make(a, a.signature.subarray(0, 63))];
    for (const r of [good, bad, short]) pool.submit(r);
    await Promise.all([good.settled, bad.settled, short.settled]);
    expect([good.ok, bad.ok, short.ok]).toEqual([true, false, false]);
    expect(pool.counts).toEqual({ inline: 0, workers: 2 });
  });

  it('answers null for work in flight when closed, and for work after close', async () => {
    pool = new VerifyPool({ threads: 1, inlineWhileStarting: false });
    const items = await signed(50, 5);
    const inFlight = Promise.all(items.map((s) => verdict(pool as VerifyPool, s)));
    await new Promise((r) => setImmediate(r));
    await pool.close();
    const answers = await inFlight;
    expect(answers.every((a) => a === null || a === true)).toBe(true);
    expect(await verdict(pool, items[0] as Signed)).toBeNull();
  });

  it('answers null for the batches of a worker that dies, and replaces it', async () => {
    const errors: Error[] = [];
    pool = new VerifyPool({ threads: 1, inlineWhileStarting: false, inlineWhenIdle: false, inlineBelowUtilization: 0, onWorkerError: (e) => errors.push(e) });
    const items = await signed(200, 10);
    expect(await verdict(pool, items[0] as Signed)).toBe(true);
    const inFlight = Promise.all(items.map((s) => verdict(pool as VerifyPool, s)));
    await new Promise((r) => setImmediate(r));
    // Kill the worker from outside, as an OOM or a native crash would.
    const lanes = (pool as unknown as { lanes: { worker: { terminate(): Promise<number> } }[] }).lanes;
    await lanes[0]?.worker.terminate();
    const answers = await inFlight;
    expect(answers.some((a) => a === null)).toBe(true);
    expect(answers.every((a) => a === null || a === true)).toBe(true);
    // The next verification starts a new worker.
    expect(await verdict(pool, items[1] as Signed)).toBe(true);
    expect(pool.running).toBe(1);
  });

  it('delivers every other verdict when one callback throws, inline or from a worker', async () => {
    const errors: unknown[] = [];
    pool = new VerifyPool({ threads: 2, inlineWhileStarting: false, inlineBelowUtilization: 0, onCallbackError: (e) => errors.push(e) });
    const items = await signed(20, 4);
    const results: (boolean | null)[] = [];
    await new Promise<void>((resolve) => {
      items.forEach((s, i) =>
        (pool as VerifyPool).verify(s.publicKey, s.message, s.signature, (ok) => {
          results.push(ok);
          if (results.length === items.length) resolve();
          if (i % 5 === 0) throw new Error(`callback ${i}`);
        }),
      );
    });
    expect(results).toHaveLength(20);
    expect(results.every((r) => r === true)).toBe(true);
    expect(errors).toHaveLength(4);
    expect(pool.counts.inline).toBe(1); // the first of the turn; the rest went to the workers
  });

  it('verifies whole bursts on a lightly loaded event loop, within the per-turn budget', async () => {
    const items = await signed(40, 4);
    // Made after the signing, so that its first look at the event loop does not count that work.
    pool = new VerifyPool({ threads: 2, inlineWhileStarting: false, inlineBelowUtilization: 0.5, inlineBudgetMs: 50 });
    // An idle loop: a burst of 8 (1–2 ms of verification, first keys imported) stays on the event loop.
    const small = await Promise.all(items.slice(0, 8).map((s) => verdict(pool as VerifyPool, s)));
    expect(small.every((r) => r === true)).toBe(true);
    expect(pool.counts).toEqual({ inline: 8, workers: 0 });
    expect(pool.running).toBe(0);
    // Inline verification refuses what the workers refuse.
    const bad = { ...(items[0] as Signed), message: (items[1] as Signed).message };
    expect(await verdict(pool, bad)).toBe(false);
    expect(pool.counts.inline).toBe(9);
  });

  it('lets the work a verdict queued (its socket writes) run before the next inline verification', async () => {
    const items = await signed(3, 3);
    pool = new VerifyPool({ threads: 1, inlineWhileStarting: false, inlineBelowUtilization: 1 });
    const order: string[] = [];
    await Promise.all(
      items.map(
        (s, i) =>
          new Promise<void>((resolve) =>
            (pool as VerifyPool).verify(s.publicKey, s.message, s.signature, (ok) => {
              order.push(`verdict ${i} ${ok}`);
              // What TurnWrites does with a delivery: uncork the target's socket in a microtask.
              queueMicrotask(() => {
                order.push(`written ${i}`);
                resolve();
              });
            }),
          ),
      ),
    );
    expect(order).toEqual(['verdict 0 true', 'written 0', 'verdict 1 true', 'written 1', 'verdict 2 true', 'written 2']);
    expect(pool.counts).toEqual({ inline: 3, workers: 0 });
  });

  it('hands a burst past the per-turn budget to the workers', async () => {
    pool = new VerifyPool({ threads: 2, inlineWhileStarting: false, inlineBelowUtilization: 1, inlineBudgetMs: 0.001 });
    const items = await signed(30, 3);
    const burst = await Promise.all(items.map((s) => verdict(pool as VerifyPool, s)));
    expect(burst.every((r) => r === true)).toBe(true);
    // A budget smaller than one verification still verifies one inline per turn.
    expect(pool.counts).toEqual({ inline: 1, workers: 29 });
    expect(pool.running).toBe(2);
  });

  it('stops verifying bursts inline while the event loop is busy', async () => {
    const items = await signed(30, 3);
    pool = new VerifyPool({ threads: 2, inlineWhileStarting: false, inlineBelowUtilization: 0.5 });
    await Promise.all(items.slice(0, 2).map((s) => verdict(pool as VerifyPool, s)));
    expect(pool.counts).toEqual({ inline: 2, workers: 0 });
    // Keep the event loop busy for 250 ms (more than one 100 ms measuring window), then a burst.
    const until = performance.now() + 250;
    while (performance.now() < until);
    const burst = await Promise.all(items.slice(2).map((s) => verdict(pool as VerifyPool, s)));
    expect(burst.every((r) => r === true)).toBe(true);
    // Busy: only the idle-workers rule applies (the first of the turn inline), the rest to workers.
    expect(pool.counts).toEqual({ inline: 3, workers: 27 });
  });

  it('rejects a thread count below 1 and a negative idle time', () => {
    expect(() => new VerifyPool({ threads: 0 })).toThrow(RangeError);
    expect(() => new VerifyPool({ threads: 1, idleExitMs: -1 })).toThrow(RangeError);
    expect(() => new VerifyPool({ threads: 1, idleExitMs: Number.NaN })).toThrow(RangeError);
    expect(() => new VerifyPool({ threads: 1, idleExitMaxBusy: 1.5 })).toThrow(RangeError);
    expect(() => new VerifyPool({ threads: 1, idleExitMaxBusy: -0.1 })).toThrow(RangeError);
  });
});

/** Keeps the event loop ~60 % busy (6 ms of every 10), well above VERIFY_IDLE_EXIT_MAX_BUSY; clearInterval stops it. */
function keepLoopBusy(): NodeJS.Timeout {
  return setInterval(() => {
    const end = performance.now() + 6;
    while (performance.now() < end);
  }, 10);
}

describe('VerifyPool idle exit', () => {
  /** Workers only (nothing inline), and each idle exit's promise in order. */
  function idlePool(idleExitMs: number, threads = 1) {
    const exits: Promise<void>[] = [];
    let nextExit: (told: { exited: Promise<void> }) => void = () => undefined;
    const p = new VerifyPool({
      threads,
      inlineWhenIdle: false,
      inlineWhileStarting: false,
      inlineBelowUtilization: 0,
      idleExitMs,
      onIdleExit: (exited) => {
        exits.push(exited);
        nextExit({ exited });
      },
    });
    /** Resolves when the next worker is told to stop, with the promise of its thread's exit. */
    const told = () => new Promise<{ exited: Promise<void> }>((resolve) => (nextExit = resolve));
    return { pool: p, exits, told };
  }

  it('stops a worker that has been idle for idleExitMs, and the next batch starts a new one', async () => {
    const { pool: p, told } = idlePool(30);
    pool = p;
    const items = await signed(3, 1);
    const exiting = told();
    expect(await verdict(p, items[0] as Signed)).toBe(true);
    expect(p.running).toBe(1);
    const { exited } = await exiting;
    // Out of the pool as soon as it is told to stop; its thread is gone when `exited` resolves.
    expect(p.running).toBe(0);
    expect(p.threads).toMatchObject({ started: 1, idleExits: 1 });
    await exited;
    expect(await verdict(p, items[1] as Signed)).toBe(true);
    expect(p.threads).toMatchObject({ started: 2, idleExits: 1 });
    expect(p.counts).toEqual({ inline: 0, workers: 2 });
    // A refusal from the new worker is still a refusal.
    expect(await verdict(p, { ...(items[2] as Signed), signature: new Uint8Array(64) })).toBe(false);
  });

  it('sends a verification that arrives while a worker is exiting to a fresh worker', async () => {
    const { pool: p, told } = idlePool(20);
    pool = p;
    const items = await signed(20, 2);
    const exiting = told();
    expect(await verdict(p, items[0] as Signed)).toBe(true);
    // Submitted right after the exit decision, before the old thread has exited.
    const { exited } = await exiting;
    let oldThreadGone = false;
    void exited.then(() => (oldThreadGone = true));
    const during = Promise.all(items.slice(1).map((s) => verdict(p, s)));
    expect(oldThreadGone).toBe(false);
    expect(await during).toEqual(new Array(19).fill(true));
    await exited;
    expect(p.threads.started).toBe(2);
    expect(p.counts.workers).toBe(20);
  });

  it('never stops a worker with a batch in flight, however short idleExitMs', async () => {
    const { pool: p, told } = idlePool(1);
    pool = p;
    // One batch of 600 (tens of ms of work): the 1 ms timer fires many times meanwhile.
    const items = await signed(600, 20);
    const exiting = told();
    const answers = await Promise.all(items.map((s) => verdict(p, s)));
    expect(answers.filter((a) => a !== true)).toEqual([]);
    expect(p.threads.idleExits).toBe(0);
    await exiting;
    expect(p.threads.idleExits).toBe(1);
  });

  it('lets each worker idle out on its own', async () => {
    const { pool: p, exits } = idlePool(30, 2);
    pool = p;
    const items = await signed(40, 4);
    const burst = await Promise.all(items.map((s) => verdict(p, s)));
    expect(burst.every((r) => r === true)).toBe(true);
    // Both ran the burst. Not `running` here: on a loaded machine the first may already have
    // idled out (30 ms) before the second answered.
    expect(p.threads.started).toBe(2);
    await eventually(() => exits.length >= 2, 5000, 'both workers told to exit');
    await Promise.all(exits);
    expect(p.running).toBe(0);
    expect(p.threads).toMatchObject({ started: 2, idleExits: 2 });
  });

  it('keeps an idle worker while the event loop is busy, and stops it once the loop is quiet', async () => {
    const { pool: p, told } = idlePool(40);
    pool = p;
    const [s] = (await signed(1)) as [Signed];
    expect(await verdict(p, s)).toBe(true);
    const spin = keepLoopBusy();
    const exiting = told();
    try {
      await eventually(() => p.threads.keptBusy >= 3, 10_000, 'three idle checks on a busy loop');
      expect(p.threads.idleExits).toBe(0);
      expect(p.running).toBe(1);
    } finally {
      clearInterval(spin);
    }
    // Quiet now: the next check (at most one idle-exit time later) stops it.
    await (await exiting).exited;
    expect(p.threads).toMatchObject({ started: 1, idleExits: 1 });
    expect(p.running).toBe(0);
  });

  it('with idleExitMaxBusy 1 stops an idle worker whatever the load', async () => {
    const exits: Promise<void>[] = [];
    pool = new VerifyPool({ threads: 1, inlineWhileStarting: false, inlineWhenIdle: false, inlineBelowUtilization: 0, idleExitMs: 20, idleExitMaxBusy: 1, onIdleExit: (e) => exits.push(e) });
    const [s] = (await signed(1)) as [Signed];
    expect(await verdict(pool, s)).toBe(true);
    const spin = keepLoopBusy();
    try {
      await eventually(() => exits.length === 1, 10_000, 'the worker told to exit on a busy loop');
    } finally {
      clearInterval(spin);
    }
    expect(pool.threads).toMatchObject({ idleExits: 1, keptBusy: 0 });
    await exits[0];
  });

  it('close() waits for a worker that is exiting', async () => {
    const { pool: p, told } = idlePool(10);
    pool = p;
    const [s] = (await signed(1)) as [Signed];
    const exiting = told();
    expect(await verdict(p, s)).toBe(true);
    const { exited } = await exiting;
    let gone = false;
    void exited.then(() => (gone = true));
    await p.close();
    expect(gone).toBe(true);
  });

  it('keeps workers without an idle timer when idleExitMs is 0', async () => {
    pool = new VerifyPool({ threads: 1, inlineWhileStarting: false, inlineWhenIdle: false, inlineBelowUtilization: 0, idleExitMs: 0 });
    const [s] = (await signed(1)) as [Signed];
    expect(await verdict(pool, s)).toBe(true);
    const lanes = (pool as unknown as { lanes: ({ idle: unknown } | undefined)[] }).lanes;
    expect(lanes[0]?.idle).toBeUndefined();
  });

  it('arms an idle timer that does not keep the process alive', async () => {
    pool = new VerifyPool({ threads: 1, inlineWhileStarting: false, inlineWhenIdle: false, inlineBelowUtilization: 0, idleExitMs: 60_000 });
    const [s] = (await signed(1)) as [Signed];
    expect(await verdict(pool, s)).toBe(true);
    const lanes = (pool as unknown as { lanes: ({ idle: NodeJS.Timeout | undefined } | undefined)[] }).lanes;
    expect(lanes[0]?.idle?.hasRef()).toBe(false);
  });
});
