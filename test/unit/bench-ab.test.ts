/**
 * bench:ab's B side (bench/ab.ts): what `--b-env` and `--b-arg` give B's runs, and the usage
 * errors that stop a comparison before its first run rather than after A's.
 */
import { describe, expect, it } from 'vitest';
import { bLabel, bSideOf } from '../../bench/ab.js';
import { UsageError } from '../../scripts/lib/args.js';

describe('bench:ab B side', () => {
  it('takes NAME=VALUE pairs (the value may hold "=") and bench/run.ts options', () => {
    const b = bSideOf(['BENCH_VERIFY_INLINE_MAX_LOAD=0', 'X=a=b'], ['--gateway-flags=--minor-ms', '--verify-threads=1']);
    expect(b).toEqual({
      env: { BENCH_VERIFY_INLINE_MAX_LOAD: '0', X: 'a=b' },
      args: ['--gateway-flags=--minor-ms', '--verify-threads=1'],
    });
    expect(bLabel(null, b)).toBe('B same tree BENCH_VERIFY_INLINE_MAX_LOAD=0 X=a=b --gateway-flags=--minor-ms --verify-threads=1');
    expect(bLabel('c217528', { env: {}, args: [] })).toBe('B c217528');
  });

  it('refuses an environment entry without a name or "="', () => {
    expect(() => bSideOf(['FOO'], [])).toThrow(UsageError);
    expect(() => bSideOf(['=1'], [])).toThrow(/NAME=VALUE/);
    expect(() => bSideOf(['1X=1'], [])).toThrow(/NAME=VALUE/);
  });

  it('refuses what bench/run.ts would refuse, naming --b-arg', () => {
    expect(() => bSideOf([], ['verify-threads=1'])).toThrow(/--b-arg wants a bench\/run.ts option/);
    expect(() => bSideOf([], ['--no-such-option'])).toThrow(/--b-arg: .*no-such-option/);
    expect(() => bSideOf([], ['--only'])).toThrow(UsageError);
  });
});
