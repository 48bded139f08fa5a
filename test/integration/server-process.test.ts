/** The real process entry (src/server.ts): config errors, listen errors, graceful SIGTERM. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { TestAgent } from '../helpers/agent.js';

const root = new URL('../..', import.meta.url).pathname;

function startServer(env: Record<string, string>): { child: ChildProcess; exited: Promise<number | null>; output: () => string } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, output: () => out };
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

async function waitHealthy(port: number, exited: Promise<number | null>): Promise<void> {
  let done = false;
  void exited.then(() => (done = true));
  for (let i = 0; i < 200 && !done; i++) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/health`);
      if (res.status === 200) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('gateway did not become healthy');
}

describe('server process', () => {
  it('exits 1 naming every invalid variable', async () => {
    const { exited, output } = startServer({ GATEWAY_PORT: 'eighty', AGENT_TIMEOUT: '-5', RATE_BURST: '0', LOG_LEVEL: 'chatty' });
    expect(await exited).toBe(1);
    const text = output();
    for (const name of ['GATEWAY_PORT', 'AGENT_TIMEOUT', 'RATE_BURST', 'LOG_LEVEL']) expect(text).toContain(name);
    expect(text).not.toContain('HEARTBEAT_INTERVAL:');
  });

  it('exits 1 with a hint when the port is in use', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    try {
      const { exited, output } = startServer({ GATEWAY_PORT: String(port) });
      expect(await exited).toBe(1);
      expect(output()).toContain('is in use');
    } finally {
      await new Promise((r) => blocker.close(r));
    }
  });

  it('drains on SIGTERM: agents get 1001 and the process exits 0', async () => {
    const port = await freePort();
    const { child, exited, output } = startServer({ GATEWAY_PORT: String(port) });
    await waitHealthy(port, exited);
    const a = new TestAgent();
    await a.register(`ws://127.0.0.1:${port}/ws`);
    child.kill('SIGTERM');
    expect(await a.closed).toMatchObject({ code: 1001 });
    expect(await exited).toBe(0);
    const lines = output()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { msg: string; did?: string; remote?: string });
    const registered = lines.find((l) => l.msg === 'agent registered');
    expect(registered).toMatchObject({ did: a.did, remote: '127.0.0.1' });
    expect(lines.some((l) => l.msg === 'shutdown complete')).toBe(true);
    // Signatures and nonces never reach the log.
    expect(output()).not.toContain(a.challenge.nonce as string);
  });
});
