/**
 * Fixed timings and sizes of the gateway (those that are not configuration). Each is documented
 * in docs/protocol.md §10 or docs/operations.md where a client or an operator can observe it.
 *
 * Not here: protocol limits checked by the frame schemas (src/protocol/frames.ts: MAX_SDP_CHARS,
 * DISCOVER_MAX_LIMIT, …), which the browser-safe client shares, and the client SDK's own timings
 * (src/client/constants.ts). This module has no imports, so anything may import it.
 */

/** Unsent bytes on one connection from which it counts as congested: it is not read until drained. */
export const OUTPUT_CONGESTED_BYTES = 64 * 1024;

/** A DISCOVER's AGENTS reply takes one rate-limit token per started block of this many bytes. */
export const REPLY_BYTES_PER_TOKEN = 16 * 1024;

/**
 * An AGENTS reply is at most this share of MAX_BUFFERED_BYTES (256 KiB by default): agents that do
 * not fit are left out and the reply says `"truncated": true`.
 */
export const AGENTS_REPLY_SHARE = 1 / 4;

/** Past this many frames awaiting their turn the session stops reading its socket (TCP back-pressure). */
export const MAX_PENDING_STEPS = 64;
/** Reading resumes when the queue has drained to this. */
export const RESUME_PENDING_STEPS = 16;

/** After a 4413 or a ws protocol error, the socket is cut this long after the close frame was sent. */
export const TERMINATE_AFTER_CLOSE_MS = 1000;

/** How long shutdown waits for agents to answer the 1001 close before terminating them. */
export const CLOSE_GRACE_MS = 3000;

// ───────────────────────── shutdown ─────────────────────────

/** Upper bound for a graceful shutdown (server.ts, and the worker supervisor); past it the process exits anyway. */
export const SHUTDOWN_GRACE_MS = 10_000;

/** While draining, how often shutdown checks whether every connection has closed. */
export const DRAIN_POLL_MS = 20;

// ───────────────────────── HTTP ─────────────────────────

/** The window of the per-minute rate limits (CONNECT_RATE_LIMIT on /ws, HTTP_RATE_LIMIT on /agents and /metrics). */
export const RATE_LIMIT_WINDOW_MS = 60_000;

/** GET /agents: longest `cursor` accepted (base64url of a DID is 76 characters). */
export const MAX_CURSOR_CHARS = 200;

/** Keep-alive timeout of idle HTTP connections: HTTP_IDLE_TIMEOUT, at most this. */
export const MAX_KEEP_ALIVE_TIMEOUT_MS = 72_000;

/** How often Node checks HTTP_HEADERS_TIMEOUT (Node's default is 30 s): at most this, less if the timeout is shorter. */
export const MAX_HEADERS_CHECK_INTERVAL_MS = 1000;

// ───────────────────────── idle sweep ─────────────────────────

/**
 * The sweeper runs every AGENT_TIMEOUT / SWEEPS_PER_AGENT_TIMEOUT, clamped to
 * [MIN_SWEEP_INTERVAL_MS, MAX_SWEEP_INTERVAL_MS]: an idle agent is unlisted within a second of its timeout.
 */
export const SWEEPS_PER_AGENT_TIMEOUT = 4;
export const MIN_SWEEP_INTERVAL_MS = 50;
export const MAX_SWEEP_INTERVAL_MS = 1000;

// ───────────────────────── verification threads (src/identity/verify-pool.ts) ─────────────────────────

/**
 * A verification thread idle for its idle-exit time (30 s) exits only when the event loop was
 * busy less than this share over that time. Why: at moderate load the loop verifies everything
 * inline and the threads sit idle, so they exited after 30 s, and the next busy spell paid for a
 * new one (65–100 ms of CPU to start, and 10–40 ms stalls of the loop around each start and exit
 * on the 2-core bench VM, docs/performance.md "Afternoon of 2026-12-04"). "Quiet" as for the idle
 * collection (IDLE_COLLECT_MAX_BUSY): a loop busier than that serves traffic that may need them
 * again (500 frames/s kept the bench gateway's loop 11–18 % busy, and 25 % let the threads go
 * between two rates and start again at the next); a gateway with only heartbeats to answer gets
 * their memory back.
 */
export const VERIFY_IDLE_EXIT_MAX_BUSY = 0.05;

// ───────────────────────── memory after a burst (src/idle-collect.ts) ─────────────────────────

/** How often the process checks whether the loop went quiet after memory grew. */
export const IDLE_COLLECT_CHECK_MS = 5000;
/** "Quiet": the event loop was busy less than this share of the last check interval. */
export const IDLE_COLLECT_MAX_BUSY = 0.05;
/** Collect only when JS heap + external memory grew at least this much above its lowest level since the last collection. */
export const IDLE_COLLECT_MIN_GROWTH_BYTES = 8 * 1024 * 1024;
/** …or at least this many bytes of WebSocket messages were received since the last collection (a burst of frames). */
export const IDLE_COLLECT_MIN_RECEIVED_BYTES = 32 * 1024 * 1024;
/** At most one such collection per this interval (bounds its cost whatever the traffic). */
export const IDLE_COLLECT_MIN_GAP_MS = 30_000;
/**
 * When V8's young generation holds more than this, the idle collection is a memory-reducing one,
 * which also gives the young generation back. Why: with --max-semi-space-size=64 a burst (10,000
 * agents connecting, a spell of frames) grows it to 128 MB, and V8 keeps it while anything at all
 * is allocated (an idle gateway's heartbeats are enough): measured with 10,000 idle agents, RSS
 * stayed at 289 MB for 30 s, heap in use 99 MB of 233 MB. The memory-reducing collection costs
 * more than a plain one (it compacts, and repeats until nothing more is freed), so it is kept for
 * when there is young generation to return.
 */
export const IDLE_COLLECT_SHRINK_YOUNG_BYTES = 16 * 1024 * 1024;

// ───────────────────────── cluster mode (Redis) ─────────────────────────

/** Redis reconnects: REDIS_RETRY_BASE_MS × 2^min(attempt, REDIS_RETRY_MAX_DOUBLINGS), at most REDIS_RETRY_MAX_MS. */
export const REDIS_RETRY_BASE_MS = 50;
export const REDIS_RETRY_MAX_DOUBLINGS = 6;
export const REDIS_RETRY_MAX_MS = 2000;

/**
 * The cluster tick (node liveness, agent refresh, reaping) runs every HEARTBEAT_INTERVAL / 2, at
 * least every MIN_CLUSTER_TICK_MS.
 */
export const MIN_CLUSTER_TICK_MS = 50;

/**
 * The heartbeat pings a slice of the connections every HEARTBEAT_TICK_MS (each connection once per
 * HEARTBEAT_INTERVAL): with the default 30 s, 1,500 slices, so 10,000 connections cost ~7 pings
 * per tick instead of one 10,000-ping sweep that blocks the loop (src/ws/heartbeat-set.ts).
 * Measured, 3,000 connections, HEARTBEAT_INTERVAL 3 s, 3 alternating runs each: loop delay max
 * 174–306 ms with one sweep, 18–22 ms with 100 ms ticks, 12–13 ms with 20 ms ticks (p99 1.1–2.0,
 * 3.8–4.0 and 1.9 ms: the same pings, spread).
 */
export const HEARTBEAT_TICK_MS = 20;

/** A node that misses ticks for this many HEARTBEAT_INTERVALs is dead (its agents are reaped). */
export const NODE_TTL_HEARTBEATS = 1.5;

/** An agent entry not refreshed for this many HEARTBEAT_INTERVALs (and at least MIN_AGENT_TTL_MS) expires in Redis. */
export const AGENT_TTL_HEARTBEATS = 3;
export const MIN_AGENT_TTL_MS = 10_000;

/** While Redis is down, at most one `redis error` log line per this interval. */
export const REDIS_ERROR_LOG_INTERVAL_MS = 5000;

/**
 * At start-up in cluster mode, how long the `gateway ready` line waits for Redis before it says
 * the node serves its own agents only: long enough for a reachable Redis on the same network to
 * connect (a few ms), so that line never claims Redis is down while it is merely connecting.
 */
export const CLUSTER_READY_LOG_WAIT_MS = 2000;

// ───────────────────────── worker supervisor (GATEWAY_WORKERS > 1) ─────────────────────────

/** A dead worker is restarted at most once per this interval per slot. */
export const WORKER_RESTART_INTERVAL_MS = 1000;

/** A worker dying within this of its start counts as a start-up failure… */
export const WORKER_QUICK_DEATH_MS = 5000;
/** …and this many in a row for one slot stop the supervisor. */
export const WORKER_MAX_QUICK_DEATHS = 3;

/** When the supervisor gives up, the time its workers get to stop before it exits. */
export const WORKER_GIVE_UP_EXIT_MS = 2000;

/** On shutdown, the supervisor exits anyway this long after SHUTDOWN_GRACE_MS. */
export const WORKER_SHUTDOWN_SLACK_MS = 1000;

// ───────────────────────── the node process ─────────────────────────

/**
 * V8's young generation: each of its two semi-spaces may grow to this (Node's default is 16 MB).
 * Why: on the 2-core bench VM at 2,000–4,000 frames/s, with 16 MB the scavenger promoted ~430–500 KB
 * of already-dead objects per scavenge (mostly `ws`'s read buffers), the old space filled every few
 * seconds and its mark-compacts (9–13 ms each) set the p99: 11–12 ms at 4,000/s. With 64 MB,
 * 7–23 KB per scavenge, no mark-compact in 10 s, p99 3.0–3.6 ms; p50 and CPU per frame unchanged
 * (docs/performance.md). A V8 flag: it must be given when node starts (setting it at run time
 * leaves the young generation as it is), hence GATEWAY_NODE_FLAGS.
 */
export const YOUNG_SEMI_SPACE_MB = 64;

/**
 * V8's pool of background threads (garbage-collection helpers, concurrent marking and sweeping,
 * optimizing compilation): 0 lets Node size it from the machine's available parallelism, one
 * fewer than the cores the process may use (at least 1), instead of Node's fixed 4. Why: on the
 * 2-vCPU bench VM the slowest 1 % of frames wait before the gateway reads them, for bursts in
 * which every vCPU is taken, the largest by these threads (of the gateway and the load
 * generator) running together; with one such thread, over 11 interleaved rounds the gateway's
 * p99 fell from 7.92 to 5.84 ms at 2,000 frames/s and from 7.79 to 5.77 ms at 4,000/s (medians),
 * throughput unchanged, idle RSS 5–10 MB lower (docs/performance.md). A node option: it must be
 * given when node starts, hence GATEWAY_NODE_FLAGS.
 */
export const V8_POOL_SIZE = 0;

/**
 * The node flags the gateway is started with: `npm start`, `npm run dev` and the Docker image's CMD
 * pass them (test/unit/node-flags.test.ts holds them to this list), and the gateway warns at start-up when
 * one is missing (src/node-flags.ts).
 */
export const GATEWAY_NODE_FLAGS: readonly string[] = [`--max-semi-space-size=${YOUNG_SEMI_SPACE_MB}`, `--v8-pool-size=${V8_POOL_SIZE}`];

/**
 * V8 flags the gateway's executable (src/server.ts, and bench/server.ts as its stand-in) sets on
 * itself at start-up with v8.setFlagsFromString, unless node's command line names them: they take
 * effect at run time, so every launcher gets them without passing anything (and NODE_OPTIONS
 * refuses them anyway).
 *
 * `--no-allocation-site-pretenuring`: on Node 22 and 24 (V8 12–13) the scavenger found 9–10 % of
 * the young generation alive at 2,000–4,000 frames/s (2.7–3.0 MB, against 0.2–0.6 % on Node 20),
 * promoted 0.6–1 MB per scavenge of objects dead a second later, and 4 mark-compacts (10–13 ms
 * each) in 10 s at 4,000/s set the p99 (15–24 ms). Allocation-site pretenuring is what does it:
 * V8 starts allocating some of the frame path's objects directly in the old generation, and
 * those, dead, keep the young objects they point to alive through scavenges. Without it: 9–28 KB
 * per scavenge, no mark-compact (docs/performance.md, "Node 22 and 24 promote what Node 20 does
 * not"). The gateway's per-frame objects all die young, which is what pretenuring bets against.
 */
export const RUNTIME_V8_FLAGS: readonly string[] = ['--no-allocation-site-pretenuring'];
