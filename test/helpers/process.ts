/**
 * Runs the real gateway entry (src/server.ts) as a child process, for tests of the process:
 * signals, exit codes, node:cluster workers, kill -9.
 */
import { spawn, type ChildProcess } from 'node:child_process';

const root = new URL('../..', import.meta.url).pathname;

export interface GatewayProcess {
  child: ChildProcess;
  exited: Promise<number | null>;
  output: () => string;
  port: number;
  wsUrl: string;
  httpUrl: string;
}

/** Spawns `node --import tsx src/server.ts` with only PATH and the given variables. */
export function spawnGateway(env: Record<string, string>): GatewayProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const port = Number(env.GATEWAY_PORT ?? 8000);
  return { child, exited, output: () => out, port, wsUrl: `ws://127.0.0.1:${port}/ws`, httpUrl: `http://127.0.0.1:${port}` };
}

/** Waits until GET `path` answers 200, or fails when the process exits or time runs out. */
export async function waitFor200(gp: GatewayProcess, path = '/health', timeoutMs = 20_000): Promise<void> {
  let exited = false;
  void gp.exited.then(() => (exited = true));
  const deadline = Date.now() + timeoutMs;
  while (!exited && Date.now() < deadline) {
    try {
      if ((await fetch(`${gp.httpUrl}${path}`)).status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`gateway on ${gp.port} not answering 200 on ${path}:\n${gp.output().slice(-2000)}`);
}
