/**
 * The `hub` service: the node's connection state (sessions, registry, presence, routing, the
 * heartbeat and sweeper timers; in cluster mode Redis), started when the app is ready and shut
 * down when it closes. Depends on the `verifier` service.
 */
import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import { Hub, type HubOptions } from '../ws/hub.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The node's sessions, registry, presence and routing state. */
    hub: Hub;
  }
}

export type HubServiceOptions = Omit<HubOptions, 'log' | 'verifier'>;

const hub: FastifyPluginAsync<HubServiceOptions> = async (app, opts) => {
  const instance = new Hub({ ...opts, log: app.log, verifier: app.verifier });
  app.decorate('hub', instance);
  app.addHook('onReady', async () => instance.start());
  app.addHook('onClose', async () => instance.shutdown());
};

export const hubService = fp(hub, { name: 'hub', dependencies: ['verifier'], fastify: '5.x' });
