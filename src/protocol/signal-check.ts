/**
 * The hot-path check of a signaling envelope (OFFER, ANSWER, ICE, BYE): the same rules as their
 * zod schemas in frames.ts, written out for the frames that pass them.
 *
 * The schemas stay the one definition of a frame. This check only answers "does this frame
 * certainly pass its schema?", reading the parsed frame in place: when it says yes, the schema
 * would have accepted the frame and given back the same fields; when it says no (or is unsure),
 * the caller runs the schema, which gives the exact error or accepts. So a frame the check gets
 * wrong costs a schema parse, never a different answer. test/unit/signal-check.test.ts holds it
 * to that against the schemas with the fuzzer's hostile frames and with every field broken.
 *
 * Why: zod's parse copies the envelope and its payload into new objects and runs each field's
 * checks through its generic machinery; the gateway uses five strings and a number of it. The
 * check costs a fraction of that and allocates nothing but its result
 * (`npm run bench:signal-check`; figures in docs/performance.md, "Morning of 2026-12-04").
 */
import { isDidKey } from './did-key.js';
import { DID_SHAPE, ID_PATTERN, MAX_BYE_REASON_CHARS, MAX_SDP_CHARS, SIGNATURE_PATTERN, type SignalingType } from './frames.js';

/** The envelope fields the gateway uses, as its schema would give them back. */
export interface SignalFields {
  readonly id: string;
  readonly from: string;
  readonly to: string;
  readonly ts: number;
  readonly sig: string;
}

/**
 * The envelope's fields when `frame` (a parsed JSON object whose `type` is `type`) certainly
 * passes `signalingSchemas[type]`; null when the schema must decide.
 */
export function quickSignalFields(type: SignalingType, frame: Record<string, unknown>): SignalFields | null {
  const { id, from, to, ts, sig, payload } = frame;
  if (frame.type !== type) return null;
  if (typeof id !== 'string' || !ID_PATTERN.test(id)) return null;
  if (typeof from !== 'string' || !DID_SHAPE.test(from)) return null;
  if (typeof to !== 'string' || !isDidKey(to)) return null; // (a did:key that decodes has DID_SHAPE)
  if (typeof ts !== 'number' || !Number.isSafeInteger(ts) || ts < 0) return null;
  if (typeof sig !== 'string' || !SIGNATURE_PATTERN.test(sig)) return null;
  // Strict envelope: no key beyond these seven (six for a BYE without payload).
  let keys = 0;
  // eslint-disable-next-line @typescript-eslint/no-unused-vars -- counting keys: for-in allocates no array, as zod's own check does
  for (const key in frame) keys++;
  if (payload === undefined) return type === 'BYE' && keys === 6 ? { id, from, to, ts, sig } : null;
  if (keys !== 7 || !isPlainObject(payload) || !payloadPasses(type, payload)) return null;
  return { id, from, to, ts, sig };
}

/** What zod takes for an object: not null, not an array. */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The payload's own rules (its other keys are free: payloads are loose objects). */
function payloadPasses(type: SignalingType, payload: Record<string, unknown>): boolean {
  switch (type) {
    case 'OFFER':
    case 'ANSWER': {
      const sdp = payload.sdp;
      return typeof sdp === 'string' && sdp.length <= MAX_SDP_CHARS;
    }
    case 'ICE': {
      if (typeof payload.candidate !== 'string') return false;
      const { sdpMid: mid, sdpMLineIndex: index, usernameFragment: fragment } = payload;
      return (
        (mid === undefined || mid === null || typeof mid === 'string') &&
        (index === undefined || index === null || (typeof index === 'number' && Number.isSafeInteger(index) && index >= 0)) &&
        (fragment === undefined || fragment === null || typeof fragment === 'string')
      );
    }
    case 'BYE': {
      const reason = payload.reason;
      return reason === undefined || (typeof reason === 'string' && reason.length <= MAX_BYE_REASON_CHARS);
    }
  }
}
