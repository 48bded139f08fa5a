/**
 * src/identity/replay-cache.ts with an injected clock (docs/protocol.md §5, REPLAY): an id is refused
 * from the same sender until the frame's ts + CLOCK_SKEW has passed; memory is bounded by time.
 */
import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/errors.js';
import { DID_A, DID_B, offerVector } from '../helpers/vectors.js';
import { checkSignaling } from '../../src/identity/checks.js';
import { idHasher, ReplayCache, SWEEP_EVERY_S } from '../../src/identity/replay-cache.js';
import { importAgentKey, type AgentKey } from '../../src/identity/verify.js';

const SKEW = 30_000;

/** A manual clock. */
function clock(start: number) {
  const c = { t: start, now: () => c.t };
  return c;
}

describe('ReplayCache', () => {
  it('accepts the first use of an id and refuses a repeat before expiry', () => {
    const c = clock(1_000_000);
    const cache = new ReplayCache(c.now);
    expect(cache.add(DID_A, 'offer-1', c.t + SKEW)).toBe(true);
    expect(cache.add(DID_A, 'offer-1', c.t + SKEW)).toBe(false);
    c.t += SKEW - 1;
    expect(cache.add(DID_A, 'offer-1', c.t + SKEW)).toBe(false);
    expect(cache.size).toBe(1);
  });

  it('keys on (DID, id): the same id from another DID, or another id, is fine', () => {
    const c = clock(5_000);
    const cache = new ReplayCache(c.now);
    expect(cache.add(DID_A, 'x', 40_000)).toBe(true);
    expect(cache.add(DID_B, 'x', 40_000)).toBe(true);
    expect(cache.add(DID_A, 'y', 40_000)).toBe(true);
    expect(cache.add(DID_A, 'X', 40_000)).toBe(true); // ids are case-sensitive
    expect(cache.add(DID_A, 'x', 40_000)).toBe(false);
    expect(cache.add(DID_B, 'x', 40_000)).toBe(false);
    expect(cache.size).toBe(4);
  });

  it('does not confuse pairs whose concatenation is equal', () => {
    const c = clock(0);
    const cache = new ReplayCache(c.now);
    expect(cache.add('did:key:za', 'b:c', 10_000)).toBe(true);
    expect(cache.add('did:key:za:b', 'c', 10_000)).toBe(true);
  });

  it('accepts the id again once its expiry has passed', () => {
    const c = clock(1_000_000);
    const cache = new ReplayCache(c.now);
    const expiresAt = c.t + SKEW;
    expect(cache.add(DID_A, 'offer-1', expiresAt)).toBe(true);
    c.t = expiresAt + 1;
    expect(cache.add(DID_A, 'offer-1', c.t + SKEW)).toBe(true);
    // ...and the new registration is enforced in turn
    expect(cache.add(DID_A, 'offer-1', c.t + SKEW)).toBe(false);
  });

  it('an entry is still live AT its expiry instant (ts + CLOCK_SKEW has not passed yet)', () => {
    // checks.ts accepts a frame as fresh while |now − ts| ≤ CLOCK_SKEW, i.e. up to and including
    // now = ts + CLOCK_SKEW, and stores expiresAt = ts + CLOCK_SKEW. So the cache must still refuse
    // the id at now = expiresAt, or the same frame can be replayed at that millisecond.
    const ts = 1_764_028_800_000;
    const c = clock(ts);
    const cache = new ReplayCache(c.now);
    expect(cache.add(DID_A, 'offer-1', ts + SKEW)).toBe(true);
    c.t = ts + SKEW;
    expect(cache.add(DID_A, 'offer-1', ts + SKEW)).toBe(false);
  });

  it('a renewed entry survives the sweep of its old expiry bucket', () => {
    const c = clock(10_000);
    const cache = new ReplayCache(c.now);
    expect(cache.add(DID_A, 'id', 12_000)).toBe(true);
    c.t = 12_500; // expired, not yet swept at add time... re-add with a later expiry
    expect(cache.add(DID_A, 'id', 50_000)).toBe(true);
    c.t = 14_000;
    cache.sweep();
    expect(cache.add(DID_A, 'id', 50_000)).toBe(false);
    c.t = 49_999;
    expect(cache.add(DID_A, 'id', 80_000)).toBe(false);
    c.t = 50_001;
    expect(cache.add(DID_A, 'id', 80_000)).toBe(true);
  });

  it('size drops once time passes the expiries (sweep on add, at most once a second)', () => {
    const c = clock(100_000);
    const cache = new ReplayCache(c.now);
    for (let i = 0; i < 1000; i++) expect(cache.add(DID_A, `f-${i}`, c.t + SKEW)).toBe(true);
    expect(cache.size).toBe(1000);
    c.t += SKEW + 1000;
    expect(cache.add(DID_B, 'trigger', c.t + SKEW)).toBe(true);
    expect(cache.size).toBe(1);
    // all old ids are usable again
    expect(cache.add(DID_A, 'f-0', c.t + SKEW)).toBe(true);
  });

  it('compacts each sender once per SWEEP_EVERY_S seconds, a share of the senders each second', () => {
    const c = clock(1_000_000);
    const cache = new ReplayCache(c.now);
    const rebuilt: string[] = [];
    const inner = cache as unknown as { rebuild(sender: { did: string }, now: number): void };
    const rebuild = inner.rebuild.bind(cache);
    inner.rebuild = (sender, now) => {
      rebuilt.push(sender.did);
      rebuild(sender, now);
    };
    const dids = Array.from({ length: 10 * SWEEP_EVERY_S }, (_, i) => `did:key:z6Mk${String(i).padStart(44, '0')}`);
    // Every sender sends once every 100 ms for 60 s: each has an id expiring every second.
    let n = 0;
    const perSecond: number[] = [];
    for (let ms = 0; ms < 60_000; ms += 100) {
      c.t = 1_000_000 + ms;
      const before = rebuilt.length;
      for (const did of dids) cache.add(did, `f-${n++}`, c.t + SKEW);
      if (ms % 1000 === 0 && ms >= 40_000) perSecond.push(rebuilt.length - before);
    }
    // Past the first expiries: a 1/SWEEP_EVERY_S share of the senders per second, not all of them.
    for (const count of perSecond) expect(count).toBeLessThanOrEqual(dids.length / SWEEP_EVERY_S + 1);
    expect(perSecond.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    // And the cache holds no more than SWEEP_EVERY_S seconds of expired ids beside the live ones.
    const live = dids.length * (SKEW / 100);
    expect(cache.size).toBeLessThanOrEqual(live + dids.length * ((SWEEP_EVERY_S + 1) * 10));
  });

  it('sweep() drops only expired entries', () => {
    const c = clock(0);
    const cache = new ReplayCache(c.now);
    cache.add(DID_A, 'early', 5_000);
    cache.add(DID_A, 'late', 60_000);
    expect(cache.size).toBe(2);
    cache.sweep(10_000);
    expect(cache.size).toBe(1);
    c.t = 10_000;
    expect(cache.add(DID_A, 'late', 70_000)).toBe(false);
    expect(cache.add(DID_A, 'early', 70_000)).toBe(true);
  });

  it('stays bounded over a long run of unique ids with advancing time', () => {
    const c = clock(1_700_000_000_000);
    const cache = new ReplayCache(c.now);
    const STEP = 5; // ms between frames (200 frames/s)
    const N = 100_000; // 500 s of traffic, far beyond the 60 s an entry may live
    let max = 0;
    let refused = 0;
    let seed = 42;
    for (let i = 0; i < N; i++) {
      c.t += STEP;
      // a frame's ts may lie anywhere within ±CLOCK_SKEW of now, so its expiry is within [now, now + 2·SKEW]
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      const ts = c.t - SKEW + (seed % (2 * SKEW));
      if (!cache.add(i % 2 ? DID_A : DID_B, `id-${i}`, ts + SKEW)) refused++;
      max = Math.max(max, cache.size);
    }
    expect(refused).toBe(0);
    // at most 2·SKEW of live entries, plus one-second buckets and the once-a-second sweep
    const bound = (2 * SKEW + 2000) / STEP + 1;
    expect(max).toBeLessThanOrEqual(bound);
    expect(max).toBeLessThan(N / 5);
    // and after everything has expired, one more add empties it
    c.t += 2 * SKEW + 2000;
    cache.add(DID_A, 'last', c.t + SKEW);
    expect(cache.size).toBe(1);
  });
});

describe('ReplayCache bookkeeping', () => {
  it('forgets a sender once all of its ids have expired', () => {
    const c = clock(0);
    const cache = new ReplayCache(c.now);
    for (let i = 0; i < 50; i++) cache.add(`did:key:z${i}`, 'x', 10_000);
    expect(cache.senderCount).toBe(50);
    cache.add(DID_A, 'keep', 100_000);
    cache.sweep(20_000);
    expect(cache.senderCount).toBe(1);
    expect(cache.size).toBe(1);
  });

  it('keeps working when expiries lie months after the cache was made (beyond small-integer range)', () => {
    const c = clock(1_700_000_000_000);
    const cache = new ReplayCache(c.now);
    c.t += 90 * 24 * 3600 * 1000; // 90 days of uptime
    expect(cache.add(DID_A, 'late', c.t + SKEW)).toBe(true);
    expect(cache.add(DID_A, 'late', c.t + SKEW)).toBe(false);
    c.t += SKEW + 1;
    expect(cache.add(DID_A, 'late', c.t + SKEW)).toBe(true);
    expect(cache.size).toBe(1);
  });
});

describe.each(['siphash', 'sha256'] as const)('ReplayCache tables (ids hashed with %s, in typed arrays)', (kind) => {
  it('refuses every one of 50,000 ids from one sender on repeat, across table growth', () => {
    const c = clock(1_000);
    const cache = new ReplayCache(c.now, idHasher(kind));
    for (let i = 0; i < 50_000; i++) expect(cache.add(DID_A, `id-${i}`, 100_000)).toBe(true);
    expect(cache.size).toBe(50_000);
    let refused = 0;
    for (let i = 0; i < 50_000; i++) if (!cache.add(DID_A, `id-${i}`, 100_000)) refused++;
    expect(refused).toBe(50_000);
    // Other senders' ids are their own: none of them is taken.
    for (let i = 0; i < 1_000; i++) expect(cache.add(DID_B, `id-${i}`, 100_000)).toBe(true);
  });

  it('answers like a plain (did, id) → expiry map over a long random run with sweeps and rebuilds', () => {
    const c = clock(1_700_000_000_000);
    const cache = new ReplayCache(c.now, idHasher(kind));
    const model = new Map<string, number>();
    const dids = [DID_A, DID_B, 'did:key:z6MkfakeC'];
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    let accepted = 0;
    let refused = 0;
    for (let step = 0; step < 60_000; step++) {
      c.t += rand(7); // 0-6 ms per frame: about 2 minutes in all, four times the longest expiry
      const did = dids[rand(3)] as string;
      const id = `f${rand(3_000)}`;
      const expiresAt = c.t + rand(2 * SKEW);
      const key = `${did} ${id}`;
      const seen = model.get(key);
      const expected = seen === undefined || seen < c.t;
      if (expected) model.set(key, expiresAt);
      expect(cache.add(did, id, expiresAt), `step ${step}`).toBe(expected);
      if (expected) accepted++;
      else refused++;
    }
    // Both outcomes were exercised many times.
    expect(accepted).toBeGreaterThan(5_000);
    expect(refused).toBeGreaterThan(5_000);
    // After a sweep it holds what has not expired, plus at most what expired within the last
    // SWEEP_EVERY_S seconds (a sender is compacted once per that many seconds, in its phase).
    cache.sweep(c.t);
    const alive = [...model.values()].filter((e) => e >= c.t).length;
    const aliveOrRecent = [...model.values()].filter((e) => e >= c.t - 1000 * SWEEP_EVERY_S).length;
    expect(cache.size).toBeGreaterThanOrEqual(alive);
    expect(cache.size).toBeLessThanOrEqual(aliveOrRecent);
  });

  it('gives its memory back: a sender whose ids have all expired is forgotten at the next sweep', () => {
    const c = clock(0);
    const cache = new ReplayCache(c.now, idHasher(kind));
    for (let i = 0; i < 10_000; i++) cache.add(DID_A, `burst-${i}`, 5_000);
    cache.add(DID_B, 'other', 50_000);
    expect(cache.senderCount).toBe(2);
    c.t = 6_001;
    cache.sweep();
    expect(cache.senderCount).toBe(1);
    expect(cache.size).toBe(1);
    expect(cache.add(DID_A, 'burst-0', 60_000)).toBe(true);
  });
});

describe('idHasher (the replay cache\'s keyed id hash)', () => {
  const ids = [
    'a',
    'offer-1',
    'x'.repeat(64),
    // Multi-byte UTF-8 up to the scratch buffer's limit, and past it (hashed from a copy).
    'é'.repeat(64),
    '\u{1F600}'.repeat(32),
    'y'.repeat(65),
    'y'.repeat(200),
    `${'y'.repeat(199)}z`,
  ];

  it('SipHash (libsodium) is available where sodium-native loads, as on every CI platform', () => {
    expect(() => idHasher('siphash')).not.toThrow();
  });

  it.each(['siphash', 'sha256'] as const)('%s: the same id → the same key, distinct ids → distinct keys below 2^52', (kind) => {
    const hash = idHasher(kind);
    const keys = ids.map(hash);
    expect(ids.map(hash)).toEqual(keys);
    expect(new Set(keys).size).toBe(ids.length);
    for (const key of keys) {
      expect(Number.isInteger(key)).toBe(true);
      expect(key).toBeGreaterThanOrEqual(0);
      expect(key).toBeLessThan(2 ** 52);
    }
    // Nothing is left over from a longer id hashed before a shorter one (the scratch buffer).
    expect(hash('offer-12')).not.toBe(hash('offer-1'));
    expect(hash('offer-1')).toBe(keys[1]);
  });

  it.each(['siphash', 'sha256'] as const)('%s: keyed afresh per hasher, so nobody can predict where an id lands', (kind) => {
    const a = idHasher(kind);
    const b = idHasher(kind);
    const same = ids.filter((id) => a(id) === b(id));
    expect(same).toEqual([]);
  });
});

describe('replay protection through checkSignaling (checks.ts + ReplayCache)', () => {
  // docs/protocol.md §13 frame, signed by key A
  const FRAME = offerVector();
  const key = importAgentKey(DID_A) as AgentKey;

  const check = (now: number, replay: ReplayCache) =>
    checkSignaling('OFFER', structuredClone(FRAME), { did: DID_A, key, now, clockSkewMs: SKEW, replay });
  const codeOf = (fn: () => unknown) => {
    try {
      fn();
      return 'OK';
    } catch (err) {
      return err instanceof ProtocolError ? err.code : String(err);
    }
  };

  it('the §9 frame passes once and is a REPLAY when sent again while fresh', () => {
    const c = clock(FRAME.ts);
    const replay = new ReplayCache(c.now);
    expect(check(c.t, replay)).toEqual({ id: 'offer-1', to: DID_B });
    c.t = FRAME.ts + 10_000;
    expect(codeOf(() => check(c.t, replay))).toBe('REPLAY');
    c.t = FRAME.ts + SKEW + 1;
    expect(codeOf(() => check(c.t, replay))).toBe('STALE');
  });

  it('is a REPLAY at the last fresh millisecond (now = ts + CLOCK_SKEW), not delivered twice', () => {
    const c = clock(FRAME.ts);
    const replay = new ReplayCache(c.now);
    expect(codeOf(() => check(c.t, replay))).toBe('OK');
    c.t = FRAME.ts + SKEW; // still fresh: |now − ts| = CLOCK_SKEW is not > CLOCK_SKEW
    expect(codeOf(() => check(c.t, replay))).toBe('REPLAY');
  });
});
