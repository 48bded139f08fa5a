/**
 * src/registry/memory-registry.ts: the in-memory AgentRegistry (sessions, capability index,
 * DID-ordered pages with an `after` cursor, idle queries).
 */
import { describe, expect, it } from 'vitest';
import { didFromPublicKey } from '../../src/protocol/did-key.js';
import type { AgentRecord } from '../../src/registry/agent-registry.js';
import { MemoryRegistry } from '../../src/registry/memory-registry.js';

/** A deterministic, well-formed did:key for agent number n. */
const didOf = (n: number) => didFromPublicKey(Uint8Array.from({ length: 32 }, (_, i) => (n * 31 + i * 7) & 0xff));

function record(did: string, opts: { session?: string; capabilities?: string[]; name?: string; at?: number } = {}): AgentRecord {
  const at = opts.at ?? 1_000;
  return {
    did,
    meta: {
      ...(opts.name !== undefined ? { name: opts.name } : {}),
      ...(opts.capabilities !== undefined ? { capabilities: opts.capabilities } : {}),
    },
    session: opts.session ?? `s-${did.slice(-6)}`,
    connectedAt: at,
    lastSeen: at,
  };
}

const dids = (page: { agents: readonly AgentRecord[] }) => page.agents.map((a) => a.did);

/** Collects every page of a listing by following nextAfter. */
function allPages(reg: MemoryRegistry, limit: number, capability?: string) {
  const pages: string[][] = [];
  let after: string | undefined;
  for (let guard = 0; guard < 1000; guard++) {
    const page = reg.list({ limit, after, capability });
    pages.push(dids(page));
    if (page.nextAfter === null) return pages;
    after = page.nextAfter;
  }
  throw new Error('pagination did not terminate');
}

describe('MemoryRegistry: put / get / remove', () => {
  it('puts a new agent and returns no previous record', () => {
    const reg = new MemoryRegistry();
    const a = record(didOf(1));
    expect(reg.put(a)).toBeUndefined();
    expect(reg.get(a.did)).toBe(a);
    expect(reg.size).toBe(1);
    expect(reg.get(didOf(2))).toBeUndefined();
  });

  it('replaces the registration of the same DID and returns the old one', () => {
    const reg = new MemoryRegistry();
    const old = record(didOf(1), { session: 'old' });
    const next = record(didOf(1), { session: 'new', at: 2_000 });
    reg.put(old);
    expect(reg.put(next)).toBe(old);
    expect(reg.get(didOf(1))).toBe(next);
    expect(reg.size).toBe(1);
  });

  it('removes only when the session still owns the DID: a replaced session cannot remove its successor', () => {
    const reg = new MemoryRegistry();
    const did = didOf(1);
    reg.put(record(did, { session: 'old', capabilities: ['vision'] }));
    reg.put(record(did, { session: 'new', capabilities: ['vision'] }));
    expect(reg.remove(did, 'old')).toBe(false);
    expect(reg.get(did)?.session).toBe('new');
    expect(reg.size).toBe(1);
    // the stale remove did not unindex the successor either
    expect(dids(reg.list({ capability: 'vision', limit: 10 }))).toEqual([did]);

    expect(reg.remove(did, 'new')).toBe(true);
    expect(reg.get(did)).toBeUndefined();
    expect(reg.size).toBe(0);
    expect(reg.remove(did, 'new')).toBe(false);
    expect(reg.list({ capability: 'vision', limit: 10 }).count).toBe(0);
  });

  it('remove of an unknown DID is false', () => {
    const reg = new MemoryRegistry();
    expect(reg.remove(didOf(9), 'any')).toBe(false);
  });

  it('touch updates lastSeen of a registered agent and ignores unknown DIDs', () => {
    const reg = new MemoryRegistry();
    reg.put(record(didOf(1), { at: 1_000 }));
    reg.touch(didOf(1), 5_000);
    expect(reg.get(didOf(1))?.lastSeen).toBe(5_000);
    expect(reg.get(didOf(1))?.connectedAt).toBe(1_000);
    reg.touch(didOf(2), 5_000);
    expect(reg.get(didOf(2))).toBeUndefined();
    expect(reg.size).toBe(1);
  });
});

describe('MemoryRegistry: capability filtering', () => {
  const setup = () => {
    const reg = new MemoryRegistry();
    reg.put(record(didOf(1), { capabilities: ['vision', 'chat'] }));
    reg.put(record(didOf(2), { capabilities: ['chat'] }));
    reg.put(record(didOf(3), { capabilities: ['vision', 'vision'] })); // duplicate entry
    reg.put(record(didOf(4), { name: 'no capabilities' }));
    reg.put(record(didOf(5), { capabilities: [] }));
    return reg;
  };

  it('lists only agents with the capability', () => {
    const reg = setup();
    expect(new Set(dids(reg.list({ capability: 'vision', limit: 100 })))).toEqual(new Set([didOf(1), didOf(3)]));
    expect(new Set(dids(reg.list({ capability: 'chat', limit: 100 })))).toEqual(new Set([didOf(1), didOf(2)]));
    expect(reg.list({ capability: 'vision', limit: 100 }).count).toBe(2);
  });

  it('an unknown capability gives an empty page', () => {
    const reg = setup();
    expect(reg.list({ capability: 'audio', limit: 100 })).toEqual({ count: 0, agents: [], nextAfter: null });
    // capabilities match exactly, not by prefix or case
    expect(reg.list({ capability: 'visio', limit: 100 }).count).toBe(0);
    expect(reg.list({ capability: 'Vision', limit: 100 }).count).toBe(0);
  });

  it('without a capability, lists everyone (agents without capabilities too)', () => {
    const reg = setup();
    const page = reg.list({ limit: 100 });
    expect(page.count).toBe(5);
    expect(new Set(dids(page))).toEqual(new Set([1, 2, 3, 4, 5].map(didOf)));
  });

  it('follows re-registration with different capabilities', () => {
    const reg = setup();
    reg.put(record(didOf(1), { session: 'again', capabilities: ['audio'] }));
    expect(dids(reg.list({ capability: 'vision', limit: 100 }))).toEqual([didOf(3)]);
    expect(dids(reg.list({ capability: 'chat', limit: 100 }))).toEqual([didOf(2)]);
    expect(dids(reg.list({ capability: 'audio', limit: 100 }))).toEqual([didOf(1)]);
    expect(reg.list({ limit: 100 }).count).toBe(5);
  });

  it('forgets the capabilities of a removed agent', () => {
    const reg = setup();
    const rec = reg.get(didOf(3)) as AgentRecord;
    expect(reg.remove(rec.did, rec.session)).toBe(true);
    expect(dids(reg.list({ capability: 'vision', limit: 100 }))).toEqual([didOf(1)]);
  });
});

describe('MemoryRegistry: ordering and pagination', () => {
  const N = 25;
  const build = () => {
    const reg = new MemoryRegistry();
    // insert in a scrambled order
    for (let i = 0; i < N; i++) {
      const n = (i * 7) % N;
      reg.put(record(didOf(n), { capabilities: n % 2 === 0 ? ['even'] : ['odd'] }));
    }
    return reg;
  };
  const sortedAll = Array.from({ length: N }, (_, n) => didOf(n)).sort();

  it('lists agents ordered by DID, whatever the insertion order', () => {
    const reg = new MemoryRegistry();
    for (const did of ['did:key:zC', 'did:key:zA', 'did:key:zb', 'did:key:zB', 'did:key:z9']) reg.put(record(did));
    expect(dids(reg.list({ limit: 10 }))).toEqual(['did:key:z9', 'did:key:zA', 'did:key:zB', 'did:key:zC', 'did:key:zb']);
    expect(dids(build().list({ limit: 100 }))).toEqual(sortedAll);
  });

  it('pages through everyone exactly once, in order', () => {
    const reg = build();
    const pages = allPages(reg, 10);
    expect(pages.map((p) => p.length)).toEqual([10, 10, 5]);
    expect(pages.flat()).toEqual(sortedAll);
  });

  it('nextAfter is the last DID of a page when more follow, else null; count is the total', () => {
    const reg = build();
    const first = reg.list({ limit: 10 });
    expect(first.count).toBe(N);
    expect(first.nextAfter).toBe(sortedAll[9]);
    const second = reg.list({ limit: 10, after: first.nextAfter ?? undefined });
    expect(second.count).toBe(N);
    expect(dids(second)).toEqual(sortedAll.slice(10, 20));
    const last = reg.list({ limit: 10, after: second.nextAfter ?? undefined });
    expect(dids(last)).toEqual(sortedAll.slice(20));
    expect(last.nextAfter).toBeNull();
    expect(last.count).toBe(N);
  });

  it('a page that ends exactly at the last agent has nextAfter null', () => {
    const reg = build();
    expect(allPages(reg, 5).map((p) => p.length)).toEqual([5, 5, 5, 5, 5]);
    expect(reg.list({ limit: N }).nextAfter).toBeNull();
    expect(reg.list({ limit: N - 1 }).nextAfter).toBe(sortedAll[N - 2]);
  });

  it('continues after the cursor when the cursor agent has left meanwhile', () => {
    const reg = build();
    const first = reg.list({ limit: 10 });
    const cursor = first.nextAfter as string;
    const leaving = reg.get(cursor) as AgentRecord;
    expect(reg.remove(leaving.did, leaving.session)).toBe(true);
    const second = reg.list({ limit: 10, after: cursor });
    expect(dids(second)).toEqual(sortedAll.slice(10, 20));
    expect(second.count).toBe(N - 1);
    // also when the agent right after the cursor left
    const next = reg.get(sortedAll[10] as string) as AgentRecord;
    reg.remove(next.did, next.session);
    expect(dids(reg.list({ limit: 3, after: cursor }))).toEqual(sortedAll.slice(11, 14));
  });

  it('a cursor before everyone lists from the start; after everyone lists nothing', () => {
    const reg = build();
    expect(dids(reg.list({ limit: 5, after: 'did:' }))).toEqual(sortedAll.slice(0, 5));
    expect(dids(reg.list({ limit: 5, after: '' }))).toEqual(sortedAll.slice(0, 5));
    const end = reg.list({ limit: 5, after: 'did:key:z~' });
    expect(end.agents).toEqual([]);
    expect(end.nextAfter).toBeNull();
    expect(end.count).toBe(N);
    expect(reg.list({ limit: 5, after: sortedAll[N - 1] }).agents).toEqual([]);
  });

  it('paginates within a capability, count being the matches of that capability', () => {
    const reg = build();
    const even = Array.from({ length: N }, (_, n) => n).filter((n) => n % 2 === 0).map(didOf).sort();
    const pages = allPages(reg, 4, 'even');
    expect(pages.flat()).toEqual(even);
    expect(reg.list({ limit: 4, capability: 'even' }).count).toBe(even.length);
    expect(reg.list({ limit: 4, capability: 'even', after: even[3] }).count).toBe(even.length);
  });

  it('returns the stored records themselves', () => {
    const reg = new MemoryRegistry();
    const a = record(didOf(1), { name: 'alpha', capabilities: ['x'] });
    reg.put(a);
    expect(reg.list({ limit: 1 }).agents[0]).toBe(a);
  });
});

describe('MemoryRegistry: idleSince', () => {
  it('returns agents whose last activity is strictly before the cutoff', () => {
    const reg = new MemoryRegistry();
    reg.put(record(didOf(1), { at: 1_000 }));
    reg.put(record(didOf(2), { at: 2_000 }));
    reg.put(record(didOf(3), { at: 3_000 }));
    expect(reg.idleSince(1_000)).toEqual([]);
    expect(reg.idleSince(2_000).map((r) => r.did)).toEqual([didOf(1)]);
    expect(new Set(reg.idleSince(3_001).map((r) => r.did))).toEqual(new Set([didOf(1), didOf(2), didOf(3)]));
  });

  it('sees touches', () => {
    const reg = new MemoryRegistry();
    reg.put(record(didOf(1), { at: 1_000 }));
    reg.put(record(didOf(2), { at: 1_000 }));
    reg.touch(didOf(1), 10_000);
    expect(reg.idleSince(5_000).map((r) => r.did)).toEqual([didOf(2)]);
  });

  it('does not list removed agents', () => {
    const reg = new MemoryRegistry();
    const a = record(didOf(1), { at: 1_000 });
    reg.put(a);
    reg.remove(a.did, a.session);
    expect(reg.idleSince(Number.MAX_SAFE_INTEGER)).toEqual([]);
  });
});
