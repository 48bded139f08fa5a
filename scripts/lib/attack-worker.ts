/**
 * The attacking side of `npm run attack`, run as a child process of scripts/attack.ts (so the
 * process that measures the gateway — RSS sampler, /health probe, PING prober — has an event loop
 * of its own, and so socket-heavy roles can run under a raised descriptor limit via prlimit).
 *
 * Conversation over the IPC channel (messages are plain JSON):
 *   parent → {cmd:'setup', role, params}   worker → {type:'ready', info}
 *   parent → {cmd:'go'}                     worker → {type:'progress', ...} now and then, {type:'done', ...} (burst)
 *   parent → {cmd:'stop'}                   worker → {type:'result', result}, then closes every socket and exits
 *   worker → {type:'error', message}        on any failure, then exits 1
 * Every role is bounded: the worker exits by itself at params.deadlineMs (absolute, ms since the
 * epoch) even without a stop, and at once when the parent goes away (IPC disconnect).
 */
import { connect, type Socket } from 'node:net';
import WebSocket from 'ws';
import { bump, connectAgent, frameKind, newIdentity, OfferFactory, Pacer, paddedMeta, percentile, type AgentSocket } from './attack-agent.js';

type Params = Record<string, unknown>;
type Send = (msg: Record<string, unknown>) => void;

interface Role {
  setup(): Promise<Record<string, unknown>>;
  go(): void;
  /** Stops sending; returns the result (sockets are closed afterwards by `close`). */
  stop(): Promise<Record<string, unknown>> | Record<string, unknown>;
  close(): void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const num = (p: Params, k: string, d?: number): number => {
  const v = p[k];
  if (typeof v === 'number') return v;
  if (d === undefined) throw new Error(`param ${k} missing`);
  return d;
};
const str = (p: Params, k: string): string => {
  const v = p[k];
  if (typeof v !== 'string') throw new Error(`param ${k} missing`);
  return v;
};
const summary = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { n: s.length, min: s[0] ?? null, p50: percentile(s, 50), p90: percentile(s, 90), max: s.at(-1) ?? null };
};

// ------------------------------------------------------------------------------------------------
// raw TCP sockets: idle, and slowloris (HTTP request and WebSocket upgrade that never complete)

interface TrackedSocket {
  socket: Socket;
  mode: 'idle' | 'slow-http' | 'slow-ws';
  startedAt: number;
  connectedAt?: number;
  closedAt?: number;
  closeKind?: string;
  firstBytes?: string;
  nextByteAt: number;
  trickled: number;
}

function socketsRole(params: Params, send: Send): Role {
  const host = str(params, 'host');
  const port = num(params, 'port');
  const count = num(params, 'count');
  const modeParam = str(params, 'mode') as 'idle' | 'slowloris';
  const concurrency = num(params, 'concurrency', 500);
  const connectTimeoutMs = num(params, 'connectTimeoutMs', 5000);
  const byteEveryMs = num(params, 'byteEveryMs', 3000);
  const offset = num(params, 'offset', 0);
  const tracked: TrackedSocket[] = [];
  const connectErrors: Record<string, number> = {};
  let opening = true;
  let stopped = false;
  let openedAllAt: number | null = null;
  let goAt = 0;
  let trickle: NodeJS.Timeout | undefined;
  let progress: NodeJS.Timeout | undefined;

  const headOf = (t: TrackedSocket) =>
    t.mode === 'slow-http'
      ? `GET /health HTTP/1.1\r\nHost: ${host}:${port}\r\nUser-Agent: attack-slowloris\r\nAccept: */*\r\nX-Slow: `
      : `GET /ws HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: `;

  const open = (i: number) =>
    new Promise<void>((resolve) => {
      const mode: TrackedSocket['mode'] = modeParam === 'idle' ? 'idle' : (i + offset) % 2 === 0 ? 'slow-http' : 'slow-ws';
      const socket = connect({ host, port });
      const t: TrackedSocket = { socket, mode, startedAt: Date.now(), nextByteAt: 0, trickled: 0 };
      tracked.push(t);
      let settled = false;
      const settle = () => {
        if (!settled) {
          settled = true;
          clearTimeout(timer);
          resolve();
        }
      };
      const timer = setTimeout(() => {
        if (t.connectedAt === undefined) {
          bump(connectErrors, 'timeout');
          t.closeKind = 'connect-timeout';
          t.closedAt = Date.now();
          socket.destroy();
        }
        settle();
      }, connectTimeoutMs);
      socket.setNoDelay(true);
      socket.on('connect', () => {
        t.connectedAt = Date.now();
        if (mode !== 'idle') {
          socket.write(headOf(t));
          t.nextByteAt = t.connectedAt + byteEveryMs * (0.5 + Math.random());
        }
        settle();
      });
      socket.on('data', (d: Buffer) => {
        if (t.firstBytes === undefined) t.firstBytes = d.subarray(0, 40).toString('latin1').split('\r\n')[0];
      });
      socket.on('end', () => {
        if (t.closeKind === undefined && !stopped) {
          t.closeKind = 'closed (FIN)';
          t.closedAt = Date.now();
        }
        socket.destroy();
      });
      socket.on('error', (err: NodeJS.ErrnoException) => {
        if (t.connectedAt === undefined) {
          if (t.closeKind === undefined) {
            bump(connectErrors, err.code ?? err.message);
            t.closeKind = `connect ${err.code ?? 'error'}`;
            t.closedAt = Date.now();
          }
          settle();
        } else if (t.closeKind === undefined && !stopped) {
          t.closeKind = err.code === 'ECONNRESET' ? 'reset (RST)' : `error ${err.code ?? err.message}`;
          t.closedAt = Date.now();
        }
      });
      socket.on('close', () => {
        if (t.connectedAt !== undefined && t.closeKind === undefined && !stopped) {
          t.closeKind = 'closed';
          t.closedAt = Date.now();
        }
        settle();
      });
    });

  const counts = () => {
    let connected = 0;
    let open = 0;
    let closedByPeer = 0;
    for (const t of tracked) {
      if (t.connectedAt !== undefined) {
        connected += 1;
        if (t.closedAt === undefined) open += 1;
        else closedByPeer += 1;
      }
    }
    return { attempted: tracked.length, connected, open, closedByPeer, connectFailed: Object.values(connectErrors).reduce((a, b) => a + b, 0) };
  };

  return {
    async setup() {
      return { count, mode: modeParam };
    },
    go() {
      goAt = Date.now();
      progress = setInterval(() => send({ type: 'progress', ...counts(), opening }), 1000);
      if (modeParam === 'slowloris') {
        trickle = setInterval(() => {
          const now = Date.now();
          for (const t of tracked) {
            if (t.connectedAt === undefined || t.closedAt !== undefined || now < t.nextByteAt) continue;
            // One more byte of a header value that never ends (base64 characters for the key).
            t.socket.write(t.mode === 'slow-ws' ? 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef'[t.trickled % 32] as string : 'a');
            t.trickled += 1;
            t.nextByteAt = now + byteEveryMs;
          }
        }, 100);
      }
      void (async () => {
        let next = 0;
        const lane = async () => {
          while (!stopped && next < count) await open(next++);
        };
        await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
        opening = false;
        openedAllAt = Date.now();
        send({ type: 'opened', ...counts(), openMs: openedAllAt - goAt });
      })();
    },
    stop() {
      stopped = true;
      const stopAt = Date.now();
      const closeKinds: Record<string, number> = {};
      const responses: Record<string, number> = {};
      const byMode: Record<string, { connected: number; closedByPeer: number; openAtStop: number; closeAfterMs: ReturnType<typeof summary>; trickledBytes: ReturnType<typeof summary> }> = {};
      const connectMs: number[] = [];
      const perMode = new Map<string, { connected: number; closedByPeer: number; openAtStop: number; after: number[]; trickled: number[] }>();
      for (const t of tracked) {
        if (t.connectedAt === undefined) continue;
        connectMs.push(t.connectedAt - t.startedAt);
        const m = perMode.get(t.mode) ?? { connected: 0, closedByPeer: 0, openAtStop: 0, after: [], trickled: [] };
        perMode.set(t.mode, m);
        m.connected += 1;
        m.trickled.push(t.trickled);
        if (t.closedAt !== undefined) {
          m.closedByPeer += 1;
          m.after.push(t.closedAt - t.connectedAt);
          bump(closeKinds, t.closeKind ?? 'closed');
        } else {
          m.openAtStop += 1;
        }
        if (t.firstBytes !== undefined) bump(responses, t.firstBytes);
      }
      for (const [mode, m] of perMode) byMode[mode] = { connected: m.connected, closedByPeer: m.closedByPeer, openAtStop: m.openAtStop, closeAfterMs: summary(m.after), trickledBytes: summary(m.trickled) };
      return {
        ...counts(),
        connectErrors,
        openMs: openedAllAt === null ? null : openedAllAt - goAt,
        stillOpening: opening,
        heldMs: stopAt - goAt,
        connectMs: summary(connectMs),
        closeKinds,
        responses,
        byMode,
      };
    },
    close() {
      stopped = true;
      if (trickle) clearInterval(trickle);
      if (progress) clearInterval(progress);
      for (const t of tracked) {
        // A reset rather than a FIN: no TIME_WAIT left on this side's ephemeral ports.
        if (t.connectedAt !== undefined && !t.socket.destroyed) t.socket.resetAndDestroy();
        else t.socket.destroy();
      }
    },
  };
}

// ------------------------------------------------------------------------------------------------
// discover-nonreaders: registered agents with large meta, and attackers that stop reading

function discoverRole(params: Params, _send: Send): Role {
  const url = str(params, 'url');
  const fillers = num(params, 'fillers');
  const metaBytes = num(params, 'metaBytes', 4096);
  const attackers = num(params, 'attackers');
  const rate = num(params, 'rate');
  const burst = num(params, 'burst');
  const limit = num(params, 'limit', 1000);
  const addresses = (params.fillerAddresses as string[] | undefined) ?? [];
  const fillerSockets: AgentSocket[] = [];
  const attackerSockets: AgentSocket[] = [];
  const sent: number[] = [];
  const attackerCloses: Record<string, number> = {};
  let timer: NodeJS.Timeout | undefined;
  let goAt = 0;
  const frame = JSON.stringify({ type: 'DISCOVER', limit });

  return {
    async setup() {
      // Fillers spread over a few loopback source addresses when given (the per-IP upgrade rate
      // limit counts per address); in batches of 10.
      let usedAddresses = addresses.length > 0 ? addresses : ['127.0.0.1'];
      for (let i = 0; i < fillers; i += 10) {
        const batch = Array.from({ length: Math.min(10, fillers - i) }, (_, k) => i + k);
        const got = await Promise.all(
          batch.map(async (n) => {
            const localAddress = usedAddresses[n % usedAddresses.length];
            try {
              return await connectAgent(url, newIdentity(), { meta: paddedMeta(`filler-${n}`, metaBytes), ...(localAddress && localAddress !== '127.0.0.1' ? { localAddress } : {}) });
            } catch (err) {
              if ((err as NodeJS.ErrnoException).code === 'EADDRNOTAVAIL' && usedAddresses.length > 1) {
                usedAddresses = ['127.0.0.1'];
                return await connectAgent(url, newIdentity(), { meta: paddedMeta(`filler-${n}`, metaBytes) });
              }
              throw err;
            }
          }),
        );
        fillerSockets.push(...got);
      }
      for (let i = 0; i < attackers; i++) {
        const a = await connectAgent(url, newIdentity(), { meta: { name: `attacker-${i}`, capabilities: ['attacker'] } });
        void a.closed.then((c) => bump(attackerCloses, String(c.code)));
        // Stop reading: the socket is paused, so AGENTS replies pile up in the kernel buffers and
        // then in the gateway (TCP back-pressure).
        a.ws.pause();
        attackerSockets.push(a);
        sent.push(0);
      }
      return { fillers: fillerSockets.length, attackers: attackerSockets.length, metaBytes, fillerSourceAddresses: usedAddresses };
    },
    go() {
      goAt = Date.now();
      // One token of the gateway's bucket went to REGISTER.
      const pacers = attackerSockets.map(() => new Pacer(rate, burst - 1));
      timer = setInterval(() => {
        attackerSockets.forEach((a, i) => {
          if (a.ws.readyState !== WebSocket.OPEN) return;
          const n = (pacers[i] as Pacer).due();
          for (let k = 0; k < n; k++) a.ws.send(frame);
          sent[i] = (sent[i] as number) + n;
        });
      }, 10);
    },
    stop() {
      if (timer) clearInterval(timer);
      return {
        discoverSent: sent.reduce((a, b) => a + b, 0),
        perAttacker: sent,
        seconds: (Date.now() - goAt) / 1000,
        attackersOpenAtStop: attackerSockets.filter((a) => a.ws.readyState === WebSocket.OPEN).length,
        attackerCloses,
        fillersOpenAtStop: fillerSockets.filter((a) => a.ws.readyState === WebSocket.OPEN).length,
      };
    },
    close() {
      if (timer) clearInterval(timer);
      for (const a of [...attackerSockets, ...fillerSockets]) a.ws.terminate();
    },
  };
}

// ------------------------------------------------------------------------------------------------
// reader: one registered agent that reads everything and discards it (the victim / the target)

function readerRole(params: Params, send: Send): Role {
  const url = str(params, 'url');
  let agent: AgentSocket | undefined;
  let frames = 0;
  let bytes = 0;
  let firstAt: number | null = null;
  let lastAt: number | null = null;
  let closed: { code: number; reason: string; at: number } | null = null;
  let goAt = 0;
  let progress: NodeJS.Timeout | undefined;
  const types: Record<string, number> = {};
  return {
    async setup() {
      agent = await connectAgent(url, newIdentity(), { meta: { name: 'victim', capabilities: ['reader'] } });
      agent.onData = (data) => {
        frames += 1;
        bytes += data.length;
        lastAt = Date.now();
        firstAt ??= lastAt;
        bump(types, frameKind(data)?.type ?? '?');
      };
      void agent.closed.then((c) => {
        closed = c;
        send({ type: 'progress', frames, bytes, closed });
      });
      return { did: agent.identity.did };
    },
    go() {
      goAt = Date.now();
      progress = setInterval(() => send({ type: 'progress', frames, bytes, closed }), 250);
    },
    stop() {
      if (progress) clearInterval(progress);
      const c = closed as { code: number; reason: string; at: number } | null;
      return {
        frames,
        bytes,
        types,
        firstAt,
        lastAt,
        closed: c === null ? null : { code: c.code, reason: c.reason, afterGoMs: goAt ? c.at - goAt : null },
      };
    },
    close() {
      if (progress) clearInterval(progress);
      agent?.ws.terminate();
    },
  };
}

// ------------------------------------------------------------------------------------------------
// flood: attackers sending max-size signed OFFERs to one target within their rate limits

function floodRole(params: Params): Role {
  const url = str(params, 'url');
  const target = str(params, 'target');
  const attackers = num(params, 'attackers');
  const rate = num(params, 'rate');
  const burst = num(params, 'burst');
  const sdpChars = num(params, 'sdpChars', 32768);
  const frameBytes = num(params, 'frameBytes', 65536 - 64);
  const agents: AgentSocket[] = [];
  const factories: OfferFactory[] = [];
  const errors: Record<string, number> = {};
  const closes: Record<string, number> = {};
  const sent: number[] = [];
  let bytes = 0;
  let timer: NodeJS.Timeout | undefined;
  let goAt = 0;
  let firstBurst: string[][] = [];
  /** Attackers whose every answer has arrived (see stop). */
  const synced = new Set<number>();
  return {
    async setup() {
      for (let i = 0; i < attackers; i++) {
        const a = await connectAgent(url, newIdentity(), { meta: { name: `flooder-${i}`, capabilities: ['attacker'] } });
        a.onData = (data) => {
          const k = frameKind(data);
          if (k?.type === 'ERROR') bump(errors, k.code ?? '?');
          else if (k?.type === 'PONG' && typeof k.ref === 'string' && k.ref.startsWith(`sync-${i}-`)) synced.add(i);
        };
        void a.closed.then((c) => bump(closes, String(c.code)));
        agents.push(a);
        factories.push(new OfferFactory(a.identity, target, sdpChars, frameBytes, `f${i}`));
        sent.push(0);
      }
      return { attackers: agents.length, frameBytes: factories[0]?.frameBytes ?? null };
    },
    go() {
      // The first burst signed beforehand (its ts is fresh enough), the rest as it becomes due.
      firstBurst = factories.map((f) => Array.from({ length: burst - 1 }, () => f.next()));
      goAt = Date.now();
      const pacers = agents.map(() => new Pacer(rate, burst - 1));
      const tick = () => {
        agents.forEach((a, i) => {
          if (a.ws.readyState !== WebSocket.OPEN) return;
          const n = (pacers[i] as Pacer).due();
          const pre = firstBurst[i] as string[];
          for (let k = 0; k < n; k++) {
            const text = pre.length > 0 ? (pre.shift() as string) : (factories[i] as OfferFactory).next();
            a.ws.send(text);
            bytes += text.length;
          }
          sent[i] = (sent[i] as number) + n;
        });
      };
      tick();
      timer = setInterval(tick, 10);
    },
    async stop() {
      if (timer) clearInterval(timer);
      const stoppedAt = Date.now();
      // Outcomes are applied in arrival order (docs/protocol.md §5): the PONG of a PING sent after
      // the last OFFER means every ERROR for the OFFERs is in. A PING that finds the bucket empty
      // gets RATE_LIMITED instead, so one more goes every second; at most 15 s in all.
      const syncDeadline = stoppedAt + 15_000;
      const open = () => agents.filter((a, i) => a.ws.readyState === WebSocket.OPEN && !synced.has(i));
      let attempt = 0;
      while (open().length > 0 && Date.now() < syncDeadline) {
        attempt += 1;
        agents.forEach((a, i) => {
          if (a.ws.readyState === WebSocket.OPEN && !synced.has(i)) a.ws.send(JSON.stringify({ type: 'PING', id: `sync-${i}-${attempt}` }));
        });
        const until = Date.now() + 1000;
        while (open().length > 0 && Date.now() < until) await sleep(20);
      }
      return {
        offersSent: sent.reduce((a, b) => a + b, 0),
        perAttacker: sent,
        bytesSent: bytes,
        frameBytes: factories[0]?.frameBytes ?? null,
        seconds: (stoppedAt - goAt) / 1000,
        answersCompleteMs: synced.size === agents.length ? Date.now() - stoppedAt : null,
        errors,
        attackerCloses: closes,
      };
    },
    close() {
      if (timer) clearInterval(timer);
      for (const a of agents) a.ws.terminate();
    },
  };
}

// ------------------------------------------------------------------------------------------------
// burst: one sender, as fast as the connection takes them, ~N MB of large signed OFFERs

function burstRole(params: Params, send: Send): Role {
  const url = str(params, 'url');
  const target = str(params, 'target');
  const totalBytes = num(params, 'totalBytes');
  const sdpChars = num(params, 'sdpChars', 32768);
  const bufferCap = num(params, 'bufferCap', 4 * 1048576);
  const errors: Record<string, number> = {};
  let agent: AgentSocket | undefined;
  let factory: OfferFactory | undefined;
  let frames = 0;
  let bytes = 0;
  let goAt = 0;
  let doneAt: number | null = null;
  let stopped = false;
  let closed: { code: number; reason: string } | null = null;
  return {
    async setup() {
      agent = await connectAgent(url, newIdentity(), { meta: { name: 'burst-sender', capabilities: ['attacker'] } });
      agent.onData = (data) => {
        const k = frameKind(data);
        if (k?.type === 'ERROR') bump(errors, k.code ?? '?');
      };
      void agent.closed.then((c) => (closed = { code: c.code, reason: c.reason }));
      factory = new OfferFactory(agent.identity, target, sdpChars);
      return { frameBytes: factory.frameBytes, frames: Math.ceil(totalBytes / factory.frameBytes) };
    },
    go() {
      goAt = Date.now();
      const a = agent as AgentSocket;
      const f = factory as OfferFactory;
      void (async () => {
        // Signed on the threadpool a few frames ahead; sent while the socket takes them.
        const ahead: Promise<string>[] = [];
        while (!stopped && bytes < totalBytes && a.ws.readyState === WebSocket.OPEN && Date.now() - goAt < 120_000) {
          while (ahead.length < 32) ahead.push(f.nextAsync());
          if (a.ws.bufferedAmount > bufferCap) {
            await sleep(1);
            continue;
          }
          const text = await (ahead.shift() as Promise<string>);
          a.ws.send(text);
          frames += 1;
          bytes += text.length;
        }
        while (!stopped && a.ws.readyState === WebSocket.OPEN && a.ws.bufferedAmount > 0 && Date.now() - goAt < 120_000) await sleep(5);
        doneAt = Date.now();
        send({ type: 'done', frames, bytes, ms: doneAt - goAt, errors, closed });
      })();
    },
    async stop() {
      stopped = true;
      return { framesSent: frames, bytesSent: bytes, sendMs: doneAt === null ? null : doneAt - goAt, errors, closed };
    },
    close() {
      stopped = true;
      agent?.ws.terminate();
    },
  };
}

// ------------------------------------------------------------------------------------------------

const ROLES: Record<string, (params: Params, send: Send) => Role> = {
  sockets: socketsRole,
  discover: discoverRole,
  reader: readerRole,
  flood: floodRole,
  burst: burstRole,
};

function main(): void {
  if (!process.send) {
    console.error('attack-worker: run by scripts/attack.ts (needs an IPC channel)');
    process.exit(2);
  }
  const send: Send = (msg) => {
    if (process.connected) process.send?.(msg);
  };
  let role: Role | undefined;
  let deadline: NodeJS.Timeout | undefined;
  const finish = async (code: number) => {
    try {
      role?.close();
    } catch {
      // closing anyway
    }
    // Resets and close frames leave before the process goes.
    await sleep(100);
    process.exit(code);
  };
  const fail = (err: unknown) => {
    send({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    void finish(1);
  };
  process.on('uncaughtException', fail);
  process.on('unhandledRejection', fail);
  process.on('disconnect', () => void finish(0));
  const stop = async () => {
    if (!role) return finish(0);
    const result = await role.stop();
    await new Promise<void>((resolve) => (process.connected ? process.send?.({ type: 'result', result }, () => resolve()) : resolve()));
    await finish(0);
  };
  process.on('message', (msg: { cmd: string; role?: string; params?: Params }) => {
    void (async () => {
      try {
        if (msg.cmd === 'setup') {
          const make = ROLES[msg.role ?? ''];
          if (!make) throw new Error(`unknown role ${msg.role}`);
          const params = msg.params ?? {};
          const deadlineMs = num(params, 'deadlineMs');
          deadline = setTimeout(() => void stop(), Math.max(0, deadlineMs - Date.now()));
          role = make(params, send);
          send({ type: 'ready', info: await role.setup() });
        } else if (msg.cmd === 'go') {
          role?.go();
        } else if (msg.cmd === 'stop') {
          if (deadline) clearTimeout(deadline);
          await stop();
        }
      } catch (err) {
        fail(err);
      }
    })();
  });
}

main();
