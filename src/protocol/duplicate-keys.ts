/**
 * Duplicate object keys in JSON text (issue 13 §5).
 *
 * `JSON.parse` keeps the last of two equal keys; a parser that keeps the first would read another
 * `type`, `from` or `payload` out of the very bytes the gateway verified and forwarded. So a frame
 * whose text repeats a key in any object, top level or nested, is refused (codec.ts).
 *
 * The scanner runs on text that `JSON.parse` has already accepted, so it only has to follow the
 * structure, not validate it:
 *
 * - Only `{`, `}` and strings matter. Keys belong to the innermost open object, so arrays need no
 *   bookkeeping, and a string is a key exactly when the next non-whitespace character is `:`.
 * - Strings are skipped with `indexOf('"')` (an escaped quote is one preceded by an odd run of
 *   backslashes), so a 60 KB SDP costs a few native searches, not a loop over its characters.
 * - Keys are compared where they are in the text (offsets, no allocation; long ones natively)
 *   while an object has at most {@link LINEAR_MAX} keys and none of them has a backslash. A key
 *   with an escape, or one key more, switches that object to a Set of unescaped keys (`JSON.parse`
 *   of the key's literal, so `"\u0061"` equals `"a"`, surrogate pairs included), which keeps
 *   many-key objects linear. Whether a key has a backslash is known from the position of the next
 *   backslash in the text, found with indexOf and kept until the scan passes it.
 * - The nesting is an explicit stack (64 KiB of text is at most 32K levels): no recursion.
 *
 * Cost (bench/duplicate-keys.ts): roughly half of what JSON.parse takes on a signaling frame
 * (~0.3–0.6 µs for a 400-byte OFFER); it grows with the number of strings and keys in the frame,
 * not with their length, so a 60 KB OFFER that is mostly SDP costs about 1 µs.
 *
 * Browser-safe (no Buffer): it works on the decoded string. Given text that is not valid JSON it
 * still terminates without throwing, but its answer means nothing.
 */

/** Keys an object may have before its keys go into a Set (7 × 8 / 2 = 28 comparisons at most). */
export const LINEAR_MAX = 8;

export interface DuplicateKey {
  /** The repeated key, unescaped. */
  key: string;
  /** True when the object that repeats it is the top-level value (not one nested in it). */
  topLevel: boolean;
}

/** Key length above which two keys are compared with one native call rather than a loop. */
const NATIVE_COMPARE_MIN = 16;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const LBRACE = 0x7b;
const RBRACE = 0x7d;

// Reused across calls (the scan is synchronous and never re-entered); grown on demand.
/** Per open object: index of its first key in keyStart/keyEnd, or ~index once it uses a Set. */
let objBaseStore = new Int32Array(64);
/** Keys (as [start, end) offsets into the text) of the open objects in linear mode. */
let keyStartStore = new Int32Array(256);
let keyEndStore = new Int32Array(256);

/**
 * The first repeated key of valid JSON `text` (in text order of the repetition), or null when no
 * object in it has a key twice. Keys are compared after unescaping.
 */
export function findDuplicateKey(text: string): DuplicateKey | null {
  const n = text.length;
  let objBase = objBaseStore;
  let keyStart = keyStartStore;
  let keyEnd = keyEndStore;
  let depth = 0; // open objects
  let top = 0; // used entries of keyStart/keyEnd
  let sets: (Set<string> | undefined)[] | undefined;
  // The first backslash at or after the last key looked at (n: none): one indexOf tells whether
  // many keys in a row are escape-free, instead of a loop over each key's characters.
  let backslash = -1;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const start = i + 1;
      const end = stringEnd(text, start);
      i = skipSpace(text, end + 1);
      const d = text.charCodeAt(i);
      if (d !== COLON || depth === 0) continue; // a string value
      i++;
      // A key of the object at `depth`.
      if (backslash < start) {
        backslash = text.indexOf('\\', start);
        if (backslash < 0) backslash = n;
      }
      const at = depth - 1;
      const base = objBase[at] as number;
      if (base >= 0) {
        if (top - base < LINEAR_MAX && backslash >= end) {
          const len = end - start;
          const first = text.charCodeAt(start);
          for (let k = base; k < top; k++) {
            const s = keyStart[k] as number;
            if ((keyEnd[k] as number) - s === len && text.charCodeAt(s) === first && sameTail(text, s, start, len)) {
              return { key: text.slice(start, end), topLevel: depth === 1 && isObjectText(text) };
            }
          }
          if (top === keyStart.length) {
            keyStartStore = keyStart = grow(keyStart);
            keyEndStore = keyEnd = grow(keyEnd);
          }
          keyStart[top] = start;
          keyEnd[top] = end;
          top++;
          continue;
        }
        // Switch this object to a Set of its unescaped keys (its stored keys have no escapes).
        const set = new Set<string>();
        for (let k = base; k < top; k++) set.add(text.slice(keyStart[k] as number, keyEnd[k] as number));
        sets ??= [];
        sets[at] = set;
        objBase[at] = ~base;
        top = base;
      }
      const set = (sets as (Set<string> | undefined)[])[at] as Set<string>;
      const key = backslash < end ? unescapeKey(text, start, end) : text.slice(start, end);
      if (set.has(key)) return { key, topLevel: depth === 1 && isObjectText(text) };
      set.add(key);
    } else if (c === LBRACE) {
      if (depth === objBase.length) objBaseStore = objBase = grow(objBase);
      objBase[depth++] = top;
      i++;
    } else if (c === RBRACE) {
      if (depth > 0) {
        const base = objBase[--depth] as number;
        if (base < 0) {
          top = ~base;
          (sets as (Set<string> | undefined)[])[depth] = undefined;
        } else {
          top = base;
        }
      }
      i++;
    } else {
      i++;
    }
  }
  return null;
}

/**
 * How often the top-level object of valid JSON `text` has the key `name` (after unescaping); 0
 * when the text is not an object. Not on the hot path: used to build the ERROR of a refused frame.
 */
export function countTopLevelKey(text: string, name: string): number {
  if (!isObjectText(text)) return 0;
  const n = text.length;
  let depth = 0;
  let count = 0;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const start = i + 1;
      const end = stringEnd(text, start);
      i = skipSpace(text, end + 1);
      const d = text.charCodeAt(i);
      if (d === COLON && depth === 1 && unescapeKey(text, start, end) === name) count++;
    } else {
      if (c === LBRACE) depth++;
      else if (c === RBRACE) depth--;
      i++;
    }
  }
  return count;
}

/** The index of the first non-whitespace character of `text` at or after `i`. */
function skipSpace(text: string, i: number): number {
  let d = text.charCodeAt(i);
  while (d === 0x20 || d === 0x0a || d === 0x0d || d === 0x09) d = text.charCodeAt(++i);
  return i;
}

/** True when the JSON value `text` holds is an object (its first non-whitespace character is `{`). */
function isObjectText(text: string): boolean {
  return text.charCodeAt(skipSpace(text, 0)) === LBRACE;
}

/** Index of the quote closing the string whose content starts at `start` (text.length if none). */
function stringEnd(text: string, start: number): number {
  let q = text.indexOf('"', start);
  while (q >= 0) {
    // Escaped iff preceded by an odd number of backslashes.
    let b = q - 1;
    while (b >= start && text.charCodeAt(b) === BACKSLASH) b--;
    if (((q - 1 - b) & 1) === 0) return q;
    q = text.indexOf('"', q + 1);
  }
  return text.length;
}

/**
 * Whether text[a+1, a+len) equals text[b+1, b+len) (the first characters are compared inline).
 * Long keys are compared natively: eight 8,000-character keys that differ only in their last
 * character would otherwise cost 28 × 8,000 charCodeAt pairs (milliseconds for one frame).
 */
function sameTail(text: string, a: number, b: number, len: number): boolean {
  if (len > NATIVE_COMPARE_MIN) return text.startsWith(text.slice(a, a + len), b);
  for (let i = 1; i < len; i++) if (text.charCodeAt(a + i) !== text.charCodeAt(b + i)) return false;
  return true;
}

/** The key whose literal's content is text[start, end), unescaped the way JSON.parse does it. */
function unescapeKey(text: string, start: number, end: number): string {
  const raw = text.slice(start, end);
  if (!raw.includes('\\')) return raw;
  try {
    return JSON.parse(`"${raw}"`) as string;
  } catch {
    return raw; // only for text JSON.parse refused, which callers never pass
  }
}

function grow(a: Int32Array<ArrayBuffer>): Int32Array<ArrayBuffer> {
  const b = new Int32Array(a.length * 2);
  b.set(a);
  return b;
}

/** `"key"` for an ERROR message: at most 32 UTF-16 code units of the key, JSON-escaped. */
export function describeKey(key: string): string {
  return key.length > 32 ? `${JSON.stringify(key.slice(0, 32))}…` : JSON.stringify(key);
}
