/**
 * `npm run soak`: steady mixed load on a real gateway process, watching its memory (issue 7).
 *
 *   npm run soak                      10 minutes, 200 agents, 500 frames/s
 *   npm run soak -- --seconds 60      the CI length
 *   npm run soak -- --seconds 300 --agents 400 --rate 1000
 *
 * Options:
 *   --seconds N          length of the load phase (default 600)
 *   --agents N           agents, in pairs (default 200; even, ≥ 2)
 *   --rate N             signaling frames per second in total (default 500)
 *   --sample-seconds N   sampling period (default 5; 2 for runs under 5 minutes)
 *   --reconnect-every N  seconds between reconnect rounds (default 5; 0 = never)
 *   --json PATH          result file (default bench/results/soak-<stamp>.json)
 *
 * The gateway runs as `node --import tsx src/server.ts` on a free port (rate limits at their
 * defaults; the per-IP caps raised, since every agent connects from 127.0.0.1). Pairs of agents
 * trade signed OFFER / ANSWER / ICE frames at a steady total rate; now and then agents PING and
 * DISCOVER; every few seconds a couple of agents reconnect (a clean close, or a new session that
 * replaces the old one with 4409), and about 1 % of the traffic is bad frames (garbage, stale,
 * tampered, unknown type) that must be answered with their ERROR.
 *
 * Every few seconds it samples the gateway's RSS (/proc/<pid>/status VmRSS) and heap
 * (/metrics: nodejs_heap_size_used_bytes, process_resident_memory_bytes), and at the end it
 * computes the drift after a warm-up (the first 20 % of the run): (mean of the last window − mean
 * of the first window) / mean of the first window, windows being 10 % of the run. The target is
 * ≤ 5 %; it is reported, never asserted. Exit status 1 only when the gateway crashed or stopped
 * routing; 2 on bad usage.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GATEWAY_NODE_FLAGS } from '../src/constants.js';
import { newSigner, type Signer } from '../test/fuzz/generators.js';
import { registerWire, signalText, type WireClient } from '../test/fuzz/harness.js';
import { intOption, optionsOrExit, parseCommandLine, UsageError } from './lib/args.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const USAGE = 'usage: npm run soak -- [--seconds N] [--agents N] [--rate N] [--sample-seconds N] [--reconnect-every N] [--json PATH]';
const HELP = `${USAGE}

  --seconds N          length of the load phase, ≥ 5 (default 600)
  --agents N           agents, in pairs (default 200; even, ≥ 2)
  --rate N             signaling frames per second in total (default 500)
  --sample-seconds N   sampling period (default 5; 2 for runs under 5 minutes)
  --reconnect-every N  seconds between reconnect rounds (default 5; 0 = never)
  --json PATH          result file (default bench/results/soak-<stamp>.json)
  -h, --help           print this help

Exit status 1 only when the gateway crashed or stopped routing; 2 on bad usage.`;

const OPTIONS = {
  seconds: { type: 'string', default: '600' },
  agents: { type: 'string', default: '200' },
  rate: { type: 'string', default: '500' },
  'sample-seconds': { type: 'string' },
  'reconnect-every': { type: 'string', default: '5' },
  json: { type: 'string', default: '' },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

/** The run's options, or null for --help; throws a UsageError on bad usage. */
function parseCli(argv: string[]) {
  const values = parseCommandLine(OPTIONS, argv);
  if (values.help) return null;
  const seconds = intOption('seconds', values.seconds, 5);
  const agents = intOption('agents', values.agents, 2);
  if (agents % 2 !== 0) throw new UsageError(`--agents must be even (agents work in pairs) (got '${values.agents}')`);
  return {
    seconds,
    agents,
    rate: intOption('rate', values.rate, 1),
    sampleSeconds: values['sample-seconds'] === undefined ? (seconds < 300 ? 2 : 5) : intOption('sample-seconds', values['sample-seconds'], 1),
    reconnectEvery: intOption('reconnect-every', values['reconnect-every'], 0),
    json: values.json,
  };
}

// --------------------------------------------------------------------------------------------
// the gateway process

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

class Gateway {
  readonly tail: string[] = [];
  exitInfo: { code: number | null; signal: string | null } | undefined;
  readonly exited: Promise<{ code: number | null; signal: string | null }>;

  constructor(
    readonly proc: ChildProcess,
    readonly port: number,
  ) {
    for (const s of [proc.stdout, proc.stderr]) {
      s?.on('data', (d: Buffer) => {
        this.tail.push(d.toString());
        if (this.tail.length > 100) this.tail.shift();
      });
    }
    this.exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve((this.exitInfo = { code, signal }))));
  }

  get wsUrl(): string {
    return `ws://127.0.0.1:${this.port}/ws`;
  }

  get httpUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  static async start(agents: number): Promise<Gateway> {
    const port = await freePort();
    const proc = spawn(process.execPath, [...GATEWAY_NODE_FLAGS, '--import', 'tsx', 'src/server.ts'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        GATEWAY_HOST: '127.0.0.1',
        GATEWAY_PORT: String(port),
        LOG_LEVEL: 'warn',
        // Every soak agent connects from 127.0.0.1: the per-IP caps would refuse most of them.
        MAX_CONNECTIONS_PER_IP: String(Math.max(256, agents + 100)),
        CONNECT_RATE_LIMIT: '100000',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const gw = new Gateway(proc, port);
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && !gw.exitInfo) {
      try {
        if ((await fetch(`${gw.httpUrl}/health`)).status === 200) return gw;
      } catch {
        // not listening yet
      }
      await sleep(100);
    }
    proc.kill('SIGKILL');
    throw new Error(`gateway did not start:\n${gw.tail.join('').slice(-3000)}`);
  }

  /** VmRSS in bytes (Linux), or null. */
  vmRss(): number | null {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${this.proc.pid}/status`, 'utf8'));
      return m ? Number(m[1]) * 1024 : null;
    } catch {
      return null;
    }
  }

  /** A few values from /metrics, or null when the gateway does not answer. */
  async metrics(): Promise<Record<string, number> | null> {
    try {
      const res = await fetch(`${this.httpUrl}/metrics`, { signal: AbortSignal.timeout(5000) });
      const text = await res.text();
      const out: Record<string, number> = {};
      for (const name of ['nodejs_heap_size_used_bytes', 'nodejs_heap_size_total_bytes', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_p99_seconds', 'aiconexus_open_connections', 'aiconexus_connected_agents']) {
        const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.eE+-]+)$`, 'm').exec(text);
        if (m) out[name] = Number(m[1]);
      }
      return out;
    } catch {
      return null;
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// --------------------------------------------------------------------------------------------
// agents

interface Agent {
  index: number;
  signer: Signer;
  wire: WireClient | null;
  /** Frames may be addressed to it (registered and not reconnecting). */
  online: boolean;
  partner: Agent;
}

const counters = {
  sent: 0,
  delivered: 0,
  misrouted: 0,
  bad: 0,
  badAnswered: 0,
  pings: 0,
  pongs: 0,
  discovers: 0,
  agentsReplies: 0,
  reconnects: 0,
  replaced: 0,
  unexpectedCloses: 0,
  /** ERROR answers to valid frames, by code (AGENT_NOT_FOUND can happen while a partner reconnects). */
  errorsForValid: new Map<string, number>(),
  /** ERROR answers to the bad frames, by code. */
  errorsForBad: new Map<string, number>(),
  unexpectedCloseCodes: new Map<number, number>(),
};
const latencies: number[] = [];
const bump = <K>(m: Map<K, number>, k: K) => m.set(k, (m.get(k) ?? 0) + 1);

const SDP = ['v=0', 'o=- 4611731400430051336 2 IN IP4 127.0.0.1', 's=-', 't=0 0', 'a=group:BUNDLE 0', 'm=application 9 UDP/DTLS/SCTP webrtc-datachannel', 'c=IN IP4 0.0.0.0', 'a=ice-ufrag:Fz3d', 'a=ice-pwd:8bL3nq1Uw9vXo2h7Kc4RzPjA', 'a=fingerprint:sha-256 6B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08', 'a=setup:actpass', 'a=mid:0', 'a=sctp-port:5000'].join('\r\n') + '\r\n';
let idCounter = 0;

function onText(agent: Agent, wire: WireClient, text: string): void {
  let frame: { type?: string; from?: string; code?: string; ref?: string | null; payload?: { t?: number } };
  try {
    frame = JSON.parse(text) as typeof frame;
  } catch {
    return;
  }
  switch (frame.type) {
    case 'OFFER':
    case 'ANSWER':
    case 'ICE':
      if (frame.from === agent.partner.signer.did) {
        counters.delivered += 1;
        const t = frame.payload?.t;
        if (typeof t === 'number' && latencies.length < 200_000) latencies.push(Date.now() - t);
      } else {
        counters.misrouted += 1;
      }
      break;
    case 'PONG':
      counters.pongs += 1;
      break;
    case 'AGENTS':
      counters.agentsReplies += 1;
      break;
    case 'ERROR':
      if (typeof frame.ref === 'string' && frame.ref.startsWith('v-')) bump(counters.errorsForValid, frame.code ?? '?');
      else {
        counters.badAnswered += 1;
        bump(counters.errorsForBad, frame.code ?? '?');
      }
      break;
  }
  void wire;
}

async function connect(url: string, agent: Agent): Promise<void> {
  const wire = await registerWire(url, agent.signer, { name: `soak-${agent.index}`, capabilities: [agent.index % 2 === 0 ? 'caller' : 'callee', 'soak'] });
  wire.onText = (text) => onText(agent, wire, text);
  void wire.closed.then((c) => {
    // A close we did not ask for: 4409 is expected when a reconnect replaced this session.
    if (agent.wire === wire) {
      counters.unexpectedCloses += 1;
      bump(counters.unexpectedCloseCodes, c.code);
      agent.online = false;
      agent.wire = null;
    } else if (c.code === 4409) {
      counters.replaced += 1;
    }
  });
  agent.wire = wire;
  agent.online = true;
}

function sendSignal(from: Agent, kind: number): void {
  const to = from.partner;
  if (!from.online || !to.online || !from.wire) return;
  const type = kind === 0 ? 'OFFER' : kind === 1 ? 'ANSWER' : 'ICE';
  const t = Date.now();
  const payload =
    type === 'ICE'
      ? { candidate: `candidate:${kind} 1 udp 1677729535 203.0.113.${from.index % 250} ${40000 + (idCounter % 20000)} typ srflx`, sdpMid: '0', sdpMLineIndex: 0, usernameFragment: 'Fz3d', t }
      : { type: type.toLowerCase(), sdp: SDP, t };
  from.wire.send(signalText(from.signer, { type, id: `v-${++idCounter}`, from: from.signer.did, to: to.signer.did, ts: t, payload }));
  counters.sent += 1;
}

function sendBad(from: Agent, n: number): void {
  if (!from.online || !from.wire) return;
  const to = from.partner.signer.did;
  const id = `bad-${++idCounter}`;
  const now = Date.now();
  const frames = [
    'this is not json',
    JSON.stringify({ type: 'HELLO', id }),
    signalText(from.signer, { type: 'OFFER', id, from: from.signer.did, to, ts: now - 120_000, payload: { sdp: 'v=0' } }),
    JSON.stringify({ ...JSON.parse(signalText(from.signer, { type: 'ICE', id, from: from.signer.did, to, ts: now, payload: { candidate: '' } })), payload: { candidate: 'tampered' } }),
    JSON.stringify({ type: 'OFFER', id, from: from.signer.did, to: 'bob', ts: now, payload: {}, sig: 'x' }),
  ];
  from.wire.send(frames[n % frames.length] as string);
  counters.bad += 1;
}

// --------------------------------------------------------------------------------------------
// run

interface Sample {
  t: number;
  vmRss: number | null;
  heapUsed: number | null;
  heapTotal: number | null;
  promRss: number | null;
  lagP99: number | null;
  connections: number | null;
  sent: number;
  delivered: number;
}

function drift(samples: Sample[], key: 'vmRss' | 'heapUsed' | 'promRss', duration: number) {
  const warm = duration * 0.2;
  const window = duration * 0.1;
  const mean = (xs: Sample[]) => {
    const vals = xs.map((s) => s[key]).filter((v): v is number => v !== null);
    return vals.length === 0 ? null : vals.reduce((a, b) => a + b, 0) / vals.length;
  };
  const firstSamples = samples.filter((s) => s.t >= warm && s.t < warm + window);
  const lastSamples = samples.filter((s) => s.t >= duration - window);
  const min = (xs: Sample[]) => {
    const vals = xs.map((s) => s[key]).filter((v): v is number => v !== null);
    return vals.length === 0 ? null : Math.min(...vals);
  };
  const firstSet = firstSamples.length > 0 ? firstSamples : samples.filter((s) => s.t >= warm).slice(0, 1);
  const lastSet = lastSamples.length > 0 ? lastSamples : samples.slice(-1);
  const first = mean(firstSet);
  const last = mean(lastSet);
  // The minimum of a window tracks the live heap after collections (the mean includes garbage).
  const firstMin = min(firstSet);
  const lastMin = min(lastSet);
  return {
    first,
    last,
    drift: first && last !== null ? (last - first) / first : null,
    firstMin,
    lastMin,
    minDrift: firstMin && lastMin !== null ? (lastMin - firstMin) / firstMin : null,
    samples: [firstSet.length, lastSet.length],
  };
}

const mb = (n: number | null | undefined) => (n === null || n === undefined ? 'n/a' : (n / 1048576).toFixed(1));
const pct = (x: number | null) => (x === null ? 'n/a' : `${x >= 0 ? '+' : ''}${(x * 100).toFixed(2)} %`);
const stamp = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z').replaceAll(':', '-');

function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

async function main(): Promise<number> {
  const opts = optionsOrExit({ program: 'soak', usage: USAGE, help: HELP, helpCommand: 'npm run soak -- --help' }, parseCli);
  console.log(`soak: ${opts.seconds} s, ${opts.agents} agents, ${opts.rate} frames/s, samples every ${opts.sampleSeconds} s, reconnects every ${opts.reconnectEvery || '∞'} s`);
  const gw = await Gateway.start(opts.agents);
  const problems: string[] = [];
  let stopping = false;
  void gw.exited.then((e) => {
    if (!stopping) problems.push(`gateway crashed: ${JSON.stringify(e)}\n${gw.tail.join('').slice(-3000)}`);
  });
  console.log(`  gateway pid ${gw.proc.pid} on ${gw.wsUrl}`);

  // Agents in pairs: 2k and 2k+1 signal each other.
  const agents: Agent[] = [];
  for (let i = 0; i < opts.agents; i++) agents.push({ index: i, signer: newSigner(), wire: null, online: false, partner: undefined as unknown as Agent });
  for (let i = 0; i < opts.agents; i += 2) {
    (agents[i] as Agent).partner = agents[i + 1] as Agent;
    (agents[i + 1] as Agent).partner = agents[i] as Agent;
  }
  const regStart = Date.now();
  for (let i = 0; i < agents.length; i += 20) await Promise.all(agents.slice(i, i + 20).map((a) => connect(gw.wsUrl, a)));
  console.log(`  ${agents.length} agents registered in ${Date.now() - regStart} ms`);

  const samples: Sample[] = [];
  const started = Date.now();
  const end = started + opts.seconds * 1000;
  const pick = () => agents[Math.floor(Math.random() * agents.length)] as Agent;

  // Steady signaling: every 10 ms, the frames due by now (round-robin over pairs and directions).
  let pairCursor = 0;
  let kindCursor = 0;
  const load = setInterval(() => {
    const due = Math.floor(((Date.now() - started) / 1000) * opts.rate) - counters.sent - counters.bad;
    for (let k = 0; k < due && Date.now() < end; k++) {
      if (Math.random() < 0.01) {
        sendBad(pick(), counters.bad);
        continue;
      }
      const pair = pairCursor++ % (agents.length / 2);
      const from = agents[pair * 2 + ((pairCursor >> 8) % 2)] as Agent;
      // Mostly ICE (trickled candidates), with an OFFER and an ANSWER now and then.
      const kinds = [0, 1, 2, 2, 2];
      sendSignal(from, kinds[kindCursor++ % kinds.length] as number);
    }
  }, 10);
  const chatter = setInterval(() => {
    for (let k = 0; k < 5; k++) {
      const a = pick();
      if (a.online && a.wire) {
        a.wire.send(JSON.stringify({ type: 'PING', id: `p-${++idCounter}` }));
        counters.pings += 1;
      }
    }
    const d = pick();
    if (d.online && d.wire && idCounter % 2 === 0) {
      d.wire.send(JSON.stringify({ type: 'DISCOVER', id: `d-${++idCounter}`, capability: 'soak', limit: 100 }));
      counters.discovers += 1;
    }
  }, 1000);
  // A couple of agents reconnect every few seconds: a clean close, or a replacing session (4409).
  let reconnecting = 0;
  const reconnector =
    opts.reconnectEvery > 0
      ? setInterval(() => {
          for (let k = 0; k < 2; k++) {
            const a = pick();
            if (!a.online || !a.wire) continue;
            reconnecting += 1;
            a.online = false;
            const old = a.wire;
            const replace = counters.reconnects % 2 === 1;
            counters.reconnects += 1;
            void (async () => {
              try {
                // Detached first: the old socket's close (1000, or 4409 when replaced) is expected.
                a.wire = null;
                if (!replace) {
                  old.close();
                  await old.closed;
                }
                await connect(gw.wsUrl, a);
              } catch (err) {
                problems.push(`reconnect failed: ${(err as Error).message}`);
              } finally {
                reconnecting -= 1;
              }
            })();
          }
        }, opts.reconnectEvery * 1000)
      : undefined;

  // Sampling, and the routing watchdog.
  let lastDelivered = 0;
  let lastProgressAt = Date.now();
  let metricsFailures = 0;
  console.log('\n     t   VmRSS MB  heap MB  conns   sent/s  delivered/s  loop p99 ms');
  let lastPrinted = { t: 0, sent: 0, delivered: 0 };
  while (Date.now() < end && problems.length === 0) {
    await sleep(Math.min(opts.sampleSeconds * 1000, end - Date.now()));
    const m = await gw.metrics();
    if (m === null) {
      metricsFailures += 1;
      if (metricsFailures >= 3) problems.push('gateway stopped answering /metrics');
    } else metricsFailures = 0;
    const s: Sample = {
      t: (Date.now() - started) / 1000,
      vmRss: gw.vmRss(),
      heapUsed: m?.nodejs_heap_size_used_bytes ?? null,
      heapTotal: m?.nodejs_heap_size_total_bytes ?? null,
      promRss: m?.process_resident_memory_bytes ?? null,
      lagP99: m?.nodejs_eventloop_lag_p99_seconds ?? null,
      connections: m?.aiconexus_open_connections ?? null,
      sent: counters.sent,
      delivered: counters.delivered,
    };
    samples.push(s);
    if (counters.delivered > lastDelivered) {
      lastDelivered = counters.delivered;
      lastProgressAt = Date.now();
    } else if (Date.now() - lastProgressAt > 10_000) {
      problems.push(`gateway stopped routing: no delivery for ${Math.round((Date.now() - lastProgressAt) / 1000)} s`);
    }
    // Print about 20 rows whatever the length.
    if (s.t - lastPrinted.t >= opts.seconds / 20 - 0.001 || Date.now() >= end) {
      const dt = s.t - lastPrinted.t;
      console.log(
        `  ${s.t.toFixed(0).padStart(4)}   ${mb(s.vmRss).padStart(8)}  ${mb(s.heapUsed).padStart(7)}  ${String(s.connections ?? 'n/a').padStart(5)}  ${((s.sent - lastPrinted.sent) / dt).toFixed(0).padStart(7)}  ${((s.delivered - lastPrinted.delivered) / dt).toFixed(0).padStart(11)}  ${s.lagP99 === null ? 'n/a' : (s.lagP99 * 1000).toFixed(1).padStart(11)}`,
      );
      lastPrinted = { t: s.t, sent: s.sent, delivered: s.delivered };
    }
  }
  clearInterval(load);
  clearInterval(chatter);
  if (reconnector) clearInterval(reconnector);
  const duration = (Date.now() - started) / 1000;

  // In-flight frames land; then a fresh pair must still route.
  const settle = Date.now() + 5000;
  const lostToReconnects = () => counters.errorsForValid.get('AGENT_NOT_FOUND') ?? 0;
  while (Date.now() < settle && (counters.delivered + lostToReconnects() < counters.sent || reconnecting > 0)) await sleep(50);
  let finalProbe = 'not run (gateway down)';
  if (!gw.exitInfo) {
    try {
      const [pa, pb] = [newSigner(), newSigner()];
      const [wa, wb] = [await registerWire(gw.wsUrl, pa), await registerWire(gw.wsUrl, pb)];
      const text = signalText(pa, { type: 'OFFER', id: 'final-probe', from: pa.did, to: pb.did, ts: Date.now(), payload: { type: 'offer', sdp: SDP } });
      wa.send(text);
      const got = await wb.next(5000);
      finalProbe = got === text ? 'delivered' : `not delivered (${got === null ? 'nothing' : got.slice(0, 100)})`;
      wa.close();
      wb.close();
    } catch (err) {
      finalProbe = `failed: ${(err as Error).message}`;
    }
    if (finalProbe !== 'delivered') problems.push(`gateway stopped routing: final probe ${finalProbe}`);
  }
  const undelivered = counters.sent - counters.delivered - lostToReconnects();
  if (undelivered > Math.max(10, counters.sent * 0.001)) problems.push(`gateway lost frames: ${undelivered} of ${counters.sent} valid frames neither delivered nor refused`);

  stopping = true;
  for (const a of agents) {
    const w = a.wire;
    a.wire = null;
    w?.close();
  }
  gw.proc.kill('SIGTERM');
  const exit = await Promise.race([gw.exited, sleep(15_000).then(() => null)]);
  if (exit === null) gw.proc.kill('SIGKILL');

  const rss = drift(samples, 'vmRss', duration);
  const heap = drift(samples, 'heapUsed', duration);
  const promRss = drift(samples, 'promRss', duration);
  const sorted = [...latencies].sort((a, b) => a - b);
  const result = {
    date: new Date().toISOString(),
    options: opts,
    node: process.version,
    durationSeconds: Math.round(duration * 10) / 10,
    gateway: { pid: gw.proc.pid, exit: gw.exitInfo ?? null, env: { MAX_CONNECTIONS_PER_IP: String(Math.max(256, opts.agents + 100)), CONNECT_RATE_LIMIT: '100000', LOG_LEVEL: 'warn' } },
    traffic: {
      sent: counters.sent,
      delivered: counters.delivered,
      undelivered,
      misrouted: counters.misrouted,
      framesPerSecond: Math.round(counters.sent / duration),
      latencyMs: { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1) ?? null },
      bad: counters.bad,
      badAnswered: counters.badAnswered,
      errorsForBad: Object.fromEntries(counters.errorsForBad),
      errorsForValid: Object.fromEntries(counters.errorsForValid),
      pings: counters.pings,
      pongs: counters.pongs,
      discovers: counters.discovers,
      agentsReplies: counters.agentsReplies,
      reconnects: counters.reconnects,
      replaced4409: counters.replaced,
      unexpectedCloses: Object.fromEntries(counters.unexpectedCloseCodes),
    },
    drift: {
      target: 0.05,
      warmupSeconds: duration * 0.2,
      windowSeconds: duration * 0.1,
      vmRss: rss,
      heapUsed: heap,
      processResidentMemory: promRss,
    },
    finalProbe,
    problems,
    samples,
  };

  console.log(`\nsoak: ${duration.toFixed(0)} s, ${counters.sent.toLocaleString('en')} valid frames sent (${result.traffic.framesPerSecond}/s), ${counters.delivered.toLocaleString('en')} delivered, latency p50 ${result.traffic.latencyMs.p50} ms p99 ${result.traffic.latencyMs.p99} ms`);
  console.log(`  bad frames ${counters.bad} (answered ${counters.badAnswered}: ${JSON.stringify(result.traffic.errorsForBad)}); errors to valid frames ${JSON.stringify(result.traffic.errorsForValid)}`);
  console.log(`  PING ${counters.pings} / PONG ${counters.pongs}; DISCOVER ${counters.discovers} / AGENTS ${counters.agentsReplies}; reconnects ${counters.reconnects} (4409 replacements ${counters.replaced}); unexpected closes ${JSON.stringify(result.traffic.unexpectedCloses)}`);
  console.log('\n  drift after warm-up (first 20 %), windows of 10 %     first window   last window     drift   (target ≤ 5 %)');
  for (const [name, d] of [
    ['RSS (VmRSS)', rss],
    ['heap used (nodejs_heap_size_used_bytes)', heap],
    ['RSS (process_resident_memory_bytes)', promRss],
  ] as const) {
    // The target bounds growth; a shrinking figure is within it.
    const verdict = d.drift === null ? '' : d.drift <= 0.05 ? 'within target' : 'EXCEEDS target';
    console.log(`  ${name.padEnd(52)} ${mb(d.first).padStart(9)} MB ${mb(d.last).padStart(10)} MB  ${pct(d.drift).padStart(9)}   ${verdict}`);
  }
  console.log(`  ${'heap used, window minimum (after-GC floor)'.padEnd(52)} ${mb(heap.firstMin).padStart(9)} MB ${mb(heap.lastMin).padStart(10)} MB  ${pct(heap.minDrift).padStart(9)}`);
  console.log(`\n  final probe: ${finalProbe}; gateway exit ${JSON.stringify(gw.exitInfo ?? 'killed')}`);
  for (const p of problems) console.log(`  PROBLEM: ${p}`);
  const path = opts.json || join(ROOT, 'bench', 'results', `soak-${stamp()}.json`);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, JSON.stringify(result, null, 2) + '\n');
  console.log(`  result: ${path}`);
  const ok = problems.length === 0;
  console.log(ok ? '\nsoak: OK' : '\nsoak: FAILED (gateway crashed or stopped routing)');
  return ok ? 0 : 1;
}

process.exitCode = await main();
