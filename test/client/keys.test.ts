import { describe, expect, it } from 'vitest';
import {
  didFromKey,
  exportJwk,
  exportRawKey,
  fromBase64url,
  generateKeyPair,
  importJwk,
  importRawKey,
  signFrame,
  toBase64url,
  verifyFrame,
} from '../../src/client/index.js';
import { didFromPublicKey } from '../../src/protocol/did-key.js';

const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));

// docs/protocol.md §13.
const A_SECRET = hex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60');
const A_PUBLIC = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a';
const A_DID = 'did:key:z6MktwupdmLXVVqTzCw4i46r4uGyosGXRnR3XjN4Zq7oMMsw';
const B_DID = 'did:key:z6MkiaMbhXHNA4eJVCCj8dbzKzTgYDKf6crKgHVHid1F1WCT';
const VECTOR_SIG = '9dCBys9TVF5HqcntZ5p3xiK2zLaGNNi3LKYen65Ll1IZK5ffCr6Y_VZ9zrJqez4j8nl294QixdAZHGlC2rJbBQ';
const vectorFrame = () => ({
  type: 'OFFER',
  id: 'offer-1',
  from: A_DID,
  to: B_DID,
  ts: 1764028800000,
  payload: { type: 'offer', sdp: 'v=0\r\n' },
  sig: VECTOR_SIG,
});

describe('keys', () => {
  it('derives the DID of the RFC 8032 test key', () => {
    const key = importRawKey(A_SECRET);
    expect(Buffer.from(key.publicKey).toString('hex')).toBe(A_PUBLIC);
    expect(key.did).toBe(A_DID);
    expect(didFromKey(key)).toBe(A_DID);
    expect(didFromKey(key.publicKey)).toBe(A_DID);
  });

  it('generates distinct key pairs whose DIDs match their public keys', () => {
    const a = generateKeyPair();
    const b = generateKeyPair();
    expect(a.secretKey).toHaveLength(32);
    expect(a.did).toMatch(/^did:key:z6Mk[1-9A-HJ-NP-Za-km-z]{44}$/);
    expect(a.did).not.toBe(b.did);
    expect(a.did).toBe(didFromPublicKey(a.publicKey));
  });

  it('round-trips raw and JWK exports', () => {
    const key = generateKeyPair();
    const raw = exportRawKey(key);
    expect(importRawKey(raw).did).toBe(key.did);
    raw.fill(0); // a copy: the key pair is not affected
    expect(key.secretKey.some((b) => b !== 0)).toBe(true);

    const jwk = exportJwk(key);
    expect(jwk).toEqual({ kty: 'OKP', crv: 'Ed25519', x: toBase64url(key.publicKey), d: toBase64url(key.secretKey) });
    expect(jwk.d).not.toMatch(/[=+/]/);
    expect(importJwk(JSON.parse(JSON.stringify(jwk))).did).toBe(key.did);
    const { x: _x, ...withoutX } = jwk;
    expect(importJwk(withoutX).did).toBe(key.did);
  });

  it('rejects bad keys', () => {
    expect(() => importRawKey(new Uint8Array(31))).toThrow(TypeError);
    const jwk = exportJwk(generateKeyPair());
    expect(() => importJwk({ ...jwk, x: exportJwk(generateKeyPair()).x })).toThrow(/not the public key/);
    expect(() => importJwk({ ...jwk, crv: 'X25519' })).toThrow(/Ed25519/);
    expect(() => importJwk({ ...jwk, d: 'AAAA' })).toThrow(/32 bytes/);
    expect(() => importJwk({ ...jwk, d: 'not base64url!' })).toThrow(/base64url/);
    expect(() => importJwk(null)).toThrow(TypeError);
  });
});

describe('signFrame / verifyFrame', () => {
  it('reproduces the docs/protocol.md §13 signature and verifies it', () => {
    const { sig: _sig, ...unsigned } = vectorFrame();
    expect(signFrame(unsigned, A_SECRET).sig).toBe(VECTOR_SIG);
    expect(verifyFrame(vectorFrame(), A_DID)).toBe(true);
    // Key order of the object does not matter: JCS sorts.
    const reordered = JSON.parse(`{"sig":"${VECTOR_SIG}","payload":{"sdp":"v=0\\r\\n","type":"offer"},"ts":1764028800000,"to":"${B_DID}","from":"${A_DID}","id":"offer-1","type":"OFFER"}`);
    expect(verifyFrame(reordered, A_DID)).toBe(true);
  });

  it('rejects tampered frames, other signers and malformed signatures', () => {
    expect(verifyFrame({ ...vectorFrame(), ts: 1764028800001 }, A_DID)).toBe(false);
    expect(verifyFrame({ ...vectorFrame(), payload: { type: 'offer', sdp: 'v=1\r\n' } }, A_DID)).toBe(false);
    expect(verifyFrame({ ...vectorFrame(), extra: 1 }, A_DID)).toBe(false);
    expect(verifyFrame(vectorFrame(), B_DID)).toBe(false);
    expect(verifyFrame(vectorFrame(), 'did:key:nonsense')).toBe(false);
    const { sig: _sig, ...unsigned } = vectorFrame();
    expect(verifyFrame(unsigned, A_DID)).toBe(false);
    expect(verifyFrame({ ...vectorFrame(), sig: `${VECTOR_SIG}=` }, A_DID)).toBe(false);
    expect(verifyFrame({ ...vectorFrame(), sig: VECTOR_SIG.slice(0, 85) + 'R' }, A_DID)).toBe(false);
  });

  it('rejects a signature with S ≥ L (malleability)', () => {
    const sig = fromBase64url(VECTOR_SIG);
    // S + L: same verification equation, non-canonical scalar.
    const L = hex('edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010');
    let carry = 0;
    for (let i = 0; i < 32; i++) {
      const sum = (sig[32 + i] as number) + (L[i] as number) + carry;
      sig[32 + i] = sum & 0xff;
      carry = sum >> 8;
    }
    expect(carry).toBe(0); // the vector's S is small enough for S + L to fit in 32 bytes
    const malleable = toBase64url(sig);
    expect(malleable).toMatch(/[AQgw]$/); // well-formed, so only the S < L check can reject it
    expect(verifyFrame({ ...vectorFrame(), sig: malleable }, A_DID)).toBe(false);
  });

  it('rejects small-order keys even with a signature that verifies under them (R = identity, S = 0)', () => {
    const identity = new Uint8Array(32);
    identity[0] = 1;
    const nonCanonicalIdentity = new Uint8Array(32).fill(0xff);
    nonCanonicalIdentity[0] = 0xee;
    nonCanonicalIdentity[31] = 0x7f;
    for (const pub of [identity, nonCanonicalIdentity]) {
      const did = didFromPublicKey(pub);
      const sig = new Uint8Array(64);
      sig.set(identity, 0);
      const frame = { ...vectorFrame(), from: did, sig: toBase64url(sig) };
      expect(verifyFrame(frame, did)).toBe(false);
    }
  });
});
