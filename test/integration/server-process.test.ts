/** The real process entry (src/server.ts): config errors, listen errors, graceful SIGTERM. */
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { TestAgent } from '../helpers/agent.js';
import { spawnGateway, waitFor200 } from '../helpers/process.js';

describe('server process', () => {
  it('exits 1 naming every invalid variable', async () => {
    const { exited, output } = spawnGateway({ GATEWAY_PORT: 'eighty', AGENT_TIMEOUT: '-5', RATE_BURST: '0', LOG_LEVEL: 'chatty' });
    expect(await exited).toBe(1);
    const text = output();
    for (const name of ['GATEWAY_PORT', 'AGENT_TIMEOUT', 'RATE_BURST', 'LOG_LEVEL']) expect(text).toContain(name);
    expect(text).not.toContain('HEARTBEAT_INTERVAL:');
  });

  it('exits 1 with one line on stderr when GATEWAY_HOST is not an address of this machine', async () => {
    // 203.0.113.0/24 is a documentation range: binding to it fails at once, nothing is sent.
    const { exited, output } = spawnGateway({ GATEWAY_HOST: '203.0.113.5' });
    expect(await exited).toBe(1);
    const lines = output().trim().split('\n').filter((l) => l.includes('cannot listen'));
    expect(lines).toEqual(['aiconexus-gateway: cannot listen on 203.0.113.5:0: GATEWAY_HOST is not an address of this machine (use 0.0.0.0, 127.0.0.1 or an interface address)']);
  });

  it('exits 1 with a hint when the port is in use', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    try {
      const { exited, output } = spawnGateway({ GATEWAY_PORT: String(port) });
      expect(await exited).toBe(1);
      expect(output()).toContain('is in use');
    } finally {
      await new Promise((r) => blocker.close(r));
    }
  });

  it('drains on SIGTERM: agents get 1001 and the process exits 0', async () => {
    const gp = spawnGateway({ GATEWAY_PORT: '0' });
    await waitFor200(gp);
    const a = new TestAgent();
    await a.register(gp.wsUrl);
    gp.child.kill('SIGTERM');
    expect(await a.closed).toMatchObject({ code: 1001 });
    expect(await gp.exited).toBe(0);
    const lines = gp
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { msg: string; did?: string; remote?: string });
    const registered = lines.find((l) => l.msg === 'agent registered');
    expect(registered).toMatchObject({ did: a.did, remote: '127.0.0.1' });
    expect(lines.some((l) => l.msg === 'shutdown complete')).toBe(true);
    // Signatures and nonces never reach the log.
    expect(gp.output()).not.toContain(a.challenge.nonce as string);
  });
});
