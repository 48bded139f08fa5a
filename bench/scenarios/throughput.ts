/**
 * Scenarios `throughput` and `relay`: closed-loop throughput of verified frames through the
 * gateway, or through the inline-verify baseline relay (bench/baseline-relay.ts), in agent pairs
 * sending both ways. The same run against either server; `relay` is the baseline `throughput` is
 * judged by.
 */
import { runTask, serverUse, trackMarks, type ScenarioContext } from '../lib/harness.js';
import type { Options } from '../lib/options.js';
import { section } from '../lib/report.js';
import type { ServerUse, ThroughputResult } from '../lib/results.js';
import { fmtInt } from '../lib/stats.js';

export async function throughputAgainst(
  kind: 'server' | 'baseline-relay',
  opts: Options,
  { harness, report }: ScenarioContext,
): Promise<ThroughputResult & { server: ServerUse }> {
  const [server, loadgen] = await Promise.all([harness.startServer(kind, 'throughput'), harness.startLoadgen()]);
  const marks = trackMarks(loadgen, server.child);
  const p = opts.throughput;
  const r = await runTask<ThroughputResult>(
    loadgen,
    'throughput',
    { url: server.url, agents: p.agents, window: p.window, durationMs: p.durationMs, warmupFrames: p.warmupFrames, frame: opts.frame },
    p.durationMs + 240_000,
  );
  const use = await serverUse(marks, 'main-start', 'main-end');
  await loadgen.stop();
  await server.child.stop();
  if (server.profile) report.profiles.push(server.profile);
  const name = kind === 'server' ? 'Gateway' : 'Baseline relay (bare ws, inline verify)';
  const errs = Object.keys(r.errors).length + Object.keys(r.warmupErrors).length;
  if (errs > 0) report.invalid.push(`${kind === 'server' ? 'throughput' : 'relay'}: the server answered with errors ${JSON.stringify({ ...r.warmupErrors, ...r.errors })}`);
  section(`${name} throughput: ${r.agents} agents in ${r.agents / 2} pairs, both directions, window ${r.window}`, [
    `verified frames delivered: ${fmtInt(r.framesPerSecond)}/s over ${(r.measuredMs / 1000).toFixed(1)} s (${fmtInt(r.delivered)} frames of ${r.frameBytes} B)` +
      (r.poolExhausted ? '  [pre-signed pool ran out: window shortened]' : ''),
    `server CPU ${fmtInt(use.cpuPercent)}% (100% = one core), event-loop utilisation ${(use.eventLoopUtilization * 100).toFixed(0)}%; load generator CPU ${fmtInt(r.loadgenCpuPercent)}%`,
    `warm-up ${fmtInt(r.warmup.frames)} frames at ${fmtInt(r.warmup.rate)}/s; ${fmtInt(r.presigned)} frames pre-signed in ${(r.signMs / 1000).toFixed(1)} s; ` +
      `errors ${errs === 0 ? 'none' : JSON.stringify(r.errors)}; lost ${r.lost ?? 'n/a (not drained)'}; unexpected closes ${r.unexpectedCloses}`,
  ]);
  return { ...r, server: use };
}
