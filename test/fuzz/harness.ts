/**
 * Runs fuzz recipes against a live gateway and checks every answer against the oracle.
 *
 * Pairing: a session handles its frames strictly in order (docs/protocol.md §5–§6), so after each fuzz
 * message the harness sends a PING with a sync id. Whatever arrives before that PING's PONG is
 * the fuzz message's answer: nothing (delivered to the peer), exactly one ERROR / PONG / AGENTS,
 * or the frame itself (delivered to self). Messages are pipelined in batches, so a batch costs
 * one round trip, not one per frame.
 *
 * Messages that must close the connection (oversize → 1009, invalid UTF-8 → 1007) are sent on
 * throwaway connections, registered or not; REGISTER fuzzing uses one fresh connection per frame.
 */
import WebSocket from 'ws';
import { materialize, newSigner, type BuildContext, type Message, type Recipe, type Signer } from './generators.js';
import {
  DOCUMENTED_CODES,
  jcs,
  expectRegistered,
  expectUnregistered,
  type Alternative,
  type Expectation,
  type GatewayLimits,
  type Outcome,
  type SignatureBook,
} from './oracle.js';

// --- a lean client -----------------------------------------------------------------------------

export interface Closed {
  code: number;
  reason: string;
}

/** A `ws` client that queues text messages and remembers how it was closed. */
export class WireClient {
  private readonly queue: string[] = [];
  private readonly waiters: ((text: string | null) => void)[] = [];
  closeInfo: Closed | undefined;
  readonly closed: Promise<Closed>;
  /** When set, messages go here instead of the queue (a delivery sink). */
  onText: ((text: string) => void) | undefined;

  private constructor(readonly ws: WebSocket) {
    this.closed = new Promise((resolve) =>
      ws.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        for (const w of this.waiters.splice(0)) w(null);
        resolve(this.closeInfo);
      }),
    );
    ws.on('message', (data, isBinary) => {
      const text = isBinary ? `<binary ${(data as Buffer).length} bytes>` : (data as Buffer).toString('utf8');
      if (this.onText) return this.onText(text);
      const waiter = this.waiters.shift();
      if (waiter) waiter(text);
      else this.queue.push(text);
    });
    ws.on('error', () => {});
  }

  /** Opens a connection (resolves on open; rejects if it fails or takes over `timeoutMs`). */
  static open(url: string, timeoutMs = 10_000): Promise<WireClient> {
    const ws = new WebSocket(url, { handshakeTimeout: timeoutMs });
    const client = new WireClient(ws);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(client));
      ws.once('unexpected-response', (_req, res) => {
        ws.terminate();
        reject(new Error(`upgrade refused: HTTP ${res.statusCode}`));
      });
      void client.closed.then((c) => reject(new Error(`closed before open: ${c.code}`)));
    });
  }

  /** Wraps an open socket, e.g. a registered TestAgent's. Messages from now on are queued here. */
  static adopt(ws: WebSocket): WireClient {
    const client = new WireClient(ws);
    if (ws.readyState !== ws.OPEN) client.closeInfo = { code: 1006, reason: 'not open' };
    return client;
  }

  send(bytes: Buffer | string, binary = false): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(bytes, { binary });
  }

  /** The next text message; null when the connection closed or `timeoutMs` passed first. */
  next(timeoutMs = 10_000): Promise<string | null> {
    const queued = this.queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.closeInfo) return Promise.resolve(null);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve(null);
      }, timeoutMs);
      const waiter = (text: string | null) => {
        clearTimeout(timer);
        resolve(text);
      };
      this.waiters.push(waiter);
    });
  }

  close(): void {
    if (this.ws.readyState <= this.ws.OPEN) this.ws.close();
  }

  terminate(): void {
    this.ws.terminate();
  }
}

/** Signs a REGISTER for `challenge` (over RFC 8785 text from `canonicalize`). */
export function registerText(signer: Signer, challenge: { nonce: string; gateway: string }, meta?: Record<string, unknown>): string {
  const frame: Record<string, unknown> = { type: 'REGISTER', did: signer.did, nonce: challenge.nonce, aud: challenge.gateway, ts: Date.now() };
  if (meta) frame.meta = meta;
  const sig = signer.sign(Buffer.from(jcs(frame) as string, 'utf8'));
  return JSON.stringify({ ...frame, sig });
}

/** Opens a connection and registers `signer`; throws when the gateway does not answer REGISTERED. */
export async function registerWire(url: string, signer: Signer, meta?: Record<string, unknown>): Promise<WireClient> {
  const w = await WireClient.open(url);
  const challenge = JSON.parse((await w.next(10_000)) ?? 'null') as { type: string; nonce: string; gateway: string } | null;
  if (challenge?.type !== 'CHALLENGE') throw new Error(`expected CHALLENGE, got ${JSON.stringify(challenge)} (${JSON.stringify(w.closeInfo)})`);
  w.send(registerText(signer, challenge, meta));
  const reply = await w.next(10_000);
  if (reply === null || (JSON.parse(reply) as { type: string }).type !== 'REGISTERED') {
    throw new Error(`expected REGISTERED, got ${reply} (${JSON.stringify(w.closeInfo)})`);
  }
  return w;
}

/** Signs a signaling frame the ordinary way (for well-behaved traffic). */
export function signalText(signer: Signer, frame: Record<string, unknown>): string {
  const sig = signer.sign(Buffer.from(jcs(frame) as string, 'utf8'));
  return JSON.stringify({ ...frame, sig });
}

// --- results -----------------------------------------------------------------------------------

export interface Failure {
  where: string;
  recipe: string;
  sent: string;
  expected: string;
  observed: string;
}

/** Counts per outcome, tolerated deviations, and failures (kept up to a bound). */
export class Stats {
  frames = 0;
  readonly outcomes = new Map<string, number>();
  readonly deviations = new Map<string, number>();
  readonly failures: Failure[] = [];
  failureCount = 0;

  count(map: Map<string, number>, key: string, n = 1): void {
    map.set(key, (map.get(key) ?? 0) + n);
  }

  fail(f: Failure): void {
    this.failureCount += 1;
    if (this.failures.length < 50) this.failures.push(f);
  }

  merge(other: Stats): void {
    this.frames += other.frames;
    for (const [k, v] of other.outcomes) this.count(this.outcomes, k, v);
    for (const [k, v] of other.deviations) this.count(this.deviations, k, v);
    for (const f of other.failures) this.fail(f);
    this.failureCount += other.failureCount - other.failures.length;
  }

  toJSON() {
    const sorted = (m: Map<string, number>) => Object.fromEntries([...m].sort((a, b) => b[1] - a[1]));
    return { frames: this.frames, outcomes: sorted(this.outcomes), deviations: sorted(this.deviations), failureCount: this.failureCount, failures: this.failures };
  }
}

export function outcomeKey(o: Outcome, selfDid?: string): string {
  switch (o.kind) {
    case 'error':
      return `ERROR ${o.code}`;
    case 'pong':
      return 'PONG';
    case 'agents':
      return 'AGENTS';
    case 'ice_servers':
      return 'ICE_SERVERS';
    case 'deliver':
      return o.to === selfDid ? 'DELIVERED to self' : 'DELIVERED to peer';
    case 'registered':
      return 'REGISTERED';
    case 'close':
      return o.error ? `${o.error} + close ${o.code}` : `close ${o.code}`;
  }
}

const short = (s: string, n = 300) => (s.length > n ? `${s.slice(0, n)}… (${s.length} chars)` : s);
const describe = (e: Expectation) => e.map((a) => `${JSON.stringify(a.outcome)}${a.deviation ? ` [deviation ${a.deviation}]` : ''}`).join(' | ');
const recipeText = (r: Recipe) => short(JSON.stringify(r), 600);

// --- delivery sink -----------------------------------------------------------------------------

/** The peer every fuzz frame is addressed to: collects deliveries by sender, in order. */
export class DeliverySink {
  private readonly bySender = new Map<string, string[]>();
  readonly unparsable: string[] = [];
  received = 0;

  constructor(wire: WireClient) {
    wire.onText = (text) => {
      this.received += 1;
      let from: unknown;
      try {
        from = (JSON.parse(text) as { from?: unknown }).from;
      } catch {
        // fall through
      }
      if (typeof from !== 'string') {
        this.unparsable.push(short(text));
        return;
      }
      let list = this.bySender.get(from);
      if (!list) this.bySender.set(from, (list = []));
      list.push(text);
      for (const wake of this.wakers.splice(0)) wake();
    };
  }

  private readonly wakers: (() => void)[] = [];

  /**
   * Waits for exactly `texts` (in order) from `did`; returns a problem description or null.
   * Deliveries beyond them stay queued (they belong to the next check, or are reported by it).
   */
  async expect(did: string, texts: string[], timeoutMs = 10_000): Promise<string | null> {
    const deadline = Date.now() + timeoutMs;
    const got = () => this.bySender.get(did) ?? [];
    while (got().length < texts.length && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.wakers.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    const list = got();
    if (list.length < texts.length) return `peer received ${list.length} of ${texts.length} expected deliveries`;
    const taken = list.splice(0, texts.length);
    for (let i = 0; i < texts.length; i++) {
      if (taken[i] !== texts[i]) return `delivery ${i} differs: expected ${short(texts[i] as string)}, got ${short(taken[i] as string)}`;
    }
    return null;
  }

  /** Deliveries from `did` nobody expected (checked at the end). */
  leftover(did: string): string[] {
    return this.bySender.get(did) ?? [];
  }
}

// --- sessions ----------------------------------------------------------------------------------

export interface Shared {
  url: string;
  limits: GatewayLimits;
  book: SignatureBook;
  /** The delivery target of fuzz frames (online). */
  peerDid: string;
  sink: DeliverySink;
  /** A valid DID that is never online. */
  offline: Signer;
  /** DIDs online for the whole run. */
  online: Set<string>;
  uniqueId: () => string;
}

let syncCounter = 0;

interface Sent {
  recipe: Recipe;
  msg: Message;
  sentAt: number;
  syncId: string;
}

/** Would this message close any connection (so it must go on a throwaway)? */
export function isClosing(msg: Message, limits: GatewayLimits): boolean {
  if (msg.bytes.length > limits.maxFrameBytes) return true;
  if (msg.binary) return false;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(msg.bytes);
    return false;
  } catch {
    return true;
  }
}

/** One registered fuzzing connection and the oracle state of its session. */
export class FuzzSession {
  readonly replay = new Map<string, number>();
  dead: string | undefined;

  constructor(
    private readonly shared: Shared,
    readonly wire: WireClient,
    readonly signer: Signer,
  ) {
    void wire.closed.then((c) => (this.dead ??= `fuzz session closed unexpectedly: ${c.code} ${c.reason}`));
  }

  private context(): BuildContext {
    return {
      self: this.signer,
      other: this.shared.offline,
      peerDid: this.shared.peerDid,
      offlineDid: this.shared.offline.did,
      now: Date.now(),
      clockSkewMs: this.shared.limits.clockSkewMs,
      book: this.shared.book,
      uniqueId: this.shared.uniqueId,
    };
  }

  /** Sends `recipes` pipelined, checks every answer; closing messages go to throwaways. */
  async runBatch(recipes: readonly Recipe[], stats: Stats): Promise<void> {
    if (this.dead) return;
    const sent: Sent[] = [];
    const closing: { recipe: Recipe; msg: Message }[] = [];
    for (const recipe of recipes) {
      for (const msg of materialize(recipe, this.context())) {
        if (isClosing(msg, this.shared.limits)) {
          closing.push({ recipe, msg });
          continue;
        }
        const syncId = `zz.sync.${++syncCounter}`;
        const sentAt = Date.now();
        this.wire.send(msg.bytes, msg.binary);
        this.wire.send(`{"type":"PING","id":"${syncId}"}`);
        sent.push({ recipe, msg, sentAt, syncId });
      }
    }
    const toPeer: string[] = [];
    for (const s of sent) {
      stats.frames += 1;
      const answers: string[] = [];
      let synced = false;
      for (;;) {
        const text = await this.wire.next(15_000);
        if (text === null) break;
        if (text.startsWith('{"type":"PONG"') && text.includes(`"ref":"${s.syncId}"`)) {
          synced = true;
          break;
        }
        answers.push(text);
      }
      if (!synced) {
        this.dead ??= `no answer to sync PING after a fuzz frame (closed: ${JSON.stringify(this.wire.closeInfo)})`;
        stats.fail({ where: 'registered', recipe: recipeText(s.recipe), sent: short(s.msg.bytes.toString('utf8')), expected: 'an answer', observed: this.dead });
        return;
      }
      const expected = expectRegistered(s.msg.bytes, s.msg.binary, { did: this.signer.did, online: this.shared.online, replay: this.replay, book: this.shared.book, limits: this.shared.limits }, s.sentAt);
      const sentText = s.msg.bytes.toString('utf8');
      const match = matchRegistered(expected, answers, sentText, this.signer.did);
      if (!match) {
        stats.fail({ where: 'registered', recipe: recipeText(s.recipe), sent: short(s.msg.binary ? `<binary> ${sentText}` : sentText), expected: describe(expected), observed: answers.length === 0 ? '(nothing: delivered to peer or dropped)' : answers.map((a) => short(a)).join(' ; ') });
        continue;
      }
      record(stats, match, this.signer.did);
      if (match.admit) this.replay.set(match.admit.key, match.admit.expiry);
      if (match.outcome.kind === 'deliver' && match.outcome.to !== this.signer.did) toPeer.push(sentText);
    }
    const problem = await this.shared.sink.expect(this.signer.did, toPeer);
    if (problem) stats.fail({ where: 'peer deliveries', recipe: '(batch)', sent: `${toPeer.length} frames`, expected: 'byte-for-byte, in order', observed: problem });
    for (const c of closing) await runThrowaway(this.shared, c.recipe, c.msg, true, stats);
  }
}

function record(stats: Stats, alt: Alternative, selfDid: string | undefined): void {
  stats.count(stats.outcomes, outcomeKey(alt.outcome, selfDid));
  if (alt.deviation) stats.count(stats.deviations, alt.deviation);
}

/** The alternative that `answers` (everything before the sync PONG) fulfils, if any. */
function matchRegistered(expected: Expectation, answers: string[], sentText: string, selfDid: string): Alternative | undefined {
  if (answers.length > 1) return undefined;
  if (answers.length === 0) return expected.find((a) => a.outcome.kind === 'deliver' && a.outcome.to !== selfDid);
  const text = answers[0] as string;
  if (text === sentText) return expected.find((a) => a.outcome.kind === 'deliver' && a.outcome.to === selfDid);
  const frame = parseAnswer(text);
  if (!frame) return undefined;
  return expected.find((a) => sameAnswer(a.outcome, frame));
}

interface Answer {
  type: string;
  code?: string;
  ref?: unknown;
  agents?: unknown;
  ice_servers?: unknown;
}

function parseAnswer(text: string): Answer | undefined {
  try {
    const v = JSON.parse(text) as Answer;
    return typeof v === 'object' && v !== null && typeof v.type === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}

function sameAnswer(o: Outcome, a: Answer): boolean {
  switch (o.kind) {
    case 'error':
      return a.type === 'ERROR' && DOCUMENTED_CODES.has(a.code as string) && a.code === o.code && a.ref === o.ref;
    case 'pong':
      return a.type === 'PONG' && a.ref === o.ref;
    case 'agents':
      return a.type === 'AGENTS' && a.ref === o.ref && Array.isArray(a.agents) && a.agents.every((x) => typeof (x as { did?: unknown }).did === 'string');
    case 'ice_servers':
      return a.type === 'ICE_SERVERS' && a.ref === o.ref && Array.isArray(a.ice_servers);
    default:
      return false;
  }
}

/**
 * Sends one message on a fresh connection — registered (`registered`) or not — and checks the
 * answer and the close. REGISTER recipes are materialised with that connection's CHALLENGE.
 */
export async function runThrowaway(shared: Shared, recipe: Recipe, given: Message | null, registered: boolean, stats: Stats): Promise<void> {
  const self = newSigner();
  let wire: WireClient;
  let nonce = '';
  try {
    if (registered) {
      wire = await registerWire(shared.url, self);
    } else {
      wire = await WireClient.open(shared.url);
      const challenge = JSON.parse((await wire.next(10_000)) ?? 'null') as { type?: string; nonce?: string } | null;
      if (challenge?.type !== 'CHALLENGE') throw new Error(`expected CHALLENGE, got ${JSON.stringify(challenge)}`);
      nonce = challenge.nonce as string;
    }
  } catch (err) {
    stats.fail({ where: 'throwaway connect', recipe: recipeText(recipe), sent: '', expected: 'a connection', observed: String(err) });
    return;
  }
  const ctx: BuildContext = {
    self,
    other: newSigner(),
    peerDid: shared.peerDid,
    offlineDid: shared.offline.did,
    now: Date.now(),
    clockSkewMs: shared.limits.clockSkewMs,
    book: shared.book,
    uniqueId: shared.uniqueId,
    nonce,
    aud: shared.limits.gatewayId,
  };
  const msg = given ?? (materialize(recipe, ctx)[0] as Message);
  const sentAt = Date.now();
  const syncId = `zz.sync.${++syncCounter}`;
  wire.send(msg.bytes, msg.binary);
  wire.send(`{"type":"PING","id":"${syncId}"}`);
  stats.frames += 1;
  // Everything until the close, or until the sync PONG when the connection stays open.
  const answers: string[] = [];
  let synced = false;
  for (;;) {
    const text = await wire.next(15_000);
    if (text === null) break;
    if (text.startsWith('{"type":"PONG"') && text.includes(`"ref":"${syncId}"`)) {
      synced = true;
      break;
    }
    answers.push(text);
  }
  const closed = wire.closeInfo;
  wire.close();
  const expected = registered
    ? expectRegistered(msg.bytes, msg.binary, { did: self.did, online: shared.online, replay: new Map(), book: shared.book, limits: shared.limits }, sentAt)
    : expectUnregistered(msg.bytes, msg.binary, { nonce, book: shared.book, limits: shared.limits }, sentAt);
  const match = matchThrowaway(expected, answers, synced, closed, registered);
  const sentText = msg.bytes.toString('utf8');
  if (!match) {
    stats.fail({
      where: registered ? 'throwaway (registered)' : 'throwaway (before REGISTER)',
      recipe: recipeText(recipe),
      sent: short(msg.binary ? `<binary> ${sentText}` : sentText),
      expected: describe(expected),
      observed: `${answers.map((a) => short(a)).join(' ; ') || '(no frames)'}; ${synced ? 'still open' : `closed ${JSON.stringify(closed)}`}`,
    });
    return;
  }
  record(stats, match, self.did);
}

function matchThrowaway(expected: Expectation, answers: string[], synced: boolean, closed: Closed | undefined, registered: boolean): Alternative | undefined {
  const frames = answers.map(parseAnswer);
  if (frames.some((f) => f === undefined)) return undefined;
  const fs = frames as Answer[];
  if (synced) {
    // Still open: REGISTERED (before registration) or an ordinary answer (after).
    if (!registered) return fs.length === 1 && fs[0]?.type === 'REGISTERED' ? expected.find((a) => a.outcome.kind === 'registered') : undefined;
    if (fs.length === 0) return expected.find((a) => a.outcome.kind === 'deliver');
    return fs.length === 1 ? expected.find((a) => sameAnswer(a.outcome, fs[0] as Answer)) : undefined;
  }
  if (!closed) return undefined;
  // A non-closing answer before registration, then the sync PING closes with AUTH_REQUIRED + 4401.
  if (!registered && fs.length === 2 && fs[1]?.type === 'ERROR' && fs[1].code === 'AUTH_REQUIRED' && closed.code === 4401) {
    return expected.find((a) => sameAnswer(a.outcome, fs[0] as Answer));
  }
  return expected.find((a) => {
    if (a.outcome.kind !== 'close' || a.outcome.code !== closed.code) return false;
    if (a.outcome.error === undefined) return fs.length === 0;
    return fs.length === 1 && fs[0]?.type === 'ERROR' && fs[0].code === a.outcome.error && fs[0].ref === null;
  });
}

/** Runs `count` throwaway cases with up to `parallel` connections at once. */
export async function runThrowaways(shared: Shared, recipes: readonly Recipe[], registered: boolean, stats: Stats, parallel = 8): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < recipes.length) {
      const recipe = recipes[next++] as Recipe;
      await runThrowaway(shared, recipe, null, registered, stats);
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, recipes.length) }, worker));
}

/** A well-behaved pair: one OFFER each way must arrive byte for byte within `timeoutMs`. */
export async function checkPair(a: { wire: WireClient; signer: Signer }, b: { wire: WireClient; signer: Signer }, uniqueId: () => string, timeoutMs = 5000): Promise<string | null> {
  for (const [from, to] of [
    [a, b],
    [b, a],
  ] as const) {
    const text = signalText(from.signer, { type: 'OFFER', id: uniqueId(), from: from.signer.did, to: to.signer.did, ts: Date.now(), payload: { type: 'offer', sdp: 'v=0\r\n' } });
    from.wire.send(text);
    const got = await to.wire.next(timeoutMs);
    if (got !== text) return `well-behaved pair: expected the OFFER, got ${got === null ? `nothing (closed: ${JSON.stringify(to.wire.closeInfo)})` : short(got)}`;
  }
  return null;
}
