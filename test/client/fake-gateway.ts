/**
 * A scripted stand-in for the gateway (a `ws` WebSocketServer on port 0) for the client paths a
 * real gateway never takes: forged or misaddressed frames, ERRORs answering a DISCOVER, silence,
 * close 4401 after registration.
 */
import { randomBytes } from 'node:crypto';
import { WebSocketServer, type WebSocket } from 'ws';
import { verifyFrame } from '../../src/client/index.js';

export type Frame = Record<string, unknown> & { type: string };

export interface FakeOptions {
  /** The id its CHALLENGE names and REGISTER.aud must equal (default 'fake-gateway'). */
  gatewayId?: string;
  /** Send a CHALLENGE on connect (default true). */
  challenge?: boolean;
  /** Answer a valid REGISTER with REGISTERED (default true). */
  register?: boolean;
  /** Answer every REGISTER with ERROR AUTH_FAILED and close 4401. */
  rejectRegister?: boolean;
  /** Answer PING with PONG (default true). */
  pong?: boolean;
  /** Answers a DISCOVER; default: AGENTS with no agents. */
  discover?: (frame: Frame, conn: FakeConnection) => void;
}

export class FakeConnection {
  readonly frames: Frame[] = [];
  readonly nonce = randomBytes(32).toString('base64url');
  did: string | undefined;
  closed: Promise<number>;

  constructor(readonly ws: WebSocket) {
    this.closed = new Promise((resolve) => ws.on('close', (code) => resolve(code)));
  }

  send(frame: object | string): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }
}

export class FakeGateway {
  readonly connections: FakeConnection[] = [];
  /** The id the next connections' CHALLENGE names; may be changed between connections. */
  gatewayId: string;
  private waiters: ((c: FakeConnection) => void)[] = [];

  private constructor(
    readonly wss: WebSocketServer,
    readonly url: string,
    readonly options: FakeOptions,
  ) {
    this.gatewayId = options.gatewayId ?? 'fake-gateway';
  }

  static async start(options: FakeOptions = {}): Promise<FakeGateway> {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
    const address = wss.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    const fake = new FakeGateway(wss, `ws://127.0.0.1:${address.port}/ws`, options);
    wss.on('connection', (ws) => fake.onConnection(ws));
    return fake;
  }

  /** The next connection that completes registration (or any connection when register is false). */
  nextConnection(timeoutMs = 5000): Promise<FakeConnection> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no connection within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push((c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
  }

  async close(): Promise<void> {
    for (const client of this.wss.clients) client.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  private ready(conn: FakeConnection): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter(conn);
  }

  private onConnection(ws: WebSocket): void {
    const conn = new FakeConnection(ws);
    const gatewayId = this.gatewayId;
    this.connections.push(conn);
    const { challenge = true, register = true, pong = true } = this.options;
    ws.on('message', (data) => {
      const frame = JSON.parse(String(data)) as Frame;
      conn.frames.push(frame);
      if (frame.type === 'REGISTER') {
        if (!register) return;
        const ok = !this.options.rejectRegister && frame.nonce === conn.nonce && frame.aud === gatewayId && verifyFrame(frame, String(frame.did));
        if (!ok) {
          conn.send({ type: 'ERROR', code: 'AUTH_FAILED', message: 'registration rejected', ref: null });
          ws.close(4401, 'authentication failed');
          return;
        }
        conn.did = String(frame.did);
        conn.send({ type: 'REGISTERED', did: frame.did, session: 'fake-session', heartbeat_ms: 30_000, agent_timeout_ms: 300_000 });
        this.ready(conn);
      } else if (frame.type === 'PING' && pong) {
        conn.send({ type: 'PONG', ref: frame.id ?? null, ts: Date.now() });
      } else if (frame.type === 'DISCOVER') {
        if (this.options.discover) this.options.discover(frame, conn);
        else conn.send({ type: 'AGENTS', ref: frame.id ?? null, agents: [] });
      }
    });
    if (challenge) {
      conn.send({ type: 'CHALLENGE', protocol: 'aiconexus/1', gateway: gatewayId, nonce: conn.nonce, expires_in_ms: 10_000 });
    }
    if (!register) this.ready(conn);
  }
}
