/**
 * The CLI's commands. Each parses its own arguments with node:util parseArgs, writes results to
 * stdout (JSON where it is data) and diagnostics to stderr, and resolves with an exit status.
 * Text that comes from a peer or a gateway is printed only through terminalSafe / jsonText
 * (./text.ts) or describeError, which escape control characters.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { CloseCode, DEFAULT_GATEWAY_ID, GatewayClient, generateKeyPair, type AgentMeta, type GatewayClientOptions } from '../client/index.js';
import { CliError, describeError } from './errors.js';
import { readKeyFile, toKeyFile, writeKeyFile } from './key-file.js';
import { jsonText, terminalSafe } from './text.js';
import { DEFAULT_GATEWAY_URL, gatewayUrl, toHttpBase, toWsUrl } from './urls.js';

export interface Io {
  out(line: string): void;
  err(line: string): void;
  env: Record<string, string | undefined>;
  /** Registers a handler for SIGINT/SIGTERM; returns a function that removes it. */
  onSignal(handler: () => void): () => void;
}

type Options = NonNullable<ParseArgsConfig['options']>;
type Values = Record<string, string | boolean | string[] | undefined>;

export interface Command {
  name: string;
  summary: string;
  usage: string;
  /** Option lines of the command's --help. */
  help: string[];
  options: Options;
  run(values: Values, io: Io): Promise<number>;
}

const URL_HELP = `--url URL          gateway URL, ws(s)://HOST:PORT/ws or http(s)://HOST:PORT (default: GATEWAY_URL or ${DEFAULT_GATEWAY_URL})`;
const KEY_HELP = '--key FILE         key file written by `aiconexus keygen` (required)';
const TIMEOUT_HELP = '--timeout MS       give up after MS milliseconds (default 10000)';
const GATEWAY_ID_HELP = [
  `--gateway-id ID    the gateway's GATEWAY_ID (default: GATEWAY_ID or ${DEFAULT_GATEWAY_ID}); a gateway`,
  '                   whose CHALLENGE names another id is refused before anything is signed',
];
const HELP_HELP = '-h, --help         show this help';

const common = {
  help: { type: 'boolean', short: 'h' },
  url: { type: 'string' },
  timeout: { type: 'string' },
} as const satisfies Options;

/** Options of the commands that register as an agent. */
const agentOptions = {
  ...common,
  key: { type: 'string', short: 'k' },
  'gateway-id': { type: 'string' },
} as const satisfies Options;

export const commands: Command[] = [
  {
    name: 'keygen',
    summary: 'create an agent key (Ed25519) and print its DID',
    usage: 'aiconexus keygen [--out FILE] [--force]',
    help: [
      '--out FILE         write the key file to FILE (mode 0600) and print the DID;',
      '                   without --out the key file JSON is printed to stdout',
      '--force            overwrite FILE when it exists',
      HELP_HELP,
    ],
    options: { help: common.help, out: { type: 'string', short: 'o' }, force: { type: 'boolean' } },
    async run(values, io) {
      const key = generateKeyPair();
      const out = str(values, 'out');
      if (out === undefined) {
        if (values.force) throw new CliError('--force needs --out FILE');
        io.out(jsonText(toKeyFile(key), 2));
        return 0;
      }
      await writeKeyFile(out, key, values.force === true);
      io.out(key.did);
      return 0;
    },
  },
  {
    name: 'health',
    summary: "print the gateway's GET /health",
    usage: 'aiconexus health [--url URL]',
    help: [URL_HELP, TIMEOUT_HELP, HELP_HELP],
    options: { help: common.help, url: common.url, timeout: common.timeout },
    async run(values, io) {
      const base = toHttpBase(gatewayUrl(str(values, 'url'), io.env));
      const { status, body } = await getJson(`${base}/health`, base, timeoutOf(values));
      io.out(jsonText(body, 2));
      if (status !== 200) {
        io.err(terminalSafe(`aiconexus: gateway at ${base} is ${String((body as { status?: unknown })?.status ?? 'unhealthy')} (HTTP ${status})`));
        return 1;
      }
      return 0;
    },
  },
  {
    name: 'agents',
    summary: "list registered agents (the gateway's GET /agents)",
    usage: 'aiconexus agents [--url URL] [--capability CAP] [--limit N] [--cursor C] [--token TOKEN]',
    help: [
      URL_HELP,
      '--capability CAP   only agents with this capability',
      '--limit N          at most N agents (1-1000, default 100)',
      '--cursor C         next page: the next_cursor of the previous answer',
      '--token TOKEN      admin token when the gateway sets ADMIN_TOKEN (default: ADMIN_TOKEN)',
      TIMEOUT_HELP,
      HELP_HELP,
    ],
    options: {
      ...common,
      capability: { type: 'string' },
      limit: { type: 'string' },
      cursor: { type: 'string' },
      token: { type: 'string' },
    },
    async run(values, io) {
      const base = toHttpBase(gatewayUrl(str(values, 'url'), io.env));
      const query = new URLSearchParams();
      const capability = str(values, 'capability');
      if (capability !== undefined) query.set('capability', capability);
      const limit = intOption(values, 'limit', 1, 1000);
      if (limit !== undefined) query.set('limit', String(limit));
      const cursor = str(values, 'cursor');
      if (cursor !== undefined) query.set('cursor', cursor);
      const token = str(values, 'token') ?? (io.env.ADMIN_TOKEN || undefined);
      const qs = query.size > 0 ? `?${query}` : '';
      const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
      const { status, body } = await getJson(`${base}/agents${qs}`, base, timeoutOf(values), headers);
      if (status === 401) throw new CliError(`unauthorized: ${base}/agents needs the admin token (--token or ADMIN_TOKEN)`);
      if (status !== 200) throw new CliError(`gateway answered HTTP ${status}: ${messageOf(body)}`);
      io.out(jsonText(body, 2));
      return 0;
    },
  },
  {
    name: 'listen',
    summary: 'stay online as an agent and print verified incoming frames as JSON lines',
    usage: 'aiconexus listen --key FILE [--url URL] [--gateway-id ID] [--name NAME] [--capability CAP]...',
    help: [
      KEY_HELP,
      URL_HELP,
      ...GATEWAY_ID_HELP,
      '--name NAME        agent name announced in REGISTER (≤ 64 chars)',
      '--capability CAP   a capability to announce; repeat for several',
      TIMEOUT_HELP,
      HELP_HELP,
      '',
      'Each verified OFFER/ANSWER/ICE/BYE is printed to stdout as one JSON line; status goes to',
      'stderr. Reconnects automatically; stops on Ctrl-C, or with status 1 when the session is',
      `replaced (close ${CloseCode.REPLACED}), authentication fails or the gateway id does not match.`,
      'Control characters in text from peers and the gateway are printed as \\uXXXX escapes.',
    ],
    options: {
      ...agentOptions,
      name: { type: 'string' },
      capability: { type: 'string', multiple: true },
    },
    async run(values, io) {
      const meta: AgentMeta = {};
      const name = str(values, 'name');
      if (name !== undefined) meta.name = name;
      const capabilities = values.capability as string[] | undefined;
      if (capabilities && capabilities.length > 0) meta.capabilities = capabilities;
      const { client, url } = await makeClient(values, io, { meta });
      // Close reasons, frame types, ERROR codes and messages come from the gateway or a peer.
      client.on('connected', (info) => io.err(terminalSafe(`${info.reconnected ? 'reconnected' : 'listening'} as ${info.did} on ${url}`)));
      client.on('disconnected', (d) => io.err(terminalSafe(`disconnected (close ${d.code}${d.reason ? ` ${d.reason}` : ''})${d.willReconnect ? '' : '; not reconnecting'}`)));
      client.on('reconnecting', (r) => io.err(terminalSafe(`reconnecting in ${r.delayMs} ms (attempt ${r.attempt})${r.error ? `: ${describeError(r.error, url)}` : ''}`)));
      client.on('invalid', (i) => io.err(terminalSafe(`dropped a frame (${i.reason}): ${i.message}`)));
      client.on('error', (e) => io.err(describeError(e, url)));
      client.on('signal', (frame) => io.out(jsonText(frame)));

      return new Promise<number>((resolve, reject) => {
        let stopping = false;
        const offSignal = io.onSignal(() => {
          stopping = true;
          void client.close();
        });
        client.on('closed', (info) => {
          offSignal();
          if (stopping) return resolve(0);
          io.err(terminalSafe(`aiconexus: stopped: ${info.error ? describeError(info.error, url) : info.code === CloseCode.REPLACED ? `session replaced: this DID registered from another connection (close ${CloseCode.REPLACED})` : info.reason}`));
          resolve(1);
        });
        client.connect().catch((err: unknown) => {
          offSignal();
          reject(err);
        });
      }).catch((err: unknown) => {
        throw new CliError(describeError(err, url), { cause: err });
      });
    },
  },
  {
    name: 'discover',
    summary: 'register briefly and list agents over the WebSocket (DISCOVER)',
    usage: 'aiconexus discover --key FILE [--url URL] [--gateway-id ID] [--capability CAP] [--limit N]',
    help: [
      KEY_HELP,
      URL_HELP,
      ...GATEWAY_ID_HELP,
      '--capability CAP   only agents with this capability',
      '--limit N          at most N agents (1-1000, default 100)',
      TIMEOUT_HELP,
      HELP_HELP,
    ],
    options: { ...agentOptions, capability: { type: 'string' }, limit: { type: 'string' } },
    async run(values, io) {
      const limit = intOption(values, 'limit', 1, 1000);
      const capability = str(values, 'capability');
      return withSession(values, io, async (client) => {
        const agents = await client.discover({ ...(capability === undefined ? {} : { capability }), ...(limit === undefined ? {} : { limit }) });
        io.out(jsonText(agents, 2));
        return 0;
      });
    },
  },
  {
    name: 'ping',
    summary: 'register briefly and measure the round trip of a PING',
    usage: 'aiconexus ping --key FILE [--url URL] [--gateway-id ID]',
    help: [KEY_HELP, URL_HELP, ...GATEWAY_ID_HELP, TIMEOUT_HELP, HELP_HELP],
    options: agentOptions,
    async run(values, io) {
      return withSession(values, io, async (client, url) => {
        const rtt = await client.ping();
        io.out(`pong from ${url} in ${rtt.toFixed(1)} ms`);
        return 0;
      });
    },
  },
  {
    name: 'ice-servers',
    summary: 'register briefly and print the ICE servers (STUN, TURN with a credential for this key)',
    usage: 'aiconexus ice-servers --key FILE [--url URL] [--gateway-id ID]',
    help: [KEY_HELP, URL_HELP, ...GATEWAY_ID_HELP, TIMEOUT_HELP, HELP_HELP],
    options: agentOptions,
    async run(values, io) {
      return withSession(values, io, async (client) => {
        // JSON for RTCPeerConnection's `iceServers`; `expires_at` says until when the TURN credential works.
        io.out(jsonText({ ice_servers: client.iceServers, expires_at: client.iceServersExpireAt }, 2));
        return 0;
      });
    },
  },
];

/** Parses a command's arguments; --help prints its help. */
export async function runCommand(command: Command, args: string[], io: Io): Promise<number> {
  let values: Values;
  try {
    values = parseArgs({ args, options: command.options, strict: true, allowPositionals: false }).values as Values;
  } catch (err) {
    throw new CliError(`${command.name}: ${(err as Error).message}. See 'aiconexus ${command.name} --help'`);
  }
  if (values.help) {
    io.out(commandHelp(command));
    return 0;
  }
  return command.run(values, io);
}

export function commandHelp(command: Command): string {
  return [`Usage: ${command.usage}`, '', `${capitalize(command.summary)}.`, '', 'Options:', ...command.help.map((l) => (l ? `  ${l}` : ''))].join('\n');
}

// ───────────────────────── helpers ─────────────────────────

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function str(values: Values, name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

function intOption(values: Values, name: string, min: number, max: number): number | undefined {
  const raw = str(values, name);
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < min || n > max) throw new CliError(`--${name} must be an integer ${min}-${max} (got ${JSON.stringify(raw)})`);
  return n;
}

function timeoutOf(values: Values): number {
  return intOption(values, 'timeout', 1, 3_600_000) ?? 10_000;
}

function messageOf(body: unknown): string {
  if (body && typeof body === 'object' && typeof (body as { message?: unknown }).message === 'string') return (body as { message: string }).message;
  return JSON.stringify(body);
}

/** GET a JSON document; unreachable gateways and timeouts become one-line CliErrors. */
async function getJson(url: string, base: string, timeoutMs: number, headers: Record<string, string> = {}): Promise<{ status: number; body: unknown }> {
  let res: Response;
  try {
    res = await fetch(url, { headers: { accept: 'application/json', ...headers }, signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    throw new CliError(describeError(err, base), { cause: err });
  }
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) as unknown };
  } catch {
    throw new CliError(`${url} answered HTTP ${res.status} with a body that is not JSON`);
  }
}

/** `--gateway-id`, else GATEWAY_ID (as the gateway reads it), else the gateway's default id. */
function gatewayIdOf(values: Values, env: Io['env']): string {
  const id = str(values, 'gateway-id') ?? (env.GATEWAY_ID || DEFAULT_GATEWAY_ID);
  if (!/^[\x21-\x7e]{1,128}$/.test(id)) {
    throw new CliError(`--gateway-id (or GATEWAY_ID) must be 1-128 printable ASCII characters without spaces (got ${JSON.stringify(id)})`);
  }
  return id;
}

/** A client from --key/--url/--gateway-id/--timeout (the key file is read first: a bad key fails fast). */
async function makeClient(values: Values, io: Io, extra: Partial<GatewayClientOptions> = {}): Promise<{ client: GatewayClient; url: string }> {
  const keyPath = str(values, 'key');
  if (keyPath === undefined) throw new CliError('--key FILE is required (create one with `aiconexus keygen --out FILE`)');
  const key = await readKeyFile(keyPath, io.err);
  const url = toWsUrl(gatewayUrl(str(values, 'url'), io.env));
  const gatewayId = gatewayIdOf(values, io.env);
  const timeout = timeoutOf(values);
  try {
    return { client: new GatewayClient({ url, key, gatewayId, connectTimeoutMs: timeout, requestTimeoutMs: timeout, ...extra }), url };
  } catch (err) {
    throw new CliError((err as Error).message, { cause: err });
  }
}

/** Connects without reconnecting, runs `fn`, and closes. */
async function withSession(values: Values, io: Io, fn: (client: GatewayClient, url: string) => Promise<number>): Promise<number> {
  const { client, url } = await makeClient(values, io, { reconnect: false, keepAliveMs: 0 });
  try {
    await client.connect();
    return await fn(client, url);
  } catch (err) {
    throw new CliError(describeError(err, url), { cause: err });
  } finally {
    await client.close();
  }
}
