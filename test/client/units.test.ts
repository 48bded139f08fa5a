/**
 * Pure parts of the client: backoff, the typed emitter, and the browser-safety of its import graph.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { backoffDelay, DEFAULT_RECONNECT, TypedEmitter } from '../../src/client/index.js';

describe('backoffDelay (exponential, full jitter)', () => {
  const opts = { baseMs: 100, maxMs: 1000 };

  it('draws from [0, min(max, base·2ⁿ))', () => {
    const caps = [100, 200, 400, 800, 1000, 1000];
    caps.forEach((cap, attempt) => {
      expect(backoffDelay(attempt, opts, () => 0)).toBe(0);
      expect(backoffDelay(attempt, opts, () => 0.5)).toBe(cap / 2);
      expect(backoffDelay(attempt, opts, () => 0.999999)).toBe(cap - 1);
    });
  });

  it('stays capped for huge attempt numbers', () => {
    expect(backoffDelay(5000, opts, () => 0.5)).toBe(500);
    expect(backoffDelay(5000, DEFAULT_RECONNECT, () => 0.5)).toBe(15_000);
  });

  it('uses Math.random by default and stays in range', () => {
    for (let i = 0; i < 100; i++) {
      const d = backoffDelay(3, opts);
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThan(800);
    }
  });
});

describe('TypedEmitter', () => {
  class Emitter extends TypedEmitter<{ a: [n: number]; b: [s: string, t: string] }> {
    fire<K extends 'a' | 'b'>(event: K, ...args: { a: [number]; b: [string, string] }[K]): void {
      this.emit(event, ...args);
    }
  }

  it('calls listeners in order, once() once, and off() removes', () => {
    const e = new Emitter();
    const calls: string[] = [];
    const off = e.on('a', (n) => calls.push(`on:${n}`));
    e.once('a', (n) => calls.push(`once:${n}`));
    e.on('b', (s, t) => calls.push(`b:${s}${t}`));
    e.fire('a', 1);
    e.fire('a', 2);
    e.fire('b', 'x', 'y');
    off();
    e.fire('a', 3);
    expect(calls).toEqual(['on:1', 'once:1', 'on:2', 'b:xy']);
    expect(e.listenerCount('a')).toBe(0);
    expect(e.listenerCount('b')).toBe(1);
    e.removeAllListeners();
    expect(e.listenerCount('b')).toBe(0);
  });

  it('keeps calling the other listeners when one throws, and rethrows asynchronously', async () => {
    const e = new Emitter();
    const calls: number[] = [];
    e.on('a', () => {
      throw new Error('boom');
    });
    e.on('a', (n) => calls.push(n));
    const rethrown = new Promise<unknown>((resolvePromise) => {
      const handler = (err: unknown) => {
        process.off('uncaughtException', handler);
        resolvePromise(err);
      };
      process.prependListener('uncaughtException', handler);
    });
    // vitest reports uncaught exceptions; take this one before it does.
    const vitestListeners = process.listeners('uncaughtException').slice(1);
    for (const l of vitestListeners) process.off('uncaughtException', l);
    try {
      e.fire('a', 7);
      expect(calls).toEqual([7]);
      expect(await rethrown).toMatchObject({ message: 'boom' });
    } finally {
      for (const l of vitestListeners) process.on('uncaughtException', l);
    }
  });
});

describe('browser safety', () => {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
  const ALLOWED_PACKAGES = new Set(['zod', '@noble/ed25519', '@noble/hashes/sha2.js', '@scure/base']);

  /** Static import/export specifiers of a TypeScript file (type-only imports excluded: erased at build). */
  function staticImports(file: string): string[] {
    const source = readFileSync(file, 'utf8');
    const specs: string[] = [];
    const re = /^(?:import|export)\s+(type\s+)?[^'";]*?from\s+'([^']+)'|^import\s+'([^']+)'/gm;
    for (const m of source.matchAll(re)) {
      if (m[1]) continue;
      specs.push((m[2] ?? m[3]) as string);
    }
    return specs;
  }

  it('src/client and everything it imports avoid node: modules and load ws only dynamically', () => {
    const seen = new Set<string>();
    const packages = new Set<string>();
    const stack = [join(root, 'src/client/index.ts')];
    while (stack.length > 0) {
      const file = stack.pop() as string;
      if (seen.has(file)) continue;
      seen.add(file);
      const source = readFileSync(file, 'utf8');
      expect(source, relative(root, file)).not.toMatch(/['"]node:/);
      expect(source, relative(root, file)).not.toMatch(/\b(Buffer|process)\./);
      for (const spec of staticImports(file)) {
        if (spec.startsWith('.')) stack.push(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
        else packages.add(spec);
      }
    }
    expect([...packages].filter((p) => !ALLOWED_PACKAGES.has(p))).toEqual([]);
    expect([...seen].map((f) => relative(root, f)).sort()).toEqual(
      expect.arrayContaining(['src/client/client.ts', 'src/protocol/frames.ts', 'src/protocol/canonical.ts', 'src/identity/did-key.ts', 'src/errors.ts']),
    );
    const transport = readFileSync(join(root, 'src/client/transport.ts'), 'utf8');
    expect(transport).toMatch(/await import\([^)]*'ws'\)/);
  });
});
