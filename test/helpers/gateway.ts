/**
 * Starts a real gateway (buildApp + listen on port 0) for a test and gives its URLs.
 */
import type { FastifyInstance } from 'fastify';
import type { Socket } from 'node:net';
import { buildApp, type BuildOptions } from '../../src/app.js';
import { configWith, type Config } from '../../src/config.js';
import { eventually } from './eventually.js';

export { eventually } from './eventually.js';

export interface TestGateway {
  app: FastifyInstance;
  config: Config;
  /** ws://127.0.0.1:PORT/ws */
  wsUrl: string;
  /** http://127.0.0.1:PORT */
  httpUrl: string;
  close(): Promise<void>;
}

/** A running gateway on an ephemeral port, silent logs unless TEST_LOG is set. */
export async function startGateway(overrides: Partial<Config> = {}, opts: BuildOptions = {}): Promise<TestGateway> {
  const config = configWith({ host: '127.0.0.1', port: 0, logLevel: 'silent', ...overrides });
  const app = await buildApp(config, {
    processMetrics: false,
    logger: process.env.TEST_LOG ? { level: process.env.TEST_LOG } : false,
    ...opts,
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  const base = `127.0.0.1:${address.port}`;
  return {
    app,
    config,
    wsUrl: `ws://${base}/ws`,
    httpUrl: `http://${base}`,
    close: () => app.close(),
  };
}

/** Response body of an HTTP route, loosely typed for assertions. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

/** GET `path` on the gateway; returns status, headers and the parsed JSON body (or text). */
export async function get(gw: TestGateway, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Json; headers: Headers }> {
  const res = await fetch(`${gw.httpUrl}${path}`, { headers });
  const text = await res.text();
  let body: Json = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON (e.g. /metrics)
  }
  return { status: res.status, body, headers: res.headers };
}

/** Waits until GET /ready answers 200 (in cluster mode: Redis connected). */
export async function waitReady(gw: TestGateway): Promise<void> {
  await eventually(async () => (await get(gw, '/ready')).status === 200, 10_000, 'gateway ready');
}

/**
 * Counts the writes the gateway's side of each TCP connection accepted from now on makes, one
 * entry per connection in accept order. A Writable makes one _write or _writev call per write that
 * reaches the socket; writes made while it is corked leave together as one _writev.
 */
export function countSocketWrites(gw: TestGateway): number[] {
  const writes: number[] = [];
  gw.app.server.on('connection', (socket: Socket) => {
    const i = writes.push(0) - 1;
    const sock = socket as unknown as Record<'_write' | '_writev', (...args: unknown[]) => unknown>;
    for (const name of ['_write', '_writev'] as const) {
      const original = sock[name];
      sock[name] = function (this: unknown, ...args: unknown[]) {
        writes[i] = (writes[i] as number) + 1;
        return original.apply(this, args);
      };
    }
  });
  return writes;
}
