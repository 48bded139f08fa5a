/**
 * Configuration from the environment (docs/operations.md "Configuration"), validated once at boot by one zod schema.
 *
 * Durations are given in seconds in the environment and held in milliseconds in {@link Config},
 * so tests can build a Config with sub-second timeouts directly.
 */
import { z } from 'zod';
import { usableCores } from './cpu-limit.js';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
/** Values of SIGNATURE_VERIFIER (src/identity/ed25519.ts). */
export const SIGNATURE_VERIFIERS = ['auto', 'libsodium', 'openssl'] as const;
export type SignatureVerifierChoice = (typeof SIGNATURE_VERIFIERS)[number];

/** Treats an empty string like an unset variable (common in .env files and compose files). */
const unsetIfEmpty = (v: unknown) => (v === '' ? undefined : v);

/** A decimal integer 1..max given as a string. */
const positiveIntText = (max: number) =>
  z
    .string()
    .regex(/^\d+$/, 'must be a positive integer')
    .transform(Number)
    .pipe(z.number().int().min(1, 'must be a positive integer').max(max, `must be at most ${max}`));

const positiveInt = (fallback: number, max = Number.MAX_SAFE_INTEGER) =>
  z.preprocess(unsetIfEmpty, positiveIntText(max).default(fallback));

/** Like positiveInt, without a default: undefined when unset (the default is derived later). */
const optionalPositiveInt = (max = Number.MAX_SAFE_INTEGER) => z.preprocess(unsetIfEmpty, positiveIntText(max).optional());

/** Timers take at most 2^31 − 1 ms; Node turns a longer delay into 1 ms, so refuse it at boot. */
const MAX_TIMER_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

/** A comma-separated list of ICE server URLs of the given schemes (RFC 7064 / RFC 7065 syntax, host and port only). */
const iceUrls = (schemes: string, pattern: RegExp) =>
  z.preprocess(
    unsetIfEmpty,
    z
      .string()
      .transform((v) => v.split(',').map((u) => u.trim()).filter((u) => u.length > 0))
      .refine((list) => list.length > 0 && list.length <= 16 && list.every((u) => u.length <= 256 && pattern.test(u)), `must be a comma-separated list of at most 16 ${schemes} URLs, e.g. ${schemes.split(' ')[0]}turn.example.com:3478`)
      .optional(),
  );

const envSchema = z.object({
  LOG_LEVEL: z.preprocess(unsetIfEmpty, z.enum(LOG_LEVELS).default('info')),
  GATEWAY_HOST: z.preprocess(unsetIfEmpty, z.string().min(1).default('127.0.0.1')),
  GATEWAY_PORT: z.preprocess(
    unsetIfEmpty,
    z
      .string()
      .regex(/^\d+$/, 'must be an integer 0-65535')
      .transform(Number)
      .pipe(z.number().int().min(0).max(65535, 'must be an integer 0-65535'))
      .default(8000),
  ),
  GATEWAY_ID: z.preprocess(
    unsetIfEmpty,
    z
      .string()
      .max(128, 'must be at most 128 characters')
      .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces')
      .default('aiconexus-gateway'),
  ),
  AGENT_TIMEOUT: positiveInt(300, MAX_TIMER_SECONDS),
  HEARTBEAT_INTERVAL: positiveInt(30, MAX_TIMER_SECONDS),
  AUTH_TIMEOUT: positiveInt(10, MAX_TIMER_SECONDS),
  CLOCK_SKEW: positiveInt(30),
  MAX_FRAME_BYTES: positiveInt(65536),
  MAX_AGENTS: positiveInt(10000),
  RATE_LIMIT: positiveInt(50),
  RATE_BURST: positiveInt(200),
  ADMIN_TOKEN: z.preprocess(unsetIfEmpty, z.string().min(16, 'must be at least 16 characters').optional()),
  REDIS_URL: z.preprocess(
    unsetIfEmpty,
    z
      .string()
      .regex(/^rediss?:\/\/\S+$/, 'must be a redis:// or rediss:// URL')
      .optional(),
  ),
  REDIS_KEY_PREFIX: z.preprocess(
    unsetIfEmpty,
    z.string().max(64).regex(/^[A-Za-z0-9._:-]+$/, 'must be 1-64 of [A-Za-z0-9._:-]').default('aiconexus:'),
  ),
  GATEWAY_WORKERS: positiveInt(1, 64),
  MAX_BUFFERED_BYTES: positiveInt(1_048_576),
  VERIFY_THREADS: optionalPositiveInt(64),
  VERIFY_INLINE_MAX_LOAD: z.preprocess(
    unsetIfEmpty,
    z
      .string()
      .regex(/^\d+$/, 'must be a whole percentage, 0-100')
      .transform(Number)
      .pipe(z.number().int().max(100, 'must be at most 100'))
      .default(75),
  ),
  SIGNATURE_VERIFIER: z.preprocess(unsetIfEmpty, z.enum(SIGNATURE_VERIFIERS).default('auto')),
  MAX_CONNECTIONS_PER_IP: positiveInt(256),
  MAX_SOCKETS_PER_IP: optionalPositiveInt(),
  HTTP_IDLE_TIMEOUT: positiveInt(10, MAX_TIMER_SECONDS),
  HTTP_HEADERS_TIMEOUT: positiveInt(10, MAX_TIMER_SECONDS),
  HTTP_RATE_LIMIT: positiveInt(120),
  CONNECT_RATE_LIMIT: positiveInt(120),
  ALLOWED_ORIGINS: z.preprocess(
    unsetIfEmpty,
    z
      .string()
      .transform((v) => v.split(',').map((o) => o.trim()).filter((o) => o.length > 0))
      .refine((list) => list.every((o) => o === '*' || /^https?:\/\/[^/\s]+$/.test(o)), 'must be a comma-separated list of origins like https://app.example.com')
      .optional(),
  ),
  STUN_URLS: iceUrls('stun: or stuns:', /^stuns?:[A-Za-z0-9.-]+(:\d{1,5})?$|^stuns?:\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/),
  TURN_URLS: iceUrls('turn: or turns:', /^turns?:([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:\d{1,5})?(\?transport=(udp|tcp))?$/),
  TURN_SECRET: z.preprocess(unsetIfEmpty, z.string().min(16, 'must be at least 16 characters').optional()),
  TURN_TTL: positiveInt(3600, 7 * 24 * 3600),
  TRUST_PROXY: z.preprocess(unsetIfEmpty, z.enum(['true', 'false']).default('false')),
  API_DOCS: z.preprocess(unsetIfEmpty, z.enum(['true', 'false']).default('false')),
});

/** Variables whose values are never echoed in error messages. */
const SECRET_VARS = new Set(['ADMIN_TOKEN', 'REDIS_URL', 'TURN_SECRET']);

/** The gateway's validated, frozen configuration. */
export interface Config {
  readonly logLevel: (typeof LOG_LEVELS)[number];
  readonly host: string;
  readonly port: number;
  /** Sent in CHALLENGE.gateway; REGISTER.aud must equal it. */
  readonly gatewayId: string;
  /** An agent idle (no frame, no pong) longer than this is swept with close 4000. */
  readonly agentTimeoutMs: number;
  /** The gateway sends a WebSocket ping to every connection this often. */
  readonly heartbeatIntervalMs: number;
  /** A connection must be REGISTERED within this, or it is closed with 4408. */
  readonly authTimeoutMs: number;
  /** Maximum |now − ts| accepted for REGISTER and signaling frames. */
  readonly clockSkewMs: number;
  /** Frames larger than this close the connection with 1009. */
  readonly maxFrameBytes: number;
  /** Registered agents beyond this are refused with 4503. */
  readonly maxAgents: number;
  /** Sustained inbound frames per second per session. */
  readonly rateLimit: number;
  /** Token-bucket capacity: frames a session may send in a burst. */
  readonly rateBurst: number;
  /** When set, GET /agents requires `Authorization: Bearer <token>`. */
  readonly adminToken: string | undefined;
  /** Cluster mode when set: presence and cross-node routing through this Redis. */
  readonly redisUrl: string | undefined;
  /** Prefix of every Redis key and channel (several deployments can share one Redis). */
  readonly redisKeyPrefix: string;
  /** Worker processes sharing the port (node:cluster); more than 1 requires REDIS_URL. */
  readonly workers: number;
  /** Bytes a socket may have queued for sending; past it a slow reader is closed with 4413. */
  readonly maxBufferedBytes: number;
  /** Worker threads verifying signatures off the event loop (started on first use). */
  readonly verifyThreads: number;
  /**
   * Event-loop busy share (0–1) below which signatures are verified on the event loop rather
   * than handed to the threads (VERIFY_INLINE_MAX_LOAD ÷ 100; 0 = only while the threads idle).
   */
  readonly verifyInlineMaxLoad: number;
  /** Ed25519 implementation: libsodium (sodium-native) when it loads (`auto`), or one of the two. */
  readonly signatureVerifier: SignatureVerifierChoice;
  /** Open WebSocket connections allowed from one IP address. */
  readonly maxConnectionsPerIp: number;
  /**
   * Open TCP connections (any state: idle, mid-request, WebSocket) allowed from one peer address,
   * counted at accept; Infinity = no cap (the default behind a trusted proxy, whose address every
   * client shares).
   */
  readonly maxSocketsPerIp: number;
  /** A TCP connection with no bytes either way this long, before or between HTTP requests, is closed (WebSocket connections are exempt). */
  readonly httpIdleTimeoutMs: number;
  /** An HTTP request (upgrades included) must have sent its request line and headers within this. */
  readonly httpHeadersTimeoutMs: number;
  /** Requests per minute per client address to GET /agents and GET /metrics. */
  readonly httpRateLimit: number;
  /** WebSocket upgrades allowed per IP address per minute. */
  readonly connectRateLimit: number;
  /** Browser origins allowed to connect (Origin header); undefined = any. */
  readonly allowedOrigins: readonly string[] | undefined;
  /** Trust X-Forwarded-For from a reverse proxy for the client address. */
  readonly trustProxy: boolean;
  /** Serve the OpenAPI document and UI at /docs. */
  readonly apiDocs: boolean;
  /** STUN servers handed to agents in REGISTERED and ICE_SERVERS (no credentials). */
  readonly stunUrls: readonly string[];
  /** TURN servers handed to agents with short-lived credentials bound to their DID (TURN_SECRET). */
  readonly turnUrls: readonly string[];
  /** The TURN REST API shared secret (coturn's static-auth-secret). Never logged or echoed. */
  readonly turnSecret: string | undefined;
  /** Lifetime of a TURN credential. */
  readonly turnTtlMs: number;
}

/** Start-up configuration error naming every bad variable. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Parses and validates the environment; throws {@link ConfigError} listing every bad variable.
 * @example loadConfig({ GATEWAY_PORT: '9000' }).port === 9000
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const keys = Object.keys(envSchema.shape) as (keyof typeof envSchema.shape)[];
  const picked = Object.fromEntries(keys.map((k) => [k, env[k]]));
  const result = envSchema.safeParse(picked);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const name = String(issue.path[0] ?? '(env)');
      const raw = SECRET_VARS.has(name) ? undefined : env[name];
      return `${name}: ${issue.message}${raw === undefined ? '' : ` (got ${JSON.stringify(raw)})`}`;
    });
    throw new ConfigError(problems);
  }
  const e = result.data;
  if (e.GATEWAY_WORKERS > 1 && e.REDIS_URL === undefined) {
    throw new ConfigError(['GATEWAY_WORKERS: more than 1 worker needs REDIS_URL (workers route to each other through Redis)']);
  }
  if ((e.TURN_URLS === undefined) !== (e.TURN_SECRET === undefined)) {
    throw new ConfigError([
      e.TURN_URLS === undefined
        ? 'TURN_SECRET: set without TURN_URLS (the secret signs credentials for the TURN servers listed there)'
        : 'TURN_URLS: needs TURN_SECRET (the TURN server\'s static-auth-secret, to sign each agent\'s credential)',
    ]);
  }
  return Object.freeze({
    logLevel: e.LOG_LEVEL,
    host: e.GATEWAY_HOST,
    port: e.GATEWAY_PORT,
    gatewayId: e.GATEWAY_ID,
    agentTimeoutMs: e.AGENT_TIMEOUT * 1000,
    heartbeatIntervalMs: e.HEARTBEAT_INTERVAL * 1000,
    authTimeoutMs: e.AUTH_TIMEOUT * 1000,
    clockSkewMs: e.CLOCK_SKEW * 1000,
    maxFrameBytes: e.MAX_FRAME_BYTES,
    maxAgents: e.MAX_AGENTS,
    rateLimit: e.RATE_LIMIT,
    rateBurst: e.RATE_BURST,
    adminToken: e.ADMIN_TOKEN,
    redisUrl: e.REDIS_URL,
    redisKeyPrefix: e.REDIS_KEY_PREFIX,
    workers: e.GATEWAY_WORKERS,
    maxBufferedBytes: e.MAX_BUFFERED_BYTES,
    verifyThreads: e.VERIFY_THREADS ?? defaultVerifyThreads(e.GATEWAY_WORKERS),
    verifyInlineMaxLoad: e.VERIFY_INLINE_MAX_LOAD / 100,
    signatureVerifier: e.SIGNATURE_VERIFIER,
    maxConnectionsPerIp: e.MAX_CONNECTIONS_PER_IP,
    maxSocketsPerIp: e.MAX_SOCKETS_PER_IP ?? defaultMaxSocketsPerIp(e.MAX_CONNECTIONS_PER_IP, e.TRUST_PROXY === 'true'),
    httpIdleTimeoutMs: e.HTTP_IDLE_TIMEOUT * 1000,
    httpHeadersTimeoutMs: e.HTTP_HEADERS_TIMEOUT * 1000,
    httpRateLimit: e.HTTP_RATE_LIMIT,
    connectRateLimit: e.CONNECT_RATE_LIMIT,
    allowedOrigins: e.ALLOWED_ORIGINS,
    trustProxy: e.TRUST_PROXY === 'true',
    apiDocs: e.API_DOCS === 'true',
    stunUrls: e.STUN_URLS ?? [],
    turnUrls: e.TURN_URLS ?? [],
    turnSecret: e.TURN_SECRET,
    turnTtlMs: e.TURN_TTL * 1000,
  });
}

/**
 * VERIFY_THREADS when unset: the cores (src/cpu-limit.ts: the affinity mask, capped by a cgroup
 * CPU quota), shared among GATEWAY_WORKERS processes, at least 1 and at most 4 per process (past
 * that the event loop, not verification, limits a process).
 */
export function defaultVerifyThreads(workers: number, cores = usableCores()): number {
  return Math.max(1, Math.min(4, Math.floor(cores / workers)));
}

/**
 * MAX_SOCKETS_PER_IP when unset: the WebSocket cap plus 64 for HTTP requests and upgrades in
 * flight. Behind a trusted proxy every client arrives from the proxy's address, so there is no
 * TCP cap unless one is set (the proxy bounds its clients; MAX_CONNECTIONS_PER_IP still applies
 * per forwarded address).
 */
export function defaultMaxSocketsPerIp(maxConnectionsPerIp: number, trustProxy: boolean): number {
  return trustProxy ? Number.POSITIVE_INFINITY : maxConnectionsPerIp + 64;
}

/** A Config with defaults, overridden field by field (for tests and embedding). */
export function configWith(overrides: Partial<Config> = {}): Config {
  const base = { ...loadConfig({}), ...overrides };
  // Derived defaults follow the fields they derive from, as loadConfig does.
  if (overrides.maxSocketsPerIp === undefined) base.maxSocketsPerIp = defaultMaxSocketsPerIp(base.maxConnectionsPerIp, base.trustProxy);
  return Object.freeze(base);
}
