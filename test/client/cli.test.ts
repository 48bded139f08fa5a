/**
 * The `aiconexus` CLI as a child process (node --import tsx src/cli/index.ts), against a real
 * gateway on port 0. Children are spawned asynchronously: the gateway runs in this process.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fromBase64url, GatewayClient, generateKeyPair, importRawKey, signFrame } from '../../src/client/index.js';
import { eventually, startGateway, type TestGateway } from '../helpers/gateway.js';
import { FakeGateway } from './fake-gateway.js';
import { turnCredential } from '../../src/ice-servers.js';
import { freePort } from '../helpers/ports.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const cli = join(root, 'src/cli/index.ts');

/** Each test spawns several CLI processes (~1 s each on a busy 2-core machine). */
const SPAWN_TIMEOUT = 90_000;

/** Environment variables the CLI reads, cleared so that the caller's environment does not leak in. */
const CLEAN_ENV = { GATEWAY_URL: '', GATEWAY_ID: '', ADMIN_TOKEN: '' };

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI to completion (bounded by a timeout). GATEWAY_URL, GATEWAY_ID and ADMIN_TOKEN are cleared unless given. */
function run(args: string[], env: Record<string, string> = {}): Promise<Result> {
  return new Promise((resolvePromise) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', cli, ...args],
      { cwd: root, env: { ...process.env, ...CLEAN_ENV, ...env }, timeout: 30_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
        resolvePromise({ code, stdout, stderr });
      },
    );
  });
}

/** A long-running CLI command (`listen`) as a child process, its output collected as it comes. */
interface Running {
  child: ChildProcess;
  stdout: string;
  stderr: string;
  exited: Promise<number | null>;
  /** Waits until `check` holds; fails if the process exits first or 30 s pass. */
  until(check: () => boolean, what: string): Promise<void>;
}

function start(args: string[]): Running {
  const child = spawn(process.execPath, ['--import', 'tsx', cli, ...args], {
    cwd: root,
    env: { ...process.env, ...CLEAN_ENV },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const running: Running = {
    child,
    stdout: '',
    stderr: '',
    exited: new Promise((r) => child.on('exit', (code) => r(code))),
    until: (check, what) =>
      eventually(
        () => {
          if (child.exitCode !== null && !check()) throw new Error(`${args[0]} exited early: ${running.stderr}`);
          return check();
        },
        30_000,
        what,
      ).catch((err: Error) => {
        throw new Error(`${err.message}; stderr: ${running.stderr}`);
      }),
  };
  child.stdout?.on('data', (d: Buffer) => (running.stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (running.stderr += d.toString()));
  return running;
}

/** A key file as `aiconexus keygen --out` writes it, without spawning the CLI for it. */
async function keyFile(name: string): Promise<string> {
  const key = generateKeyPair();
  const file = join(dir, name);
  await writeFile(file, JSON.stringify({ did: key.did, secretKey: Buffer.from(key.secretKey).toString('base64url') }), { mode: 0o600 });
  return file;
}

let gw: TestGateway;
let dir: string;
const children: ChildProcess[] = [];
const clients: GatewayClient[] = [];

beforeAll(async () => {
  gw = await startGateway();
  dir = await mkdtemp(join(tmpdir(), 'aiconexus-cli-'));
});
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  await Promise.all(clients.splice(0).map((c) => c.close()));
});
afterAll(async () => {
  await gw.close();
  await rm(dir, { recursive: true, force: true });
});

describe('keygen', { timeout: SPAWN_TIMEOUT }, () => {
  it('writes a 0600 key file, prints the DID, and refuses to overwrite without --force', async () => {
    const file = join(dir, 'agent.json');
    const first = await run(['keygen', '--out', file]);
    expect(first).toMatchObject({ code: 0, stderr: '' });
    const did = first.stdout.trim();
    expect(did).toMatch(/^did:key:z6Mk[1-9A-HJ-NP-Za-km-z]{44}$/);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const content = JSON.parse(await readFile(file, 'utf8'));
    expect(Object.keys(content).sort()).toEqual(['did', 'publicKey', 'secretKey']);
    const key = importRawKey(fromBase64url(content.secretKey));
    expect(key.did).toBe(did);
    expect(content.did).toBe(did);

    const again = await run(['keygen', '--out', file]);
    expect(again.code).toBe(1);
    expect(again.stdout).toBe('');
    expect(again.stderr).toBe(`aiconexus: ${file} already exists; use --force to overwrite it\n`);
    expect(JSON.parse(await readFile(file, 'utf8')).did).toBe(did);

    await chmod(file, 0o644);
    const forced = await run(['keygen', '--out', file, '--force']);
    expect(forced.code).toBe(0);
    expect(forced.stdout.trim()).not.toBe(did);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });

  it('prints the key file JSON without --out', async () => {
    const { code, stdout } = await run(['keygen']);
    expect(code).toBe(0);
    const content = JSON.parse(stdout);
    expect(importRawKey(fromBase64url(content.secretKey)).did).toBe(content.did);
  });
});

describe('gateway commands', { timeout: SPAWN_TIMEOUT }, () => {
  it('health prints the gateway health as JSON', async () => {
    const { code, stdout, stderr } = await run(['health', '--url', gw.wsUrl]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ status: 'healthy', connected_agents: 0 });
  });

  it('health reads GATEWAY_URL, and agents lists registered agents', async () => {
    const a = new GatewayClient({ url: gw.wsUrl, key: generateKeyPair(), meta: { name: 'a', capabilities: ['vision'] } });
    clients.push(a);
    await a.connect();
    const health = await run(['health'], { GATEWAY_URL: gw.httpUrl });
    expect(JSON.parse(health.stdout)).toMatchObject({ connected_agents: 1 });
    const agents = await run(['agents', '--url', gw.wsUrl, '--capability', 'vision', '--limit', '5']);
    expect(agents.code).toBe(0);
    expect(JSON.parse(agents.stdout)).toMatchObject({ count: 1, agents: [{ did: a.did, meta: { name: 'a' } }], next_cursor: null });
  });

  it('ping and discover register with the key file', async () => {
    const file = join(dir, 'pinger.json');
    expect((await run(['keygen', '--out', file])).code).toBe(0);
    const ping = await run(['ping', '--key', file, '--url', gw.wsUrl]);
    expect(ping.code).toBe(0);
    expect(ping.stdout).toMatch(/^pong from ws:\/\/127\.0\.0\.1:\d+\/ws in \d+\.\d ms\n$/);
    const other = new GatewayClient({ url: gw.wsUrl, key: generateKeyPair(), meta: { capabilities: ['cli-test'] } });
    clients.push(other);
    await other.connect();
    const discover = await run(['discover', '--key', file, '--url', gw.wsUrl, '--capability', 'cli-test']);
    expect(discover.code).toBe(0);
    expect(JSON.parse(discover.stdout)).toEqual([{ did: other.did, meta: { capabilities: ['cli-test'] }, connected_at: expect.any(String) }]);
  });

  it('ice-servers prints the STUN and TURN servers with a credential for the key, as JSON', async () => {
    const secret = 'cli-test-turn-secret-0001';
    const turnGw = await startGateway({ stunUrls: ['stun:stun.example.com'], turnUrls: ['turn:turn.example.com:3478'], turnSecret: secret });
    try {
      const file = join(dir, 'ice.json');
      const did = (await run(['keygen', '--out', file])).stdout.trim();
      const r = await run(['ice-servers', '--key', file, '--url', turnGw.wsUrl]);
      expect(r.code).toBe(0);
      const out = JSON.parse(r.stdout) as { ice_servers: { urls: string[]; username?: string; credential?: string }[]; expires_at: number };
      const turn = out.ice_servers[1];
      expect(out.ice_servers[0]).toEqual({ urls: ['stun:stun.example.com'] });
      expect(turn?.username).toBe(`${out.expires_at / 1000}:${did}`);
      expect(turn?.credential).toBe(turnCredential(secret, turn?.username as string));
    } finally {
      await turnGw.close();
    }
  });

  it('listen prints verified incoming frames as JSON lines and stops on SIGINT', async () => {
    const file = join(dir, 'listener.json');
    const did = (await run(['keygen', '--out', file])).stdout.trim();
    const listen = start(['listen', '--key', file, '--url', gw.wsUrl, '--name', 'l', '--capability', 'echo']);
    await listen.until(() => listen.stderr.includes(`listening as ${did}`), 'listening line');

    const sender = new GatewayClient({ url: gw.wsUrl, key: generateKeyPair() });
    clients.push(sender);
    await sender.connect();
    const peers = await sender.discover({ capability: 'echo' });
    expect(peers.map((p) => p.did)).toEqual([did]);
    const offer = sender.offer(did, { type: 'offer', sdp: 'v=0\r\n' });
    const bye = sender.bye(did, { reason: 'done' });
    await listen.until(() => listen.stdout.split('\n').length >= 3, 'two JSON lines');
    const lines = listen.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toEqual([offer, bye]);

    listen.child.kill('SIGINT');
    expect(await listen.exited).toBe(0);
  });
});

describe('errors', { timeout: SPAWN_TIMEOUT }, () => {
  it('an unreachable gateway is one line and exit status 1', async () => {
    const port = await freePort();
    const health = await run(['health', '--url', `http://127.0.0.1:${port}`]);
    expect(health).toEqual({ code: 1, stdout: '', stderr: `aiconexus: cannot reach gateway at http://127.0.0.1:${port} (ECONNREFUSED)\n` });
    const file = join(dir, 'unreachable.json');
    await run(['keygen', '--out', file]);
    const ping = await run(['ping', '--key', file, '--url', `ws://127.0.0.1:${port}/ws`]);
    expect(ping).toEqual({ code: 1, stdout: '', stderr: `aiconexus: cannot reach gateway at ws://127.0.0.1:${port}/ws (ECONNREFUSED)\n` });
  });

  it('bad or missing key files exit 1 with one line', async () => {
    const missing = await run(['ping', '--key', join(dir, 'missing.json'), '--url', gw.wsUrl]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^aiconexus: key file not found: .*missing\.json.*\n$/);

    const bad = join(dir, 'bad.json');
    await writeFile(bad, '{"secretKey":"short"}', { mode: 0o600 });
    const badKey = await run(['ping', '--key', bad, '--url', gw.wsUrl]);
    expect(badKey).toMatchObject({ code: 1, stderr: `aiconexus: bad key file ${bad}: "secretKey" must be 32 bytes of base64url\n` });

    const notJson = join(dir, 'not-json.json');
    await writeFile(notJson, 'hello', { mode: 0o600 });
    expect(await run(['discover', '--key', notJson])).toMatchObject({ code: 1, stderr: `aiconexus: bad key file ${notJson}: not JSON\n` });

    const mismatch = join(dir, 'mismatch.json');
    const k = generateKeyPair();
    await writeFile(mismatch, JSON.stringify({ did: generateKeyPair().did, secretKey: Buffer.from(k.secretKey).toString('base64url') }), { mode: 0o600 });
    expect((await run(['ping', '--key', mismatch])).stderr).toBe(`aiconexus: bad key file ${mismatch}: "did" does not match "secretKey"\n`);
  });

  it('bad arguments and unknown commands exit 1 with one line', async () => {
    expect(await run(['ping'])).toMatchObject({ code: 1, stderr: expect.stringMatching(/^aiconexus: --key FILE is required.*\n$/) });
    expect(await run(['health', '--bogus'])).toMatchObject({ code: 1, stderr: "aiconexus: health: Unknown option '--bogus'. See 'aiconexus health --help'\n" });
    expect(await run(['agents', '--limit', 'many'])).toMatchObject({ code: 1, stderr: 'aiconexus: --limit must be an integer 1-1000 (got "many")\n' });
    expect(await run(['health', '--url', 'ftp://x'])).toMatchObject({ code: 1, stderr: expect.stringContaining('bad gateway URL') });
    expect(await run(['frobnicate'])).toMatchObject({ code: 1, stderr: 'aiconexus: unknown command "frobnicate". See \'aiconexus --help\'\n' });
  });

  it('an authentication failure is one line and exit status 1', async () => {
    const fake = await FakeGateway.start({ rejectRegister: true, gatewayId: 'aiconexus-gateway' });
    try {
      const file = join(dir, 'auth.json');
      await run(['keygen', '--out', file]);
      const ping = await run(['ping', '--key', file, '--url', fake.url]);
      expect(ping).toEqual({ code: 1, stdout: '', stderr: 'aiconexus: authentication failed: registration rejected\n' });
    } finally {
      await fake.close();
    }
  });
});

describe('gateway id', { timeout: SPAWN_TIMEOUT }, () => {
  it('refuses a gateway whose CHALLENGE names another id before signing, saying both ids and how to set it; --gateway-id and GATEWAY_ID accept it', async () => {
    const fake = await FakeGateway.start(); // its CHALLENGE names "fake-gateway"
    try {
      const file = await keyFile('pinned.json');
      const message =
        `aiconexus: gateway id mismatch: the gateway at ${fake.url} named itself "fake-gateway" in its CHALLENGE, but "aiconexus-gateway" is expected; ` +
        'nothing was signed. If "fake-gateway" is that gateway\'s GATEWAY_ID, pass --gateway-id fake-gateway (or GATEWAY_ID=fake-gateway); ' +
        "otherwise the connection may be relaying another gateway's challenge\n";
      const [ping, listen, flag, env, badId] = await Promise.all([
        run(['ping', '--key', file, '--url', fake.url]),
        run(['listen', '--key', file, '--url', fake.url]),
        run(['ping', '--key', file, '--url', fake.url, '--gateway-id', 'fake-gateway']),
        run(['ping', '--key', file, '--url', fake.url], { GATEWAY_ID: 'fake-gateway' }),
        run(['ping', '--key', file, '--url', fake.url, '--gateway-id', 'two words']),
      ]);
      expect(ping).toEqual({ code: 1, stdout: '', stderr: message });
      // listen stops too (one line, status 1) instead of reconnecting to the same mismatch.
      expect(listen).toEqual({ code: 1, stdout: '', stderr: message });
      expect(flag).toMatchObject({ code: 0, stderr: '', stdout: expect.stringMatching(/^pong from /) });
      expect(env).toMatchObject({ code: 0, stderr: '', stdout: expect.stringMatching(/^pong from /) });
      expect(badId).toEqual({
        code: 1,
        stdout: '',
        stderr: 'aiconexus: --gateway-id (or GATEWAY_ID) must be 1-128 printable ASCII characters without spaces (got "two words")\n',
      });
      // Two connections refused before anything was sent, two registered with aud = the id given.
      expect(fake.connections).toHaveLength(4);
      await Promise.all(fake.connections.map((c) => c.closed));
      const firstFrames = fake.connections.map((c) => c.frames[0]);
      expect(firstFrames.filter((f) => f === undefined)).toHaveLength(2);
      expect(firstFrames.filter((f) => f !== undefined)).toEqual([
        expect.objectContaining({ type: 'REGISTER', aud: 'fake-gateway' }),
        expect.objectContaining({ type: 'REGISTER', aud: 'fake-gateway' }),
      ]);
    } finally {
      await fake.close();
    }
  });
});

describe('untrusted text', { timeout: SPAWN_TIMEOUT }, () => {
  it('listen escapes control characters in frame types, ERROR codes and messages, close reasons and peers\' frames', async () => {
    const fake = await FakeGateway.start({ gatewayId: 'aiconexus-gateway' });
    try {
      const file = await keyFile('escapes.json');
      const did = JSON.parse(await readFile(file, 'utf8')).did as string;
      const registered = fake.nextConnection();
      const listen = start(['listen', '--key', file, '--url', fake.url]);
      const conn = await registered;

      const peer = generateKeyPair();
      const offer = signFrame(
        { type: 'OFFER', id: 'o-esc', from: peer.did, to: did, ts: Date.now(), payload: { type: 'offer', sdp: 'v=0\r\n\u009b2J\u202eevil\u001b[0m' } },
        peer.secretKey,
      );
      conn.send({ type: '\u001b]0;pwned\u0007\u001b[2J' });
      conn.send({ type: 'ERROR', code: 'RATE_LIMITED', message: '\u001b[31mred\u009b2J\naiconexus: fake line', ref: null });
      conn.send({ type: 'ERROR', code: '\u001b[5mBLINK', message: 'm\u202eevil\u007f', ref: null });
      conn.send(offer);
      conn.ws.close(4000, '\u001b[2Jbye');

      await listen.until(() => listen.stderr.includes('disconnected (close 4000') && listen.stdout.includes('\n'), 'listen output');
      listen.child.kill('SIGINT');
      expect(await listen.exited).toBe(0);
      const { stdout, stderr } = listen;

      // Nothing a terminal acts on: only the newlines that end the CLI's own lines.
      // eslint-disable-next-line no-control-regex
      const unsafe = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
      expect(stderr).not.toMatch(unsafe);
      expect(stdout).not.toMatch(unsafe);
      expect(stderr).toContain('dropped a frame (unexpected): unexpected \\u001b]0;pwned\\u0007\\u001b[2J frame\n');
      expect(stderr).toContain('gateway error RATE_LIMITED: \\u001b[31mred\\u009b2J\\u000aaiconexus: fake line\n');
      expect(stderr).toContain('gateway sent unknown error code \\u001b[5mBLINK: m\\u202eevil\\u007f\n');
      expect(stderr).toContain('disconnected (close 4000 \\u001b[2Jbye)\n');
      expect(stderr.split('\n').filter((l) => l.startsWith('aiconexus: fake line'))).toEqual([]);
      // stdout is still one JSON line per frame, equal to the frame as signed.
      const lines = stdout.trim().split('\n');
      expect(lines.map((l) => JSON.parse(l))).toEqual([offer]);
      expect(lines[0]).toContain('v=0\\r\\n\\u009b2J\\u202eevil\\u001b[0m');
    } finally {
      await fake.close();
    }
  });
});

describe('examples/node-agent.ts', { timeout: SPAWN_TIMEOUT }, () => {
  it('connects, discovers and sends an OFFER to the peer given on the command line', async () => {
    const peer = new GatewayClient({ url: gw.wsUrl, key: generateKeyPair() });
    clients.push(peer);
    await peer.connect();
    const offer = new Promise<Record<string, unknown>>((r) => peer.once('offer', (f) => r(f)));
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'examples/node-agent.ts'), '--url', gw.wsUrl, peer.did], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no OFFER; example stderr: ${stderr}`)), 30_000).unref());
    const got = await Promise.race([offer, timeout]);
    expect(got).toMatchObject({ type: 'OFFER', to: peer.did, payload: { type: 'offer' } });
    expect(stderr).toContain('agent(s) online');
    const exited = new Promise((r) => child.on('exit', r));
    child.kill('SIGINT');
    await exited;
  });
});

describe('help', { timeout: SPAWN_TIMEOUT }, () => {
  it('--help describes the program and every command', async () => {
    const program = await run(['--help']);
    expect(program.code).toBe(0);
    const names = ['keygen', 'health', 'agents', 'listen', 'discover', 'ping'];
    for (const name of names) expect(program.stdout).toContain(`  ${name} `);
    const helps = await Promise.all(names.map((name) => run([name, '--help'])));
    helps.forEach((h, i) => {
      expect(h.code).toBe(0);
      expect(h.stdout).toContain(`Usage: aiconexus ${names[i]}`);
      expect(h.stdout).toContain('--help');
    });
    const none = await run([]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('Usage: aiconexus <command>');
  });
});
