#!/usr/bin/env node
/**
 * End-to-end check of a running gateway with two throwaway Ed25519 agents (docs/protocol.md §2–§6):
 * GET /health and /ready, handshake (CHALLENGE → signed REGISTER → REGISTERED) for A and B,
 * a signed OFFER from A delivered to B byte for byte (and verifiable by B), DISCOVER listing both.
 *
 *   node scripts/verify-gateway.mjs [ws://HOST:PORT/ws] [--hold] [--timeout=MS]
 *
 * URL: the argument, else $GATEWAY_URL, else ws://127.0.0.1:8000/ws. The HTTP base is derived
 * from it (ws→http, wss→https, a trailing /ws removed from the path).
 * --timeout (or $VERIFY_TIMEOUT_MS, default 15000): bound on the whole check.
 * --hold: after the checks pass, keep both agents connected, print a line starting with
 *   "HOLDING", and wait (up to $VERIFY_HOLD_MS, default 30000) for the gateway to close them;
 *   passes only if both are closed with 1001 (gateway shutting down). Used by
 *   scripts/verify-image-steps.sh to check the graceful drain on SIGTERM.
 * Exit status: 0 = PASS, 1 = FAIL, 2 = usage or missing modules.
 *
 * Plain ESM JavaScript on runtime dependencies only (ws, @noble/ed25519, @noble/hashes,
 * @scure/base) so it also runs from a `npm ci --omit=dev` install of the packed package: bare
 * imports resolve from node_modules next to (or above) this file, so copy it into such a tree.
 */
import { randomBytes } from 'node:crypto';

const USAGE = 'usage: node scripts/verify-gateway.mjs [ws://HOST:PORT/ws] [--hold] [--timeout=MS]';

// ---- arguments -------------------------------------------------------------------------------
let urlArg;
let hold = false;
let timeoutMs = Number(process.env.VERIFY_TIMEOUT_MS || 15000);
const holdMs = Number(process.env.VERIFY_HOLD_MS || 30000);
for (const arg of process.argv.slice(2)) {
  if (arg === '--hold') hold = true;
  else if (arg.startsWith('--timeout=')) timeoutMs = Number(arg.slice('--timeout='.length));
  else if (arg === '-h' || arg === '--help') {
    console.log(USAGE);
    process.exit(0);
  } else if (!arg.startsWith('-') && urlArg === undefined) urlArg = arg;
  else usage(`unexpected argument ${JSON.stringify(arg)}`);
}
const wsUrl = urlArg || process.env.GATEWAY_URL || 'ws://127.0.0.1:8000/ws';
if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) usage('--timeout / VERIFY_TIMEOUT_MS must be a positive integer (ms)');
if (!Number.isInteger(holdMs) || holdMs <= 0) usage('VERIFY_HOLD_MS must be a positive integer (ms)');

let parsed;
try {
  parsed = new URL(wsUrl);
} catch {
  usage(`not a URL: ${JSON.stringify(wsUrl)}`);
}
if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') usage(`URL must be ws:// or wss://, got ${wsUrl}`);
const httpBase = new URL(parsed.href);
httpBase.protocol = parsed.protocol === 'wss:' ? 'https:' : 'http:';
httpBase.pathname = parsed.pathname.replace(/\/ws\/?$/, '/');
httpBase.search = '';
httpBase.hash = '';

function usage(message) {
  console.error(`verify-gateway: ${message}\n${USAGE}`);
  process.exit(2);
}

// ---- runtime dependencies (loaded dynamically for a clear message when they are missing) -----
let ed, sha512, base58, WebSocket;
try {
  ed = await import('@noble/ed25519');
  ({ sha512 } = await import('@noble/hashes/sha2.js'));
  ({ base58 } = await import('@scure/base'));
  ({ default: WebSocket } = await import('ws'));
} catch (err) {
  console.error(
    `verify-gateway: cannot load a runtime dependency (${err.message}).\n` +
      'Run `npm ci` in the repository, or copy this script into a directory whose node_modules holds ' +
      'ws, @noble/ed25519, @noble/hashes and @scure/base (bare imports resolve from the script location).',
  );
  process.exit(2);
}
ed.hashes.sha512 = sha512;

// ---- report ------------------------------------------------------------------------------------
const results = [];
function pass(name, detail = '') {
  results.push({ ok: true, name });
  console.log(`PASS  ${name}${detail ? ` — ${detail}` : ''}`);
}
function finish(ok, reason = '') {
  const passed = results.filter((r) => r.ok).length;
  if (ok) console.log(`RESULT: PASS (${passed} checks) against ${wsUrl}`);
  else console.log(`RESULT: FAIL against ${wsUrl} after ${passed} passed check(s): ${reason}`);
  for (const agent of agents) agent.terminate();
  process.exit(ok ? 0 : 1);
}
function fail(name, reason) {
  console.log(`FAIL  ${name} — ${reason}`);
  finish(false, `${name}: ${reason}`);
}

// ---- protocol helpers (docs/protocol.md §2–§3) -----------------------------------------------------------
/** JCS (RFC 8785) for JSON data: JSON.stringify with keys sorted recursively by UTF-16 code units. */
function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`)
      .join(',')}}`;
  }
  if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError('non-finite number');
  return JSON.stringify(value);
}
/** UTF-8 bytes of the canonical frame without `sig`. */
function signedBytes(frame) {
  const { sig: _sig, ...rest } = frame;
  return Buffer.from(canonical(rest), 'utf8');
}
function sign(secretKey, frame) {
  return { ...frame, sig: Buffer.from(ed.sign(signedBytes(frame), secretKey)).toString('base64url') };
}
function didFromPublicKey(publicKey) {
  return `did:key:z${base58.encode(Uint8Array.from([0xed, 0x01, ...publicKey]))}`;
}
function publicKeyFromDid(did) {
  const bytes = base58.decode(did.slice('did:key:z'.length));
  return bytes.slice(2);
}
const frameId = (prefix) => `verify-${prefix}-${Date.now()}-${randomBytes(4).toString('hex')}`;

// ---- a minimal agent -------------------------------------------------------------------------------
const agents = [];

class Agent {
  constructor(label) {
    this.label = label;
    this.secretKey = ed.utils.randomSecretKey();
    this.did = didFromPublicKey(ed.getPublicKey(this.secretKey));
    /** Received messages not yet taken: { raw: Buffer, frame: object }. */
    this.queue = [];
    this.waiter = undefined;
    this.closeInfo = undefined;
    this.onClosed = () => {};
    agents.push(this);
  }

  /** Opens the socket; resolves with the CHALLENGE frame. */
  async connect(url) {
    this.ws = new WebSocket(url, { handshakeTimeout: Math.min(timeoutMs, 10000) });
    this.ws.on('message', (data, isBinary) => {
      const raw = Buffer.isBuffer(data) ? data : Buffer.from(data);
      let frame;
      try {
        frame = isBinary ? { type: '(binary frame)' } : JSON.parse(raw.toString('utf8'));
      } catch {
        frame = { type: '(not JSON)' };
      }
      this.queue.push({ raw, frame });
      this.wake();
    });
    this.ws.on('close', (code, reason) => {
      this.closeInfo = { code, reason: reason.toString() };
      this.wake();
      this.onClosed(this.closeInfo);
    });
    this.ws.on('error', (err) => {
      this.error = err;
      this.wake();
    });
    return this.next('CHALLENGE');
  }

  wake() {
    const w = this.waiter;
    this.waiter = undefined;
    if (w) w();
  }

  /** The next message; fails (with the ERROR or close it got instead) unless its type is `type`. */
  async next(type) {
    while (this.queue.length === 0) {
      if (this.closeInfo) {
        throw new Error(`${this.label}: connection closed with ${this.closeInfo.code}${this.closeInfo.reason ? ` (${this.closeInfo.reason})` : ''} while waiting for ${type}`);
      }
      if (this.error) throw new Error(`${this.label}: ${this.error.message} while waiting for ${type}`);
      await new Promise((resolve) => (this.waiter = resolve));
    }
    const msg = this.queue.shift();
    if (msg.frame.type !== type) {
      throw new Error(`${this.label}: expected ${type}, got ${msg.raw.toString('utf8').slice(0, 300)}`);
    }
    return msg;
  }

  send(text) {
    this.ws.send(text);
  }

  terminate() {
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) this.ws.terminate();
  }
}

// ---- the checks ------------------------------------------------------------------------------------
const deadline = setTimeout(() => fail('timeout', `the check did not finish within ${timeoutMs} ms`), timeoutMs);

async function step(name, fn) {
  try {
    const detail = await fn();
    pass(name, detail);
  } catch (err) {
    fail(name, err instanceof Error ? err.message : String(err));
  }
}

console.log(`verify-gateway: ${wsUrl} (HTTP ${httpBase.href})`);

await step('client self-test (docs/protocol.md §13 vector)', () => {
  const secret = Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex');
  const frame = {
    type: 'OFFER',
    id: 'offer-1',
    from: 'did:key:z6MktwupdmLXVVqTzCw4i46r4uGyosGXRnR3XjN4Zq7oMMsw',
    to: 'did:key:z6MkiaMbhXHNA4eJVCCj8dbzKzTgYDKf6crKgHVHid1F1WCT',
    ts: 1764028800000,
    payload: { type: 'offer', sdp: 'v=0\r\n' },
  };
  if (didFromPublicKey(ed.getPublicKey(secret)) !== frame.from) throw new Error('did:key encoding differs from the vector');
  const expected = '9dCBys9TVF5HqcntZ5p3xiK2zLaGNNi3LKYen65Ll1IZK5ffCr6Y_VZ9zrJqez4j8nl294QixdAZHGlC2rJbBQ';
  if (sign(secret, frame).sig !== expected) throw new Error('canonical JSON / signature differs from the vector');
  return 'did:key, JCS and Ed25519 match';
});

async function getJson(path) {
  const url = new URL(path, httpBase);
  let res;
  try {
    res = await fetch(url);
  } catch (err) {
    throw new Error(`GET ${url.href}: ${err.cause?.code ?? err.cause?.message ?? err.message}`, { cause: err });
  }
  const text = await res.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`GET ${url.href}: HTTP ${res.status}, body is not JSON: ${text.slice(0, 200)}`);
  }
  return { status: res.status, body };
}

await step('GET /health → 200 healthy', async () => {
  const { status, body } = await getJson('health');
  if (status !== 200 || body.status !== 'healthy') throw new Error(`HTTP ${status} ${JSON.stringify(body)}`);
  return `connected_agents=${body.connected_agents}${body.version ? `, version ${body.version}` : ''}`;
});

await step('GET /ready → 200', async () => {
  const { status, body } = await getJson('ready');
  if (status !== 200) throw new Error(`HTTP ${status} ${JSON.stringify(body)}`);
  return '';
});

// A capability unique to this run, so DISCOVER finds exactly our two agents on a busy gateway.
const capability = `verify.${randomBytes(6).toString('hex')}`;
const a = new Agent('A');
const b = new Agent('B');

for (const agent of [a, b]) {
  await step(`agent ${agent.label} handshake (CHALLENGE → REGISTER → REGISTERED)`, async () => {
    const { frame: challenge } = await agent.connect(wsUrl);
    if (challenge.protocol !== 'aiconexus/1') throw new Error(`CHALLENGE.protocol is ${JSON.stringify(challenge.protocol)}`);
    const register = sign(agent.secretKey, {
      type: 'REGISTER',
      did: agent.did,
      nonce: challenge.nonce,
      aud: challenge.gateway,
      ts: Date.now(),
      meta: { name: `verify-gateway ${agent.label}`, capabilities: [capability] },
    });
    agent.send(JSON.stringify(register));
    const { frame } = await agent.next('REGISTERED');
    if (frame.did !== agent.did) throw new Error(`REGISTERED.did is ${frame.did}, expected ${agent.did}`);
    return `${agent.did.slice(0, 20)}… gateway=${challenge.gateway}`;
  });
}

await step('signed OFFER A → B delivered byte for byte', async () => {
  const offer = sign(a.secretKey, {
    type: 'OFFER',
    id: frameId('offer'),
    from: a.did,
    to: b.did,
    ts: Date.now(),
    payload: { type: 'offer', sdp: 'v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=verify\r\n' },
  });
  const sent = Buffer.from(JSON.stringify(offer), 'utf8');
  a.send(sent.toString('utf8'));
  const { raw, frame } = await b.next('OFFER');
  if (!raw.equals(sent)) throw new Error(`B received different bytes:\n  sent ${sent}\n  got  ${raw}`);
  const sig = Buffer.from(frame.sig, 'base64url');
  if (!ed.verify(sig, signedBytes(frame), publicKeyFromDid(frame.from))) throw new Error('B cannot verify the signature end to end');
  // Success is silent: A's next frame must be the PONG, not an ERROR about the OFFER.
  a.send(JSON.stringify({ type: 'PING', id: 'verify-ping' }));
  const { frame: pong } = await a.next('PONG');
  if (pong.ref !== 'verify-ping') throw new Error(`PONG.ref is ${JSON.stringify(pong.ref)}`);
  return `${sent.length} bytes, signature verified by B, no ERROR to A`;
});

await step('DISCOVER lists A and B', async () => {
  b.send(JSON.stringify({ type: 'DISCOVER', id: 'verify-discover', capability }));
  const { frame } = await b.next('AGENTS');
  if (frame.ref !== 'verify-discover') throw new Error(`AGENTS.ref is ${JSON.stringify(frame.ref)}`);
  const dids = (frame.agents ?? []).map((x) => x.did);
  for (const agent of [a, b]) if (!dids.includes(agent.did)) throw new Error(`${agent.label} missing from ${JSON.stringify(dids)}`);
  return `${dids.length} agents with capability ${capability}`;
});

clearTimeout(deadline);

/** Resolves when every agent's socket has closed (already, or later). */
const allClosed = () =>
  Promise.all(agents.map((agent) => (agent.closeInfo ? undefined : new Promise((resolve) => (agent.onClosed = resolve)))));

if (!hold) {
  // A clean close (1000) so the gateway logs a normal disconnect; finish() terminates stragglers.
  for (const agent of agents) agent.ws.close(1000, 'verify done');
  await Promise.race([allClosed(), new Promise((resolve) => setTimeout(resolve, 2000))]);
  finish(true);
}

// --hold: wait for the gateway to close both agents (on SIGTERM it must send 1001).
const holdTimer = setTimeout(() => fail('shutdown close', `agents not closed by the gateway within ${holdMs} ms`), holdMs);
console.log(`HOLDING: agents A and B stay connected; waiting up to ${holdMs} ms for the gateway to close them`);
await allClosed();
clearTimeout(holdTimer);
await step('gateway closed both agents with 1001 on shutdown', () => {
  const codes = agents.map((agent) => `${agent.label}=${agent.closeInfo.code}${agent.closeInfo.reason ? ` (${agent.closeInfo.reason})` : ''}`);
  if (!agents.every((agent) => agent.closeInfo.code === 1001)) throw new Error(codes.join(', '));
  return codes.join(', ');
});
finish(true);
