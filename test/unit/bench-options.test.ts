/**
 * `npm run bench -- --tail-targets`: which of the tail scenario's targets run, in the order a
 * round starts from, and the usage error for a name it does not know.
 */
import { describe, expect, it } from 'vitest';
import { tailTargets } from '../../bench/lib/options.js';
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
