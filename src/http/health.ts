/**
 * GET /health (liveness and a summary) and GET /ready (readiness: 503 while draining).
 */
import type { FastifyPluginAsync } from 'fastify';
import type { Presence } from '../registry/presence.js';

/**
 * What /health and /ready read: the node's state, not the WebSocket layer itself (the Hub
 * provides it).
 */
export interface NodeStatus {
  readonly draining: boolean;
  /** Not draining and, in cluster mode, Redis reachable. */
  readonly ready: boolean;
  readonly config: { readonly gatewayId: string };
  readonly registry: { readonly size: number };
  readonly sessions: { readonly size: number };
  readonly presence: Pick<Presence, 'count'>;
  readonly cluster: { readonly nodeId: string; readonly status: string } | undefined;
  now(): number;
}

export interface HealthRoutesOptions {
  hub: NodeStatus;
  version: string;
  startedAt: number;
}

/** Body of GET /health (200 and, while draining, 503). Listed in the order the route writes it. */
const healthBody = {
  type: 'object',
  properties: {
    status: { type: 'string', enum: ['healthy', 'draining'] },
    connected_agents: { type: 'integer', description: 'Agents registered on this node.' },
    open_connections: { type: 'integer', description: 'Open WebSocket connections, registered or not.' },
    timestamp: { type: 'string', format: 'date-time' },
    gateway_id: { type: 'string', description: 'GATEWAY_ID (the CHALLENGE `gateway` field).' },
    version: { type: 'string', description: 'Gateway package version.' },
    uptime_s: { type: 'integer' },
    mode: { type: 'string', enum: ['single-node', 'cluster'] },
    cluster: {
      type: 'object',
      description: 'Cluster mode only (REDIS_URL set).',
      properties: {
        node_id: { type: 'string' },
        redis: { type: 'string', enum: ['connecting', 'ready', 'unavailable', 'closed'] },
        connected_agents: { type: ['integer', 'null'], description: 'Cluster-wide count; null while Redis is unreachable.' },
      },
      additionalProperties: true,
    },
  },
  required: ['status', 'connected_agents', 'open_connections', 'timestamp', 'gateway_id', 'version', 'uptime_s', 'mode'],
  additionalProperties: true,
} as const;

const readyBody = {
  type: 'object',
  properties: {
    ready: { type: 'boolean' },
    status: { type: 'string', enum: ['ready', 'draining', 'redis_unavailable'] },
  },
  required: ['ready', 'status'],
  additionalProperties: true,
} as const;

const healthSchema = {
  summary: 'Liveness and a summary of this node',
  description: '200 while the process serves (also with Redis away: local routing continues); 503 with `status: "draining"` during shutdown.',
  tags: ['operations'],
  response: {
    200: { ...healthBody, description: 'Serving.' },
    503: { ...healthBody, description: 'Draining (shutting down).' },
  },
};

const readySchema = {
  summary: 'Readiness',
  description: '503 while draining, and in cluster mode while Redis is unreachable.',
  tags: ['operations'],
  response: {
    200: { ...readyBody, description: 'Ready to take agents.' },
    503: { ...readyBody, description: 'Not ready: `draining` or `redis_unavailable`.' },
  },
};

export const healthRoutes: FastifyPluginAsync<HealthRoutesOptions> = async (app, { hub, version, startedAt }) => {
  // Liveness: 200 while the process serves (even with Redis away: local routing continues).
  app.get('/health', { schema: healthSchema }, async (_req, reply) => {
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
  app.get('/ready', { schema: readySchema }, async (_req, reply) => {
    if (hub.draining) return reply.code(503).send({ ready: false, status: 'draining' });
    if (!hub.ready) return reply.code(503).send({ ready: false, status: 'redis_unavailable' });
    return { ready: true, status: 'ready' };
  });
};

/** Cluster part of /health: this node's id, Redis status, and the cluster-wide agent count. */
async function clusterHealth(hub: NodeStatus): Promise<Record<string, unknown>> {
  const cluster = hub.cluster;
  if (!cluster) return {};
  let agents: number | null = null;
  if (cluster.status === 'ready') agents = await hub.presence.count().catch(() => null);
  return { node_id: cluster.nodeId, redis: cluster.status, connected_agents: agents };
}
