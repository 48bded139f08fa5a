/**
 * JCS canonical JSON (RFC 8785) for values produced by JSON.parse, and the signed bytes of a frame.
 *
 * RFC 8785 serialises numbers and strings exactly as ECMAScript's JSON.stringify does and sorts
 * object keys by UTF-16 code units (the default Array#sort order), so for JSON data the canonical
 * form is JSON.stringify with recursively sorted keys and no whitespace. Browser-safe.
 */

/** Returns the JCS canonical JSON text of a JSON value. Throws on non-finite numbers and non-JSON values. */
export function canonicalize(value: unknown): string {
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
          out += canonicalize(value[i]);
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
  const keys = Object.keys(obj).sort();
  let out = '{';
  let first = true;
  for (const key of keys) {
    if (key === skipKey) continue;
    if (!first) out += ',';
    first = false;
    out += JSON.stringify(key) + ':' + canonicalize(obj[key]);
  }
  return out + '}';
}

const utf8 = new TextEncoder();

/**
 * The bytes a frame's `sig` covers (PROTOCOL.md §2): UTF-8 of the JCS form of the frame without `sig`.
 * The frame is not copied: `sig` is skipped while serialising.
 */
export function signedBytes(frame: Record<string, unknown>): Uint8Array {
  return utf8.encode(canonicalObject(frame, 'sig'));
}
