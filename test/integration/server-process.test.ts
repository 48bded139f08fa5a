/** The real process entry (src/server.ts): config errors, listen errors, graceful SIGTERM. */
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { GATEWAY_NODE_FLAGS } from '../../src/constants.js';
import { TestAgent } from '../helpers/agent.js';
import { eventually } from '../helpers/eventually.js';
import { freePort } from '../helpers/ports.js';
import { spawnGateway, waitFor200 } from '../helpers/process.js';
import { startRedis } from '../helpers/redis.js';

/** The process's JSON log lines. */
function logLines(output: string): { msg: string; level: number; url?: string; redis?: string }[] {
  return output
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { msg: string; level: number });
}

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

  it('with REDIS_URL unreachable, says it serves its own agents and waits for Redis (not a bare "gateway ready")', async () => {
    // A free loopback port nobody listens on: every connection attempt is refused at once.
    const gp = spawnGateway({ GATEWAY_PORT: '0', REDIS_URL: `redis://127.0.0.1:${await freePort()}` });
    try {
      await waitFor200(gp);
      await eventually(() => logLines(gp.output()).some((l) => l.msg.startsWith('gateway ready')), 10_000, 'ready line');
      const ready = logLines(gp.output()).find((l) => l.msg.startsWith('gateway ready'));
      expect(ready?.level).toBe(40); // warn
      expect(ready?.msg).toContain("serving this node's agents only: Redis is not reachable yet");
      // The bound port, not the configured 0.
      expect(ready?.url).toBe(`ws://127.0.0.1:${gp.port}/ws`);
      expect(logLines(gp.output()).some((l) => l.msg === 'gateway ready')).toBe(false);
    } finally {
      gp.child.kill('SIGKILL');
      await gp.exited;
    }
  });

  it('with REDIS_URL reachable, logs a plain "gateway ready" once connected (the line does not race the connect)', async () => {
    const redis = await startRedis();
    const gp = spawnGateway({ GATEWAY_PORT: '0', REDIS_URL: redis.url });
    try {
      await eventually(() => logLines(gp.output()).some((l) => l.msg.startsWith('gateway ready')), 10_000, 'ready line');
      const lines = logLines(gp.output());
      expect(lines.find((l) => l.msg.startsWith('gateway ready'))).toMatchObject({ msg: 'gateway ready', level: 30 });
      // Redis connected before the line was written.
      expect(lines.findIndex((l) => l.msg === 'cluster bus ready')).toBeLessThan(lines.findIndex((l) => l.msg === 'gateway ready'));
    } finally {
      gp.child.kill('SIGKILL');
      await gp.exited;
      await redis.stop();
    }
  });

  describe('where sodium-native does not load (hidden by a preload)', () => {
    const noSodium = [...GATEWAY_NODE_FLAGS, '--require', new URL('../fixtures/no-sodium.cjs', import.meta.url).pathname];

    it('SIGNATURE_VERIFIER=libsodium: exits 1 saying so', async () => {
      const { exited, output } = spawnGateway({ GATEWAY_PORT: '0', SIGNATURE_VERIFIER: 'libsodium' }, { nodeFlags: noSodium });
      expect(await exited).toBe(1);
      expect(output()).toContain('SIGNATURE_VERIFIER=libsodium, but sodium-native does not load on this platform');
    });

    it('SIGNATURE_VERIFIER=auto (the default): warns, verifies with OpenSSL, refuses a forged signature and a replay', async () => {
      const gp = spawnGateway({ GATEWAY_PORT: '0' }, { nodeFlags: noSodium });
      try {
        await waitFor200(gp);
        const warning = logLines(gp.output()).find((l) => l.msg.startsWith('sodium-native does not load'));
        expect(warning?.level).toBe(40);
        // Registration verifies the agent's signature over the challenge: with OpenSSL here.
        const a = new TestAgent();
        await a.register(gp.wsUrl);
        const b = new TestAgent();
        await b.register(gp.wsUrl);
        const offer = a.signal('OFFER', b.did, { sdp: 'v=0' });
        a.send(offer);
        expect(await b.next()).toMatchObject({ type: 'OFFER', id: offer.id, from: a.did });
        const forged = { ...a.signal('OFFER', b.did, { sdp: 'v=1' }), sig: Buffer.alloc(64, 1).toString('base64url') };
        a.send(forged);
        expect(await a.next()).toMatchObject({ type: 'ERROR', code: 'BAD_SIGNATURE', ref: forged.id });
        // The replay cache hashes ids with SHA-256 here (SipHash needs libsodium): a repeat is still refused.
        a.send(offer);
        expect(await a.next()).toMatchObject({ type: 'ERROR', code: 'REPLAY', ref: offer.id });
        expect(await b.barrier()).toEqual([]);
        a.close();
        b.close();
      } finally {
        gp.child.kill('SIGKILL');
        await gp.exited;
      }
    });
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
      .map((l) => JSON.parse(l) as { msg: string; did?: string; remote?: string; url?: string });
    const registered = lines.find((l) => l.msg === 'agent registered');
    expect(registered).toMatchObject({ did: a.did, remote: '127.0.0.1' });
    // In order: ready (with the bound port), draining, complete.
    const order = ['gateway ready', 'shutting down: draining connections', 'shutdown complete'].map((m) => lines.findIndex((l) => l.msg === m));
    expect(order.every((i, k) => i >= 0 && (k === 0 || i > (order[k - 1] as number)))).toBe(true);
    expect(lines[order[0] as number]).toMatchObject({ url: `ws://127.0.0.1:${gp.port}/ws` });
    // Signatures and nonces never reach the log.
    expect(gp.output()).not.toContain(a.challenge.nonce as string);
    // Started with the node flags npm start passes: no warning about them.
    expect(lines.filter((l) => 'missing' in l)).toEqual([]);
  });

  it('warns at start-up when node runs without the flags npm start passes, and serves anyway', async () => {
    const bare = spawnGateway({ GATEWAY_PORT: '0' }, { nodeFlags: [] });
    const viaEnv = spawnGateway({ GATEWAY_PORT: '0', NODE_OPTIONS: GATEWAY_NODE_FLAGS.join(' ') }, { nodeFlags: [] });
    try {
      await Promise.all([waitFor200(bare), waitFor200(viaEnv)]);
      const warned = logLines(bare.output()).filter((l) => l.level === 40 && l.msg.startsWith('node was started without'));
      expect(warned).toHaveLength(1);
      expect(warned[0]).toMatchObject({ missing: [...GATEWAY_NODE_FLAGS] });
      expect(warned[0]?.msg).toContain('docs/operations.md');
      // NODE_OPTIONS counts as given.
      expect(logLines(viaEnv.output()).filter((l) => l.msg.startsWith('node was started without'))).toEqual([]);
    } finally {
      bare.child.kill('SIGTERM');
      viaEnv.child.kill('SIGTERM');
      await Promise.all([bare.exited, viaEnv.exited]);
    }
  });
});
