/**
 * A tiny JSON *text* model for the fuzzer: objects are ordered entry lists (so a key may appear
 * twice, and JSON.parse keeps the last), keys and scalars may be written as raw literals (`-0`,
 * `1e400`, `"\u0074ype"`), and whitespace can be sprinkled in. `JSON.stringify` can express none
 * of this, and these are exactly the texts where parsers, canonicalisers and signers disagree.
 */

/** One JSON value as text to be written. */
export type Raw =
  /** Literal JSON text, written as is (a number like `-0`, an escaped string, or broken text). */
  | { readonly lit: string }
  /** A JSON object; entries are written in order, duplicates included. `key` is a raw string literal. */
  | { readonly obj: readonly RawEntry[] }
  | { readonly arr: readonly Raw[] };

export interface RawEntry {
  /** The key as JSON string-literal text, quotes included (e.g. `"type"` or `"\u0074ype"`). */
  readonly key: string;
  readonly value: Raw;
}

/** A JSON value written by JSON.stringify (must be JSON-serialisable). */
export const val = (value: unknown): Raw => ({ lit: JSON.stringify(value) });
export const lit = (text: string): Raw => ({ lit: text });
export const obj = (entries: readonly RawEntry[]): Raw => ({ obj: entries });
export const arr = (items: readonly Raw[]): Raw => ({ arr: items });
/** An entry whose key is written as an ordinary JSON string. */
export const entry = (key: string, value: Raw): RawEntry => ({ key: JSON.stringify(key), value });

/** Builds a Raw from a plain JSON-serialisable value (objects become entry lists). */
export function fromValue(value: unknown): Raw {
  if (Array.isArray(value)) return arr(value.map(fromValue));
  if (typeof value === 'object' && value !== null) {
    return obj(Object.entries(value as Record<string, unknown>).map(([k, v]) => entry(k, fromValue(v))));
  }
  return val(value);
}

/** Writes `raw` as JSON text; `space` is inserted after every `{`, `[`, `:` and `,` when given. */
export function write(raw: Raw, space = ''): string {
  if ('lit' in raw) return raw.lit;
  if ('arr' in raw) return `[${space}${raw.arr.map((r) => write(r, space)).join(`,${space}`)}]`;
  return `{${space}${raw.obj.map((e) => `${e.key}:${space}${write(e.value, space)}`).join(`,${space}`)}}`;
}

/** The decoded name of a raw key (JSON.parse of its literal), or undefined for a broken literal. */
export function keyName(e: RawEntry): string | undefined {
  try {
    const k: unknown = JSON.parse(e.key);
    return typeof k === 'string' ? k : undefined;
  } catch {
    return undefined;
  }
}

/** Nesting `depth` arrays around `inner` as text: `[[[…]]]` (2 bytes a level). */
export function deepArrayText(depth: number, inner = ''): string {
  return '['.repeat(depth) + inner + ']'.repeat(depth);
}

/** Nesting `depth` objects `{"a":{"a":…}}` (6 bytes a level). */
export function deepObjectText(depth: number, inner = '0'): string {
  return '{"a":'.repeat(depth) + inner + '}'.repeat(depth);
}
