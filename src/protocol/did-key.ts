/**
 * did:key ⇄ Ed25519 public key (docs/protocol.md §2): `did:key:z` + base58btc(0xed 0x01 ‖ 32-byte key).
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

/** Default bound of a {@link KnownDids}: 4,096 DIDs of 56 characters, under ~0.5 MB. */
export const MAX_KNOWN_DIDS = 4096;

/**
 * `isDidKey` with a memo of the DIDs it found valid. Every signaling frame names two (`from`,
 * `to`), mostly the same few per connection, and a base58 decode costs ~1.5 µs and ~250 bytes of
 * garbage. Only valid DIDs are kept (a string is valid or not for good, so the memo never changes
 * an answer, only its cost), and the set is emptied when full, so it stays bounded whatever
 * clients send.
 */
export class KnownDids {
  private readonly dids = new Set<string>();

  constructor(private readonly max: number = MAX_KNOWN_DIDS) {}

  /** True when `did` is an Ed25519 did:key (encoding only). */
  isDidKey(did: string): boolean {
    if (this.dids.has(did)) return true;
    if (publicKeyFromDid(did) === null) return false;
    if (this.dids.size >= this.max) this.dids.clear();
    this.dids.add(did);
    return true;
  }

  /** DIDs remembered now. */
  get size(): number {
    return this.dids.size;
  }
}

/**
 * The one per-process memo behind {@link isDidKey}: module-level because the frame schemas
 * (protocol/frames.ts `to`), which are module-level too and shared with the client SDK, call it.
 * Sharing it between apps (or a gateway and clients) in one process is safe: it only caches a
 * pure function, and it is bounded (MAX_KNOWN_DIDS, emptied when full).
 */
const processDids = new KnownDids();

/** True when `did` is an Ed25519 did:key (encoding only); memoised per process ({@link KnownDids}). */
export function isDidKey(did: string): boolean {
  return processDids.isDidKey(did);
}
