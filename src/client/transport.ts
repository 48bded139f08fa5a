/**
 * The WebSocket the client runs on. On Node: the `ws` package (a dependency of this package),
 * imported lazily so that browser bundles never need it. Node's built-in WebSocket differs by
 * major: on 22 a refused connection fires 'error' and never 'close'; on 24 and 26 the error
 * carries no reason (no ECONNREFUSED); `ws` behaves the same on every supported major and names
 * the cause. Elsewhere (browsers, Deno, Bun), or when `ws` cannot be imported: the platform's
 * global `WebSocket`.
 */

/** The part of the WHATWG WebSocket API the client uses; `ws` and browsers both provide it. */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  // `never` parameters: any WebSocket implementation's handler types are assignable here.
  onopen: ((event: never) => void) | null;
  onmessage: ((event: never) => void) | null;
  onclose: ((event: never) => void) | null;
  onerror: ((event: never) => void) | null;
}

/** A WebSocket constructor, e.g. `globalThis.WebSocket` or the `ws` package's default export. */
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** WebSocket readyState values (the same in every implementation). */
export const CONNECTING = 0;
export const OPEN = 1;
export const CLOSING = 2;

export interface MessageEventLike {
  data: unknown;
}
export interface CloseEventLike {
  code: number;
  reason: string;
}
/** `ws` puts the underlying error (with its `code`, e.g. ECONNREFUSED) on the event; browsers do not. */
export interface ErrorEventLike {
  error?: unknown;
  message?: string;
}

let cached: WebSocketConstructor | undefined;

/** True in Node.js: not in browsers, and not in Bun or Deno, which emulate parts of `process`. */
function isNode(): boolean {
  const proc = (globalThis as { process?: { release?: { name?: string }; versions?: { bun?: string; deno?: string } } }).process;
  return proc?.release?.name === 'node' && !proc.versions?.bun && !proc.versions?.deno;
}

/** Resolves the WebSocket implementation: `preferred`, else on Node `ws`, else the global one. */
export async function resolveWebSocket(preferred?: WebSocketConstructor): Promise<WebSocketConstructor> {
  if (preferred) return preferred;
  if (cached) return cached;
  const global = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (isNode() || typeof global !== 'function') {
    try {
      // Ignored by bundlers: the browser build has a global WebSocket and must not pull in `ws`.
      const mod = await import(/* webpackIgnore: true */ /* @vite-ignore */ 'ws');
      return (cached = mod.WebSocket as unknown as WebSocketConstructor);
    } catch (err) {
      if (typeof global !== 'function') throw err;
    }
  }
  return (cached = global as WebSocketConstructor);
}
