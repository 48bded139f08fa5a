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
  // Liveness: 200 while the process serves (even with Redis away: local routing continues).
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
      mode: hub.cluster ? 'cluster' : 'single-node',
      ...(hub.cluster ? { cluster: await clusterHealth(hub) } : {}),
    });
  });

  // Readiness: 503 while draining, and in cluster mode while Redis is unreachable.
  app.get('/ready', async (_req, reply) => {
    if (hub.draining) return reply.code(503).send({ ready: false, status: 'draining' });
    if (!hub.ready) return reply.code(503).send({ ready: false, status: 'redis_unavailable' });
    return { ready: true, status: 'ready' };
  });
};

/** Cluster part of /health: this node's id, Redis status, and the cluster-wide agent count. */
async function clusterHealth(hub: Hub): Promise<Record<string, unknown>> {
  const cluster = hub.cluster;
  if (!cluster) return {};
  let agents: number | null = null;
  if (cluster.status === 'ready') agents = await hub.presence.count().catch(() => null);
  return { node_id: cluster.nodeId, redis: cluster.status, connected_agents: agents };
}
