/**
 * Where a run's findings go: the machine it ran on, the sections printed as scenarios end, the
 * result files under bench/results/ (all named with one stamp per run), and the Report that
 * collects what the summary reads at the end.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { runtime } from './child.js';
import { ROOT } from './compile.js';
import type { Options, Scenario } from './options.js';
import type { Results } from './results.js';

export const RESULTS = join(ROOT, 'bench', 'results');
export const CORES = availableParallelism();
export const STAMP = new Date().toISOString().replace(/[:.]/g, '-').replace(/-\d{3}Z$/, 'Z');

/** What the run found besides each scenario's own result, and its results by scenario for the summary. */
export class Report {
  /** Everything measured in this run, by scenario (absent when not selected or failed). */
  readonly results: Results = {};
  readonly failures: { scenario: Scenario; message: string }[] = [];
  /** Why the figures are not to be trusted: the server answered with errors, registrations failed, … (exit status 1). */
  readonly invalid: string[] = [];
  /** CPU profiles of the gateway written during the run (--cpu-prof), summarised at its end. */
  readonly profiles: string[] = [];
}

/** The part of the Report a scenario adds to besides its result. */
export type Findings = Pick<Report, 'invalid' | 'profiles'>;

function git(args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

export function machine() {
  const dirty = git(['status', '--porcelain', '--', 'src']);
  return {
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: CORES,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    commit: git(['rev-parse', '--short', 'HEAD']),
    uncommittedSrc: dirty === '' ? [] : dirty.split('\n').map((l) => l.trim()),
    loadavg: loadavg(),
  };
}

export type Machine = ReturnType<typeof machine>;

/** The run's first lines: what runs, on what, with which gateway settings. */
export function printHeader(opts: Options, meta: Machine): void {
  process.stdout.write(
    `AIConexus gateway benchmark (${opts.smoke ? 'smoke' : 'full'}): ${opts.selected.join(', ')}\n` +
      `node ${meta.node} · ${meta.cpu} · ${meta.cores} cores · ${meta.memoryGiB} GiB · commit ${meta.commit}` +
      `${meta.uncommittedSrc.length ? ` + uncommitted src/ changes (${meta.uncommittedSrc.length} files)` : ''} · load average ${meta.loadavg.map((l) => l.toFixed(2)).join(' ')}\n`,
  );
  if (opts.gatewayFlags.length > 0) process.stdout.write(`gateway node flags: ${opts.gatewayFlags.join(' ')}\n`);
  if (opts.loadgenFlags.length > 0) process.stdout.write(`load generator node flags: ${opts.loadgenFlags.join(' ')}\n`);
  if (opts.malloc !== 'glibc') process.stdout.write(`gateway malloc: ${opts.malloc} (${Object.entries(opts.gatewayEnv).map(([k, v]) => `${k}=${v}`).join(' ')})\n`);
  if (opts.verifyThreads) process.stdout.write(`gateway VERIFY_THREADS: ${opts.verifyThreads}\n`);
}

export function section(title: string, lines: string[]): void {
  process.stdout.write(`\n== ${title}\n${lines.map((l) => `   ${l}`).join('\n')}\n`);
}

export function writeResult(scenario: string, opts: Options, result: unknown, meta: Record<string, unknown>): string {
  mkdirSync(RESULTS, { recursive: true });
  const file = join(RESULTS, `${scenario}-${STAMP}.json`);
  writeFileSync(file, JSON.stringify({ scenario, stamp: STAMP, smoke: opts.smoke, runtime: runtime.mode, machine: meta, options: opts, result }, null, 2) + '\n');
  return file;
}
