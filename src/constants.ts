/**
 * Fixed timings and sizes of the gateway (those that are not configuration). Each is documented
 * in docs/protocol.md §10 or docs/operations.md where a client or an operator can observe it.
 */

/** Unsent bytes on one connection from which it counts as congested: it is not read until drained. */
export const OUTPUT_CONGESTED_BYTES = 64 * 1024;

/** A DISCOVER's AGENTS reply takes one rate-limit token per started block of this many bytes. */
export const REPLY_BYTES_PER_TOKEN = 16 * 1024;

/**
 * An AGENTS reply is at most this share of MAX_BUFFERED_BYTES (256 KiB by default): agents that do
 * not fit are left out and the reply says `"truncated": true`.
 */
export const AGENTS_REPLY_SHARE = 1 / 4;

/** Past this many frames awaiting their turn the session stops reading its socket (TCP back-pressure). */
export const MAX_PENDING_STEPS = 64;
/** Reading resumes when the queue has drained to this. */
export const RESUME_PENDING_STEPS = 16;

/** After a 4413 or a ws protocol error, the socket is cut this long after the close frame was sent. */
export const TERMINATE_AFTER_CLOSE_MS = 1000;

/** How long shutdown waits for agents to answer the 1001 close before terminating them. */
export const CLOSE_GRACE_MS = 3000;
