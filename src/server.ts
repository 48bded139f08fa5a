/**
 * Process entry: load config → build the app → listen → close gracefully on SIGTERM/SIGINT.
 * With GATEWAY_WORKERS > 1 this process becomes a supervisor of that many workers (node:cluster)
 * that share the port and route to each other through Redis (see src/workers.ts).
 */
import cluster from 'node:cluster';
import closeWithGrace from 'close-with-grace';
import { buildApp } from './app.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { CLUSTER_READY_LOG_WAIT_MS, SHUTDOWN_GRACE_MS } from './constants.js';
import { IdleCollector } from './idle-collect.js';
import { applyRuntimeV8Flags, missingNodeFlags } from './node-flags.js';
import { superviseWorkers } from './workers.js';

// Before any load (and in each GATEWAY_WORKERS worker, which runs this file too).
applyRuntimeV8Flags(process.execArgv, process.env.NODE_OPTIONS);

let config: Config;
try {
  config = loadConfig(process.env);
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`aiconexus-gateway: ${err.message}\nSee .env.gateway.example for every variable.\n`);
    process.exit(1);
  }
  throw err;
}

if (config.workers > 1 && cluster.isPrimary) {
  superviseWorkers(config, SHUTDOWN_GRACE_MS);
} else {
  await serve(config);
}

async function serve(config: Config): Promise<void> {
  const app = await buildApp(config);
  const missing = missingNodeFlags(process.execArgv, process.env.NODE_OPTIONS);
  if (missing.length > 0) {
    app.log.warn(
      { missing },
      `node was started without ${missing.join(' ')}: under load the p99 latency is higher (docs/operations.md, "Node flags"); start with npm start, the Docker image, or node ${missing.join(' ')} dist/server.js`,
    );
  }
  // After a burst, one full collection once the loop is quiet (the memory a burst leaves).
  const idleCollect = new IdleCollector({
    received: () => app.hub.inbound.bytes,
    onCollect: (before, ms) => {
      app.hub.metrics.idleCollections.inc();
      app.log.debug({ allocatedMB: Math.round(before / 1e5) / 10, ms: Math.round(ms) }, 'idle collection');
    },
  }).start();

  closeWithGrace({ delay: SHUTDOWN_GRACE_MS }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'fatal error, shutting down');
    else app.log.info({ signal }, 'shutting down: draining connections');
    // /health and /ready answer 503 from here on; preClose then closes every agent with 1001.
    app.hub.beginDrain();
    idleCollect.stop();
    await app.close();
    app.log.info('shutdown complete');
  });

  try {
    await app.listen({ host: config.host, port: config.port });
  } catch (err) {
    // One line on stderr, like a configuration error: what failed and what to change.
    process.stderr.write(`aiconexus-gateway: cannot listen on ${config.host}:${config.port}: ${listenHint(err as NodeJS.ErrnoException)}\n`);
    process.exit(1);
  }
  // The bound port: with GATEWAY_PORT=0 the kernel's choice, not 0.
  const address = app.server.address();
  const url = `ws://${config.host}:${typeof address === 'object' && address ? address.port : config.port}/ws`;
  const cluster = app.hub.cluster;
  if (cluster && !(await cluster.whenReady(CLUSTER_READY_LOG_WAIT_MS))) {
    // Not "ready" without a qualifier: the node serves, but not as a member of the cluster yet.
    app.log.warn(
      { url, redis: cluster.redisStatus },
      'gateway ready, serving this node\'s agents only: Redis is not reachable yet (frames to other nodes get UNAVAILABLE, /ready answers 503); "cluster bus ready" follows when it connects',
    );
  } else {
    app.log.info({ url }, 'gateway ready');
  }
}

/** What a listen failure means for the operator. */
function listenHint(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'EADDRINUSE':
      return 'the port is in use (set GATEWAY_PORT to a free one)';
    case 'EACCES':
      return 'permission denied (ports below 1024 need privileges: set GATEWAY_PORT above 1023)';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'GATEWAY_HOST does not resolve to an address of this machine (use 0.0.0.0, 127.0.0.1 or an interface address)';
    case 'EADDRNOTAVAIL':
      return 'GATEWAY_HOST is not an address of this machine (use 0.0.0.0, 127.0.0.1 or an interface address)';
    default:
      return err.message;
  }
}
