/**
 * Errors the client reports: {@link GatewayError} for an ERROR frame of the gateway (its code is
 * from the protocol's error table), {@link ClientError} for what went wrong on this side.
 */
import { errorTable, type CloseCode, type ErrorCode } from '../errors.js';

/** An ERROR frame from the gateway (docs/errors.md). */
export class GatewayError extends Error {
  /** The protocol error code, e.g. `AGENT_NOT_FOUND`. */
  readonly code: ErrorCode;
  /** The id of the frame this error answers, or null. */
  readonly ref: string | null;
  /** The close code the gateway sends after this error, or null when the connection stays open. */
  readonly closeCode: CloseCode | null;
  /** Type and target of the signaling frame `ref` names, when this client sent it recently. */
  readonly request: { type: string; to?: string } | undefined;

  constructor(code: ErrorCode, message: string, ref: string | null, request?: { type: string; to?: string }) {
    super(message);
    this.name = 'GatewayError';
    this.code = code;
    this.ref = ref;
    this.closeCode = errorTable[code].close;
    this.request = request;
  }

  /** True when `code` is one of the protocol's error codes. */
  static isCode(code: string): code is ErrorCode {
    return Object.hasOwn(errorTable, code);
  }
}

/** What can go wrong on the client's side. */
export type ClientErrorCode =
  /** The gateway could not be reached or the socket failed before the handshake finished. */
  | 'CONNECT_FAILED'
  /** The connection closed (by the gateway or the network) while a request was pending. */
  | 'CONNECTION_CLOSED'
  /** `close()` was called. */
  | 'CLOSED'
  /** A request is made while no session is registered. */
  | 'NOT_CONNECTED'
  /** No answer in time (handshake or request). */
  | 'TIMEOUT'
  /** The gateway sent something the protocol does not allow here. */
  | 'PROTOCOL'
  /** CHALLENGE.gateway is not the gateway id the client expects (GatewayMismatchError); nothing was signed. */
  | 'GATEWAY_MISMATCH'
  /** A bad argument (target DID, payload, option). */
  | 'INVALID_ARGUMENT';

/** An error on the client's side; `closeCode` is set when a WebSocket close caused it. */
export class ClientError extends Error {
  readonly code: ClientErrorCode;
  readonly closeCode: number | undefined;

  constructor(code: ClientErrorCode, message: string, options: { closeCode?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ClientError';
    this.code = code;
    this.closeCode = options.closeCode;
  }
}

/** Longest gateway id quoted in a message: a GATEWAY_ID has at most 128 characters. */
const QUOTE_MAX = 128;

/**
 * The CHALLENGE named another gateway id than the one the client expects (the `gatewayId`
 * option): the client closed the socket without signing a REGISTER, and does not retry.
 */
export class GatewayMismatchError extends ClientError {
  declare readonly code: 'GATEWAY_MISMATCH';
  /** The gateway id the client expects. */
  readonly expected: string;
  /** The gateway id the CHALLENGE named (as received: it comes from the gateway). */
  readonly received: string;

  constructor(url: string, expected: string, received: string) {
    const named = JSON.stringify(received.length > QUOTE_MAX ? `${received.slice(0, QUOTE_MAX)}…` : received);
    super(
      'GATEWAY_MISMATCH',
      `gateway id mismatch: the gateway at ${url} named itself ${named} in its CHALLENGE, but this client expects ${JSON.stringify(expected)}; ` +
        "nothing was signed. If that is the gateway's GATEWAY_ID, set the client's gatewayId option to it",
    );
    this.name = 'GatewayMismatchError';
    this.expected = expected;
    this.received = received;
  }
}
