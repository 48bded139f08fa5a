/**
 * Orchestrator-side helpers for the `cluster` scenario: a throwaway redis-server, the real process
 * entry (src/server.ts) started as a node:cluster supervisor with workers, CPU of a process tree
 * from /proc, and /health and /ready probes.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { createConnection, createServer } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { runtime, trackProcess } from './child.js';
import { BUILD_DIR, ROOT } from './compile.js';
import { sleep } from './stats.js';

/** A free TCP port on 127.0.0.1 (closed again before it is returned: a small race, fine on loopback). */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as { port: number }).port;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

async function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Keeps the last lines a process printed, for error messages; echoes them in --verbose mode. */
function keepTail(proc: ChildProcess, label: string): string[] {
  const tail: string[] = [];
  for (const stream of [proc.stdout, proc.stderr]) {
    if (!stream) continue;
    createInterface({ input: stream }).on('line', (line) => {
      tail.push(line);
      if (tail.length > 30) tail.shift();
      if (runtime.verbose || /error|fatal/i.test(line)) process.stderr.write(`[${label}] ${line}\n`);
    });
  }
  return tail;
}

/** Stops `proc` with `signal`, then SIGKILL after `graceMs`; resolves once it has exited. */
async function stopProcess(proc: ChildProcess, signal: NodeJS.Signals, graceMs: number): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  proc.kill(signal);
  const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

// ---------------------------------------------------------------------------------------------
// redis-server

export interface BenchRedis {
  port: number;
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/** Starts redis-server on a free loopback port without persistence (`--save '' --appendonly no`). */
export async function startRedis(): Promise<BenchRedis> {
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) throw new Error('redis-server is not installed (apt-get install -y redis-server)');
  const port = await freePort();
  const proc = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  trackProcess(proc);
  const tail = keepTail(proc, 'redis');
  const stop = () => stopProcess(proc, 'SIGTERM', 3000);
  try {
    const deadline = performance.now() + 10_000;
    while (!(await portOpen(port))) {
      if (proc.exitCode !== null) throw new Error(`redis-server exited (code ${proc.exitCode}): ${tail.slice(-5).join(' | ')}`);
      if (performance.now() > deadline) throw new Error(`redis-server did not listen on ${port} within 10 s`);
      await sleep(20);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { port, url: `redis://127.0.0.1:${port}`, pid: proc.pid as number, stop };
}

// ---------------------------------------------------------------------------------------------
// CPU of processes, from /proc

const CLK_TCK = (() => {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const n = Number(r.stdout?.trim());
  return Number.isFinite(n) && n > 0 ? n : 100;
})();

/** utime + stime of one process in ms, and its parent pid; undefined once it is gone. */
function procStat(pid: number): { cpuMs: number; ppid: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces: fields after the last ')' start at field 3.
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
    const ppid = Number(rest[1]);
    const utime = Number(rest[11]);
    const stime = Number(rest[12]);
    return { cpuMs: ((utime + stime) * 1000) / CLK_TCK, ppid };
  } catch {
    return undefined;
  }
}

/** Pids of the direct children of `pid` (a scan of /proc). */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    if (procStat(Number(name))?.ppid === pid) out.push(Number(name));
  }
  return out;
}

/** CPU time (ms) used so far by each of `pids` (0 for a process that is gone), and when it was read. */
export function cpuSample(pids: readonly number[]): { at: number; cpuMs: number[] } {
  return { at: performance.now(), cpuMs: pids.map((pid) => procStat(pid)?.cpuMs ?? 0) };
}

/** CPU % (100 % = one core) of the pids at `indexes` between two samples, summed. */
export function cpuPercentBetween(a: { at: number; cpuMs: number[] }, b: { at: number; cpuMs: number[] }, indexes: number[]): number {
  let ms = 0;
  for (const i of indexes) ms += (b.cpuMs[i] ?? 0) - (a.cpuMs[i] ?? 0);
  return (ms / (b.at - a.at)) * 100;
}

// ---------------------------------------------------------------------------------------------
// HTTP probes

/** GET `path` on a fresh connection (no keep-alive: with node:cluster each connection may reach another worker). */
export function getJson(port: number, path: string, timeoutMs = 5000): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, timeout: timeoutMs }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> });
        } catch {
          reject(new Error(`${path} answered ${res.statusCode}: ${text.slice(0, 200)}`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** Waits until GET /ready answers 200 (in cluster mode: Redis connected). */
export async function waitReady(port: number, timeoutMs = 20_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let last = '';
  while (performance.now() < deadline) {
    try {
      const r = await getJson(port, '/ready', 2000);
      if (r.status === 200) return;
      last = JSON.stringify(r.body);
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(50);
  }
  throw new Error(`port ${port} not ready within ${Math.round(timeoutMs / 1000)} s (${last})`);
}

// ---------------------------------------------------------------------------------------------
// the real entry point, src/server.ts, as a node:cluster supervisor

export interface WorkersGateway {
  port: number;
  url: string;
  supervisorPid: number;
  workerPids: number[];
  /** node ids the workers reported on /health. */
  nodeIds: string[];
  /** SIGTERM to the supervisor (it drains its workers); SIGKILL to whatever is left after 10 s. */
  stop(): Promise<void>;
}

/** Gateway variables that must not leak from the caller's environment into the process under test. */
const GATEWAY_VARS = [
  'LOG_LEVEL', 'GATEWAY_HOST', 'GATEWAY_PORT', 'GATEWAY_ID', 'AGENT_TIMEOUT', 'HEARTBEAT_INTERVAL', 'AUTH_TIMEOUT',
  'CLOCK_SKEW', 'MAX_FRAME_BYTES', 'MAX_AGENTS', 'RATE_LIMIT', 'RATE_BURST', 'ADMIN_TOKEN', 'REDIS_URL',
  'REDIS_KEY_PREFIX', 'GATEWAY_WORKERS', 'MAX_BUFFERED_BYTES', 'MAX_CONNECTIONS_PER_IP', 'CONNECT_RATE_LIMIT',
  'ALLOWED_ORIGINS', 'TRUST_PROXY', 'API_DOCS',
];

/**
 * Starts src/server.ts (transpiled, or under tsx with --tsx) with `env` on top of a clean gateway
 * environment, and waits until /health has answered from `workers` distinct cluster nodes, each
 * with Redis ready.
 */
export async function startWorkersGateway(env: Record<string, string>, workers: number, nodeFlags: string[]): Promise<WorkersGateway> {
  const port = await freePort();
  const compiled = runtime.mode === 'compiled';
  const entry = compiled ? join(BUILD_DIR, 'src', 'server.js') : join(ROOT, 'src', 'server.ts');
  const base: Record<string, string | undefined> = { ...process.env };
  for (const k of GATEWAY_VARS) delete base[k];
  const proc = spawn(process.execPath, [...(compiled ? [] : ['--import', 'tsx']), ...nodeFlags, entry], {
    cwd: ROOT,
    env: { ...base, ...env, GATEWAY_HOST: '127.0.0.1', GATEWAY_PORT: String(port), GATEWAY_WORKERS: String(workers) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  trackProcess(proc);
  const tail = keepTail(proc, 'gateway-workers');
  const supervisorPid = proc.pid as number;
  let workerPids: number[] = [];
  const stop = async () => {
    await stopProcess(proc, 'SIGTERM', 10_000);
    // Workers exit when the supervisor's IPC channel closes; make sure of it.
    for (const pid of workerPids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  };
  try {
    const nodes = new Set<string>();
    const deadline = performance.now() + 30_000;
    while (nodes.size < workers) {
      if (proc.exitCode !== null) throw new Error(`gateway supervisor exited (code ${proc.exitCode}):\n  ${tail.slice(-10).join('\n  ')}`);
      if (performance.now() > deadline) throw new Error(`only ${nodes.size} of ${workers} workers ready within 30 s:\n  ${tail.slice(-10).join('\n  ')}`);
      try {
        const { status, body } = await getJson(port, '/health', 2000);
        const cluster = body.cluster as { node_id?: string; redis?: string } | undefined;
        if (status === 200 && cluster?.redis === 'ready' && cluster.node_id) nodes.add(cluster.node_id);
      } catch {
        // not listening yet
      }
      await sleep(nodes.size === 0 ? 50 : 10);
    }
    workerPids = childPids(supervisorPid);
    if (workerPids.length !== workers) throw new Error(`expected ${workers} worker processes under pid ${supervisorPid}, found ${workerPids.length}`);
    return { port, url: `ws://127.0.0.1:${port}/ws`, supervisorPid, workerPids, nodeIds: [...nodes], stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
