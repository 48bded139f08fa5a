/**
 * The gateway under test, in its own process: buildApp(configWith({...})) listening on 127.0.0.1,
 * port 0. Reports `{type:'ready', port}` over IPC, answers `stats` (process.memoryUsage, CPU,
 * event-loop use; optionally after a full GC, which needs --expose-gc), `read-times` (when it read
 * given load-generator frames: bench/lib/read-log.ts, hooked onto each session below) and `stop`.
 *
 * Bench-only settings, and why:
 * - RATE_LIMIT / RATE_BURST 1,000,000: the per-agent limiter must not drop load-generator frames
 *   (the limiter still runs on every frame, so its cost is measured).
 * - MAX_AGENTS 100,000, MAX_CONNECTIONS_PER_IP 100,000, CONNECT_RATE_LIMIT 10,000,000/min: every
 *   load-generator connection comes from 127.0.0.1, and the capacity and handshake scenarios open
 *   up to 19,000 of them within seconds (the per-IP checks still run on every upgrade).
 * - CLOCK_SKEW 3,600 s: frames are signed before the clock starts (signing is not what is being
 *   measured), up to a minute before they are sent. The freshness check still runs on every frame.
 *   The replay cache then keeps every id of the run: it never drops one. The tail and latency
 *   scenarios set BENCH_CLOCK_SKEW=default instead (the default 30 s): their frames carry the time
 *   they are due to be sent, so they are fresh, and the replay cache drops ids as a gateway that
 *   has been up a while does (bench/scenarios/tail.ts). The throughput, capacity, handshake and
 *   cluster scenarios keep 3,600 s (throughput signs its whole pool, up to a minute of frames,
 *   before the clock starts).
 * - LOG_LEVEL warn: no per-connection info lines (production runs at info; see docs/performance.md).
 * Everything else is the default Config, except `verifyThreads` when bench/run.ts was given
 * `--verify-threads N` (it sets BENCH_VERIFY_THREADS), `verifyInlineMaxLoad` when the environment
 * has BENCH_VERIFY_INLINE_MAX_LOAD (a percentage, as VERIFY_INLINE_MAX_LOAD; for A/B runs such as
 * `BENCH_VERIFY_INLINE_MAX_LOAD=0 npm run bench -- --only latency`), `signatureVerifier` when it has
 * SIGNATURE_VERIFIER (as the gateway's: `npm run bench:ab -- . --b-env SIGNATURE_VERIFIER=openssl`), and in the `cluster` scenario, which sets
 * BENCH_REDIS_URL (→ `redisUrl`: cluster mode) and BENCH_REDIS_PREFIX (→ `redisKeyPrefix`).
 *
 * The idle collector src/server.ts starts (one full collection when the loop goes quiet after a
 * burst) runs only with BENCH_IDLE_COLLECT=1, which the capacity scenario sets: elsewhere its
 * collection could land in the first second of a measured rate, after the quiet between phases.
 */
import type { EventEmitter } from 'node:events';
import { buildApp } from '../src/app.js';
import { configWith, type Config } from '../src/config.js';
import { exposeGc, IdleCollector, youngGenerationBytes } from '../src/idle-collect.js';
import { applyRuntimeV8Flags } from '../src/node-flags.js';
import { serveServerCommands, toParent, type Buckets, type IdleCollections } from './lib/ipc.js';
import { ReadLog } from './lib/read-log.js';

// As src/server.ts does at start-up (the V8 flags the gateway sets on itself).
applyRuntimeV8Flags(process.execArgv, process.env.NODE_OPTIONS);

const config = configWith({
  host: '127.0.0.1',
  port: 0,
  logLevel: 'warn',
  rateLimit: 1_000_000,
  rateBurst: 1_000_000,
  maxAgents: 100_000,
  maxConnectionsPerIp: 100_000,
  connectRateLimit: 10_000_000,
  ...(process.env.BENCH_CLOCK_SKEW === 'default' ? {} : { clockSkewMs: 3_600_000 }),
  ...(process.env.BENCH_VERIFY_THREADS ? { verifyThreads: Number(process.env.BENCH_VERIFY_THREADS) } : {}),
  ...(process.env.BENCH_VERIFY_INLINE_MAX_LOAD ? { verifyInlineMaxLoad: Number(process.env.BENCH_VERIFY_INLINE_MAX_LOAD) / 100 } : {}),
  ...(process.env.SIGNATURE_VERIFIER ? { signatureVerifier: process.env.SIGNATURE_VERIFIER as Config['signatureVerifier'] } : {}),
  ...(process.env.BENCH_REDIS_URL ? { redisUrl: process.env.BENCH_REDIS_URL } : {}),
  ...(process.env.BENCH_REDIS_PREFIX ? { redisKeyPrefix: process.env.BENCH_REDIS_PREFIX } : {}),
});

const app = await buildApp(config);
await app.listen({ host: config.host, port: 0 });
const address = app.server.address();
if (address === null || typeof address === 'string') throw new Error('no TCP address');

/** The per-hop latency histograms, for the tail scenario's breakdown. */
async function histograms(): Promise<Record<string, Buckets>> {
  const out: Record<string, Buckets> = {};
  const { verifySeconds, routeSeconds } = app.hub.metrics;
  for (const [name, h] of [['verify', verifySeconds], ['route', routeSeconds]] as const) {
    const le: number[] = [];
    const counts: number[] = [];
    for (const v of (await h.get()).values) {
      if (v.metricName?.endsWith('_bucket') !== true) continue;
      const bound = v.labels.le;
      le.push(bound === '+Inf' ? Infinity : Number(bound));
      counts.push(v.value);
    }
    out[name] = { le, counts };
  }
  return out;
}

/**
 * The read log watches each session's WebSocket as the hub adds the session (in its constructor,
 * after the session's own `message` listener, which the log's goes ahead of). The gateway's
 * WebSocketServer itself is encapsulated in its /ws plugin, so the hub's session set is the one
 * place a bench-side hook sees every connection; `ws` is the session's (TypeScript-private) socket.
 */
const reads = new ReadLog();
const addSession = app.hub.sessions.add.bind(app.hub.sessions);
app.hub.sessions.add = (session) => {
  reads.watchSocket((session as unknown as { ws: EventEmitter }).ws);
  return addSession(session);
};

/** As src/server.ts starts it, when BENCH_IDLE_COLLECT=1; what it did, for the capacity scenario. */
let idleCollections: IdleCollections | undefined;
if (process.env.BENCH_IDLE_COLLECT === '1') {
  let youngBefore = 0;
  const gc = exposeGc();
  new IdleCollector({
    received: () => app.hub.inbound.bytes,
    gc: (options) => {
      youngBefore = youngGenerationBytes();
      gc(options);
    },
    onCollect: (_before, ms) => {
      idleCollections = { count: (idleCollections?.count ?? 0) + 1, lastMs: ms, youngBefore, youngAfter: youngGenerationBytes() };
    },
  }).start();
}

serveServerCommands({
  stop: () => app.close(),
  connections: () => app.hub.sessions.size,
  histograms,
  verified: () => ({ ...app.verifier.counts, threadsStarted: app.verifier.threads.started, threadsExited: app.verifier.threads.idleExits }),
  reads,
  idleCollect: () => idleCollections,
});
toParent({
  type: 'ready',
  port: address.port,
  pid: process.pid,
  config: { ...config, adminToken: undefined },
  uvThreadpoolSize: process.env.UV_THREADPOOL_SIZE ?? 'default (4)',
});
