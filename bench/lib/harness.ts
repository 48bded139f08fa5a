/**
 * The processes of one scenario and how the orchestrator drives them: a Harness starts the gateway
 * (or the baseline relay), load generators and other bench children with the run's settings, and
 * stops all of them when the scenario ends; runTask, trackMarks and serverUse are the load
 * generator's task protocol and the server's CPU over its marked phases.
 */
import { join } from 'node:path';
import { GATEWAY_NODE_FLAGS } from '../../src/constants.js';
import { runtime, startChild, statsOf, type Child, type StartOptions } from './child.js';
import { cpuPercent, eluBetween, stealPercent, type ProcessStats } from './ipc.js';
import { kernelThreadsBetween, processSched, schedBetween } from './kernel-threads.js';
import type { Options } from './options.js';
import { CORES, RESULTS, STAMP, type Findings } from './report.js';
import type { ServerUse } from './results.js';

/** What a scenario runs with besides the options: its children, and the Report's findings. */
export interface ScenarioContext {
  harness: Harness;
  report: Findings;
}

export type Server = Awaited<ReturnType<Harness['startServer']>>;

/**
 * startServer's environment for a gateway on the default CLOCK_SKEW (30 s) instead of the bench's
 * 3,600 s (bench/server.ts): for scenarios whose frames carry the time they are due to be sent, so
 * that the replay cache drops ids as in production (latency, tail).
 */
export const DEFAULT_CLOCK_SKEW_ENV: Readonly<Record<string, string>> = { BENCH_CLOCK_SKEW: 'default' };

/** The children started by one scenario; {@link Harness.stopAll} stops them when it ends, whatever happens. */
export class Harness {
  private readonly children: Child[] = [];

  constructor(private readonly opts: Pick<Options, 'gatewayFlags' | 'loadgenFlags' | 'gatewayEnv' | 'cpuProf' | 'verifyThreads'>) {}

  /** Forks a bench script (see bench/lib/child.ts), stopped with the others. */
  start(script: string, options: StartOptions): Child {
    const child = startChild(script, options);
    this.children.push(child);
    return child;
  }

  async startServer(kind: 'server' | 'baseline-relay', profileAs?: string, extra: { env?: Readonly<Record<string, string>>; label?: string } = {}) {
    const opts = this.opts;
    // The gateway runs with the flags npm start gives it (--gateway-flags after them, so they can
    // override one); the bare relay with Node's defaults, as a relay written without this gateway's
    // measurements would run.
    const flags = ['--expose-gc', ...(kind === 'server' ? [...GATEWAY_NODE_FLAGS, ...opts.gatewayFlags] : [])];
    let profile: string | undefined;
    if (opts.cpuProf && profileAs && kind === 'server') {
      profile = `gateway-${profileAs}-${STAMP}.cpuprofile.json`;
      flags.push('--cpu-prof', `--cpu-prof-dir=${RESULTS}`, `--cpu-prof-name=${profile}`);
    }
    const env = {
      ...(kind === 'server' ? opts.gatewayEnv : {}),
      ...(kind === 'server' && opts.verifyThreads ? { BENCH_VERIFY_THREADS: String(opts.verifyThreads) } : {}),
      ...extra.env,
    };
    const child = this.start(kind, { label: extra.label ?? (kind === 'server' ? 'gateway' : 'relay'), nodeFlags: flags, env });
    const ready = await child.waitFor<{ type: 'ready'; port: number; config?: unknown; uvThreadpoolSize?: string }>('ready', 30_000);
    return { child, port: ready.port, url: `ws://127.0.0.1:${ready.port}/ws`, ready, profile: profile && join(RESULTS, profile) };
  }

  async startLoadgen(label = 'loadgen'): Promise<Child> {
    // UV_THREADPOOL_SIZE = cores: pre-signing runs on the threadpool, on every core.
    const child = this.start('loadgen', { label, nodeFlags: this.opts.loadgenFlags, env: { UV_THREADPOOL_SIZE: String(CORES) } });
    child.onMessage = (msg) => logProgress(child, msg);
    await child.waitFor('ready', 30_000);
    return child;
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.children.map((c) => c.stop(3000).catch(() => {})));
  }
}

/** In --verbose mode, echoes a load generator's connect progress. */
function logProgress(child: Child, msg: { type: string } & Record<string, unknown>): void {
  if (runtime.verbose && msg.type === 'progress') {
    process.stderr.write(`[${child.label}] registered ${String(msg.registered)}/${String(msg.of)}, failed ${String(msg.failed)}\n`);
  }
}

export async function runTask<T>(loadgen: Child, task: string, params: Record<string, unknown>, timeoutMs: number): Promise<T> {
  const reply = await loadgen.request<{ type: string; result?: T; message?: string }>({ cmd: 'run', task, params }, ['result', 'error'], timeoutMs);
  if (reply.type === 'error') throw new Error(`${loadgen.label}: ${reply.message}`);
  return reply.result as T;
}

/** Samples the server's stats (or whatever `sample` reads) whenever the load generator marks a phase boundary. */
export function trackMarks(loadgen: Child, server: Child): Map<string, Promise<ProcessStats>>;
export function trackMarks<T>(loadgen: Child, sample: () => Promise<T>): Map<string, Promise<T>>;
export function trackMarks<T>(loadgen: Child, source: Child | (() => Promise<T>)): Map<string, Promise<T | ProcessStats>> {
  const marks = new Map<string, Promise<T | ProcessStats>>();
  loadgen.onMessage = (msg) => {
    logProgress(loadgen, msg);
    if (msg.type === 'mark') {
      // With the load generator's own scheduling beside the server's (read here, from /proc).
      const p = typeof source === 'function' ? source() : statsOf(source).then((s) => ({ ...s, loadgenSched: processSched(loadgen.proc.pid) }));
      p.catch(() => {});
      marks.set(String(msg.name), p);
    }
  };
  return marks;
}

/**
 * Profiles `server` over each rate the load generator sends (between its `rate-R-start` and
 * `rate-R-end` marks): V8's sampling heap profiler (`heap`, --heap-sample) or its CPU profiler
 * (`cpu`), written to `fileFor(rate)`. Resolves per rate with the file, or undefined when none
 * was written. Chains after the load generator's current message handler (trackMarks).
 */
export function profilePerRate(loadgen: Child, server: Child, kind: 'heap' | 'cpu', fileFor: (rate: number) => string): Map<number, Promise<string | undefined>> {
  const files = new Map<number, Promise<string | undefined>>();
  const [start, stop, done] = kind === 'heap' ? ['heap-sample-start', 'heap-sample-stop', 'heap-sampled'] : ['cpu-profile-start', 'cpu-profile-stop', 'cpu-profiled'];
  const previous = loadgen.onMessage;
  loadgen.onMessage = (msg) => {
    previous(msg);
    const m = msg.type === 'mark' ? /^rate-(\d+)-(start|end)$/.exec(String(msg.name)) : null;
    if (!m) return;
    const rate = Number(m[1]);
    if (m[2] === 'start') return server.send({ cmd: start });
    const written = server
      .request<{ type: string; file: string | null }>({ cmd: stop, file: fileFor(rate) }, done, 60_000)
      .then((r) => r.file ?? undefined, () => undefined);
    files.set(rate, written);
  };
  return files;
}

export async function serverUse(marks: Map<string, Promise<ProcessStats>>, start: string, end: string): Promise<ServerUse> {
  const a = await marks.get(start);
  const b = await marks.get(end);
  if (!a || !b) return { cpuPercent: NaN, eventLoopUtilization: NaN };
  const seconds = (b.at - a.at) / 1000;
  return {
    cpuPercent: cpuPercent(a, b),
    eventLoopUtilization: eluBetween(a, b),
    gc: {
      perSecond: (b.gc.count - a.gc.count) / seconds,
      msPerSecond: (b.gc.totalMs - a.gc.totalMs) / seconds,
      over1msPerSecond: (b.gc.over1ms - a.gc.over1ms) / seconds,
      over4ms: b.gc.over4ms - a.gc.over4ms,
      maxMs: b.gc.maxMs,
      major: b.gc.major - a.gc.major,
      promotedKBPerScavenge: (b.gc.promotedBytes - a.gc.promotedBytes) / 1024 / (b.gc.scavenges - a.gc.scavenges),
    },
    // The end snapshot's delay histogram covers the interval since the start snapshot.
    loopDelay: b.loopDelay,
    hops: hopsBetween(a, b),
    workersPercent: workersBetween(a, b),
    threadStarts: a.verified && b.verified ? b.verified.threadsStarted - a.verified.threadsStarted : undefined,
    threadExits: a.verified && b.verified ? b.verified.threadsExited - a.verified.threadsExited : undefined,
    stealPercent: stealPercent(a, b),
    kernelThreads: kernelThreadsBetween(a, b),
    sched: schedBetween(a.sched, b.sched, seconds),
    loadgenSched: schedBetween(a.loadgenSched, b.loadgenSched, seconds),
    // The end snapshot's pause log covers the interval since the start snapshot.
    gcPauses: b.gcPauses,
    rssMB: b.memory.rss / 2 ** 20,
  };
}

/** Share of the verifications between two snapshots that the worker threads did, %. */
function workersBetween(a: ProcessStats, b: ProcessStats): number | undefined {
  if (!a.verified || !b.verified) return undefined;
  const workers = b.verified.workers - a.verified.workers;
  const all = workers + b.verified.inline - a.verified.inline;
  return all > 0 ? (workers / all) * 100 : NaN;
}

/** Per-hop percentiles (bucket upper bounds, ms) of what the gateway's histograms counted between two snapshots. */
function hopsBetween(a: ProcessStats, b: ProcessStats): ServerUse['hops'] {
  if (!a.histograms || !b.histograms) return undefined;
  const out: NonNullable<ServerUse['hops']> = {};
  for (const [name, end] of Object.entries(b.histograms)) {
    const start = a.histograms[name];
    const counts = end.counts.map((c, i) => c - (start?.counts[i] ?? 0));
    const total = counts[counts.length - 1] ?? 0;
    const at = (q: number) => {
      const i = counts.findIndex((c) => c >= q * total);
      return i < 0 ? NaN : (end.le[i] as number) * 1000;
    };
    out[name] = { count: total, p50: at(0.5), p99: at(0.99), p999: at(0.999) };
  }
  return out;
}
