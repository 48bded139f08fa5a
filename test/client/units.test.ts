/**
 * Pure parts of the client and the CLI: backoff, the typed emitter, the replay memory, the
 * browser-safety of the client's import graph, and the CLI's escaping of untrusted text.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { describeError } from '../../src/cli/errors.js';
import { jsonText, terminalSafe } from '../../src/cli/text.js';
import { backoffDelay, ClientError, DEFAULT_RECONNECT, DEFAULT_REPLAY_LIMITS, GatewayError, GatewayMismatchError, TypedEmitter } from '../../src/client/index.js';
import { ReplayMemory } from '../../src/client/replay.js';

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
  // zod only as zod/mini, its English messages and zod core (the object parser of
  // protocol/frames.ts): `zod` itself would put ~400 KiB more into the browser bundle
  // (docs/client.md, "Browser bundle size").
  const ALLOWED_PACKAGES = new Set(['zod/mini', 'zod/locales', 'zod/v4/core', '@noble/ed25519', '@noble/hashes/sha2.js', '@scure/base']);

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
      expect.arrayContaining(['src/client/client.ts', 'src/protocol/frames.ts', 'src/protocol/canonical.ts', 'src/protocol/did-key.ts', 'src/errors.ts']),
    );
    const transport = readFileSync(join(root, 'src/client/transport.ts'), 'utf8');
    expect(transport).toMatch(/await import\([^)]*'ws'\)/);
  });
});

describe('ReplayMemory', () => {
  it('never forgets a live id, however many ids arrive after it: a flood is refused instead', () => {
    const memory = new ReplayMemory();
    const { perSender, total } = DEFAULT_REPLAY_LIMITS;
    expect(memory.check('did:peer', 'offer-1', 0)).toBe('new');
    memory.add('did:peer', 'offer-1', 120_000);
    // 1500 minted DIDs x 100 ids: more than the memory holds (the old one forgot live ids at 10,000).
    const verdicts: Record<string, number> = {};
    for (let k = 0; k < 1500; k++) {
      for (let i = 0; i < 100; i++) {
        const v = memory.check(`did:junk-${k}`, `j-${i}`, 1);
        verdicts[v] = (verdicts[v] ?? 0) + 1;
        if (v === 'new') memory.add(`did:junk-${k}`, `j-${i}`, 120_001);
      }
      expect(memory.check('did:peer', 'offer-1', 1)).toBe('replay');
    }
    expect(verdicts).toEqual({ new: total - 1, full: 150_000 - (total - 1) });
    expect(memory.size).toBe(total);
    expect(memory.check('did:junk-0', 'j-0', 1)).toBe('replay');
    // A sender at its own limit is refused even when there is room in all.
    const small = new ReplayMemory({ perSender: 3, total: 10 });
    for (const id of ['a', 'b', 'c']) small.add('did:chatty', id, 100);
    expect(small.check('did:chatty', 'd', 0)).toBe('sender-full');
    expect(small.check('did:chatty', 'a', 0)).toBe('replay');
    expect(small.check('did:other', 'a', 0)).toBe('new');
    expect(perSender).toBe(1000);
  });

  it('keeps an id up to and including its deadline and forgets it after; empty senders are dropped', () => {
    const memory = new ReplayMemory({ perSender: 2, total: 3 });
    memory.add('did:a', '1', 100);
    memory.add('did:a', '2', 200);
    memory.add('did:b', '1', 150);
    expect(memory.check('did:c', '1', 100)).toBe('full');
    expect(memory.check('did:a', '3', 100)).toBe('sender-full');
    expect(memory.check('did:a', '1', 100)).toBe('replay');
    expect(memory.check('did:a', '1', 101)).toBe('new');
    expect(memory.check('did:a', '3', 101)).toBe('new');
    expect([memory.size, memory.senderCount]).toEqual([2, 2]);
    memory.expire(150);
    expect([memory.size, memory.senderCount]).toEqual([2, 2]);
    memory.expire(151);
    expect([memory.size, memory.senderCount]).toEqual([1, 1]);
    memory.expire(201);
    expect([memory.size, memory.senderCount]).toEqual([0, 0]);
  });

  it('forgets exactly the ids whose deadline has passed, whatever order they were added in', () => {
    const memory = new ReplayMemory({ perSender: 1000, total: 5000 });
    let seed = 42;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const deadlines = new Map<string, number>();
    for (let i = 0; i < 3000; i++) {
      const from = `did:${i % 7}`;
      const expires = Math.floor(random() * 10_000);
      memory.add(from, `id-${i}`, expires);
      deadlines.set(`${from} id-${i}`, expires);
    }
    for (let now = 0; now <= 10_100; now += 197) {
      memory.expire(now);
      const live = [...deadlines].filter(([, expires]) => expires >= now);
      expect(memory.size).toBe(live.length);
      for (const [key, expires] of [...deadlines].slice(0, 200)) {
        const [from, id] = key.split(' ') as [string, string];
        expect(memory.check(from, id, now) === 'replay', `${key} at ${now}`).toBe(expires >= now);
      }
    }
  });
});

describe('terminalSafe (CLI output of peer and gateway text)', () => {
  // eslint-disable-next-line no-control-regex
  const C0_DEL_C1 = /[\u0000-\u001f\u007f-\u009f]/;
  it('escapes C0 (ESC, CR, LF, TAB, BEL), DEL, C1 and bidi / line-separator characters as \\uXXXX', () => {
    expect(terminalSafe('\u001b[2J\u001b]0;title\u0007')).toBe('\\u001b[2J\\u001b]0;title\\u0007');
    expect(terminalSafe('a\r\nb\tc\u0000\u007f')).toBe('a\\u000d\\u000ab\\u0009c\\u0000\\u007f');
    expect(terminalSafe('\u009b31m\u0085\u009f\u0080')).toBe('\\u009b31m\\u0085\\u009f\\u0080');
    expect(terminalSafe('abc\u202edef\u2066\u2028\u200f')).toBe('abc\\u202edef\\u2066\\u2028\\u200f');
    for (let c = 0; c < 0x20; c++) expect(terminalSafe(String.fromCharCode(c))).toMatch(/^\\u00[01][0-9a-f]$/);
    for (let c = 0x7f; c <= 0x9f; c++) expect(terminalSafe(String.fromCharCode(c))).toMatch(/^\\u00[0-9a-f]{2}$/);
  });

  it('keeps printable text as it is and is idempotent', () => {
    const printable = 'did:key:z6Mk… café ünïcødé 日本語 🚀 "quotes" \\backslash ~!@#$%^&*()';
    expect(terminalSafe(printable)).toBe(printable);
    const once = terminalSafe('x\u001b[31my\u009bz\n');
    expect(terminalSafe(once)).toBe(once);
    expect(once).not.toMatch(C0_DEL_C1);
  });

  it('jsonText stays JSON that parses to the same value', () => {
    const value = { type: '\u001b[2J', payload: { sdp: 'v=0\r\n\u009b\u202e\u2028', nested: ['\u007f', '\\\u0085'] } };
    for (const text of [jsonText(value), jsonText(value, 2)]) {
      expect(JSON.parse(text)).toEqual(value);
      expect(text.replace(/\n/g, '')).not.toMatch(C0_DEL_C1);
      expect(text).not.toMatch(/[\u2028\u202e]/);
    }
    expect(jsonText(value, 2).split('\n').length).toBeGreaterThan(3);
  });

  it('describeError escapes what the gateway sent, in every kind of error', () => {
    const evil = 'x\u001b]0;pwned\u0007\nfake line\u009b2J';
    for (const err of [new GatewayError('RATE_LIMITED', evil, null), new ClientError('PROTOCOL', evil), new Error(evil), evil]) {
      const line = describeError(err, 'ws://127.0.0.1:1/ws');
      expect(line).not.toMatch(C0_DEL_C1);
      expect(line).toContain('x\\u001b]0;pwned\\u0007\\u000afake line\\u009b2J');
    }
  });

  it('describeError names both gateway ids of a mismatch and how to set it, quoting the flag value only when it is shell-safe', () => {
    const url = 'ws://127.0.0.1:1/ws';
    expect(describeError(new GatewayMismatchError(url, 'aiconexus-gateway', 'gw-eu-1'), url)).toBe(
      'gateway id mismatch: the gateway at ws://127.0.0.1:1/ws named itself "gw-eu-1" in its CHALLENGE, but "aiconexus-gateway" is expected; ' +
        'nothing was signed. If "gw-eu-1" is that gateway\'s GATEWAY_ID, pass --gateway-id gw-eu-1 (or GATEWAY_ID=gw-eu-1); ' +
        "otherwise the connection may be relaying another gateway's challenge",
    );
    const hostile = describeError(new GatewayMismatchError(url, 'aiconexus-gateway', '$(rm -rf ~)\u001b[2J'), url);
    expect(hostile).toContain('named itself "$(rm -rf ~)\\u001b[2J" in its CHALLENGE');
    expect(hostile).toContain('pass --gateway-id ID (or GATEWAY_ID)');
    expect(hostile).not.toContain('--gateway-id $(');
  });
});
