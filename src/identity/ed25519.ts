/**
 * Which Ed25519 implementation verifies the gateway's signatures: libsodium through sodium-native
 * when it loads on this platform, else node:crypto (OpenSSL). SIGNATURE_VERIFIER picks one.
 *
 * Why libsodium: verification is ~70 % of the gateway's CPU per signaling frame, and OpenSSL's
 * Ed25519 is the portable reference code. One verification of a 390-byte frame with a cached key,
 * one core, same process: OpenSSL 132–134 µs, libsodium 66–67 µs (2.0×, Node 20); `npm run bench
 * -- --only ceiling` on Node 22: 7,214 against 15,759 verifications/s (2.2×). sodium-native loads
 * and verifies in worker threads on Node 22, 24 and 26 (test/unit/ed25519.test.ts runs on each).
 *
 * **The same verdicts from both.** Both check the cofactorless equation by comparing encodings
 * (R == encode([S]B − [k]A)). libsodium also refuses S ≥ L, a non-canonical or small-order A, and
 * an R whose encoding is a small-order one ({@link hasSmallOrderEncoding}). The gateway refuses
 * S ≥ L before verifying and vets A once, at REGISTER, by the same list (verify.ts), so only a
 * small-order R could separate them: a signer who knows its secret scalar a can make one
 * (R = identity, S = k·a mod L). An honest signer never does (R = [r]B for a hash-derived r).
 * libsodium refuses it, and so does node:crypto on Node 24 and 26, but node:crypto on Node 22
 * accepts it (same OpenSSL 3.5.8). The gateway refuses it everywhere: the OpenSSL path checks R's
 * encoding first (docs/protocol.md §3), which costs nothing for other signatures.
 */
import type { KeyObject } from 'node:crypto';
import type { SignatureVerifierChoice } from '../config.js';
import { loadSodium } from './sodium.js';
import { ed25519KeyObject, opensslVerify } from './verify.js';

/** The implementation in use. */
export type Ed25519Backend = 'libsodium' | 'openssl';

export interface Ed25519Verifier {
  readonly backend: Ed25519Backend;
  /** Where sodium-native was loaded from (the verification threads load it too); null for OpenSSL. */
  readonly sodiumPath: string | null;
  /**
   * Verifies a 64-byte signature over `message` with a raw 32-byte public key (vetted: see
   * isAcceptablePublicKey). False for anything that does not verify, never throws.
   */
  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean;
}

/**
 * The verifier SIGNATURE_VERIFIER asks for: `auto` is libsodium when it loads, else OpenSSL;
 * `libsodium` throws when it does not load; `openssl` never uses libsodium.
 */
export function ed25519Verifier(choice: SignatureVerifierChoice = 'auto'): Ed25519Verifier {
  const loaded = choice === 'openssl' ? null : loadSodium();
  if (loaded === null) {
    if (choice === 'libsodium') throw new Error('SIGNATURE_VERIFIER=libsodium, but sodium-native does not load on this platform; use auto or openssl');
    return { backend: 'openssl', sodiumPath: null, verify: cachedKeyOpensslVerify() };
  }
  const lib = loaded.module;
  return {
    backend: 'libsodium',
    sodiumPath: loaded.path,
    verify(publicKey, message, signature) {
      try {
        return lib.crypto_sign_verify_detached(signature, message, publicKey);
      } catch {
        return false; // wrong lengths: never verifies
      }
    },
  };
}

/** OpenSSL's verification (verify.ts), with the KeyObject of each public-key array cached while the array lives. */
function cachedKeyOpensslVerify(): Ed25519Verifier['verify'] {
  const keys = new WeakMap<Uint8Array, KeyObject>();
  return (publicKey, message, signature) => {
    let key = keys.get(publicKey);
    if (key === undefined) {
      try {
        key = ed25519KeyObject(publicKey);
      } catch {
        return false; // not a key node:crypto can import: never verifies
      }
      keys.set(publicKey, key);
    }
    return opensslVerify(key, message, signature);
  };
}
