/** GET /metrics: Prometheus text format from this app's own prom-client registry. */
import type { FastifyPluginAsync } from 'fastify';
import { RATE_LIMIT_WINDOW_MS } from '../constants.js';
import { httpErrorTable } from '../errors.js';
import type { GatewayMetrics } from '../metrics.js';
import { errorReply } from './schemas.js';

/** Documentation only: a string body with a text content type is sent as is, never serialized. */
const metricsSchema = {
  summary: 'Prometheus metrics',
  description: 'Prometheus text exposition format (`aiconexus_*` series, plus Node process metrics unless disabled).',
  tags: ['operations'],
  response: {
    200: { description: 'Metrics in Prometheus text format.', content: { 'text/plain': { schema: { type: 'string' } } } },
    [httpErrorTable.rate_limited.status]: errorReply('More than HTTP_RATE_LIMIT requests this minute from this address (`error: "rate_limited"`, `Retry-After`).'),
  },
};

export const metricsRoutes: FastifyPluginAsync<{ metrics: GatewayMetrics; rateLimit: number }> = async (app, { metrics, rateLimit }) => {
  // Per client address (HTTP_RATE_LIMIT per minute): rendering every series is not free.
  const config = { rateLimit: { max: rateLimit, timeWindow: RATE_LIMIT_WINDOW_MS } };
  app.get('/metrics', { schema: metricsSchema, config }, async (_req, reply) => {
    const body = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(body);
  });
};
