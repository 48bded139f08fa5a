/**
 * GET /health (liveness and a summary) and GET /ready (readiness: 503 while draining).
 */
import type { FastifyPluginAsync } from 'fastify';
import type { Hub } from '../ws/hub.js';

export interface HealthRoutesOptions {
  hub: Hub;
  version: string;
  startedAt: number;
}

export const healthRoutes: FastifyPluginAsync<HealthRoutesOptions> = async (app, { hub, version, startedAt }) => {
  app.get('/health', async (_req, reply) => {
    const draining = hub.draining;
    return reply.code(draining ? 503 : 200).send({
      status: draining ? 'draining' : 'healthy',
      connected_agents: hub.registry.size,
      open_connections: hub.sessions.size,
      timestamp: new Date(hub.now()).toISOString(),
      gateway_id: hub.config.gatewayId,
      version,
      uptime_s: Math.floor((hub.now() - startedAt) / 1000),
      mode: 'single-node',
    });
  });

  app.get('/ready', async (_req, reply) => {
    if (hub.draining) return reply.code(503).send({ ready: false, status: 'draining' });
    return { ready: true, status: 'ready' };
  });
};
