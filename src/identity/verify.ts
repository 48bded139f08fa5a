/**
 * Ed25519 keys and signatures for the gateway (docs/protocol.md §2–§3).
 *
 * Signatures are verified with libsodium where it loads, else node:crypto (OpenSSL), both many
 * times faster than @noble/ed25519 (ed25519.ts decides which, with the same verdicts). On the hot
 * path that happens in verify-pool.ts, which takes the raw 32-byte key; the synchronous
 * {@link verifySignature} (OpenSSL) is for callers off the hot path. OpenSSL accepts small-order
 * public keys, so keys are vetted once (canonical y < p, not a small-order point) at REGISTER.
 */
import { createPublicKey, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { SIGNATURE_PATTERN } from '../protocol/frames.js';
import { publicKeyFromDid } from '../protocol/did-key.js';

/** A registered agent's verification key, vetted once per session. */
export interface AgentKey {
  readonly did: string;
  /** The raw 32-byte Ed25519 public key (what the verification workers take). */
  readonly publicKey: Uint8Array;
  /** The node:crypto key for {@link verifySignature}; built on first use (~20 µs). */
  readonly keyObject: KeyObject;
}

/**
 * Vets the key of a did:key, or returns null when the DID is not an Ed25519 did:key or its key
 * is non-canonical, not a curve point, or of small order. Only byte checks run here: the
 * KeyObject is built lazily, since the hot path verifies in workers from the raw bytes.
 */
export function importAgentKey(did: string): AgentKey | null {
  const publicKey = publicKeyFromDid(did);
  if (!publicKey || !isAcceptablePublicKey(publicKey)) return null;
  let keyObject: KeyObject | undefined;
  return {
    did,
    publicKey,
    get keyObject(): KeyObject {
      return (keyObject ??= ed25519KeyObject(publicKey));
    },
  };
}

/**
 * The node:crypto KeyObject of a raw 32-byte Ed25519 public key (through a JWK: node:crypto has
 * no raw import for it). ~20 µs; does not vet the key (see {@link isAcceptablePublicKey}).
 */
export function ed25519KeyObject(publicKey: Uint8Array): KeyObject {
  return createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKey).toString('base64url') },
    format: 'jwk',
  });
}

/**
 * The y-coordinates (little-endian, sign bit cleared) of Ed25519's 8 small-order points, and the
 * two non-canonical encodings y = p and y = p + 1 that fit in 255 bits — libsodium's blocklist
 * (ge25519_has_small_order). Comparing with the sign bit masked also covers every x-sign variant.
 * test/unit/verify.test.ts derives the points independently with @noble/ed25519.
 */
export const SMALL_ORDER_Y_HEX = [
  '0000000000000000000000000000000000000000000000000000000000000000', // order 4 (x = ±sqrt(-1))
  '0100000000000000000000000000000000000000000000000000000000000000', // identity (order 1)
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05', // order 8
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a', // order 8
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // p − 1 (order 2)
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // p (≡ 0, non-canonical)
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // p + 1 (≡ 1, non-canonical)
] as const;
const SMALL_ORDER_Y = SMALL_ORDER_Y_HEX.map((h) => Buffer.from(h, 'hex'));

/**
 * True when the 32 bytes (a public key, or a signature's R) are one of the encodings above, with
 * either sign bit. The gateway refuses such a key at REGISTER and such an R in every signature
 * (ed25519.ts), as libsodium does.
 */
export function hasSmallOrderEncoding(point: Uint8Array): boolean {
  return SMALL_ORDER_Y.some((y) => equalsIgnoringSign(point, y));
}

/**
 * True when the 32 bytes are a canonical encoding (y < p) of a point that is not of small order.
 * Byte comparisons only (about a microsecond): decompressing the point would cost ~190 µs per
 * handshake. A y that is not on the curve passes here but can never verify a signature.
 */
export function isAcceptablePublicKey(publicKey: Uint8Array): boolean {
  if (publicKey.length !== 32) return false;
  if (!isCanonicalY(publicKey)) return false;
  return !hasSmallOrderEncoding(publicKey);
}

/** y (the low 255 bits) < p = 2^255 − 19. */
function isCanonicalY(k: Uint8Array): boolean {
  if (((k[31] as number) & 0x7f) !== 0x7f) return true;
  for (let i = 30; i >= 1; i--) if (k[i] !== 0xff) return true;
  return (k[0] as number) < 0xed;
}

function equalsIgnoringSign(k: Uint8Array, y: Uint8Array): boolean {
  for (let i = 0; i < 31; i++) if (k[i] !== y[i]) return false;
  return ((k[31] as number) & 0x7f) === y[31];
}

/**
 * Decodes an 86-character base64url signature to 64 bytes, or null when it is malformed or its
 * scalar S is not below the group order L (RFC 8032 §5.1.7, rejects malleable signatures).
 */
export function decodeSignature(sig: string): Buffer | null {
  return SIGNATURE_PATTERN.test(sig) ? signatureBytes(sig) : null;
}

/**
 * {@link decodeSignature} for a `sig` a frame schema has already matched against
 * SIGNATURE_PATTERN: the pattern is not run twice per frame (~1 µs each on the bench VM).
 */
export function signatureBytes(sig: string): Buffer | null {
  const bytes = Buffer.from(sig, 'base64url');
  return isScalarCanonical(bytes) ? bytes : null;
}

/** L = 2^252 + 27742317777372353535851937790883648493, little-endian. */
const L = Buffer.from('edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010', 'hex');

/** S (bytes 32..63, little-endian) < L. Most signatures are decided by the top byte alone. */
function isScalarCanonical(sig: Uint8Array): boolean {
  const top = sig[63] as number;
  if (top < 0x10) return true;
  if (top > 0x10) return false;
  for (let i = 31; i >= 0; i--) {
    const s = sig[32 + i] as number;
    const l = L[i] as number;
    if (s !== l) return s < l;
  }
  return false; // S == L
}

/** Verifies a 64-byte signature over `message` with the agent's cached key (OpenSSL; see {@link opensslVerify}). */
export function verifySignature(key: AgentKey, message: Uint8Array, signature: Uint8Array): boolean {
  return opensslVerify(key.keyObject, message, signature);
}

/**
 * OpenSSL's verification with a node:crypto key, refusing a small-order R first, as libsodium
 * does (ed25519.ts: node:crypto accepts one on Node 22). False for anything that does not verify.
 */
export function opensslVerify(keyObject: KeyObject, message: Uint8Array, signature: Uint8Array): boolean {
  if (hasSmallOrderEncoding(signature.subarray(0, 32))) return false;
  try {
    return cryptoVerify(null, message, keyObject, signature);
  } catch {
    return false;
  }
}
