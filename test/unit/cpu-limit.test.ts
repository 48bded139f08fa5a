/**
 * src/cpu-limit.ts: the cgroup CPU quota (v1 and v2 layouts, read through an injected file reader
 * holding the files a container would show) and the core count that VERIFY_THREADS defaults from.
 */
import { describe, expect, it } from 'vitest';
import { cgroupCpuQuota, usableCores } from '../../src/cpu-limit.js';
import { defaultVerifyThreads } from '../../src/config.js';

const files = (map: Record<string, string>) => (path: string) => map[path];

const V2_ROOT = '0::/\n';
const V1 = '12:cpu,cpuacct:/\n11:memory:/\n';

describe('cgroupCpuQuota', () => {
  it('reads a cgroup v2 cpu.max quota, in the own cgroup first, then at the root', () => {
    expect(cgroupCpuQuota(files({ '/proc/self/cgroup': V2_ROOT, '/sys/fs/cgroup/cpu.max': '150000 100000\n' }))).toBe(1.5);
    const nested = { '/proc/self/cgroup': '0::/kubepods/pod1/c1\n', '/sys/fs/cgroup/kubepods/pod1/c1/cpu.max': '200000 100000', '/sys/fs/cgroup/cpu.max': 'max 100000' };
    expect(cgroupCpuQuota(files(nested))).toBe(2);
  });

  it('reports no quota for cgroup v2 "max"', () => {
    expect(cgroupCpuQuota(files({ '/proc/self/cgroup': V2_ROOT, '/sys/fs/cgroup/cpu.max': 'max 100000\n' }))).toBeUndefined();
  });

  it('reads a cgroup v1 CFS quota, and -1 as no quota', () => {
    const v1 = (quota: string, root = '/sys/fs/cgroup/cpu') =>
      files({ '/proc/self/cgroup': V1, [`${root}/cpu.cfs_quota_us`]: `${quota}\n`, [`${root}/cpu.cfs_period_us`]: '100000\n' });
    expect(cgroupCpuQuota(v1('50000'))).toBe(0.5);
    expect(cgroupCpuQuota(v1('300000', '/sys/fs/cgroup/cpu,cpuacct'))).toBe(3);
    expect(cgroupCpuQuota(v1('-1'))).toBeUndefined();
    const nested = files({
      '/proc/self/cgroup': '4:cpu,cpuacct:/docker/abc\n',
      '/sys/fs/cgroup/cpu/docker/abc/cpu.cfs_quota_us': '100000',
      '/sys/fs/cgroup/cpu/docker/abc/cpu.cfs_period_us': '100000',
      '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '-1',
    });
    expect(cgroupCpuQuota(nested)).toBe(1);
  });

  it('reports no quota without cgroup files, or with unreadable values', () => {
    expect(cgroupCpuQuota(files({}))).toBeUndefined();
    expect(cgroupCpuQuota(files({ '/proc/self/cgroup': V2_ROOT, '/sys/fs/cgroup/cpu.max': 'garbage 0' }))).toBeUndefined();
  });

  it('runs against this machine without throwing', () => {
    const quota = cgroupCpuQuota();
    expect(quota === undefined || quota > 0).toBe(true);
  });
});

describe('usableCores', () => {
  it('caps the affinity count at the quota, rounded down, at least 1', () => {
    const quota = (q: string) => files({ '/proc/self/cgroup': V2_ROOT, '/sys/fs/cgroup/cpu.max': `${q} 100000` });
    expect(usableCores(quota('150000'), 64)).toBe(1);
    expect(usableCores(quota('50000'), 64)).toBe(1);
    expect(usableCores(quota('400000'), 64)).toBe(4);
    expect(usableCores(quota('800000'), 2)).toBe(2);
    expect(usableCores(files({}), 16)).toBe(16);
  });

  it('gives VERIFY_THREADS 1 in a one-CPU container on a 64-core host, not 4', () => {
    const oneCpu = files({ '/proc/self/cgroup': V2_ROOT, '/sys/fs/cgroup/cpu.max': '100000 100000' });
    expect(defaultVerifyThreads(1, usableCores(oneCpu, 64))).toBe(1);
    expect(defaultVerifyThreads(1, usableCores(files({}), 64))).toBe(4);
  });
});
