/**
 * A real redis-server for cluster tests, on a free loopback port, with no persistence.
 * `.ci/run` installs the Debian package when it is missing; tests fail loudly without it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createConnection } from 'node:net';
import { eventually } from './eventually.js';
import { freePort } from './ports.js';

export interface TestRedis {
  port: number;
  url: string;
  /** Stops the server (SIGKILL when `hard`). */
  stop(hard?: boolean): Promise<void>;
  /** Starts it again on the same port (empty: no persistence). */
  start(): Promise<void>;
}

function assertInstalled(): void {
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new Error('redis-server is not installed: `apt-get install -y redis-server` (bash .ci/run does this)');
  }
}

/** True when something accepts TCP connections on 127.0.0.1:`port`. */
function accepting(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function waitForPort(port: number, up: boolean): Promise<void> {
  await eventually(async () => (await accepting(port)) === up, 10_000, `redis on port ${port} to ${up ? 'start' : 'stop'}`);
}

/** Starts redis-server; call stop() in afterAll. */
export async function startRedis(): Promise<TestRedis> {
  assertInstalled();
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning'], {
      stdio: 'ignore',
    });
    await waitForPort(port, true);
  };
  const stop = async (hard = false) => {
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child?.once('exit', r));
    child.kill(hard ? 'SIGKILL' : 'SIGTERM');
    await exited;
    await waitForPort(port, false);
  };
  await start();
  return { port, url: `redis://127.0.0.1:${port}`, stop, start };
}
