/**
 * The IPC vocabulary between the orchestrator (bench/run.ts) and its child processes, and the
 * child-side helpers. Every child is forked with an IPC channel; it exits when the channel closes,
 * so no child outlives the orchestrator.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { monitorEventLoopDelay, performance, PerformanceObserver, type IntervalHistogram } from 'node:perf_hooks';
import { GCProfiler } from 'node:v8';
import { promotion } from './gc-promotion.js';
import type { KernelThreadTimes, ProcessSched } from './kernel-threads.js';
import type { ReadLog } from './read-log.js';

/** What a server child (bench/server.ts, bench/baseline-relay.ts) reports about itself. */
export interface ProcessStats {
  /** process.memoryUsage(), bytes. */
  memory: NodeJS.MemoryUsage;
  /** process.cpuUsage(), microseconds since start. */
  cpu: NodeJS.CpuUsage;
  /** performance.eventLoopUtilization(), cumulative since start (ms). */
  elu: { idle: number; active: number };
  /** performance.now() of the child at the time of the snapshot (ms). */
  at: number;
  /** Open connections the child holds, when it knows. */
  connections?: number;
  /** RSS split from /proc/self/smaps_rollup (Linux): anonymous memory vs file-backed pages (mostly the node binary's code). */
  rssSplit?: { anonymous: number; file: number; privateBytes: number };
  /** Garbage collection pauses on the main thread, cumulative since the first snapshot (ms). */
  gc: GcTotals;
  /** Event-loop delay since the previous snapshot (1 ms resolution timer), ms. */
  loopDelay: { p50: number; p99: number; max: number };
  /** The gateway's latency histograms, cumulative (bench/server.ts): name → bucket bounds (s) and counts. */
  histograms?: Record<string, Buckets>;
  /**
   * The gateway's signatures verified so far, on the event loop and by the worker threads, and the
   * worker threads started so far (bench/server.ts).
   */
  verified?: { inline: number; workers: number; threadsStarted: number; threadsExited: number };
  /** The gateway's idle collections so far (src/idle-collect.ts), when it runs them (BENCH_IDLE_COLLECT=1). */
  idleCollect?: IdleCollections;
  /** The whole machine's CPU time from /proc/stat (Linux), in clock ticks: all of it, and the part stolen by the hypervisor. */
  machineTicks?: { total: number; steal: number };
  /**
   * The machine's kernel threads' CPU time so far, by pid (bench/lib/kernel-threads.ts). Read by
   * the orchestrator when the snapshot arrives (statsOf), not by the server: a scan of /proc
   * costs ~3 ms, which the measured server's event loop should not pay.
   */
  kernelThreads?: KernelThreadTimes;
  /** The server's own threads' scheduler counters so far (bench/lib/kernel-threads.ts), read by the orchestrator too. */
  sched?: ProcessSched;
  /** The load generator's, read beside the server's at a load-generator mark (bench/lib/harness.ts trackMarks). */
  loadgenSched?: ProcessSched;
  /**
   * The main-thread GC pauses since the previous snapshot, as [start, duration] pairs flattened:
   * start in ms since the Unix epoch (`performance.timeOrigin` + the entry's start, comparable
   * across the processes of one machine), duration in ms. At most {@link MAX_LOGGED_PAUSES}.
   */
  gcPauses?: number[];
}

/** Pauses kept between two snapshots (a rate of the tail scenario sees ~50). */
const MAX_LOGGED_PAUSES = 10_000;

/** A prom-client histogram's cumulative buckets: `le[i]` seconds (the last is Infinity), `counts[i]` observations ≤ it. */
export interface Buckets {
  le: number[];
  counts: number[];
}

export interface GcTotals {
  count: number;
  totalMs: number;
  /** Pauses of 1 ms or more, and of 4 ms or more. */
  over1ms: number;
  over4ms: number;
  /** The longest pause since the previous snapshot. */
  maxMs: number;
  /** Mark-compacts (major collections) among them (scavenges: see `scavenges`). */
  major: number;
  /**
   * Scavenges seen by V8's GCProfiler and the bytes they promoted to the old generation, since
   * the process started (bench/lib/gc-promotion.ts).
   */
  scavenges: number;
  promotedBytes: number;
}

/** Started by the first snapshot; a child that never reports pays nothing. */
let gcTotals: GcTotals | undefined;
let loopDelay: IntervalHistogram | undefined;
/** Collects per-GC heap statistics between two snapshots (restarted at each). */
let gcProfiler: GCProfiler | undefined;
const pauseLog: number[] = [];

function watch(): void {
  if (gcTotals) return;
  const totals: GcTotals = { count: 0, totalMs: 0, over1ms: 0, over4ms: 0, maxMs: 0, major: 0, scavenges: 0, promotedBytes: 0 };
  gcTotals = totals;
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      totals.count++;
      totals.totalMs += e.duration;
      if (e.duration >= 1) totals.over1ms++;
      if (e.duration >= 4) totals.over4ms++;
      if (e.duration > totals.maxMs) totals.maxMs = e.duration;
      if (pauseLog.length < 2 * MAX_LOGGED_PAUSES) pauseLog.push(performance.timeOrigin + e.startTime, e.duration);
      const kind = ((e as { detail?: unknown }).detail as { kind?: number } | undefined)?.kind;
      // perf_hooks constant NODE_PERFORMANCE_GC_MAJOR = 4.
      if (kind === 4) totals.major++;
    }
  }).observe({ entryTypes: ['gc'] });
  loopDelay = monitorEventLoopDelay({ resolution: 1 });
  loopDelay.enable();
  gcProfiler = new GCProfiler();
  gcProfiler.start();
}

/** Adds what the GC profiler saw since the last call to the totals, and starts it again. */
function addPromotion(totals: GcTotals): void {
  const seen = gcProfiler?.stop();
  gcProfiler = new GCProfiler();
  gcProfiler.start();
  if (!seen) return;
  const { scavenges, promotedBytes } = promotion(seen.statistics);
  totals.scavenges += scavenges;
  totals.promotedBytes += promotedBytes;
}

/**
 * This process's main-thread GC pauses since the previous call (or snapshot), as in
 * {@link ProcessStats.gcPauses}; the first call starts the log. The load generator's own pauses,
 * laid over its frames like the server's (bench/lib/gc-overlap.ts).
 */
export function takeGcPauses(): number[] {
  watch();
  return pauseLog.splice(0);
}

/** Anonymous / file-backed / private resident bytes from /proc/self/smaps_rollup, when available. */
function rssSplit(): ProcessStats['rssSplit'] {
  try {
    const text = readFileSync('/proc/self/smaps_rollup', 'utf8');
    const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN) * 1024;
    const rss = kb('Rss');
    const anonymous = kb('Anonymous');
    return { anonymous, file: rss - anonymous, privateBytes: kb('Private_Clean') + kb('Private_Dirty') };
  } catch {
    return undefined;
  }
}

/** A message from a child: `type` names it, other fields are the payload. */
export type ChildMessage = { type: string } & Record<string, unknown>;

/** Sends a message to the orchestrator (no-op when the process was not forked). */
export function toParent(msg: ChildMessage): void {
  process.send?.(msg);
}

/** Calls `handler` for each orchestrator message; exits the process when the channel closes. */
export function fromParent(handler: (msg: { cmd: string } & Record<string, unknown>) => void): void {
  process.on('message', (msg) => handler(msg as { cmd: string } & Record<string, unknown>));
  process.on('disconnect', () => process.exit(0));
}

/** A snapshot of this process's memory, CPU and event-loop use; runs a full GC first when asked (needs --expose-gc). */
export function processStats(gc: boolean, connections?: number): ProcessStats {
  const collect = (globalThis as { gc?: () => void }).gc;
  if (gc && collect) {
    collect();
    collect();
  }
  watch();
  const elu = performance.eventLoopUtilization();
  addPromotion(gcTotals as GcTotals);
  const pauses = { ...(gcTotals as GcTotals) };
  (gcTotals as GcTotals).maxMs = 0;
  const h = loopDelay as IntervalHistogram;
  const delay = { p50: h.percentile(50) / 1e6, p99: h.percentile(99) / 1e6, max: h.max / 1e6 };
  h.reset();
  return {
    gc: pauses,
    loopDelay: delay,
    memory: process.memoryUsage(),
    cpu: process.cpuUsage(),
    elu: { idle: elu.idle, active: elu.active },
    at: performance.now(),
    connections,
    rssSplit: gc ? rssSplit() : undefined,
    machineTicks: machineTicks(),
    gcPauses: pauseLog.splice(0),
  };
}

/**
 * The machine's CPU ticks so far (the `cpu` line of /proc/stat), for the steal share of an
 * interval: on a VM, time the hypervisor gave this machine's vCPUs to someone else. A process
 * does not see it in its own CPU time, only as stalls, so it is reported beside the tail.
 */
function machineTicks(): ProcessStats['machineTicks'] {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] as string;
    // user nice system idle iowait irq softirq steal (guest time is already inside user/nice)
    const ticks = line.trim().split(/\s+/).slice(1, 9).map(Number);
    if (ticks.length < 8 || ticks.some((t) => !Number.isFinite(t))) return undefined;
    return { total: ticks.reduce((a, b) => a + b, 0), steal: ticks[7] as number };
  } catch {
    return undefined;
  }
}

/** Bytes between two samples of the sampling heap profiler (`--heap-sample`). */
const HEAP_SAMPLING_INTERVAL = 4096;

/**
 * Microseconds between two samples of the windowed CPU profiler (`cpu-profile-start`): 4x finer
 * than --cpu-prof's default, as a frame's work is tens of microseconds.
 */
const CPU_SAMPLING_INTERVAL_US = 250;

/** What the gateway's idle collector did (bench/server.ts with BENCH_IDLE_COLLECT=1). */
export interface IdleCollections {
  count: number;
  /** The last collection: how long it paused the event loop, and the young generation before and after it. */
  lastMs: number;
  youngBefore: number;
  youngAfter: number;
}

/** What a server child (bench/server.ts, bench/baseline-relay.ts) offers {@link serveServerCommands}. */
export interface ServerHooks {
  /** Closes the server gracefully. */
  stop: () => Promise<void>;
  /** Open connections now. */
  connections: () => number;
  /** The gateway's latency histograms ({@link ProcessStats.histograms}). */
  histograms?: () => Promise<Record<string, Buckets>>;
  /** The gateway's verification counts ({@link ProcessStats.verified}). */
  verified?: () => ProcessStats['verified'];
  /** When the server read load-generator frames (bench/lib/read-log.ts). */
  reads?: ReadLog;
  /** The idle collector's record ({@link ProcessStats.idleCollect}). */
  idleCollect?: () => IdleCollections | undefined;
}

/**
 * Serves the server-child commands: `stats` (optionally after a GC), `heap-sample-start` /
 * `heap-sample-stop` (V8's sampling heap profiler over a phase, objects already collected
 * included, so the profile shows everything allocated; written to `msg.file`), `cpu-profile-start`
 * / `cpu-profile-stop` (V8's CPU profiler over a phase, main thread only; written to `msg.file`), `read-times`
 * (when the frames numbered `msg.seqs` were read; NaN each without a read log), and `stop`
 * (graceful close, then exit so that --cpu-prof writes its profile).
 */
export function serveServerCommands({ stop, connections, histograms, verified, reads, idleCollect }: ServerHooks): void {
  let inspector: Session | undefined;
  let profiler: Session | undefined;
  fromParent((msg) => {
    if (msg.cmd === 'heap-sample-start') {
      if (inspector) return;
      inspector = new Session();
      inspector.connect();
      inspector.post('HeapProfiler.enable');
      // The two include* flags are newer than @types/node's protocol typings.
      const params = { samplingInterval: HEAP_SAMPLING_INTERVAL, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true };
      inspector.post('HeapProfiler.startSampling', params as { samplingInterval: number });
    } else if (msg.cmd === 'heap-sample-stop') {
      const session = inspector;
      inspector = undefined;
      if (!session) return toParent({ type: 'heap-sampled', file: null, error: 'no heap-sample-start before the stop' });
      session.post('HeapProfiler.stopSampling', (err, result) => writeProfile(session, err, result?.profile, String(msg.file), 'heap-sampled'));
    } else if (msg.cmd === 'cpu-profile-start') {
      if (profiler) return;
      profiler = new Session();
      profiler.connect();
      profiler.post('Profiler.enable');
      profiler.post('Profiler.setSamplingInterval', { interval: CPU_SAMPLING_INTERVAL_US });
      profiler.post('Profiler.start');
    } else if (msg.cmd === 'cpu-profile-stop') {
      const session = profiler;
      profiler = undefined;
      if (!session) return toParent({ type: 'cpu-profiled', file: null, error: 'no cpu-profile-start before the stop' });
      session.post('Profiler.stop', (err, result) => writeProfile(session, err, result?.profile, String(msg.file), 'cpu-profiled'));
    } else if (msg.cmd === 'stats') {
      const stats = { ...processStats(msg.gc === true, connections()), verified: verified?.(), idleCollect: idleCollect?.() };
      if (!histograms) return toParent({ type: 'stats', stats });
      histograms().then(
        (h) => toParent({ type: 'stats', stats: { ...stats, histograms: h } }),
        () => toParent({ type: 'stats', stats }),
      );
    } else if (msg.cmd === 'read-times') {
      const seqs = msg.seqs as number[];
      toParent({ type: 'read-times', times: reads ? reads.timesOf(seqs) : seqs.map(() => NaN) });
    } else if (msg.cmd === 'stop') {
      const done = () => {
        toParent({ type: 'stopped' });
        setTimeout(() => process.exit(0), 20).unref();
      };
      stop().then(done, done);
      // Bounded: exit even if a graceful close hangs.
      setTimeout(() => process.exit(0), 5000).unref();
    }
  });
}

/** Writes a profiler's result to `file`, closes its inspector session and tells the parent (`reply`). */
function writeProfile(session: Session, err: Error | null, profile: unknown, file: string, reply: string): void {
  if (!err) writeFileSync(file, JSON.stringify(profile));
  session.disconnect();
  toParent({ type: reply, file: err ? null : file, error: err ? String(err) : null });
}

/** CPU % of one process over the interval between two snapshots (100 % = one core busy). */
export function cpuPercent(a: ProcessStats, b: ProcessStats): number {
  const cpuUs = b.cpu.user + b.cpu.system - (a.cpu.user + a.cpu.system);
  return (cpuUs / 1000 / (b.at - a.at)) * 100;
}

/** The share of the machine's CPU time (all cores) stolen by the hypervisor between two snapshots, %; NaN off Linux. */
export function stealPercent(a: ProcessStats, b: ProcessStats): number {
  if (!a.machineTicks || !b.machineTicks) return NaN;
  const total = b.machineTicks.total - a.machineTicks.total;
  return total > 0 ? ((b.machineTicks.steal - a.machineTicks.steal) / total) * 100 : NaN;
}

/** Event-loop utilisation (0..1) over the interval between two snapshots. */
export function eluBetween(a: ProcessStats, b: ProcessStats): number {
  const active = b.elu.active - a.elu.active;
  const idle = b.elu.idle - a.elu.idle;
  return active + idle > 0 ? active / (active + idle) : NaN;
}
