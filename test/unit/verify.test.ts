/**
 * src/identity/verify.ts: strict RFC 8032 verification (docs/protocol.md §3) on top of node:crypto.
 *
 * Signatures in these tests are made with @noble/ed25519, independent of the node:crypto verifier.
 */
import { createPublicKey, verify as cryptoVerify } from 'node:crypto';
import * as ed from '@noble/ed25519';
import { sha512 } from '@noble/hashes/sha2.js';
import { describe, expect, it } from 'vitest';
import { didFromPublicKey } from '../../src/protocol/did-key.js';
import { DID_A, DID_B, SIG_9, offerVector } from '../helpers/vectors.js';
import { decodeSignature, importAgentKey, isAcceptablePublicKey, verifySignature, type AgentKey } from '../../src/identity/verify.js';
import { signedBytes } from '../../src/protocol/canonical.js';

ed.hashes.sha512 = sha512;
const { Point } = ed;

// ---------------------------------------------------------------------------------------------
// Helpers

const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const b64u = (b: Uint8Array) => Buffer.from(b).toString('base64url');
const utf8 = (s: string) => new TextEncoder().encode(s);

/** Field prime p = 2^255 − 19 and group order L = 2^252 + 27742317777372353535851937790883648493. */
const P = 2n ** 255n - 19n;
const L = 2n ** 252n + 27742317777372353535851937790883648493n;

const leToBigint = (b: Uint8Array) => BigInt('0x' + (toHex(Uint8Array.from(b).reverse()) || '0'));
function bigintToLe(n: bigint, len = 32): Uint8Array {
  if (n < 0n || n >= 2n ** BigInt(8 * len)) throw new RangeError('does not fit');
  return Uint8Array.from(Buffer.from(n.toString(16).padStart(2 * len, '0'), 'hex')).reverse();
}
/** Little-endian 256-bit addition; throws on carry out of the top byte. */
function addLe(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(32);
  let carry = 0;
  for (let i = 0; i < 32; i++) {
    const sum = (a[i] as number) + (b[i] as number) + carry;
    out[i] = sum & 0xff;
    carry = sum >> 8;
  }
  if (carry) throw new RangeError('carry out of 256 bits');
  return out;
}
const withSignBit = (enc: Uint8Array, set: boolean) => {
  const out = Uint8Array.from(enc);
  out[31] = set ? (out[31] as number) | 0x80 : (out[31] as number) & 0x7f;
  return out;
};
const flipBit = (b: Uint8Array, bit: number) => {
  const out = Uint8Array.from(b);
  out[bit >> 3] = (out[bit >> 3] as number) ^ (1 << (bit & 7));
  return out;
};
const R_IDENTITY_S_ZERO = Uint8Array.from([1, ...new Uint8Array(63)]);

/** The raw node:crypto KeyObject for any 32 bytes, bypassing importAgentKey's vetting. */
const rawKeyObject = (pub: Uint8Array) => createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64u(pub) }, format: 'jwk' });

// docs/protocol.md §13
const SECRET_A = hex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60');
const PUBLIC_A = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a';
const SIGNED_9 =
  '{"from":"did:key:z6MktwupdmLXVVqTzCw4i46r4uGyosGXRnR3XjN4Zq7oMMsw","id":"offer-1",' +
  '"payload":{"sdp":"v=0\\r\\n","type":"offer"},"to":"did:key:z6MkiaMbhXHNA4eJVCCj8dbzKzTgYDKf6crKgHVHid1F1WCT",' +
  '"ts":1764028800000,"type":"OFFER"}';
const FRAME_9 = offerVector();

function keyA(): AgentKey {
  const key = importAgentKey(DID_A);
  if (!key) throw new Error('importAgentKey(DID_A) returned null');
  return key;
}

// ---------------------------------------------------------------------------------------------
// Small-order points, computed here rather than copied.
//
// Take curve points decoded from hash-derived y values, multiply each by L (the prime-subgroup
// order): what remains is its torsion component, of order dividing 8. The first one of order
// exactly 8 generates the whole torsion subgroup {k·T : k = 0..7}. The result is cross-checked
// against the well-known list (libsodium's `blocklist` in crypto_core/ed25519/ref10/ed25519_ref10.c,
// and Chalkias et al., "Taming the many EdDSAs", 2020, table of small-order encodings).

function torsionGenerator(): InstanceType<typeof Point> {
  for (let i = 0; i < 1000; i++) {
    const y = sha512(utf8(`torsion-${i}`)).slice(0, 32);
    y[31] = (y[31] as number) & 0x7f;
    let p: InstanceType<typeof Point>;
    try {
      p = Point.fromBytes(y, false);
    } catch {
      continue; // y not on the curve
    }
    const t = p.multiplyUnsafe(L - 1n).add(p); // L·p (multiply() refuses the scalar L itself)
    if (!t.multiplyUnsafe(4n).is0()) return t;
  }
  throw new Error('no point of order 8 found');
}

const T8 = torsionGenerator();
const SMALL_ORDER_POINTS = Array.from({ length: 8 }, (_, k) => (k === 0 ? Point.ZERO : T8.multiplyUnsafe(BigInt(k))));
/** The 8 canonical encodings. */
const CANONICAL_SMALL_ORDER = SMALL_ORDER_POINTS.map((pt) => pt.toBytes());

/** Non-canonical encodings of the same 8 points: y + p where it fits in 255 bits, and sign-bit variants. */
function nonCanonicalSmallOrder(): Uint8Array[] {
  const out = new Map<string, Uint8Array>();
  const canonical = new Set(CANONICAL_SMALL_ORDER.map(toHex));
  for (const enc of CANONICAL_SMALL_ORDER) {
    const y = leToBigint(withSignBit(enc, false));
    const variants = [withSignBit(enc, true), withSignBit(enc, false)];
    if (y + P < 2n ** 255n) {
      const big = bigintToLe(y + P);
      variants.push(withSignBit(big, false), withSignBit(big, true));
    }
    for (const v of variants) if (!canonical.has(toHex(v))) out.set(toHex(v), v);
  }
  return [...out.values()];
}
const NON_CANONICAL_SMALL_ORDER = nonCanonicalSmallOrder();

describe('test fixtures (sanity)', () => {
  it('p and L match the curve noble uses', () => {
    expect(Point.CURVE().p).toBe(P);
    expect(Point.CURVE().n).toBe(L);
  });

  it('the computed torsion subgroup is the well-known list of 8 small-order encodings', () => {
    expect(new Set(CANONICAL_SMALL_ORDER.map(toHex))).toEqual(
      new Set([
        '0100000000000000000000000000000000000000000000000000000000000000', // identity, order 1
        'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // (0, −1), order 2
        '0000000000000000000000000000000000000000000000000000000000000000', // (±√−1, 0), order 4
        '0000000000000000000000000000000000000000000000000000000000000080',
        '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05', // order 8
        '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85',
        'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
        'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa',
      ]),
    );
    for (const pt of SMALL_ORDER_POINTS) expect(pt.multiplyUnsafe(8n).is0()).toBe(true);
  });

  it('the non-canonical encodings are the 6 known ones, and each is a small-order point under lax (ZIP-215) decoding', () => {
    expect(new Set(NON_CANONICAL_SMALL_ORDER.map(toHex))).toEqual(
      new Set([
        '0100000000000000000000000000000000000000000000000000000000000080', // identity, x = −0
        'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff', // order 2, x = −0
        'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // y = p (≡ 0)
        'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
        'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // y = p + 1 (≡ 1): identity
        'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
      ]),
    );
    for (const enc of NON_CANONICAL_SMALL_ORDER) {
      expect(() => Point.fromBytes(enc, false), toHex(enc)).toThrow(); // strict decoding refuses
      expect(Point.fromBytes(enc, true).isSmallOrder(), toHex(enc)).toBe(true); // lax decoding: small order
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('docs/protocol.md §13 vector', () => {
  it('the signature verifies over the §9 signed bytes with key A', () => {
    const key = keyA();
    expect(toHex(key.publicKey)).toBe(PUBLIC_A);
    expect(key.did).toBe(DID_A);
    const sig = decodeSignature(SIG_9);
    expect(sig).not.toBeNull();
    expect(sig).toHaveLength(64);
    expect(verifySignature(key, utf8(SIGNED_9), sig as Buffer)).toBe(true);
    // the canonicaliser produces exactly those bytes from the frame
    expect(verifySignature(key, signedBytes(FRAME_9), sig as Buffer)).toBe(true);
  });

  it('noble (an independent implementation) produces the same deterministic signature', () => {
    expect(b64u(ed.sign(utf8(SIGNED_9), SECRET_A))).toBe(SIG_9);
  });

  it('fails under key B', () => {
    const keyB = importAgentKey(DID_B) as AgentKey;
    expect(keyB).not.toBeNull();
    expect(verifySignature(keyB, utf8(SIGNED_9), decodeSignature(SIG_9) as Buffer)).toBe(false);
  });

  it('every one-bit change of the message fails', () => {
    const key = keyA();
    const msg = utf8(SIGNED_9);
    const sig = decodeSignature(SIG_9) as Buffer;
    for (let bit = 0; bit < msg.length * 8; bit++) {
      expect(verifySignature(key, flipBit(msg, bit), sig), `bit ${bit}`).toBe(false);
    }
  });

  it('every one-bit change of the signature fails (through decodeSignature or verifySignature)', () => {
    const key = keyA();
    const msg = utf8(SIGNED_9);
    const sig = decodeSignature(SIG_9) as Buffer;
    for (let bit = 0; bit < 512; bit++) {
      const bad = flipBit(sig, bit);
      expect(verifySignature(key, msg, bad), `bit ${bit}`).toBe(false);
      const decoded = decodeSignature(b64u(bad));
      if (decoded) expect(verifySignature(key, msg, decoded), `bit ${bit}`).toBe(false);
    }
  });

  it('a truncated, extended or empty message fails', () => {
    const key = keyA();
    const sig = decodeSignature(SIG_9) as Buffer;
    expect(verifySignature(key, utf8(SIGNED_9).slice(0, -1), sig)).toBe(false);
    expect(verifySignature(key, utf8(SIGNED_9 + ' '), sig)).toBe(false);
    expect(verifySignature(key, new Uint8Array(0), sig)).toBe(false);
  });

  it('verifySignature returns false (does not throw) for a signature of the wrong length', () => {
    const key = keyA();
    const sig = decodeSignature(SIG_9) as Buffer;
    expect(verifySignature(key, utf8(SIGNED_9), sig.subarray(0, 63))).toBe(false);
    expect(verifySignature(key, utf8(SIGNED_9), Buffer.concat([sig, Buffer.alloc(1)]))).toBe(false);
    expect(verifySignature(key, utf8(SIGNED_9), new Uint8Array(0))).toBe(false);
  });
});

describe('random keys and messages', () => {
  it('noble signatures verify with node:crypto through importAgentKey', () => {
    for (let i = 0; i < 50; i++) {
      const secret = ed.utils.randomSecretKey();
      const did = didFromPublicKey(ed.getPublicKey(secret));
      const key = importAgentKey(did);
      expect(key, did).not.toBeNull();
      const msg = ed.etc.randomBytes(i * 7);
      const sigText = b64u(ed.sign(msg, secret));
      expect(sigText).toHaveLength(86);
      const sig = decodeSignature(sigText);
      expect(sig, sigText).not.toBeNull();
      expect(verifySignature(key as AgentKey, msg, sig as Buffer)).toBe(true);
      expect(verifySignature(keyA(), msg, sig as Buffer)).toBe(false);
    }
  });
});

describe('decodeSignature', () => {
  const valid = decodeSignature(SIG_9) as Buffer;
  const R = valid.subarray(0, 32);
  const S = valid.subarray(32);
  const sigOf = (r: Uint8Array, s: Uint8Array) => b64u(Uint8Array.from([...r, ...s]));

  it('decodes the §9 signature to the same 64 bytes as Buffer does', () => {
    expect(valid).toEqual(Buffer.from(SIG_9, 'base64url'));
    expect(leToBigint(S) < L).toBe(true);
  });

  it('refuses S + L (the malleable twin of a valid signature)', () => {
    const sPlusL = addLe(S, bigintToLe(L));
    expect(leToBigint(sPlusL)).toBe(leToBigint(S) + L);
    const twin = sigOf(R, sPlusL);
    expect(twin).toMatch(/^[A-Za-z0-9_-]{86}$/);
    expect(decodeSignature(twin)).toBeNull();
  });

  it('refuses S + L for random noble signatures too', () => {
    for (let i = 0; i < 50; i++) {
      const sig = ed.sign(ed.etc.randomBytes(16), ed.utils.randomSecretKey());
      expect(decodeSignature(b64u(sig))).not.toBeNull();
      const twin = Uint8Array.from([...sig.slice(0, 32), ...addLe(sig.slice(32), bigintToLe(L))]);
      expect(decodeSignature(b64u(twin))).toBeNull();
    }
  });

  it('refuses S = L exactly and accepts S = L − 1', () => {
    expect(decodeSignature(sigOf(R, bigintToLe(L)))).toBeNull();
    const sMax = decodeSignature(sigOf(R, bigintToLe(L - 1n)));
    expect(sMax).not.toBeNull();
    expect(leToBigint((sMax as Buffer).subarray(32))).toBe(L - 1n);
  });

  it('S around the top byte 0x10: compares the whole scalar, not just the top byte', () => {
    expect(decodeSignature(sigOf(R, bigintToLe(2n ** 252n)))).not.toBeNull(); // top byte 0x10, < L
    expect(decodeSignature(sigOf(R, bigintToLe(2n ** 252n - 1n)))).not.toBeNull(); // top byte 0x0f
    expect(decodeSignature(sigOf(R, bigintToLe(L + 1n)))).toBeNull();
    expect(decodeSignature(sigOf(R, bigintToLe(2n ** 253n)))).toBeNull(); // top byte 0x20
    expect(decodeSignature(sigOf(R, bigintToLe(2n ** 256n - 1n)))).toBeNull();
    expect(decodeSignature(sigOf(R, bigintToLe(0n)))).not.toBeNull();
    // L with one lower byte changed either way
    const lBytes = bigintToLe(L);
    const below = Uint8Array.from(lBytes);
    below[15] = 0x13; // L has 0x14 here
    expect(decodeSignature(sigOf(R, below))).not.toBeNull();
    const above = Uint8Array.from(lBytes);
    above[0] = 0xee; // L has 0xed here
    expect(decodeSignature(sigOf(R, above))).toBeNull();
  });

  it('refuses wrong lengths', () => {
    expect(decodeSignature('')).toBeNull();
    expect(decodeSignature(SIG_9.slice(0, 85))).toBeNull();
    expect(decodeSignature(SIG_9.slice(0, 84))).toBeNull();
    expect(decodeSignature(SIG_9 + 'A')).toBeNull();
    expect(decodeSignature(SIG_9 + 'AA')).toBeNull();
    expect(decodeSignature(b64u(new Uint8Array(63)))).toBeNull();
    expect(decodeSignature(b64u(new Uint8Array(65)))).toBeNull();
    expect(decodeSignature(SIG_9 + SIG_9)).toBeNull();
  });

  it('refuses padding', () => {
    expect(decodeSignature(SIG_9 + '==')).toBeNull();
    expect(decodeSignature(SIG_9.slice(0, 85) + '=')).toBeNull();
    expect(decodeSignature(SIG_9.slice(0, 84) + '==')).toBeNull();
  });

  it('refuses characters outside base64url', () => {
    for (const ch of ['+', '/', '=', '.', ' ', '\n', '!', 'é', '\u0000']) {
      expect(decodeSignature(SIG_9.slice(0, 40) + ch + SIG_9.slice(41)), JSON.stringify(ch)).toBeNull();
    }
    // standard base64 of the same bytes uses + and / where base64url uses - and _
    const std = Buffer.from(SIG_9, 'base64url').toString('base64').replace(/=+$/, '');
    expect(std).not.toBe(SIG_9);
    expect(decodeSignature(std)).toBeNull();
  });

  it('refuses a non-canonical last character even though Buffer decodes it to the same bytes', () => {
    expect(SIG_9.endsWith('Q')).toBe(true);
    // Q = 0b010000; R..f (0b010001..0b011111) differ only in the 4 bits beyond the 512th
    for (const ch of 'RSTUVWXYZabcdef') {
      const variant = SIG_9.slice(0, 85) + ch;
      expect(Buffer.from(variant, 'base64url')).toEqual(valid); // Buffer silently drops those bits
      expect(decodeSignature(variant), variant).toBeNull();
    }
    for (const ch of ['B', 'P', 'h', 'x', '-', '_', '9']) expect(decodeSignature(SIG_9.slice(0, 85) + ch)).toBeNull();
  });

  it('accepts each canonical last character A, Q, g, w when S stays below L', () => {
    const lowS = sigOf(R, bigintToLe(12345n)); // top byte 0: every 2-bit tail keeps S < L
    for (const ch of ['A', 'Q', 'g', 'w']) {
      const variant = lowS.slice(0, 85) + ch;
      const decoded = decodeSignature(variant);
      expect(decoded, variant).not.toBeNull();
      expect(decoded).toEqual(Buffer.from(variant, 'base64url'));
    }
  });
});

describe('importAgentKey / isAcceptablePublicKey', () => {
  it('accepts the §9 keys and random keys', () => {
    for (const pub of [PUBLIC_A, '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c']) {
      expect(isAcceptablePublicKey(hex(pub))).toBe(true);
    }
    for (let i = 0; i < 20; i++) {
      const pub = ed.getPublicKey(ed.utils.randomSecretKey());
      expect(isAcceptablePublicKey(pub)).toBe(true);
      expect(importAgentKey(didFromPublicKey(pub))?.publicKey).toEqual(pub);
    }
  });

  it.each(CANONICAL_SMALL_ORDER.map((e) => [toHex(e)]))('refuses the small-order point %s', (encHex) => {
    const enc = hex(encHex);
    expect(isAcceptablePublicKey(enc)).toBe(false);
    expect(importAgentKey(didFromPublicKey(enc))).toBeNull();
  });

  it.each(NON_CANONICAL_SMALL_ORDER.map((e) => [toHex(e)]))('refuses the non-canonical small-order encoding %s', (encHex) => {
    const enc = hex(encHex);
    expect(isAcceptablePublicKey(enc)).toBe(false);
    expect(importAgentKey(didFromPublicKey(enc))).toBeNull();
  });

  it('refuses a non-canonical encoding (y ≥ p) of a point that is not of small order', () => {
    // y + p fits in 255 bits only for y ≤ 18: find such a y on the curve whose point has large order.
    let found = 0;
    for (let y = 2n; y <= 18n; y++) {
      let pt: InstanceType<typeof Point>;
      try {
        pt = Point.fromBytes(bigintToLe(y), false);
      } catch {
        continue;
      }
      if (pt.isSmallOrder()) continue;
      found++;
      const canonical = pt.toBytes();
      expect(isAcceptablePublicKey(canonical)).toBe(true); // control: the canonical form is fine
      for (const sign of [false, true]) {
        const nonCanonical = withSignBit(bigintToLe(y + P), sign);
        expect(Point.fromBytes(nonCanonical, true).isSmallOrder()).toBe(false); // same kind of point, lax decoding
        expect(isAcceptablePublicKey(nonCanonical), toHex(nonCanonical)).toBe(false);
        expect(importAgentKey(didFromPublicKey(nonCanonical))).toBeNull();
      }
    }
    expect(found).toBeGreaterThan(0);
  });

  it('never verifies anything under a y that is not on the curve', () => {
    // The key check is byte-level (canonical, not small order): an off-curve y may pass it, but
    // no signature can verify under it, so such a DID can never register.
    let found = 0;
    const message = new TextEncoder().encode('any message');
    for (let y = 2n; y < 40n; y++) {
      const enc = bigintToLe(y);
      let onCurve = true;
      try {
        Point.fromBytes(enc, true);
      } catch {
        onCurve = false;
      }
      if (onCurve) continue;
      found++;
      const key = importAgentKey(didFromPublicKey(enc));
      if (key === null) continue;
      for (const sig of [new Uint8Array(64), Uint8Array.from({ length: 64 }, (_, i) => (i < 32 ? enc[i] ?? 0 : 0))]) {
        expect(verifySignature(key, message, sig), `y=${y}`).toBe(false);
      }
    }
    expect(found).toBeGreaterThan(3);
  });

  it('refuses wrong lengths without throwing', () => {
    expect(isAcceptablePublicKey(new Uint8Array(31))).toBe(false);
    expect(isAcceptablePublicKey(new Uint8Array(33))).toBe(false);
    expect(isAcceptablePublicKey(new Uint8Array(0))).toBe(false);
  });

  it('refuses DIDs that are not Ed25519 did:keys', () => {
    expect(didWithCodec(Uint8Array.from([0xed, 0x01, ...hex(PUBLIC_A)]))).toBe(DID_A); // control
    // 0xec01 (x25519-pub) with key A's bytes: same length, different multicodec
    expect(importAgentKey(didWithCodec(Uint8Array.from([0xec, 0x01, ...hex(PUBLIC_A)])))).toBeNull();
    // 0xe701 (secp256k1-pub), 33-byte compressed key
    expect(importAgentKey(didWithCodec(Uint8Array.from([0xe7, 0x01, 0x02, ...hex(PUBLIC_A)])))).toBeNull();
    expect(importAgentKey('did:web:example.com')).toBeNull();
    expect(importAgentKey('')).toBeNull();
    expect(importAgentKey(DID_A.slice(0, -1) + '0')).toBeNull();
  });
});

describe('why the small-order check exists', () => {
  const message = utf8(SIGNED_9);

  // Node 20 and 22 accept the forgery; Node 24 and 26 refuse it (same OpenSSL 3.5.8 in 22, 24
  // and 26: Node's own check). The gateway does not depend on which: importAgentKey refuses the
  // key before any signature is looked at.
  const nodeAccepts = Number(process.versions.node.split('.')[0]) < 24;

  it(`node:crypto alone ${nodeAccepts ? 'accepts' : 'refuses (Node 24+)'} (R = identity, S = 0) for ANY message under the identity key`, () => {
    for (const encHex of [
      '0100000000000000000000000000000000000000000000000000000000000000',
      'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // y = p + 1
    ]) {
      const keyObject = rawKeyObject(hex(encHex));
      expect(cryptoVerify(null, message, keyObject, R_IDENTITY_S_ZERO), encHex).toBe(nodeAccepts);
      expect(cryptoVerify(null, utf8('anything at all'), keyObject, R_IDENTITY_S_ZERO), encHex).toBe(nodeAccepts);
      // verifySignature refuses it on every Node, even if it were ever handed such a key: its R is small order
      const forged: AgentKey = { did: didFromPublicKey(hex(encHex)), publicKey: hex(encHex), keyObject };
      expect(verifySignature(forged, message, R_IDENTITY_S_ZERO)).toBe(false);
      // the forged signature passes the syntactic checks of decodeSignature
      expect(decodeSignature(b64u(R_IDENTITY_S_ZERO))).toEqual(Buffer.from(R_IDENTITY_S_ZERO));
      // importAgentKey is what stops it
      expect(importAgentKey(didFromPublicKey(hex(encHex)))).toBeNull();
    }
  });

  it('the forgery does not work against a real key', () => {
    expect(verifySignature(keyA(), message, R_IDENTITY_S_ZERO)).toBe(false);
  });
});

/** did:key:z + base58btc of raw bytes (any multicodec), via the same alphabet did-key.ts uses. */
function didWithCodec(bytes: Uint8Array): string {
  const ALPHABET = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
  let n = BigInt('0x' + toHex(bytes));
  let out = '';
  while (n > 0n) {
    out = ALPHABET[Number(n % 58n)] + out;
    n /= 58n;
  }
  for (const b of bytes) {
    if (b !== 0) break;
    out = '1' + out;
  }
  return 'did:key:z' + out;
}
