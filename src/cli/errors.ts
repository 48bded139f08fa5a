/**
 * CLI errors and their one-line messages. Every failure ends the process with exit status 1 and
 * one line on stderr; nothing prints a stack trace unless AICONEXUS_DEBUG is set.
 */
import { ClientError, CloseCode, GatewayError, GatewayMismatchError } from '../client/index.js';
import { terminalSafe } from './text.js';

/** An error whose message is shown as is. */
export class CliError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CliError';
  }
}

/** Network error codes that mean "the gateway is not there". */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ECONNRESET', 'ETIMEDOUT']);

/** The `code` of an error or of any error in its `cause` chain (fetch wraps socket errors). */
export function errnoCode(err: unknown): string | undefined {
  for (let e = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^E[A-Z_]+$/.test(code)) return code;
    // AggregateError (a host with several addresses) carries the socket errors in `errors`.
    const first = (e as { errors?: unknown[] }).errors?.[0];
    if (first) {
      const inner = errnoCode(first);
      if (inner) return inner;
    }
  }
  return undefined;
}

/** True when `err` says the gateway could not be reached at all. */
export function isUnreachable(err: unknown): boolean {
  const code = errnoCode(err);
  return (err instanceof ClientError && err.code === 'CONNECT_FAILED') || (code !== undefined && UNREACHABLE.has(code));
}

/** A gateway id that can be pasted into a shell command as it is. */
const SHELL_SAFE_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

/** The mismatch in the CLI's terms: which id was expected, which one the gateway named, and how to set it. */
function describeMismatch(err: GatewayMismatchError, url: string | undefined): string {
  const named = err.received.length > 128 ? `${JSON.stringify(err.received.slice(0, 128))}…` : JSON.stringify(err.received);
  const hint = SHELL_SAFE_ID.test(err.received) ? `--gateway-id ${err.received} (or GATEWAY_ID=${err.received})` : '--gateway-id ID (or GATEWAY_ID)';
  return (
    `gateway id mismatch: the gateway at ${url ?? '?'} named itself ${named} in its CHALLENGE, but ${JSON.stringify(err.expected)} is expected; ` +
    `nothing was signed. If ${named} is that gateway's GATEWAY_ID, pass ${hint}; otherwise the connection may be relaying another gateway's challenge`
  );
}

/** One line describing `err` for a command that talked to `url`, with control characters escaped (terminalSafe). */
export function describeError(err: unknown, url?: string): string {
  return terminalSafe(describe(err, url));
}

function describe(err: unknown, url?: string): string {
  if (err instanceof CliError) return err.message;
  if (err instanceof GatewayMismatchError) return describeMismatch(err, url);
  if (url !== undefined && isUnreachable(err)) {
    const code = errnoCode(err);
    return `cannot reach gateway at ${url}${code ? ` (${code})` : ''}`;
  }
  if (err instanceof GatewayError) {
    if (err.code === 'AUTH_FAILED' || err.code === 'AUTH_REQUIRED') return `authentication failed: ${err.message}`;
    return `gateway error ${err.code}: ${err.message}`;
  }
  if (err instanceof ClientError) {
    if (err.closeCode === CloseCode.AUTH) return `authentication failed (close ${err.closeCode})`;
    if (err.closeCode === CloseCode.FULL) return `gateway is full (close ${CloseCode.FULL})`;
    return err.message;
  }
  if (err instanceof Error && err.name === 'TimeoutError') return `no answer from ${url ?? 'the gateway'} in time`;
  if (err instanceof Error) return err.message;
  return String(err);
}
