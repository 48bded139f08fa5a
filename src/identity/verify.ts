/**
 * Ed25519 verification for the gateway (PROTOCOL.md §2).
 *
 * Signatures are verified with node:crypto (OpenSSL): ~12× faster here than @noble/ed25519, and
 * each agent's KeyObject is built once at REGISTER and kept for the session. OpenSSL accepts
 * small-order public keys, so keys are vetted once with @noble/ed25519's strict decoder (canonical
 * y < p, point on the curve) and its small-order test before a KeyObject is made.
 */
import { createPublicKey, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { Point } from '@noble/ed25519';
import { publicKeyFromDid } from './did-key.js';

/** A registered agent's verification key, built once per session. */
export interface AgentKey {
  readonly did: string;
  readonly publicKey: Uint8Array;
  readonly keyObject: KeyObject;
}

/**
 * Builds the verification key for a did:key, or returns null when the DID is not an Ed25519
 * did:key or its key is non-canonical, not a curve point, or of small order.
 */
export function importAgentKey(did: string): AgentKey | null {
  const publicKey = publicKeyFromDid(did);
  if (!publicKey || !isAcceptablePublicKey(publicKey)) return null;
  const keyObject = createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKey).toString('base64url') },
    format: 'jwk',
  });
  return { did, publicKey, keyObject };
}

/** True when the 32 bytes are a canonical encoding of a curve point that is not of small order. */
export function isAcceptablePublicKey(publicKey: Uint8Array): boolean {
  try {
    // zip215 = false: RFC 8032 strict decoding, which rejects y >= p.
    const point = Point.fromBytes(publicKey, false);
    return !point.isSmallOrder();
  } catch {
    return false;
  }
}

/** 86 base64url characters; the last carries 2 bits, so only A, Q, g, w are canonical. */
const SIG_PATTERN = /^[A-Za-z0-9_-]{85}[AQgw]$/;

/**
 * Decodes an 86-character base64url signature to 64 bytes, or null when it is malformed or its
 * scalar S is not below the group order L (RFC 8032 §5.1.7, rejects malleable signatures).
 */
export function decodeSignature(sig: string): Buffer | null {
  if (!SIG_PATTERN.test(sig)) return null;
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

/**
 * Verifies on the libuv threadpool (the callback form of crypto.verify), so verification uses
 * every core while the event loop parses and routes. The callback always runs asynchronously.
 */
export function verifySignatureAsync(
  key: AgentKey,
  message: Uint8Array,
  signature: Uint8Array,
  done: (ok: boolean) => void,
): void {
  try {
    cryptoVerify(null, message, key.keyObject, signature, (err, ok) => done(!err && ok));
  } catch {
    queueMicrotask(() => done(false));
  }
}

/** Verifies a 64-byte signature over `message` with the agent's cached key. */
export function verifySignature(key: AgentKey, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    return cryptoVerify(null, message, key.keyObject, signature);
  } catch {
    return false;
  }
}
