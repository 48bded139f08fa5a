/**
 * The load generator, in its own process (started by bench/run.ts). One task per process:
 *
 * - throughput: agents in pairs, each sending to its partner with at most `window` frames in flight
 *   per sender (frame k is sent once the partner has received frame k − window). A count-based
 *   warm-up estimates the rate, then `rate × duration × 3` frames are pre-signed and the measured
 *   phase runs for `duration`. Reports frames delivered (verified and routed by the server) per second.
 * - latency: open-loop pacing at fixed rates across all senders (a 1 ms timer sends every frame
 *   that is due; frames go round-robin over the senders); the same process sends and receives, so
 *   sender→receiver latency is the difference of two performance.now() readings. Options for the
 *   cluster scenario: receivers on another gateway node (`receiverUrl`), one direction only (`oneWay`).
 * - idle: connects and registers agents, reports `ready`, and holds them until `close`.
 * - handshake: registrations (connect → CHALLENGE → signed REGISTER → REGISTERED) with bounded
 *   concurrency over a fixed count.
 *
 * In cluster mode (`cluster: {redisUrl, prefix}`), throughput and latency wait until every agent is
 * listed in Redis presence before sending, and report how the pairs are spread over the nodes.
 *
 * Frames are pre-signed before the clock starts (on the libuv threadpool; the orchestrator sets
 * UV_THREADPOOL_SIZE to the number of cores), with unique ids, so the clock measures the server
 * and not the client's signing. Phase marks (`{type:'mark'}`) let the orchestrator sample the
 * server's CPU over exactly the measured window.
 */
import { performance } from 'node:perf_hooks';
import {
  newAgentKeys,
  registerAgent,
  signalingFrame,
  signFramesAsync,
  wirePrefix,
  type AgentConn,
  type AgentKeys,
  type FrameKind,
} from './lib/agent.js';
import { frameSeq } from './lib/frame-seq.js';
import type { FrameWindows } from './lib/results.js';
import { fromParent, takeGcPauses, toParent } from './lib/ipc.js';
import { mapLimit, sleep, summarize } from './lib/stats.js';

const TEXT = { binary: false } as const;
const CONNECT_CONCURRENCY = 100;
let conns: AgentConn[] = [];
let unexpectedCloses = 0;

function mark(name: string): void {
  toParent({ type: 'mark', name, at: performance.now() });
}

/** Connects and registers every key (agent i at `url`, or at `url(i)`), `concurrency` handshakes in flight. */
async function connectAll(
  url: string | ((i: number) => string),
  keys: AgentKeys[],
  concurrency = CONNECT_CONCURRENCY,
): Promise<{ ms: number; failures: string[] }> {
  const started = performance.now();
  const failures: string[] = [];
  let ok = 0;
  // Progress for the orchestrator's log (and for diagnosing a stalled connect phase).
  const progress = setInterval(() => toParent({ type: 'progress', registered: ok, failed: failures.length, of: keys.length }), 2000);
  const result = await mapLimit(keys, concurrency, (k, i) =>
    registerAgent(typeof url === 'string' ? url : url(i), k).then(
      (c) => {
        ok++;
        return c;
      },
      (err: Error) => {
        failures.push(err.message);
        return null;
      },
    ),
  );
  clearInterval(progress);
  conns = result.filter((c): c is AgentConn => c !== null);
  for (const c of conns) c.ws.on('close', () => unexpectedCloses++);
  return { ms: performance.now() - started, failures };
}

function closeAll(): void {
  for (const c of conns) {
    c.ws.removeAllListeners('close');
    c.ws.terminate();
  }
  conns = [];
}

function countError(errors: Record<string, number>, data: Buffer): void {
  let code = 'UNPARSEABLE';
  try {
    const frame = JSON.parse(data.toString()) as { type?: string; code?: string };
    code = frame.type === 'ERROR' ? String(frame.code) : `unexpected ${String(frame.type)}`;
  } catch {
    // counted as UNPARSEABLE
  }
  errors[code] = (errors[code] ?? 0) + 1;
}

/** `true` when `data` starts with `prefix` (a delivered signaling frame rather than an ERROR). */
const startsWith = (data: Buffer, prefix: Buffer) => data.length > prefix.length && data.compare(prefix, 0, prefix.length, 0, prefix.length) === 0;

/** Cluster mode: the Redis the gateway nodes share, and their key prefix. */
interface ClusterParams {
  redisUrl: string;
  prefix: string;
}

/**
 * Cluster mode: waits until every DID is listed in Redis presence (a node announces an agent
 * asynchronously, after REGISTERED: a frame sent to it from another node before that would get
 * AGENT_NOT_FOUND), and returns the node each one is on, read from the `agent:<did>` hashes.
 */
async function awaitPresence(cluster: ClusterParams, dids: string[], timeoutMs = 15_000): Promise<{ nodeOf: string[]; waitedMs: number }> {
  const { Redis } = await import('ioredis');
  const redis = new Redis(cluster.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  const started = performance.now();
  try {
    await redis.connect();
    for (;;) {
      const pipeline = redis.pipeline();
      for (const did of dids) pipeline.hget(`${cluster.prefix}agent:${did}`, 'node');
      const rows = (await pipeline.exec()) ?? [];
      const nodeOf = rows.map(([err, v]) => (err || typeof v !== 'string' ? '' : v));
      const missing = nodeOf.filter((n) => n === '').length;
      if (missing === 0) return { nodeOf, waitedMs: performance.now() - started };
      if (performance.now() - started > timeoutMs) throw new Error(`${missing} of ${dids.length} agents not in Redis presence after ${timeoutMs} ms`);
      await sleep(20);
    }
  } finally {
    redis.disconnect();
  }
}

/**
 * An order of the agents (indexes into `nodeOf`) such that about `share` of the pairs (i, i ^ 1)
 * have their two agents on different nodes: cross-node pairs take one agent from each of the two
 * fullest nodes, the rest pair up within a node, and odd leftovers pair across nodes.
 */
function pairOrder(nodeOf: string[], share: number): number[] {
  const buckets = new Map<string, number[]>();
  nodeOf.forEach((n, i) => buckets.set(n, [...(buckets.get(n) ?? []), i]));
  const lists = [...buckets.values()];
  const order: number[] = [];
  const fullest = () => lists.filter((l) => l.length > 0).sort((a, b) => b.length - a.length);
  let cross = Math.round((share * nodeOf.length) / 2);
  while (cross-- > 0) {
    const [a, b] = fullest();
    if (!a || !b) break;
    order.push(a.pop() as number, b.pop() as number);
  }
  for (const l of lists) while (l.length >= 2) order.push(l.pop() as number, l.pop() as number);
  for (const l of lists) order.push(...l);
  return order;
}

/** How agents in pairs (i, i ^ 1) are spread over cluster nodes. */
function placement(nodeOf: string[]) {
  const perNode: Record<string, number> = {};
  for (const n of nodeOf) perNode[n] = (perNode[n] ?? 0) + 1;
  let pairs = 0;
  let crossPairs = 0;
  for (let i = 0; i + 1 < nodeOf.length; i += 2) {
    pairs++;
    if (nodeOf[i] !== nodeOf[i + 1]) crossPairs++;
  }
  return { perNode: Object.values(perNode).sort((a, b) => b - a), pairs, crossPairs, crossShare: pairs > 0 ? crossPairs / pairs : NaN };
}

// ---------------------------------------------------------------------------------------------
// throughput

interface ThroughputParams {
  url: string;
  agents: number;
  window: number;
  durationMs: number;
  warmupFrames: number;
  frame: FrameKind;
  /** Cluster mode: wait for presence before sending, and report how pairs are spread over nodes. */
  cluster?: ClusterParams;
  /**
   * Cluster mode: re-form the pairs once every agent's node is known, so that this share of them
   * is cross-node (default: pairs as connected, agent 2k with 2k + 1).
   */
  crossShare?: number;
  /** Frames pre-signed for the measured phase: warm-up rate × duration × this (default 3). */
  poolFactor?: number;
}

interface Flow {
  /** Sender connection (index i); its receiver is i ^ 1. */
  sender: AgentConn;
  receiverDid: string;
  frames: Buffer[];
  next: number;
  /** Frames the receiver got, plus frames answered with an ERROR (both free a window slot). */
  consumed: number;
}

async function throughput(p: ThroughputParams) {
  const keys = Array.from({ length: p.agents - (p.agents % 2) }, newAgentKeys);
  const connect = await connectAll(p.url, keys);
  if (conns.length !== keys.length) throw new Error(`only ${conns.length}/${keys.length} agents registered: ${connect.failures[0]}`);
  const presence = p.cluster ? await awaitPresence(p.cluster, conns.map((c) => c.keys.did)) : undefined;
  const asConnected = presence ? placement(presence.nodeOf) : undefined;
  if (presence && p.crossShare !== undefined) {
    const order = pairOrder(presence.nodeOf, p.crossShare);
    conns = order.map((i) => conns[i] as AgentConn);
    presence.nodeOf = order.map((i) => presence.nodeOf[i] as string);
  }
  const n = conns.length;
  const flows: Flow[] = conns.map((c, i) => ({ sender: c, receiverDid: (conns[i ^ 1] as AgentConn).keys.did, frames: [], next: 0, consumed: 0 }));
  const prefix = wirePrefix(p.frame);
  const errors: Record<string, number> = {};
  let delivered = 0;
  let stopped = true;
  let exhaustedAt: number | undefined;
  let exhaustedDelivered = 0;
  /** Frames each flow had delivered when the first flow ran out of pre-signed frames. */
  let exhaustedPerFlow: number[] | undefined;
  let lastDeliveryAt = 0;

  const pump = (f: Flow) => {
    while (!stopped && f.next - f.consumed < p.window) {
      if (f.next >= f.frames.length) {
        if (exhaustedAt === undefined) {
          exhaustedAt = performance.now();
          exhaustedDelivered = delivered;
          exhaustedPerFlow = flows.map((x) => x.consumed);
        }
        return;
      }
      f.sender.ws.send(f.frames[f.next++] as Buffer, TEXT);
    }
  };
  conns.forEach((c, i) => {
    c.onData = (data) => {
      if (startsWith(data, prefix)) {
        delivered++;
        lastDeliveryAt = performance.now();
        const f = flows[i ^ 1] as Flow;
        f.consumed++;
        pump(f);
      } else {
        countError(errors, data);
        const f = flows[i] as Flow;
        f.consumed++;
        pump(f);
      }
    };
  });

  let idSeq = 0;
  const presign = async (perFlow: number) => {
    const started = performance.now();
    const texts = await signFramesAsync(perFlow * n, (k) => {
      const f = flows[k % n] as Flow;
      return { keys: f.sender.keys, frame: signalingFrame(p.frame, `t${idSeq + k}`, f.sender.keys.did, f.receiverDid, Date.now()) };
    });
    idSeq += perFlow * n;
    for (const f of flows) {
      f.frames = [];
      f.next = 0;
      f.consumed = 0;
    }
    texts.forEach((t, k) => (flows[k % n] as Flow).frames.push(Buffer.from(t)));
    return performance.now() - started;
  };
  const allConsumed = () => flows.every((f) => f.consumed >= f.next);
  const waitUntil = async (cond: () => boolean, timeoutMs: number) => {
    const deadline = performance.now() + timeoutMs;
    while (!cond() && performance.now() < deadline) await sleep(10);
    return cond();
  };

  // Warm-up: a fixed number of frames, run to completion; gives JIT time and a rate estimate.
  const warmPerFlow = Math.max(2 * p.window, Math.ceil(p.warmupFrames / n));
  const warmSignMs = await presign(warmPerFlow);
  delivered = 0;
  exhaustedAt = undefined;
  stopped = false;
  const warmStart = performance.now();
  flows.forEach(pump);
  const warmDone = await waitUntil(() => flows.every((f) => f.next >= f.frames.length) && allConsumed(), 120_000);
  stopped = true;
  if (!warmDone) throw new Error(`warm-up did not complete: ${delivered}/${warmPerFlow * n} delivered, errors ${JSON.stringify(errors)}`);
  const warmRate = (delivered / (lastDeliveryAt - warmStart)) * 1000;

  // Measured phase: enough frames for the estimated rate × duration, three times over (the warm-up
  // runs cold and underestimates), capped at 60,000 frames/s.
  const cap = Math.max(1, Math.floor((60_000 * p.durationMs) / 1000 / n));
  const perFlow = Math.min(cap, Math.ceil((warmRate * (p.durationMs / 1000) * (p.poolFactor ?? 3)) / n) + p.window);
  const signMs = await presign(perFlow);
  await sleep(200);
  delivered = 0;
  exhaustedAt = undefined;
  exhaustedPerFlow = undefined;
  const errorsBefore = { ...errors };
  const cpu0 = process.cpuUsage();
  mark('main-start');
  stopped = false;
  const start = performance.now();
  flows.forEach(pump);
  await sleep(p.durationMs);
  const end = performance.now();
  const deliveredAtEnd = delivered;
  const perFlowAtEnd = flows.map((x) => x.consumed);
  mark('main-end');
  const cpu = process.cpuUsage(cpu0);
  stopped = true;
  const drained = await waitUntil(allConsumed, 10_000);

  const windowEnd = exhaustedAt ?? end;
  const counted = exhaustedAt === undefined ? deliveredAtEnd : exhaustedDelivered;
  const sent = flows.reduce((s, f) => s + f.next, 0);
  const received = delivered;
  // Cluster mode: frames/s per flow, for flows whose two agents share a node and for the others.
  let byRoute: { sameNode: { flows: number; perFlowPerSecond: number }; crossNode: { flows: number; perFlowPerSecond: number } } | undefined;
  if (presence) {
    const counts = exhaustedPerFlow ?? perFlowAtEnd;
    const acc = { same: { flows: 0, frames: 0 }, cross: { flows: 0, frames: 0 } };
    counts.forEach((c, i) => {
      const k = presence.nodeOf[i] === presence.nodeOf[i ^ 1] ? acc.same : acc.cross;
      k.flows++;
      k.frames += c;
    });
    const secs = ((exhaustedAt ?? end) - start) / 1000;
    const rate = (k: { flows: number; frames: number }) => ({ flows: k.flows, perFlowPerSecond: k.flows > 0 ? k.frames / k.flows / secs : NaN });
    byRoute = { sameNode: rate(acc.same), crossNode: rate(acc.cross) };
  }
  return {
    agents: n,
    flows: n,
    window: p.window,
    frame: p.frame,
    frameBytes: flows[0]?.frames[0]?.length ?? 0,
    connectMs: connect.ms,
    placement: presence ? { ...placement(presence.nodeOf), presenceWaitMs: presence.waitedMs, asConnected } : undefined,
    byRoute,
    warmup: { frames: warmPerFlow * n, rate: warmRate, signMs: warmSignMs },
    presigned: perFlow * n,
    signMs,
    measuredMs: windowEnd - start,
    delivered: counted,
    framesPerSecond: (counted / (windowEnd - start)) * 1000,
    poolExhausted: exhaustedAt !== undefined,
    sent,
    receivedIncludingDrain: received,
    lost: drained ? sent - received - errorTotal(errors, errorsBefore) : undefined,
    drained,
    errors: diffErrors(errors, errorsBefore),
    warmupErrors: errorsBefore,
    unexpectedCloses,
    loadgenCpuPercent: ((cpu.user + cpu.system) / 1000 / (end - start)) * 100,
  };
}

function diffErrors(now: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(now)) if (v - (before[k] ?? 0) > 0) out[k] = v - (before[k] ?? 0);
  return out;
}
const errorTotal = (now: Record<string, number>, before: Record<string, number>) =>
  Object.values(diffErrors(now, before)).reduce((s, v) => s + v, 0);

// ---------------------------------------------------------------------------------------------
// latency

interface LatencyParams {
  url: string;
  agents: number;
  rates: number[];
  durationMs: number;
  warmupMs: number;
  frame: FrameKind;
  /** When set, odd agents (the receivers of pairs (i, i ^ 1)) connect here instead of `url`. */
  receiverUrl?: string;
  /** Only even agents send (each to its partner i + 1): one direction per pair. Default both. */
  oneWay?: boolean;
  /** Cluster mode: wait for presence before sending, and report how pairs are spread over nodes. */
  cluster?: ClusterParams;
  /**
   * An unmeasured phase before the first rate: `ms` of frames at `rate`, answered before the rates
   * start (marks `jit-warmup-start` / `jit-warmup-end`). A fresh Node server compiles its frame path
   * in the first seconds of traffic; this keeps that out of every rate alike.
   */
  jitWarmup?: { rate: number; ms: number };
  /**
   * Unmeasured ms at the first rate after the JIT warm-up (marks `settle-start` / `settle-end`),
   * so that the rates measure a server past the first expiries of its replay cache.
   */
  settleMs?: number;
}

/** One phase of the latency task: a measured rate, or an unmeasured warm-up before them. */
interface LatencyPhase {
  name: string;
  rate: number;
  warmupMs: number;
  durationMs: number;
  measured: boolean;
}

/** A rate is abandoned as saturated once this many ms of offered frames are queued… */
const SATURATION_MS = 2000;
/** …or once one frame has waited this long. */
const MAX_WAIT_MS = 5000;

/** Frames of a rate sampled for `frameWindows` beside its slowest 1 %. */
const SAMPLED_WINDOWS = 2000;

/**
 * When the slowest 1 % of a rate's measured frames (latency ≥ its p99) and an even sample of all
 * of them were in flight, as [sent, received] pairs flattened, in ms since the Unix epoch
 * (`performance.timeOrigin` + `performance.now()`), with their frame numbers (`slowSeqs`,
 * `sampleSeqs`, one per pair), and the load generator's own GC pauses over the rate, so that the
 * tail scenario can lay them over the server's GC pauses and the times the server read them,
 * which it gets in the same clock from another process.
 */
function frameWindows(sendAt: Float64Array, recvAt: Float64Array, from: number, to: number, p99: number, firstSeq: number, loadgenPauses: number[]): FrameWindows {
  const w: FrameWindows = { slow: [], slowSeqs: [], sample: [], sampleSeqs: [], loadgenPauses };
  const step = Math.max(1, Math.floor((to - from) / SAMPLED_WINDOWS));
  const origin = performance.timeOrigin;
  for (let j = from; j < to; j++) {
    const sentAt = sendAt[j] as number;
    const receivedAt = recvAt[j] as number;
    if (Number.isNaN(receivedAt)) continue;
    if (receivedAt - sentAt >= p99) {
      w.slow.push(origin + sentAt, origin + receivedAt);
      w.slowSeqs.push(firstSeq + j);
    }
    if ((j - from) % step === 0) {
      w.sample.push(origin + sentAt, origin + receivedAt);
      w.sampleSeqs.push(firstSeq + j);
    }
  }
  return w;
}

async function latency(p: LatencyParams) {
  const keys = Array.from({ length: p.agents - (p.agents % 2) }, newAgentKeys);
  const receiverUrl = p.receiverUrl ?? p.url;
  const connect = await connectAll((i) => (i % 2 === 1 ? receiverUrl : p.url), keys);
  if (conns.length !== keys.length) throw new Error(`only ${conns.length}/${keys.length} agents registered: ${connect.failures[0]}`);
  const presence = p.cluster ? await awaitPresence(p.cluster, conns.map((c) => c.keys.did)) : undefined;
  const n = conns.length;
  // Frame i goes out from sender(i) to its partner, sender(i) ^ 1: round-robin over every agent,
  // or over the even ones only (one way).
  const sender = p.oneWay ? (i: number) => 2 * (i % (n / 2)) : (i: number) => i % n;
  const prefix = wirePrefix(p.frame);
  const results = [];
  let base = 0;
  let frameBytes = 0;
  const phases: LatencyPhase[] = [
    ...(p.jitWarmup && p.jitWarmup.ms > 0 ? [{ name: 'jit-warmup', rate: p.jitWarmup.rate, warmupMs: p.jitWarmup.ms, durationMs: 0, measured: false }] : []),
    ...(p.settleMs && p.settleMs > 0 && p.rates.length > 0 ? [{ name: 'settle', rate: p.rates[0] as number, warmupMs: p.settleMs, durationMs: 0, measured: false }] : []),
    ...p.rates.map((rate) => ({ name: `rate-${rate}`, rate, warmupMs: p.warmupMs, durationMs: p.durationMs, measured: true })),
  ];
  for (const phase of phases) {
    const { rate, name } = phase;
    const interval = 1000 / rate;
    const warm = Math.round((rate * phase.warmupMs) / 1000);
    const total = warm + Math.round((rate * phase.durationMs) / 1000);
    const signStarted = performance.now();
    // Frame i carries the time it is due to be sent, less the signing time, as a real agent's
    // (signed just before sending) would: so the server's replay cache expires ids spread as they
    // came, not all of a phase's in the second it was signed, and a phase of any length stays
    // within the 30 s freshness window.
    const signedAt = Date.now();
    const texts = await signFramesAsync(total, (i) => {
      const s = conns[sender(i)] as AgentConn;
      const r = conns[sender(i) ^ 1] as AgentConn;
      return { keys: s.keys, frame: signalingFrame(p.frame, `L${base + i}`, s.keys.did, r.keys.did, signedAt + Math.floor(i * interval)) };
    });
    const frames = texts.map((t) => Buffer.from(t));
    frameBytes = frames[0]?.length ?? 0;
    const signMs = performance.now() - signStarted;
    const sendAt = new Float64Array(total).fill(NaN);
    const recvAt = new Float64Array(total).fill(NaN);
    /** 1 once frame j was delivered or answered with an ERROR. */
    const answered = new Uint8Array(total);
    const errors: Record<string, number> = {};
    let received = 0;
    let errored = 0;
    const offset = base;
    for (const c of conns) {
      c.onData = (data) => {
        const now = performance.now();
        if (startsWith(data, prefix)) {
          const j = frameSeq(data) - offset;
          if (j >= 0 && j < total) {
            recvAt[j] = now;
            answered[j] = 1;
          }
          received++;
        } else {
          const ref = /"ref":"L(\d+)"/.exec(data.toString());
          const j = ref ? Number(ref[1]) - offset : -1;
          if (j >= 0 && j < total) answered[j] = 1;
          countError(errors, data);
          errored++;
        }
      };
    }
    await sleep(100);

    const start = performance.now() + 5;
    const cpu0 = process.cpuUsage();
    takeGcPauses(); // from here: this rate's own pauses
    mark(`${name}-start`);
    // Overload: more than SATURATION_MS worth of frames are queued, or one frame has waited
    // MAX_WAIT_MS. The server cannot keep up with the offered rate and latency would only measure a
    // growing queue, so sending stops (bounded run time) and the rate is reported as saturated.
    let sent = 0;
    let oldest = 0;
    let saturatedAt: number | undefined;
    await new Promise<void>((resolve) => {
      let lastCheck = 0;
      const tick = () => {
        // Closed by a 'close' or 'stop' from the harness mid-rate (a scenario that timed out):
        // stop sending; the process exits or gets its next task.
        if (conns.length === 0) return;
        const now = performance.now();
        const due = Math.min(total, Math.floor((now - start) / interval) + 1);
        while (sent < due) {
          sendAt[sent] = performance.now();
          (conns[sender(sent)] as AgentConn).ws.send(frames[sent] as Buffer, TEXT);
          sent++;
        }
        if (sent >= total) return resolve();
        if (now - lastCheck > 50) {
          lastCheck = now;
          while (oldest < sent && answered[oldest] === 1) oldest++;
          const backlog = sent - received - errored;
          if (backlog > (rate * SATURATION_MS) / 1000 || (oldest < sent && now - (sendAt[oldest] as number) > MAX_WAIT_MS)) {
            saturatedAt = now;
            return resolve();
          }
        }
        // A 1 ms timer, not a busy loop: on a 2-core machine a spinning load generator would take a
        // core from the server. Frames due within the same millisecond go out together.
        setTimeout(tick, Math.max(1, Math.floor(start + sent * interval - performance.now())));
      };
      tick();
    });
    const sendEnd = performance.now();
    mark(`${name}-end`);
    const cpu = process.cpuUsage(cpu0);
    // Drain: until everything sent is answered, or no progress for 2 s (bounded at 30 s).
    const drainDeadline = performance.now() + 30_000;
    let progress = -1;
    let progressAt = performance.now();
    while (received + errored < sent && performance.now() < drainDeadline && performance.now() - progressAt < 2000) {
      if (received + errored !== progress) {
        progress = received + errored;
        progressAt = performance.now();
      }
      await sleep(10);
    }
    const ownPauses = takeGcPauses();
    base += total;
    if (!phase.measured) {
      await sleep(500);
      continue;
    }
    const measuredStart = start + warm * interval;
    // Measured frames delivered while sending was on (the delivered rate while the load was offered).
    let inWindow = 0;
    for (let j = warm; j < sent; j++) if ((recvAt[j] as number) <= sendEnd) inWindow++;

    const lat: number[] = [];
    const corrected: number[] = [];
    const lag: number[] = [];
    for (let j = warm; j < sent; j++) {
      const sched = start + j * interval;
      lag.push((sendAt[j] as number) - sched);
      if (!Number.isNaN(recvAt[j] as number)) {
        lat.push((recvAt[j] as number) - (sendAt[j] as number));
        corrected.push((recvAt[j] as number) - sched);
      }
    }
    const measuredSent = Math.max(0, sent - warm);
    const latencyMs = summarize(lat);
    results.push({
      rate,
      frames: measuredSent,
      warmupFrames: warm,
      signMs,
      // Stopped early, or delivered clearly less than was sent during the window.
      saturated: saturatedAt !== undefined || inWindow < 0.95 * (sent - warm),
      stoppedAfterMs: saturatedAt === undefined ? undefined : saturatedAt - start,
      achievedSendRate: measuredSent > 0 ? (measuredSent / (sendEnd - measuredStart)) * 1000 : NaN,
      // Frames received while sending, per second of the measured window (below the offered rate when saturated).
      deliveredRate: sendEnd > measuredStart ? (inWindow / (sendEnd - measuredStart)) * 1000 : NaN,
      received: lat.length,
      lost: sent - warm - lat.length - Object.values(errors).reduce((s, v) => s + v, 0),
      errors,
      latencyMs,
      frameWindows: frameWindows(sendAt, recvAt, warm, sent, latencyMs.p99, offset, ownPauses),
      fromScheduleMs: summarize(corrected),
      senderLagMs: summarize(lag),
      loadgenCpuPercent: ((cpu.user + cpu.system) / 1000 / (sendEnd - start)) * 100,
    });
    if (rate !== p.rates[p.rates.length - 1]) await sleep(500);
  }
  return {
    agents: n,
    frame: p.frame,
    frameBytes,
    oneWay: p.oneWay === true,
    connectMs: connect.ms,
    placement: presence ? { ...placement(presence.nodeOf), presenceWaitMs: presence.waitedMs } : undefined,
    unexpectedCloses,
    rates: results,
  };
}

// ---------------------------------------------------------------------------------------------
// idle (capacity) and handshake

async function idle(p: { url: string; agents: number; concurrency: number }) {
  const keys = Array.from({ length: p.agents }, newAgentKeys);
  const connect = await connectAll(p.url, keys, p.concurrency);
  return { agents: p.agents, connected: conns.length, failed: connect.failures.length, firstFailure: connect.failures[0], connectMs: connect.ms };
}

async function handshake(p: { url: string; count: number; concurrency: number }) {
  const keys = Array.from({ length: p.count }, newAgentKeys);
  const times: number[] = [];
  const failures: string[] = [];
  const opened: AgentConn[] = [];
  await sleep(100);
  const cpu0 = process.cpuUsage();
  mark('main-start');
  const started = performance.now();
  await mapLimit(keys, p.concurrency, async (k) => {
    const t = performance.now();
    try {
      opened.push(await registerAgent(p.url, k));
      times.push(performance.now() - t);
    } catch (err) {
      failures.push((err as Error).message);
    }
  });
  const elapsed = performance.now() - started;
  mark('main-end');
  const cpu = process.cpuUsage(cpu0);
  conns = opened;
  return {
    count: p.count,
    concurrency: p.concurrency,
    registered: opened.length,
    failed: failures.length,
    firstFailure: failures[0],
    elapsedMs: elapsed,
    perSecond: (opened.length / elapsed) * 1000,
    handshakeMs: summarize(times),
    loadgenCpuPercent: ((cpu.user + cpu.system) / 1000 / elapsed) * 100,
  };
}

// ---------------------------------------------------------------------------------------------

const tasks: Record<string, (p: never) => Promise<unknown>> = { throughput, latency, idle, handshake };

fromParent((msg) => {
  if (msg.cmd === 'run') {
    const task = tasks[String(msg.task)];
    if (!task) return toParent({ type: 'error', message: `unknown task ${String(msg.task)}` });
    task(msg.params as never).then(
      (result) => toParent({ type: 'result', result }),
      (err: Error) => toParent({ type: 'error', message: err.stack ?? err.message }),
    );
  } else if (msg.cmd === 'close' || msg.cmd === 'stop') {
    closeAll();
    toParent({ type: 'closed' });
    if (msg.cmd === 'stop') setTimeout(() => process.exit(0), 50);
  }
});
toParent({ type: 'ready' });
