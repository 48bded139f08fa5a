/**
 * `npm run bench`: the gateway's benchmark suite (issue 5). Everything runs on 127.0.0.1, in child
 * processes it starts and stops itself: the gateway (bench/server.ts) or the baseline relay
 * (bench/baseline-relay.ts) in one process, the load generator (bench/loadgen.ts) in others.
 *
 *   npm run bench                                   every scenario, full size (< 5 min)
 *   npm run bench -- --only throughput,latency      a selection (names below; `baselines` = ceiling,relay)
 *   npm run bench:smoke                             tiny sizes, ~25 s (CI: keeps the suite from rotting)
 *   npm run bench -- --duration 20 --agents 19000   longer throughput/latency phases; more idle agents
 *   npm run bench -- --only relay,throughput --cpu-prof    + a CPU profile of the gateway under load
 *   npm run bench -- --only latency --heap-sample          + what the gateway allocates per frame
 *   npm run bench -- --only cluster                 cluster mode: 2 workers + Redis vs 1 process, cross-node latency
 *
 * Scenarios, in run order: ceiling, relay, throughput, latency, tail, handshake, capacity, cluster.
 * `cluster` starts its own redis-server (redis-server must be installed) and stops it at its end.
 * Each prints a section when it ends and writes bench/results/<scenario>-<stamp>.json; the run
 * ends with one table of figures, ratios to the baselines, and the targets (pass/miss, never an
 * assertion). Exit status 1 only when a scenario failed to run or the server answered frames with
 * protocol errors (the suite is broken, not slow).
 */
import { loadavg } from 'node:os';
import { killAllChildren, runtime } from './lib/child.js';
import { compileForBench } from './lib/compile.js';
import { Harness, type ScenarioContext } from './lib/harness.js';
import { benchOptions, type Options, type Scenario } from './lib/options.js';
import { machine, printHeader, Report, writeResult, type Machine } from './lib/report.js';
import { printSummary } from './lib/summary.js';
import { capacity } from './scenarios/capacity.js';
import { ceiling } from './scenarios/ceiling.js';
import { cluster } from './scenarios/cluster.js';
import { handshake } from './scenarios/handshake.js';
import { latency } from './scenarios/latency.js';
import { tail, tailBudgetMs } from './scenarios/tail.js';
import { throughputAgainst } from './scenarios/throughput.js';

/** Each scenario, run with its own Harness; its result goes into the report for the summary. */
function scenarios(opts: Options, { results }: Report): Record<Scenario, (ctx: ScenarioContext) => Promise<unknown>> {
  return {
    ceiling: async (ctx) => (results.ceiling = await ceiling(opts, ctx)),
    relay: async (ctx) => (results.relay = await throughputAgainst('baseline-relay', opts, ctx)),
    throughput: async (ctx) => (results.throughput = await throughputAgainst('server', opts, ctx)),
    latency: async (ctx) => (results.latency = await latency(opts, ctx, results.ceiling)),
    tail: async (ctx) => (results.tail = await tail(opts, ctx)),
    handshake: async (ctx) => (results.handshake = await handshake(opts, ctx)),
    capacity: async (ctx) => (results.capacity = await capacity(opts, ctx)),
    cluster: async (ctx) => (results.cluster = await cluster(opts, ctx)),
  };
}

/** How long a scenario may run before it counts as hung: 10 minutes, the tail what its size asks for. */
function budgetMs(scenario: Scenario, opts: Options): number {
  return scenario === 'tail' ? tailBudgetMs(opts.tail) : 600_000;
}

/** Runs one scenario within its budget (budgetMs), writes its result file, and stops its children whatever happens. */
async function runScenario(scenario: Scenario, run: (ctx: ScenarioContext) => Promise<unknown>, opts: Options, report: Report, meta: Machine): Promise<void> {
  const loadBefore = loadavg();
  const scenarioStart = performance.now();
  const harness = new Harness(opts);
  let timer: NodeJS.Timeout | undefined;
  try {
    const result = await Promise.race([
      run({ harness, report }),
      new Promise((_, reject) => {
        const budget = budgetMs(scenario, opts);
        timer = setTimeout(() => reject(new Error(`${scenario} did not finish within ${Math.round(budget / 60_000)} minutes`)), budget);
      }),
    ]);
    const elapsedS = (performance.now() - scenarioStart) / 1000;
    writeResult(scenario, opts, result, { ...meta, loadavgBefore: loadBefore, loadavgAfter: loadavg(), elapsedS });
    process.stdout.write(`   (${scenario}: ${elapsedS.toFixed(1)} s; load average ${loadBefore[0]?.toFixed(2)} → ${loadavg()[0]?.toFixed(2)})\n`);
  } catch (err) {
    report.failures.push({ scenario, message: (err as Error).message });
    process.stdout.write(`\n== ${scenario}: FAILED\n   ${(err as Error).message.split('\n').join('\n   ')}\n`);
  } finally {
    clearTimeout(timer);
    await harness.stopAll();
  }
}

async function main(): Promise<number> {
  const opts = benchOptions();
  runtime.mode = opts.tsx ? 'tsx' : 'compiled';
  runtime.verbose = opts.verbose;
  const meta = machine();
  const startedAt = performance.now();
  printHeader(opts, meta);
  if (!opts.tsx) {
    const built = await compileForBench();
    process.stdout.write(
      `children run on plain node from ${built.files} transpiled files (${built.reused ? 'unchanged since the last run' : `${(built.ms / 1000).toFixed(1)} s`})\n`,
    );
  }

  const report = new Report();
  const run = scenarios(opts, report);
  for (const scenario of opts.selected) await runScenario(scenario, run[scenario], opts, report, meta);
  printSummary(opts, report, meta, startedAt);
  return report.failures.length > 0 || report.invalid.length > 0 ? 1 : 0;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    killAllChildren();
    process.exit(130);
  });
}

main().then(
  (code) => {
    killAllChildren();
    process.exitCode = code;
  },
  (err: Error) => {
    killAllChildren();
    process.stderr.write(`${err.message}\n`);
    process.exitCode = 2;
  },
);
