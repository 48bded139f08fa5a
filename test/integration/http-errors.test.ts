/**
 * Every HTTP error has the documented `{ error, message }` shape, with `error` a code of
 * src/errors.ts httpErrorTable and the status that table gives it: the routes' own errors, and
 * the framework's (unknown routes, request bodies, rate limits).
 */
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { httpErrorTable, type HttpErrorCode } from '../../src/errors.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

let gw: TestGateway | undefined;
afterEach(async () => {
  await gw?.close();
  gw = undefined;
});

interface Reply {
  status: number;
  headers: Headers;
  body: unknown;
}

async function call(path: string, init: RequestInit = {}): Promise<Reply> {
  const res = await fetch(`${(gw as TestGateway).httpUrl}${path}`, init);
  return { status: res.status, headers: res.headers, body: await res.json() };
}

/** A WebSocket upgrade; resolves with the HTTP status and JSON body of a refusal (101 when it opened). */
function upgrade(headers: Record<string, string> = {}): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve) => {
    const ws = new WebSocket((gw as TestGateway).wsUrl, { headers });
    ws.on('open', () => {
      ws.close();
      resolve({ status: 101, body: null });
    });
    ws.on('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => {
        ws.terminate();
        resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as unknown });
      });
    });
    ws.on('error', () => {});
  });
}

function expectShape(reply: { status: number; body: unknown }, code: HttpErrorCode): void {
  expect(reply.body).toEqual({ error: code, message: expect.any(String) });
  expect(reply.status).toBe(httpErrorTable[code].status);
}

describe('HTTP errors', () => {
  it('unknown routes and methods: not_found', async () => {
    gw = await startGateway();
    expectShape(await call('/nope'), 'not_found');
    expectShape(await call('/agents', { method: 'DELETE' }), 'not_found');
    expectShape(await call('/health?x=1', { method: 'PUT' }), 'not_found');
  });

  it('request bodies: bad_request when unreadable, else not_found (no route takes one)', async () => {
    gw = await startGateway();
    expectShape(await call('/agents', { method: 'POST', body: '{', headers: { 'content-type': 'application/json' } }), 'bad_request');
    expectShape(await call('/agents', { method: 'POST', body: 'x', headers: { 'content-type': 'application/x-unknown' } }), 'not_found');
  });

  it('the routes own errors: bad_request, unauthorized', async () => {
    gw = await startGateway({ adminToken: 'a-very-secret-admin-token' });
    expectShape(await call('/agents?limit=0', { headers: { authorization: 'Bearer a-very-secret-admin-token' } }), 'bad_request');
    expectShape(await call('/agents?cursor=!!!', { headers: { authorization: 'Bearer a-very-secret-admin-token' } }), 'bad_request');
    expectShape(await call('/agents'), 'unauthorized');
  });

  it('rate limits on /agents, /metrics and upgrades: rate_limited with Retry-After', async () => {
    gw = await startGateway({ httpRateLimit: 1, connectRateLimit: 1, allowedOrigins: ['https://app.example'] });
    expect((await call('/agents')).status).toBe(200);
    const agents = await call('/agents');
    expectShape(agents, 'rate_limited');
    expect(Number(agents.headers.get('retry-after'))).toBeGreaterThan(0);
    await fetch(`${gw.httpUrl}/metrics`).then((r) => r.text());
    expectShape(await call('/metrics'), 'rate_limited');
    expectShape(await upgrade({ Origin: 'https://evil.example' }), 'forbidden_origin');
    expectShape(await upgrade({ Origin: 'https://app.example' }), 'rate_limited');
  });
});
