/**
 * did:key ⇄ Ed25519 public key (PROTOCOL.md §2): `did:key:z` + base58btc(0xed 0x01 ‖ 32-byte key).
 *
 * Browser-safe (no node: imports) so the client library shares it.
 */
import { base58 } from '@scure/base';

const PREFIX = 'did:key:z';
/** Multicodec varint for ed25519-pub. */
const ED25519_MULTICODEC = [0xed, 0x01] as const;
/** 47 base58 characters encode 34 bytes (2 multicodec + 32 key) for every Ed25519 key. */
const DID_LENGTH = PREFIX.length + 47;

/** Encodes a 32-byte Ed25519 public key as a did:key. */
export function didFromPublicKey(publicKey: Uint8Array): string {
  if (publicKey.length !== 32) throw new TypeError('Ed25519 public key must be 32 bytes');
  const bytes = new Uint8Array(34);
  bytes[0] = ED25519_MULTICODEC[0];
  bytes[1] = ED25519_MULTICODEC[1];
  bytes.set(publicKey, 2);
  return PREFIX + base58.encode(bytes);
}

/**
 * Decodes a did:key to its 32-byte Ed25519 public key, or returns null when the string is not an
 * Ed25519 did:key (other multicodec, wrong length, bad base58, other method or multibase).
 * This checks the encoding only; whether the key is a usable curve point is checked by verify.ts.
 */
export function publicKeyFromDid(did: string): Uint8Array | null {
  if (did.length !== DID_LENGTH || !did.startsWith(PREFIX)) return null;
  let bytes: Uint8Array;
  try {
    bytes = base58.decode(did.slice(PREFIX.length));
  } catch {
    return null;
  }
  if (bytes.length !== 34 || bytes[0] !== ED25519_MULTICODEC[0] || bytes[1] !== ED25519_MULTICODEC[1]) return null;
  return bytes.slice(2);
}

/**
 * DIDs that passed isDidKey recently. Every signaling frame names two (`from`, `to`), mostly the
 * same few per connection, and a base58 decode costs ~1.5 µs and ~250 bytes of garbage. Only
 * valid DIDs are kept (a string is valid or not for good), and the set is emptied when full, so
 * it stays under ~0.5 MB whatever clients send.
 */
const knownDids = new Set<string>();
const MAX_KNOWN_DIDS = 4096;

/** True when `did` is an Ed25519 did:key (encoding only). */
export function isDidKey(did: string): boolean {
  if (knownDids.has(did)) return true;
  if (publicKeyFromDid(did) === null) return false;
  if (knownDids.size >= MAX_KNOWN_DIDS) knownDids.clear();
  knownDids.add(did);
  return true;
}
