/**
 * The gateway's TURN credentials against a real coturn (Debian package `coturn`, installed by
 * `make test`): a turnserver on a free loopback port with use-auth-secret and the gateway's
 * TURN_SECRET. The credential an agent gets in REGISTERED allocates a relay and relays; an expired
 * one, and one made with another secret, are refused. Loopback only.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { turnCredential } from '../../src/ice-servers.js';
import { TestAgent } from '../helpers/agent.js';
import { eventually } from '../helpers/eventually.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { freePort } from '../helpers/ports.js';

const SECRET = 'coturn-test-secret-0123456789';

for (const tool of ['turnserver', 'turnutils_uclient']) {
  if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
    throw new Error(`${tool} not found: this test needs coturn (make test installs it: scripts/ensure-coturn.sh)`);
  }
}

/** True when something accepts a TCP connection on 127.0.0.1:`p`. */
function accepts(p: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(p, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

let dir: string;
let turn: ChildProcess | undefined;
/** turnserver's output, for a failure's message. */
let turnLog = '';
let port: number;
let gw: TestGateway | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'aicx-coturn-'));
  port = await freePort();
  const relayBase = 40_000 + Math.floor(Math.random() * 20_000);
  turn = spawn(
    'turnserver',
    [
      '--listening-ip=127.0.0.1',
      '--relay-ip=127.0.0.1',
      `--listening-port=${port}`,
      '--use-auth-secret',
      `--static-auth-secret=${SECRET}`,
      '--realm=aiconexus.test',
      '--no-tls',
      '--no-dtls',
      '--no-cli',
      '--fingerprint',
      // The test's two peers are both on loopback (never in production: docs/operations.md).
      '--allow-loopback-peers',
      `--min-port=${relayBase}`,
      `--max-port=${relayBase + 20}`,
      `--pidfile=${join(dir, 'turnserver.pid')}`,
      `--userdb=${join(dir, 'turndb')}`,
      '--log-file=stdout',
      '--simple-log',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  turn.stdout?.on('data', (d: Buffer) => (turnLog += d.toString()));
  turn.stderr?.on('data', (d: Buffer) => (turnLog += d.toString()));
  // Ready once it accepts TCP on its port (its log is block-buffered on a pipe).
  await eventually(() => accepts(port), 15_000, 'turnserver to listen', 100);
  gw = await startGateway({ turnUrls: [`turn:127.0.0.1:${port}?transport=udp`], turnSecret: SECRET, turnTtlMs: 600_000 });
});

afterAll(async () => {
  await gw?.close();
  turn?.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** turnutils_uclient: allocates with the credential and relays a few messages between two allocations. */
function allocate(username: string, credential: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn('turnutils_uclient', ['-y', '-n', '2', '-m', '1', '-l', '100', '-u', username, '-w', credential, '-p', String(port), '127.0.0.1'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('TURN credentials with a real coturn', () => {
  it('the credential in REGISTERED allocates and relays', async () => {
    const agent = new TestAgent();
    const registered = await agent.register((gw as TestGateway).wsUrl);
    agent.close();
    const server = (registered.ice_servers as { urls: string[]; username: string; credential: string }[])[0];
    expect(server?.urls).toEqual([`turn:127.0.0.1:${port}?transport=udp`]);
    const r = await allocate(server?.username as string, server?.credential as string);
    expect(r.output).not.toContain('Cannot complete Allocation');
    expect(r.output).toContain('Total lost packets 0');
    expect(r.code, `turnserver output:\n${turnLog.slice(-2000)}`).toBe(0);
  }, 30_000);

  it('refuses an expired credential and one made with another secret', async () => {
    const did = new TestAgent().did;
    const expired = `${Math.floor(Date.now() / 1000) - 60}:${did}`;
    const r1 = await allocate(expired, turnCredential(SECRET, expired));
    expect(r1.output).toContain('Cannot complete Allocation');
    expect(r1.code).not.toBe(0);
    const valid = `${Math.floor(Date.now() / 1000) + 600}:${did}`;
    const r2 = await allocate(valid, turnCredential('another-secret-0123456789', valid));
    expect(r2.output).toContain('Cannot complete Allocation');
    expect(r2.code).not.toBe(0);
  }, 60_000);
});
