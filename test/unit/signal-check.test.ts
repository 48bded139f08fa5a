/**
 * quickSignalFields (src/protocol/signal-check.ts) against the zod schemas it stands in for: a
 * frame it passes must pass its schema with the same fields, whatever the frame. Hostile frames
 * come from the fuzzer's generators (test/fuzz/generators.ts) and from a table that breaks each
 * field of a valid frame in turn; on the table the two must agree both ways, so the quick check is
 * also not needlessly sending valid frames to the schema.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeFrame } from '../../src/protocol/codec.js';
import { MAX_BYE_REASON_CHARS, MAX_SDP_CHARS, SIGNALING_TYPES, signalingSchemas, type SignalingType } from '../../src/protocol/frames.js';
import { quickSignalFields } from '../../src/protocol/signal-check.js';
import { materialize, newSigner, signalRecipe, type BuildContext } from '../fuzz/generators.js';
import { SignatureBook } from '../fuzz/oracle.js';

const self = newSigner();
const peer = newSigner();
const SIG = '9dCBys9TVF5HqcntZ5p3xiK2zLaGNNi3LKYen65Ll1IZK5ffCr6Y_VZ9zrJqez4j8nl294QixdAZHGlC2rJbBQ';
const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined;

/** What the schema gives back of the fields the gateway uses, or null when it refuses the frame. */
function schemaFields(type: SignalingType, frame: Record<string, unknown>): object | null {
  const parsed = signalingSchemas[type].safeParse(frame);
  if (!parsed.success) return null;
  const { id, from, to, ts, sig } = parsed.data;
  return { id, from, to, ts, sig };
}

/** Compares on a parsed frame; `both` also requires the check to pass what the schema passes. */
function compare(type: SignalingType, frame: Record<string, unknown>, both: boolean): void {
  const quick = quickSignalFields(type, frame);
  const schema = schemaFields(type, frame);
  if (quick !== null) expect({ ...quick }, label(frame)).toEqual(schema);
  if (both) expect(quick === null, label(frame)).toBe(schema === null);
}

/** The frame for a failure message (fuzzed frames may nest too deep to serialise). */
function label(frame: Record<string, unknown>): string {
  try {
    return JSON.stringify(frame).slice(0, 300);
  } catch {
    return `{${Object.keys(frame).join(',')}}`;
  }
}

const PAYLOADS: Record<SignalingType, Record<string, unknown> | undefined> = {
  OFFER: { type: 'offer', sdp: 'v=0\r\n' },
  ANSWER: { type: 'answer', sdp: 'v=0\r\n' },
  ICE: { candidate: 'candidate:1 1 udp 1 192.0.2.1 9 typ host', sdpMid: '0', sdpMLineIndex: 0, usernameFragment: 'x' },
  BYE: { reason: 'done' },
};

function valid(type: SignalingType): Record<string, unknown> {
  return { type, id: 'f-1', from: self.did, to: peer.did, ts: 1_764_028_800_000, payload: structuredClone(PAYLOADS[type]), sig: SIG };
}

/** Values each envelope field is set to in turn ('<absent>' deletes the field). */
const FIELD_VALUES: unknown[] = [
  '<absent>', null, true, 0, -0, 1.5, -1, 2 ** 53, Number.MAX_SAFE_INTEGER, '', 'x', [], {}, ['f-1'],
  'a'.repeat(64), 'a'.repeat(65), 'f 1', 'f-1\n', '\u00e9', '\ud83d\ude00', self.did, peer.did,
  `${peer.did}x`, peer.did.slice(0, -1) + '0', 'did:key:z6Mk' + '1'.repeat(44), SIG, `${SIG.slice(0, 85)}B`, SIG.slice(1),
  'OFFER', 'ANSWER', 'ICE', 'BYE',
];

/** Payload edits: [key, value] set on the payload ('<absent>' deletes), or a whole replacement. */
const PAYLOAD_VALUES: unknown[] = [
  '<absent>', null, '', 'x', 0, -0, 1.5, -1, 2 ** 53, true, [], {}, 'a'.repeat(MAX_BYE_REASON_CHARS), 'a'.repeat(MAX_BYE_REASON_CHARS + 1),
  'a'.repeat(MAX_SDP_CHARS), 'a'.repeat(MAX_SDP_CHARS + 1), '\ud83d\ude00'.repeat(MAX_BYE_REASON_CHARS / 2),
  '\ud83d\ude00'.repeat(MAX_BYE_REASON_CHARS / 2 + 1),
];

function edited<T extends Record<string, unknown>>(base: T, key: string, value: unknown): T {
  const copy = structuredClone(base) as Record<string, unknown>;
  if (value === '<absent>') delete copy[key];
  else copy[key] = value;
  return copy as T;
}

describe('quickSignalFields against the zod schemas', () => {
  it('passes the valid frames of every type (so the gateway takes the quick path)', () => {
    for (const type of SIGNALING_TYPES) {
      expect(quickSignalFields(type, valid(type))).not.toBeNull();
      compare(type, valid(type), true);
    }
    const bye = valid('BYE');
    delete bye.payload;
    expect(quickSignalFields('BYE', bye)).not.toBeNull();
    compare('BYE', { ...bye, payload: {} }, true);
    compare('ICE', { ...valid('ICE'), payload: { candidate: '' } }, true);
    compare('ICE', { ...valid('ICE'), payload: { candidate: '', sdpMid: null, sdpMLineIndex: null, usernameFragment: null } }, true);
  });

  it('agrees with the schema on every envelope field broken in turn', () => {
    for (const type of SIGNALING_TYPES) {
      for (const key of ['type', 'id', 'from', 'to', 'ts', 'payload', 'sig', 'extra', '', '__proto__', 'constructor', 'toString']) {
        for (const value of FIELD_VALUES) compare(type, edited(valid(type), key, value), true);
      }
      // __proto__ as an own key, the way JSON.parse makes it.
      compare(type, JSON.parse(JSON.stringify(valid(type)).replace('{', '{"__proto__":{"id":"x"},')) as Record<string, unknown>, true);
    }
  });

  it('agrees with the schema on every payload field broken in turn', () => {
    const payloadKeys: Record<SignalingType, string[]> = {
      OFFER: ['sdp', 'type', 'extra'],
      ANSWER: ['sdp', 'type'],
      ICE: ['candidate', 'sdpMid', 'sdpMLineIndex', 'usernameFragment', 'extra'],
      BYE: ['reason', 'extra'],
    };
    for (const type of SIGNALING_TYPES) {
      for (const key of [...payloadKeys[type], '__proto__', 'toString']) {
        for (const value of PAYLOAD_VALUES) {
          const frame = valid(type);
          frame.payload = edited(frame.payload as Record<string, unknown>, key, value);
          compare(type, frame, true);
        }
      }
    }
  });

  it('never passes a hostile frame its schema refuses (the fuzzer\'s signaling frames)', () => {
    let ids = 0;
    let quick = 0;
    const ctx: BuildContext = {
      self,
      other: newSigner(),
      peerDid: peer.did,
      offlineDid: newSigner().did,
      now: Date.now(),
      clockSkewMs: 60_000,
      book: new SignatureBook(10_000),
      uniqueId: () => `q-${ids++}`,
    };
    fc.assert(
      fc.property(signalRecipe, (recipe) => {
        for (const message of materialize(recipe, ctx)) {
          const decoded = decodeFrame(message.bytes, message.binary);
          if (!decoded.ok || !(SIGNALING_TYPES as readonly string[]).includes(decoded.type)) continue;
          const type = decoded.type as SignalingType;
          if (quickSignalFields(type, decoded.value) !== null) quick++;
          compare(type, decoded.value, false);
        }
      }),
      { numRuns: 3000, seed },
    );
    // Most recipes break a field; the intact ones must still take the quick path.
    expect(quick).toBeGreaterThan(100);
  });
});
