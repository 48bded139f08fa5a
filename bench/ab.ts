/**
 * A/B benchmark: the working tree against another commit, or against another configuration of
 * itself, interleaved on the same machine.
 *
 *   npm run bench:ab -- <rev> [--rounds N] [--keep] [bench/run.ts options…]
 *   npm run bench:ab -- . --b-env NAME=VALUE… --b-arg OPTION… [--rounds N] [bench/run.ts options…]
 *
 * On a shared or small machine a figure moves more between two runs an hour apart than most
 * changes move it, so a change is judged against the commit before it in the same session:
 * `bench/run.ts` with the given options runs in the working tree (A) and in a checkout of `<rev>`
 * (B), alternately (A first in odd rounds, B first in even ones), `--rounds` times (default 3),
 * and the summary rows of every run are printed side by side. Targets are not judged here;
 * compare A with B.
 *
 * `--b-env` (environment, e.g. `BENCH_VERIFY_INLINE_MAX_LOAD=0`) and `--b-arg` (a bench/run.ts
 * option, e.g. `--b-arg=--gateway-flags=--minor-ms`) apply to B's runs only, each repeatable.
 * With `.` as the revision B is the working tree itself: a configuration against the default,
 * with the same alternation (ad-hoc shell loops did this before, each a little differently).
 *
 * B is a `git worktree` of `<rev>` in the system temp directory. Its node_modules is a tree of
 * hard links to this one (so B runs on the same dependencies), or, where hard links are not
 * possible, a fresh `npm ci`. It is removed at the end unless `--keep` is given.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { intOption, optionsOrExit, parseCommandLineWithPositionals, UsageError } from '../scripts/lib/args.js';
import { ROOT } from './lib/compile.js';
import { OPTIONS as BENCH_OPTIONS } from './lib/options.js';

const USAGE = [
  'usage: npm run bench:ab -- <rev> [--rounds N] [--keep] [--b-env NAME=VALUE]… [--b-arg OPTION]… [bench/run.ts options, e.g. --only latency --rates 3000]',
  '       <rev> "." compares the working tree with itself: B differs only by its --b-env and --b-arg',
].join('\n');

/** Its own options and bench/run.ts's, which it checks here and passes on to every run. */
const OPTIONS = {
  ...BENCH_OPTIONS,
  rounds: { type: 'string', default: '3' },
  keep: { type: 'boolean', default: false },
  'b-env': { type: 'string', multiple: true },
  'b-arg': { type: 'string', multiple: true },
} as const;

/** What B's runs get beyond A's: environment variables and bench/run.ts options. */
export interface BSide {
  env: Record<string, string>;
  args: string[];
}

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
  const b = bSideOf(values['b-env'] ?? [], values['b-arg'] ?? []);
  if (rev === '.' && Object.keys(b.env).length === 0 && b.args.length === 0) {
    throw new UsageError('"." compares the working tree with itself: give B a difference (--b-env or --b-arg)');
  }
  return { rev, rounds: intOption('rounds', values.rounds, 1, 20), keep: values.keep, benchArgs, b };
}

/**
 * B's environment (NAME=VALUE each) and options, checked here: a bench/run.ts option B does not
 * know would otherwise fail only in B's first run, after A's.
 */
export function bSideOf(envs: string[], args: string[]): BSide {
  const env: Record<string, string> = {};
  for (const entry of envs) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(entry);
    if (!m) throw new UsageError(`--b-env wants NAME=VALUE (got '${entry}')`);
    env[m[1] as string] = m[2] as string;
  }
  for (const arg of args) {
    if (!arg.startsWith('--')) throw new UsageError(`--b-arg wants a bench/run.ts option such as --b-arg=--verify-threads=1 (got '${arg}')`);
  }
  // The same strict parse bench/run.ts does: an unknown option or a missing value is a usage error now.
  try {
    parseCommandLineWithPositionals(BENCH_OPTIONS, args);
  } catch (err) {
    throw new UsageError(`--b-arg: ${(err as Error).message}`);
  }
  return { env, args };
}

/** The label of B's runs: the revision (or the same tree), then what B adds. */
export function bLabel(shortSha: string | null, b: BSide): string {
  const extras = [...Object.entries(b.env).map(([k, v]) => `${k}=${v}`), ...b.args];
  return `B ${shortSha ?? 'same tree'}${extras.length > 0 ? ` ${extras.join(' ')}` : ''}`;
}

interface Row {
  metric: string;
  value: string;
  target?: string;
}

function main(): void {
  const { rev, rounds, keep, benchArgs, b } = optionsOrExit({ program: 'bench:ab', usage: USAGE, help: USAGE }, parseCli);

  const sameTree = rev === '.';
  const sha = sameTree ? null : git(['rev-parse', '--verify', `${rev}^{commit}`]).trim();
  const dir = sha === null ? ROOT : join(tmpdir(), 'aiconexus-bench-ab', sha.slice(0, 12));
  const sides: Side[] = [
    { label: `A ${git(['rev-parse', '--short', 'HEAD']).trim()}${git(['status', '--porcelain', '--', 'src', 'bench']).trim() ? '+changes' : ''}`, cwd: ROOT, args: benchArgs, env: {} },
    { label: bLabel(sha?.slice(0, 7) ?? null, b), cwd: dir, args: [...benchArgs, ...b.args], env: b.env },
  ];
  if (sha !== null) prepare(sha, dir);
  try {
    const runs: Row[][][] = sides.map(() => []);
    for (let round = 1; round <= rounds; round++) {
      // A first in odd rounds, B first in even ones: in one session's A/B of the same two commits
      // run both ways, whichever side ran first in every round looked worse (p50 and p99 of the
      // tail scenario; docs/performance.md "Latency tail"), so neither side always goes first.
      const order = round % 2 === 1 ? [0, 1] : [1, 0];
      for (const t of order) {
        const side = sides[t] as Side;
        process.stderr.write(`round ${round}/${rounds}: ${side.label} …\n`);
        (runs[t] as Row[][]).push(runBench(side));
      }
    }
    print(sides.map((side) => side.label), runs);
  } finally {
    if (sha !== null) {
      if (!keep) git(['worktree', 'remove', '--force', dir]);
      else process.stderr.write(`kept ${dir}\n`);
    }
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

/** One side of the comparison: where bench/run.ts runs, with which options and environment. */
interface Side {
  label: string;
  cwd: string;
  args: string[];
  env: Record<string, string>;
}

/** One bench/run.ts run of `side`; its summary rows. */
function runBench({ cwd, args, env }: Side): Row[] {
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'bench/run.ts', ...args], {
    cwd,
    env: { ...process.env, ...env },
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

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) main();
