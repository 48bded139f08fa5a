/**
 * `npm run attack`: hostile scenarios against a real gateway process on loopback, one fresh
 * gateway per scenario, started with the default configuration (only GATEWAY_HOST=127.0.0.1 and
 * GATEWAY_PORT=0 set; burst-memory also raises RATE_LIMIT / RATE_BURST, and says so), under a
 * 4,096-descriptor limit (prlimit) as a real deployment might run it.
 *
 *   npm run attack                         every scenario at its default length (~5 minutes)
 *   npm run attack -- --smoke              every scenario for a few seconds with small counts (CI)
 *   npm run attack -- --only discover-nonreaders,idle-sockets --json out.json
 *
 * Scenarios:
 *   discover-nonreaders  100 agents with ~4 KB meta; 10 registered attackers stop reading (socket
 *                        paused) and send DISCOVER limit 1000 as fast as the rate limit allows
 *   idle-sockets         20,000 TCP connections that send nothing, held ~20 s
 *   slowloris            2,000 connections trickling one header byte every 3 s: half an HTTP
 *                        request, half a WebSocket upgrade, never completed
 *   target-flood         3 attackers send max-size signed OFFERs to a victim that reads normally
 *   burst-memory         ~150 MB of 32 KB-sdp OFFERs from one fast sender to a reading target,
 *                        then 60 s idle: does RSS come back?
 *
 * For each: gateway RSS (VmRSS) and open descriptors before / peak / after (sampled every
 * 150 ms), a separate well-behaved agent's PING→PONG round trip (one PING every 25 ms, 1 s
 * timeout counted as a failure), /health on a fresh connection every 500 ms (2 s timeout), and
 * whether the process survived. The measuring clients (and the "new agent" of idle-sockets and
 * slowloris) connect from a bystander loopback address (127.0.0.200 by default), the attackers
 * from 127.0.0.1: per-address limits must not be mistaken for an outage. A gateway passing 2 GB RSS is killed and the scenario recorded as
 * aborted. The attacking side runs in child processes (scripts/lib/attack-worker.ts), so the
 * measuring process only measures. Targets are measurements: the exit status is 1 only when the
 * harness itself failed (or, with --strict, when a target is missed); 2 on bad usage.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { connectAgent, newIdentity } from './lib/attack-agent.js';
import {
  findTools,
  Gateway,
  killAllChildren,
  makeTmpRoot,
  mb,
  Monitor,
  ownNofile,
  removeTmpRoot,
  ROOT,
  canBind,
  sleep,
  snapshotDist,
  WorkerHandle,
  type Snapshot,
  type Tools,
  type WindowStats,
} from './lib/attack-gateway.js';
import { intOption, optionsOrExit, parseCommandLine, UsageError, wordsOption } from './lib/args.js';
import { mallocEnvOf } from './lib/malloc.js';
import { GATEWAY_NODE_FLAGS } from '../src/constants.js';

const SCENARIOS = ['discover-nonreaders', 'idle-sockets', 'slowloris', 'target-flood', 'burst-memory'] as const;
type ScenarioName = (typeof SCENARIOS)[number];

/** The gateway's defaults (src/config.ts) that the attackers pace themselves by. */
const DEFAULT_RATE_LIMIT = 50;
const DEFAULT_RATE_BURST = 200;
const MB = 1048576;

const USAGE = 'usage: npm run attack -- [--smoke] [--seconds N] [--only a,b] [--json FILE] [--strict] [--build] [options]';
const HELP = `${USAGE}

Scenarios (in this order): ${SCENARIOS.join(', ')}

  --only a,b               run only these scenarios
  --seconds N              attack length of every scenario (the burst-memory idle phase included);
                           a scenario's own option below wins
  --smoke                  a few seconds per scenario with small counts (CI)
  --json FILE              write every result (and the RSS / descriptor samples) to FILE
  --strict                 exit 1 when a target is missed (default: targets are only reported)
  --build                  run \`npm run build\` first
  --dist DIR               the build to run (default: dist/ of this repository; copied to a temp
                           directory first so a rebuild during the run does not disturb it)
  --gateway-nofile N       the gateway's descriptor limit, via prlimit (default 4096; 0 = inherit)
  --rss-abort-mb N         kill the gateway and record the scenario as aborted past this RSS (default 2048)
  --probe-address A        source address of the measuring clients (PING agent, /health probe, new
                           agent), a bystander next to attackers on 127.0.0.1 (default 127.0.0.200;
                           127.0.0.1 puts them behind the attackers' per-address limits)
  --malloc NAME            glibc (default) or jemalloc: run the gateway with
                           LD_PRELOAD=libjemalloc.so.2 MALLOC_CONF=background_thread:true, as the
                           Docker image does (needs the libjemalloc2 package)
  --gateway-flags F        extra node flags for the gateway, after those npm start passes (one
                           argument, space-separated), e.g. --gateway-flags=--max-semi-space-size=16
  --settle-seconds N       wait after an attack before the "after" sample (default 5; smoke 2)

  --discover-seconds N     discover-nonreaders length (default 60; smoke 4)
  --discover-agents N      registered agents with ~4 KB meta (default 100; smoke 20)
  --discover-attackers N   non-reading attackers (default 10; smoke 3)
  --idle-seconds N         idle-sockets hold time after the sockets are open (default 20; smoke 4)
  --idle-sockets N         idle TCP connections (default 20000; smoke 2000)
  --slowloris-seconds N    slowloris length (default 30; smoke 5)
  --slowloris-sockets N    slowloris connections, half HTTP, half WebSocket upgrade (default 2000; smoke 200)
  --slowloris-byte-ms N    one more header byte per socket every N ms (default 3000; smoke 1000)
  --flood-seconds N        target-flood length (default 10; smoke 3)
  --flood-attackers N      attackers (default 3)
  --burst-mb N             megabytes the burst sender sends (default 150; smoke 15)
  --burst-idle-seconds N   idle time after the burst (default 60; smoke 6)
  -h, --help               print this help

Exit status: 0, or 1 when the harness failed (a gateway that would not start, a worker that
failed, an exception) or, with --strict, when a target was missed; 2 on bad usage.`;

const OPTIONS = {
  only: { type: 'string' },
  seconds: { type: 'string' },
  smoke: { type: 'boolean', default: false },
  json: { type: 'string' },
  strict: { type: 'boolean', default: false },
  build: { type: 'boolean', default: false },
  dist: { type: 'string' },
  'gateway-nofile': { type: 'string', default: '4096' },
  'rss-abort-mb': { type: 'string', default: '2048' },
  'probe-address': { type: 'string', default: '127.0.0.200' },
  'settle-seconds': { type: 'string' },
  malloc: { type: 'string', default: 'glibc' },
  'gateway-flags': { type: 'string' },
  'discover-seconds': { type: 'string' },
  'discover-agents': { type: 'string' },
  'discover-attackers': { type: 'string' },
  'idle-seconds': { type: 'string' },
  'idle-sockets': { type: 'string' },
  'slowloris-seconds': { type: 'string' },
  'slowloris-sockets': { type: 'string' },
  'slowloris-byte-ms': { type: 'string' },
  'flood-seconds': { type: 'string' },
  'flood-attackers': { type: 'string' },
  'burst-mb': { type: 'string' },
  'burst-idle-seconds': { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

function parseCli(argv: string[]) {
  const v = parseCommandLine(OPTIONS, argv);
  if (v.help) return null;
  const smoke = v.smoke;
  const all = v.seconds === undefined ? undefined : intOption('seconds', v.seconds, 1);
  const int = (name: keyof typeof OPTIONS, full: number, small: number, min = 1) => {
    const raw = v[name];
    return typeof raw === 'string' ? intOption(name, raw, min) : smoke ? small : full;
  };
  const secs = (name: keyof typeof OPTIONS, full: number, small: number) => {
    const raw = v[name];
    if (typeof raw === 'string') return intOption(name, raw, 1);
    return all ?? (smoke ? small : full);
  };
  let only: ScenarioName[] = [...SCENARIOS];
  if (v.only !== undefined) {
    const names = v.only.split(',').map((s) => s.trim()).filter(Boolean);
    for (const n of names) if (!(SCENARIOS as readonly string[]).includes(n)) throw new UsageError(`--only: unknown scenario '${n}' (known: ${SCENARIOS.join(', ')})`);
    if (names.length === 0) throw new UsageError('--only needs at least one scenario');
    only = SCENARIOS.filter((s) => names.includes(s));
  }
  return {
    only,
    smoke,
    strict: v.strict,
    build: v.build,
    json: v.json === undefined ? null : resolve(v.json),
    dist: resolve(v.dist ?? join(ROOT, 'dist')),
    gatewayNofile: intOption('gateway-nofile', v['gateway-nofile'], 0),
    rssAbortBytes: intOption('rss-abort-mb', v['rss-abort-mb'], 64) * MB,
    probeAddress: probeAddressOf(v['probe-address']),
    settleMs: int('settle-seconds', 5, 2, 0) * 1000,
    mallocEnv: mallocEnvOf(v.malloc),
    gatewayFlags: wordsOption(v['gateway-flags']),
    discover: { seconds: secs('discover-seconds', 60, 4), agents: int('discover-agents', 100, 20, 0), attackers: int('discover-attackers', 10, 3) },
    idle: { seconds: secs('idle-seconds', 20, 4), sockets: int('idle-sockets', 20_000, 2000) },
    slowloris: { seconds: secs('slowloris-seconds', 30, 5), sockets: int('slowloris-sockets', 2000, 200), byteMs: int('slowloris-byte-ms', 3000, 1000, 50) },
    flood: { seconds: secs('flood-seconds', 10, 3), attackers: int('flood-attackers', 3, 3) },
    burst: { bytes: int('burst-mb', 150, 15) * MB, idleSeconds: secs('burst-idle-seconds', 60, 6) },
  };
}
type Options = NonNullable<ReturnType<typeof parseCli>>;

function probeAddressOf(raw: string): string {
  if (!/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(raw)) throw new UsageError(`--probe-address must be a loopback address 127.x.y.z (got '${raw}')`);
  return raw;
}

// ------------------------------------------------------------------------------------------------
// results

interface Target {
  name: string;
  want: string;
  got: string;
  /** null: not determined (e.g. the scenario was aborted). */
  pass: boolean | null;
}

interface ScenarioResult {
  name: ScenarioName;
  /** ok: ran to the end; aborted: RSS limit; crashed: the gateway exited on its own; error: harness failure. */
  status: 'ok' | 'aborted' | 'crashed' | 'error';
  error: string | null;
  abortReason: string | null;
  notes: string[];
  gateway: { pid: number | null; port: number | null; nofile: number | null; env: Record<string, string>; command: string[]; exit: { code: number | null; signal: string | null; afterStartMs: number } | null; survived: boolean | null; logTail: string | null };
  window: { attackStartMs: number | null; attackEndMs: number | null; afterMs: number | null };
  stats: WindowStats | null;
  details: Record<string, unknown>;
  targets: Target[];
  samples: [number, number | null, number | null][];
}

// ------------------------------------------------------------------------------------------------
// the scenario context

class Ctx {
  readonly workers: WorkerHandle[] = [];
  readonly details: Record<string, unknown> = {};
  readonly notes: string[] = [];
  attackStart: number | null = null;
  attackEnd: number | null = null;
  after: number | null = null;
  abortReason: string | null = null;
  private wake: () => void = () => {};
  private readonly interrupted: Promise<void>;

  constructor(
    readonly name: ScenarioName,
    readonly gw: Gateway,
    readonly mon: Monitor,
    readonly tools: Tools,
    readonly opts: Options,
    readonly probeAddress: string | null,
  ) {
    this.interrupted = new Promise<void>((r) => (this.wake = r));
    void gw.exited.then(() => {
      // The attack window ends when the gateway goes (PINGs after that are not its latency).
      if (this.attackStart !== null) this.markEnd();
      this.wake();
    });
  }

  abort(reason: string): void {
    if (this.attackStart !== null) this.markEnd();
    this.abortReason ??= reason;
    this.gw.kill();
    this.wake();
  }

  /** False once the gateway is gone or the scenario aborted. */
  get live(): boolean {
    return this.abortReason === null && this.gw.alive;
  }

  /** Waits `ms` (false when cut short by an abort or the gateway's exit), printing a status line now and then. */
  async wait(ms: number, statusEveryMs = this.opts.smoke ? 2000 : 5000): Promise<boolean> {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      if (!this.live) return false;
      const step = Math.min(end - Date.now(), statusEveryMs);
      await Promise.race([sleep(step), this.interrupted]);
      if (!this.live) return false;
      if (Date.now() < end - 100) this.status();
    }
    return this.live;
  }

  /** Races `p` against an abort / gateway exit; undefined when cut short. */
  async race<T>(p: Promise<T>): Promise<T | undefined> {
    if (!this.live) return undefined;
    return Promise.race([p, this.interrupted.then(() => undefined)]);
  }

  status(): void {
    const s = this.mon.sampleNow();
    const w = this.attackStart === null ? null : this.mon.stats(this.attackStart, this.mon.now(), null);
    const t = this.attackStart === null ? '' : `t=${((this.mon.now() - this.attackStart) / 1000).toFixed(0)}s `;
    const ping = w ? ` ping p50 ${fmtMs(w.ping.p50)} p99 ${fmtMs(w.ping.p99, w.ping.p99Timeout)} (timeouts ${w.ping.timeouts})` : '';
    const health = w ? ` /health ok ${w.health.ok} failed ${w.health.failed}` : '';
    log(`    ${t}RSS ${mb(s.rss)} MB, fds ${s.fds ?? '—'}${ping}${health}`);
  }

  markStart(): void {
    this.attackStart = this.mon.now();
  }

  markEnd(): void {
    this.attackEnd ??= this.mon.now();
  }

  worker(name: string, nofile: number | null = null): WorkerHandle {
    const w = WorkerHandle.spawn(name, this.tools, nofile);
    this.workers.push(w);
    return w;
  }

  deadline(extraMs: number): number {
    return Date.now() + extraMs;
  }

  /** The settle wait, then the "after" mark (skipped when the gateway is gone). */
  async settle(): Promise<void> {
    this.markEnd();
    if (!this.live) return;
    await this.wait(this.opts.settleMs, 60_000);
    if (this.live) this.after = this.mon.now();
  }
}

const log = (s: string) => console.log(s);
const fmtMs = (n: number | null, timeout = false) => (n === null ? '—' : timeout ? `≥${n.toFixed(0)}(t/o)` : n < 10 ? n.toFixed(1) : n.toFixed(0));
const counts = (o: unknown) =>
  o && typeof o === 'object' && Object.keys(o).length > 0
    ? Object.entries(o as Record<string, number>)
        .sort((a, b) => b[1] - a[1])
        .map(([k, n]) => `${k}×${n}`)
        .join(', ')
    : 'none';

/** Loopback source addresses for agents that would otherwise all count against 127.0.0.1's upgrade rate limit. */
const FILLER_ADDRESSES = Array.from({ length: 8 }, (_, i) => `127.0.0.${i + 2}`);

/** Tries to register a fresh agent; the outcome and how long it took. */
async function registerProbe(ctx: Ctx, label: string): Promise<{ label: string; ok: boolean; ms: number; error: string | null }> {
  const started = performance.now();
  try {
    const a = await connectAgent(ctx.gw.wsUrl, newIdentity(), { meta: { name: `newcomer-${label}` }, timeoutMs: 10_000, ...(ctx.probeAddress ? { localAddress: ctx.probeAddress } : {}) });
    a.ws.close();
    return { label, ok: true, ms: Math.round(performance.now() - started), error: null };
  } catch (err) {
    return { label, ok: false, ms: Math.round(performance.now() - started), error: (err as Error).message.split('\n')[0] ?? 'error' };
  }
}

/**
 * Socket-opening workers for `count` connections: each worker under an open-files limit of
 * min(hard limit, 65536) via prlimit (a process cannot raise its own), and at most 10,000
 * sockets (and the limit less a margin) per worker.
 */
function socketShards(ctx: Ctx, count: number): { shards: number[]; nofile: number | null; note: string } {
  const own = ownNofile();
  const wanted = 65_536;
  const nofile = ctx.tools.prlimit ? Math.min(wanted, own.hard) : null;
  const usable = (nofile ?? own.soft) - 256;
  const perWorker = Math.max(100, Math.min(10_000, usable));
  const n = Math.ceil(count / perWorker);
  const shards = Array.from({ length: n }, (_, i) => Math.floor(count / n) + (i < count % n ? 1 : 0));
  const limitText = nofile === null ? `the inherited limit ${own.soft} (prlimit not found)` : `nofile ${nofile}${nofile < wanted ? ` (65536 not allowed: hard limit ${own.hard})` : ''}`;
  return { shards, nofile, note: `attacker: ${n} socket process(es) × ≤ ${perWorker} sockets, each under ${limitText}` };
}

// ------------------------------------------------------------------------------------------------
// the scenarios

async function discoverNonreaders(ctx: Ctx): Promise<void> {
  const o = ctx.opts.discover;
  const w = ctx.worker('discover-worker');
  const info = await w.setup(
    'discover',
    { url: ctx.gw.wsUrl, fillers: o.agents, metaBytes: 4096, attackers: o.attackers, rate: DEFAULT_RATE_LIMIT, burst: DEFAULT_RATE_BURST, limit: 1000, fillerAddresses: FILLER_ADDRESSES, deadlineMs: ctx.deadline(180_000 + o.seconds * 1000) },
    120_000,
  );
  ctx.details.setup = info;
  log(`    setup: ${info.fillers} agents with ${info.metaBytes}-byte meta (from ${(info.fillerSourceAddresses as string[]).join(', ')}), ${info.attackers} attackers registered and no longer reading`);
  await sleep(1000);
  ctx.markStart();
  w.go();
  log(`    attack: DISCOVER limit 1000, ${DEFAULT_RATE_BURST - 1} at once then ${DEFAULT_RATE_LIMIT}/s per attacker, for ${o.seconds} s`);
  await ctx.wait(o.seconds * 1000);
  ctx.markEnd();
  ctx.details.attack = await w.stop();
  await ctx.settle();
}

async function idleSockets(ctx: Ctx): Promise<void> {
  const o = ctx.opts.idle;
  const { shards, nofile, note } = socketShards(ctx, o.sockets);
  ctx.notes.push(note);
  log(`    ${note}`);
  const ws = shards.map((_, i) => ctx.worker(`idle-worker-${i}`, nofile));
  await Promise.all(
    ws.map((w, i) =>
      w.setup('sockets', { host: '127.0.0.1', port: ctx.gw.port, count: shards[i], mode: 'idle', concurrency: Math.ceil(500 / ws.length), connectTimeoutMs: 5000, deadlineMs: ctx.deadline(300_000 + o.seconds * 1000) }, 60_000),
    ),
  );
  await sleep(500);
  ctx.markStart();
  const goAt = Date.now();
  const opened = ws.map((w) => w.next('opened', 120_000).catch(() => null));
  for (const w of ws) w.go();
  log(`    attack: ${o.sockets} TCP connections that send nothing, then held ${o.seconds} s`);
  // Opening: bounded by the connect timeout of each socket; status lines meanwhile.
  const allOpened = Promise.all(opened);
  while (ctx.live && (await Promise.race([allOpened.then(() => true), sleep(ctx.opts.smoke ? 2000 : 5000).then(() => false)])) === false) {
    const p = ws.map((w) => w.progress);
    const sum = (k: string) => p.reduce((a, x) => a + Number(x?.[k] ?? 0), 0);
    log(`    opening: ${sum('attempted')} attempted, ${sum('connected')} connected, ${sum('connectFailed')} failed, ${sum('closedByPeer')} closed by the gateway`);
    ctx.status();
  }
  const openMs = Date.now() - goAt;
  ctx.details.openMs = openMs;
  log(`    sockets opened in ${(openMs / 1000).toFixed(1)} s`);
  const probes = [];
  if (ctx.live) probes.push(await registerProbe(ctx, 'after-open'));
  const holdEnd = goAt + openMs + o.seconds * 1000;
  await ctx.wait(Math.max(0, holdEnd - Date.now() - 2000));
  if (ctx.live) probes.push(await registerProbe(ctx, 'end-of-hold'));
  await ctx.wait(Math.max(0, holdEnd - Date.now()));
  ctx.details.registerProbes = probes;
  ctx.markEnd();
  const results = await Promise.all(ws.map((w) => w.stop()));
  ctx.details.workers = results;
  await ctx.settle();
}

async function slowloris(ctx: Ctx): Promise<void> {
  const o = ctx.opts.slowloris;
  const { shards, nofile, note } = socketShards(ctx, o.sockets);
  ctx.notes.push(note);
  const ws = shards.map((_, i) => ctx.worker(`slowloris-worker-${i}`, nofile));
  let offset = 0;
  await Promise.all(
    ws.map((w, i) => {
      const params = { host: '127.0.0.1', port: ctx.gw.port, count: shards[i], mode: 'slowloris', offset, byteEveryMs: o.byteMs, concurrency: Math.ceil(200 / ws.length), connectTimeoutMs: 5000, deadlineMs: ctx.deadline(300_000 + o.seconds * 1000) };
      offset += shards[i] as number;
      return w.setup('sockets', params, 60_000);
    }),
  );
  await sleep(500);
  ctx.markStart();
  for (const w of ws) w.go();
  log(`    attack: ${o.sockets} connections (half GET /health, half a WebSocket upgrade) sending one more header byte every ${o.byteMs} ms, for ${o.seconds} s`);
  const probes = [];
  await ctx.wait((o.seconds * 1000) / 2);
  if (ctx.live) probes.push(await registerProbe(ctx, 'mid-attack'));
  await ctx.wait(Math.max(0, ctx.attackStart! + o.seconds * 1000 - ctx.mon.now()));
  ctx.details.registerProbes = probes;
  ctx.markEnd();
  ctx.details.workers = await Promise.all(ws.map((w) => w.stop()));
  await ctx.settle();
}

async function targetFlood(ctx: Ctx): Promise<void> {
  const o = ctx.opts.flood;
  const victim = ctx.worker('victim');
  const vinfo = await victim.setup('reader', { url: ctx.gw.wsUrl, deadlineMs: ctx.deadline(120_000 + o.seconds * 1000) }, 30_000);
  const flood = ctx.worker('flooders');
  const finfo = await flood.setup(
    'flood',
    { url: ctx.gw.wsUrl, target: vinfo.did, attackers: o.attackers, rate: DEFAULT_RATE_LIMIT, burst: DEFAULT_RATE_BURST, sdpChars: 32768, frameBytes: 65_500, deadlineMs: ctx.deadline(120_000 + o.seconds * 1000) },
    60_000,
  );
  ctx.details.setup = { victim: vinfo.did, ...finfo };
  log(`    setup: victim (a reading agent) and ${finfo.attackers} attackers; OFFERs of ${finfo.frameBytes} bytes (sdp 32768 chars)`);
  await sleep(1000);
  ctx.markStart();
  victim.go();
  flood.go();
  log(`    attack: ${DEFAULT_RATE_BURST - 1} OFFERs at once then ${DEFAULT_RATE_LIMIT}/s per attacker, to the victim, for ${o.seconds} s`);
  await ctx.wait(o.seconds * 1000);
  ctx.markEnd();
  ctx.details.attack = await flood.stop();
  ctx.details.victim = await victim.stop();
  await ctx.settle();
}

async function burstMemory(ctx: Ctx): Promise<void> {
  const o = ctx.opts.burst;
  const target = ctx.worker('target');
  const tinfo = await target.setup('reader', { url: ctx.gw.wsUrl, deadlineMs: ctx.deadline(300_000 + o.idleSeconds * 1000) }, 30_000);
  const sender = ctx.worker('sender');
  const sinfo = await sender.setup('burst', { url: ctx.gw.wsUrl, target: tinfo.did, totalBytes: o.bytes, sdpChars: 32768, bufferCap: 4 * MB, deadlineMs: ctx.deadline(300_000 + o.idleSeconds * 1000) }, 30_000);
  log(`    setup: sender and reading target; ${sinfo.frames} OFFERs of ${sinfo.frameBytes} bytes (~${mb(o.bytes)} MB)`);
  await sleep(1000);
  ctx.markStart();
  const before = ctx.mon.sampleNow().rss;
  target.go();
  const done = sender.next('done', 150_000);
  sender.go();
  const d = await ctx.race(done);
  ctx.details.send = d ?? null;
  if (d) log(`    burst sent: ${d.frames} frames, ${mb(Number(d.bytes))} MB in ${(Number(d.ms) / 1000).toFixed(1)} s; errors ${counts(d.errors)}`);
  // The target catches up: until it stops receiving (or has everything), at most 15 s.
  let last = -1;
  let still = 0;
  const catchUpEnd = Date.now() + 15_000;
  while (ctx.live && Date.now() < catchUpEnd) {
    const got = Number(target.progress?.bytes ?? 0);
    if (d && got >= Number(d.bytes) - 65536 * Object.values((d.errors as Record<string, number>) ?? {}).reduce((a, b) => a + b, 0)) break;
    if (got === last) still += 1;
    else still = 0;
    if (still >= 4) break;
    last = got;
    await sleep(250);
  }
  ctx.markEnd();
  const rightAfter = ctx.mon.sampleNow();
  log(`    burst over after ${((ctx.attackEnd! - ctx.attackStart!) / 1000).toFixed(1)} s: target received ${target.progress?.frames ?? 0} frames; RSS ${mb(before)} → ${mb(rightAfter.rss)} MB`);
  const step = Math.min(10, Math.max(1, Math.round(o.idleSeconds / 6)));
  const idle: { afterS: number; rss: number | null; fds: number | null }[] = [{ afterS: 0, rss: rightAfter.rss, fds: rightAfter.fds }];
  for (let s = step; s <= o.idleSeconds && ctx.live; s += step) {
    if (!(await ctx.wait(Math.max(0, ctx.attackEnd! + s * 1000 - ctx.mon.now()), 60_000))) break;
    const x = ctx.mon.sampleNow();
    idle.push({ afterS: s, rss: x.rss, fds: x.fds });
    log(`    idle +${s}s: RSS ${mb(x.rss)} MB (${x.rss !== null && before !== null ? `${x.rss - before >= 0 ? '+' : ''}${mb(x.rss - before)}` : '—'} MB vs before), fds ${x.fds ?? '—'}`);
  }
  if (ctx.live) ctx.after = ctx.mon.now();
  ctx.details.rss = { before, rightAfter: rightAfter.rss, idle };
  ctx.details.send = { ...(await sender.stop()) };
  ctx.details.target = await target.stop();
  // One more sample with the sender and target gone.
  if (ctx.live) {
    await ctx.wait(Math.min(ctx.opts.settleMs, 2000), 60_000);
    ctx.details.rssAfterDisconnect = ctx.mon.sampleNow().rss;
  }
}

const BODIES: Record<ScenarioName, (ctx: Ctx) => Promise<void>> = {
  'discover-nonreaders': discoverNonreaders,
  'idle-sockets': idleSockets,
  slowloris,
  'target-flood': targetFlood,
  'burst-memory': burstMemory,
};

// ------------------------------------------------------------------------------------------------
// targets

function targetsOf(r: ScenarioResult): Target[] {
  const t: Target[] = [];
  const s = r.stats;
  const aborted = r.status === 'aborted';
  const alive: Target = {
    name: 'alive',
    want: 'process survives',
    got: r.status === 'error' ? 'harness error' : aborted ? `killed by the harness (${r.abortReason})` : r.gateway.survived ? 'yes' : `no (${r.gateway.exit?.signal ?? `exit ${r.gateway.exit?.code}`})`,
    pass: r.status === 'error' || aborted ? null : r.gateway.survived,
  };
  const healthAll: Target = {
    name: '/health',
    want: 'answers every probe',
    got: s ? `${s.health.ok} ok, ${s.health.failed} failed` : '—',
    pass: s ? s.health.failed === 0 && s.health.ok > 0 : null,
  };
  const probes = (r.details.registerProbes as { ok: boolean }[] | undefined) ?? [];
  const register: Target = {
    name: 'register',
    want: 'a new agent registers',
    got: probes.length === 0 ? 'not tried' : `${probes.filter((p) => p.ok).length}/${probes.length} ok`,
    pass: probes.length === 0 ? (r.status === 'ok' ? false : null) : probes.every((p) => p.ok),
  };
  switch (r.name) {
    case 'discover-nonreaders': {
      const peak = s?.rss.peak ?? null;
      t.push({ name: 'RSS peak', want: '≤ 300 MB', got: `${mb(peak)} MB${aborted ? ' (aborted)' : ''}`, pass: peak === null ? null : peak <= 300 * MB && !aborted });
      t.push(alive);
      t.push({ name: 'PING p99', want: '≤ 250 ms', got: s ? `${fmtMs(s.ping.p99, s.ping.p99Timeout)} ms` : '—', pass: s && s.ping.sent + s.ping.notSent > 0 ? !s.ping.p99Timeout && (s.ping.p99 ?? Infinity) <= 250 : null });
      break;
    }
    case 'idle-sockets':
    case 'slowloris':
      t.push(healthAll, register, alive);
      break;
    case 'target-flood':
      t.push(alive);
      break;
    case 'burst-memory': {
      const rss = r.details.rss as { before: number | null; idle: { rss: number | null }[] } | undefined;
      const end = rss?.idle.at(-1)?.rss ?? null;
      const before = rss?.before ?? null;
      t.push({
        name: 'RSS back',
        want: '≤ before + 30 MB after idle',
        got: end === null || before === null ? '—' : `${end - before >= 0 ? '+' : ''}${mb(end - before)} MB`,
        pass: end === null || before === null || r.status !== 'ok' ? null : end - before <= 30 * MB,
      });
      t.push(alive);
      break;
    }
  }
  return t;
}

/** One line of scenario-specific facts for the summary. */
function factsOf(r: ScenarioResult): string {
  const d = r.details;
  const s = r.stats;
  switch (r.name) {
    case 'discover-nonreaders': {
      const a = d.attack as { discoverSent?: number; attackersOpenAtStop?: number; attackerCloses?: Record<string, number> } | null | undefined;
      return a ? `${a.discoverSent} DISCOVERs sent; attackers still connected at the end: ${a.attackersOpenAtStop}; attacker closes: ${counts(a.attackerCloses)}` : 'no attacker result';
    }
    case 'idle-sockets':
    case 'slowloris': {
      const ws = ((d.workers as (Record<string, unknown> | null)[] | undefined) ?? []).filter((x): x is Record<string, unknown> => x !== null);
      const sum = (k: string) => ws.reduce((a, x) => a + Number(x[k] ?? 0), 0);
      const merge = (k: string) => {
        const out: Record<string, number> = {};
        for (const x of ws) for (const [kk, n] of Object.entries((x[k] as Record<string, number>) ?? {})) out[kk] = (out[kk] ?? 0) + n;
        return out;
      };
      const accepted = s && s.fds.peak !== null && s.fds.before !== null ? s.fds.peak - s.fds.before : null;
      const base = `client: ${sum('attempted')} attempted, ${sum('connected')} connected, ${sum('connectFailed')} connect failures (${counts(merge('connectErrors'))}), ${sum('closedByPeer')} closed by the gateway (${counts(merge('closeKinds'))}), ${sum('open')} still open at the end; gateway fds +${accepted ?? '—'} at peak`;
      if (r.name === 'idle-sockets') return `${base}; opened in ${d.openMs === undefined ? '—' : `${(Number(d.openMs) / 1000).toFixed(1)} s`}`;
      const modes: string[] = [];
      for (const x of ws) {
        for (const [mode, m] of Object.entries((x.byMode as Record<string, { connected: number; closedByPeer: number; openAtStop: number; closeAfterMs: { p50: number | null; max: number | null } }>) ?? {})) {
          modes.push(`${mode}: ${m.closedByPeer}/${m.connected} closed by the gateway${m.closeAfterMs.p50 !== null ? ` after p50 ${(m.closeAfterMs.p50 / 1000).toFixed(1)} s / max ${((m.closeAfterMs.max ?? 0) / 1000).toFixed(1)} s` : ''}, ${m.openAtStop} kept open ≥ the whole attack`);
        }
      }
      return `${base}; ${modes.join('; ')}; responses ${counts(merge('responses'))}`;
    }
    case 'target-flood': {
      const a = d.attack as { offersSent?: number; errors?: Record<string, number>; attackerCloses?: Record<string, number>; answersCompleteMs?: number | null } | null | undefined;
      const v = d.victim as { frames?: number; bytes?: number; closed?: { code: number; reason: string; afterGoMs: number | null } | null } | null | undefined;
      const victim = !v ? 'victim: no result' : v.closed ? `victim DISCONNECTED: close ${v.closed.code} "${v.closed.reason}" after ${((v.closed.afterGoMs ?? 0) / 1000).toFixed(2)} s, having received ${v.frames} frames` : `victim stayed connected, received ${v.frames} frames (${mb(v.bytes)} MB)`;
      const sync = !a ? '' : a.answersCompleteMs === null || a.answersCompleteMs === undefined ? ' (not every answer arrived within 15 s)' : ` (all answers in ${(a.answersCompleteMs / 1000).toFixed(1)} s after the attack)`;
      return `${victim}; attackers sent ${a?.offersSent ?? '—'} OFFERs, got back ${counts(a?.errors)}${sync}; attacker closes: ${counts(a?.attackerCloses)}`;
    }
    case 'burst-memory': {
      const snd = d.send as { framesSent?: number; bytesSent?: number; sendMs?: number | null; errors?: Record<string, number> } | null | undefined;
      const tg = d.target as { frames?: number; closed?: { code: number } | null } | null | undefined;
      const rss = d.rss as { before: number | null; rightAfter: number | null; idle: { afterS: number; rss: number | null }[] } | undefined;
      const series = rss ? rss.idle.map((x) => `+${x.afterS}s ${mb(x.rss)}`).join(', ') : '—';
      return `sent ${snd?.framesSent ?? '—'} frames / ${mb(snd?.bytesSent)} MB in ${snd?.sendMs ? (snd.sendMs / 1000).toFixed(1) : '—'} s (errors ${counts(snd?.errors)}); target received ${tg?.frames ?? '—'}${tg?.closed ? `, closed ${tg.closed.code}` : ''}; RSS MB before ${mb(rss?.before)}, right after ${mb(rss?.rightAfter)}, idle ${series}; after disconnect ${mb(d.rssAfterDisconnect as number | undefined)}`;
    }
  }
}

// ------------------------------------------------------------------------------------------------
// running

async function runScenario(name: ScenarioName, opts: Options, snapshot: Snapshot, tools: Tools, tmp: string, probeAddress: string | null): Promise<ScenarioResult> {
  const extraEnv: Record<string, string> = { ...opts.mallocEnv, ...(name === 'burst-memory' ? { RATE_LIMIT: '10000', RATE_BURST: '10000' } : {}) };
  const result: ScenarioResult = {
    name,
    status: 'ok',
    error: null,
    abortReason: null,
    notes: [],
    gateway: { pid: null, port: null, nofile: null, env: {}, command: [], exit: null, survived: null, logTail: null },
    window: { attackStartMs: null, attackEndMs: null, afterMs: null },
    stats: null,
    details: {},
    targets: [],
    samples: [],
  };
  if (Object.keys(extraEnv).length > 0) result.notes.push(`deviation from the defaults for this scenario only: ${Object.entries(extraEnv).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  log(`\n▶ ${name}`);
  for (const n of result.notes) log(`    ${n}`);
  let gw: Gateway;
  try {
    gw = await Gateway.start({ snapshot, tools, nofile: opts.gatewayNofile === 0 ? null : opts.gatewayNofile, nodeFlags: opts.gatewayFlags, extraEnv, logPath: join(tmp, `${name}.log`) });
  } catch (err) {
    result.status = 'error';
    result.error = (err as Error).message;
    log(`    HARNESS ERROR: ${result.error}`);
    return result;
  }
  const startedAt = Date.now();
  result.gateway = { ...result.gateway, pid: gw.pid, port: gw.port, nofile: gw.nofile, env: gw.env, command: gw.command };
  if (opts.gatewayNofile !== 0 && gw.nofile !== opts.gatewayNofile) result.notes.push(`the gateway's descriptor limit is ${gw.nofile}, not ${opts.gatewayNofile}`);
  const ref: { ctx?: Ctx } = {};
  const mon = new Monitor(gw, {
    sampleMs: 150,
    healthEveryMs: 500,
    healthTimeoutMs: 2000,
    pingEveryMs: 25,
    pingTimeoutMs: 1000,
    probeAddress,
    rssLimit: opts.rssAbortBytes,
    onRssLimit: (rss) => {
      log(`    RSS ${(rss / MB).toFixed(1)} MB > ${mb(opts.rssAbortBytes)} MB: killing the gateway, scenario aborted`);
      const limit = opts.rssAbortBytes;
      ref.ctx?.abort(`RSS > ${limit >= 1024 * MB ? `${+(limit / 1024 / MB).toFixed(2)} GB` : `${mb(limit)} MB`}`);
    },
  });
  const ctx = (ref.ctx = new Ctx(name, gw, mon, tools, opts, probeAddress));
  log(`    gateway pid ${gw.pid} on 127.0.0.1:${gw.port}, descriptor limit ${gw.nofile ?? '?'}; RSS ${mb(gw.rss())} MB, fds ${gw.fds()}`);
  try {
    await mon.startProbes();
    await sleep(500);
    await BODIES[name](ctx);
  } catch (err) {
    if (ctx.live) {
      result.status = 'error';
      result.error = (err as Error).stack ?? (err as Error).message;
      log(`    HARNESS ERROR: ${(err as Error).message}`);
    } else {
      // A worker failing because the gateway died or was killed is the scenario's outcome, not a harness failure.
      result.notes.push(`attack cut short: ${(err as Error).message.split('\n')[0]}`);
    }
  } finally {
    ctx.markEnd();
    for (const w of ctx.workers) w.kill();
    await mon.settlePings();
  }
  if (ctx.abortReason) {
    result.status = 'aborted';
    result.abortReason = `aborted: ${ctx.abortReason}`;
  } else if (!gw.alive && !gw.stoppedByHarness) {
    result.status = result.status === 'error' ? 'error' : 'crashed';
  }
  const exit = gw.exitInfo;
  result.gateway.survived = gw.alive ? true : gw.stoppedByHarness ? null : false;
  if (exit && !gw.stoppedByHarness) {
    result.gateway.exit = { code: exit.code, signal: exit.signal, afterStartMs: exit.at - startedAt };
    result.gateway.logTail = gw.tail(30);
    log(`    GATEWAY EXITED: ${exit.signal ?? `code ${exit.code}`}\n${gw.tail(10).replace(/^/gm, '      | ')}`);
  }
  const start = ctx.attackStart ?? mon.now();
  result.window = { attackStartMs: ctx.attackStart, attackEndMs: ctx.attackEnd, afterMs: ctx.after };
  result.stats = mon.stats(start, ctx.attackEnd ?? mon.now(), ctx.after);
  if (ctx.after === null) result.stats.rss.peak = Math.max(result.stats.rss.peak ?? 0, ...mon.samples.filter((x) => x.t >= start).map((x) => x.rss ?? 0)) || null;
  result.samples = mon.samples.map((x) => [x.t, x.rss === null ? null : Math.round(x.rss / 1024), x.fds]);
  result.details = ctx.details;
  result.notes.push(...ctx.notes);
  if (mon.pingerClosed && gw.alive) result.notes.push(`the well-behaved agent was disconnected: close ${mon.pingerClosed.code} ${mon.pingerClosed.reason}`);
  mon.stop();
  await gw.stop();
  result.targets = targetsOf(result);
  printScenario(result);
  return result;
}

function printScenario(r: ScenarioResult): void {
  const s = r.stats;
  if (s) {
    log(`    RSS MB before/peak/after ${mb(s.rss.before)} / ${mb(s.rss.peak)} / ${mb(s.rss.after)}; fds ${s.fds.before ?? '—'} / ${s.fds.peak ?? '—'} / ${s.fds.after ?? '—'}`);
    log(`    PING p50 ${fmtMs(s.ping.p50)} ms, p99 ${fmtMs(s.ping.p99, s.ping.p99Timeout)} ms, max ${fmtMs(s.ping.max)} ms (${s.ping.sent} sent, ${s.ping.pongs} answered, ${s.ping.timeouts} timeouts, ${s.ping.notSent} not sent); /health ${s.health.ok} ok, ${s.health.failed} failed${s.health.failed > 0 ? ` (${counts(s.health.errors)})` : ''}`);
  }
  log(`    ${factsOf(r)}`);
  const probes = r.details.registerProbes as { label: string; ok: boolean; ms: number; error: string | null }[] | undefined;
  if (probes) for (const p of probes) log(`    new agent (${p.label}): ${p.ok ? `registered in ${p.ms} ms` : `FAILED after ${p.ms} ms: ${p.error}`}`);
  for (const t of r.targets) log(`    target ${t.name} ${t.want}: ${t.got} → ${t.pass === null ? 'n/a' : t.pass ? 'PASS' : 'FAIL'}`);
  log(`    → ${r.status}${r.abortReason ? ` (${r.abortReason})` : ''}`);
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

function printTable(results: ScenarioResult[]): void {
  const head = ['scenario', 'result', 'RSS MB b/peak/a', 'fds b/peak/a', 'PING ms p50/p99/max', 'pings n/t-o', '/health ok/fail', 'targets'];
  const rows = results.map((r) => {
    const s = r.stats;
    const result = r.status === 'ok' ? (r.gateway.survived === false ? 'died' : 'survived') : r.status === 'aborted' ? (r.abortReason ?? 'aborted') : r.status === 'crashed' ? `CRASHED (${r.gateway.exit?.signal ?? `exit ${r.gateway.exit?.code}`})` : 'HARNESS ERROR';
    return [
      r.name,
      result,
      s ? `${mb(s.rss.before)}/${mb(s.rss.peak)}/${mb(s.rss.after)}` : '—',
      s ? `${s.fds.before ?? '—'}/${s.fds.peak ?? '—'}/${s.fds.after ?? '—'}` : '—',
      s ? `${fmtMs(s.ping.p50)}/${fmtMs(s.ping.p99, s.ping.p99Timeout)}/${fmtMs(s.ping.max)}` : '—',
      s ? `${s.ping.sent + s.ping.notSent}/${s.ping.timeouts + s.ping.notSent}` : '—',
      s ? `${s.health.ok}/${s.health.failed}` : '—',
      r.targets.map((t) => `${t.name}${t.name === 'alive' ? '' : ` ${t.want}`}: ${t.pass === null ? 'n/a' : t.pass ? 'PASS' : 'FAIL'}`).join('; '),
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] as string).length)));
  const line = (cells: string[]) => '  ' + cells.map((c, i) => (i === cells.length - 1 ? c : pad(c, widths[i] as number))).join('  ');
  log('\n' + line(head));
  log('  ' + widths.map((w, i) => '-'.repeat(i === widths.length - 1 ? Math.max(7, head[i]!.length) : w)).join('  '));
  for (const row of rows) log(line(row));
  log('');
  for (const r of results) log(`  ${pad(r.name, 20)} ${factsOf(r)}`);
}

async function main(): Promise<number> {
  const opts = optionsOrExit({ program: 'attack', usage: USAGE, help: HELP, helpCommand: 'npm run attack -- --help' }, parseCli);
  if (process.platform !== 'linux') {
    console.error('attack: needs Linux (/proc is read for RSS and descriptors)');
    return 1;
  }
  if (opts.build) {
    log('attack: npm run build');
    const b = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
    if (b.status !== 0) {
      console.error('attack: the build failed');
      return 1;
    }
  }
  const tools = findTools();
  const tmp = makeTmpRoot();
  const cleanup = () => {
    killAllChildren();
    removeTmpRoot(tmp);
  };
  process.on('exit', cleanup);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      console.error(`\nattack: ${sig}: stopping every child process`);
      cleanup();
      process.exit(130);
    });
  }
  let snapshot: Snapshot;
  try {
    snapshot = snapshotDist(opts.dist, tmp);
  } catch (err) {
    console.error(`attack: ${(err as Error).message}`);
    return 1;
  }
  const own = ownNofile();
  // The measuring clients come from their own loopback address when the host allows it.
  const probeAddress = opts.probeAddress === '127.0.0.1' ? null : (await canBind(opts.probeAddress)) ? opts.probeAddress : null;
  log(`attack: ${opts.only.join(', ')}${opts.smoke ? ' (smoke)' : ''}`);
  log(`  gateway: node ${[...GATEWAY_NODE_FLAGS, ...opts.gatewayFlags].join(' ')} ${opts.dist}/server.js (built ${snapshot.builtAt.toISOString()}), run from a copy; env GATEWAY_HOST=127.0.0.1 GATEWAY_PORT=0, nothing else`);
  if (snapshot.newerSources.length > 0) log(`  NOTE: ${snapshot.newerSources.length} src/ file(s) are newer than this build (${snapshot.newerSources.slice(0, 5).join(', ')}${snapshot.newerSources.length > 5 ? ', …' : ''}): the build may not be the current code`);
  log(`  gateway descriptor limit: ${opts.gatewayNofile === 0 ? 'inherited' : `${opts.gatewayNofile} via ${tools.prlimit ? 'prlimit' : "sh -c 'ulimit -n' (prlimit not found)"}`}; parent-death signal: ${tools.setpriv ? 'setpriv --pdeathsig SIGKILL' : 'none (setpriv not found)'}`);
  log(`  this machine: ${cpus().length} CPUs, ${mb(totalmem())} MB RAM, node ${process.version}; harness open-files limit ${own.soft}/${own.hard}; abort past RSS ${mb(opts.rssAbortBytes)} MB`);
  log(`  measuring clients (PING agent, /health probe, new agents) from ${probeAddress ?? '127.0.0.1'}${probeAddress === null && opts.probeAddress !== '127.0.0.1' ? ` (${opts.probeAddress} cannot be bound here)` : ''}; attackers from 127.0.0.1${opts.only.includes('discover-nonreaders') ? ` (discover-nonreaders' registered agents from ${FILLER_ADDRESSES[0]}-${FILLER_ADDRESSES.at(-1)?.split('.').at(-1)})` : ''}`);
  if (cpus().length <= 2) log('  NOTE: attackers, measurement and gateway share few CPUs here; latencies include that contention');

  const results: ScenarioResult[] = [];
  const startedAt = new Date();
  for (const name of opts.only) {
    try {
      results.push(await runScenario(name, opts, snapshot, tools, tmp, probeAddress));
    } catch (err) {
      killAllChildren();
      log(`    HARNESS ERROR: ${(err as Error).stack}`);
      results.push({ name, status: 'error', error: (err as Error).message, abortReason: null, notes: [], gateway: { pid: null, port: null, nofile: null, env: {}, command: [], exit: null, survived: null, logTail: null }, window: { attackStartMs: null, attackEndMs: null, afterMs: null }, stats: null, details: {}, targets: [], samples: [] });
    }
    // Sockets the scenario left in TIME_WAIT and memory the kernel reclaims: a short pause.
    await sleep(1000);
  }

  printTable(results);
  const harnessFailed = results.some((r) => r.status === 'error');
  const missed = results.flatMap((r) => r.targets.filter((t) => t.pass === false).map((t) => `${r.name}: ${t.name} ${t.want} (${t.got})`));
  log(`\n  targets missed: ${missed.length === 0 ? 'none' : missed.length}`);
  for (const m of missed) log(`    - ${m}`);
  if (opts.json) {
    mkdirSync(dirname(opts.json), { recursive: true });
    const out = {
      date: startedAt.toISOString(),
      node: process.version,
      cpus: cpus().length,
      options: { ...opts, rssAbortMb: opts.rssAbortBytes / MB },
      gateway: { dist: opts.dist, builtAt: snapshot.builtAt.toISOString(), newerSources: snapshot.newerSources, nofile: opts.gatewayNofile, tools },
      probeAddress: probeAddress ?? '127.0.0.1',
      sampleColumns: ['ms since gateway start', 'VmRSS kB', 'open fds'],
      results,
      missedTargets: missed,
      harnessFailed,
    };
    writeFileSync(opts.json, JSON.stringify(out, null, 1) + '\n');
    log(`  results: ${opts.json}`);
  }
  if (harnessFailed) {
    log('\nattack: HARNESS FAILED (see the errors above)');
    return 1;
  }
  if (opts.strict && missed.length > 0) {
    log('\nattack: targets missed (--strict)');
    return 1;
  }
  log('\nattack: done');
  return 0;
}

process.exit(await main());
