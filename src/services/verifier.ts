/**
 * The `verifier` service: the node's signature verification pool (Ed25519 on the event loop when
 * it has time, else in VERIFY_THREADS worker threads), stopped when the app closes. A named
 * plugin (fastify-plugin), so services that need it declare the dependency.
 */
import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '../config.js';
import { ed25519Verifier } from '../identity/ed25519.js';
import { VerifyPool } from '../identity/verify-pool.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Signature verification, shared by every connection of this app. */
    verifier: VerifyPool;
  }
}

export interface VerifierOptions {
  config: Pick<Config, 'verifyThreads' | 'verifyInlineMaxLoad' | 'signatureVerifier'>;
}

const verifier: FastifyPluginAsync<VerifierOptions> = async (app, { config }) => {
  // Throws for SIGNATURE_VERIFIER=libsodium where sodium-native does not load: the app does not start.
  const ed25519 = ed25519Verifier(config.signatureVerifier);
  if (ed25519.backend === 'openssl' && config.signatureVerifier === 'auto') {
    app.log.warn('sodium-native does not load on this platform: signatures are verified with OpenSSL, at about half the speed');
  }
  const pool = new VerifyPool({
    threads: config.verifyThreads,
    inlineBelowUtilization: config.verifyInlineMaxLoad,
    verifier: ed25519,
    onWorkerError: (err) => app.log.error({ err }, 'verification worker failed; replacing it'),
    onCallbackError: (err) => app.log.error({ err }, 'handling a verification verdict failed'),
  });
  app.decorate('verifier', pool);
  app.addHook('onClose', async () => pool.close());
};

export const verifierService = fp(verifier, { name: 'verifier', fastify: '5.x' });
