/**
 * buildApp(config) → a Fastify instance with every route registered. It never listens: the caller
 * (server.ts, or a test on port 0) does. Nothing is module-global, so many apps can share a process.
 */
import { readFileSync } from 'node:fs';
import rateLimit from '@fastify/rate-limit';
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { Config } from './config.js';
import { MAX_HEADERS_CHECK_INTERVAL_MS, MAX_KEEP_ALIVE_TIMEOUT_MS } from './constants.js';
import { agentsRoutes } from './http/agents.js';
import { apiDocs } from './http/docs.js';
import { healthRoutes } from './http/health.js';
import { sendHttpError } from './http/schemas.js';
import { metricsRoutes } from './http/metrics.js';
import { loggerOptions } from './logger.js';
import { MemoryRegistry } from './registry/memory-registry.js';
import { SocketLimit } from './socket-limit.js';
import type { AgentRegistry } from './registry/agent-registry.js';
import { hubService } from './services/hub.js';
import { verifierService } from './services/verifier.js';
import { wsRoutes } from './ws/plugin.js';

export { loadConfig, configWith, ConfigError, type Config } from './config.js';
export { CloseCode, errorTable, type ErrorCode } from './errors.js';

export interface BuildOptions {
  /** Logger options or instance; defaults to pino JSON at the configured LOG_LEVEL. */
  logger?: FastifyServerOptions['logger'];
  /** Clock in ms since epoch (tests inject one). */
  now?: () => number;
  /** Registry implementation; the in-memory registry by default. */
  registry?: AgentRegistry;
  /** Collect Node process metrics (default true). */
  processMetrics?: boolean;
}

const VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/** Builds the gateway app for `config`. Start it with `app.listen({ port, host })`. */
export async function buildApp(config: Config, opts: BuildOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: opts.logger ?? loggerOptions(config),
    // No per-request info lines: anyone can send requests, with URLs of their choosing, faster
    // than logs can be kept. A debug line per request (onResponse below); handler errors stay at
    // error level, and /ws upgrades are logged by the session.
    logController: new LogController({ disableRequestLogging: true }),
    forceCloseConnections: true,
    // Slow or silent clients cannot hold sockets: HTTP_IDLE_TIMEOUT without a byte either way
    // (before or between requests; ws clears it on upgraded sockets), HTTP_HEADERS_TIMEOUT to
    // send a request's line and headers (slowloris, upgrades that never complete), checked
    // every second rather than Node's default 30 s.
    connectionTimeout: config.httpIdleTimeoutMs,
    keepAliveTimeout: Math.min(config.httpIdleTimeoutMs, MAX_KEEP_ALIVE_TIMEOUT_MS),
    http: {
      headersTimeout: config.httpHeadersTimeoutMs,
      connectionsCheckingInterval: Math.min(MAX_HEADERS_CHECK_INTERVAL_MS, config.httpHeadersTimeoutMs),
    },
    // While closing, /health and /ready answer from their routes (503 with status "draining")
    // instead of Fastify's generic 503.
    return503OnClosing: false,
    // Behind a reverse proxy, take the client address from X-Forwarded-For (TRUST_PROXY=true).
    trustProxy: config.trustProxy,
  });
  const now = opts.now ?? Date.now;
  const registry = opts.registry ?? new MemoryRegistry();
  // Cluster mode: load the cluster module (and ioredis) only when REDIS_URL is set.
  const clusterModule = config.redisUrl ? await import('./cluster/cluster.js') : undefined;
  // Shared services: named plugins with declared dependencies (src/services/).
  await app.register(verifierService, { config });
  await app.register(hubService, {
    config,
    registry,
    now,
    processMetrics: opts.processMetrics ?? true,
    ...(clusterModule
      ? { cluster: { create: (o) => new clusterModule.Cluster(o), newNodeId: clusterModule.newNodeId } }
      : {}),
  });
  const hub = app.hub;

  new SocketLimit(config.maxSocketsPerIp, () => hub.metrics.socketsRefused.inc()).attach(app.server);
  app.addHook('onResponse', async (req, reply) => {
    if (req.url.startsWith('/health') || req.url.startsWith('/ready')) return;
    req.log.debug({ method: req.method, url: req.url.slice(0, 200), status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request');
  });
  // Every HTTP error has the documented `{ error, message }` shape (src/errors.ts httpErrorTable),
  // the framework's own included: unknown routes, bodies, rate limits, bugs.
  app.setNotFoundHandler((req, reply) => sendHttpError(reply, 'not_found', `no route ${req.method} ${req.url.split('?')[0]?.slice(0, 100) ?? ''}`));
  app.setErrorHandler((err: { statusCode?: number; message?: string }, req, reply) => {
    const status = err.statusCode ?? 500;
    if (status >= 500) {
      req.log.error({ err }, 'request failed');
      return sendHttpError(reply, 'internal');
    }
    if (status === 429) return sendHttpError(reply, 'rate_limited', err.message);
    if (status === 404) return sendHttpError(reply, 'not_found');
    // Any other client error (e.g. a request body that is not valid JSON): 400 with the reason.
    return sendHttpError(reply, 'bad_request', err.message);
  });
  // Per-client-address rate limits: routes opt in with `config.rateLimit` (/ws upgrades:
  // CONNECT_RATE_LIMIT; /agents and /metrics: HTTP_RATE_LIMIT). The error it throws goes through
  // the error handler above (429 rate_limited, with Retry-After).
  await app.register(rateLimit, { global: false });

  const startedAt = now();
  // OpenAPI + UI at /docs only when API_DOCS=true; first, so it sees every route registered below.
  if (config.apiDocs) await app.register(apiDocs, { version: VERSION });
  await app.register(healthRoutes, { hub, version: VERSION, startedAt });
  await app.register(agentsRoutes, { presence: hub.presence, entries: hub.entries, config });
  await app.register(metricsRoutes, { metrics: hub.metrics, rateLimit: config.httpRateLimit });
  await app.register(wsRoutes, { hub });

  return app;
}
