/**
 * The one table of protocol error codes (docs/protocol.md §7), WebSocket close codes (§8), and the HTTP
 * error codes of the routes (`{ error, message }` bodies with their status).
 *
 * Every ERROR frame the gateway sends is built from this table, so a code's message and its
 * transport mapping (keep the connection open, or close it with a code) live in one place.
 *
 * Browser-safe (no imports at all): the client SDK shares it.
 */

/** WebSocket close codes used by the gateway (docs/protocol.md §8). */
export const CloseCode = {
  /** Gateway shutting down (graceful drain). */
  GOING_AWAY: 1001,
  /** Frame larger than MAX_FRAME_BYTES (sent by `ws` itself via `maxPayload`). */
  TOO_LARGE: 1009,
  /** Swept after AGENT_TIMEOUT without activity. */
  INACTIVE: 4000,
  /** Authentication required or failed. */
  AUTH: 4401,
  /** No REGISTER within AUTH_TIMEOUT. */
  AUTH_TIMEOUT: 4408,
  /** Another connection registered the same DID. */
  REPLACED: 4409,
  /** Rate-limit abuse went on past the documented threshold. */
  RATE_ABUSE: 4429,
  /** MAX_AGENTS already registered. */
  FULL: 4503,
  /**
   * An addition to docs/protocol.md §8: the agent does not read what is sent to it and one more write
   * would leave more than MAX_BUFFERED_BYTES unsent on its socket; it is closed so it cannot grow
   * the gateway's memory.
   */
  SLOW_CONSUMER: 4413,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** Close reasons sent with each close code (short: a close reason is limited to 123 bytes). */
export const closeReasons: Record<CloseCode, string> = {
  [CloseCode.GOING_AWAY]: 'gateway shutting down',
  [CloseCode.TOO_LARGE]: 'frame too large',
  [CloseCode.INACTIVE]: 'inactive',
  [CloseCode.AUTH]: 'authentication failed',
  [CloseCode.AUTH_TIMEOUT]: 'authentication timeout',
  [CloseCode.REPLACED]: 'session replaced',
  [CloseCode.RATE_ABUSE]: 'rate limit abuse',
  [CloseCode.FULL]: 'gateway full',
  [CloseCode.SLOW_CONSUMER]: 'slow consumer',
};

interface ErrorSpec {
  /** Default human-readable message of the ERROR frame. */
  readonly message: string;
  /** Close code sent right after the ERROR frame, or null when the connection stays open. */
  readonly close: CloseCode | null;
}

/** Protocol error codes → default message and transport mapping (docs/protocol.md §7). */
export const errorTable = {
  BAD_FRAME: { message: 'frame is malformed', close: null },
  UNKNOWN_TYPE: { message: 'unknown frame type', close: null },
  AUTH_REQUIRED: { message: 'register before sending other frames', close: CloseCode.AUTH },
  AUTH_FAILED: { message: 'registration rejected', close: CloseCode.AUTH },
  SENDER_MISMATCH: { message: '"from" is not the DID of this session', close: null },
  STALE: { message: '"ts" is outside the allowed clock skew', close: null },
  BAD_SIGNATURE: { message: 'signature does not verify', close: null },
  REPLAY: { message: 'frame id already used by this sender', close: null },
  AGENT_NOT_FOUND: { message: 'target agent is not online', close: null },
  RATE_LIMITED: { message: 'rate limit exceeded; frame dropped', close: null },
  /**
   * Cluster mode only, an addition to docs/protocol.md §7: the target is (or may be) on another node
   * and the cluster bus (Redis) is unreachable. The frame is dropped; the connection stays open.
   */
  UNAVAILABLE: { message: 'cluster bus unavailable; frame for another node dropped', close: null },
  /**
   * An addition to docs/protocol.md §7: the frames already queued for the target (it reads slower than
   * it is sent to) use up its inbound budget, half of MAX_BUFFERED_BYTES. The frame is dropped and
   * its id is used up; the target keeps its session. Retry later with a new id.
   */
  TARGET_BUSY: { message: 'target is not reading fast enough; frame dropped, retry later', close: null },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof errorTable;
export const errorCodes = Object.keys(errorTable) as ErrorCode[];

/** The ERROR frame (docs/protocol.md §7). */
export interface ErrorFrame {
  type: 'ERROR';
  code: ErrorCode;
  message: string;
  ref: string | null;
}

/** Builds an ERROR frame; `detail` replaces the default message when given. */
export function errorFrame(code: ErrorCode, ref: string | null, detail?: string): ErrorFrame {
  return { type: 'ERROR', code, message: detail ?? errorTable[code].message, ref };
}

/** A rejection produced while checking a frame; the session turns it into an ERROR frame (and maybe a close). */
export class ProtocolError extends Error {
  constructor(
    readonly code: ErrorCode,
    readonly ref: string | null,
    detail?: string,
  ) {
    super(detail ?? errorTable[code].message);
    this.name = 'ProtocolError';
  }
}

interface HttpErrorSpec {
  /** HTTP status of the reply. */
  readonly status: number;
  /** Default human-readable `message` of the body (call sites usually give a more precise one). */
  readonly message: string;
}

/**
 * HTTP error codes → status and default message: the `error` field of every `{ error, message }`
 * body a route sends itself (model: fastify's lib/errors.js, one table of code, message and
 * status). Refusals by plugins (@fastify/rate-limit's 429, Fastify's own 404/503) keep their bodies.
 */
export const httpErrorTable = {
  /** GET /agents: a bad query value or a cursor this gateway did not issue. */
  bad_request: { status: 400, message: 'bad request' },
  /** GET /agents: missing or wrong `Authorization: Bearer <ADMIN_TOKEN>`. */
  unauthorized: { status: 401, message: 'authentication required' },
  /** WebSocket upgrade: the Origin is not in ALLOWED_ORIGINS. */
  forbidden_origin: { status: 403, message: 'origin is not in ALLOWED_ORIGINS' },
  /** WebSocket upgrade: MAX_CONNECTIONS_PER_IP already open from this address. */
  too_many_connections: { status: 429, message: 'too many connections from this address' },
  /** Any path or method the API does not have. */
  not_found: { status: 404, message: 'no such route' },
  /** HTTP_RATE_LIMIT (/agents, /metrics) or CONNECT_RATE_LIMIT (/ws upgrades) per minute exceeded; see Retry-After. */
  rate_limited: { status: 429, message: 'too many requests; retry after Retry-After seconds' },
  /** A bug: logged at error level with the request id. */
  internal: { status: 500, message: 'internal error' },
  /** Cluster mode: the cluster-wide presence (Redis) is unreachable. */
  unavailable: { status: 503, message: 'service unavailable; retry later' },
} as const satisfies Record<string, HttpErrorSpec>;

export type HttpErrorCode = keyof typeof httpErrorTable;
export type HttpStatus = (typeof httpErrorTable)[HttpErrorCode]['status'];

/** An HTTP error reply: its status and its `{ error, message }` body. */
export interface HttpError<C extends HttpErrorCode = HttpErrorCode> {
  readonly status: (typeof httpErrorTable)[C]['status'];
  readonly body: { readonly error: C; readonly message: string };
}

/** Builds the HTTP error reply of `code`; `detail` replaces the default message when given. */
export function httpError<C extends HttpErrorCode>(code: C, detail?: string): HttpError<C> {
  const spec = httpErrorTable[code];
  return { status: spec.status, body: { error: code, message: detail ?? spec.message } };
}
