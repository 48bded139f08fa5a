/**
 * JCS canonical JSON (RFC 8785) for values produced by JSON.parse, and the signed bytes of a frame.
 *
 * RFC 8785 serialises numbers and strings exactly as ECMAScript's JSON.stringify does and sorts
 * object keys by UTF-16 code units (the default Array#sort order), so for JSON data the canonical
 * form is JSON.stringify with recursively sorted keys and no whitespace. Browser-safe.
 *
 * The gateway runs this on every signaling frame, so it is built for little garbage: the value is
 * copied with its keys inserted in sorted order and serialised by one native JSON.stringify. The
 * earlier version concatenated strings key by key and sorted with Array#sort; it made ~4.5 KB of
 * garbage per frame, a third of all the event loop allocated per frame (sampling heap profile, bench
 * latency scenario), and every scavenge pauses the loop. Objects whose key order a copy cannot
 * express (integer-like keys, which JavaScript enumerates first in numeric order; `__proto__`)
 * take the string-building path, which handles any JSON value.
 */

/** Returns the JCS canonical JSON text of a JSON value. Throws on non-finite numbers and non-JSON values. */
export function canonicalize(value: unknown): string {
  return jcs(value, undefined);
}

const utf8 = new TextEncoder();

/**
 * The bytes a frame's `sig` covers (docs/protocol.md §3): UTF-8 of the JCS form of the frame without `sig`.
 * The frame is not modified: `sig` is skipped while copying.
 */
export function signedBytes(frame: Record<string, unknown>): Uint8Array {
  return utf8.encode(signedText(frame));
}

/**
 * The JCS text of the frame without `sig`: what {@link signedBytes} encodes. For callers with a
 * cheaper UTF-8 encoder than TextEncoder (the gateway encodes into Node's pooled buffers).
 */
export function signedText(frame: Record<string, unknown>): string {
  return jcs(frame, 'sig');
}

/** JCS of `value` without its top-level `skipKey`: by a sorted copy, else by string building. */
function jcs(value: unknown, skipKey: string | undefined): string {
  const copy = sortedCopy(value, skipKey);
  if (copy !== NO_COPY) return JSON.stringify(copy) as string;
  // NO_COPY comes from an object somewhere inside; with a skipKey, `value` is a frame object.
  return skipKey === undefined ? canonicalText(value) : canonicalObject(value as Record<string, unknown>, skipKey);
}

/** Returned by sortedCopy when an object's keys cannot be put in JCS order by insertion. */
const NO_COPY: unique symbol = Symbol('no-copy');

/**
 * A copy of `value` whose JSON.stringify is its JCS form (objects rebuilt with keys in sorted
 * order, `skipKey` left out at this level), or NO_COPY. Throws what canonicalize throws.
 */
function sortedCopy(value: unknown, skipKey: string | undefined): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError('JCS: non-finite number');
      return value;
    case 'object': {
      if (value === null) return null;
      if (Array.isArray(value)) {
        const out = new Array<unknown>(value.length);
        for (let i = 0; i < value.length; i++) {
          const item = sortedCopy(value[i], undefined);
          if (item === NO_COPY) return NO_COPY;
          out[i] = item;
        }
        return out;
      }
      const obj = value as Record<string, unknown>;
      const keys = sortKeys(Object.keys(obj));
      const out: Record<string, unknown> = {};
      for (const key of keys) {
        if (key === skipKey) continue;
        // An integer-like key would be enumerated before the others; `__proto__` would set the prototype.
        if (isDigit(key.charCodeAt(0)) || key === '__proto__') return NO_COPY;
        const item = sortedCopy(obj[key], undefined);
        if (item === NO_COPY) return NO_COPY;
        out[key] = item;
      }
      return out;
    }
    default:
      throw new TypeError(`JCS: ${typeof value} is not a JSON value`);
  }
}

function isDigit(code: number): boolean {
  return code >= 48 && code <= 57;
}

/**
 * Sorts by UTF-16 code units, in place. Frames have a handful of keys per object, where an
 * insertion sort allocates nothing (Array#sort allocates its work arrays on every call).
 */
function sortKeys(keys: string[]): string[] {
  if (keys.length > 16) return keys.sort();
  for (let i = 1; i < keys.length; i++) {
    const key = keys[i] as string;
    let j = i - 1;
    while (j >= 0 && (keys[j] as string) > key) {
      keys[j + 1] = keys[j] as string;
      j--;
    }
    keys[j + 1] = key;
  }
  return keys;
}

/** JCS by string building: any JSON value (the fallback of canonicalize). */
function canonicalText(value: unknown): string {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError('JCS: non-finite number');
      return JSON.stringify(value);
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) {
          if (i > 0) out += ',';
          out += canonicalText(value[i]);
        }
        return out + ']';
      }
      return canonicalObject(value as Record<string, unknown>, undefined);
    }
    default:
      throw new TypeError(`JCS: ${typeof value} is not a JSON value`);
  }
}

function canonicalObject(obj: Record<string, unknown>, skipKey: string | undefined): string {
  const keys = sortKeys(Object.keys(obj));
  let out = '{';
  let first = true;
  for (const key of keys) {
    if (key === skipKey) continue;
    if (!first) out += ',';
    first = false;
    out += JSON.stringify(key) + ':' + canonicalText(obj[key]);
  }
  return out + '}';
}
