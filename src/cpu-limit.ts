/**
 * How many cores this process may really use, for defaults that size thread pools
 * (VERIFY_THREADS).
 *
 * `os.availableParallelism()` reads the CPU affinity mask, not a cgroup CPU quota, so in a
 * container limited with `docker run --cpus 1` or a Kubernetes CPU limit it reports the host's
 * cores. Threads beyond the quota only take turns on it: on a 2-vCPU VM, three busy threads make
 * each one wait up to a scheduler time slice (8-10 ms measured, see docs/performance.md), which is
 * what a signaling gateway's latency tail cannot afford. So the quota, when there is one, caps
 * the count.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/** Reads a small text file, or undefined when it is not there (no cgroup, other layout). */
export type ReadText = (path: string) => string | undefined;

const readText: ReadText = (path) => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
};

/**
 * The CPU quota of this process's cgroup in cores (e.g. 1.5), or undefined when there is none.
 * cgroup v2: `cpu.max` ("max 100000" = none, "150000 100000" = 1.5). cgroup v1:
 * `cpu.cfs_quota_us` (-1 = none) ÷ `cpu.cfs_period_us`. The cgroup's own directory (from
 * /proc/self/cgroup) is tried first, then the hierarchy's root, which is what a container with its
 * own cgroup namespace sees as its cgroup.
 */
export function cgroupCpuQuota(read: ReadText = readText): number | undefined {
  const lines = (read('/proc/self/cgroup') ?? '').split('\n');
  const v2 = lines.find((l) => l.startsWith('0::'))?.slice(3);
  for (const dir of [...(v2 && v2 !== '/' ? [`/sys/fs/cgroup${v2}`] : []), '/sys/fs/cgroup']) {
    const max = read(`${dir}/cpu.max`)?.trim().split(/\s+/);
    if (max && max.length === 2) {
      if (max[0] === 'max') return undefined;
      return ratio(max[0], max[1]);
    }
  }
  const v1 = lines.map((l) => /^\d+:([^:]*):(.*)$/.exec(l)).find((m) => m?.[1]?.split(',').includes('cpu'));
  const path = v1?.[2] && v1[2] !== '/' ? v1[2] : '';
  for (const root of ['/sys/fs/cgroup/cpu', '/sys/fs/cgroup/cpu,cpuacct']) {
    for (const dir of [...(path ? [root + path] : []), root]) {
      const quota = read(`${dir}/cpu.cfs_quota_us`)?.trim();
      if (quota === undefined) continue;
      if (quota === '-1') return undefined;
      return ratio(quota, read(`${dir}/cpu.cfs_period_us`)?.trim());
    }
  }
  return undefined;
}

function ratio(quota: string | undefined, period: string | undefined): number | undefined {
  const q = Number(quota);
  const p = Number(period);
  return Number.isFinite(q) && Number.isFinite(p) && q > 0 && p > 0 ? q / p : undefined;
}

/**
 * Cores for sizing thread pools: `os.availableParallelism()`, lowered to the cgroup CPU quota
 * rounded down (at least 1) when there is one.
 */
export function usableCores(read: ReadText = readText, parallelism: number = availableParallelism()): number {
  const quota = cgroupCpuQuota(read);
  return quota === undefined ? parallelism : Math.max(1, Math.min(parallelism, Math.floor(quota)));
}
