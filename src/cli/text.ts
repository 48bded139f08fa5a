/**
 * Text from a peer or a gateway (frame types, ERROR codes and messages, close reasons, agent
 * metadata, HTTP bodies) reaches the terminal only through {@link terminalSafe}: a control
 * character in it could otherwise move the cursor, rewrite earlier lines, set the window title or
 * fake a line of the CLI's own output.
 */

/**
 * C0 controls (including TAB, LF, CR and ESC), DEL, C1 controls, and the Unicode characters that
 * reorder or break lines on display (ALM, LRM/RLM, LINE/PARAGRAPH SEPARATOR, the bidi embeddings,
 * overrides and isolates).
 */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * `text` with every control character written as a `\uXXXX` escape: the result is one line of
 * printable characters. An escape sequence (ESC [ … or the 8-bit CSI, U+009B) loses its
 * introducer and prints as plain text. Idempotent, and safe inside JSON text: the escapes are
 * JSON's own, so `JSON.parse(terminalSafe(JSON.stringify(v)))` equals `JSON.parse(JSON.stringify(v))`.
 */
export function terminalSafe(text: string): string {
  return text.replace(UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** `value` as JSON for the terminal (`indent` spaces, or one line), each line through {@link terminalSafe}. */
export function jsonText(value: unknown, indent?: number): string {
  return JSON.stringify(value, null, indent).split('\n').map(terminalSafe).join('\n');
}
