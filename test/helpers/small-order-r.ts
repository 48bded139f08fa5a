/**
 * A signature whose R is the identity point (encoded 01 00 … 00): S = k·a mod L with
 * k = H(R ‖ A ‖ M), so [S]B = [k]A = R + [k]A and the verification equation holds. Only the key's
 * owner can make one; the gateway refuses it (docs/protocol.md §3). @noble/ed25519 (strict) and
 * node:crypto on Node 22 accept it; libsodium and node:crypto on Node 24+ refuse it.
 */
import * as ed from '@noble/ed25519';
import { sha512 } from '@noble/hashes/sha2.js';

ed.hashes.sha512 = sha512;

const L = 2n ** 252n + 27742317777372353535851937790883648493n;
const leToBigint = (b: Uint8Array) => b.reduceRight((acc, byte) => (acc << 8n) | BigInt(byte), 0n);
const bigintToLe = (n: bigint) => Uint8Array.from({ length: 32 }, (_, i) => Number((n >> BigInt(8 * i)) & 0xffn));

export function identityRSignature(secretKey: Uint8Array, message: Uint8Array): Uint8Array {
  const { scalar, pointBytes } = ed.utils.getExtendedPublicKey(secretKey);
  const R = bigintToLe(1n);
  const k = leToBigint(sha512(Uint8Array.from([...R, ...pointBytes, ...message]))) % L;
  return Uint8Array.from([...R, ...bigintToLe((k * scalar) % L)]);
}
