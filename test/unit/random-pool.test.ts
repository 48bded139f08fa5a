/** src/ws/random-pool.ts: session ids and CHALLENGE nonces drawn from a block of CSPRNG output. */
import { describe, expect, it } from 'vitest';
import { RandomPool } from '../../src/ws/random-pool.js';

describe('RandomPool', () => {
  it('hands out each byte once, across block refills, in base64url of the asked length', () => {
    // A small block: 40 draws of 32 + 12 bytes refill it many times.
    const pool = new RandomPool(100);
    const seen = new Set<string>();
    for (let i = 0; i < 40; i++) {
      for (const n of [32, 12]) {
        const s = pool.base64url(n);
        expect(Buffer.from(s, 'base64url')).toHaveLength(n);
        expect(s).toMatch(/^[A-Za-z0-9_-]+$/);
        seen.add(s);
      }
    }
    expect(seen.size).toBe(80);
  });

  it('serves a draw larger than its block', () => {
    const pool = new RandomPool(16);
    expect(Buffer.from(pool.base64url(64), 'base64url')).toHaveLength(64);
    expect(pool.base64url(64)).not.toBe(pool.base64url(64));
  });

  it('gives two pools (two gateways) different bytes', () => {
    expect(new RandomPool().base64url(32)).not.toBe(new RandomPool().base64url(32));
  });
});
