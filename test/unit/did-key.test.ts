/**
 * src/protocol/did-key.ts: did:key ⇄ Ed25519 public key (docs/protocol.md §2, vectors from §13).
 */
import * as ed from '@noble/ed25519';
import { sha512 } from '@noble/hashes/sha2.js';
import { base58 } from '@scure/base';
import { describe, expect, it } from 'vitest';
import { didFromPublicKey, isDidKey, publicKeyFromDid } from '../../src/protocol/did-key.js';

ed.hashes.sha512 = sha512;

const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** docs/protocol.md §13 (keys A, B: RFC 8032 §7.1 tests 1 and 2; seeds 0 and 1: W3C CCG did:key vectors). */
const VECTORS = [
  ['key A', 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a', 'did:key:z6MktwupdmLXVVqTzCw4i46r4uGyosGXRnR3XjN4Zq7oMMsw'],
  ['key B', '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c', 'did:key:z6MkiaMbhXHNA4eJVCCj8dbzKzTgYDKf6crKgHVHid1F1WCT'],
  ['seed 0', '3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29', 'did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp'],
  ['seed 1', '4cb5abf6ad79fbf5abbccafcc269d85cd2651ed4b885b5869f241aedf0a5ba29', 'did:key:z6MkjchhfUsD6mmvni8mCdXHw216Xrm9bQe2mBH1P5RDjVJG'],
] as const;

const DID_A = VECTORS[0][2];

/** A did:key with an arbitrary multicodec prefix and key bytes. */
const didWith = (prefix: number[], key: Uint8Array) => 'did:key:z' + base58.encode(Uint8Array.from([...prefix, ...key]));

describe('docs/protocol.md §13 vectors', () => {
  it.each(VECTORS)('%s: public key → DID', (_name, pub, did) => {
    expect(didFromPublicKey(hex(pub))).toBe(did);
  });

  it.each(VECTORS)('%s: DID → public key', (_name, pub, did) => {
    const key = publicKeyFromDid(did);
    expect(key).not.toBeNull();
    expect(toHex(key as Uint8Array)).toBe(pub);
    expect(isDidKey(did)).toBe(true);
  });

  it('the secret keys of A and seeds 0/1 derive the vector public keys (the vectors are consistent)', () => {
    expect(didFromPublicKey(ed.getPublicKey(hex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60')))).toBe(DID_A);
    const seed = (n: number) => Uint8Array.from([...new Uint8Array(31), n]);
    expect(didFromPublicKey(ed.getPublicKey(seed(0)))).toBe(VECTORS[2][2]);
    expect(didFromPublicKey(ed.getPublicKey(seed(1)))).toBe(VECTORS[3][2]);
  });
});

describe('round trip', () => {
  it('random Ed25519 keys survive DID → key → DID, always as did:key:z6Mk + 44 more base58 chars', () => {
    for (let i = 0; i < 200; i++) {
      const pub = ed.getPublicKey(ed.utils.randomSecretKey());
      const did = didFromPublicKey(pub);
      expect(did).toMatch(/^did:key:z6Mk[1-9A-HJ-NP-Za-km-z]{44}$/);
      expect(publicKeyFromDid(did)).toEqual(pub);
    }
  });

  it('extreme byte patterns keep the fixed 56-character length', () => {
    for (const fill of [0x00, 0xff, 0x01, 0x80]) {
      const key = new Uint8Array(32).fill(fill);
      const did = didFromPublicKey(key);
      expect(did).toHaveLength(56);
      expect(publicKeyFromDid(did)).toEqual(key);
    }
  });

  it('returns a fresh copy of the key', () => {
    const a = publicKeyFromDid(DID_A) as Uint8Array;
    a.fill(0);
    expect(toHex(publicKeyFromDid(DID_A) as Uint8Array)).toBe(VECTORS[0][1]);
  });

  it('didFromPublicKey refuses keys that are not 32 bytes', () => {
    expect(() => didFromPublicKey(new Uint8Array(31))).toThrow(TypeError);
    expect(() => didFromPublicKey(new Uint8Array(33))).toThrow(TypeError);
    expect(() => didFromPublicKey(new Uint8Array(0))).toThrow(TypeError);
  });
});

describe('rejections', () => {
  const keyA = hex(VECTORS[0][1]);

  const rejected = (did: string) => {
    expect(publicKeyFromDid(did), did).toBeNull();
    expect(isDidKey(did), did).toBe(false);
  };

  it('a control: didWith(ed25519 prefix) is accepted', () => {
    expect(didWith([0xed, 0x01], keyA)).toBe(DID_A);
  });

  it('other multicodecs: x25519-pub (0xec01), secp256k1-pub (0xe701), p256-pub (0x1200), ed25519-priv (0x1300)', () => {
    const x25519 = didWith([0xec, 0x01], keyA);
    expect(x25519.startsWith('did:key:z6LS')).toBe(true);
    expect(x25519).toHaveLength(56); // same length as an Ed25519 DID: only the prefix check catches it
    rejected(x25519);
    rejected(didWith([0xe7, 0x01], Uint8Array.from([0x02, ...keyA]))); // 33-byte compressed point
    rejected(didWith([0xe7, 0x01], keyA));
    rejected(didWith([0x80, 0x24], Uint8Array.from([0x03, ...keyA])));
    rejected(didWith([0x13, 0x00], keyA));
    rejected(didWith([0xed, 0x02], keyA));
    rejected(didWith([0xee, 0x01], keyA));
  });

  it('wrong key length under the Ed25519 multicodec', () => {
    rejected(didWith([0xed, 0x01], keyA.slice(0, 31)));
    rejected(didWith([0xed, 0x01], Uint8Array.from([...keyA, 0])));
    rejected(didWith([0xed, 0x01], new Uint8Array(0)));
    rejected(didWith([0xed], keyA)); // multicodec truncated to one byte
    rejected(DID_A.slice(0, -1));
    rejected(DID_A + '1');
  });

  it.each(['0', 'O', 'I', 'l'])('a non-base58 character %j', (ch) => {
    const i = 20;
    rejected(DID_A.slice(0, i) + ch + DID_A.slice(i + 1));
    rejected(DID_A.slice(0, -1) + ch);
  });

  it('other non-alphabet characters', () => {
    for (const ch of ['+', '/', '=', '_', '-', ' ', 'é']) rejected(DID_A.slice(0, 30) + ch + DID_A.slice(31));
  });

  it('other multibase prefixes than z (base58btc)', () => {
    const bytes = Uint8Array.from([0xed, 0x01, ...keyA]);
    rejected('did:key:u' + Buffer.from(bytes).toString('base64url'));
    rejected('did:key:f' + Buffer.from(bytes).toString('hex'));
    rejected('did:key:m' + Buffer.from(bytes).toString('base64'));
    rejected('did:key:Z' + DID_A.slice(9)); // base58flickr
    rejected('did:key:' + DID_A.slice(9)); // multibase prefix missing (and one char short)
  });

  it('other methods and malformed DIDs', () => {
    rejected('did:web:example.com');
    rejected('did:web:' + DID_A.slice(8));
    rejected('did:pkh:' + DID_A.slice(8));
    rejected('DID:KEY:' + DID_A.slice(8));
    rejected('did:key:' + 'z' + DID_A.slice(9).toUpperCase());
    rejected(' ' + DID_A.slice(1));
    rejected(DID_A + ' ');
    rejected(DID_A + '#' + DID_A.slice(8));
    rejected('');
    rejected('did:key:');
    rejected('did:key:z');
  });

  it('a DID whose base58 decodes with a leading zero byte', () => {
    // '1' in base58 is a leading 0x00 byte: 0x00 0xed 0x01 ‖ 31 bytes is 34 bytes, right length, wrong codec
    const did = 'did:key:z' + base58.encode(Uint8Array.from([0x00, 0xed, 0x01, ...keyA.slice(0, 31)]));
    expect(did).toHaveLength(56);
    expect(did.startsWith('did:key:z1')).toBe(true);
    rejected(did);
    rejected('did:key:z1' + DID_A.slice(10));
  });
});

describe('isDidKey: the set of DIDs already seen valid', () => {
  it('answers the same on repeated calls, for valid and invalid DIDs, past the set limit (4,096)', () => {
    const x25519 = didWith([0xec, 0x01], hex(VECTORS[0][1]));
    const valid = Array.from({ length: 5000 }, (_, i) => {
      const key = new Uint8Array(32);
      new DataView(key.buffer).setUint32(0, i);
      return didFromPublicKey(key);
    });
    for (let round = 0; round < 2; round++) {
      for (const did of valid) expect(isDidKey(did)).toBe(true);
      // Invalid DIDs are never remembered: the same answer every time, also while the set is full.
      expect(isDidKey(x25519)).toBe(false);
      expect(isDidKey(DID_A.slice(0, -1) + '0')).toBe(false);
      expect(isDidKey(DID_A)).toBe(true);
    }
  });
});
