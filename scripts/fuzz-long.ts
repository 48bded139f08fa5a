/**
 * `npm run fuzz`: the long fuzz run (issue 7). The generators and oracle of the vitest fuzz suite
 * (test/fuzz/) against a gateway in a child process, over several connections in parallel, until
 * `--frames` frames were checked or `--max-seconds` passed.
 *
 *   npm run fuzz                                  1,000,000 frames, at most 1200 s
 *   npm run fuzz -- --frames 100000 --max-seconds 120
 *   npm run fuzz -- --connections 6 --seed 42 --strict
 *
 * Options:
 *   --frames N        fuzz frames to check (default 1000000)
 *   --max-seconds S   stop after S seconds whatever the count (default 1200: ~1,000 frames/s on 2 shared cores)
 *   --connections C   registered fuzzing connections in parallel (default 4)
 *   --batch B         frames pipelined per connection per round (default 100)
 *   --seed S          fast-check seed (default: random; printed)
 *   --strict          tolerated deviations (known gateway bugs, see SECURITY.md) count as failures
 *   --json PATH       where to write the JSON result (default bench/results/fuzz-<stamp>.json)
 *
 * The gateway child runs `scripts/fuzz-long.ts --serve`: buildApp on port 0 with the rate limiter
 * and per-IP caps lifted, reporting over IPC its memory, unhandled rejections, uncaught exceptions,
 * error-level log lines and whether a prototype got polluted.
 *
 * Exit status 0 when every frame got its documented answer; 1 on any unexpected answer, a crash
 * of the gateway, an unhandled rejection or uncaught exception in it, a polluted prototype, a fuzz
 * session closed, or the well-behaved pair no longer routing; 2 on bad usage.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Arbitrary } from 'fast-check';
import type { Recipe } from '../test/fuzz/generators.js';
import type { Shared } from '../test/fuzz/harness.js';
import { intOption, optionsOrExit, parseCommandLine } from './lib/args.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

// --------------------------------------------------------------------------------------------
// child: the gateway

interface CheckReply {
  kind: 'check';
  pid: number;
  rss: number;
  heapUsed: number;
  unhandled: string[];
  uncaught: string[];
  polluted: string[];
  errorLogs: Record<string, number>;
}

async function serve(): Promise<void> {
  const unhandled: string[] = [];
  const uncaught: string[] = [];
  process.on('unhandledRejection', (reason) => unhandled.push(String((reason as Error)?.stack ?? reason).slice(0, 500)));
  process.on('uncaughtException', (err) => uncaught.push(String(err?.stack ?? err).slice(0, 500)));
  const protoNames = () => [Object.prototype, Array.prototype, Function.prototype, String.prototype].map((p) => Object.getOwnPropertyNames(p).sort().join(','));
  const before = protoNames();
  const errorLogs = new Map<string, number>();
  const { buildApp, configWith } = await import('../src/app.js');
  const config = configWith({
    host: '127.0.0.1',
    port: 0,
    logLevel: 'error',
    rateLimit: 1e9,
    rateBurst: 1e9,
    connectRateLimit: 1e9,
    maxConnectionsPerIp: 1e9,
    maxBufferedBytes: 1 << 28,
  });
  const app = await buildApp(config, {
    processMetrics: false,
    logger: {
      level: 'warn',
      stream: {
        write(line: string) {
          try {
            const entry = JSON.parse(line) as { level: number; msg: string; err?: { message?: string } };
            const key = `${entry.level >= 50 ? 'error' : 'warn'}: ${entry.msg}${entry.err?.message ? ` (${entry.err.message.slice(0, 80)})` : ''}`;
            errorLogs.set(key, (errorLogs.get(key) ?? 0) + 1);
          } catch {
            errorLogs.set('unparsable log line', (errorLogs.get('unparsable log line') ?? 0) + 1);
          }
        },
      },
    },
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  process.on('message', (msg: { cmd: string }) => {
    if (msg.cmd === 'check') {
      (globalThis as { gc?: () => void }).gc?.();
      const probe = {} as Record<string, unknown>;
      const polluted = ['polluted', 'isAdmin', 'capabilities', 'sdp'].filter((k) => probe[k] !== undefined);
      if (protoNames().join('|') !== before.join('|')) polluted.push('prototype property names changed');
      const mem = process.memoryUsage();
      const reply: CheckReply = { kind: 'check', pid: process.pid, rss: mem.rss, heapUsed: mem.heapUsed, unhandled, uncaught, polluted, errorLogs: Object.fromEntries(errorLogs) };
      process.send?.(reply);
    } else if (msg.cmd === 'stop') {
      void app.close().then(() => process.exit(0));
    }
  });
  process.send?.({ kind: 'ready', port: address.port, limits: { clockSkewMs: config.clockSkewMs, maxFrameBytes: config.maxFrameBytes, gatewayId: config.gatewayId } });
}

// --------------------------------------------------------------------------------------------
// parent: the fuzzer

const USAGE = 'usage: npm run fuzz -- [--frames N] [--max-seconds S] [--connections C] [--batch B] [--seed S] [--strict] [--json PATH]';
const HELP = `${USAGE}

  --frames N        fuzz frames to check (default 1000000)
  --max-seconds S   stop after S seconds whatever the count (default 1200)
  --connections C   registered fuzzing connections in parallel (default 4)
  --batch B         frames pipelined per connection per round (default 100)
  --seed S          fast-check seed, an integer ≥ -2147483648 (default: random; printed)
  --strict          tolerated deviations (known gateway bugs, see SECURITY.md) count as failures
  --json PATH       where to write the JSON result (default bench/results/fuzz-<stamp>.json)
  -h, --help        print this help

Exit status 0 when every frame got its documented answer, 1 on a failure, 2 on bad usage.`;

const OPTIONS = {
  frames: { type: 'string', default: '1000000' },
  'max-seconds': { type: 'string', default: '1200' },
  connections: { type: 'string', default: '4' },
  batch: { type: 'string', default: '100' },
  seed: { type: 'string' },
  strict: { type: 'boolean', default: false },
  json: { type: 'string', default: '' },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

/** The run's options, or null for --help; throws a UsageError on bad usage. */
function parseCli(argv: string[]) {
  const values = parseCommandLine(OPTIONS, argv);
  if (values.help) return null;
  return {
    frames: intOption('frames', values.frames, 1),
    maxSeconds: intOption('max-seconds', values['max-seconds'], 1),
    connections: intOption('connections', values.connections, 1),
    batch: intOption('batch', values.batch, 1),
    seed: values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : intOption('seed', values.seed, -(2 ** 31)),
    strict: values.strict,
    json: values.json,
  };
}

class GatewayChild {
  private waiters = new Map<string, (msg: unknown) => void>();
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  exitInfo: { code: number | null; signal: string | null } | undefined;
  readonly tail: string[] = [];

  constructor(readonly proc: ChildProcess) {
    proc.on('message', (msg: { kind: string }) => {
      const w = this.waiters.get(msg.kind);
      if (w) {
        this.waiters.delete(msg.kind);
        w(msg);
      }
    });
    for (const s of [proc.stdout, proc.stderr]) {
      s?.on('data', (d: Buffer) => {
        this.tail.push(d.toString());
        if (this.tail.length > 50) this.tail.shift();
      });
    }
    this.exited = new Promise((resolve) =>
      proc.on('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        resolve(this.exitInfo);
      }),
    );
  }

  static start(): GatewayChild {
    const proc = fork(fileURLToPath(import.meta.url), ['--serve'], {
      cwd: ROOT,
      execArgv: ['--import', 'tsx', '--expose-gc'],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: { ...process.env, LOG_LEVEL: 'error' },
    });
    return new GatewayChild(proc);
  }

  wait<T>(kind: string, timeoutMs = 30_000): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`gateway child: no ${kind} within ${timeoutMs} ms\n${this.tail.join('')}`)), timeoutMs);
      this.waiters.set(kind, (msg) => {
        clearTimeout(timer);
        resolve(msg as T);
      });
      void this.exited.then((e) => reject(new Error(`gateway child exited (${JSON.stringify(e)})\n${this.tail.join('').slice(-3000)}`)));
    });
  }

  async check(): Promise<CheckReply> {
    const reply = this.wait<CheckReply>('check');
    this.proc.send({ cmd: 'check' });
    return reply;
  }

  /** utime + stime of the child in clock ticks (1/100 s on Linux), or null off Linux. */
  cpuTicks(): number | null {
    try {
      const fields = readFileSync(`/proc/${this.proc.pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
      return Number(fields[11]) + Number(fields[12]);
    } catch {
      return null;
    }
  }

  /** VmRSS from /proc (bytes), or null off Linux. */
  vmRss(): number | null {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${this.proc.pid}/status`, 'utf8'));
      return m ? Number(m[1]) * 1024 : null;
    } catch {
      return null;
    }
  }
}

const mb = (n: number | null) => (n === null ? 'n/a' : `${(n / 1048576).toFixed(1)} MB`);
const stamp = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z').replaceAll(':', '-');

async function main(): Promise<number> {
  const opts = optionsOrExit({ program: 'fuzz-long', usage: USAGE, help: HELP, helpCommand: 'npm run fuzz -- --help' }, parseCli);
  // Loaded here, not at the top: the gateway child runs this file too and should not carry them.
  const { default: fc } = await import('fast-check');
  const { closingRecipe, newSigner, registeredRecipe, unregisteredRecipe } = await import('../test/fuzz/generators.js');
  const { checkPair, DeliverySink, FuzzSession, registerWire, runThrowaways, Stats } = await import('../test/fuzz/harness.js');
  const { SignatureBook } = await import('../test/fuzz/oracle.js');
  console.log(`fuzz-long: ${opts.frames.toLocaleString('en')} frames max, ${opts.maxSeconds} s max, ${opts.connections} connections, batch ${opts.batch}, seed ${opts.seed}${opts.strict ? ', strict' : ''}`);
  const child = GatewayChild.start();
  const problems: string[] = [];
  let childCrashed = false;
  let stopping = false;
  void child.exited.then((e) => {
    if (!stopping) {
      childCrashed = true;
      problems.push(`gateway crashed: exit ${JSON.stringify(e)}\n${child.tail.join('').slice(-3000)}`);
    }
  });
  const ready = await child.wait<{ port: number; limits: Shared['limits'] }>('ready');
  const url = `ws://127.0.0.1:${ready.port}/ws`;

  let idCounter = 0;
  const peerSigner = newSigner();
  const peerWire = await registerWire(url, peerSigner);
  const shared: Shared = {
    url,
    limits: ready.limits,
    book: new SignatureBook(),
    peerDid: peerSigner.did,
    sink: new DeliverySink(peerWire),
    offline: newSigner(),
    online: new Set([peerSigner.did]),
    uniqueId: () => `fl-${++idCounter}`,
  };
  const sessions: InstanceType<typeof FuzzSession>[] = [];
  for (let i = 0; i < opts.connections; i++) {
    const signer = newSigner();
    sessions.push(new FuzzSession(shared, await registerWire(url, signer), signer));
    shared.online.add(signer.did);
  }
  const pa = newSigner();
  const pb = newSigner();
  const pair = { a: { signer: pa, wire: await registerWire(url, pa) }, b: { signer: pb, wire: await registerWire(url, pb) } };

  const first = await child.check();
  const rssBefore = { rss: first.rss, vmRss: child.vmRss(), heapUsed: first.heapUsed };
  const stats = new Stats();
  const started = Date.now();
  const deadline = started + opts.maxSeconds * 1000;
  let pairChecks = 0;
  let pairLoopDone = false;
  const pairLoop = (async () => {
    while (!pairLoopDone && !childCrashed) {
      const problem = await checkPair(pair.a, pair.b, shared.uniqueId, 10_000);
      pairChecks += 1;
      if (problem) {
        problems.push(problem);
        return;
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  })();

  const running = () => stats.frames < opts.frames && Date.now() < deadline && problems.length === 0 && stats.failureCount === 0;
  const sample = (arb: Arbitrary<Recipe>, n: number, stream: number, i: number) =>
    fc.sample(arb, { numRuns: n, seed: (opts.seed + stream * 1_000_003 + i * 7919) | 0 });
  // Each fuzzing connection runs its own loop of pipelined batches (no lock-step between them).
  const fuzzers = sessions.map(async (s, k) => {
    for (let i = 0; running(); i++) {
      await s.runBatch(sample(registeredRecipe, opts.batch, k, i), stats);
      if (s.dead) {
        problems.push(s.dead);
        return;
      }
      // Ids expire with their ts + CLOCK_SKEW: forget them so the oracle's memory stays bounded.
      if (i % 50 === 49) for (const [key, exp] of s.replay) if (exp < Date.now() - 10_000) s.replay.delete(key);
    }
  });
  // Throwaway connections (REGISTER fuzzing, closing frames) for about 3 % of the frames.
  const throwaways = (async () => {
    let done = 0;
    for (let i = 0; running(); i++) {
      if (done > stats.frames * 0.03) {
        await new Promise((r) => setTimeout(r, 20));
        continue;
      }
      await runThrowaways(shared, sample(unregisteredRecipe, 4, 900, i), false, stats, 2);
      done += 4;
      if (i % 4 === 3) {
        await runThrowaways(shared, sample(closingRecipe, 1, 901, i), i % 8 === 7, stats, 1);
        done += 1;
      }
    }
  })();
  let lastReport = Date.now();
  let lastFrames = 0;
  let lastCpu = child.cpuTicks();
  const progress = setInterval(() => {
    const secs = (Date.now() - lastReport) / 1000;
    const cpu = child.cpuTicks();
    const cpuPct = cpu === null || lastCpu === null ? 'n/a' : `${Math.round(((cpu - lastCpu) / 100 / secs) * 100)} %`;
    console.log(
      `  ${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s  ${stats.frames.toLocaleString('en').padStart(10)} frames  ${Math.round((stats.frames - lastFrames) / secs).toLocaleString('en').padStart(6)}/s  failures ${stats.failureCount}  gateway RSS ${mb(child.vmRss())} CPU ${cpuPct}`,
    );
    lastReport = Date.now();
    lastFrames = stats.frames;
    lastCpu = cpu;
  }, 10_000);
  await Promise.all([...fuzzers, throwaways]);
  clearInterval(progress);
  const elapsed = (Date.now() - started) / 1000;
  pairLoopDone = true;
  await pairLoop;
  if (!childCrashed) {
    const final = await checkPair(pair.a, pair.b, shared.uniqueId, 10_000);
    if (final) problems.push(`after the run: ${final}`);
  }
  for (const s of sessions) {
    const left = shared.sink.leftover(s.signer.did);
    if (left.length > 0) problems.push(`${left.length} unexpected deliveries to the peer from a fuzz session`);
  }
  if (shared.sink.unparsable.length > 0) problems.push(`${shared.sink.unparsable.length} unparsable deliveries to the peer`);

  let last: CheckReply | undefined;
  if (!childCrashed) {
    last = await child.check();
    if (last.unhandled.length > 0) problems.push(`unhandled rejections in the gateway: ${last.unhandled.slice(0, 3).join(' | ')}`);
    if (last.uncaught.length > 0) problems.push(`uncaught exceptions in the gateway: ${last.uncaught.slice(0, 3).join(' | ')}`);
    if (last.polluted.length > 0) problems.push(`prototype pollution in the gateway: ${last.polluted.join(', ')}`);
  }
  const rssAfter = last ? { rss: last.rss, vmRss: child.vmRss(), heapUsed: last.heapUsed } : null;
  stopping = true;
  if (!childCrashed) {
    child.proc.send({ cmd: 'stop' });
    await Promise.race([child.exited, new Promise((r) => setTimeout(r, 10_000))]);
    if (!child.exitInfo) child.proc.kill('SIGKILL');
  }
  for (const w of [peerWire, pair.a.wire, pair.b.wire, ...sessions.map((s) => s.wire)]) w.terminate();

  const deviationsTotal = [...stats.deviations.values()].reduce((a, b) => a + b, 0);
  if (opts.strict && deviationsTotal > 0) problems.push(`${deviationsTotal} tolerated deviations (strict mode)`);
  const result = {
    date: new Date().toISOString(),
    seed: opts.seed,
    options: opts,
    node: process.version,
    elapsedSeconds: Math.round(elapsed * 10) / 10,
    framesPerSecond: Math.round(stats.frames / elapsed),
    stoppedBy: stats.frames >= opts.frames ? 'frames' : Date.now() >= deadline ? 'max-seconds' : 'problem',
    ...stats.toJSON(),
    gateway: {
      rssBefore,
      rssAfter,
      errorLogs: last?.errorLogs ?? null,
      unhandledRejections: last?.unhandled.length ?? null,
      uncaughtExceptions: last?.uncaught.length ?? null,
      polluted: last?.polluted ?? null,
    },
    pairChecks,
    problems,
  };

  console.log(`\nfuzz-long: ${stats.frames.toLocaleString('en')} frames in ${elapsed.toFixed(1)} s (${result.framesPerSecond}/s), stopped by ${result.stoppedBy}, seed ${opts.seed}`);
  console.log('\n  outcome                                   count');
  for (const [k, v] of Object.entries(result.outcomes)) console.log(`  ${k.padEnd(40)} ${String(v).padStart(9)}`);
  if (deviationsTotal > 0) {
    console.log('\n  tolerated deviations (known gateway bugs, SECURITY.md)');
    for (const [k, v] of Object.entries(result.deviations)) console.log(`  ${k.padEnd(40)} ${String(v).padStart(9)}`);
  }
  if (last && Object.keys(last.errorLogs).length > 0) {
    console.log('\n  gateway log lines at warn/error level');
    for (const [k, v] of Object.entries(last.errorLogs)) console.log(`  ${String(v).padStart(9)}  ${k}`);
  }
  console.log(`\n  gateway RSS   before ${mb(rssBefore.rss)} (VmRSS ${mb(rssBefore.vmRss)}), after ${mb(rssAfter?.rss ?? null)} (VmRSS ${mb(rssAfter?.vmRss ?? null)}), heap used ${mb(rssBefore.heapUsed)} → ${mb(rssAfter?.heapUsed ?? null)} (after gc)`);
  console.log(`  well-behaved pair: ${pairChecks} checks; unhandled rejections ${last?.unhandled.length ?? 'n/a'}; uncaught exceptions ${last?.uncaught.length ?? 'n/a'}; prototype pollution ${last ? (last.polluted.length > 0 ? last.polluted.join(', ') : 'none') : 'n/a'}`);
  for (const f of stats.failures.slice(0, 10)) {
    console.log(`\n  FAILURE [${f.where}]\n    sent:     ${f.sent}\n    expected: ${f.expected}\n    observed: ${f.observed}\n    recipe:   ${f.recipe}`);
  }
  for (const p of problems) console.log(`\n  PROBLEM: ${p}`);
  if (result.stoppedBy === 'max-seconds') console.log(`\n  note: --max-seconds reached before --frames ${opts.frames}`);

  const path = opts.json || join(ROOT, 'bench', 'results', `fuzz-${stamp()}.json`);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, JSON.stringify(result, null, 2) + '\n');
  console.log(`\n  result: ${path}`);
  const ok = stats.failureCount === 0 && problems.length === 0;
  console.log(ok ? '\nfuzz-long: OK' : '\nfuzz-long: FAILED');
  return ok ? 0 : 1;
}

if (process.argv.includes('--serve')) {
  await serve();
} else {
  process.exitCode = await main();
}
