/**
 * The measuring side of `npm run attack`: the gateway process (spawned from a snapshot of dist/,
 * under a descriptor limit), the monitor that watches it (VmRSS and open descriptors from /proc,
 * a /health probe, a well-behaved agent's PING round trips), and handles on attack-worker
 * processes. Every child process is tracked and killed on exit, SIGINT and SIGTERM.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, closeSync, constants, cpSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { GATEWAY_NODE_FLAGS } from '../../src/constants.js';
import { connectAgent, frameKind, newIdentity, percentile, type AgentSocket } from './attack-agent.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const MB = 1048576;

// ------------------------------------------------------------------------------------------------
// child processes: tracked, killed whatever happens

const children = new Set<ChildProcess>();

/** SIGKILLs every child still running (by pid; synchronous, safe in an 'exit' handler). */
export function killAllChildren(): void {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null && c.pid !== undefined) {
      try {
        process.kill(c.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

// ------------------------------------------------------------------------------------------------
// tools and limits

/** Absolute path of `name` in PATH, or null. */
export function which(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // next
    }
  }
  return null;
}

/** This process's open-files limits from /proc/self/limits (Infinity for unlimited). */
export function ownNofile(): { soft: number; hard: number } {
  try {
    const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    const n = (s: string) => (s === 'unlimited' ? Infinity : Number(s));
    if (m) return { soft: n(m[1] as string), hard: n(m[2] as string) };
  } catch {
    // not Linux
  }
  return { soft: 1024, hard: 1024 };
}

/** The soft open-files limit of process `pid`, or null. */
export function nofileOf(pid: number): number | null {
  try {
    const m = /^Max open files\s+(\S+)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
    return m ? (m[1] === 'unlimited' ? Infinity : Number(m[1])) : null;
  } catch {
    return null;
  }
}

export interface Tools {
  prlimit: string | null;
  setpriv: string | null;
}

export function findTools(): Tools {
  return { prlimit: which('prlimit'), setpriv: which('setpriv') };
}

/**
 * argv prefix that runs a command with open-files limit `nofile` (soft = hard), and with
 * SIGKILL as its parent-death signal when setpriv exists (so a harness killed with -9 leaves no
 * gateway behind). Both tools exec, so the pid is the command's own. Without prlimit: `sh -c
 * 'ulimit -n N'`, which also execs.
 */
export function limitedCommand(tools: Tools, nofile: number | null, argv: string[]): { argv: string[]; note: string | null } {
  let out = argv;
  let note: string | null = null;
  if (nofile !== null) {
    if (tools.prlimit) out = [tools.prlimit, `--nofile=${nofile}:${nofile}`, ...out];
    else {
      out = ['/bin/sh', '-c', `ulimit -n ${nofile} && exec "$@"`, 'sh', ...out];
      note = `prlimit not found: descriptor limit ${nofile} set with sh -c 'ulimit -n'`;
    }
  }
  if (tools.setpriv) out = [tools.setpriv, '--pdeathsig', 'SIGKILL', '--', ...out];
  return { argv: out, note };
}

/** True when this host can use `address` as a source address (any 127.x.y.z on Linux). */
export function canBind(address: string): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(0, address, () => srv.close(() => resolve(true)));
  });
}

// ------------------------------------------------------------------------------------------------
// the gateway build: a private copy of dist/, so a rebuild in the working tree during a run does
// not pull files from under a running gateway

export interface Snapshot {
  dir: string;
  serverJs: string;
  source: string;
  builtAt: Date;
  /** src/ files newer than the build (when the build is this repository's dist/). */
  newerSources: string[];
}

export function snapshotDist(distDir: string, tmpRoot: string): Snapshot {
  const serverJs = join(distDir, 'server.js');
  if (!existsSync(serverJs)) throw new Error(`${serverJs} not found: run \`npm run build\` first (or pass --build)`);
  const builtAt = statSync(serverJs).mtime;
  const newerSources: string[] = [];
  if (join(distDir) === join(ROOT, 'dist')) {
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        const p = join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.name.endsWith('.ts') && statSync(p).mtime > builtAt) newerSources.push(p.slice(ROOT.length + 1));
      }
    };
    walk(join(ROOT, 'src'));
  }
  const dir = join(tmpRoot, 'gateway');
  cpSync(distDir, join(dir, 'dist'), { recursive: true });
  const pkg = existsSync(join(distDir, '..', 'package.json')) ? join(distDir, '..', 'package.json') : join(ROOT, 'package.json');
  cpSync(pkg, join(dir, 'package.json'));
  const modules = existsSync(join(distDir, '..', 'node_modules')) ? join(distDir, '..', 'node_modules') : join(ROOT, 'node_modules');
  symlinkSync(modules, join(dir, 'node_modules'), 'dir');
  return { dir, serverJs: join(dir, 'dist', 'server.js'), source: distDir, builtAt, newerSources };
}

/**
 * A temp directory named after this process (aiconexus-attack-<pid>-XXXXXX). Directories left by
 * an earlier harness that was killed with -9 (its pid no longer running) are removed first.
 */
export function makeTmpRoot(): string {
  for (const name of readdirSync(tmpdir())) {
    const m = /^aiconexus-attack-(\d+)-/.exec(name);
    if (!m || Number(m[1]) === process.pid) continue;
    let running = true;
    try {
      process.kill(Number(m[1]), 0);
    } catch {
      running = false;
    }
    if (!running) removeTmpRoot(join(tmpdir(), name));
  }
  return mkdtempSync(join(tmpdir(), `aiconexus-attack-${process.pid}-`));
}

/** Removes the temp directory (retrying: a gateway being killed may still be writing its log). */
export function removeTmpRoot(dir: string): void {
  try {
    rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
  } catch (err) {
    console.error(`attack: could not remove ${dir}: ${(err as Error).message}`);
  }
}

// ------------------------------------------------------------------------------------------------
// the gateway process

export interface ExitInfo {
  code: number | null;
  signal: string | null;
  at: number;
}

export class Gateway {
  exitInfo: ExitInfo | undefined;
  /** Set when the harness itself stopped or killed it (so an exit is not a crash). */
  stoppedByHarness = false;
  readonly exited: Promise<ExitInfo>;
  port = 0;
  nofile: number | null = null;

  private constructor(
    readonly proc: ChildProcess,
    readonly logPath: string,
    readonly command: string[],
    readonly env: Record<string, string>,
  ) {
    this.exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve((this.exitInfo = { code, signal, at: Date.now() }))));
  }

  get pid(): number {
    return this.proc.pid as number;
  }

  get alive(): boolean {
    return this.exitInfo === undefined;
  }

  get wsUrl(): string {
    return `ws://127.0.0.1:${this.port}/ws`;
  }

  /** The last `lines` lines of the gateway's output. */
  tail(lines = 20): string {
    try {
      return readFileSync(this.logPath, 'utf8').split('\n').slice(-lines - 1).join('\n');
    } catch {
      return '';
    }
  }

  /**
   * Starts `node --max-semi-space-size=64 [nodeFlags] <snapshot>/dist/server.js` (as npm start) on 127.0.0.1, port 0 (the bound port is read from the
   * log line Fastify writes), with only PATH, GATEWAY_HOST, GATEWAY_PORT and `extraEnv` set.
   */
  static async start(opts: { snapshot: Snapshot; tools: Tools; nofile: number | null; nodeFlags: string[]; extraEnv: Record<string, string>; logPath: string }): Promise<Gateway> {
    const env: Record<string, string> = { PATH: process.env.PATH ?? '', GATEWAY_HOST: '127.0.0.1', GATEWAY_PORT: '0', ...opts.extraEnv };
    const { argv } = limitedCommand(opts.tools, opts.nofile, [process.execPath, ...GATEWAY_NODE_FLAGS, ...opts.nodeFlags, opts.snapshot.serverJs]);
    const fd = openSync(opts.logPath, 'a');
    let proc: ChildProcess;
    try {
      proc = track(spawn(argv[0] as string, argv.slice(1), { cwd: opts.snapshot.dir, env, stdio: ['ignore', fd, fd] }));
    } finally {
      closeSync(fd);
    }
    const gw = new Gateway(proc, opts.logPath, argv, env);
    proc.on('error', () => {});
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && gw.alive) {
      const log = gw.tail(200);
      const m = /Server listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(log) ?? /"url":"ws:\/\/127\.0\.0\.1:([1-9]\d*)\/ws"/.exec(log);
      if (m) {
        gw.port = Number(m[1]);
        break;
      }
      await sleep(50);
    }
    while (gw.port !== 0 && Date.now() < deadline && gw.alive) {
      const h = await healthOnce(gw.port, 1000);
      if (h.ok) {
        gw.nofile = nofileOf(gw.pid);
        return gw;
      }
      await sleep(100);
    }
    const tail = gw.tail(30);
    gw.kill();
    throw new Error(`gateway did not start (${gw.exitInfo ? `exit ${JSON.stringify(gw.exitInfo)}` : 'no /health 200 within 30 s'}):\n${tail}`);
  }

  kill(): void {
    this.stoppedByHarness = true;
    if (this.alive) this.proc.kill('SIGKILL');
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 5000): Promise<void> {
    this.stoppedByHarness = true;
    if (!this.alive) return;
    this.proc.kill('SIGTERM');
    const done = await Promise.race([this.exited, sleep(graceMs).then(() => null)]);
    if (done === null) {
      this.proc.kill('SIGKILL');
      await Promise.race([this.exited, sleep(5000)]);
    }
  }

  /** VmRSS in bytes, or null when the process is gone. */
  rss(): number | null {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${this.pid}/status`, 'utf8'));
      return m ? Number(m[1]) * 1024 : null;
    } catch {
      return null;
    }
  }

  /** Open descriptors, or null when the process is gone. */
  fds(): number | null {
    try {
      return readdirSync(`/proc/${this.pid}/fd`).length;
    } catch {
      return null;
    }
  }
}

/** One GET /health on a fresh connection (no keep-alive pool, so accept() is exercised each time). */
export function healthOnce(port: number, timeoutMs: number, localAddress: string | null = null): Promise<{ ok: boolean; status: number | null; error: string | null; ms: number }> {
  const started = performance.now();
  return new Promise((resolve) => {
    let done = false;
    const finish = (ok: boolean, status: number | null, error: string | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ ok, status, error, ms: performance.now() - started });
    };
    const req = request({ host: '127.0.0.1', port, path: '/health', agent: false, headers: { connection: 'close' }, ...(localAddress ? { localAddress } : {}) }, (res) => {
      res.resume();
      res.on('end', () => finish(res.statusCode === 200, res.statusCode ?? null, res.statusCode === 200 ? null : `HTTP ${res.statusCode}`));
      res.on('error', (err) => finish(false, res.statusCode ?? null, err.message));
    });
    const timer = setTimeout(() => {
      finish(false, null, 'timeout');
      req.destroy();
    }, timeoutMs);
    req.on('error', (err: NodeJS.ErrnoException) => finish(false, null, err.code ?? err.message));
    req.end();
  });
}

// ------------------------------------------------------------------------------------------------
// the monitor: RSS / descriptors, /health, PING

export interface Sample {
  /** ms since the monitor started. */
  t: number;
  rss: number | null;
  fds: number | null;
}

interface Ping {
  /** Monitor ms when sent. */
  at: number;
  sentAt: number;
  rtt: number | null;
  outcome: 'pending' | 'pong' | 'timeout' | 'not-sent';
}

interface Probe {
  at: number;
  ok: boolean;
  error: string | null;
  ms: number;
}

export interface WindowStats {
  rss: { before: number | null; peak: number | null; after: number | null };
  fds: { before: number | null; peak: number | null; after: number | null };
  ping: { sent: number; pongs: number; timeouts: number; notSent: number; late: number; p50: number | null; p99: number | null; max: number | null; p99Timeout: boolean };
  health: { ok: number; failed: number; errors: Record<string, number>; maxMs: number | null };
}

export interface MonitorOptions {
  sampleMs: number;
  healthEveryMs: number;
  healthTimeoutMs: number;
  pingEveryMs: number;
  pingTimeoutMs: number;
  /** Source address of the PING agent and the /health probe (a loopback address other than the attackers'), or null. */
  probeAddress: string | null;
  /** Called once when RSS passes this many bytes. */
  rssLimit: number;
  onRssLimit: (rss: number) => void;
}

export class Monitor {
  readonly samples: Sample[] = [];
  readonly started = Date.now();
  private readonly pings: Ping[] = [];
  private readonly probes: Probe[] = [];
  private readonly byId = new Map<string, Ping>();
  private sampler: NodeJS.Timeout;
  private healthTimer: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private pinger: AgentSocket | undefined;
  private lateAnswers = 0;
  private seq = 0;
  private limitHit = false;
  pingerClosed: { code: number; reason: string; at: number } | null = null;

  constructor(
    private readonly gw: Gateway,
    private readonly opts: MonitorOptions,
  ) {
    this.sample();
    this.sampler = setInterval(() => this.sample(), opts.sampleMs);
  }

  now(): number {
    return Date.now() - this.started;
  }

  private sample(): void {
    const s: Sample = { t: this.now(), rss: this.gw.rss(), fds: this.gw.fds() };
    if (s.rss === null && s.fds === null && !this.gw.alive) return;
    this.samples.push(s);
    if (!this.limitHit && s.rss !== null && s.rss > this.opts.rssLimit) {
      this.limitHit = true;
      this.opts.onRssLimit(s.rss);
    }
  }

  /** Latest sample now (fresh read). */
  sampleNow(): Sample {
    this.sample();
    return this.samples.at(-1) ?? { t: this.now(), rss: null, fds: null };
  }

  /** Registers the well-behaved agent and starts PINGing and probing /health. */
  async startProbes(): Promise<void> {
    this.pinger = await connectAgent(this.gw.wsUrl, newIdentity(), {
      meta: { name: 'well-behaved', capabilities: ['probe'] },
      timeoutMs: 10_000,
      ...(this.opts.probeAddress ? { localAddress: this.opts.probeAddress } : {}),
    });
    this.pinger.onData = (data) => {
      const k = frameKind(data);
      if (k?.type !== 'PONG' || typeof k.ref !== 'string') return;
      const p = this.byId.get(k.ref);
      if (!p) return;
      this.byId.delete(k.ref);
      if (p.outcome === 'pending') {
        p.outcome = 'pong';
        p.rtt = performance.now() - p.sentAt;
      } else this.lateAnswers += 1;
    };
    void this.pinger.closed.then((c) => (this.pingerClosed = c));
    this.pingTimer = setInterval(() => this.ping(), this.opts.pingEveryMs);
    this.healthTimer = setInterval(() => void this.probe(), this.opts.healthEveryMs);
  }

  private ping(): void {
    const now = performance.now();
    const p: Ping = { at: this.now(), sentAt: now, rtt: null, outcome: 'pending' };
    this.pings.push(p);
    const ws = this.pinger?.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      p.outcome = 'not-sent';
      return;
    }
    const id = `p${++this.seq}`;
    this.byId.set(id, p);
    ws.send(JSON.stringify({ type: 'PING', id }));
    setTimeout(() => {
      if (p.outcome === 'pending') p.outcome = 'timeout';
    }, this.opts.pingTimeoutMs).unref();
    // Forget ids long unanswered (bounded map).
    if (this.byId.size > 10_000) {
      for (const k of [...this.byId.keys()].slice(0, 5000)) this.byId.delete(k);
    }
  }

  private async probe(): Promise<void> {
    const at = this.now();
    if (!this.gw.alive) {
      this.probes.push({ at, ok: false, error: 'gateway exited', ms: 0 });
      return;
    }
    const r = await healthOnce(this.gw.port, this.opts.healthTimeoutMs, this.opts.probeAddress);
    this.probes.push({ at, ok: r.ok, error: r.error, ms: r.ms });
  }

  /** Stats over [from, to] (monitor ms); before/after are the samples nearest those instants. */
  stats(from: number, to: number, afterAt: number | null): WindowStats {
    const inWin = this.samples.filter((s) => s.t >= from && s.t <= (afterAt ?? to));
    const beforeSample = [...this.samples].reverse().find((s) => s.t <= from) ?? this.samples[0];
    const afterSample = afterAt === null ? undefined : [...this.samples].reverse().find((s) => s.t <= afterAt + this.opts.sampleMs);
    const max = (xs: (number | null)[]) => {
      const v = xs.filter((x): x is number => x !== null);
      return v.length === 0 ? null : Math.max(...v);
    };
    const pings = this.pings.filter((p) => p.at >= from && p.at <= to);
    const settled = pings.filter((p) => p.outcome !== 'pending');
    // Timeouts and unsent pings count as infinitely slow: a p99 that lands on them is a timeout.
    const rtts = settled.map((p) => (p.outcome === 'pong' ? (p.rtt as number) : Infinity)).sort((a, b) => a - b);
    const answered = settled.filter((p) => p.outcome === 'pong').map((p) => p.rtt as number);
    const p50 = percentile(rtts, 50);
    const p99 = percentile(rtts, 99);
    const probes = this.probes.filter((p) => p.at >= from && p.at <= to);
    const errors: Record<string, number> = {};
    for (const p of probes) if (!p.ok) errors[p.error ?? '?'] = (errors[p.error ?? '?'] ?? 0) + 1;
    return {
      rss: { before: beforeSample?.rss ?? null, peak: max(inWin.map((s) => s.rss)), after: afterSample?.rss ?? null },
      fds: { before: beforeSample?.fds ?? null, peak: max(inWin.map((s) => s.fds)), after: afterSample?.fds ?? null },
      ping: {
        sent: pings.filter((p) => p.outcome !== 'not-sent').length,
        pongs: answered.length,
        timeouts: settled.filter((p) => p.outcome === 'timeout').length,
        notSent: settled.filter((p) => p.outcome === 'not-sent').length,
        late: this.lateAnswers,
        p50: p50 === null || !Number.isFinite(p50) ? (p50 === null ? null : this.opts.pingTimeoutMs) : p50,
        p99: p99 === null || !Number.isFinite(p99) ? (p99 === null ? null : this.opts.pingTimeoutMs) : p99,
        max: answered.length === 0 ? null : Math.max(...answered),
        p99Timeout: p99 !== null && !Number.isFinite(p99),
      },
      health: { ok: probes.filter((p) => p.ok).length, failed: probes.filter((p) => !p.ok).length, errors, maxMs: max(probes.filter((p) => p.ok).map((p) => p.ms)) },
    };
  }

  /** Waits until every PING sent so far has its outcome (at most the PING timeout). */
  async settlePings(): Promise<void> {
    await sleep(Math.min(this.opts.pingTimeoutMs + 50, 1500));
  }

  stop(): void {
    clearInterval(this.sampler);
    if (this.pingTimer) clearInterval(this.pingTimer);
    if (this.healthTimer) clearInterval(this.healthTimer);
    this.pinger?.ws.terminate();
  }
}

export const mb = (n: number | null | undefined): string => (n === null || n === undefined ? '—' : (n / MB).toFixed(0));

// ------------------------------------------------------------------------------------------------
// attack-worker processes

type WorkerMessage = { type: string; [k: string]: unknown };

export class WorkerHandle {
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  private readonly waiters = new Map<string, { resolve: (m: WorkerMessage) => void; reject: (e: Error) => void }[]>();
  private stderr = '';
  private exit: { code: number | null; signal: string | null } | undefined;
  /** Last progress message. */
  progress: WorkerMessage | null = null;
  onProgress: ((m: WorkerMessage) => void) | undefined;
  error: string | null = null;

  private constructor(
    readonly name: string,
    readonly proc: ChildProcess,
  ) {
    proc.stderr?.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000);
    });
    proc.stdout?.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000);
    });
    proc.on('message', (m: WorkerMessage) => {
      if (m.type === 'progress' || m.type === 'opened') {
        this.progress = { ...this.progress, ...m };
        this.onProgress?.(m);
      }
      if (m.type === 'error') this.error = String(m.message);
      const list = this.waiters.get(m.type);
      const w = list?.shift();
      if (w) w.resolve(m);
      if (m.type === 'error') for (const ws of this.waiters.values()) for (const x of ws.splice(0)) x.reject(new Error(`${this.name}: ${String(m.message)}`));
    });
    proc.on('error', (err) => (this.error = err.message));
    this.exited = new Promise((resolve) =>
      proc.once('exit', (code, signal) => {
        this.exit = { code, signal };
        const why = new Error(`${this.name} exited (${code ?? signal})${this.error ? `: ${this.error}` : ''}${this.stderr ? `\n${this.stderr.slice(-1500)}` : ''}`);
        for (const ws of this.waiters.values()) for (const x of ws.splice(0)) x.reject(why);
        resolve({ code, signal });
      }),
    );
  }

  /** Starts scripts/lib/attack-worker.ts, under open-files limit `nofile` when given. */
  static spawn(name: string, tools: Tools, nofile: number | null): WorkerHandle {
    const script = join(ROOT, 'scripts', 'lib', 'attack-worker.ts');
    const { argv } = limitedCommand(tools, nofile, [process.execPath, '--import', 'tsx', script]);
    const proc = track(spawn(argv[0] as string, argv.slice(1), { cwd: ROOT, env: process.env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] }));
    return new WorkerHandle(name, proc);
  }

  /** The next message of `type` (rejects if the worker exits or reports an error first, or after `timeoutMs`). */
  next(type: string, timeoutMs: number): Promise<WorkerMessage> {
    if (this.exit) return Promise.reject(new Error(`${this.name} has exited${this.error ? `: ${this.error}` : ''}\n${this.stderr.slice(-1500)}`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const list = this.waiters.get(type) ?? [];
        const i = list.indexOf(entry);
        if (i >= 0) list.splice(i, 1);
        reject(new Error(`${this.name}: no '${type}' within ${timeoutMs} ms`));
      }, timeoutMs);
      const entry = {
        resolve: (m: WorkerMessage) => {
          clearTimeout(timer);
          resolve(m);
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      const list = this.waiters.get(type) ?? [];
      list.push(entry);
      this.waiters.set(type, list);
    });
  }

  private post(msg: Record<string, unknown>): void {
    if (this.proc.connected) this.proc.send(msg);
  }

  async setup(role: string, params: Record<string, unknown>, timeoutMs: number): Promise<Record<string, unknown>> {
    const ready = this.next('ready', timeoutMs);
    this.post({ cmd: 'setup', role, params });
    return (await ready).info as Record<string, unknown>;
  }

  go(): void {
    this.post({ cmd: 'go' });
  }

  /** Asks for the result; null if the worker is gone or does not answer within `timeoutMs`. */
  async stop(timeoutMs = 10_000): Promise<Record<string, unknown> | null> {
    if (this.exit) return null;
    const result = this.next('result', timeoutMs).catch(() => null);
    this.post({ cmd: 'stop' });
    const r = await result;
    await Promise.race([this.exited, sleep(3000)]);
    this.kill();
    return r === null ? null : (r.result as Record<string, unknown>);
  }

  kill(): void {
    if (this.exit === undefined && this.proc.pid !== undefined) {
      try {
        process.kill(this.proc.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
}
