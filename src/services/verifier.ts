/**
 * The `verifier` service: the node's signature verification pool (Ed25519 on the event loop when
 * it has time, else in VERIFY_THREADS worker threads), stopped when the app closes. A named
 * plugin (fastify-plugin), so services that need it declare the dependency.
 */
import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '../config.js';
import { VerifyPool } from '../identity/verify-pool.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Signature verification, shared by every connection of this app. */
    verifier: VerifyPool;
  }
}

export interface VerifierOptions {
  config: Pick<Config, 'verifyThreads' | 'verifyInlineMaxLoad'>;
}

const verifier: FastifyPluginAsync<VerifierOptions> = async (app, { config }) => {
  const pool = new VerifyPool({
    threads: config.verifyThreads,
    inlineBelowUtilization: config.verifyInlineMaxLoad,
    onWorkerError: (err) => app.log.error({ err }, 'verification worker failed; replacing it'),
    onCallbackError: (err) => app.log.error({ err }, 'handling a verification verdict failed'),
  });
  app.decorate('verifier', pool);
  app.addHook('onClose', async () => pool.close());
};

export const verifierService = fp(verifier, { name: 'verifier', fastify: '5.x' });
