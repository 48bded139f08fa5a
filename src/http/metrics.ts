/** GET /metrics: Prometheus text format from this app's own prom-client registry. */
import type { FastifyPluginAsync } from 'fastify';
import type { GatewayMetrics } from '../metrics.js';

export const metricsRoutes: FastifyPluginAsync<{ metrics: GatewayMetrics }> = async (app, { metrics }) => {
  app.get('/metrics', async (_req, reply) => {
    const body = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(body);
  });
};
