/**
 * Fixed timings, sizes and defaults of the client SDK. Kept apart from the gateway's
 * src/constants.ts: the SDK is its own package surface (`aiconexus-gateway/client`) and
 * browser-safe. Reconnect and replay-memory defaults live with their options (backoff.ts
 * DEFAULT_RECONNECT, replay.ts DEFAULT_REPLAY_LIMITS); the gateway's close codes are the
 * CloseCode table of src/errors.ts.
 */

/** Default `connectTimeoutMs`: connect + CHALLENGE + REGISTERED. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** Default `requestTimeoutMs`: an answer to DISCOVER or PING. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

/** Default `maxFrameAgeMs`: incoming signaling frames further than this from the local clock are dropped. */
export const DEFAULT_MAX_FRAME_AGE_MS = 120_000;

/** Signaling ids remembered to give an ERROR its request (type, target). */
export const SENT_MEMORY = 256;

/** Replay window when maxFrameAgeMs is 0. */
export const REPLAY_WINDOW_MS = 10 * 60_000;

/** How long closing waits for the socket's close event before going on. */
export const CLOSE_WAIT_MS = 1000;

/** WebSocket close code of a normal closure (RFC 6455 §7.4.1): the client closed. */
export const NORMAL_CLOSURE = 1000;

/** WebSocket close code reported when a connection dropped without a close frame (RFC 6455 §7.4.1). */
export const ABNORMAL_CLOSURE = 1006;

/**
 * ICE servers with a TURN credential are asked for again when this share of the credential's
 * remaining lifetime has passed (at most ICE_REFRESH_MAX_LEAD_MS before it expires)…
 */
export const ICE_REFRESH_AT_SHARE = 0.8;
export const ICE_REFRESH_MAX_LEAD_MS = 5 * 60_000;
/** …and, when that request fails, again after this (while the credential is still valid). */
export const ICE_REFRESH_RETRY_MS = 10_000;
