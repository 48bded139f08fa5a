/**
 * The options of `npm run bench` (bench/run.ts): the scenario names, the --help text, the options
 * table (on scripts/lib/args.ts, which bench/ab.ts also validates its pass-through options with),
 * and the sizes every scenario runs at, full or smoke.
 */
import { intOption, optionsOrExit, parseCommandLine, UsageError, wordsOption } from '../../scripts/lib/args.js';
import { mallocEnvOf } from '../../scripts/lib/malloc.js';
import { spinTarget, TAIL_TARGETS, type SpinTarget, type TailTarget } from './results.js';

/**
 * The tail's JIT warm-up rate: at 2,000/s a fresh gateway compiled its frame path over its first
 * ~5 s (V8's optimizing compiler busy 25-33 ms/s on its background thread, and 20-25 % more CPU
 * per frame until done: docs/performance.md, "Early hours of 2026-12-04").
 */
const TAIL_JIT_WARMUP_RATE = 2000;

/**
 * The tail's settle time: signaling at the first rate, unmeasured, after the JIT warm-up. The
 * replay cache keeps an id for CLOCK_SKEW (default 30 s) past its frame's timestamp, so a
 * gateway's first 30 s of signaling never drop one; one that has been up a while drops them all
 * the time (and until 2026-12-04 stalled a frame every second doing it: docs/performance.md,
 * "Afternoon of 2026-12-04"). Without this the 500/s rate ended before the first expiry and
 * 2,000/s saw it. At most 120 s, as the JIT warm-up: the load generator signs a phase up front.
 */
const TAIL_SETTLE_S = 30;

export const SCENARIOS = ['ceiling', 'relay', 'throughput', 'latency', 'tail', 'handshake', 'capacity', 'cluster'] as const;
export type Scenario = (typeof SCENARIOS)[number];

const USAGE = `usage: npm run bench -- [options]
  --only a,b        scenarios: ${SCENARIOS.join(', ')} (baselines = ceiling,relay); default all
  --smoke           tiny sizes (~25 s), for CI
  --duration S      seconds of each measured throughput phase and of each latency rate
                    (default 10, cluster latency 5; smoke 1/2, cluster 0.5/1)
  --agents N        idle agents for capacity (default 10000, max 19000; smoke 200)
  --rates a,b,c     latency rates in frames/s (default 2500,5000,10000; smoke 500)
  --pairs-agents N  agents for throughput/relay, in pairs (default 1000; smoke 20)
  --window W        in-flight frames per sender in throughput (default 4)
  --handshakes N    registrations in the handshake scenario (default 5000; smoke 100)
  --concurrency C   handshakes in flight (default 50; smoke 10)
  --frame ice|offer frame kind: a ~0.4 KB ICE candidate (default) or a ~1.7 KB OFFER
  --tail-rates a,b  tail: rates in frames/s (default 500,2000,4000; smoke 500)
  --tail-rounds N   tail: rounds of the gateway, the bare relay and the verifying relay, taking turns (default 3; smoke 1)
  --tail-jit-warmup S tail: seconds of unmeasured frames at 2,000/s before each target's first rate, so that no rate
                    measures a fresh process compiling its frame path (default 5; smoke 0; 0 = none)
  --tail-settle S   tail: seconds of unmeasured frames at the first rate after the JIT warm-up, so that every rate
                    measures a gateway past its replay cache's first expiries (ids live 30 s), as one that has been
                    up a while is (default 30; smoke 0; 0 = none)
  --tail-targets a,b tail: which of gateway, bare-relay, verifying-relay run (default all three; the ratios and the
                    summary row need the gateway and the bare relay), e.g. gateway alone for long GC runs
  --tail-spin-us a,b tail: also run the bare relay spending each many µs of busy CPU per frame (1..1000; default
                    none): how much CPU on a frame's path the bare relay's p99 takes before it doubles
  --workers N       cluster: GATEWAY_WORKERS of the multi-process gateway (default 2)
  --cluster-rate R  cluster: frames/s of the cross-node latency phases (default 1000; smoke 200)
  --cross-share S   cluster: share of throughput pairs re-formed to be cross-worker, 0..1, or
                    "as-connected" (default 1 − 1/workers, what random pairing gives: 0.5 with 2)
  --cpu-prof        write a CPU profile of the gateway (throughput, latency, handshake) to bench/results/; in the
                    tail scenario, of every target over each rate, with their CPU per frame side by side
  --heap-sample     latency: sample the gateway's allocations during each rate (V8 sampling heap profiler,
                    collected objects included); prints bytes allocated per frame and the top sites
  --verify-threads N VERIFY_THREADS of the gateway (default: the gateway's own default, cores ≤ 4)
  --gateway-flags=F extra node flags for the gateway process, after those npm start passes, e.g. --gateway-flags=--max-semi-space-size=16
  --loadgen-flags=F node flags for the load generator processes (default none), e.g. --loadgen-flags=--v8-pool-size=0
  --malloc M        the gateway process's allocator: glibc (default, as npm start) or jemalloc (as the Docker
                    image: LD_PRELOAD=libjemalloc.so.2 MALLOC_CONF=background_thread:true; needs libjemalloc2)
  --tsx             run children under tsx instead of the transpiled tree (adds ~30 MB RSS)
  --verbose         echo every child's output`;

const text = { type: 'string' } as const;
const flag = { type: 'boolean' } as const;

/**
 * No defaults in the table: most depend on --smoke, and bench/ab.ts passes on exactly the options
 * that were given. Grouped as in the usage text.
 */
export const OPTIONS = {
  only: text, smoke: flag, duration: text, agents: text, rates: text, 'pairs-agents': text, window: text,
  handshakes: text, concurrency: text, frame: text, 'tail-rates': text, 'tail-rounds': text, 'tail-targets': text, 'tail-jit-warmup': text,
  'tail-settle': text, 'tail-spin-us': text,
  workers: text, 'cluster-rate': text, 'cross-share': text,
  'cpu-prof': flag, 'heap-sample': flag, 'verify-threads': text, 'gateway-flags': text, 'loadgen-flags': text, malloc: text, tsx: flag, verbose: flag,
  help: flag,
} as const;

/** A number (not only an integer) in min..max, or a UsageError naming the option. */
function numberOption(name: string, raw: string, min: number, max: number): number {
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || n > max) throw new UsageError(`--${name} must be a number in ${min}..${max}`);
  return n;
}

/** The run's options, or null for --help; throws a UsageError on bad usage. */
function parseOptions(argv: string[]) {
  const v = parseCommandLine(OPTIONS, argv);
  if (v.help) return null;
  const int = (name: keyof typeof OPTIONS, fallback: number, min: number, max: number) => {
    const raw = v[name];
    return typeof raw === 'string' ? intOption(name, raw, min, max) : fallback;
  };
  const smoke = v.smoke === true;
  let selected: Scenario[] = [...SCENARIOS];
  if (v.only !== undefined) {
    const names = v.only.split(',').flatMap((s) => (s.trim() === 'baselines' ? ['ceiling', 'relay'] : [s.trim()]));
    for (const n of names) if (!(SCENARIOS as readonly string[]).includes(n)) throw new UsageError(`unknown scenario "${n}"`);
    selected = SCENARIOS.filter((s) => names.includes(s));
  }
  const frame = v.frame ?? 'ice';
  if (frame !== 'ice' && frame !== 'offer') throw new UsageError('--frame must be ice or offer');
  const rateList = (name: 'rates' | 'tail-rates', fallback: number[]) => {
    const raw = v[name];
    const list = raw !== undefined ? raw.split(',').map(Number) : fallback;
    if (list.some((r) => !Number.isFinite(r) || r < 1 || r > 50_000)) throw new UsageError(`--${name} must be numbers in 1..50000`);
    return list;
  };
  const rates = rateList('rates', smoke ? [500] : [2500, 5000, 10000]);
  const duration = v.duration === undefined ? undefined : numberOption('duration', v.duration, 0.5, 120);
  const workers = int('workers', 2, 2, 16);
  let crossShare: number | undefined = 1 - 1 / workers;
  if (v['cross-share'] === 'as-connected') crossShare = undefined;
  else if (v['cross-share'] !== undefined) crossShare = numberOption('cross-share', v['cross-share'], 0, 1);
  const throughput = {
    agents: int('pairs-agents', smoke ? 20 : 1000, 2, 5000),
    durationMs: (duration ?? (smoke ? 1 : 10)) * 1000,
    window: int('window', 4, 1, 64),
    warmupFrames: smoke ? 400 : 20_000,
  };
  return {
    smoke,
    selected,
    frame: frame as 'ice' | 'offer',
    throughput,
    latency: { agents: smoke ? 20 : 100, rates, durationMs: (duration ?? (smoke ? 2 : 10)) * 1000, warmupMs: smoke ? 200 : 1000 },
    tail: {
      agents: smoke ? 20 : 500,
      rates: rateList('tail-rates', smoke ? [500] : [500, 2000, 4000]),
      rounds: int('tail-rounds', smoke ? 1 : 3, 1, 20),
      targets: [...tailTargets(v['tail-targets']), ...spinTargets(v['tail-spin-us'])],
      durationMs: (duration ?? (smoke ? 1 : 10)) * 1000,
      warmupMs: smoke ? 200 : 1000,
      jitWarmup: { rate: TAIL_JIT_WARMUP_RATE, ms: int('tail-jit-warmup', smoke ? 0 : 5, 0, 120) * 1000 },
      settleMs: int('tail-settle', smoke ? 0 : TAIL_SETTLE_S, 0, 120) * 1000,
    },
    capacity: { agents: int('agents', smoke ? 200 : 10_000, 2, 19_000), healthRequests: smoke ? 50 : 200 },
    handshake: { count: int('handshakes', smoke ? 100 : 5000, 1, 19_000), concurrency: int('concurrency', smoke ? 10 : 50, 1, 1000) },
    ceilingMs: smoke ? 250 : 2000,
    cluster: {
      workers,
      crossShare,
      // The same sizes as the throughput scenario; half a second measured in smoke runs.
      throughput: { ...throughput, durationMs: duration === undefined && smoke ? 500 : throughput.durationMs },
      latency: {
        agents: smoke ? 10 : 20,
        rate: int('cluster-rate', smoke ? 200 : 1000, 1, 20_000),
        durationMs: (duration ?? (smoke ? 1 : 5)) * 1000,
        warmupMs: smoke ? 100 : 1000,
      },
    },
    cpuProf: v['cpu-prof'] === true,
    heapSample: v['heap-sample'] === true,
    gatewayFlags: wordsOption(v['gateway-flags']),
    loadgenFlags: wordsOption(v['loadgen-flags']),
    malloc: v.malloc ?? 'glibc',
    gatewayEnv: mallocEnvOf(v.malloc ?? 'glibc'),
    tsx: v.tsx === true,
    verbose: v.verbose === true,
    verifyThreads: v['verify-threads'] === undefined ? undefined : intOption('verify-threads', v['verify-threads'], 1, 64),
  };
}

export type Options = NonNullable<ReturnType<typeof parseOptions>>;

/** --tail-targets: the tail's targets in their fixed order, all three unless named. */
export function tailTargets(raw: string | undefined): TailTarget[] {
  if (raw === undefined) return [...TAIL_TARGETS];
  const names = raw.split(',').map((s) => s.trim().replace('-', ' '));
  for (const n of names) if (!(TAIL_TARGETS as readonly string[]).includes(n)) throw new UsageError(`--tail-targets: unknown target "${n}" (gateway, bare-relay, verifying-relay)`);
  return TAIL_TARGETS.filter((t) => names.includes(t));
}

/** --tail-spin-us: the bare relay with that much busy CPU per frame, once each, in the order given. */
export function spinTargets(raw: string | undefined): SpinTarget[] {
  if (raw === undefined) return [];
  const us = [...new Set(raw.split(',').map((s) => numberOption('tail-spin-us', s.trim(), 1, 1000)))];
  return us.map(spinTarget);
}

/** The options of this run: --help prints the usage and exits 0; bad usage prints what is wrong and the usage to stderr and exits 2. */
export function benchOptions(argv: string[] = process.argv.slice(2)): Options {
  return optionsOrExit({ program: 'bench', usage: USAGE, help: USAGE }, parseOptions, argv);
}
