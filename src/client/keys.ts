/**
 * Ed25519 keys for agents: generation, raw and JWK import/export, did:key, and frame signing and
 * strict verification (docs/protocol.md §2–§3).
 *
 * Browser-safe: @noble/ed25519 with @noble/hashes' SHA-512 (synchronous, no WebCrypto needed),
 * @scure/base for base64url. Nothing here imports a `node:` module.
 */
import { base64urlnopad } from '@scure/base';
import { signedBytes } from '../protocol/canonical.js';
import { SIGNATURE_PATTERN } from '../protocol/frames.js';
import { didFromPublicKey, publicKeyFromDid } from '../protocol/did-key.js';
// @noble/ed25519 with its SHA-512 set (a process-wide setting: see ./ed25519.ts).
import { ed } from './ed25519.js';

/** An agent's identity: its Ed25519 key pair and the did:key derived from the public key. */
export interface KeyPair {
  /** The 32-byte Ed25519 secret key (RFC 8032 seed). Keep it secret. */
  readonly secretKey: Uint8Array;
  /** The 32-byte Ed25519 public key. */
  readonly publicKey: Uint8Array;
  /** `did:key:z6Mk…` of the public key; the agent's id on the gateway. */
  readonly did: string;
}

/** An Ed25519 private key as a JWK (RFC 8037): `x` is the public key, `d` the secret key, both base64url. */
export interface Ed25519PrivateJwk {
  kty: 'OKP';
  crv: 'Ed25519';
  x: string;
  d: string;
}

/** Encodes bytes as base64url without padding. */
export function toBase64url(bytes: Uint8Array): string {
  return base64urlnopad.encode(bytes);
}

/** Decodes base64url without padding; throws on anything else. */
export function fromBase64url(text: string): Uint8Array {
  return base64urlnopad.decode(text);
}

/** Generates a fresh key pair from a cryptographically secure random source. */
export function generateKeyPair(): KeyPair {
  return importRawKey(ed.utils.randomSecretKey());
}

/**
 * Builds the key pair of a 32-byte Ed25519 secret key (the raw form written by `aiconexus keygen`).
 * The bytes are copied.
 * @example importRawKey(fromBase64url(keyFile.secretKey)).did
 */
export function importRawKey(secretKey: Uint8Array): KeyPair {
  if (!(secretKey instanceof Uint8Array) || secretKey.length !== 32) {
    throw new TypeError('Ed25519 secret key must be 32 bytes');
  }
  const secret = Uint8Array.from(secretKey);
  const publicKey = ed.getPublicKey(secret);
  return Object.freeze({ secretKey: secret, publicKey, did: didFromPublicKey(publicKey) });
}

/** Returns a copy of the 32-byte secret key. */
export function exportRawKey(key: KeyPair): Uint8Array {
  return Uint8Array.from(key.secretKey);
}

/** Exports the key pair as an OKP/Ed25519 private JWK (`d` and `x`, base64url without padding). */
export function exportJwk(key: KeyPair): Ed25519PrivateJwk {
  return { kty: 'OKP', crv: 'Ed25519', x: toBase64url(key.publicKey), d: toBase64url(key.secretKey) };
}

/**
 * Imports an OKP/Ed25519 private JWK. Throws a TypeError when it is not one, when `d` is not 32
 * bytes, or when `x` is present and is not the public key of `d`.
 */
export function importJwk(jwk: unknown): KeyPair {
  if (typeof jwk !== 'object' || jwk === null) throw new TypeError('JWK must be an object');
  const { kty, crv, d, x } = jwk as Record<string, unknown>;
  if (kty !== 'OKP' || crv !== 'Ed25519') throw new TypeError('JWK must have kty "OKP" and crv "Ed25519"');
  if (typeof d !== 'string') throw new TypeError('JWK has no private key "d"');
  const secret = decodeKeyBytes(d, 'd');
  const key = importRawKey(secret);
  if (x !== undefined) {
    if (typeof x !== 'string' || !bytesEqual(decodeKeyBytes(x, 'x'), key.publicKey)) {
      throw new TypeError('JWK "x" is not the public key of "d"');
    }
  }
  return key;
}

/** The did:key of a 32-byte public key or of a key pair. */
export function didFromKey(key: Uint8Array | Pick<KeyPair, 'publicKey'>): string {
  return didFromPublicKey(key instanceof Uint8Array ? key : key.publicKey);
}

/**
 * Signs a frame: `sig` = Ed25519 over the JCS canonical JSON of the frame without `sig`
 * (docs/protocol.md §2–§3). Returns a new object; any `sig` already present is replaced.
 */
export function signFrame<T extends Record<string, unknown>>(frame: T, secretKey: Uint8Array): Omit<T, 'sig'> & { sig: string } {
  const { sig: _old, ...unsigned } = frame;
  const sig = toBase64url(ed.sign(signedBytes(unsigned), secretKey));
  return { ...unsigned, sig };
}

/**
 * Verifies a frame's `sig` against the key of `did`, strictly (RFC 8032 with zip215 = false):
 * non-canonical keys and R, S ≥ L and small-order keys are rejected, and `sig` must be exactly
 * 86 base64url characters. Returns false (never throws) for anything that does not verify.
 * @example verifyFrame(frame, frame.from)
 */
export function verifyFrame(frame: Record<string, unknown>, did: string): boolean {
  const sig = frame.sig;
  if (typeof sig !== 'string' || !SIGNATURE_PATTERN.test(sig)) return false;
  const publicKey = publicKeyFromDid(did);
  if (!publicKey) return false;
  try {
    return ed.verify(fromBase64url(sig), signedBytes(frame), publicKey, { zip215: false });
  } catch {
    return false;
  }
}

/** `count` cryptographically secure random bytes. */
export function randomBytes(count: number): Uint8Array {
  return ed.etc.randomBytes(count);
}

function decodeKeyBytes(text: string, field: string): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = fromBase64url(text);
  } catch {
    throw new TypeError(`JWK "${field}" is not base64url`);
  }
  if (bytes.length !== 32) throw new TypeError(`JWK "${field}" must be 32 bytes`);
  return bytes;
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] as number) ^ (b[i] as number);
  return diff === 0;
}
