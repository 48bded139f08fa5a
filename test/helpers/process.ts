/**
 * Runs the real gateway entry (src/server.ts) as a child process, for tests of the process:
 * signals, exit codes, node:cluster workers, kill -9.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { GATEWAY_NODE_FLAGS } from '../../src/constants.js';
import { eventually } from './eventually.js';

const root = new URL('../..', import.meta.url).pathname;

export interface GatewayProcess {
  child: ChildProcess;
  exited: Promise<number | null>;
  /** Everything the process wrote, stdout and stderr (log lines below the requested LOG_LEVEL left out). */
  output: () => string;
  /** The port it listens on, once known (with GATEWAY_PORT 0 or unset: after `listening`). */
  readonly port: number;
  /** Resolves with the bound port once the server logged it, or null if the process exited first. */
  listening: Promise<number | null>;
  readonly wsUrl: string;
  readonly httpUrl: string;
}

/** pino's numeric levels. */
const LEVELS: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity };

/** Fastify's info line after listen; the only place the port bound for GATEWAY_PORT=0 is printed. */
const LISTENING = /Server listening at http:\/\/[^\s"]+:(\d+)/;

export interface SpawnGatewayOptions {
  /**
   * Command the gateway runs under, e.g. `['ip', 'netns', 'exec', ns]` to start it inside a network
   * namespace (test/nat). Default: none.
   */
  prefix?: string[];
  /** Host of wsUrl / httpUrl (default 127.0.0.1), e.g. the GATEWAY_HOST it binds in a namespace. */
  urlHost?: string;
  /** Node flags (default: GATEWAY_NODE_FLAGS, as `npm start` passes them). */
  nodeFlags?: readonly string[];
}

/**
 * Spawns `node --max-semi-space-size=64 --v8-pool-size=0 --import tsx src/server.ts` (GATEWAY_NODE_FLAGS) with only PATH and the given variables
 * (under `options.prefix` when given).
 *
 * GATEWAY_PORT unset or "0": the gateway binds a port of the kernel's choosing and the port is read
 * back from Fastify's "Server listening at http://HOST:PORT" line (no window in which another
 * process can take a port picked beforehand). That line is at info level, so a quieter LOG_LEVEL
 * asked for here runs the child at info and `output()` leaves out the lines below the level asked
 * for. Any other GATEWAY_PORT is passed as given (a fixed port: restarts on the same port, a port
 * in use, an invalid value).
 */
export function spawnGateway(env: Record<string, string>, options: SpawnGatewayOptions = {}): GatewayProcess {
  const wanted = env.GATEWAY_PORT ?? '0';
  const ephemeral = wanted === '0';
  const requestedLevel = env.LOG_LEVEL ?? 'info';
  const minLevel = LEVELS[requestedLevel];
  const forceInfo = ephemeral && minLevel !== undefined && minLevel > (LEVELS.info as number);
  const [command, ...prefixArgs] = [...(options.prefix ?? []), process.execPath, ...(options.nodeFlags ?? GATEWAY_NODE_FLAGS), '--import', 'tsx', 'src/server.ts'];
  const urlHost = options.urlHost ?? '127.0.0.1';
  const child = spawn(command as string, prefixArgs, {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', ...env, GATEWAY_PORT: wanted, ...(forceInfo ? { LOG_LEVEL: 'info' } : {}) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let port = ephemeral ? NaN : Number(wanted);
  let onPort: (p: number | null) => void = () => {};
  const listening = new Promise<number | null>((resolve) => (onPort = resolve));
  if (!ephemeral) onPort(port);
  const take = (d: Buffer | string) => {
    out += d;
    if (Number.isNaN(port) && ephemeral) {
      const m = LISTENING.exec(out);
      if (m) {
        port = Number(m[1]);
        onPort(port);
      }
    }
  };
  child.stdout?.on('data', take);
  child.stderr?.on('data', take);
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      onPort(null); // no-op once the port is known
      resolve(code);
    }),
  );
  const output = () => {
    if (!forceInfo) return out;
    return out
      .split('\n')
      .filter((line) => {
        if (!line.startsWith('{')) return true;
        try {
          const level = (JSON.parse(line) as { level?: unknown }).level;
          return typeof level !== 'number' || level >= (minLevel as number);
        } catch {
          return true; // a partial line, or not a log line
        }
      })
      .join('\n');
  };
  const known = () => {
    if (Number.isNaN(port)) throw new Error('gateway port not known yet: await gp.listening (or waitFor200) first');
    return port;
  };
  return {
    child,
    exited,
    output,
    listening,
    get port() {
      return known();
    },
    get wsUrl() {
      return `ws://${urlHost}:${known()}/ws`;
    },
    get httpUrl() {
      return `http://${urlHost}:${known()}`;
    },
  };
}

/** Waits until GET `path` answers 200, or fails when the process exits or time runs out. */
export async function waitFor200(gp: GatewayProcess, path = '/health', timeoutMs = 20_000): Promise<void> {
  let exited = false;
  void gp.exited.then(() => (exited = true));
  const failure = (why: string) => new Error(`gateway${gp.child.pid ? ` (pid ${gp.child.pid})` : ''} not answering 200 on ${path}: ${why}:\n${gp.output().slice(-2000)}`);
  const deadline = Date.now() + timeoutMs;
  const port = await Promise.race([gp.listening, gp.exited.then(() => null), new Promise<null>((r) => setTimeout(() => r(null), timeoutMs).unref())]);
  if (port === null) throw failure(exited ? 'it exited' : 'no "Server listening" line');
  try {
    await eventually(
      async () => {
        if (exited) throw failure('it exited');
        try {
          return (await fetch(`${gp.httpUrl}${path}`)).status === 200;
        } catch {
          return false; // not listening yet
        }
      },
      Math.max(0, deadline - Date.now()),
      `200 on ${path}`,
      100,
    );
  } catch (err) {
    if (err instanceof Error && err.message.startsWith('gateway')) throw err; // it exited
    throw failure(`port ${port}: time-out`);
  }
}
