/**
 * Raw WebSocket message → JSON object with a known client `type`, or the protocol error for it.
 * Parsing happens once here; later checks work on the parsed object and routing forwards the
 * original bytes. Those bytes must mean the same to every JSON parser, so a text that repeats a
 * key in any object is refused (duplicate-keys.ts).
 */
import type { ErrorCode } from '../errors.js';
import { countTopLevelKey, describeKey, findDuplicateKey } from './duplicate-keys.js';
import { CLIENT_TYPES, ID_PATTERN, SERVER_TYPES } from './frames.js';

export type ClientType = (typeof CLIENT_TYPES)[number];

export type Decoded =
  | { ok: true; type: ClientType; value: Record<string, unknown> }
  | { ok: false; code: ErrorCode; ref: string | null; message: string };

const clientTypes = new Set<string>(CLIENT_TYPES);
const serverTypes = new Set<string>(SERVER_TYPES);

/** Decodes one inbound message. Never throws. */
export function decodeFrame(data: Buffer, isBinary: boolean): Decoded {
  if (isBinary) return bad('BAD_FRAME', null, 'binary frames are not accepted; send JSON text');
  const text = data.toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return bad('BAD_FRAME', null, 'frame is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return bad('BAD_FRAME', null, 'frame must be a JSON object');
  }
  const obj = value as Record<string, unknown>;
  // Before `type` is looked at: with a repeated key, other parsers may read another type.
  const duplicate = findDuplicateKey(text);
  if (duplicate !== null) return duplicateKey(obj, text, duplicate.key, duplicate.topLevel);
  const type = obj.type;
  if (typeof type !== 'string') return bad('BAD_FRAME', refOf(obj), '"type" must be a string');
  if (clientTypes.has(type)) return { ok: true, type: type as ClientType, value: obj };
  if (serverTypes.has(type)) return bad('BAD_FRAME', refOf(obj), `${type} is sent by the gateway only`);
  return bad('UNKNOWN_TYPE', refOf(obj), `unknown frame type "${type.slice(0, 32)}"`);
}

/** The frame's `id` when it is a well-formed id (so an ERROR can reference it), else null. */
export function refOf(frame: Record<string, unknown>): string | null {
  const id = frame.id;
  return typeof id === 'string' && ID_PATTERN.test(id) ? id : null;
}

/** One readable line from a zod error (defined in issues.ts; re-exported for the session and checks). */
export { schemaError } from './issues.js';

/**
 * BAD_FRAME naming the repeated key. `ref` follows {@link refOf}, except that a frame with two
 * top-level `id`s has no id every parser agrees on: its ref is null.
 */
function duplicateKey(obj: Record<string, unknown>, text: string, key: string, topLevel: boolean): Decoded {
  const idRepeated = topLevel && key === 'id' ? true : countTopLevelKey(text, 'id') > 1;
  const where = topLevel ? '' : ' in a nested object';
  return bad('BAD_FRAME', idRepeated ? null : refOf(obj), `duplicate key ${describeKey(key)}${where}`);
}

function bad(code: ErrorCode, ref: string | null, message: string): Decoded {
  return { ok: false, code, ref, message };
}
