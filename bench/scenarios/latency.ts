/**
 * Scenario `latency`: open-loop latency of the gateway at fixed rates, plus (when the ceiling ran
 * in the same run) the target rate scaled to today's verify ceiling, with the inline-verify relay
 * at that rate as its baseline; --heap-sample adds what the gateway allocates per frame.
 */
import { join } from 'node:path';
import { ROOT } from '../lib/compile.js';
import { attachGcOverlap } from '../lib/gc-overlap.js';
import { DEFAULT_CLOCK_SKEW_ENV, profilePerRate, runTask, serverUse, trackMarks, type ScenarioContext } from '../lib/harness.js';
import type { Options } from '../lib/options.js';
import { topAllocations } from '../lib/profile.js';
import { RESULTS, section, STAMP } from '../lib/report.js';
import { framesSentAt, overloaded, TARGET_RATE, TARGET_RATE_CEILING, type CeilingResult, type LatencyRate, type LatencyResult } from '../lib/results.js';
import { fmtInt, fmtMs, table } from '../lib/stats.js';

function scaledTargetRate(c: CeilingResult | undefined): number | undefined {
  return c ? Math.round((TARGET_RATE * c.async.perSecond) / TARGET_RATE_CEILING / 100) * 100 : undefined;
}

/** The load generator's open-loop latency task against `kind` at `rates`, with the server's CPU per rate. */
async function latencyAgainst(kind: 'server' | 'baseline-relay', opts: Options, { harness, report }: ScenarioContext, rates: number[]) {
  const [server, loadgen] = await Promise.all([
    kind === 'server' ? harness.startServer(kind, 'latency', { env: DEFAULT_CLOCK_SKEW_ENV }) : harness.startServer(kind),
    harness.startLoadgen(),
  ]);
  const marks = trackMarks(loadgen, server.child);
  const heapSamples = kind === 'server' && opts.heapSample ? profilePerRate(loadgen, server.child, 'heap', (rate) => join(RESULTS, `gateway-latency-${rate}-${STAMP}.heapprofile.json`)) : undefined;
  const p = opts.latency;
  const totalS = rates.length * ((p.durationMs + p.warmupMs) / 1000 + 10);
  const task = await runTask<{ agents: number; rates: LatencyRate[] }>(
    loadgen,
    'latency',
    { url: server.url, agents: p.agents, rates, durationMs: p.durationMs, warmupMs: p.warmupMs, frame: opts.frame },
    totalS * 1000 + 120_000,
  );
  for (const rate of task.rates) {
    rate.server = await serverUse(marks, `rate-${rate.rate}-start`, `rate-${rate.rate}-end`);
    attachGcOverlap(rate, rate.server.gcPauses);
    const file = await heapSamples?.get(rate.rate);
    if (heapSamples && !file) report.invalid.push(`latency @${rate.rate}/s: --heap-sample wrote no profile`);
    if (file) {
      const { totalBytes, rows } = topAllocations(file, 8);
      // Frames the gateway handled while sampling: every frame sent at this rate, warm-up included.
      rate.heap = { file, bytesPerFrame: totalBytes / Math.max(1, framesSentAt(rate)), top: rows };
    }
  }
  await loadgen.stop();
  await server.child.stop();
  if (server.profile) report.profiles.push(server.profile);
  const label = kind === 'server' ? 'latency' : 'relay latency';
  for (const x of task.rates) if (Object.keys(x.errors).length > 0) report.invalid.push(`${label} @${x.rate}/s: errors ${JSON.stringify(x.errors)}`);
  return task;
}

/** `ceiling`: this run's verify ceiling, when that scenario ran before this one. */
export async function latency(opts: Options, ctx: ScenarioContext, ceiling: CeilingResult | undefined): Promise<LatencyResult> {
  const p = opts.latency;
  const scaledRate = opts.smoke ? undefined : scaledTargetRate(ceiling);
  const rates = [...new Set([...p.rates, ...(scaledRate ? [scaledRate] : [])])].sort((a, b) => a - b);
  const task = await latencyAgainst('server', opts, ctx, rates);
  // Baseline at the scaled target rate: the inline-verify relay, same load generator, same rate.
  const relay = scaledRate ? (await latencyAgainst('baseline-relay', opts, ctx, [scaledRate])).rates[0] : undefined;
  const r = { ...task, scaledRate, relay };
  const lines = [
    `open loop across ${r.agents} agents (${r.agents / 2} pairs, both directions), ${(p.durationMs / 1000).toFixed(0)} s per rate after ${p.warmupMs} ms warm-up; latency = receive − send, ms`,
    '',
    ...table(
      ['rate/s', 'sent/s', 'delivered/s', 'p50', 'p90', 'p99', 'p99.9', 'max', 'p99 from schedule', 'sender lag p99', 'server CPU', 'loadgen CPU', 'lost', 'errors'],
      r.rates.map((x) => [
        fmtInt(x.rate),
        fmtInt(x.achievedSendRate),
        fmtInt(x.deliveredRate) + (overloaded(x) ? ` (saturated${x.stoppedAfterMs === undefined ? '' : `, stopped at ${(x.stoppedAfterMs / 1000).toFixed(1)} s`})` : ''),
        fmtMs(x.latencyMs.p50),
        fmtMs(x.latencyMs.p90),
        fmtMs(x.latencyMs.p99),
        fmtMs(x.latencyMs.p999),
        fmtMs(x.latencyMs.max),
        fmtMs(x.fromScheduleMs.p99),
        fmtMs(x.senderLagMs.p99),
        `${fmtInt(x.server?.cpuPercent)}%`,
        `${fmtInt(x.loadgenCpuPercent)}%`,
        fmtInt(x.lost),
        Object.keys(x.errors).length === 0 ? 'none' : JSON.stringify(x.errors),
      ]),
    ).split('\n'),
  ];
  const late = r.rates.filter((x) => x.senderLagMs.p99 > 5);
  if (late.length > 0) {
    lines.push(
      '',
      `note: the load generator fell behind its own schedule at ${late.map((x) => `${fmtInt(x.rate)}/s (sender lag p99 ${fmtMs(x.senderLagMs.p99)} ms)`).join(', ')}:`,
      '      it was starved of CPU, so those figures include machine contention, not only the gateway.',
    );
  }
  if (scaledRate) {
    lines.push(
      '',
      `${fmtInt(scaledRate)}/s is the 5,000/s target rate scaled to this run's verify ceiling (${fmtInt(ceiling?.async.perSecond)}/s on all cores;`,
      `the target was set when it was ${fmtInt(TARGET_RATE_CEILING)}/s): the same share of this machine's verification capacity.`,
    );
  }
  for (const x of r.rates) {
    if (!x.heap) continue;
    lines.push('', `allocated on the gateway @${fmtInt(x.rate)}/s: ${(x.heap.bytesPerFrame / 1024).toFixed(1)} KB per frame (sampled; ${x.heap.file.slice(ROOT.length)})`);
    for (const site of x.heap.top) {
      lines.push(`   ${site.percent.toFixed(1).padStart(5)} %  ${site.name} ${site.where}${site.caller ? ` ← ${site.caller}` : ''}`);
    }
  }
  if (relay) {
    const l = relay.latencyMs;
    lines.push(
      '',
      `baseline, the inline-verify relay at ${fmtInt(relay.rate)}/s: p50 ${fmtMs(l.p50)}, p99 ${fmtMs(l.p99)}, p99.9 ${fmtMs(l.p999)}, max ${fmtMs(l.max)} ms` +
        `${relay.saturated ? ' (saturated)' : ''}; relay CPU ${fmtInt(relay.server?.cpuPercent)}% (one thread)`,
    );
  }
  section('Gateway latency at fixed rates', lines);
  return r;
}
