/**
 * Scenario `tail`: the gateway's latency tail beside a bare relay that verifies nothing, both
 * measured in this run (issue "latency tail"). 500 registered agents, open loop at 500, 2,000
 * and 4,000 OFFERs/s of ~420 bytes; the gateway and the relay (bench/baseline-relay.ts with
 * RELAY_VERIFY=none: parse, look up, forward) take turns, `rounds` times, each in a fresh
 * process; medians of the rounds with their range. Same load generator, same frames, same machine.
 *
 * A third target, the verifying relay (bench/baseline-relay.ts with RELAY_VERIFY=gateway: parse,
 * canonical bytes, Ed25519 verify inline with the gateway's own verifier, forward), separates what
 * verification itself costs the tail from what the rest of the gateway costs: the bare relay's p99
 * lacks the first. Until 2026-12-03 it verified with node:crypto, which takes ~1.5x libsodium's
 * time per signature on the bench VM, and so overstated what verification alone costs.
 *
 * With --tail-spin-us, more targets: the bare relay spending N µs of busy CPU per frame where the
 * verification would run (RELAY_SPIN_US): the CPU on a frame's path that the bare relay's p99
 * takes before it doubles, which says how fast a verification would have to be for a gateway
 * that verifies every frame to stay within 2x the bare relay on this machine.
 *
 * The gateway runs with the default CLOCK_SKEW (30 s), as in the latency scenario, unlike the
 * others' 3,600 s (bench/server.ts): the load generator's frames carry the time they are due to
 * be sent, so they are fresh, and with the settle time before the first rate (--tail-settle)
 * every rate measures a replay cache that drops expired ids, as in a gateway that has been up a
 * while.
 */
import { attachGcOverlap } from '../lib/gc-overlap.js';
import { bunchedPercent, BUNCH_WINDOW_MS } from '../lib/bunching.js';
import { readSplit } from '../lib/read-split.js';
import { join } from 'node:path';
import { DEFAULT_CLOCK_SKEW_ENV, profilePerRate, runTask, serverUse, trackMarks, type ScenarioContext } from '../lib/harness.js';
import type { Options } from '../lib/options.js';
import { PROFILE_GROUPS, selfTimeByGroup } from '../lib/profile.js';
import { RESULTS, section, STAMP } from '../lib/report.js';
import { framesSentAt, spinOf, type LatencyRate, type TailRange, type TailResult, type TailRound, type TailTarget } from '../lib/results.js';
import { fmtInt, fmtMs, median, table } from '../lib/stats.js';

function range(values: number[]): TailRange {
  const s = [...values].sort((a, b) => a - b);
  return { median: median(s), min: s[0] ?? NaN, max: s[s.length - 1] ?? NaN };
}

/**
 * The kernel thread that was busiest in most of `rates`' rounds, with its mean time slice (median
 * over those rounds); undefined off Linux.
 */
function busiestKernelThread(rates: LatencyRate[]): TailResult['medians'][number]['kernelTop'] {
  const tops = rates.map((x) => x.server?.kernelThreads?.top).filter((t) => t !== undefined);
  const counts = new Map<string, number>();
  for (const t of tops) counts.set(t.name, (counts.get(t.name) ?? 0) + 1);
  const name = [...counts].sort((a, b) => b[1] - a[1])[0]?.[0];
  if (name === undefined) return undefined;
  return { name, meanSliceMs: median(tops.filter((t) => t.name === name).map((t) => t.meanSliceMs)) };
}

const fmtRange = (r: TailRange) => `${fmtMs(r.median)} [${fmtMs(r.min)}–${fmtMs(r.max)}]`;

/** The measuring time of one target's run: the JIT warm-up, the settle time, every rate's duration and warm-up, plus 10 s each to drain. */
function runMs(p: Options['tail']): number {
  const unmeasured = (ms: number) => (ms > 0 ? ms + 10_000 : 0);
  return unmeasured(p.jitWarmup.ms) + unmeasured(p.settleMs) + p.rates.length * (p.durationMs + p.warmupMs + 10_000);
}

/** How long the whole scenario may take before it counts as hung (bench/run.ts): twice its runs' time, at least 10 minutes. */
export function tailBudgetMs(p: Options['tail']): number {
  return Math.max(600_000, 2 * p.rounds * p.targets.length * (runMs(p) + 60_000));
}

/** bench/baseline-relay.ts's environment for a relay target. */
function relayEnv(target: TailTarget): Record<string, string> {
  const spin = spinOf(target);
  if (spin !== undefined) return { RELAY_VERIFY: 'none', RELAY_SPIN_US: String(spin) };
  return { RELAY_VERIFY: target === 'bare relay' ? 'none' : 'gateway' };
}

async function oneRun(target: TailTarget, round: number, opts: Options, { harness, report }: ScenarioContext): Promise<LatencyRate[]> {
  const p = opts.tail;
  const [server, loadgen] = await Promise.all([
    target === 'gateway'
      ? harness.startServer('server', undefined, { env: DEFAULT_CLOCK_SKEW_ENV })
      : harness.startServer('baseline-relay', undefined, { env: relayEnv(target), label: target }),
    harness.startLoadgen(),
  ]);
  const marks = trackMarks(loadgen, server.child);
  // --cpu-prof: every target's main thread over each rate, so they can be compared hop by hop.
  const profiles = opts.cpuProf ? profilePerRate(loadgen, server.child, 'cpu', (rate) => join(RESULTS, `tail-${target.replace(/[^a-z0-9]+/g, '-')}-${round}-${rate}-${STAMP}.cpuprofile.json`)) : undefined;
  const task = await runTask<{ agents: number; rates: LatencyRate[] }>(
    loadgen,
    'latency',
    { url: server.url, agents: p.agents, rates: p.rates, durationMs: p.durationMs, warmupMs: p.warmupMs, jitWarmup: p.jitWarmup, settleMs: p.settleMs, frame: 'offer-small' },
    runMs(p) + 180_000,
  );
  for (const rate of task.rates) {
    rate.server = await serverUse(marks, `rate-${rate.rate}-start`, `rate-${rate.rate}-end`);
    if (rate.frameWindows) {
      rate.readSplit = await readSplit(server.child, rate.frameWindows);
      rate.slowBunchedPercent = bunchedPercent(rate.frameWindows.slow);
    }
    attachGcOverlap(rate, rate.server.gcPauses);
    const profile = await profiles?.get(rate.rate);
    if (profiles && !profile) report.invalid.push(`tail (${target}) @${rate.rate}/s: --cpu-prof wrote no profile`);
    if (profile) rate.cpuProfile = profile;
  }
  await loadgen.stop();
  await server.child.stop();
  for (const x of task.rates) if (Object.keys(x.errors).length > 0) report.invalid.push(`tail (${target}) @${x.rate}/s: errors ${JSON.stringify(x.errors)}`);
  return task.rates;
}

export async function tail(opts: Options, ctx: ScenarioContext): Promise<TailResult> {
  const p = opts.tail;
  const runs: TailRound[] = [];
  const { targets } = p;
  for (let round = 1; round <= p.rounds; round++) {
    // Rotate which goes first, so none always runs on a machine warmed (or loaded) by another.
    const order = targets.map((_, i) => targets[(i + round - 1) % targets.length] as TailTarget);
    for (const target of order) {
      process.stderr.write(`[tail] round ${round}/${p.rounds}: ${target}\n`);
      runs.push({ round, target, rates: await oneRun(target, round, opts, ctx) });
    }
  }
  const medians: TailResult['medians'] = [];
  for (const rate of p.rates) {
    for (const target of targets) {
      const xs = runs.filter((r) => r.target === target).map((r) => r.rates.find((x) => x.rate === rate) as LatencyRate);
      medians.push({
        rate,
        target,
        p50: range(xs.map((x) => x.latencyMs.p50)),
        p99: range(xs.map((x) => x.latencyMs.p99)),
        p999: range(xs.map((x) => x.latencyMs.p999)),
        max: range(xs.map((x) => x.latencyMs.max)),
        cpuPercent: range(xs.map((x) => x.server?.cpuPercent ?? NaN)),
        gcPerSecond: range(xs.map((x) => x.server?.gc?.perSecond ?? NaN)),
        gcMaxMs: range(xs.map((x) => x.server?.gc?.maxMs ?? NaN)),
        promotedKB: range(xs.map((x) => x.server?.gc?.promotedKBPerScavenge ?? NaN)),
        majorGcs: range(xs.map((x) => x.server?.gc?.major ?? NaN)),
        rssMB: range(xs.map((x) => x.server?.rssMB ?? NaN)),
        loopDelayP99: range(xs.map((x) => x.server?.loopDelay?.p99 ?? NaN)),
        routeP99: range(xs.map((x) => x.server?.hops?.route?.p99 ?? NaN)),
        verifyP99: range(xs.map((x) => x.server?.hops?.verify?.p99 ?? NaN)),
        workersPercent: range(xs.map((x) => x.server?.workersPercent ?? NaN)),
        threadStarts: xs.reduce((n, x) => n + (x.server?.threadStarts ?? 0), 0),
        threadExits: xs.reduce((n, x) => n + (x.server?.threadExits ?? 0), 0),
        slowBunchedPercent: range(xs.map((x) => x.slowBunchedPercent ?? NaN)),
        stealPercent: range(xs.map((x) => x.server?.stealPercent ?? NaN)),
        kernelMsPerSecond: range(xs.map((x) => x.server?.kernelThreads?.msPerSecond ?? NaN)),
        kernelTop: busiestKernelThread(xs),
        mainWaitMsPerSecond: range(xs.map((x) => x.server?.sched?.mainWaitMsPerSecond ?? NaN)),
        mainWaitPerSliceUs: range(xs.map((x) => x.server?.sched?.mainWaitPerSliceUs ?? NaN)),
        othersRunMsPerSecond: range(xs.map((x) => x.server?.sched?.othersRunMsPerSecond ?? NaN)),
        loadgenWaitMsPerSecond: range(xs.map((x) => x.server?.loadgenSched?.mainWaitMsPerSecond ?? NaN)),
        loadgenWaitPerSliceUs: range(xs.map((x) => x.server?.loadgenSched?.mainWaitPerSliceUs ?? NaN)),
        slowBeforeReadPercent: range(xs.map((x) => x.readSplit?.slow.beforePercent ?? NaN)),
        slowBeforeReadMs: range(xs.map((x) => x.readSplit?.slow.beforeMs ?? NaN)),
        slowAfterReadMs: range(xs.map((x) => x.readSplit?.slow.afterMs ?? NaN)),
        slowInGcPercent: range(xs.map((x) => x.gcOverlap?.slowPercent ?? NaN)),
        allInGcPercent: range(xs.map((x) => x.gcOverlap?.allPercent ?? NaN)),
        slowInLoadgenGcPercent: range(xs.map((x) => x.gcOverlap?.loadgenSlowPercent ?? NaN)),
        allInLoadgenGcPercent: range(xs.map((x) => x.gcOverlap?.loadgenAllPercent ?? NaN)),
        saturated: xs.filter((x) => x.saturated).length,
        starved: xs.filter((x) => x.senderLagMs.p99 > 5).length,
      });
    }
  }
  const result: TailResult = { agents: p.agents, rounds: p.rounds, rates: p.rates, runs, medians };
  const rows = medians.map((m) => {
    const ratio = (to: TailTarget) => {
      const base = medians.find((r) => r.rate === m.rate && r.target === to);
      if (m.target === to || m.target === 'bare relay' || !base) return '';
      const x = m.p99.median / base.p99.median;
      // When the base saturates (a p99 of a second or more), "0.0×" would read as a zero.
      return x < 0.1 ? '< 0.1×' : `${x.toFixed(1)}×`;
    };
    const notes = [m.saturated ? `saturated ${m.saturated}/${p.rounds}` : '', m.starved ? `load generator starved ${m.starved}/${p.rounds}` : ''].filter(Boolean).join('; ');
    return [
      fmtInt(m.rate),
      m.target,
      fmtRange(m.p50),
      fmtRange(m.p99),
      fmtRange(m.p999),
      fmtRange(m.max),
      ratio('bare relay'),
      ratio('verifying relay'),
      // CPU time per frame offered: less noisy than the tail, and what the cores are shared by.
      `${fmtInt(m.cpuPercent.median)}% (${fmtInt((m.cpuPercent.median * 10_000) / m.rate)} µs)`,
      `${m.gcPerSecond.median.toFixed(1)}/s, max ${fmtMs(m.gcMaxMs.median)}` + (Number.isFinite(m.promotedKB.median) ? `; ${fmtInt(m.promotedKB.median)} KB/scav., ${fmtInt(m.majorGcs.median)} full` : ''),
      fmtMs(m.loopDelayP99.median),
      fmtInt(m.rssMB.median),
      m.target === 'gateway' ? `≤ ${fmtMs(m.routeP99.median)} / ≤ ${fmtMs(m.verifyP99.median)}` : '—',
      m.target === 'gateway' ? `${fmtPercent(m.workersPercent.median)} [${fmtPercent(m.workersPercent.min)}–${fmtPercent(m.workersPercent.max)}]; ${m.threadStarts} thread start(s), ${m.threadExits} exit(s)` : '—',
      Number.isFinite(m.stealPercent.median) ? `${m.stealPercent.median.toFixed(0)}% [${m.stealPercent.min.toFixed(0)}–${m.stealPercent.max.toFixed(0)}]` : '—',
      Number.isFinite(m.slowBeforeReadMs.median) ? `${fmtMs(m.slowBeforeReadMs.median)} / ${fmtMs(m.slowAfterReadMs.median)} (${fmtInt(m.slowBeforeReadPercent.median)}% before)` : '—',
      Number.isFinite(m.slowBunchedPercent.median) ? `${fmtInt(m.slowBunchedPercent.median)}% [${fmtInt(m.slowBunchedPercent.min)}–${fmtInt(m.slowBunchedPercent.max)}]` : '—',
      Number.isFinite(m.kernelMsPerSecond.median)
        ? `${m.kernelMsPerSecond.median.toFixed(1)} ms/s` + (m.kernelTop ? `; ${m.kernelTop.name} ${fmtMs(m.kernelTop.meanSliceMs)} ms slices` : '')
        : '—',
      Number.isFinite(m.mainWaitMsPerSecond.median)
        ? `${m.mainWaitMsPerSecond.median.toFixed(1)} ms/s (${fmtInt(m.mainWaitPerSliceUs.median)} µs); others run ${m.othersRunMsPerSecond.median.toFixed(0)} ms/s; load generator ${m.loadgenWaitMsPerSecond.median.toFixed(1)} ms/s (${fmtInt(m.loadgenWaitPerSliceUs.median)} µs)`
        : '—',
      Number.isFinite(m.slowInGcPercent.median) ? `${m.slowInGcPercent.median.toFixed(0)}% / ${m.allInGcPercent.median.toFixed(0)}%` : '—',
      Number.isFinite(m.slowInLoadgenGcPercent.median) ? `${m.slowInLoadgenGcPercent.median.toFixed(0)}% / ${m.allInLoadgenGcPercent.median.toFixed(0)}%` : '—',
      notes || '—',
    ];
  });
  section('Latency tail: the gateway beside a bare relay that verifies nothing and a relay that verifies inline', [
    `${p.agents} agents (${p.agents / 2} pairs, both directions), OFFERs of ~420 bytes, open loop, ${(p.durationMs / 1000).toFixed(0)} s per rate after ${p.warmupMs} ms warm-up;`,
    p.jitWarmup.ms > 0
      ? `before the first rate, ${(p.jitWarmup.ms / 1000).toFixed(0)} s at ${fmtInt(p.jitWarmup.rate)}/s unmeasured, for every target (a fresh process compiles its frame path then);`
      : 'no JIT warm-up before the first rate (--tail-jit-warmup 0): the first rate includes a fresh process compiling its frame path;',
    p.settleMs > 0
      ? `then ${(p.settleMs / 1000).toFixed(0)} s at ${fmtInt(p.rates[0] ?? NaN)}/s unmeasured (--tail-settle), so that every rate measures a server past its replay cache's first expiries;`
      : 'no settle time (--tail-settle 0): rates in the first 30 s of signaling measure a replay cache that has not yet expired an id;',
    `${p.rounds} round(s), ${targets.join(', ')} taking turns, each in a fresh process; medians of the rounds [min–max], ms`,
    'Bare relay: parse, look up, forward (nothing verified). Verifying relay: the same plus canonical bytes and an inline Ed25519',
    "verification per frame with the gateway's own verifier (libsodium where it loads), on one thread: what verification alone",
    'adds to a relay, without the rest of the gateway.',
    ...(targets.some((t) => spinOf(t) !== undefined)
      ? ['Bare relay + N µs (--tail-spin-us): the bare relay busy for N µs more per frame where the verification would run: how much', "CPU on a frame's path its p99 takes before it doubles on this machine."]
      : []),
    '',
    ...table(['rate/s', 'target', 'p50', 'p99', 'p99.9', 'max', 'p99 ÷ bare relay', 'p99 ÷ verifying relay', 'CPU (per frame)', 'GC pauses', 'loop delay p99', 'RSS MB', 'in gateway p99: route / verify', 'in workers', 'steal', 'slow 1 %: before / after the server read it', `slow 1 % in one ${BUNCH_WINDOW_MS} ms`, 'kernel threads', 'main thread waiting for a core', 'server GC pause: slow 1 % / all', 'load generator GC pause', 'notes'], rows).split('\n'),
    '',
    'CPU: the server process, all threads (100 % = one core), and that CPU time divided by the frames offered.',
    'GC pauses: main-thread collections per second and the longest (median of rounds); what each scavenge promoted to the',
    'old generation (KB, V8 GCProfiler) and the full collections (mark-compacts) that promotion brings; loop delay: the server',
    "process's event-loop delay p99 (monitorEventLoopDelay, 1 ms resolution): how late a ready callback ran.",
    "RSS MB: the server process's resident memory at the end of the rate (the young generation's growth under load shows here).",
    'In gateway: aiconexus_frame_route_seconds (checks passed → written to the target) and aiconexus_signature_verify_seconds',
    '(submitted → verdict), p99 as the upper bound of its histogram bucket: what of the end-to-end time the gateway itself holds a frame.',
    'In workers: the share of signatures verified by the worker threads rather than on the event loop (VERIFY_INLINE_MAX_LOAD decides),',
    'median [min–max] of the rounds, and the worker threads started and exited (idle) during the rate in all rounds together (a start',
    'costs a core tens of ms, and a start or an exit stalls the event loop 10-40 ms on a 2-core machine).',
    "Steal: the machine's CPU time (all cores) the hypervisor gave to other guests during the rate (/proc/stat): time neither",
    'process saw, only as stalls; compare rows by it before comparing their tails.',
    'Slow 1 % before / after the server read it: medians over the slowest 1 % of frames of the time from sent to the',
    "server's WebSocket message event (the sender's write, the kernel, the server's event loop reaching the socket late:",
    'busy, or waiting for a core) and from there to received (the server\'s work, its write, the receiver), and the share of',
    'their summed latency spent before the read (bench/lib/read-split.ts).',
    `Slow 1 % in one ${BUNCH_WINDOW_MS} ms: the largest share of the slowest 1 % sent within one ${BUNCH_WINDOW_MS} ms span of the rate, median [min-max]`,
    `of the rounds. Spread evenly over ${(p.durationMs / 1000).toFixed(0)} s it would be ~${((BUNCH_WINDOW_MS / p.durationMs) * 100).toFixed(1)} %; a large share means one event (a stall of the`,
    'server or of the machine, a thread starting or exiting) set the p99, not queueing spread over the rate (bench/lib/bunching.ts).',
    "Kernel threads: the CPU time the machine's kernel threads took per second of the rate (ms/s) and the busiest of them",
    'with its mean time slice (/proc/<pid>/schedstat). On a 2-vCPU machine a kernel thread holding a vCPU for ~10 ms leaves',
    'the server and the load generator one vCPU for that time.',
    "Main thread waiting for a core: the time per second the server's main thread was ready to run and waited for a CPU",
    '(/proc/<pid>/task/<tid>/schedstat), with the mean wait per time slice; the run time per second of its other threads',
    "(verification workers, V8's GC and compiler helpers, libuv); the same wait for the load generator's main thread. A frame",
    'in flight waits whenever its event loop does, and the CPU figures do not show it.',
    "Server GC pause: the share of the slowest 1 % of frames (latency ≥ p99), and of a sample of all frames, that were in flight",
    "while the server's main thread paused for a collection (its pauses laid over the load generator's send and receive times).",
    'Far more slow frames than frames in general: the pauses set the tail; about as many: something else does.',
    "Load generator GC pause: the same for the load generator's own pauses (a frame received during one is timestamped late).",
  ]);
  if (opts.cpuProf) profileSection(p.rates, targets, runs);
  return result;
}

/**
 * --cpu-prof: each target's main-thread CPU time per frame at each rate, by what owns the code
 * (summed over the rounds' profiles, divided by their frames), and the functions where the
 * gateway spends the most beyond the verifying relay.
 */
function profileSection(rates: number[], targets: readonly TailTarget[], runs: TailRound[]): void {
  const lines: string[] = [];
  for (const rate of rates) {
    const per = targets.map((target) => {
      const xs = runs.filter((r) => r.target === target).map((r) => r.rates.find((x) => x.rate === rate) as LatencyRate).filter((x) => x.cpuProfile);
      const frames = xs.reduce((n, x) => n + framesSentAt(x), 0);
      const sum = { busyUs: 0, groups: new Map<string, number>(), functions: new Map<string, number>() };
      for (const x of xs) {
        const t = selfTimeByGroup(x.cpuProfile as string);
        sum.busyUs += t.busyUs;
        for (const [g, us] of Object.entries(t.groups)) sum.groups.set(g, (sum.groups.get(g) ?? 0) + us);
        for (const [f, us] of t.functions) sum.functions.set(f, (sum.functions.get(f) ?? 0) + us);
      }
      const perFrame = (us: number | undefined) => (frames > 0 ? (us ?? 0) / frames : NaN);
      return { target, perFrame, sum };
    });
    const fmt = (us: number) => (Number.isFinite(us) ? us.toFixed(1) : 'n/a');
    lines.push(`${fmtInt(rate)}/s: main-thread CPU per frame, µs`);
    const rows = [['all (busy)', ...per.map((t) => fmt(t.perFrame(t.sum.busyUs)))], ...PROFILE_GROUPS.map((g) => [g, ...per.map((t) => fmt(t.perFrame(t.sum.groups.get(g))))])];
    lines.push(...table(['', ...targets], rows).split('\n'), '');
    const gateway = per.find((t) => t.target === 'gateway');
    if (gateway) {
      const top = [...gateway.sum.functions].sort((a, b) => b[1] - a[1]).slice(0, 25);
      lines.push(`${fmtInt(rate)}/s: the gateway's top functions by self time, µs per frame (beside the same function in the other targets)`);
      lines.push(...table(['function', ...targets], top.map(([f]) => [f, ...per.map((t) => fmt(t.perFrame(t.sum.functions.get(f))))])).split('\n'), '');
    }
  }
  section('Latency tail: where each target spends its main thread (--cpu-prof)', [
    "V8's CPU profiler over each rate (warm-up included), 250 µs between samples, main thread only (the gateway's verification",
    "threads are not in it); the rounds' profiles summed and divided by the frames sent (warm-up included). Profiles: bench/results/tail-*.cpuprofile.json.",
    '',
    ...lines,
  ]);
}

/** A share in %, one decimal (a few frames in the threads show), or n/a as the other columns print. */
function fmtPercent(v: number): string {
  return Number.isFinite(v) ? `${v.toFixed(1)}%` : 'n/a';
}
