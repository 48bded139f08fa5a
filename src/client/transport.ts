/**
 * The WebSocket the client runs on: the platform's global `WebSocket` (browsers, Deno, Bun,
 * Node 22+) or, when there is none (Node 20), the `ws` package, imported lazily so that browser
 * bundles never need it.
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

/** Resolves the WebSocket implementation: `preferred`, else the global one, else `ws`. */
export async function resolveWebSocket(preferred?: WebSocketConstructor): Promise<WebSocketConstructor> {
  if (preferred) return preferred;
  const global = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (typeof global === 'function') return global;
  if (!cached) {
    // Ignored by bundlers: the browser build has a global WebSocket and must not pull in `ws`.
    const mod = await import(/* webpackIgnore: true */ /* @vite-ignore */ 'ws');
    cached = mod.WebSocket as unknown as WebSocketConstructor;
  }
  return cached;
}
