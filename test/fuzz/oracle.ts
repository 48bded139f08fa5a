/**
 * The fuzzer's oracle: what docs/protocol.md says the gateway must answer to one inbound message.
 *
 * Written from the protocol text, not from src/: the schema rules of §1–§5 are re-stated here by
 * hand, canonical JSON comes from the independent `canonicalize` package (RFC 8785), and whether a
 * signature is genuine is looked up in the {@link SignatureBook} of everything the fuzzer signed
 * (Ed25519 is deterministic, so a frame verifies iff its exact canonical bytes were signed by the
 * sender's key). The only things taken from the gateway are its configuration values.
 *
 * An answer is a list of acceptable outcomes. The first ones are what the protocol asks for;
 * an outcome tagged with `deviation` is tolerated behaviour that differs from the ideal (a known
 * gateway bug, see SECURITY.md "Fuzzing results"), counted separately so it stays visible.
 */
import { createRequire } from 'node:module';
import { base58 } from '@scure/base';

/**
 * RFC 8785 canonical JSON from the `canonicalize` package (by the RFC's authors). It is CommonJS
 * (module.exports = fn) while its .d.ts declares a default export, hence require().
 */
export const jcs = createRequire(import.meta.url)('canonicalize') as (input: unknown) => string | undefined;

export type Outcome =
  | { kind: 'error'; code: string; ref: string | null }
  | { kind: 'pong'; ref: string | null }
  | { kind: 'agents'; ref: string | null }
  | { kind: 'ice_servers'; ref: string | null }
  /** The frame's bytes are delivered, unchanged, to the agent with this DID; the sender hears nothing. */
  | { kind: 'deliver'; to: string }
  | { kind: 'registered' }
  /** The connection is closed with `code`, after an ERROR with `error` when given. */
  | { kind: 'close'; code: number; error?: string };

export interface Alternative {
  outcome: Outcome;
  /** Set on tolerated non-ideal behaviour: a short name for the deviation. */
  deviation?: string;
  /** When this alternative is what happened, the (sender, id) pair is used up until `expiry`. */
  admit?: { key: string; expiry: number };
}

export type Expectation = Alternative[];

/** The protocol's error codes (docs/protocol.md §7; UNAVAILABLE is cluster-only, docs/errors.md). */
export const DOCUMENTED_CODES = new Set([
  'BAD_FRAME',
  'UNKNOWN_TYPE',
  'AUTH_REQUIRED',
  'AUTH_FAILED',
  'SENDER_MISMATCH',
  'STALE',
  'BAD_SIGNATURE',
  'REPLAY',
  'AGENT_NOT_FOUND',
  'RATE_LIMITED',
  'TARGET_BUSY',
  'UNAVAILABLE',
]);

/** Everything this fuzzer signed: signature → the signer's DID and the canonical text signed. */
export class SignatureBook {
  private readonly entries = new Map<string, { did: string; canonical: string }>();
  /** Bounded: the oldest entries go first (a long run signs millions of frames). */
  constructor(private readonly max = 200_000) {}
  add(sig: string, did: string, canonical: string): void {
    if (this.entries.size >= this.max) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
    this.entries.set(sig, { did, canonical });
  }
  /** True when `sig` is a signature by `did` over exactly `canonical`. */
  verifies(sig: string, did: string, canonical: string): boolean {
    const e = this.entries.get(sig);
    return e !== undefined && e.did === did && e.canonical === canonical;
  }
}

export interface GatewayLimits {
  clockSkewMs: number;
  maxFrameBytes: number;
  gatewayId: string;
}

export interface SessionState {
  /** The registered session's DID. */
  did: string;
  /** DIDs online on the gateway (frames to them are delivered). */
  online: ReadonlySet<string>;
  /** did + '\n' + id → expiry (ms) of ids the gateway has admitted. */
  replay: Map<string, number>;
  book: SignatureBook;
  limits: GatewayLimits;
}

// --- docs/protocol.md rules, restated -------------------------------------------------------------

const ID_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;
const CAPABILITY_PATTERN = /^[a-z0-9._:-]{1,64}$/;
const SIG_PATTERN = /^[A-Za-z0-9_-]{85}[AQgw]$/;
const DID_SHAPE = /^did:key:z[1-9A-HJ-NP-Za-km-z]{47}$/;
const CLIENT_TYPES = new Set(['REGISTER', 'OFFER', 'ANSWER', 'ICE', 'BYE', 'DISCOVER', 'PING', 'GET_ICE_SERVERS']);
const SERVER_TYPES = new Set(['CHALLENGE', 'REGISTERED', 'AGENTS', 'PONG', 'ICE_SERVERS', 'ERROR']);
const ENVELOPE_KEYS = new Set(['type', 'id', 'from', 'to', 'ts', 'payload', 'sig']);
const REGISTER_KEYS = new Set(['type', 'did', 'nonce', 'aud', 'ts', 'meta', 'sig']);
/** Margin kept from time boundaries (freshness, replay expiry) where the oracle accepts either side. */
const TIME_MARGIN_MS = 2000;

type Obj = Record<string, unknown>;
const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const has = (o: Obj, k: string) => Object.prototype.hasOwnProperty.call(o, k);
const isTs = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= Number.MAX_SAFE_INTEGER;
const refOf = (o: Obj): string | null => (typeof o.id === 'string' && ID_PATTERN.test(o.id) ? o.id : null);
const optional = (o: Obj, k: string, ok: (v: unknown) => boolean) => !has(o, k) || ok(o[k]);
const isString = (v: unknown): v is string => typeof v === 'string';
const maxChars = (n: number) => (v: unknown) => typeof v === 'string' && v.length <= n;

/** An Ed25519 did:key by encoding (docs/protocol.md §2): 0xed 0x01 ‖ 32 bytes, base58btc. */
export function isEd25519DidKey(v: unknown): boolean {
  if (typeof v !== 'string' || !DID_SHAPE.test(v)) return false;
  try {
    const bytes = base58.decode(v.slice('did:key:z'.length));
    return bytes.length === 34 && bytes[0] === 0xed && bytes[1] === 0x01;
  } catch {
    return false;
  }
}

/**
 * Nesting past which the fuzzer neither signs nor expects a frame to verify. Recursive
 * serialisers overflow the stack somewhere past 3,000–5,000 levels, at a depth that depends on
 * the caller's stack; a fixed bound keeps the signer and the oracle in agreement.
 */
export const MAX_SIGNED_DEPTH = 2000;

/** RFC 8785 text of `o` without `sig`, or undefined when it cannot be canonicalised (±Infinity, too deep). */
export function canonicalWithoutSig(o: Obj): string | undefined {
  if (depthOf(o) > MAX_SIGNED_DEPTH) return undefined;
  const copy: Obj = {};
  for (const k of Object.keys(o)) if (k !== 'sig') Object.defineProperty(copy, k, { value: o[k], enumerable: true, writable: true, configurable: true });
  try {
    return jcs(copy);
  } catch {
    return undefined;
  }
}

/** Nesting depth of a parsed JSON value (iterative: values can be 30,000 levels deep). */
export function depthOf(value: unknown): number {
  let max = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, d] = stack.pop() as [unknown, number];
    if (d > max) max = d;
    if (typeof v === 'object' && v !== null) for (const child of Object.values(v)) stack.push([child, d + 1]);
  }
  return max;
}


/**
 * Depth past which a recursive serialiser (JSON.stringify, a recursive JCS) may run out of stack
 * in the gateway. Below it every outcome must be exact; above it, the stack overflow answers are
 * tolerated as deviations.
 */
export const DEEP = 1000;

/**
 * §1: an oversize frame closes with 1009. The gateway's ws error handler terminates the socket at
 * once, so while a client is still sending a large frame the TCP connection is reset and the
 * client sees 1006 instead (src/ws/plugin.ts errorHandler; reproduced with a gateway in another
 * process from a few MB on).
 */
const OVERSIZE: Expectation = [{ outcome: { kind: 'close', code: 1009 } }, { outcome: { kind: 'close', code: 1006 }, deviation: 'oversize-closed-1006-not-1009' }];

const error = (code: string, ref: string | null, deviation?: string): Alternative =>
  deviation ? { outcome: { kind: 'error', code, ref }, deviation } : { outcome: { kind: 'error', code, ref } };

/** Decodes bytes the way the gateway does (a BOM is kept); undefined when they are not valid UTF-8. */
function utf8(bytes: Buffer): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

/** Invalid UTF-8 in a text frame: the WebSocket layer closes with 1007, registered or not. */
const INVALID_UTF8: Expectation = [{ outcome: { kind: 'close', code: 1007 } }];
type ParsedText = { kind: 'json'; value: unknown; text: string } | { kind: 'invalid-utf8' } | { kind: 'not-json' };

/** A text frame decoded and parsed the way the gateway does it. */
function parseText(bytes: Buffer): ParsedText {
  const text = utf8(bytes);
  if (text === undefined) return { kind: 'invalid-utf8' };
  try {
    return { kind: 'json', value: JSON.parse(text) as unknown, text };
  } catch {
    return { kind: 'not-json' };
  }
}

/** JSON string literals (the unrolled-loop form: no backtracking per character) and structure. */
const TOKEN = /"[^"\\]*(?:\\.[^"\\]*)*"|[{}[\]:]/g;

/**
 * Duplicate keys (docs/protocol.md §1 as this gateway applies it, issue 13 §5): a text that repeats a
 * key, after unescaping, in any object is BAD_FRAME. Found here with a tokenizer of its own
 * (not src/protocol/duplicate-keys.ts) on text JSON.parse accepted. `idRepeated`: the top-level
 * object has `id` more than once, so no `id` is safe to reference (ref null).
 */
export function repeatedKeys(text: string): { repeated: boolean; idRepeated: boolean } {
  const objects: (Set<string> | null)[] = []; // null for an array
  let repeated = false;
  let idRepeated = false;
  let lastString = '""';
  for (const [token] of text.matchAll(TOKEN)) {
    if (token === '{') objects.push(new Set());
    else if (token === '[') objects.push(null);
    else if (token === '}' || token === ']') objects.pop();
    else if (token === ':') {
      const keys = objects[objects.length - 1];
      const key = JSON.parse(lastString) as string;
      if (!keys) continue; // not reached for valid JSON
      if (keys.has(key)) {
        repeated = true;
        if (objects.length === 1 && key === 'id') idRepeated = true;
      }
      keys.add(key);
    } else lastString = token;
  }
  return { repeated, idRepeated };
}

/** What a registered session must answer to one message (docs/protocol.md §1, §5–§8). */
export function expectRegistered(bytes: Buffer, binary: boolean, state: SessionState, now: number): Expectation {
  if (bytes.length > state.limits.maxFrameBytes) return OVERSIZE;
  if (binary) return [error('BAD_FRAME', null)];
  const parsed = parseText(bytes);
  if (parsed.kind === 'invalid-utf8') return INVALID_UTF8;
  if (parsed.kind === 'not-json' || !isObject(parsed.value)) return [error('BAD_FRAME', null)];
  const value = parsed.value;
  // Before `type`: with a repeated key, another parser may read another type.
  const repeated = repeatedKeys(parsed.text);
  if (repeated.repeated) return [error('BAD_FRAME', repeated.idRepeated ? null : refOf(value))];
  const type = value.type;
  if (typeof type !== 'string') return [error('BAD_FRAME', refOf(value))];
  if (SERVER_TYPES.has(type)) return [error('BAD_FRAME', refOf(value))];
  if (!CLIENT_TYPES.has(type)) return [error('UNKNOWN_TYPE', refOf(value))];
  // §5: a second REGISTER is BAD_FRAME; the gateway answers it without a ref (null is allowed).
  if (type === 'REGISTER') return [error('BAD_FRAME', null), error('BAD_FRAME', refOf(value))];
  if (type === 'PING') return expectPing(value);
  if (type === 'DISCOVER') return expectDiscover(value);
  if (type === 'GET_ICE_SERVERS') return expectIceServers(value);
  return expectSignal(value, state, now);
}

function onlyKeys(o: Obj, allowed: ReadonlySet<string>): boolean {
  return Object.keys(o).every((k) => allowed.has(k));
}

const optionalId = (o: Obj) => optional(o, 'id', (v) => v === null || (isString(v) && ID_PATTERN.test(v)));

function expectPing(o: Obj): Expectation {
  const ok = onlyKeys(o, new Set(['type', 'id'])) && optionalId(o);
  if (!ok) return [error('BAD_FRAME', refOf(o))];
  return [{ outcome: { kind: 'pong', ref: (o.id as string | null | undefined) ?? null } }];
}

/** GET_ICE_SERVERS has PING's shape; the answer is ICE_SERVERS (an empty list when none are configured). */
function expectIceServers(o: Obj): Expectation {
  const ok = onlyKeys(o, new Set(['type', 'id'])) && optionalId(o);
  if (!ok) return [error('BAD_FRAME', refOf(o))];
  return [{ outcome: { kind: 'ice_servers', ref: (o.id as string | null | undefined) ?? null } }];
}

function expectDiscover(o: Obj): Expectation {
  const ok =
    onlyKeys(o, new Set(['type', 'id', 'capability', 'limit'])) &&
    optionalId(o) &&
    optional(o, 'capability', (v) => isString(v) && CAPABILITY_PATTERN.test(v)) &&
    optional(o, 'limit', (v) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 1 && v <= 1000);
  if (!ok) return [error('BAD_FRAME', refOf(o))];
  return [{ outcome: { kind: 'agents', ref: (o.id as string | null | undefined) ?? null } }];
}

const nullableString = (v: unknown) => v === null || isString(v);

function payloadOk(type: string, o: Obj): boolean {
  if (type === 'BYE' && !has(o, 'payload')) return true;
  if (!has(o, 'payload')) return false;
  const p = o.payload;
  if (!isObject(p)) return false;
  switch (type) {
    case 'OFFER':
    case 'ANSWER':
      return has(p, 'sdp') && maxChars(32768)(p.sdp);
    case 'ICE':
      return (
        has(p, 'candidate') &&
        isString(p.candidate) &&
        optional(p, 'sdpMid', nullableString) &&
        optional(p, 'sdpMLineIndex', (v) => v === null || (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0)) &&
        optional(p, 'usernameFragment', nullableString)
      );
    default:
      return optional(p, 'reason', maxChars(256));
  }
}

function expectSignal(o: Obj, state: SessionState, now: number): Expectation {
  const type = o.type as string;
  const schemaOk =
    onlyKeys(o, ENVELOPE_KEYS) &&
    isString(o.id) &&
    ID_PATTERN.test(o.id) &&
    isString(o.from) &&
    DID_SHAPE.test(o.from) &&
    isEd25519DidKey(o.to) &&
    isTs(o.ts) &&
    payloadOk(type, o) &&
    isString(o.sig) &&
    SIG_PATTERN.test(o.sig);
  if (!schemaOk) return [error('BAD_FRAME', refOf(o))];
  const id = o.id as string;
  if (o.from !== state.did) return [error('SENDER_MISMATCH', id)];
  const skew = Math.abs(now - (o.ts as number));
  const { clockSkewMs } = state.limits;
  if (skew > clockSkewMs + TIME_MARGIN_MS) return [error('STALE', id)];
  const afterStale = expectVerified(o, state, now, id);
  if (skew >= clockSkewMs - TIME_MARGIN_MS) return [...afterStale, error('STALE', id)];
  return afterStale;
}

/** From the signature check on (§4): signature → replay → target online. */
function expectVerified(o: Obj, state: SessionState, now: number, id: string): Expectation {
  const canonical = canonicalWithoutSig(o);
  if (canonical === undefined) {
    // Not canonicalisable (a non-finite number, or nesting too deep for a recursive serialiser):
    // no signature can cover it. BAD_SIGNATURE or BAD_FRAME with the id are both fair answers.
    return [error('BAD_SIGNATURE', id), error('BAD_FRAME', id)];
  }
  // Deeper than a recursive serialiser's stack may go: the gateway may find no canonical form.
  const deep = depthOf(o) > DEEP ? [error('BAD_FRAME', id)] : [];
  if (!state.book.verifies(o.sig as string, state.did, canonical)) return [error('BAD_SIGNATURE', id), ...deep];
  const key = `${state.did}\n${id}`;
  const admit = { key, expiry: (o.ts as number) + state.limits.clockSkewMs };
  const to = o.to as string;
  const delivered: Alternative = state.online.has(to)
    ? { outcome: { kind: 'deliver', to }, admit }
    : { outcome: { kind: 'error', code: 'AGENT_NOT_FOUND', ref: id }, admit };
  const seen = state.replay.get(key);
  if (seen === undefined || seen < now - TIME_MARGIN_MS) return [delivered, ...deep];
  if (seen >= now + TIME_MARGIN_MS) return [error('REPLAY', id), ...deep];
  return [error('REPLAY', id), delivered, ...deep];
}

export interface AuthState {
  /** This connection's CHALLENGE nonce. */
  nonce: string;
  book: SignatureBook;
  limits: GatewayLimits;
}

/**
 * What a connection that has not registered yet must answer (docs/protocol.md §4): REGISTERED for a
 * valid REGISTER; AUTH_FAILED + 4401 for any bad REGISTER; AUTH_REQUIRED + 4401 for anything else,
 * a REGISTER with a repeated key included (the gateway cannot read it as a REGISTER).
 */
export function expectUnregistered(bytes: Buffer, binary: boolean, state: AuthState, now: number): Expectation {
  if (bytes.length > state.limits.maxFrameBytes) return OVERSIZE;
  const required: Expectation = [{ outcome: { kind: 'close', code: 4401, error: 'AUTH_REQUIRED' } }];
  if (binary) return required;
  const parsed = parseText(bytes);
  if (parsed.kind === 'invalid-utf8') return INVALID_UTF8;
  if (parsed.kind === 'not-json' || !isObject(parsed.value) || parsed.value.type !== 'REGISTER') return required;
  // Repeated keys make a frame unreadable, REGISTER included: like any frame that is not a REGISTER.
  if (repeatedKeys(parsed.text).repeated) return required;
  const value = parsed.value;
  const failed: Alternative = { outcome: { kind: 'close', code: 4401, error: 'AUTH_FAILED' } };
  const o = value;
  const schemaOk =
    onlyKeys(o, REGISTER_KEYS) &&
    isString(o.did) &&
    isString(o.nonce) &&
    isString(o.aud) &&
    isTs(o.ts) &&
    optional(o, 'meta', metaOk) &&
    isString(o.sig) &&
    SIG_PATTERN.test(o.sig);
  // A meta too deep for JSON.stringify (the 4096-byte rule): AUTH_FAILED + 4401 like any bad REGISTER.
  const deepMeta: Expectation = [];
  if (!schemaOk) return [failed, ...deepMeta];
  if (o.nonce !== state.nonce || o.aud !== state.limits.gatewayId) return [failed, ...deepMeta];
  const skew = Math.abs(now - (o.ts as number));
  if (skew > state.limits.clockSkewMs + TIME_MARGIN_MS) return [failed, ...deepMeta];
  if (!isEd25519DidKey(o.did)) return [failed, ...deepMeta];
  const canonical = canonicalWithoutSig(o);
  if (canonical === undefined) return [failed];
  const fresh = skew < state.limits.clockSkewMs - TIME_MARGIN_MS;
  if (!state.book.verifies(o.sig as string, o.did as string, canonical)) return [failed, ...deepMeta];
  return fresh ? [{ outcome: { kind: 'registered' } }, ...deepMeta] : [{ outcome: { kind: 'registered' } }, failed];
}

/** §3: meta is an object; name ≤ 64 chars; ≤ 32 capabilities of the pattern; ≤ 4096 bytes as JSON. */
function metaOk(meta: unknown): boolean {
  if (!isObject(meta)) return false;
  if (!optional(meta, 'name', maxChars(64))) return false;
  const caps = meta.capabilities;
  if (has(meta, 'capabilities') && !(Array.isArray(caps) && caps.length <= 32 && caps.every((c) => isString(c) && CAPABILITY_PATTERN.test(c)))) {
    return false;
  }
  // The 4096-byte rule is over meta as JSON; an own "__proto__" key is not part of the stored meta.
  const stored: Obj = {};
  for (const k of Object.keys(meta)) if (k !== '__proto__') stored[k] = meta[k];
  try {
    return Buffer.byteLength(JSON.stringify(stored), 'utf8') <= 4096;
  } catch {
    return false; // too deep to serialise: the gateway cannot measure it either
  }
}
