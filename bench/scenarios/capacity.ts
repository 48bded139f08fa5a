/**
 * Scenario `capacity`: what the gateway holds idle, just started and settled, and per authenticated
 * idle agent (RSS, heap, external), with /health latency idle and at load. Per agent twice: right
 * after the agents connected, and once the gateway's idle collection (src/idle-collect.ts, which
 * the bench gateway runs here as src/server.ts does) gave back the young generation the
 * connecting burst grew: the second is what idle agents cost for as long as they stay.
 */
import { Agent, request } from 'node:http';
import { IDLE_COLLECT_CHECK_MS, IDLE_COLLECT_MIN_GROWTH_BYTES } from '../../src/constants.js';
import { runtime, statsOf, type Child } from '../lib/child.js';
import { runTask, type ScenarioContext } from '../lib/harness.js';
import type { IdleCollections, ProcessStats } from '../lib/ipc.js';
import type { Options } from '../lib/options.js';
import { section } from '../lib/report.js';
import type { CapacityResult } from '../lib/results.js';
import { fmtInt, fmtKB, fmtMB, fmtMs, sleep, summarize, type LatencySummary } from '../lib/stats.js';

/** Sequential GET /health over one keep-alive connection; latency per request in ms. */
async function healthLatency(port: number, count: number): Promise<{ latency: LatencySummary; lastBody: Record<string, unknown> }> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const times: number[] = [];
  let lastBody: Record<string, unknown> = {};
  try {
    for (let i = 0; i < count; i++) {
      const t = performance.now();
      const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, path: '/health', agent, timeout: 10_000 }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        });
        req.on('timeout', () => req.destroy(new Error('/health timed out')));
        req.on('error', reject);
        req.end();
      });
      times.push(performance.now() - t);
      if (status !== 200) throw new Error(`/health answered ${status}: ${body.slice(0, 200)}`);
      lastBody = JSON.parse(body) as Record<string, unknown>;
    }
  } finally {
    agent.destroy();
  }
  return { latency: summarize(times), lastBody };
}

/**
 * Waits (polling the server's stats once a second, until `limitMs` after `since`, when the last
 * agent connected) for the gateway's idle collection, which runs once the loop is quiet after the
 * agents connected; then the server's stats after a GC. Null when it did not run in time.
 */
async function afterIdleCollection(server: Child, since: number, limitMs: number): Promise<{ stats: ProcessStats; idleCollect: IdleCollections; afterMs: number } | null> {
  while (performance.now() - since < limitMs) {
    const { idleCollect } = await statsOf(server);
    if (idleCollect !== undefined && idleCollect.count > 0) return { stats: await statsOf(server, true), idleCollect, afterMs: performance.now() - since };
    await sleep(1000);
  }
  return null;
}

export async function capacity(opts: Options, { harness, report }: ScenarioContext): Promise<CapacityResult> {
  const n = opts.capacity.agents;
  const settle = opts.smoke ? 200 : 1000;
  // The idle collector src/server.ts runs (bench/server.ts starts it only when asked).
  const server = await harness.startServer('server', undefined, { env: { BENCH_IDLE_COLLECT: '1' } });
  const ready = performance.now();
  await sleep(settle);
  await statsOf(server.child, true);
  await sleep(settle / 2);
  const idleStats = await statsOf(server.child, true);
  const idle = idleStats.memory;
  // Start-up leaves V8's young generation grown (module loading allocates a lot); V8's memory
  // reducer gives it back after several seconds without allocation (~6-10 s here). What a gateway
  // holds while it idles is read after that.
  const settleIdleMs = opts.smoke ? 2000 : 12_000;
  await sleep(Math.max(0, ready + settleIdleMs - performance.now()));
  const settledStats = await statsOf(server.child, true);
  const healthIdle = await healthLatency(server.port, opts.capacity.healthRequests);

  // One process holds at most ~20,000 files: at most 9,000 client sockets per load generator.
  const parts = Math.ceil(n / 9000);
  const loadgens = await Promise.all(Array.from({ length: parts }, (_, i) => harness.startLoadgen(`loadgen-${i + 1}`)));
  const started = performance.now();
  const shares = loadgens.map((_, i) => Math.floor(n / parts) + (i < n % parts ? 1 : 0));
  const outcomes = await Promise.all(
    loadgens.map((lg, i) =>
      runTask<{ connected: number; failed: number; firstFailure?: string }>(
        lg,
        'idle',
        { url: server.url, agents: shares[i], concurrency: Math.max(10, Math.floor(100 / parts)) },
        300_000,
      ),
    ),
  );
  const connectedAt = performance.now();
  const connectMs = connectedAt - started;
  const connected = outcomes.reduce((s, r) => s + r.connected, 0);
  const failed = outcomes.reduce((s, r) => s + r.failed, 0);
  if (failed > 0) report.invalid.push(`capacity: ${failed} agents failed to register (${outcomes.find((r) => r.firstFailure)?.firstFailure})`);

  await sleep(2 * settle);
  await statsOf(server.child, true);
  await sleep(settle);
  const loadedStats = await statsOf(server.child, true);
  const loaded = loadedStats.memory;
  const healthLoaded = await healthLatency(server.port, opts.capacity.healthRequests);
  // It checks every IDLE_COLLECT_CHECK_MS and runs at the first check that follows a quiet
  // interval: within ~2 checks of the last connection. Smoke sizes grow the heap too little for it
  // to run at all; the wait is then one check past the measurements above, so the path still runs.
  const waitMs = opts.smoke ? performance.now() - connectedAt + IDLE_COLLECT_CHECK_MS : 5 * IDLE_COLLECT_CHECK_MS;
  const collected = await afterIdleCollection(server.child, connectedAt, waitMs);
  await Promise.all(loadgens.map((lg) => lg.request({ cmd: 'close' }, 'closed', 60_000)));
  await Promise.all(loadgens.map((lg) => lg.stop()));
  await server.child.stop();

  const per = (k: 'rss' | 'heapUsed' | 'external') => (loaded[k] - idle[k]) / Math.max(1, connected);
  const r: CapacityResult = {
    agents: n,
    connected,
    connectMs,
    idle,
    settled: settledStats.memory,
    settledAfterMs: settleIdleMs,
    loaded,
    idleRssSplit: idleStats.rssSplit,
    settledRssSplit: settledStats.rssSplit,
    loadedRssSplit: loadedStats.rssSplit,
    rssPerAgent: per('rss'),
    collected: collected && {
      ...collected.stats.memory,
      rssPerAgent: (collected.stats.memory.rss - settledStats.memory.rss) / Math.max(1, connected),
      afterMs: collected.afterMs,
      ...collected.idleCollect,
    },
    heapPerAgent: per('heapUsed'),
    externalPerAgent: per('external'),
    healthIdleMs: healthIdle.latency,
    healthLoadedMs: healthLoaded.latency,
    healthConnectedAgents: healthLoaded.lastBody.connected_agents,
    loadgenProcesses: parts,
  };
  const split = (x: ProcessStats['rssSplit']) => (x ? ` (anonymous ${fmtMB(x.anonymous)} + file-backed ${fmtMB(x.file)}; private ${fmtMB(x.privateBytes)})` : '');
  section(`Gateway capacity: ${fmtInt(n)} authenticated idle agents (${parts} load-generator process${parts > 1 ? 'es' : ''})`, [
    `idle process, just started (after GC): RSS ${fmtMB(idle.rss)}${split(idleStats.rssSplit)}, heap used ${fmtMB(idle.heapUsed)} of ${fmtMB(idle.heapTotal)}` +
      `${runtime.mode === 'tsx' ? '  [--tsx: includes ~30 MB of tsx loader]' : ''}`,
    `idle process, ${(settleIdleMs / 1000).toFixed(0)} s after start (after GC): RSS ${fmtMB(r.settled.rss)}${split(settledStats.rssSplit)}, ` +
      `heap used ${fmtMB(r.settled.heapUsed)} of ${fmtMB(r.settled.heapTotal)}`,
    `with ${fmtInt(connected)} agents (after GC): RSS ${fmtMB(loaded.rss)}${split(loadedStats.rssSplit)}, heap used ${fmtMB(loaded.heapUsed)}, ` +
      `external ${fmtMB(loaded.external)}; connected in ${(connectMs / 1000).toFixed(1)} s`,
    `per agent: RSS ${fmtKB(r.rssPerAgent)}, heap ${fmtKB(r.heapPerAgent)}, external ${fmtKB(r.externalPerAgent)}`,
    r.collected
      ? `once the gateway's idle collection ran (${(r.collected.afterMs / 1000).toFixed(0)} s after connecting; paused the loop ${fmtMs(r.collected.lastMs)} ms; ` +
        `young generation ${fmtMB(r.collected.youngBefore)} → ${fmtMB(r.collected.youngAfter)}): RSS ${fmtMB(r.collected.rss)}, ` +
        `heap used ${fmtMB(r.collected.heapUsed)} of ${fmtMB(r.collected.heapTotal)}; per agent (over the settled idle process) RSS ${fmtKB(r.collected.rssPerAgent)}`
      : `the gateway's idle collection did not run within ${(waitMs / 1000).toFixed(0)} s of connecting (the loop was never quiet, or the heap did not grow ${fmtMB(IDLE_COLLECT_MIN_GROWTH_BYTES)})`,
    `/health (${opts.capacity.healthRequests} sequential requests, keep-alive): idle p50 ${fmtMs(r.healthIdleMs.p50)} / p99 ${fmtMs(r.healthIdleMs.p99)} ms; ` +
      `at load p50 ${fmtMs(r.healthLoadedMs.p50)} / p99 ${fmtMs(r.healthLoadedMs.p99)} ms (connected_agents ${String(r.healthConnectedAgents)})`,
  ]);
  return r;
}
