/**
 * CLI errors and their one-line messages. Every failure ends the process with exit status 1 and
 * one line on stderr; nothing prints a stack trace unless AICONEXUS_DEBUG is set.
 */
import { ClientError, GatewayError } from '../client/index.js';

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

/** One line describing `err` for a command that talked to `url`. */
export function describeError(err: unknown, url?: string): string {
  if (err instanceof CliError) return err.message;
  if (url !== undefined && isUnreachable(err)) {
    const code = errnoCode(err);
    return `cannot reach gateway at ${url}${code ? ` (${code})` : ''}`;
  }
  if (err instanceof GatewayError) {
    if (err.code === 'AUTH_FAILED' || err.code === 'AUTH_REQUIRED') return `authentication failed: ${err.message}`;
    return `gateway error ${err.code}: ${err.message}`;
  }
  if (err instanceof ClientError) {
    if (err.closeCode === 4401) return `authentication failed (close ${err.closeCode})`;
    if (err.closeCode === 4503) return 'gateway is full (close 4503)';
    return err.message;
  }
  if (err instanceof Error && err.name === 'TimeoutError') return `no answer from ${url ?? 'the gateway'} in time`;
  if (err instanceof Error) return err.message;
  return String(err);
}
