/**
 * The machine's kernel threads, and the server's own threads' scheduling, beside a benchmark's server: on the bench VM a kernel thread
 * (DAMON's `kdamond.0`) takes one of the two vCPUs for ~10 ms several times a second, and while
 * it does the server and the load generator share the other. The tail scenario reports their CPU
 * per rate and the busiest one's mean time slice. Linux only (/proc); undefined elsewhere.
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { ProcessStats } from './ipc.js';

/** Run time (ns) and time slices so far of each kernel thread, by pid, with its name (a kworker's changes with its work). */
export type KernelThreadTimes = Record<string, { name: string; ns: number; slices: number }>;

/**
 * The kernel threads' CPU time so far: every process whose parent is kthreadd (pid 2), its name,
 * run time (ns) and time slices from /proc/<pid>/schedstat, by pid. Undefined where /proc does not
 * have them.
 */
export function kernelThreadTimes(): KernelThreadTimes | undefined {
  try {
    const out: KernelThreadTimes = {};
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        // pid (comm) state ppid …; comm may hold spaces and parentheses.
        const close = stat.lastIndexOf(')');
        if (stat.slice(close + 2).split(' ', 2)[1] !== '2') continue;
        const name = stat.slice(stat.indexOf('(') + 1, close);
        const [ns, , slices] = readFileSync(`/proc/${pid}/schedstat`, 'utf8').trim().split(/\s+/).map(Number);
        out[pid] = { name, ns: ns ?? 0, slices: slices ?? 0 };
      } catch {
        // the thread exited meanwhile
      }
    }
    return Object.keys(out).length > 0 ? out : undefined;
  } catch {
    return undefined;
  }
}

/**
 * What the kernel threads took between two snapshots: their CPU time per second of wall time
 * (ms/s), and the busiest one with its CPU per second and mean time slice; undefined off Linux.
 */
export function kernelThreadsBetween(a: ProcessStats, b: ProcessStats): KernelThreadUse | undefined {
  if (!a.kernelThreads || !b.kernelThreads) return undefined;
  const seconds = (b.at - a.at) / 1000;
  let totalNs = 0;
  let top: { name: string; ns: number; slices: number } | undefined;
  for (const [pid, end] of Object.entries(b.kernelThreads)) {
    // A thread started since the first snapshot counts from zero.
    const start = a.kernelThreads[pid] ?? { ns: 0, slices: 0 };
    const name = end.name;
    const ns = end.ns - start.ns;
    const slices = end.slices - start.slices;
    if (ns <= 0) continue;
    totalNs += ns;
    if (!top || ns > top.ns) top = { name, ns, slices };
  }
  return {
    msPerSecond: totalNs / 1e6 / seconds,
    top: top ? { name: top.name, msPerSecond: top.ns / 1e6 / seconds, meanSliceMs: top.slices > 0 ? top.ns / 1e6 / top.slices : NaN } : undefined,
  };
}

/** {@link kernelThreadsBetween}'s result. */
export interface KernelThreadUse {
  msPerSecond: number;
  top?: { name: string; msPerSecond: number; meanSliceMs: number };
}

/** One thread's scheduler counters so far (/proc/<pid>/task/<tid>/schedstat): run time, time runnable but waiting for a CPU, time slices. */
export interface ThreadSched {
  runNs: number;
  waitNs: number;
  slices: number;
}

/** A process's threads' scheduler counters: its main thread's, and each other thread's run time so far (ns) by thread id. */
export interface ProcessSched {
  main: ThreadSched;
  others: Record<string, number>;
}

/**
 * The scheduler counters of `pid`'s threads so far, read from /proc by the orchestrator (as the
 * kernel threads are); undefined off Linux. The main thread's wait is the time its event loop was
 * ready to run and waited for a core: invisible in its CPU time, and paid by every frame in flight.
 */
export function processSched(pid: number | undefined): ProcessSched | undefined {
  if (pid === undefined) return undefined;
  try {
    let main: ThreadSched = { runNs: 0, waitNs: 0, slices: 0 };
    const others: Record<string, number> = {};
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        const [runNs = 0, waitNs = 0, slices = 0] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').trim().split(/\s+/).map(Number);
        if (tid === String(pid)) main = { runNs, waitNs, slices };
        else others[tid] = runNs;
      } catch {
        // the thread exited meanwhile
      }
    }
    return { main, others };
  } catch {
    return undefined;
  }
}

/**
 * A process's scheduling over `seconds` between two readings: how long per second its main thread
 * waited for a core and ran, the mean wait per time slice, and its other threads' run time per second.
 */
export function schedBetween(a: ProcessSched | undefined, b: ProcessSched | undefined, seconds: number): SchedUse | undefined {
  if (!a || !b) return undefined;
  const slices = b.main.slices - a.main.slices;
  const waitNs = b.main.waitNs - a.main.waitNs;
  // Each other thread's run time in the interval (one started since the first reading counts from zero).
  const others = Object.entries(b.others).map(([tid, ns]) => ns - (a.others[tid] ?? 0));
  return {
    mainWaitMsPerSecond: waitNs / 1e6 / seconds,
    mainRunMsPerSecond: (b.main.runNs - a.main.runNs) / 1e6 / seconds,
    mainWaitPerSliceUs: slices > 0 ? waitNs / 1e3 / slices : NaN,
    mainSlicesPerSecond: slices / seconds,
    othersRunMsPerSecond: others.reduce((sum, ns) => sum + ns, 0) / 1e6 / seconds,
    busiestOtherMsPerSecond: Math.max(0, ...others) / 1e6 / seconds,
  };
}

/** {@link schedBetween}'s result. */
export interface SchedUse {
  mainWaitMsPerSecond: number;
  mainRunMsPerSecond: number;
  mainWaitPerSliceUs: number;
  mainSlicesPerSecond: number;
  othersRunMsPerSecond: number;
  /** The busiest of the other threads, ms/s. */
  busiestOtherMsPerSecond: number;
}
