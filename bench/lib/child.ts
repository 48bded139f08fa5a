/**
 * Orchestrator side of the child processes: fork a bench script with an IPC channel, wait for its
 * messages, and make sure every child is gone when the run ends.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { BUILD_DIR, ROOT } from './compile.js';
import type { ChildMessage, ProcessStats } from './ipc.js';
import { kernelThreadTimes, processSched } from './kernel-threads.js';

/** How children run: the transpiled tree on plain node (default), or the sources under tsx. */
export const runtime = { mode: 'compiled' as 'compiled' | 'tsx', verbose: false };

/** Every child still alive, for {@link killAllChildren}. */
const live = new Set<ChildProcess>();

export interface StartOptions {
  /** Label for log lines and errors. */
  label: string;
  /** Extra node flags (e.g. --expose-gc, --cpu-prof). */
  nodeFlags?: string[];
  env?: Record<string, string>;
}

export class Child {
  private readonly queue: ChildMessage[] = [];
  private waiters: { types: string[]; resolve: (m: ChildMessage) => void }[] = [];
  private readonly tail: string[] = [];
  private exitError: Error | undefined;
  private exitWaiters: ((e: Error) => void)[] = [];
  /** Called for every message (besides waiters); e.g. phase marks from a load generator. */
  onMessage: (msg: ChildMessage) => void = () => {};
  readonly exited: Promise<number | null>;

  constructor(
    readonly proc: ChildProcess,
    readonly label: string,
  ) {
    live.add(proc);
    for (const stream of [proc.stdout, proc.stderr]) {
      if (!stream) continue;
      createInterface({ input: stream }).on('line', (line) => {
        this.tail.push(line);
        if (this.tail.length > 30) this.tail.shift();
        if (runtime.verbose || /error|warn|fatal/i.test(line)) process.stderr.write(`[${label}] ${line}\n`);
      });
    }
    proc.on('message', (raw) => {
      const msg = raw as ChildMessage;
      this.onMessage(msg);
      const i = this.waiters.findIndex((w) => w.types.includes(msg.type));
      if (i >= 0) {
        const [w] = this.waiters.splice(i, 1);
        w?.resolve(msg);
      } else {
        this.queue.push(msg);
      }
    });
    this.exited = new Promise((resolve) => {
      proc.on('exit', (code, signal) => {
        live.delete(proc);
        this.exitError = new Error(
          `${label} exited (code ${code}${signal ? `, signal ${signal}` : ''})` + (this.tail.length ? `:\n  ${this.tail.slice(-10).join('\n  ')}` : ''),
        );
        for (const w of this.exitWaiters) w(this.exitError);
        this.exitWaiters = [];
        resolve(code);
      });
    });
  }

  /** Sends a command. */
  send(msg: { cmd: string } & Record<string, unknown>): void {
    if (this.proc.connected) this.proc.send(msg);
  }

  /** The next message of `type` (or of any of the types; queued or future); rejects when the child exits or after `timeoutMs`. */
  waitFor<T extends { type: string } = ChildMessage>(type: string | string[], timeoutMs: number): Promise<T> {
    const types = Array.isArray(type) ? type : [type];
    const i = this.queue.findIndex((m) => types.includes(m.type));
    if (i >= 0) return Promise.resolve(this.queue.splice(i, 1)[0] as unknown as T);
    if (this.exitError) return Promise.reject(this.exitError);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`${this.label}: no "${types.join('" or "')}" message within ${Math.round(timeoutMs / 1000)} s`));
      }, timeoutMs);
      const waiter = {
        types,
        resolve: (m: ChildMessage) => {
          clearTimeout(timer);
          resolve(m as unknown as T);
        },
      };
      this.waiters.push(waiter);
      this.exitWaiters.push((e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
  }

  /** Sends a command and waits for the reply of type `reply`. */
  request<T extends { type: string } = ChildMessage>(msg: { cmd: string } & Record<string, unknown>, reply: string | string[], timeoutMs: number): Promise<T> {
    const p = this.waitFor<T>(reply, timeoutMs);
    this.send(msg);
    return p;
  }

  /** Asks the child to stop and waits up to `graceMs` for it to exit; kills it after that. */
  async stop(graceMs = 8000): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.send({ cmd: 'stop' });
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/** Forks `bench/<script>` (transpiled, or under tsx) with an IPC channel. */
export function startChild(script: string, opts: StartOptions): Child {
  const compiled = runtime.mode === 'compiled';
  const file = compiled ? join(BUILD_DIR, 'bench', `${script}.js`) : join(ROOT, 'bench', `${script}.ts`);
  const proc = fork(file, [], {
    cwd: ROOT,
    execArgv: [...(compiled ? [] : ['--import', 'tsx']), ...(opts.nodeFlags ?? [])],
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  return new Child(proc, opts.label);
}

/** A server child's `stats` reply. */
export async function statsOf(child: Child, gc = false): Promise<ProcessStats> {
  const reply = await child.request<{ type: 'stats'; stats: ProcessStats }>({ cmd: 'stats', gc }, 'stats', 20_000);
  // Read here, not in the child: the scans of /proc would cost the measured server ~3 ms.
  return { ...reply.stats, kernelThreads: kernelThreadTimes(), sched: processSched(child.proc.pid) };
}

/**
 * Counts a process started outside {@link startChild} (redis-server, the multi-worker gateway) as
 * live, so that {@link killAllChildren} stops it too when the run ends or is interrupted.
 */
export function trackProcess(proc: ChildProcess): void {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
}

/** Kills every child still running (by its own pid). */
export function killAllChildren(): void {
  for (const proc of live) {
    try {
      proc.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}
