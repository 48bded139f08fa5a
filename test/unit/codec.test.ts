/**
 * src/protocol/codec.ts (raw message → frame or protocol error) and src/protocol/frames.ts (zod
 * schemas of docs/protocol.md §4–§6).
 */
import { base58 } from '@scure/base';
import { describe, expect, it } from 'vitest';
import { decodeFrame, refOf } from '../../src/protocol/codec.js';
import { DID_A, DID_B, SIG_9, offerVector } from '../helpers/vectors.js';
import {
  answerSchema,
  byeSchema,
  CLIENT_TYPES,
  discoverSchema,
  iceSchema,
  metaSchema,
  offerSchema,
  pingSchema,
  registerSchema,
  SERVER_TYPES,
  signalingSchemas,
} from '../../src/protocol/frames.js';

const PUBLIC_B = '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c';

/** The docs/protocol.md §13 frame. */
const offer = (overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
  ...offerVector(),
  ...overrides,
});
const ice = (payload: Record<string, unknown>) => offer({ type: 'ICE', payload });
const bye = (payload?: Record<string, unknown>) => {
  const f = offer({ type: 'BYE' });
  if (payload === undefined) delete f.payload;
  else f.payload = payload;
  return f;
};
const register = (meta?: unknown): Record<string, unknown> => ({
  type: 'REGISTER',
  did: DID_A,
  nonce: 'bm9uY2U',
  aud: 'aiconexus-gateway',
  ts: 1764028800000,
  ...(meta === undefined ? {} : { meta }),
  sig: SIG_9,
});

const text = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v), 'utf8');
const decodeText = (v: unknown) => decodeFrame(text(v), false);

// ---------------------------------------------------------------------------------------------

describe('decodeFrame', () => {
  it('accepts every client type and returns the parsed object', () => {
    for (const type of CLIENT_TYPES) {
      const d = decodeText({ type, id: 'q1', extra: [1] });
      expect(d).toEqual({ ok: true, type, value: { type, id: 'q1', extra: [1] } });
    }
    expect(new Set(CLIENT_TYPES)).toEqual(new Set(['REGISTER', 'OFFER', 'ANSWER', 'ICE', 'BYE', 'DISCOVER', 'PING', 'GET_ICE_SERVERS']));
  });

  it('decodes the §9 frame as sent', () => {
    const d = decodeText(offer());
    expect(d.ok).toBe(true);
    if (d.ok) {
      expect(d.type).toBe('OFFER');
      expect(d.value).toEqual(offer());
    }
  });

  it('refuses binary frames with BAD_FRAME, even when they hold valid JSON', () => {
    const d = decodeFrame(text({ type: 'PING', id: 'p1' }), true);
    expect(d).toMatchObject({ ok: false, code: 'BAD_FRAME', ref: null });
    expect(decodeFrame(Buffer.from([0xff, 0x00, 0x10]), true)).toMatchObject({ ok: false, code: 'BAD_FRAME', ref: null });
  });

  it.each(['', ' ', '{', '{"type":"PING",}', "{'type':'PING'}", 'undefined', 'NaN', '{"type":"PING"} {}', '\ufeff{"type":"PING"}', '{"type":"PING","id":"p1"'])(
    'refuses invalid JSON %j with BAD_FRAME and ref null',
    (raw) => {
      expect(decodeText(raw)).toMatchObject({ ok: false, code: 'BAD_FRAME', ref: null });
    },
  );

  it.each(['[]', '[{"type":"PING","id":"p1"}]', 'null', '42', '"PING"', 'true', '-0.5'])('refuses the non-object %s with BAD_FRAME', (raw) => {
    expect(decodeText(raw)).toMatchObject({ ok: false, code: 'BAD_FRAME', ref: null });
  });

  it('refuses a missing or non-string type with BAD_FRAME, referencing a well-formed id', () => {
    for (const type of [undefined, 1, null, true, ['PING'], { PING: 1 }]) {
      const frame = type === undefined ? { id: 'x1' } : { type, id: 'x1' };
      expect(decodeText(frame), JSON.stringify(frame)).toMatchObject({ ok: false, code: 'BAD_FRAME', ref: 'x1' });
    }
    expect(decodeText({})).toMatchObject({ ok: false, code: 'BAD_FRAME', ref: null });
  });

  it.each([...SERVER_TYPES])('refuses the server-only type %s with BAD_FRAME', (type) => {
    expect(decodeText({ type, id: 's1' })).toMatchObject({ ok: false, code: 'BAD_FRAME', ref: 's1' });
    expect(decodeText({ type })).toMatchObject({ ok: false, code: 'BAD_FRAME', ref: null });
  });

  it('knows exactly the six server-only types', () => {
    expect(new Set(SERVER_TYPES)).toEqual(new Set(['CHALLENGE', 'REGISTERED', 'AGENTS', 'PONG', 'ICE_SERVERS', 'ERROR']));
  });

  it.each(['HELLO', 'offer', 'Ping', '', ' PING', 'PING ', '__proto__', 'constructor', 'toString', 'hasOwnProperty'])(
    'answers the unknown type %j with UNKNOWN_TYPE',
    (type) => {
      expect(decodeText({ type, id: 'u1' })).toMatchObject({ ok: false, code: 'UNKNOWN_TYPE', ref: 'u1' });
    },
  );

  it('keeps the UNKNOWN_TYPE message short for a huge type', () => {
    const d = decodeText({ type: 'X'.repeat(10_000) });
    expect(d.ok).toBe(false);
    if (!d.ok) expect(d.message.length).toBeLessThan(100);
  });

  it('ref is the id only when the id is well-formed', () => {
    const refFor = (id: unknown) => {
      const d = decodeText({ type: 'NOPE', id });
      return d.ok ? 'ok' : d.ref;
    };
    expect(refFor('a')).toBe('a');
    expect(refFor('A-z_0.9:x')).toBe('A-z_0.9:x');
    expect(refFor('i'.repeat(64))).toBe('i'.repeat(64));
    expect(refFor('i'.repeat(65))).toBeNull();
    expect(refFor('')).toBeNull();
    expect(refFor('has space')).toBeNull();
    expect(refFor('slash/id')).toBeNull();
    expect(refFor('new\nline')).toBeNull();
    expect(refFor('idé')).toBeNull();
    expect(refFor(42)).toBeNull();
    expect(refFor(null)).toBeNull();
    expect(refFor(['a'])).toBeNull();
    expect(refOf({ id: 'ok-1' })).toBe('ok-1');
    expect(refOf({})).toBeNull();
  });

  it('never throws, even on deeply nested or malformed input', () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    expect(() => decodeText(deep)).not.toThrow();
    expect(decodeText(deep)).toMatchObject({ ok: false, code: 'BAD_FRAME' });
    expect(() => decodeFrame(Buffer.from([0xc3, 0x28, 0x7b]), false)).not.toThrow();
    expect(() => decodeFrame(Buffer.alloc(0), false)).not.toThrow();
  });
});

describe('decodeFrame: duplicate keys (issue 13 §5)', () => {
  /** The §9 frame as text, with `edit` applied to its JSON text. */
  const offerText = (edit: (t: string) => string) => edit(JSON.stringify(offer()));

  it('refuses a key repeated at the top level, naming it, with the frame id as ref', () => {
    for (const key of ['type', 'from', 'to', 'ts', 'payload', 'sig']) {
      const raw = offerText((t) => t.replace('{"type"', `{${JSON.stringify(key)}:null,"type"`));
      expect(decodeText(raw), key).toEqual({ ok: false, code: 'BAD_FRAME', ref: 'offer-1', message: `duplicate key "${key}"` });
    }
  });

  it('refuses a key repeated in a nested object (payload, meta, deeper)', () => {
    expect(decodeText(offerText((t) => t.replace('"payload":{', '"payload":{"sdp":"v=1",')))).toEqual({
      ok: false,
      code: 'BAD_FRAME',
      ref: 'offer-1',
      message: 'duplicate key "sdp" in a nested object',
    });
    const reg = JSON.stringify(register({ name: 'alice', capabilities: ['vision'] })).replace('"meta":{', '"meta":{"name":"mallory",');
    expect(decodeText(reg)).toEqual({ ok: false, code: 'BAD_FRAME', ref: null, message: 'duplicate key "name" in a nested object' });
    expect(decodeText('{"type":"PING","id":"p1","x":[{"a":{"b":1,"b":1}}]}')).toMatchObject({ ok: false, code: 'BAD_FRAME', ref: 'p1' });
  });

  it('compares keys after unescaping', () => {
    expect(decodeText('{"type":"PING","\\u0074ype":"OFFER","id":"p1"}')).toEqual({ ok: false, code: 'BAD_FRAME', ref: 'p1', message: 'duplicate key "type"' });
    expect(decodeText('{"type":"PING","id":"p1","\\ud83d\\ude00":1,"😀":2}')).toMatchObject({ message: 'duplicate key "😀"' });
    // Only escaped, no repetition: accepted as before.
    expect(decodeText('{"\\u0074ype":"PING","\\u0069d":"p1"}')).toEqual({ ok: true, type: 'PING', value: { type: 'PING', id: 'p1' } });
  });

  it('ref is null when `id` itself is repeated: parsers would disagree on which id to reference', () => {
    const cases = [
      '{"type":"PING","id":"p1","id":"p2"}',
      '{"type":"PING","id":"p1","id":"p1"}', // equal values: still no single id to stand on
      '{"type":"PING","id":"p1","\\u0069d":"p2"}',
      '{"type":"PING","id":null,"id":"p2"}',
      // The first repetition found is elsewhere; `id` is repeated later.
      '{"type":"PING","x":{"a":1,"a":2},"id":"p1","id":"p2"}',
      '{"type":"PING","type":"PING","id":"p1","id":"p2"}',
    ];
    for (const raw of cases) expect(decodeText(raw), raw).toMatchObject({ ok: false, code: 'BAD_FRAME', ref: null });
    expect(decodeText('{"type":"PING","id":"p1","id":"p2"}')).toMatchObject({ message: 'duplicate key "id"' });
    // An `id` repeated in a nested object is not the frame's id.
    expect(decodeText('{"type":"PING","id":"p1","x":{"id":1,"id":2}}')).toMatchObject({ ref: 'p1', message: 'duplicate key "id" in a nested object' });
    // A repeated key next to a malformed id: ref null as for any frame (refOf).
    expect(decodeText('{"type":"PING","id":"bad id","x":1,"x":2}')).toMatchObject({ ref: null });
  });

  it('checks before the type: a repeated key answers BAD_FRAME whatever type either copy names', () => {
    expect(decodeText('{"type":"HELLO","type":"PING","id":"u1"}')).toMatchObject({ ok: false, code: 'BAD_FRAME', ref: 'u1' });
    expect(decodeText('{"type":"PING","type":"HELLO","id":"u1"}')).toMatchObject({ ok: false, code: 'BAD_FRAME', ref: 'u1' });
    expect(decodeText('{"type":"PONG","id":"u1","a":1,"a":2}')).toMatchObject({ ok: false, code: 'BAD_FRAME', message: 'duplicate key "a"' });
    expect(decodeText('{"type":1,"a":1,"a":2}')).toMatchObject({ ok: false, code: 'BAD_FRAME', message: 'duplicate key "a"' });
  });

  it('does not look inside what is not an object frame', () => {
    expect(decodeText('[{"a":1,"a":2}]')).toMatchObject({ ok: false, code: 'BAD_FRAME', ref: null, message: 'frame must be a JSON object' });
    expect(decodeText('{"a":1,"a":2')).toMatchObject({ ok: false, code: 'BAD_FRAME', ref: null, message: 'frame is not valid JSON' });
  });

  it('quotes the key in the message escaped and cut to 32 UTF-16 code units', () => {
    const message = (key: string) => {
      const d = decodeText(`{"type":"PING","id":"p1",${JSON.stringify(key)}:1,${JSON.stringify(key)}:2}`);
      return d.ok ? '' : d.message;
    };
    expect(message('a"b\\c')).toBe('duplicate key "a\\"b\\\\c"');
    expect(message('\u0000\n\u001f')).toBe('duplicate key "\\u0000\\n\\u001f"');
    expect(message('\ud800')).toBe('duplicate key "\\ud800"');
    expect(message('k'.repeat(40_000))).toBe(`duplicate key "${'k'.repeat(32)}"…`);
    expect(message('\u0001'.repeat(40_000)).length).toBeLessThanOrEqual(240);
  });

  it('accepts frames whose objects share keys with each other, and never throws on deep ones', () => {
    expect(decodeText({ type: 'PING', id: 'p1', a: { id: 1, type: 2, a: { a: [{ a: 1 }, { a: 2 }] } } }).ok).toBe(true);
    const deep = `{"type":"PING","x":${'{"a":'.repeat(5000)}{"b":1,"b":2}${'}'.repeat(5000)}}`;
    expect(() => decodeText(deep)).not.toThrow();
    expect(decodeText(deep)).toMatchObject({ ok: false, code: 'BAD_FRAME', message: 'duplicate key "b" in a nested object' });
  });
});

// ---------------------------------------------------------------------------------------------

describe('signaling envelope schema', () => {
  it('accepts the §9 frame and every signaling type with a fitting payload', () => {
    expect(offerSchema.safeParse(offer()).success).toBe(true);
    expect(answerSchema.safeParse(offer({ type: 'ANSWER', payload: { type: 'answer', sdp: '' } })).success).toBe(true);
    expect(iceSchema.safeParse(ice({ candidate: '' })).success).toBe(true);
    expect(byeSchema.safeParse(bye({})).success).toBe(true);
    expect(Object.keys(signalingSchemas).sort()).toEqual(['ANSWER', 'BYE', 'ICE', 'OFFER']);
  });

  it('requires the type literal of the schema', () => {
    expect(offerSchema.safeParse(offer({ type: 'ANSWER' })).success).toBe(false);
    expect(answerSchema.safeParse(offer()).success).toBe(false);
  });

  it('rejects an unknown top-level field', () => {
    expect(offerSchema.safeParse(offer({ extra: 1 })).success).toBe(false);
    expect(offerSchema.safeParse(offer({ meta: {} })).success).toBe(false);
    expect(iceSchema.safeParse({ ...ice({ candidate: '' }), ref: null }).success).toBe(false);
    expect(byeSchema.safeParse({ ...bye({}), reason: 'bye' }).success).toBe(false);
  });

  it('accepts and keeps extra payload fields', () => {
    const r = offerSchema.safeParse(offer({ payload: { type: 'offer', sdp: 'v=0', x: { deep: [1] }, y: null } }));
    expect(r.success).toBe(true);
    expect(r.data?.payload).toEqual({ type: 'offer', sdp: 'v=0', x: { deep: [1] }, y: null });
    expect(iceSchema.safeParse(ice({ candidate: 'c', foo: 'bar' })).success).toBe(true);
    expect(byeSchema.safeParse(bye({ reason: 'done', code: 7 })).success).toBe(true);
  });

  it('requires every envelope field', () => {
    for (const field of ['type', 'id', 'from', 'to', 'ts', 'payload', 'sig']) {
      const f = offer();
      delete f[field];
      expect(offerSchema.safeParse(f).success, field).toBe(false);
    }
  });

  it('id: 1-64 of [A-Za-z0-9._:-]', () => {
    const ok = (id: unknown) => offerSchema.safeParse(offer({ id })).success;
    expect(ok('a')).toBe(true);
    expect(ok('Z.9_:-')).toBe(true);
    expect(ok('x'.repeat(64))).toBe(true);
    expect(ok('x'.repeat(65))).toBe(false);
    expect(ok('')).toBe(false);
    expect(ok('a b')).toBe(false);
    expect(ok('a/b')).toBe(false);
    expect(ok('a+b')).toBe(false);
    expect(ok('é')).toBe(false);
    expect(ok(7)).toBe(false);
    expect(ok(null)).toBe(false);
  });

  it('to: must be a real Ed25519 did:key', () => {
    const ok = (to: unknown) => offerSchema.safeParse(offer({ to })).success;
    expect(ok(DID_B)).toBe(true);
    // same key bytes under the x25519-pub multicodec (0xec01): right shape, wrong key type
    const x25519 = 'did:key:z' + base58.encode(Uint8Array.from([0xec, 0x01, ...Buffer.from(PUBLIC_B, 'hex')]));
    expect(x25519).toMatch(/^did:key:z[1-9A-HJ-NP-Za-km-z]{47}$/);
    expect(ok(x25519)).toBe(false);
    // 47 base58 characters that do not carry the 0xed01 prefix
    expect(ok('did:key:z' + '2'.repeat(47))).toBe(false);
    expect(ok('did:web:example.com')).toBe(false);
    expect(ok(DID_B.slice(0, -1))).toBe(false);
    expect(ok(DID_B.slice(0, -1) + '0')).toBe(false);
    expect(ok('')).toBe(false);
    expect(ok(null)).toBe(false);
  });

  it('from: must have the did:key shape (whether it is the sender is checked later)', () => {
    const ok = (from: unknown) => offerSchema.safeParse(offer({ from })).success;
    expect(ok(DID_B)).toBe(true);
    expect(ok('did:web:example.com')).toBe(false);
    expect(ok(DID_A + 'x')).toBe(false);
    expect(ok(42)).toBe(false);
  });

  it('ts: a non-negative integer', () => {
    const ok = (ts: unknown) => offerSchema.safeParse(offer({ ts })).success;
    expect(ok(0)).toBe(true);
    expect(ok(Number.MAX_SAFE_INTEGER)).toBe(true);
    expect(ok(1764028800000.5)).toBe(false);
    expect(ok(-1)).toBe(false);
    expect(ok('1764028800000')).toBe(false);
    expect(ok(null)).toBe(false);
  });

  it('sig: exactly 86 base64url characters, canonical last character', () => {
    const ok = (sig: unknown) => offerSchema.safeParse(offer({ sig })).success;
    expect(ok(SIG_9)).toBe(true);
    expect(ok(SIG_9.slice(0, 85))).toBe(false);
    expect(ok(SIG_9 + 'A')).toBe(false);
    expect(ok(SIG_9 + '==')).toBe(false);
    expect(ok(SIG_9.slice(0, 85) + 'R')).toBe(false);
    expect(ok(SIG_9.slice(0, 10) + '+' + SIG_9.slice(11))).toBe(false);
    expect(ok(null)).toBe(false);
  });
});

describe('signaling payloads', () => {
  it('OFFER/ANSWER: sdp is a string of at most 32768 characters', () => {
    for (const schema of [offerSchema, answerSchema]) {
      const type = schema === offerSchema ? 'OFFER' : 'ANSWER';
      const ok = (payload: unknown) => schema.safeParse(offer({ type, payload })).success;
      expect(ok({ sdp: 'x'.repeat(32768) })).toBe(true);
      expect(ok({ sdp: 'x'.repeat(32769) })).toBe(false);
      expect(ok({ sdp: 1 })).toBe(false);
      expect(ok({ sdp: null })).toBe(false);
      expect(ok({})).toBe(false);
      expect(ok('v=0')).toBe(false);
      expect(ok(null)).toBe(false);
    }
  });

  it('ICE: candidate required, optional nullable sdpMid / sdpMLineIndex / usernameFragment', () => {
    const ok = (payload: Record<string, unknown>) => iceSchema.safeParse(ice(payload)).success;
    expect(ok({ candidate: '' })).toBe(true); // end of candidates
    expect(ok({ candidate: 'candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host', sdpMid: '0', sdpMLineIndex: 0, usernameFragment: 'abcd' })).toBe(true);
    expect(ok({ candidate: 'c', sdpMid: null, sdpMLineIndex: null, usernameFragment: null })).toBe(true);
    expect(ok({ candidate: 'c', sdpMLineIndex: 7 })).toBe(true);
    expect(ok({})).toBe(false);
    expect(ok({ candidate: null })).toBe(false);
    expect(ok({ candidate: 1 })).toBe(false);
    expect(ok({ candidate: 'c', sdpMLineIndex: -1 })).toBe(false);
    expect(ok({ candidate: 'c', sdpMLineIndex: 0.5 })).toBe(false);
    expect(ok({ candidate: 'c', sdpMLineIndex: 1.5 })).toBe(false);
    expect(ok({ candidate: 'c', sdpMLineIndex: '0' })).toBe(false);
    expect(ok({ candidate: 'c', sdpMid: 0 })).toBe(false);
    expect(ok({ candidate: 'c', usernameFragment: 5 })).toBe(false);
  });

  it('BYE: optional reason of at most 256 characters', () => {
    const ok = (payload?: Record<string, unknown>) => byeSchema.safeParse(bye(payload)).success;
    expect(ok({})).toBe(true);
    expect(ok({ reason: '' })).toBe(true);
    expect(ok({ reason: 'r'.repeat(256) })).toBe(true);
    expect(ok({ reason: 'r'.repeat(257) })).toBe(false);
    expect(ok({ reason: 5 })).toBe(false);
    expect(ok({ reason: null })).toBe(false);
    // documented: a BYE without payload is accepted
    expect(ok(undefined)).toBe(true);
  });
});

describe('length limits count UTF-16 code units (docs/protocol.md §1)', () => {
  // '😀' is one code point but two UTF-16 code units ('😀'.length === 2). zod 4 measures
  // z.string().max() in code points, so these limits need an explicit `.length` check.
  const EMOJI = '😀';
  it.each([
    ['OFFER payload.sdp', 32768, (s: string) => offerSchema.safeParse(offer({ payload: { sdp: s } })).success],
    ['ANSWER payload.sdp', 32768, (s: string) => answerSchema.safeParse(offer({ type: 'ANSWER', payload: { sdp: s } })).success],
    ['BYE payload.reason', 256, (s: string) => byeSchema.safeParse(bye({ reason: s })).success],
    ['meta.name', 64, (s: string) => metaSchema.safeParse({ name: s }).success],
  ] as const)('%s: at most %i UTF-16 code units', (_field, limit, ok) => {
    expect(EMOJI.length).toBe(2);
    expect(ok(EMOJI.repeat(limit / 2))).toBe(true); // exactly `limit` units
    expect(ok(EMOJI.repeat(limit / 2) + 'x')).toBe(false); // limit + 1 units
    expect(ok(EMOJI.repeat(limit))).toBe(false); // 2 × limit units, `limit` code points
  });
});

describe('REGISTER and meta', () => {
  it('accepts REGISTER with and without meta; rejects unknown fields', () => {
    expect(registerSchema.safeParse(register()).success).toBe(true);
    expect(registerSchema.safeParse(register({ name: 'agent', capabilities: ['vision'] })).success).toBe(true);
    expect(registerSchema.safeParse({ ...register(), session: 'x' }).success).toBe(false);
    for (const field of ['did', 'nonce', 'aud', 'ts', 'sig']) {
      const f = register();
      delete f[field];
      expect(registerSchema.safeParse(f).success, field).toBe(false);
    }
  });

  it('meta.name: at most 64 characters', () => {
    expect(metaSchema.safeParse({ name: 'n'.repeat(64) }).success).toBe(true);
    expect(metaSchema.safeParse({ name: 'n'.repeat(65) }).success).toBe(false);
    expect(metaSchema.safeParse({ name: 1 }).success).toBe(false);
    expect(registerSchema.safeParse(register({ name: 'n'.repeat(65) })).success).toBe(false);
  });

  it('meta.capabilities: at most 32 strings of [a-z0-9._:-]{1,64}', () => {
    const caps = (list: unknown) => metaSchema.safeParse({ capabilities: list }).success;
    expect(caps([])).toBe(true);
    expect(caps(Array.from({ length: 32 }, (_, i) => `cap-${i}`))).toBe(true);
    expect(caps(Array.from({ length: 33 }, (_, i) => `cap-${i}`))).toBe(false);
    expect(caps(['a.b_c:d-0'])).toBe(true);
    expect(caps(['c'.repeat(64)])).toBe(true);
    expect(caps(['c'.repeat(65)])).toBe(false);
    expect(caps([''])).toBe(false);
    expect(caps(['Vision'])).toBe(false);
    expect(caps(['has space'])).toBe(false);
    expect(caps(['slash/cap'])).toBe(false);
    expect(caps(['é'])).toBe(false);
    expect(caps([1])).toBe(false);
    expect(caps('vision')).toBe(false);
  });

  it('meta: extra fields are allowed', () => {
    const r = metaSchema.safeParse({ name: 'x', version: '1.2', tags: { a: 1 } });
    expect(r.success).toBe(true);
    expect(r.data).toEqual({ name: 'x', version: '1.2', tags: { a: 1 } });
  });

  it('meta: at most 4096 bytes as JSON (UTF-8 bytes, not characters)', () => {
    // {"x":"…"} is 8 bytes of overhead
    expect(JSON.stringify({ x: '' })).toHaveLength(8);
    expect(metaSchema.safeParse({ x: 'a'.repeat(4088) }).success).toBe(true);
    expect(metaSchema.safeParse({ x: 'a'.repeat(4089) }).success).toBe(false);
    // é is 2 bytes in UTF-8: 2044 of them make 4096 bytes, 2045 make 4098 (only 2053 characters)
    expect(metaSchema.safeParse({ x: 'é'.repeat(2044) }).success).toBe(true);
    expect(metaSchema.safeParse({ x: 'é'.repeat(2045) }).success).toBe(false);
    expect(registerSchema.safeParse(register({ x: 'a'.repeat(5000) })).success).toBe(false);
  });

  it('meta must be an object', () => {
    for (const meta of [null, 'agent', ['vision'], 3]) {
      expect(registerSchema.safeParse(register(meta)).success, JSON.stringify(meta)).toBe(false);
    }
  });
});

describe('DISCOVER and PING', () => {
  it('DISCOVER: optional id (nullable), capability and limit 1..1000; no other fields', () => {
    const ok = (f: Record<string, unknown>) => discoverSchema.safeParse({ type: 'DISCOVER', ...f }).success;
    expect(ok({})).toBe(true);
    expect(ok({ id: 'q1', capability: 'vision', limit: 50 })).toBe(true);
    expect(ok({ id: null })).toBe(true);
    expect(ok({ limit: 1 })).toBe(true);
    expect(ok({ limit: 1000 })).toBe(true);
    expect(ok({ limit: 1001 })).toBe(false);
    expect(ok({ limit: 0 })).toBe(false);
    expect(ok({ limit: 2.5 })).toBe(false);
    expect(ok({ capability: 'Vision' })).toBe(false);
    expect(ok({ id: 'bad id' })).toBe(false);
    expect(ok({ cursor: 'x' })).toBe(false);
  });

  it('PING: optional id (nullable); no other fields', () => {
    expect(pingSchema.safeParse({ type: 'PING' }).success).toBe(true);
    expect(pingSchema.safeParse({ type: 'PING', id: 'p1' }).success).toBe(true);
    expect(pingSchema.safeParse({ type: 'PING', id: null }).success).toBe(true);
    expect(pingSchema.safeParse({ type: 'PING', id: '' }).success).toBe(false);
    expect(pingSchema.safeParse({ type: 'PING', ts: 1 }).success).toBe(false);
  });
});
