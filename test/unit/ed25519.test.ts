/**
 * src/identity/ed25519.ts: libsodium (sodium-native) and OpenSSL give the gateway the same
 * verdicts, including for a small-order R, which both refuse (node:crypto alone accepts one on
 * Node 22). The same holds in the verification threads (VerifyPool with each backend).
 * Signatures come from @noble/ed25519.
 */
import { createPublicKey, verify as cryptoVerify } from 'node:crypto';
import { createRequire } from 'node:module';
import * as ed from '@noble/ed25519';
import { afterEach, describe, expect, it } from 'vitest';
import { ed25519Verifier, type Ed25519Verifier } from '../../src/identity/ed25519.js';
import { VerifyPool } from '../../src/identity/verify-pool.js';
import { identityRSignature } from '../helpers/small-order-r.js';

const utf8 = (s: string) => new TextEncoder().encode(s);

interface Case {
  name: string;
  publicKey: Uint8Array;
  message: Uint8Array;
  signature: Uint8Array;
}

/** Honest signatures and one-bit changes of each part, wrong keys and messages. */
function corpus(): Case[] {
  const out: Case[] = [];
  for (let i = 0; i < 24; i++) {
    const secret = ed.utils.randomSecretKey();
    const publicKey = ed.getPublicKey(secret);
    const message = utf8(`{"id":"c${i}","payload":"${'x'.repeat(i * 17)}"}`);
    const signature = ed.sign(message, secret);
    out.push({ name: `good ${i}`, publicKey, message, signature });
    const flipped = Uint8Array.from(signature);
    flipped[(i * 5) % 64] = (flipped[(i * 5) % 64] as number) ^ (1 << (i % 8));
    out.push({ name: `flipped ${i}`, publicKey, message, signature: flipped });
    out.push({ name: `other message ${i}`, publicKey, message: utf8(`other ${i}`), signature });
    out.push({ name: `other key ${i}`, publicKey: ed.getPublicKey(ed.utils.randomSecretKey()), message, signature });
  }
  return out;
}

/** A valid-by-the-equation signature with R = identity (test/helpers/small-order-r.ts). */
function identityR(message: Uint8Array): Case {
  const secret = ed.utils.randomSecretKey();
  return { name: 'R = identity', publicKey: ed.getPublicKey(secret), message, signature: identityRSignature(secret, message) };
}

const sodium = createRequire(import.meta.url)('sodium-native') as {
  crypto_sign_verify_detached(sig: Uint8Array, msg: Uint8Array, pk: Uint8Array): boolean;
};

describe('ed25519Verifier', () => {
  const libsodium = ed25519Verifier('libsodium');
  const openssl = ed25519Verifier('openssl');

  it('loads libsodium on this platform (auto picks it) and uses OpenSSL when told to', () => {
    expect(libsodium.backend).toBe('libsodium');
    expect(libsodium.sodiumPath).toMatch(/sodium-native/);
    expect(ed25519Verifier('auto').backend).toBe('libsodium');
    expect(ed25519Verifier().backend).toBe('libsodium');
    expect(openssl).toMatchObject({ backend: 'openssl', sodiumPath: null });
  });

  it('gives the same verdict as OpenSSL and @noble/ed25519 (strict) on honest and altered signatures', () => {
    const cases = corpus();
    for (const c of cases) {
      const expected = ed.verify(c.signature, c.message, c.publicKey, { zip215: false });
      expect(libsodium.verify(c.publicKey, c.message, c.signature), c.name).toBe(expected);
      expect(openssl.verify(c.publicKey, c.message, c.signature), c.name).toBe(expected);
    }
    expect(cases.filter((c) => c.name.startsWith('good')).every((c) => libsodium.verify(c.publicKey, c.message, c.signature))).toBe(true);
  });

  it('refuses a small-order R with either backend, on every Node (node:crypto alone accepts one on Node 22)', () => {
    const c = identityR(utf8('{"type":"ICE"}'));
    // The signature is valid by the equation: noble's strict verify accepts it.
    expect(ed.verify(c.signature, c.message, c.publicKey, { zip215: false })).toBe(true);
    expect(sodium.crypto_sign_verify_detached(c.signature, c.message, c.publicKey)).toBe(false);
    const keyObject = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(c.publicKey).toString('base64url') }, format: 'jwk' });
    expect(cryptoVerify(null, c.message, keyObject, c.signature)).toBe(Number(process.versions.node.split('.')[0]) < 24);
    expect(libsodium.verify(c.publicKey, c.message, c.signature)).toBe(false);
    expect(openssl.verify(c.publicKey, c.message, c.signature)).toBe(false);
  });

  it('answers false, without throwing, for wrong lengths', () => {
    const c = corpus()[0] as Case;
    for (const v of [libsodium, openssl]) {
      expect(v.verify(c.publicKey.subarray(0, 31), c.message, c.signature)).toBe(false);
      expect(v.verify(c.publicKey, c.message, c.signature.subarray(0, 63))).toBe(false);
    }
  });
});

describe('VerifyPool threads with each backend', () => {
  let pool: VerifyPool | undefined;
  afterEach(async () => {
    await pool?.close();
    pool = undefined;
  });

  for (const backend of ['libsodium', 'openssl'] as const) {
    it(`${backend}: the threads give the event loop's verdicts, a small-order R refused`, async () => {
      const verifier: Ed25519Verifier = ed25519Verifier(backend);
      // Never inline: every verdict comes from a thread.
      pool = new VerifyPool({ threads: 2, verifier, inlineWhileStarting: false, inlineBelowUtilization: 0, inlineWhenIdle: false });
      const cases = [...corpus(), identityR(utf8('{"type":"OFFER"}'))];
      const verdicts = await Promise.all(cases.map((c) => new Promise<boolean | null>((resolve) => (pool as VerifyPool).verify(c.publicKey, c.message, c.signature, resolve))));
      expect(pool.counts).toEqual({ inline: 0, workers: cases.length });
      expect(verdicts).toEqual(cases.map((c) => verifier.verify(c.publicKey, c.message, c.signature)));
      expect(verdicts.at(-1)).toBe(false);
      expect(verdicts.filter((v) => v === true)).toHaveLength(24); // the good ones
    });
  }
});
