/**
 * Scenario `cluster`: (a) one gateway process without Redis against (b) GATEWAY_WORKERS on one
 * port with Redis (src/server.ts), then the latency added by the hop between two cluster nodes
 * (two bench/server.ts processes sharing one Redis). Owns its redis-server (bench/lib/cluster.ts).
 */
import { execFileSync } from 'node:child_process';
import { GATEWAY_NODE_FLAGS } from '../../src/constants.js';
import { statsOf, type Child } from '../lib/child.js';
import { cpuPercentBetween, cpuSample, startRedis, startWorkersGateway, waitReady, type BenchRedis } from '../lib/cluster.js';
import { runTask, trackMarks, type ScenarioContext, type Server } from '../lib/harness.js';
import { cpuPercent, eluBetween } from '../lib/ipc.js';
import type { Options } from '../lib/options.js';
import { CORES, section } from '../lib/report.js';
import type { ClusterLatencyPhase, ClusterResult, LatencyRate, Placement, ThroughputResult } from '../lib/results.js';
import { fmtInt, fmtMs, fmtRatio, fmtShare, sleep, table } from '../lib/stats.js';

/** Bench limits through the environment, for src/server.ts (the same values bench/server.ts sets in its Config). */
const BENCH_ENV = {
  LOG_LEVEL: 'warn',
  RATE_LIMIT: '1000000',
  RATE_BURST: '1000000',
  MAX_AGENTS: '100000',
  MAX_CONNECTIONS_PER_IP: '100000',
  CONNECT_RATE_LIMIT: '10000000',
  CLOCK_SKEW: '3600',
};

/** One closed-loop throughput run on an already running load generator; `sample` is read at the measured window's edges. */
async function throughputOn<T>(
  loadgen: Child,
  opts: Options,
  url: string,
  extra: Record<string, unknown>,
  sample: () => Promise<T>,
): Promise<{ r: ThroughputResult & { placement?: Placement }; start: T | undefined; end: T | undefined }> {
  const p = opts.cluster.throughput;
  const marks = trackMarks(loadgen, sample);
  const r = await runTask<ThroughputResult & { placement?: Placement }>(
    loadgen,
    'throughput',
    { url, agents: p.agents, window: p.window, durationMs: p.durationMs, warmupFrames: p.warmupFrames, frame: opts.frame, ...extra },
    p.durationMs + 240_000,
  );
  const [start, end] = await Promise.all([marks.get('main-start'), marks.get('main-end')]);
  await loadgen.request({ cmd: 'close' }, 'closed', 30_000);
  return { r, start, end };
}

/** (b): src/server.ts with GATEWAY_WORKERS + REDIS_URL on one port; CPU from /proc of the supervisor, its workers and redis-server. */
async function workersThroughput(opts: Options, redis: BenchRedis, loadgen: Child): Promise<ClusterResult['multi']> {
  const prefix = 'bench-workers:';
  const gw = await startWorkersGateway({ ...opts.gatewayEnv, ...BENCH_ENV, REDIS_URL: redis.url, REDIS_KEY_PREFIX: prefix }, opts.cluster.workers, [...GATEWAY_NODE_FLAGS, ...opts.gatewayFlags]);
  try {
    const pids = [gw.supervisorPid, ...gw.workerPids, redis.pid];
    const { r, start: a, end: b } = await throughputOn(
      loadgen,
      opts,
      gw.url,
      // Flows within a worker outrun cross-worker ones: a larger pool, so the fast ones do not run out.
      { cluster: { redisUrl: redis.url, prefix }, crossShare: opts.cluster.crossShare, poolFactor: 5 },
      async () => cpuSample(pids),
    );
    const workers = gw.workerPids.map((_, i) => i + 1);
    const cpu =
      a && b
        ? {
            gateway: cpuPercentBetween(a, b, [0, ...workers]),
            supervisor: cpuPercentBetween(a, b, [0]),
            workers: workers.map((i) => cpuPercentBetween(a, b, [i])),
            redis: cpuPercentBetween(a, b, [pids.length - 1]),
          }
        : { gateway: NaN, supervisor: NaN, workers: [], redis: NaN };
    return { ...r, cpu };
  } finally {
    await gw.stop();
  }
}

/**
 * Cross-node latency on two single gateway processes (bench/server.ts in cluster mode) sharing
 * one Redis: senders on node A; receivers on A (same node), then on B (cross node), at one rate.
 */
async function crossNodeLatency(opts: Options, redis: BenchRedis, prefix: string, nodeA: Server, nodeB: Server, loadgen: Child): Promise<ClusterResult['latency']> {
  await Promise.all([waitReady(nodeA.port), waitReady(nodeB.port)]);
  const marks = trackMarks(loadgen, async () => {
    const [a, b] = await Promise.all([statsOf(nodeA.child), statsOf(nodeB.child)]);
    return { a, b, redis: cpuSample([redis.pid]) };
  });
  const l = opts.cluster.latency;
  const phase = async (route: ClusterLatencyPhase['route']): Promise<ClusterLatencyPhase> => {
    const r = await runTask<{ rates: LatencyRate[]; placement?: Placement }>(
      loadgen,
      'latency',
      {
        url: nodeA.url,
        receiverUrl: route === 'same-node' ? nodeA.url : nodeB.url,
        oneWay: true,
        agents: l.agents,
        rates: [l.rate],
        durationMs: l.durationMs,
        warmupMs: l.warmupMs,
        frame: opts.frame,
        cluster: { redisUrl: redis.url, prefix },
      },
      (l.durationMs + l.warmupMs) * 2 + 120_000,
    );
    const rate = r.rates[0] as LatencyRate;
    // Two servers here: no one pause log to lay the frames over.
    delete rate.frameWindows;
    const [s, e] = await Promise.all([marks.get(`rate-${l.rate}-start`), marks.get(`rate-${l.rate}-end`)]);
    const cpu = s && e ? { nodeA: cpuPercent(s.a, e.a), nodeB: cpuPercent(s.b, e.b), redis: cpuPercentBetween(s.redis, e.redis, [0]) } : { nodeA: NaN, nodeB: NaN, redis: NaN };
    await loadgen.request({ cmd: 'close' }, 'closed', 30_000);
    return { route, rate, placement: r.placement, cpu };
  };
  const sameNode = await phase('same-node');
  await sleep(opts.smoke ? 50 : 500);
  const crossNode = await phase('cross-node');
  return { agents: l.agents, rate: l.rate, durationMs: l.durationMs, warmupMs: l.warmupMs, sameNode, crossNode };
}

function redisVersion(): string {
  try {
    return /v=(\S+)/.exec(execFileSync('redis-server', ['--version'], { encoding: 'utf8' }))?.[1] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** Share of the frames delivered across workers, from the per-route flow rates. */
function crossFrames(r: ClusterResult['multi']): number {
  const b = r.byRoute;
  if (!b) return NaN;
  const same = b.sameNode.flows * b.sameNode.perFlowPerSecond;
  const cross = b.crossNode.flows * b.crossNode.perFlowPerSecond;
  return cross / (same + cross);
}

/**
 * (a) one gateway process without Redis vs (b) GATEWAY_WORKERS on one port with Redis, then the
 * hop latency between two cluster nodes. One redis-server, owned by the scenario and stopped at
 * its end whatever happens. Process start-up is most of a small run, so the single-process
 * gateway, nodes A and B (idle, without agents, until the latency part) and the load generator
 * all start at once; the workers gateway starts after (a) has ended.
 */
export async function cluster(opts: Options, { harness, report }: ScenarioContext): Promise<ClusterResult> {
  const t0 = performance.now();
  const phaseS: Record<string, number> = {};
  const lap = (name: string, since: number) => (phaseS[name] = (performance.now() - since) / 1000);
  const redis = await startRedis();
  try {
    const prefix = 'bench-nodes:';
    const env = { BENCH_REDIS_URL: redis.url, BENCH_REDIS_PREFIX: prefix };
    const [single, nodeA, nodeB, loadgen] = await Promise.all([
      harness.startServer('server', undefined, { label: 'gateway-1-process' }),
      harness.startServer('server', undefined, { env, label: 'gateway-A' }),
      harness.startServer('server', undefined, { env, label: 'gateway-B' }),
      harness.startLoadgen(),
    ]);
    lap('startUp', t0);

    let t = performance.now();
    const a = await throughputOn(loadgen, opts, single.url, {}, () => statsOf(single.child));
    await single.child.stop();
    const singleUse = a.start && a.end ? { cpuPercent: cpuPercent(a.start, a.end), eventLoopUtilization: eluBetween(a.start, a.end) } : { cpuPercent: NaN, eventLoopUtilization: NaN };
    const one = { ...a.r, server: singleUse };
    lap('singleProcess', t);

    t = performance.now();
    const multi = await workersThroughput(opts, redis, loadgen);
    lap('workers', t);

    t = performance.now();
    const latency = await crossNodeLatency(opts, redis, prefix, nodeA, nodeB, loadgen);
    await Promise.all([loadgen.stop(), nodeA.child.stop(), nodeB.child.stop()]);
    lap('latency', t);

    const w = opts.cluster.workers;
    for (const [name, r] of [['cluster (1 process)', one], [`cluster (${w} workers)`, multi]] as const) {
      const errs = { ...r.warmupErrors, ...r.errors };
      if (Object.keys(errs).length > 0) report.invalid.push(`${name}: the server answered with errors ${JSON.stringify(errs)}`);
    }
    for (const ph of [latency.sameNode, latency.crossNode]) {
      if (Object.keys(ph.rate.errors).length > 0) report.invalid.push(`cluster latency ${ph.route}: errors ${JSON.stringify(ph.rate.errors)}`);
      if (ph.rate.lost > 0) report.invalid.push(`cluster latency ${ph.route}: ${ph.rate.lost} frames lost`);
    }
    const ratio = multi.framesPerSecond / one.framesPerSecond;
    const framesPerCpuSecond = {
      single: one.framesPerSecond / (one.server.cpuPercent / 100),
      multi: multi.framesPerSecond / ((multi.cpu.gateway + multi.cpu.redis) / 100),
    };
    const coreBound = (CORES * 100) / one.server.cpuPercent;
    const crossFrameShare = crossFrames(multi);
    const added = {
      p50: latency.crossNode.rate.latencyMs.p50 - latency.sameNode.rate.latencyMs.p50,
      p99: latency.crossNode.rate.latencyMs.p99 - latency.sameNode.rate.latencyMs.p99,
    };
    const tp = opts.cluster.throughput;
    const pl = multi.placement;
    const l = latency;
    const extras = (r: ThroughputResult) =>
      `errors ${Object.keys(r.errors).length === 0 ? 'none' : JSON.stringify(r.errors)}; lost ${r.lost ?? 'n/a (not drained)'}; ` +
      `unexpected closes ${r.unexpectedCloses}; load generator CPU ${fmtInt(r.loadgenCpuPercent)}%` +
      (r.poolExhausted ? '  [pre-signed pool ran out: window shortened]' : '');
    const latRow = (ph: ClusterLatencyPhase) => {
      const x = ph.rate;
      return [
        ph.route === 'same-node' ? 'A → A (same node)' : 'A → B (cross node)',
        fmtInt(x.achievedSendRate),
        fmtInt(x.deliveredRate) + (x.saturated ? ' (saturated)' : ''),
        fmtMs(x.latencyMs.p50),
        fmtMs(x.latencyMs.p90),
        fmtMs(x.latencyMs.p99),
        fmtMs(x.latencyMs.max),
        fmtMs(x.senderLagMs.p99),
        `${fmtInt(ph.cpu.nodeA)}%`,
        `${fmtInt(ph.cpu.nodeB)}%`,
        `${fmtInt(ph.cpu.redis)}%`,
        fmtInt(x.lost),
        Object.keys(x.errors).length === 0 ? 'none' : JSON.stringify(x.errors),
      ];
    };
    section(`Cluster mode: ${w} workers + Redis on one port vs 1 process; cross-node latency (redis-server ${redisVersion()}, no persistence)`, [
      `throughput, ${tp.agents} agents in ${tp.agents / 2} pairs, both directions, window ${tp.window}, ${(tp.durationMs / 1000).toFixed(1)} s measured; verified frames delivered:`,
      `  (a) 1 gateway process, no Redis:             ${fmtInt(one.framesPerSecond)}/s; gateway CPU ${fmtInt(one.server.cpuPercent)}%, event loop ${(one.server.eventLoopUtilization * 100).toFixed(0)}%`,
      `      ${extras(one)}`,
      `  (b) GATEWAY_WORKERS=${w} + REDIS_URL, one port: ${fmtInt(multi.framesPerSecond)}/s; supervisor + workers CPU ${fmtInt(multi.cpu.gateway)}% ` +
        `(supervisor ${fmtInt(multi.cpu.supervisor)}%, workers ${multi.cpu.workers.map((c) => `${fmtInt(c)}%`).join(' + ')}), redis-server ${fmtInt(multi.cpu.redis)}%`,
      pl
        ? `      pairs across workers: ${pl.crossPairs} of ${pl.pairs} (${fmtShare(pl.crossShare)}); agents per worker ${pl.perNode.join(' / ')} (read from Redis presence)` +
          (pl.asConnected && opts.cluster.crossShare !== undefined
            ? `; pairs re-formed for --cross-share ${opts.cluster.crossShare} (as connected: ${pl.asConnected.crossPairs} of ${pl.asConnected.pairs}, ${fmtShare(pl.asConnected.crossShare)})`
            : '')
        : '      (placement unknown)',
      multi.byRoute
        ? `      per flow: ${fmtInt(multi.byRoute.sameNode.perFlowPerSecond)} frames/s within a worker (${multi.byRoute.sameNode.flows} flows), ` +
          `${fmtInt(multi.byRoute.crossNode.perFlowPerSecond)} frames/s across workers (${multi.byRoute.crossNode.flows} flows): ` +
          `${fmtShare(crossFrameShare)} of the frames crossed workers`
        : '      (per-route rates unknown)',
      `      ${extras(multi)}`,
      `  (b) ÷ (a): ${fmtRatio(ratio)}  (target ≥ 1.60×: ${ratio >= 1.6 ? 'pass' : 'miss'})`,
      `  frames per CPU-second: (a) ${fmtInt(framesPerCpuSecond.single)}, (b) ${fmtInt(framesPerCpuSecond.multi)} (workers + supervisor + redis-server); ` +
        `(a) used ${fmtInt(one.server.cpuPercent)}% of ${CORES * 100}%, so on ${CORES} cores (b) ÷ (a) is bounded near ${fmtRatio(coreBound)} at (a)'s cost per frame`,
      '',
      `latency at ${fmtInt(l.rate)} frames/s, ${(l.durationMs / 1000).toFixed(0)} s after ${l.warmupMs} ms warm-up, ${l.agents / 2} senders on node A → ${l.agents / 2} receivers, one way; ms:`,
      ...table(
        ['route', 'sent/s', 'delivered/s', 'p50', 'p90', 'p99', 'max', 'sender lag p99', 'node A CPU', 'node B CPU', 'redis CPU', 'lost', 'errors'],
        [latRow(l.sameNode), latRow(l.crossNode)],
      )
        .split('\n')
        .map((line) => `  ${line}`),
      `  added by the hop through Redis (cross − same): p50 ${fmtMs(added.p50)} ms (target ≤ 1 ms: ${added.p50 <= 1 ? 'pass' : 'miss'}), p99 ${fmtMs(added.p99)} ms`,
      '',
      `wall time: start-up ${phaseS.startUp?.toFixed(1)} s, (a) ${phaseS.singleProcess?.toFixed(1)} s, ` +
        `(b) incl. worker start-up ${phaseS.workers?.toFixed(1)} s, latency ${phaseS.latency?.toFixed(1)} s`,
    ]);
    return { redisVersion: redisVersion(), workers: w, single: one, multi, ratio, crossFrameShare, framesPerCpuSecond, coreBound, latency, addedHopMs: added, phaseS };
  } finally {
    await redis.stop();
  }
}
