/**
 * The NAT lab shared by test/nat/nat-turn.test.ts and scripts/demo-nat.ts: the namespace
 * topology (topology.ts), and in its public namespace a real coturn and the real gateway
 * (src/server.ts) handing out STUN and TURN servers; agents (agent.ts) run in the agent
 * namespaces behind the two symmetric NATs.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { didFromKey, exportJwk, generateKeyPair, type KeyPair } from '../../src/client/index.js';
import { eventually } from '../helpers/eventually.js';
import { spawnGateway, type GatewayProcess } from '../helpers/process.js';
import type { AgentEvent } from './agent.js';
import { ADDR, createNatTopology, type NatTopology } from './topology.js';

const ROOT = new URL('../..', import.meta.url).pathname;
export const TURN_PORT = 3478;
export const TURN_REALM = 'nat-lab.aiconexus.test';
export const TURN_URL = `turn:${ADDR.public}:${TURN_PORT}`;
export const STUN_URL = `stun:${ADDR.public}:${TURN_PORT}`;

export interface NatLab {
  topology: NatTopology;
  gateway: GatewayProcess;
  /** The gateway's agent WebSocket, reachable from the agent namespaces (through the NATs). */
  wsUrl: string;
  /** The TURN_SECRET shared by the gateway and coturn. */
  turnSecret: string;
  /** What turnserver printed so far (for failure messages). */
  turnLog(): string;
  /** Stops coturn and the gateway and removes the topology; never throws, safe to repeat. */
  stop(): Promise<void>;
}

/** `ip netns exec <ns> <command> <args…>` with the given environment (plus PATH). */
export function spawnIn(ns: string, command: string, args: string[], env: Record<string, string> = {}): ChildProcess {
  return spawn('ip', ['netns', 'exec', ns, command, ...args], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Runs a command in a namespace to its end (killed after `timeoutMs`); stdout and stderr together. */
export function runIn(ns: string, command: string, args: string[], timeoutMs = 15_000): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawnIn(ns, command, args);
    let output = '';
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

function exitedOf(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
}

/** Kills a child we started (by its pid) and waits for it to be gone. */
async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = exitedOf(child);
  child.kill('SIGKILL');
  await exited;
}

/**
 * Builds the topology, starts coturn and the gateway in its public namespace, and returns once
 * both listen. On failure everything started so far is removed before the error is thrown.
 */
export async function startNatLab(options: { log?: (line: string) => void } = {}): Promise<NatLab> {
  const log = options.log ?? (() => {});
  for (const tool of ['turnserver', 'turnutils_uclient', 'turnutils_stunclient']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
      throw new Error(`${tool} not found: the NAT lab needs coturn (apt-get install coturn; make test installs it)`);
    }
  }
  const topology = await createNatTopology({ log });
  const dir = mkdtempSync(join(tmpdir(), 'aicx-natlab-'));
  const turnSecret = randomBytes(24).toString('base64url');
  let turn: ChildProcess | undefined;
  let gateway: GatewayProcess | undefined;
  let turnOut = '';
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await stopChild(gateway?.child);
    await stopChild(turn);
    await topology.destroy();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const pub = topology.ns.public;
    turn = spawnIn(pub, 'turnserver', [
      `--listening-ip=${ADDR.public}`,
      `--relay-ip=${ADDR.public}`,
      `--listening-port=${TURN_PORT}`,
      '--use-auth-secret',
      `--static-auth-secret=${turnSecret}`,
      `--realm=${TURN_REALM}`,
      '--no-tls',
      '--no-dtls',
      '--no-cli',
      '--fingerprint',
      '--min-port=49152',
      '--max-port=49200',
      // The hardening of docs/operations.md: no multicast, nothing private or loopback as a peer.
      '--no-multicast-peers',
      '--denied-peer-ip=10.0.0.0-10.255.255.255',
      '--denied-peer-ip=172.16.0.0-172.31.255.255',
      '--denied-peer-ip=192.168.0.0-192.168.255.255',
      '--denied-peer-ip=127.0.0.0-127.255.255.255',
      // Our own relay address is a legitimate peer here: when both agents are behind symmetric
      // NATs the working pair is relay ↔ relay, i.e. from one allocation to another.
      `--allowed-peer-ip=${ADDR.public}`,
      `--pidfile=${join(dir, 'turnserver.pid')}`,
      `--userdb=${join(dir, 'turndb')}`,
      // -v: sessions, permissions and refusals in turnLog() for a failure's message.
      '--log-file=stdout',
      '-v',
      '--simple-log',
    ]);
    turn.stdout?.on('data', (d: Buffer) => (turnOut += d.toString()));
    turn.stderr?.on('data', (d: Buffer) => (turnOut += d.toString()));
    const turnExited = exitedOf(turn);

    gateway = spawnGateway(
      {
        GATEWAY_HOST: ADDR.public,
        GATEWAY_PORT: '0',
        LOG_LEVEL: 'warn',
        TURN_URLS: TURN_URL,
        TURN_SECRET: turnSecret,
        STUN_URLS: STUN_URL,
      },
      { prefix: ['ip', 'netns', 'exec', pub], urlHost: ADDR.public },
    );
    const gw = gateway;
    // Its log line "Server listening at …" comes after the socket is bound: ready.
    const port = await Promise.race([gw.listening, new Promise<null>((r) => setTimeout(() => r(null), 20_000).unref())]);
    if (port === null) throw new Error(`the gateway did not start in ${pub}:\n${gw.output().slice(-2000)}`);
    log(`gateway listening at ${gw.wsUrl} (namespace ${pub}), TURN_URLS=${TURN_URL} STUN_URLS=${STUN_URL}`);

    // turnserver's log is block-buffered on a pipe: readiness is its UDP socket on 3478.
    let turnGone = false;
    void turnExited.then(() => (turnGone = true));
    await eventually(
      async () => {
        if (turnGone) throw new Error(`turnserver exited:\n${turnOut.slice(-2000)}`);
        return (await runIn(pub, 'ss', ['-Hlun', `sport = :${TURN_PORT}`])).output.includes(`${ADDR.public}:${TURN_PORT}`);
      },
      15_000,
      'turnserver to listen',
      100,
    );
    log(`coturn listening at ${ADDR.public}:${TURN_PORT} (use-auth-secret, relay ports 49152-49200)`);
    return { topology, gateway: gw, wsUrl: gw.wsUrl, turnSecret, turnLog: () => turnOut, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** A finished agent run: every event it printed, its exit status and its stderr. */
export interface AgentRun {
  events: AgentEvent[];
  code: number | null;
  stderr: string;
  /** The first event of that kind, if any. */
  find<K extends AgentEvent['event']>(kind: K): Extract<AgentEvent, { event: K }> | undefined;
}

export interface RunningAgent {
  /** Resolves with the first event of that kind (rejects when the agent exits without it). */
  waitFor<K extends AgentEvent['event']>(kind: K): Promise<Extract<AgentEvent, { event: K }>>;
  done: Promise<AgentRun>;
}

export interface AgentOptions {
  /** The agent namespace to run in. */
  ns: string;
  role: 'offer' | 'answer';
  key: KeyPair;
  peerDid: string;
  /** 'gateway': the ICE servers as the gateway gives them (STUN + TURN); 'stun': only STUN. */
  mode: 'gateway' | 'stun';
  /** The agent's own bound (default 20000 ms). */
  timeoutMs?: number;
  onEvent?: (e: AgentEvent) => void;
}

/** Starts test/nat/agent.ts in its namespace. */
export function startAgent(lab: NatLab, options: AgentOptions): RunningAgent {
  const { ns, timeoutMs = 20_000, onEvent = () => {} } = options;
  const env = {
    GATEWAY_URL: lab.wsUrl,
    ICE_MODE: options.mode,
    TIMEOUT_MS: String(timeoutMs),
    ROLE: options.role,
    AGENT_KEY: JSON.stringify(exportJwk(options.key)),
    PEER_DID: options.peerDid,
  };
  const child = spawnIn(ns, process.execPath, ['--import', 'tsx', 'test/nat/agent.ts'], env);
  const events: AgentEvent[] = [];
  const waiters: Array<() => void> = [];
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  createInterface({ input: child.stdout as NonNullable<ChildProcess['stdout']> }).on('line', (line) => {
    let e: AgentEvent;
    try {
      e = JSON.parse(line) as AgentEvent;
    } catch {
      stderr += `${line}\n`; // not an event (a library printing to stdout)
      return;
    }
    events.push(e);
    onEvent(e);
    for (const w of waiters.splice(0)) w();
  });
  // The agent bounds itself with TIMEOUT_MS; this is only the backstop for a hung process.
  const backstop = setTimeout(() => child.kill('SIGKILL'), timeoutMs + 10_000);
  const find = <K extends AgentEvent['event']>(kind: K) => events.find((e): e is Extract<AgentEvent, { event: K }> => e.event === kind);
  const done = exitedOf(child).then((code) => {
    clearTimeout(backstop);
    for (const w of waiters.splice(0)) w();
    return { events, code, stderr, find };
  });
  let exited = false;
  void done.then(() => (exited = true));
  const waitFor = <K extends AgentEvent['event']>(kind: K) =>
    new Promise<Extract<AgentEvent, { event: K }>>((resolve, reject) => {
      const check = () => {
        const e = find(kind);
        if (e !== undefined) resolve(e);
        else if (exited) reject(new Error(`agent in ${ns} exited (${child.exitCode}) without "${kind}": ${JSON.stringify(events)}\n${stderr.slice(-2000)}`));
        else waiters.push(check);
      };
      check();
    });
  return { waitFor, done };
}

export interface PairRun {
  /** The offerer, in agent1 (behind router1). */
  offer: AgentRun;
  /** The answerer, in agent2 (behind router2). */
  answer: AgentRun;
}

/**
 * Runs the two agents against each other: the answerer in agent2 first (it must be registered
 * before the OFFER reaches the gateway), then the offerer in agent1. `mode` 'gateway': the ICE
 * servers as the gateway gives them (STUN + TURN); 'stun': only its STUN server.
 */
export async function runAgentPair(
  lab: NatLab,
  mode: 'gateway' | 'stun',
  options: { timeoutMs?: number; onEvent?: (who: 'agent1' | 'agent2', e: AgentEvent) => void } = {},
): Promise<PairRun> {
  const { timeoutMs, onEvent = () => {} } = options;
  const key1 = generateKeyPair();
  const key2 = generateKeyPair();
  const { agent1, agent2 } = lab.topology.ns;
  const answer = startAgent(lab, { ns: agent2, role: 'answer', key: key2, peerDid: didFromKey(key1), mode, timeoutMs, onEvent: (e) => onEvent('agent2', e) });
  await answer.waitFor('registered');
  const offer = startAgent(lab, { ns: agent1, role: 'offer', key: key1, peerDid: didFromKey(key2), mode, timeoutMs, onEvent: (e) => onEvent('agent1', e) });
  const [o, a] = await Promise.all([offer.done, answer.done]);
  return { offer: o, answer: a };
}

/** The agent's address as coturn's STUN side sees it (turnutils_stunclient from `ns`), e.g. "198.51.100.10:40123". */
export async function reflexiveAddress(ns: string): Promise<string> {
  const r = await runIn(ns, 'turnutils_stunclient', ['-p', String(TURN_PORT), ADDR.public]);
  const m = /reflexive addr: (\S+)/.exec(r.output);
  if (m === null) throw new Error(`turnutils_stunclient from ${ns} found no reflexive address:\n${r.output}`);
  return m[1] as string;
}

/**
 * turnutils_uclient from `ns` with a TURN REST credential: two allocations relaying a few
 * messages to each other. `allocated` false when coturn refused the credential.
 */
export async function tryAllocation(ns: string, username: string, credential: string): Promise<{ allocated: boolean; code: number | null; output: string }> {
  const r = await runIn(ns, 'turnutils_uclient', ['-y', '-n', '2', '-m', '1', '-l', '100', '-u', username, '-w', credential, '-p', String(TURN_PORT), ADDR.public]);
  return { allocated: r.code === 0 && !r.output.includes('Cannot complete Allocation'), ...r };
}
