/**
 * fast-check generators of hostile frames, shared by the vitest fuzz suite
 * (test/fuzz/frames.fuzz.test.ts) and the long run (scripts/fuzz-long.ts).
 *
 * An arbitrary produces a *recipe* — pure data: which fields to break and how — and
 * {@link materialize} turns it into bytes for one connection at send time (its DIDs, a fresh id,
 * the current clock, a real signature). Recipes shrink well, and the same recipe can be replayed
 * against another connection.
 *
 * Signing goes through {@link Signer} over the canonical text of `canonicalize` (an RFC 8785
 * implementation independent of src/protocol/canonical.ts), and every signature is recorded in
 * the oracle's SignatureBook.
 */
import { createPrivateKey, generateKeyPairSync, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { base58 } from '@scure/base';
import fc from 'fast-check';
import { malleate } from '../helpers/agent.js';
import { canonicalWithoutSig, type SignatureBook } from './oracle.js';
import { arr, deepArrayText, deepObjectText, entry, fromValue, keyName, lit, obj, val, write, type Raw, type RawEntry } from './raw-json.js';

// --- keys ------------------------------------------------------------------------------------

/** A signing identity: Ed25519 via node:crypto (fast enough for millions of frames). */
export interface Signer {
  readonly did: string;
  /** base64url (no padding) Ed25519 signature of `message`. */
  sign(message: Uint8Array): string;
}

/** did:key of a 32-byte Ed25519 public key (docs/protocol.md §2), written here without src/. */
export function didOf(publicKey: Uint8Array): string {
  const bytes = new Uint8Array(34);
  bytes[0] = 0xed;
  bytes[1] = 0x01;
  bytes.set(publicKey, 2);
  return `did:key:z${base58.encode(bytes)}`;
}

function signerOf(privateKey: KeyObject, publicKey: Uint8Array): Signer {
  return {
    did: didOf(publicKey),
    sign: (message) => cryptoSign(null, message, privateKey).toString('base64url'),
  };
}

/** A fresh random identity. */
export function newSigner(): Signer {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  return signerOf(privateKey, Buffer.from(publicKey.export({ format: 'jwk' }).x as string, 'base64url'));
}

/** The identity of a 32-byte secret key (seed) and its public key, e.g. a TestAgent's. */
export function signerFromSeed(secretKey: Uint8Array, publicKey: Uint8Array): Signer {
  const privateKey = createPrivateKey({
    key: { kty: 'OKP', crv: 'Ed25519', d: Buffer.from(secretKey).toString('base64url'), x: Buffer.from(publicKey).toString('base64url') },
    format: 'jwk',
  });
  return signerOf(privateKey, publicKey);
}

const hexDid = (hex: string) => didOf(Buffer.from(hex, 'hex'));

/** DIDs that are not usable agent ids although some look like one (docs/protocol.md §2, §13). */
export const SPECIAL_DIDS = {
  /** An X25519 did:key (multicodec 0xec): not an Ed25519 DID. */
  x25519: 'did:key:z6LSeu9HkTHSfLLeUs2nnzUSNedgDUevfNQgQjQC23ZCit6F',
  /** The identity point: R = identity, S = 0 "verifies" any message under OpenSSL. */
  identity: hexDid('01' + '00'.repeat(31)),
  /** The identity's non-canonical encoding (y = p + 1). */
  identityNonCanonical: hexDid('ee' + 'ff'.repeat(30) + '7f'),
  /** (0, −1): order 2. */
  order2: hexDid('ec' + 'ff'.repeat(30) + '7f'),
  /** y = 0: an order-4 point. */
  order4: hexDid('00'.repeat(32)),
};

/** R = identity, S = 0: the signature every small-order key "accepts" (docs/protocol.md §13). */
export const IDENTITY_FORGERY_SIG = Buffer.concat([Buffer.from('01' + '00'.repeat(31), 'hex'), Buffer.alloc(32)]).toString('base64url');

// --- recipes ---------------------------------------------------------------------------------

/** A value resolved when the recipe is materialised. */
export type Ph =
  | 'selfDid'
  | 'peerDid'
  | 'offlineDid'
  | 'x25519Did'
  | 'identityDid'
  | 'identityNonCanonicalDid'
  | 'order2Did'
  | 'order4Did'
  | 'didCaseFlip'
  | 'now'
  | 'nowPlus1'
  | 'past'
  | 'future'
  | 'nowFloat'
  | 'nowDotZero'
  | 'nowExp'
  | 'nowString'
  | 'uniqueId'
  | 'nonce'
  | 'otherNonce'
  | 'aud'
  | 'sigPadded'
  | 'sigMalleated'
  | 'sigFlipLast'
  | 'sigTruncated'
  | 'sigOtherKey'
  | 'sigIdentityForgery';

export type Val = Raw | { ph: Ph };

export type Edit =
  /** Removes every entry named `path`'s last key. */
  | { op: 'del'; path: string[] }
  /** Sets the value of every entry named so (adds the entry when missing). */
  | { op: 'set'; path: string[]; value: Val }
  /** Adds an entry (an extra field or a duplicate key) at the end, or first with `first`. */
  | { op: 'add'; path: string[]; key: string; value: Val; first?: boolean }
  /** Rewrites a key's literal with \u escapes: same name once parsed, other bytes on the wire. */
  | { op: 'escapeKey'; path: string[] };

export type SignerChoice = 'self' | 'other' | 'none';
export type Target = 'peerDid' | 'selfDid' | 'offlineDid';

/** A signed signaling envelope (docs/protocol.md §5) with edits before and after signing. */
export interface SignalRecipe {
  kind: 'signal';
  type: 'OFFER' | 'ANSWER' | 'ICE' | 'BYE';
  to: Target;
  /** Extra payload entries (weird keys and values; signed like the rest). */
  extras: RawEntry[];
  /** Edits applied before signing: the signature covers them. */
  pre: Edit[];
  signer: SignerChoice;
  /** A well-shaped signature that is not one (used when signer is 'none'). */
  fakeSig: string;
  /** Edits applied after signing: they break the signature (or the shape). */
  post: Edit[];
  space: string;
  /** Send the same bytes twice (the second is a replay). */
  repeat: boolean;
}

/** Any text (or binary) message, from structured JSON to garbage. */
export interface TextRecipe {
  kind: 'text';
  raw: Raw | string;
  binary: boolean;
  space: string;
}

/** Raw bytes, e.g. invalid UTF-8 in a text frame. */
export interface BytesRecipe {
  kind: 'bytes';
  bytes: number[];
  binary: boolean;
}

/** A REGISTER answering this connection's CHALLENGE (docs/protocol.md §4), with edits. */
export interface RegisterRecipe {
  kind: 'register';
  meta: Raw | null;
  pre: Edit[];
  signer: SignerChoice | 'identityForgery';
  fakeSig: string;
  post: Edit[];
  space: string;
}

export type Recipe = SignalRecipe | TextRecipe | BytesRecipe | RegisterRecipe;

/** Everything materialisation needs from the connection and the moment. */
export interface BuildContext {
  self: Signer;
  /** Another identity (offline): forged and mismatched frames. */
  other: Signer;
  peerDid: string;
  offlineDid: string;
  now: number;
  clockSkewMs: number;
  book: SignatureBook;
  uniqueId: () => string;
  /** REGISTER only: this connection's CHALLENGE. */
  nonce?: string;
  aud?: string;
}

/** One message to send. */
export interface Message {
  bytes: Buffer;
  binary: boolean;
}

// --- materialisation ---------------------------------------------------------------------------

const BASE_PAYLOAD: Record<SignalRecipe['type'], Record<string, unknown> | null> = {
  OFFER: { type: 'offer', sdp: 'v=0\r\no=- 46117314 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n' },
  ANSWER: { type: 'answer', sdp: 'v=0\r\no=- 46117315 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n' },
  ICE: { candidate: 'candidate:842163049 1 udp 1677729535 203.0.113.7 49203 typ srflx', sdpMid: '0', sdpMLineIndex: 0 },
  BYE: { reason: 'done' },
};

function resolve(v: Val, ctx: BuildContext, currentSig: string | undefined): Raw {
  if (!('ph' in v)) return v;
  const sig = currentSig ?? IDENTITY_FORGERY_SIG;
  switch (v.ph) {
    case 'selfDid':
      return val(ctx.self.did);
    case 'peerDid':
      return val(ctx.peerDid);
    case 'offlineDid':
      return val(ctx.offlineDid);
    case 'x25519Did':
      return val(SPECIAL_DIDS.x25519);
    case 'identityDid':
      return val(SPECIAL_DIDS.identity);
    case 'identityNonCanonicalDid':
      return val(SPECIAL_DIDS.identityNonCanonical);
    case 'order2Did':
      return val(SPECIAL_DIDS.order2);
    case 'order4Did':
      return val(SPECIAL_DIDS.order4);
    case 'didCaseFlip': {
      // Same shape, one base58 character changed: another (probably invalid) key.
      const d = ctx.self.did;
      const last = d.at(-1) as string;
      return val(d.slice(0, -1) + (last === 'a' ? 'b' : 'a'));
    }
    case 'now':
      return val(ctx.now);
    case 'nowPlus1':
      return val(ctx.now + 1);
    case 'past':
      return val(ctx.now - ctx.clockSkewMs - 10_000);
    case 'future':
      return val(ctx.now + ctx.clockSkewMs + 10_000);
    case 'nowFloat':
      return val(ctx.now + 0.5);
    case 'nowDotZero':
      return lit(`${ctx.now}.0`);
    case 'nowExp':
      return lit(`${ctx.now / 1000}e3`);
    case 'nowString':
      return val(String(ctx.now));
    case 'uniqueId':
      return val(ctx.uniqueId());
    case 'nonce':
      return val(ctx.nonce ?? '');
    case 'otherNonce':
      return val(Buffer.alloc(32, 7).toString('base64url'));
    case 'aud':
      return val(ctx.aud ?? '');
    case 'sigPadded':
      return val(`${sig}==`);
    case 'sigMalleated':
      return val(malleate(sig));
    case 'sigFlipLast':
      return val(sig.slice(0, -1) + (sig.endsWith('B') ? 'C' : 'B'));
    case 'sigTruncated':
      return val(sig.slice(0, 85));
    case 'sigOtherKey':
      return val(ctx.other.sign(Buffer.from('not this frame')));
    case 'sigIdentityForgery':
      return val(IDENTITY_FORGERY_SIG);
  }
}

/** The (last, effective) object at `path`, as a mutable entry list, or undefined. */
function applyEdit(root: Raw, edit: Edit, ctx: BuildContext, sig: string | undefined): Raw {
  const go = (node: Raw, path: string[]): Raw => {
    if (!('obj' in node)) return node; // not an object any more: the edit has nowhere to go
    const [head, ...rest] = path;
    if (rest.length > 0) {
      // Descend into every entry so named (the parser keeps the last; all are edited alike).
      return obj(node.obj.map((e) => (keyName(e) === head ? { key: e.key, value: go(e.value, rest) } : e)));
    }
    const name = head as string;
    switch (edit.op) {
      case 'del':
        return obj(node.obj.filter((e) => keyName(e) !== name));
      case 'set': {
        const value = resolve(edit.value, ctx, sig);
        if (!node.obj.some((e) => keyName(e) === name)) return obj([...node.obj, entry(name, value)]);
        return obj(node.obj.map((e) => (keyName(e) === name ? { key: e.key, value } : e)));
      }
      case 'add': {
        const added = { key: edit.key, value: resolve(edit.value, ctx, sig) };
        return obj(edit.first ? [added, ...node.obj] : [...node.obj, added]);
      }
      case 'escapeKey':
        return obj(node.obj.map((e) => (keyName(e) === name ? { key: escapeKey(name), value: e.value } : e)));
    }
  };
  // 'add' edits address the object itself, the others a field of it.
  const path = edit.op === 'add' ? [...edit.path, ''] : edit.path;
  return go(root, path);
}

/** "\u0074\u0079…": a key literal with every character escaped. */
function escapeKey(name: string): string {
  return `"${[...name].map((c) => '\\u' + (c.codePointAt(0) as number).toString(16).padStart(4, '0').slice(-4)).join('')}"`;
}

function parseOrUndefined(text: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Signs the object `root` describes (as the gateway will parse it) and appends `sig`. A text
 * that does not parse, or cannot be canonicalised, gets `fakeSig` instead.
 */
function signAndAppend(root: Raw, signer: Signer | null, fakeSig: string, space: string, book: SignatureBook): { root: Raw; sig: string } {
  let sig = fakeSig;
  if (signer !== null) {
    // What the gateway sees is the UTF-8 round trip of the text (a lone surrogate written raw becomes U+FFFD).
    const parsed = parseOrUndefined(Buffer.from(write(root, space), 'utf8').toString('utf8'));
    const canonical = parsed === undefined ? undefined : canonicalWithoutSig(parsed);
    if (canonical !== undefined) {
      sig = signer.sign(Buffer.from(canonical, 'utf8'));
      book.add(sig, signer.did, canonical);
    }
  }
  const withSig = 'obj' in root ? obj([...root.obj, entry('sig', val(sig))]) : root;
  return { root: withSig, sig };
}

const pickSigner = (choice: SignerChoice | 'identityForgery', ctx: BuildContext): Signer | null =>
  choice === 'self' ? ctx.self : choice === 'other' ? ctx.other : null;

/** The bytes of one recipe for one connection, now. */
export function materialize(recipe: Recipe, ctx: BuildContext): Message[] {
  switch (recipe.kind) {
    case 'text': {
      const text = typeof recipe.raw === 'string' ? recipe.raw : write(recipe.raw, recipe.space);
      return [{ bytes: Buffer.from(text, 'utf8'), binary: recipe.binary }];
    }
    case 'bytes':
      return [{ bytes: Buffer.from(recipe.bytes), binary: recipe.binary }];
    case 'signal': {
      const payload = BASE_PAYLOAD[recipe.type];
      const base: RawEntry[] = [
        entry('type', val(recipe.type)),
        entry('id', val(ctx.uniqueId())),
        entry('from', val(ctx.self.did)),
        entry('to', resolve({ ph: recipe.to }, ctx, undefined)),
        entry('ts', val(ctx.now)),
      ];
      if (payload !== null) {
        const p = fromValue(payload) as { obj: RawEntry[] };
        base.push(entry('payload', obj([...p.obj, ...recipe.extras])));
      }
      let root: Raw = obj(base);
      for (const e of recipe.pre) root = applyEdit(root, e, ctx, undefined);
      const signed = signAndAppend(root, pickSigner(recipe.signer, ctx), recipe.fakeSig, recipe.space, ctx.book);
      root = signed.root;
      for (const e of recipe.post) root = applyEdit(root, e, ctx, signed.sig);
      const msg = { bytes: Buffer.from(write(root, recipe.space), 'utf8'), binary: false };
      return recipe.repeat ? [msg, msg] : [msg];
    }
    case 'register': {
      const base: RawEntry[] = [
        entry('type', val('REGISTER')),
        entry('did', val(ctx.self.did)),
        entry('nonce', val(ctx.nonce ?? '')),
        entry('aud', val(ctx.aud ?? '')),
        entry('ts', val(ctx.now)),
      ];
      if (recipe.meta !== null) base.push(entry('meta', recipe.meta));
      let root: Raw = obj(base);
      for (const e of recipe.pre) root = applyEdit(root, e, ctx, undefined);
      const fake = recipe.signer === 'identityForgery' ? IDENTITY_FORGERY_SIG : recipe.fakeSig;
      const signed = signAndAppend(root, pickSigner(recipe.signer, ctx), fake, recipe.space, ctx.book);
      root = signed.root;
      for (const e of recipe.post) root = applyEdit(root, e, ctx, signed.sig);
      return [{ bytes: Buffer.from(write(root, recipe.space), 'utf8'), binary: false }];
    }
  }
}

// --- arbitraries -----------------------------------------------------------------------------

/** Strings that break naive code: NUL, lone surrogates, bidi overrides, emoji, separators, names of Object.prototype members. */
export const EDGE_STRINGS = [
  '',
  '\u0000',
  '\uD800',
  '\uDFFF',
  '\uDBFF\uDFFF',
  'a\uD800b',
  '\uDC00\uD800',
  '\u200F',
  '\u200E',
  '\u202E',
  '\u202Eexe.txt',
  '\u2066\u2069',
  '\u2028',
  '\u2029',
  '\uFEFF',
  '\uFFFD',
  '\uFFFE',
  '\uFFFF',
  '😀',
  '👩‍👩‍👧‍👦',
  '🏳️‍🌈',
  'e\u0301',
  '\u{10FFFF}',
  '\u{E0001}',
  '\\',
  '"',
  "'",
  '\n',
  '\r\n',
  '\t',
  '\b',
  '\u001f',
  '\u007f',
  '\u0085',
  '</script><script>',
  '${process.exit()}',
  '%s%n%x',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'valueOf',
  'hasOwnProperty',
  '__defineGetter__',
  'null',
  'undefined',
  'NaN',
  '-0',
  'ＯＦＦＥＲ',
  'offer',
  'OFFER\u0000',
  ' OFFER',
  'did:key:z',
  'did:key:z6Mk',
] as const;

const anyCodeUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));

/** Weird but short strings (any code point, lone surrogates, the edge list). */
export const weirdString: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...EDGE_STRINGS) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 24 }) },
  { weight: 2, arbitrary: fc.string({ unit: anyCodeUnit, maxLength: 12 }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 24 }) },
);

/** Long strings around every length limit of the protocol (the frame may end up oversize). */
export const hugeString: fc.Arbitrary<string> = fc
  .tuple(fc.constantFrom('x', '😀', '\u0000', '\uD800', 'é', '\u202E'), fc.constantFrom(63, 64, 65, 255, 256, 257, 1000, 4097, 32767, 32768, 32769, 40000, 70000))
  .map(([c, n]) => c.repeat(Math.ceil(n / c.length)).slice(0, n));

/** Number literals at the edges of IEEE-754 and of the protocol's integers. */
export const NUMBER_LITERALS = [
  '0',
  '-0',
  '-0.0',
  '0.0',
  '1',
  '-1',
  '1.5',
  '1e308',
  '-1e308',
  '1.7976931348623157e308',
  '5e-324',
  '1e-400',
  '1e400',
  '-1e400',
  '9007199254740991',
  '9007199254740992',
  '9007199254740993',
  '-9007199254740993',
  '18446744073709551616',
  '123456789012345678901234567890',
  '1E+2',
  '1e2',
  '0.1e1',
  '2e53',
] as const;

export const numberRaw: fc.Arbitrary<Raw> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...NUMBER_LITERALS).map(lit) },
  { weight: 1, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }).map(val) },
  { weight: 1, arbitrary: fc.integer().map(val) },
  { weight: 1, arbitrary: fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map((b) => lit(String(b))) },
);

/** Keys that target prototypes or collide with protocol fields. */
export const weirdKey: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', '', '\u0000', 'sig', 'type', 'id', 'to', 'from', 'payload', 'ts', 'Type', 'TYPE', 'x') },
  { weight: 1, arbitrary: weirdString },
);

/** Objects shaped to pollute prototypes if anything merges them naively. */
export const POLLUTERS: readonly RawEntry[] = [
  entry('__proto__', obj([entry('polluted', val(1))])),
  entry('constructor', obj([entry('prototype', obj([entry('polluted', val(1))]))])),
  entry('prototype', obj([entry('polluted', val(1))])),
  entry('__proto__', obj([entry('capabilities', val(5)), entry('isAdmin', val(true)), entry('sdp', val(7))])),
];

const scalarRaw: fc.Arbitrary<Raw> = fc.oneof(numberRaw, weirdString.map(val), fc.constantFrom(true, false, null).map(val));

/** JSON values with weird keys, duplicates and edge numbers, a few levels deep. */
export const weirdValue: fc.Arbitrary<Raw> = fc.letrec<{ value: Raw; array: Raw; object: Raw }>((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, scalarRaw, tie('array'), tie('object')),
  array: fc.array(tie('value'), { maxLength: 4 }).map(arr),
  object: fc
    .tuple(fc.array(fc.tuple(weirdKey, tie('value')), { maxLength: 4 }), fc.option(fc.constantFrom(...POLLUTERS), { freq: 4 }))
    .map(([es, polluter]) => obj([...es.map(([k, v]) => entry(k, v)), ...(polluter ? [polluter] : [])])),
})).value;

/** Values of the wrong type for any field. */
const wrongType: fc.Arbitrary<Raw> = fc.oneof(
  numberRaw,
  fc.constantFrom(null, true, false, [], {}, [1, 'a'], { a: 1 }).map(val),
  weirdValue,
);

/** Deeply nested JSON text (arrays 2 bytes a level, objects 6), up to the 64 KiB frame limit. */
export const deepRaw: fc.Arbitrary<Raw> = fc
  .tuple(fc.constantFrom('array', 'object'), fc.constantFrom(10, 100, 1000, 3000, 5000, 10_000, 20_000, 30_000))
  .map(([kind, depth]) => lit(kind === 'array' ? deepArrayText(depth, '1') : deepObjectText(Math.min(depth, 10_000))));

/** Any value for a field: wrong types, weird strings, huge strings, deep nesting. */
export const fieldValue: fc.Arbitrary<Val> = fc.oneof(
  { weight: 4, arbitrary: wrongType },
  { weight: 4, arbitrary: weirdString.map(val) },
  { weight: 1, arbitrary: hugeString.map(val) },
  { weight: 1, arbitrary: deepRaw },
);

const idValue: fc.Arbitrary<Val> = fc.oneof(
  { weight: 2, arbitrary: fieldValue },
  { weight: 2, arbitrary: fc.stringMatching(/^[A-Za-z0-9._:-]{1,64}$/).map(val) },
  { weight: 1, arbitrary: fc.constantFrom('x'.repeat(64), 'x'.repeat(65), 'a b', 'a/b', '__proto__', 'constructor', '', 'id\n').map(val) },
  { weight: 1, arbitrary: fc.constant<Val>({ ph: 'uniqueId' }) },
);

const didValue: fc.Arbitrary<Val> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom<Ph>('selfDid', 'peerDid', 'offlineDid', 'x25519Did', 'identityDid', 'identityNonCanonicalDid', 'order2Did', 'order4Did', 'didCaseFlip').map((ph) => ({ ph })) },
  { weight: 1, arbitrary: fc.stringMatching(/^did:key:z[1-9A-HJ-NP-Za-km-z]{47}$/).map(val) },
  { weight: 1, arbitrary: fc.stringMatching(/^did:key:z6Mk[1-9A-HJ-NP-Za-km-z]{40,48}$/).map(val) },
  { weight: 2, arbitrary: fieldValue },
);

const tsValue: fc.Arbitrary<Val> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom<Ph>('now', 'past', 'future', 'nowFloat', 'nowDotZero', 'nowExp', 'nowString', 'nowPlus1').map((ph) => ({ ph })) },
  { weight: 2, arbitrary: numberRaw },
  { weight: 1, arbitrary: fieldValue },
);

const typeValue: fc.Arbitrary<Val> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('OFFER', 'ANSWER', 'ICE', 'BYE', 'PING', 'DISCOVER', 'GET_ICE_SERVERS', 'REGISTER').map(val) },
  { weight: 2, arbitrary: fc.constantFrom('CHALLENGE', 'REGISTERED', 'AGENTS', 'PONG', 'ICE_SERVERS', 'ERROR').map(val) },
  { weight: 2, arbitrary: fc.constantFrom('offer', 'Offer', 'HELLO', '', 'OFFER ', 'OFF\u0000ER', '__proto__', 'constructor', 'toString').map(val) },
  { weight: 2, arbitrary: fieldValue },
);

/** Base64url strings of a signature's shape (86 chars, canonical last character) that are not signatures. */
export const fakeSig: fc.Arbitrary<string> = fc
  .tuple(fc.stringMatching(/^[A-Za-z0-9_-]{85}$/), fc.constantFrom('A', 'Q', 'g', 'w'))
  .map(([body, last]) => body + last);

const sigValue: fc.Arbitrary<Val> = fc.oneof(
  { weight: 2, arbitrary: fakeSig.map(val) },
  { weight: 3, arbitrary: fc.constantFrom<Ph>('sigPadded', 'sigMalleated', 'sigFlipLast', 'sigTruncated', 'sigOtherKey', 'sigIdentityForgery').map((ph) => ({ ph })) },
  { weight: 2, arbitrary: fieldValue },
  { weight: 1, arbitrary: fc.constantFrom(`${'A'.repeat(85)}B`, `${'A'.repeat(87)}`, '='.repeat(86), `${'+'.repeat(85)}A`, `${'/'.repeat(85)}A`).map(val) },
);

const ENVELOPE_FIELDS = ['type', 'id', 'from', 'to', 'ts', 'payload', 'sig'] as const;
const PAYLOAD_FIELDS = ['sdp', 'type', 'candidate', 'sdpMid', 'sdpMLineIndex', 'usernameFragment', 'reason'] as const;

const valueFor = (field: string): fc.Arbitrary<Val> => {
  switch (field) {
    case 'type':
      return typeValue;
    case 'id':
      return idValue;
    case 'from':
    case 'to':
      return didValue;
    case 'ts':
      return tsValue;
    case 'sig':
      return sigValue;
    default:
      return fieldValue;
  }
};

const fieldEdit = (fields: readonly string[], prefix: string[]): fc.Arbitrary<Edit> =>
  fc.constantFrom(...fields).chain((field) =>
    fc.oneof(
      { weight: 1, arbitrary: fc.constant<Edit>({ op: 'del', path: [...prefix, field] }) },
      { weight: 4, arbitrary: valueFor(field).map<Edit>((value) => ({ op: 'set', path: [...prefix, field], value })) },
      // A duplicate key: first (the original, last, wins) or last (the new one wins).
      {
        weight: 1,
        arbitrary: fc.tuple(valueFor(field), fc.boolean()).map<Edit>(([value, first]) => ({ op: 'add', path: prefix, key: JSON.stringify(field), value, first })),
      },
      { weight: 1, arbitrary: fc.constant<Edit>({ op: 'escapeKey', path: [...prefix, field] }) },
    ),
  );

/** An extra top-level or payload entry: unknown fields, prototype keys, deep values. */
const extraEdit = (prefix: string[]): fc.Arbitrary<Edit> =>
  fc.oneof(
    fc.tuple(weirdKey, fc.oneof(weirdValue, deepRaw)).map<Edit>(([k, value]) => ({ op: 'add', path: prefix, key: JSON.stringify(k), value })),
    fc.constantFrom(...POLLUTERS).map<Edit>((e) => ({ op: 'add', path: prefix, key: e.key, value: e.value })),
  );

const preEdit: fc.Arbitrary<Edit> = fc.oneof(
  { weight: 5, arbitrary: fieldEdit(ENVELOPE_FIELDS.filter((f) => f !== 'sig'), []) },
  { weight: 3, arbitrary: fieldEdit(PAYLOAD_FIELDS, ['payload']) },
  { weight: 2, arbitrary: extraEdit([]) },
  { weight: 2, arbitrary: extraEdit(['payload']) },
);

/** After signing: break the signature, or the shape, or tamper with a signed field. */
const postEdit: fc.Arbitrary<Edit> = fc.oneof(
  { weight: 3, arbitrary: fieldEdit(['sig'], []) },
  {
    weight: 3,
    arbitrary: fc.constantFrom<Edit>(
      { op: 'set', path: ['payload', 'sdp'], value: val('tampered') },
      { op: 'set', path: ['payload', 'candidate'], value: val('tampered') },
      { op: 'set', path: ['payload', 'reason'], value: val('tampered') },
      { op: 'set', path: ['payload', 'extra'], value: val(1) },
      { op: 'set', path: ['ts'], value: { ph: 'nowPlus1' } },
      { op: 'set', path: ['id'], value: { ph: 'uniqueId' } },
      { op: 'set', path: ['to'], value: { ph: 'offlineDid' } },
      { op: 'set', path: ['to'], value: { ph: 'selfDid' } },
      // Whitespace-free rewrites that keep the meaning (and so the signature).
      { op: 'escapeKey', path: ['payload'] },
      { op: 'escapeKey', path: ['type'] },
    ),
  },
  { weight: 1, arbitrary: fieldEdit(ENVELOPE_FIELDS, []) },
  { weight: 1, arbitrary: extraEdit([]) },
);

const spaceArb = fc.constantFrom('', '', '', ' ', '\n\t ', '\r\n');

/** Signed envelopes, mostly with one field broken. */
export const signalRecipe: fc.Arbitrary<SignalRecipe> = fc.record({
  kind: fc.constant('signal' as const),
  type: fc.constantFrom('OFFER', 'ANSWER', 'ICE', 'BYE'),
  to: fc.constantFrom<Target>('peerDid', 'peerDid', 'peerDid', 'peerDid', 'selfDid', 'offlineDid'),
  extras: fc.array(
    fc.oneof(
      { weight: 3, arbitrary: fc.tuple(weirdKey, weirdValue).map(([k, v]) => entry(k, v)) },
      { weight: 1, arbitrary: fc.constantFrom(...POLLUTERS) },
    ),
    { maxLength: 3 },
  ),
  pre: fc.oneof({ weight: 1, arbitrary: fc.constant<Edit[]>([]) }, { weight: 4, arbitrary: fc.array(preEdit, { minLength: 1, maxLength: 2 }) }),
  signer: fc.constantFrom<SignerChoice>('self', 'self', 'self', 'self', 'self', 'other', 'none'),
  fakeSig,
  post: fc.oneof({ weight: 3, arbitrary: fc.constant<Edit[]>([]) }, { weight: 1, arbitrary: fc.array(postEdit, { minLength: 1, maxLength: 1 }) }),
  space: spaceArb,
  repeat: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
});

const capabilityValue: fc.Arbitrary<Raw> = fc.oneof(
  fc.stringMatching(/^[a-z0-9._:-]{1,64}$/).map(val),
  fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'vision', 'Vision', '', 'a'.repeat(65)).map(val),
  wrongType,
);

/** Random frames with a `type`: PING and DISCOVER variants, server-only and unknown types, extra fields. */
const typedObject: fc.Arbitrary<Raw> = fc
  .record({
    type: typeValue,
    id: fc.option(idValue, { freq: 3 }),
    capability: fc.option(capabilityValue, { freq: 2 }),
    limit: fc.option(fc.oneof(fc.integer({ min: -5, max: 1005 }).map(val), numberRaw), { freq: 2 }),
    extras: fc.array(fc.tuple(weirdKey, weirdValue), { maxLength: 2 }),
    polluter: fc.option(fc.constantFrom(...POLLUTERS), { freq: 5 }),
  })
  .map(({ type, id, capability, limit, extras, polluter }) => {
    const es: RawEntry[] = [entry('type', 'ph' in type ? val('PING') : type)];
    if (id !== null) es.push(entry('id', 'ph' in id ? val('q-uniq') : id));
    if (capability !== null) es.push(entry('capability', capability));
    if (limit !== null) es.push(entry('limit', limit));
    for (const [k, v] of extras) es.push(entry(k, v));
    if (polluter) es.push(polluter);
    return obj(es);
  });

const validPingDiscover: fc.Arbitrary<Raw> = fc.oneof(
  fc.option(fc.stringMatching(/^[A-Za-z0-9._:-]{1,64}$/), { nil: undefined }).map((id) => fromValue(id === undefined ? { type: 'PING' } : { type: 'PING', id })),
  fc.constant(fromValue({ type: 'PING', id: null })),
  fc.option(fc.stringMatching(/^[A-Za-z0-9._:-]{1,64}$/), { nil: undefined }).map((id) => fromValue(id === undefined ? { type: 'GET_ICE_SERVERS' } : { type: 'GET_ICE_SERVERS', id })),
  fc
    .record({ id: fc.option(fc.stringMatching(/^[A-Za-z0-9._:-]{1,64}$/), { nil: undefined }), capability: fc.option(fc.stringMatching(/^[a-z0-9._:-]{1,64}$/), { nil: undefined }), limit: fc.option(fc.integer({ min: 1, max: 1000 }), { nil: undefined }) }, { requiredKeys: [] })
    .map((r) => fromValue({ type: 'DISCOVER', ...Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)) })),
);

/** Anything at all: garbage text, JSON of every type, typed objects, deep nesting, binary. */
export const textRecipe: fc.Arbitrary<TextRecipe> = fc.oneof(
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 64 }).map<TextRecipe>((raw) => ({ kind: 'text', raw, binary: false, space: '' })) },
  { weight: 2, arbitrary: fc.json({ maxDepth: 3 }).map<TextRecipe>((raw) => ({ kind: 'text', raw, binary: false, space: '' })) },
  { weight: 1, arbitrary: fc.constantFrom('{', '{"type":', '{"type":"PING"', '[', 'null', '""', '"PING"', '[{"type":"PING"}]', '{"type":"PING",}', "{'type':'PING'}", '{"type":"PING"}x', 'NaN', '{"type":"PING","id":"a"}{"type":"PING"}', '\uFEFF{"type":"PING"}', '{"type":"PING"}\u0000', ' {"type" : "PING" } ').map<TextRecipe>((raw) => ({ kind: 'text', raw, binary: false, space: '' })) },
  { weight: 6, arbitrary: fc.tuple(typedObject, spaceArb).map<TextRecipe>(([raw, space]) => ({ kind: 'text', raw, binary: false, space })) },
  { weight: 2, arbitrary: validPingDiscover.map<TextRecipe>((raw) => ({ kind: 'text', raw, binary: false, space: '' })) },
  { weight: 1, arbitrary: deepRaw.map<TextRecipe>((raw) => ({ kind: 'text', raw, binary: false, space: '' })) },
  { weight: 1, arbitrary: deepRaw.map<TextRecipe>((raw) => ({ kind: 'text', raw: obj([entry('type', val('PING')), entry('id', val('deep')), entry('x', raw)]), binary: false, space: '' })) },
  { weight: 1, arbitrary: fc.oneof(typedObject, validPingDiscover).map<TextRecipe>((raw) => ({ kind: 'text', raw, binary: true, space: '' })) },
);

export const bytesRecipe: fc.Arbitrary<BytesRecipe> = fc.oneof(
  fc.uint8Array({ maxLength: 64 }).map<BytesRecipe>((b) => ({ kind: 'bytes', bytes: [...b], binary: true })),
  // Invalid UTF-8 in a text frame: a lone continuation byte, an overlong encoding, an encoded surrogate, 0xFF.
  fc
    .constantFrom([0x80], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xff], [0xc3, 0x28], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82])
    .map<BytesRecipe>((bad) => ({ kind: 'bytes', bytes: [...Buffer.from('{"type":"PING","id":"'), ...bad, ...Buffer.from('"}')], binary: false })),
);

/** The mix a registered session gets (closing cases are sent on throwaway connections by the harness). */
export const registeredRecipe: fc.Arbitrary<Recipe> = fc.oneof(
  { weight: 6, arbitrary: signalRecipe },
  { weight: 4, arbitrary: textRecipe },
  { weight: 1, arbitrary: bytesRecipe },
);

const metaValue: fc.Arbitrary<Raw> = fc.oneof(
  fc.record({ name: fc.option(weirdString, { nil: undefined }), capabilities: fc.option(fc.array(fc.stringMatching(/^[a-z0-9._:-]{1,64}$/), { maxLength: 33 }), { nil: undefined }) }).map((m) => fromValue(Object.fromEntries(Object.entries(m).filter(([, v]) => v !== undefined)))),
  fc.tuple(fc.option(weirdString.map(val)), fc.array(capabilityValue, { maxLength: 3 }), fc.option(fc.constantFrom(...POLLUTERS))).map(([name, caps, polluter]) =>
    obj([...(name ? [entry('name', name)] : []), entry('capabilities', arr(caps)), ...(polluter ? [polluter] : [])]),
  ),
  weirdValue,
  deepRaw.map((d) => obj([entry('name', val('deep')), entry('x', d)])),
  hugeString.map((s) => obj([entry('name', val('n')), entry('pad', val(s))])),
);

const REGISTER_FIELDS = ['type', 'did', 'nonce', 'aud', 'ts', 'meta'] as const;

const registerValueFor = (field: string): fc.Arbitrary<Val> => {
  switch (field) {
    case 'did':
      return didValue;
    case 'nonce':
      return fc.oneof(fc.constantFrom<Ph>('otherNonce', 'nonce').map((ph) => ({ ph })), fieldValue);
    case 'aud':
      return fc.oneof(fc.constantFrom('aiconexus-gateway ', 'AICONEXUS-GATEWAY', 'other-gateway', '').map(val), fieldValue);
    case 'meta':
      return fc.oneof(metaValue, wrongType);
    default:
      return valueFor(field);
  }
};

const registerPreEdit: fc.Arbitrary<Edit> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.constantFrom(...REGISTER_FIELDS).chain((field) =>
      fc.oneof(
        { weight: 1, arbitrary: fc.constant<Edit>({ op: 'del', path: [field] }) },
        { weight: 4, arbitrary: registerValueFor(field).map<Edit>((value) => ({ op: 'set', path: [field], value })) },
        { weight: 1, arbitrary: fc.tuple(registerValueFor(field), fc.boolean()).map<Edit>(([value, first]) => ({ op: 'add', path: [], key: JSON.stringify(field), value, first })) },
      ),
    ),
  },
  { weight: 2, arbitrary: extraEdit([]) },
  { weight: 1, arbitrary: extraEdit(['meta']) },
);

/** REGISTER frames, mostly broken, answering the connection's CHALLENGE. */
export const registerRecipe: fc.Arbitrary<RegisterRecipe> = fc.record({
  kind: fc.constant('register' as const),
  meta: fc.option(metaValue, { freq: 2, nil: null }),
  pre: fc.oneof({ weight: 1, arbitrary: fc.constant<Edit[]>([]) }, { weight: 4, arbitrary: fc.array(registerPreEdit, { minLength: 1, maxLength: 2 }) }),
  signer: fc.constantFrom<RegisterRecipe['signer']>('self', 'self', 'self', 'other', 'none', 'identityForgery'),
  fakeSig,
  post: fc.oneof({ weight: 4, arbitrary: fc.constant<Edit[]>([]) }, { weight: 1, arbitrary: fc.array(fieldEdit(['sig', 'ts', 'nonce'], []), { minLength: 1, maxLength: 1 }) }),
  space: spaceArb,
});

/** What a connection gets before it registers: mostly REGISTER attempts, some anything-else. */
export const unregisteredRecipe: fc.Arbitrary<Recipe> = fc.oneof(
  { weight: 5, arbitrary: registerRecipe },
  { weight: 2, arbitrary: textRecipe },
  { weight: 1, arbitrary: bytesRecipe },
);

/** Messages that must close the connection: oversize (1009) and invalid UTF-8 (1007). */
export const closingRecipe: fc.Arbitrary<Recipe> = fc.oneof(
  fc.constantFrom(65_537, 70_000, 200_000).map<TextRecipe>((n) => ({ kind: 'text', raw: `{"type":"PING","id":"big","x":"${'x'.repeat(n)}"}`, binary: false, space: '' })),
  fc.constantFrom(65_537, 100_000).map<BytesRecipe>((n) => ({ kind: 'bytes', bytes: Array.from({ length: n }, () => 0x41), binary: true })),
  fc.constantFrom(40_000, 70_000).map<SignalRecipe>((n) => ({
    kind: 'signal',
    type: 'OFFER',
    to: 'peerDid',
    extras: [],
    pre: [{ op: 'set', path: ['payload', 'sdp'], value: val('😀'.repeat(n / 2)) }],
    signer: 'self',
    fakeSig: IDENTITY_FORGERY_SIG,
    post: [],
    space: '',
    repeat: false,
  })),
  bytesRecipe.filter((r) => !r.binary),
);
