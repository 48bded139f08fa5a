/** src/client/ed25519.ts: the one module that sets @noble/ed25519's SHA-512 for the client SDK. */
import * as noble from '@noble/ed25519';
import { sha512 } from '@noble/hashes/sha2.js';
import { describe, expect, it } from 'vitest';
import { ed } from '../../src/client/ed25519.js';

describe('client ed25519 setup', () => {
  it('is @noble/ed25519 itself, with its synchronous SHA-512 set to @noble/hashes', () => {
    expect(ed).toBe(noble);
    expect(noble.hashes.sha512).toBe(sha512);
  });

  it('makes the synchronous API usable (RFC 8032 test 1)', () => {
    const secret = Uint8Array.from(Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex'));
    const publicKey = ed.getPublicKey(secret);
    expect(Buffer.from(publicKey).toString('hex')).toBe('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
    const sig = ed.sign(new Uint8Array(0), secret);
    expect(ed.verify(sig, new Uint8Array(0), publicKey)).toBe(true);
  });
});
