/**
 * A/B benchmark: the working tree against another commit, interleaved on the same machine.
 *
 *   npm run bench:ab -- <rev> [--rounds N] [--keep] [bench/run.ts options…]
 *
 * On a shared or small machine a figure moves more between two runs an hour apart than most
 * changes move it, so a change is judged against the commit before it in the same session:
 * `bench/run.ts` with the given options runs in the working tree (A) and in a checkout of `<rev>`
 * (B), alternately (A first in odd rounds, B first in even ones), `--rounds` times (default 3),
 * and the summary rows of every run are printed side by side. Targets are not judged here;
 * compare A with B.
 *
 * B is a `git worktree` of `<rev>` in the system temp directory. Its node_modules is a tree of
 * hard links to this one (so B runs on the same dependencies), or, where hard links are not
 * possible, a fresh `npm ci`. It is removed at the end unless `--keep` is given.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { intOption, optionsOrExit, parseCommandLineWithPositionals, UsageError } from '../scripts/lib/args.js';
import { ROOT } from './lib/compile.js';
import { OPTIONS as BENCH_OPTIONS } from './lib/options.js';

const USAGE = 'usage: npm run bench:ab -- <rev> [--rounds N] [--keep] [bench/run.ts options, e.g. --only latency --rates 3000]';

/** Its own options and bench/run.ts's, which it checks here and passes on to every run. */
const OPTIONS = {
  ...BENCH_OPTIONS,
  rounds: { type: 'string', default: '3' },
  keep: { type: 'boolean', default: false },
} as const;

/** The comparison to run, or null for --help; throws a UsageError on bad usage. */
function parseCli(argv: string[]) {
  const { values, positionals } = parseCommandLineWithPositionals(OPTIONS, argv);
  if (values.help) return null;
  const [rev, ...extra] = positionals;
  if (rev === undefined) throw new UsageError('the revision to compare with (<rev>) is missing');
  if (extra.length > 0) throw new UsageError(`unexpected argument ${extra[0]}`);
  // bench/run.ts's options as given (parseArgs keeps them in command-line order), each in one argument.
  const benchArgs = Object.entries(values).flatMap(([name, value]) => {
    if (!Object.hasOwn(BENCH_OPTIONS, name) || name === 'help') return [];
    return value === true ? [`--${name}`] : typeof value === 'string' ? [`--${name}=${value}`] : [];
  });
  return { rev, rounds: intOption('rounds', values.rounds, 1, 20), keep: values.keep, benchArgs };
}

interface Row {
  metric: string;
  value: string;
  target?: string;
}

function main(): void {
  const { rev, rounds, keep, benchArgs } = optionsOrExit({ program: 'bench:ab', usage: USAGE, help: USAGE }, parseCli);

  const sha = git(['rev-parse', '--verify', `${rev}^{commit}`]).trim();
  const dir = join(tmpdir(), 'aiconexus-bench-ab', sha.slice(0, 12));
  const trees: [string, string][] = [
    [`A ${git(['rev-parse', '--short', 'HEAD']).trim()}${git(['status', '--porcelain', '--', 'src', 'bench']).trim() ? '+changes' : ''}`, ROOT],
    [`B ${sha.slice(0, 7)}`, dir],
  ];
  prepare(sha, dir);
  try {
    const runs: Row[][][] = trees.map(() => []);
    for (let round = 1; round <= rounds; round++) {
      // A first in odd rounds, B first in even ones: in one session's A/B of the same two commits
      // run both ways, whichever side ran first in every round looked worse (p50 and p99 of the
      // tail scenario; docs/performance.md "Latency tail"), so neither side always goes first.
      const order = round % 2 === 1 ? [0, 1] : [1, 0];
      for (const t of order) {
        const [label, cwd] = trees[t] as [string, string];
        process.stderr.write(`round ${round}/${rounds}: ${label} …\n`);
        (runs[t] as Row[][]).push(runBench(cwd, benchArgs));
      }
    }
    print(trees.map(([label]) => label), runs);
  } finally {
    if (!keep) {
      git(['worktree', 'remove', '--force', dir]);
    } else process.stderr.write(`kept ${dir}\n`);
  }
}

function git(args: string[], cwd = ROOT): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** A checkout of `sha` in `dir` with the dependencies installed. */
function prepare(sha: string, dir: string): void {
  if (existsSync(dir)) git(['worktree', 'remove', '--force', dir]);
  rmSync(dir, { recursive: true, force: true });
  git(['worktree', 'prune']);
  git(['worktree', 'add', '--detach', dir, sha]);
  const linked = spawnSync('cp', ['-al', join(ROOT, 'node_modules'), join(dir, 'node_modules')], { stdio: 'ignore' });
  if (linked.status === 0) {
    // Its own transpiled bench tree, not a link to A's.
    rmSync(join(dir, 'node_modules', '.cache'), { recursive: true, force: true });
  } else {
    rmSync(join(dir, 'node_modules'), { recursive: true, force: true });
    process.stderr.write('hard links not possible here: npm ci in the B checkout …\n');
    execFileSync('npm', ['ci', '--prefer-offline', '--no-audit', '--no-fund'], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
  }
}

/** One bench/run.ts run in `cwd`; its summary rows. */
function runBench(cwd: string, benchArgs: string[]): Row[] {
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'bench/run.ts', ...benchArgs], {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 64 * 1024 * 1024,
  });
  const summary = /\(summary: (\S+?\.json)\)/.exec(run.stdout ?? '')?.[1];
  if (run.status !== 0 || !summary) throw new Error(`bench/run.ts failed in ${cwd} (exit ${run.status}):\n${(run.stdout ?? '').slice(-2000)}`);
  const file = join(cwd, summary.replace(/^\//, ''));
  return scaledRowsAligned((JSON.parse(readFileSync(file, 'utf8')) as { result: { table: Row[] } }).result.table);
}

/**
 * The latency rate scaled to the run's verify ceiling differs from run to run: its rows (and the
 * relay's at that rate, the row after it) get one name, with the rate moved into the value.
 */
function scaledRowsAligned(table: Row[]): Row[] {
  const scaled = (r: Row | undefined) => r?.target?.startsWith('same, at') === true;
  return table.map((row, i) => {
    const rate = /@([\d,]+\/s)/.exec(row.metric)?.[1];
    const isScaled = scaled(row) || (scaled(table[i - 1]) && row.metric.includes('relay'));
    return rate && isScaled ? { metric: row.metric.replace(rate, 'scaled rate'), value: `[${rate}] ${row.value}` } : row;
  });
}

/** Every metric of the runs, one row each: A's values by round, then B's. */
function print(labels: string[], runs: Row[][][]): void {
  const metrics: string[] = [];
  for (const tree of runs) for (const run of tree) for (const row of run) if (!metrics.includes(row.metric)) metrics.push(row.metric);
  const cell = (t: number, metric: string) =>
    (runs[t] as Row[][]).map((run) => run.find((r) => r.metric === metric)?.value ?? '-').join('  |  ');
  const width = Math.max(...metrics.map((m) => m.length));
  process.stdout.write(`\n${'metric'.padEnd(width)}  ${labels.join('  ‖  ')} (one column per round)\n`);
  for (const metric of metrics) {
    process.stdout.write(`${metric.padEnd(width)}  ${labels.map((_, t) => cell(t, metric)).join('  ‖  ')}\n`);
  }
}

main();
