/**
 * sodium-native (libsodium), loaded once per process where it loads: its Ed25519 verification
 * (ed25519.ts) and its keyed short hash (SipHash-2-4, replay-cache.ts). It ships prebuilt binaries
 * for Linux (glibc), macOS and Windows on x64 and arm64; elsewhere (e.g. Alpine's musl) it does
 * not load and both users fall back to node:crypto.
 */
import { createRequire } from 'node:module';

/** The part of sodium-native the gateway uses. */
export interface Sodium {
  crypto_sign_verify_detached(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean;
  /** SipHash-2-4 of `input` under a 16-byte key, into 8 bytes of `out`. */
  crypto_shorthash(out: Uint8Array, input: Uint8Array, key: Uint8Array): void;
}

const requireCjs = createRequire(import.meta.url);
/** undefined: not tried yet; null: not available here. */
let sodium: { module: Sodium; path: string } | null | undefined;

/** sodium-native and where it was loaded from (the verification threads load it too), or null. */
export function loadSodium(): { module: Sodium; path: string } | null {
  if (sodium === undefined) {
    try {
      const path = requireCjs.resolve('sodium-native');
      sodium = { module: requireCjs(path) as Sodium, path };
    } catch {
      sodium = null;
    }
  }
  return sodium;
}
