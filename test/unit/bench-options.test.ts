/**
 * `npm run bench -- --tail-targets`: which of the tail scenario's targets run, in the order a
 * round starts from, and the usage error for a name it does not know; `--tail-spin-us`'s extra
 * bare-relay targets; the scenario's time budget;
 * the node flags of the gateway and of the load generator.
 */
import { describe, expect, it } from 'vitest';
import { benchOptions, spinTargets, tailTargets } from '../../bench/lib/options.js';
import { spinOf } from '../../bench/lib/results.js';
import { tailBudgetMs } from '../../bench/scenarios/tail.js';
import { UsageError } from '../../scripts/lib/args.js';

describe('bench --tail-targets', () => {
  it('runs all three by default', () => {
    expect(tailTargets(undefined)).toEqual(['gateway', 'bare relay', 'verifying relay']);
  });

  it('takes the dashed names, in the fixed order whatever order they are given in', () => {
    expect(tailTargets('gateway')).toEqual(['gateway']);
    expect(tailTargets('verifying-relay, gateway')).toEqual(['gateway', 'verifying relay']);
    expect(tailTargets('bare-relay,bare-relay')).toEqual(['bare relay']);
  });

  it('refuses a name it does not know, naming the known ones', () => {
    expect(() => tailTargets('relay')).toThrow(UsageError);
    expect(() => tailTargets('gateway,')).toThrow(/unknown target "".*gateway, bare-relay, verifying-relay/);
  });
});

describe('bench --tail-spin-us', () => {
  it('adds a bare relay per value after the named targets, once each', () => {
    expect(benchOptions(['--tail-targets', 'bare-relay', '--tail-spin-us', '25,50,25']).tail.targets).toEqual(['bare relay', 'bare relay + 25 µs', 'bare relay + 50 µs']);
    expect(spinOf('bare relay + 12.5 µs')).toBe(12.5);
    expect(spinOf('bare relay')).toBeUndefined();
  });

  it('refuses a value outside 1..1000 µs', () => {
    expect(() => spinTargets('0')).toThrow(/--tail-spin-us must be a number in 1\.\.1000/);
    expect(() => spinTargets('25,x')).toThrow(UsageError);
  });
});

describe('bench tail time budget', () => {
  const tail = { agents: 500, rates: [500, 2000, 4000], rounds: 3, targets: tailTargets(undefined), durationMs: 10_000, warmupMs: 1000, jitWarmup: { rate: 2000, ms: 0 }, settleMs: 0 };

  it('is 10 minutes for the default sizes and grows with --duration, rounds and targets', () => {
    expect(tailBudgetMs({ ...tail, durationMs: 1000, rounds: 1 })).toBe(600_000);
    // 3 rates × (60 + 1 + 10 s) + 60 s = 273 s per run; 3 rounds × 3 targets; twice that.
    expect(tailBudgetMs({ ...tail, durationMs: 60_000 })).toBe(2 * 9 * 273_000);
    expect(tailBudgetMs({ ...tail, durationMs: 60_000, targets: ['gateway'] })).toBe(2 * 3 * 273_000);
  });

  it('counts the JIT warm-up before the first rate of every run', () => {
    // (5 + 10 s) + 3 × (60 + 1 + 10 s) + 60 s = 288 s per run.
    expect(tailBudgetMs({ ...tail, durationMs: 60_000, jitWarmup: { rate: 2000, ms: 5000 } })).toBe(2 * 9 * 288_000);
  });

  it('counts the settle time after it', () => {
    // (5 + 10 s) + (30 + 10 s) + 3 × (60 + 1 + 10 s) + 60 s = 328 s per run.
    expect(tailBudgetMs({ ...tail, durationMs: 60_000, jitWarmup: { rate: 2000, ms: 5000 }, settleMs: 30_000 })).toBe(2 * 9 * 328_000);
  });
});

describe('bench tail JIT warm-up', () => {
  it('is 5 s at 2,000/s by default, none in smoke runs, and --tail-jit-warmup sets it (0: none)', () => {
    expect(benchOptions([]).tail.jitWarmup).toEqual({ rate: 2000, ms: 5000 });
    expect(benchOptions(['--smoke']).tail.jitWarmup.ms).toBe(0);
    expect(benchOptions(['--tail-jit-warmup', '0']).tail.jitWarmup.ms).toBe(0);
    expect(benchOptions(['--tail-jit-warmup', '12']).tail.jitWarmup.ms).toBe(12_000);
  });

  it('is followed by 30 s at the first rate by default, none in smoke runs, and --tail-settle sets it (0: none)', () => {
    expect(benchOptions([]).tail.settleMs).toBe(30_000);
    expect(benchOptions(['--smoke']).tail.settleMs).toBe(0);
    expect(benchOptions(['--tail-settle', '0']).tail.settleMs).toBe(0);
    expect(benchOptions(['--tail-settle', '45']).tail.settleMs).toBe(45_000);
  });
});

describe('bench node flags', () => {
  it('gives the load generator no flags unless --loadgen-flags names some', () => {
    expect(benchOptions([]).loadgenFlags).toEqual([]);
    expect(benchOptions(['--gateway-flags=--max-semi-space-size=16']).loadgenFlags).toEqual([]);
  });

  it('keeps the gateway flags and the load generator flags apart, word by word', () => {
    const opts = benchOptions(['--gateway-flags=--max-semi-space-size=16', '--loadgen-flags=--v8-pool-size=0 --single-threaded-gc']);
    expect(opts.gatewayFlags).toEqual(['--max-semi-space-size=16']);
    expect(opts.loadgenFlags).toEqual(['--v8-pool-size=0', '--single-threaded-gc']);
  });
});
