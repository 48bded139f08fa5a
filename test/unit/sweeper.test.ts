/**
 * src/registry/sweeper.ts with an injected clock: agents idle longer than AGENT_TIMEOUT are
 * handed to onSwept, which unlists them (in the gateway: the hub closes the session and the
 * presence removes it; here the registry directly); active and touched agents stay.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { AgentRecord, AgentRegistry } from '../../src/registry/agent-registry.js';
import { MemoryRegistry } from '../../src/registry/memory-registry.js';
import { Sweeper } from '../../src/registry/sweeper.js';

const TIMEOUT = 1_000;
const T0 = 1_700_000_000_000;

function record(did: string, at: number, session = `s-${did}`): AgentRecord {
  return { did, meta: {}, session, connectedAt: at, lastSeen: at };
}

function setup() {
  const c = { t: T0 };
  const registry = new MemoryRegistry();
  const swept: AgentRecord[] = [];
  const onSwept = (r: AgentRecord) => {
    swept.push(r);
    registry.remove(r.did, r.session);
  };
  const sweeper = new Sweeper({ registry, agentTimeoutMs: TIMEOUT, now: () => c.t, onSwept });
  return { c, registry, swept, sweeper };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('Sweeper.sweep', () => {
  it('removes agents idle longer than the timeout and reports each through onSwept', () => {
    const { c, registry, swept, sweeper } = setup();
    registry.put(record('idle-1', T0));
    registry.put(record('idle-2', T0 + 100));
    registry.put(record('active', T0 + 600));
    c.t = T0 + 100 + TIMEOUT + 1;
    const result = sweeper.sweep();
    expect(new Set(result.map((r) => r.did))).toEqual(new Set(['idle-1', 'idle-2']));
    expect(new Set(swept.map((r) => r.did))).toEqual(new Set(['idle-1', 'idle-2']));
    expect(registry.get('idle-1')).toBeUndefined();
    expect(registry.get('idle-2')).toBeUndefined();
    expect(registry.get('active')).toBeDefined();
    expect(registry.size).toBe(1);
  });

  it('keeps an agent idle for exactly the timeout (only "longer than" is swept)', () => {
    const { c, registry, swept, sweeper } = setup();
    registry.put(record('a', T0));
    c.t = T0 + TIMEOUT;
    expect(sweeper.sweep()).toEqual([]);
    expect(swept).toEqual([]);
    c.t += 1;
    expect(sweeper.sweep().map((r) => r.did)).toEqual(['a']);
  });

  it('a touched agent survives, and is swept once idle again', () => {
    const { c, registry, swept, sweeper } = setup();
    registry.put(record('a', T0));
    registry.put(record('b', T0));
    c.t = T0 + 800;
    registry.touch('a', c.t);
    c.t = T0 + TIMEOUT + 1;
    sweeper.sweep();
    expect(swept.map((r) => r.did)).toEqual(['b']);
    expect(registry.get('a')).toBeDefined();
    c.t = T0 + 800 + TIMEOUT + 1;
    sweeper.sweep();
    expect(swept.map((r) => r.did)).toEqual(['b', 'a']);
    expect(registry.size).toBe(0);
  });

  it('reports an agent only once', () => {
    const { c, registry, swept, sweeper } = setup();
    registry.put(record('a', T0));
    c.t = T0 + 10 * TIMEOUT;
    sweeper.sweep();
    sweeper.sweep();
    c.t += TIMEOUT;
    sweeper.sweep();
    expect(swept.map((r) => r.did)).toEqual(['a']);
  });

  it('only reads the registry: onSwept gets the agent still listed, and unlisting is its job', () => {
    const c = { t: T0 };
    const registry = new MemoryRegistry();
    const seenListed: boolean[] = [];
    const sweeper = new Sweeper({
      registry,
      agentTimeoutMs: TIMEOUT,
      now: () => c.t,
      onSwept: (r) => seenListed.push(registry.get(r.did) !== undefined),
    });
    registry.put(record('a', T0));
    c.t = T0 + TIMEOUT + 1;
    sweeper.sweep();
    expect(seenListed).toEqual([true]);
    expect(registry.size).toBe(1);
  });

  it('does nothing on an empty registry or when everyone is active', () => {
    const { c, registry, swept, sweeper } = setup();
    expect(sweeper.sweep()).toEqual([]);
    registry.put(record('a', T0));
    c.t = T0 + TIMEOUT / 2;
    expect(sweeper.sweep()).toEqual([]);
    expect(swept).toEqual([]);
    expect(registry.size).toBe(1);
  });

  it('does not report a registration it could not remove (the session was replaced meanwhile)', () => {
    // A registry whose idle list is stale: it reports the old session while a new one owns the DID.
    const inner = new MemoryRegistry();
    const stale = record('a', T0, 'old');
    const registry: AgentRegistry = {
      put: (r) => inner.put(r),
      remove: (did, session) => inner.remove(did, session),
      get: (did) => inner.get(did),
      touch: (did, now) => inner.touch(did, now),
      list: (q) => inner.list(q),
      idleSince: () => [stale],
      get size() {
        return inner.size;
      },
    };
    inner.put(record('a', T0 + 5 * TIMEOUT, 'new'));
    const swept: AgentRecord[] = [];
    const sweeper = new Sweeper({ registry, agentTimeoutMs: TIMEOUT, now: () => T0 + 5 * TIMEOUT, onSwept: (r) => swept.push(r) });
    sweeper.sweep();
    expect(swept).toEqual([]);
    expect(inner.get('a')?.session).toBe('new');
  });
});

describe('Sweeper.start / stop', () => {
  it('sweeps on its interval until stopped', () => {
    vi.useFakeTimers();
    const { c, registry, swept, sweeper } = setup();
    registry.put(record('a', T0));
    registry.put(record('b', T0 + 2 * TIMEOUT));
    sweeper.start(250);
    c.t = T0 + TIMEOUT + 1;
    vi.advanceTimersByTime(249);
    expect(swept).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(swept.map((r) => r.did)).toEqual(['a']);
    sweeper.stop();
    c.t = T0 + 4 * TIMEOUT;
    vi.advanceTimersByTime(10_000);
    expect(swept.map((r) => r.did)).toEqual(['a']);
    expect(registry.get('b')).toBeDefined();
  });

  it('start twice keeps one timer', () => {
    vi.useFakeTimers();
    const { sweeper } = setup();
    const spy = vi.spyOn(sweeper, 'sweep');
    sweeper.start(100);
    sweeper.start(100);
    vi.advanceTimersByTime(100);
    expect(spy).toHaveBeenCalledTimes(1);
    sweeper.stop();
    expect(vi.getTimerCount()).toBe(0);
  });
});
