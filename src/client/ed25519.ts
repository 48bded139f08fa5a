/**
 * The one place the client SDK configures @noble/ed25519, and the module the SDK takes it from.
 *
 * @noble/ed25519 v3 has no synchronous SHA-512 of its own: its synchronous API (`sign`,
 * `verify`, `getPublicKey`) needs `ed.hashes.sha512` set. That setting is module state of
 * @noble/ed25519, so it is global to the process (or the browser bundle): importing this module
 * sets it, to @noble/hashes' SHA-512, for every user of the same @noble/ed25519 instance. Any
 * correct SHA-512 gives the same results, so an application that sets its own is not affected,
 * except that the last assignment wins. Nothing else in src/ touches `ed.hashes` or `ed.etc`.
 */
import * as ed from '@noble/ed25519';
import { sha512 } from '@noble/hashes/sha2.js';

ed.hashes.sha512 = sha512;

export { ed };
