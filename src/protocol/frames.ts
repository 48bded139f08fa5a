/**
 * Every frame of the wire protocol (docs/protocol.md) as a zod schema; TypeScript types are inferred.
 *
 * Envelopes are strict (unknown top-level fields are a BAD_FRAME); `payload` and `meta` are loose
 * objects that may carry extra fields, which are covered by the signature like everything else.
 *
 * Written with `zod/mini` (zod 4's functional API: `z.optional(x)`, `.check(z.regex(…))` instead of
 * `x.optional()`, `.regex(…)`). It runs the same zod core as `zod` and gives the same issues, but
 * a bundler keeps only the parts used: the client SDK's browser bundle shares these schemas, and
 * with `zod` it weighed 490 KiB, with `zod/mini` 76 KiB (docs/client.md, "Browser bundle size").
 * Import zod's parts by name (`zod/mini`, `zod/locales`, `zod/v4/core`), never `zod` itself nor
 * a namespace of it (`z.core`, `z.locales`) at run time: either brings most of zod back into the
 * bundle, which scripts/build-browser-client.mjs then rejects as over its size budget.
 */
import * as z from 'zod/mini';
import { ZodMiniType } from 'zod/mini';
import { en } from 'zod/locales';
import { $constructor, $ZodObjectJIT, type $loose, type $strict, type $strip, type $ZodLooseShape } from 'zod/v4/core';
import { isDidKey } from './did-key.js';

// zod's built-in messages ("Invalid input: expected string, received number", "Unrecognized
// key: …") come from its English locale. `zod` installs it when its first schema is made;
// `zod/mini` leaves the messages to the caller, so set it here, the same way (only when no locale
// is configured, so an application's own `z.config(…)` made earlier is kept). The gateway's ERROR
// messages and the client's errors quote these messages.
if (!z.config().localeError) z.config(en());

/**
 * zod/mini's objects, parsed the way `zod`'s are. zod/mini's own objects go through zod's
 * interpreter (no eval); `zod`'s are parsed by a function zod generates for each shape
 * ($ZodObjectJIT: `new Function`, and the interpreter where eval is not allowed or after
 * `z.config({ jitless: true })`). On the gateway's hot path (OFFER, ANSWER, ICE, BYE) the
 * interpreter took 1.4× as long (docs/client.md, "Browser bundle size"), so the objects here
 * are zod/mini objects on that parser: the same definitions, issues, types and JSON Schema as
 * `z.strictObject` / `z.looseObject` / `z.object`, the parse speed of before.
 */
const ZodMiniObjectJIT: typeof z.ZodMiniObject = $constructor('ZodMiniObject', (inst: z.ZodMiniObject, def) => {
  $ZodObjectJIT.init(inst, def);
  ZodMiniType.init(inst, def);
  Object.defineProperty(inst, 'shape', { get: () => inst._zod.def.shape, configurable: true });
});
const strictObject = <S extends $ZodLooseShape>(shape: S) =>
  new ZodMiniObjectJIT({ type: 'object', shape, catchall: z.never() }) as z.ZodMiniObject<S, $strict>;
const looseObject = <S extends $ZodLooseShape>(shape: S) =>
  new ZodMiniObjectJIT({ type: 'object', shape, catchall: z.unknown() }) as z.ZodMiniObject<S, $loose>;
const object = <S extends $ZodLooseShape>(shape: S) => new ZodMiniObjectJIT({ type: 'object', shape }) as z.ZodMiniObject<S, $strip>;

// TextEncoder rather than Buffer: this module is shared with the browser-safe client.
const utf8 = new TextEncoder();

export const PROTOCOL_VERSION = 'aiconexus/1';

/** Frame types an agent may send. */
export const SIGNALING_TYPES = ['OFFER', 'ANSWER', 'ICE', 'BYE'] as const;
export const CLIENT_TYPES = ['REGISTER', ...SIGNALING_TYPES, 'DISCOVER', 'PING', 'GET_ICE_SERVERS'] as const;
/** Frame types only the gateway sends; an agent sending one gets BAD_FRAME. */
export const SERVER_TYPES = ['CHALLENGE', 'REGISTERED', 'AGENTS', 'PONG', 'ICE_SERVERS', 'ERROR'] as const;

export type SignalingType = (typeof SIGNALING_TYPES)[number];

export const ID_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;
export const CAPABILITY_PATTERN = /^[a-z0-9._:-]{1,64}$/;
/**
 * An Ed25519 signature on the wire: 86 base64url characters = 64 bytes; the last character carries
 * 2 bits, so only A, Q, g, w are canonical. The one definition: the schemas, the gateway's
 * decodeSignature (identity/verify.ts) and the client's verifyFrame (client/keys.ts) use it.
 */
export const SIGNATURE_PATTERN = /^[A-Za-z0-9_-]{85}[AQgw]$/;
export const DID_SHAPE = /^did:key:z[1-9A-HJ-NP-Za-km-z]{47}$/;

export const MAX_SDP_CHARS = 32768;
export const MAX_BYE_REASON_CHARS = 256;
export const MAX_META_NAME_CHARS = 64;
export const MAX_CAPABILITIES = 32;
export const MAX_META_JSON_BYTES = 4096;
export const DISCOVER_DEFAULT_LIMIT = 100;
export const DISCOVER_MAX_LIMIT = 1000;

/**
 * A string of at most `max` UTF-16 code units (docs/protocol.md §1: limits count JavaScript string
 * length). zod's `.max()` counts code points, which would let astral characters double a limit.
 */
const maxChars = (max: number) =>
  z.string().check(z.refine((s) => s.length <= max, `must be at most ${max} characters (UTF-16 code units)`));

const frameId = z.string().check(z.regex(ID_PATTERN, 'id must be 1-64 of [A-Za-z0-9._:-]'));
const timestamp = z.number().check(z.int('ts must be an integer'), z.minimum(0), z.maximum(Number.MAX_SAFE_INTEGER));
const signature = z.string().check(z.regex(SIGNATURE_PATTERN, 'sig must be 86 base64url characters (64 bytes)'));
/** A syntactically valid did:key whose multicodec is Ed25519 (full decode). */
const agentDid = z.string().check(z.refine((s) => DID_SHAPE.test(s) && isDidKey(s), 'not an Ed25519 did:key'));
const capability = z.string().check(z.regex(CAPABILITY_PATTERN, 'capability must be 1-64 of [a-z0-9._:-]'));

export const metaSchema = looseObject({
    name: z.optional(maxChars(MAX_META_NAME_CHARS)),
    capabilities: z.optional(z.array(capability).check(z.maxLength(MAX_CAPABILITIES))),
  })
  .check(
    z.refine(
      (m) => utf8.encode(JSON.stringify(m)).length <= MAX_META_JSON_BYTES,
      `meta must be at most ${MAX_META_JSON_BYTES} bytes as JSON`,
    ),
  );
export type AgentMeta = z.infer<typeof metaSchema>;

export const registerSchema = strictObject({
  type: z.literal('REGISTER'),
  did: z.string(),
  nonce: z.string(),
  aud: z.string(),
  ts: timestamp,
  meta: z.optional(metaSchema),
  sig: signature,
});
export type RegisterFrame = z.infer<typeof registerSchema>;

const sdpPayload = looseObject({ sdp: maxChars(MAX_SDP_CHARS) });
const icePayload = looseObject({
  candidate: z.string(),
  sdpMid: z.optional(z.nullable(z.string())),
  sdpMLineIndex: z.optional(z.nullable(z.number().check(z.int(), z.minimum(0)))),
  usernameFragment: z.optional(z.nullable(z.string())),
});
const byePayload = looseObject({ reason: z.optional(maxChars(MAX_BYE_REASON_CHARS)) });

const envelope = <T extends SignalingType, P extends z.ZodMiniType>(type: T, payload: P) =>
  strictObject({
    type: z.literal(type),
    id: frameId,
    from: z.string().check(z.regex(DID_SHAPE, 'from must be a did:key')),
    to: agentDid,
    ts: timestamp,
    payload,
    sig: signature,
  });

export const offerSchema = envelope('OFFER', sdpPayload);
export const answerSchema = envelope('ANSWER', sdpPayload);
export const iceSchema = envelope('ICE', icePayload);
/** BYE's payload is optional: a BYE without one is accepted (documented in docs/protocol.md). */
export const byeSchema = envelope('BYE', z.optional(byePayload));

export const signalingSchemas = {
  OFFER: offerSchema,
  ANSWER: answerSchema,
  ICE: iceSchema,
  BYE: byeSchema,
} as const;
export type SignalingFrame = z.infer<(typeof signalingSchemas)[SignalingType]>;

export const discoverSchema = strictObject({
  type: z.literal('DISCOVER'),
  id: z.optional(z.nullable(frameId)),
  capability: z.optional(capability),
  limit: z.optional(z.number().check(z.int(), z.minimum(1), z.maximum(DISCOVER_MAX_LIMIT))),
});
export type DiscoverFrame = z.infer<typeof discoverSchema>;

export const pingSchema = strictObject({
  type: z.literal('PING'),
  id: z.optional(z.nullable(frameId)),
});
export type PingFrame = z.infer<typeof pingSchema>;

/** Asks for fresh ICE servers (a TURN credential about to expire): answered with ICE_SERVERS. */
export const getIceServersSchema = strictObject({
  type: z.literal('GET_ICE_SERVERS'),
  id: z.optional(z.nullable(frameId)),
});
export type GetIceServersFrame = z.infer<typeof getIceServersSchema>;

// Frames the gateway sends. They are schemas too so docs and client code share one definition.
// Loose objects: a client must tolerate fields a newer gateway adds.

export const challengeSchema = looseObject({
  type: z.literal('CHALLENGE'),
  protocol: z.literal(PROTOCOL_VERSION),
  gateway: z.string(),
  nonce: z.string(),
  expires_in_ms: z.number().check(z.int()),
});
export type ChallengeFrame = z.infer<typeof challengeSchema>;

/** RTCIceServer-shaped (ready for `new RTCPeerConnection({ iceServers })`). */
export const iceServerSchema = looseObject({
  urls: z.array(z.string()),
  username: z.optional(z.string()),
  credential: z.optional(z.string()),
});

export const registeredSchema = looseObject({
  type: z.literal('REGISTERED'),
  did: z.string(),
  session: z.string(),
  heartbeat_ms: z.number().check(z.int()),
  agent_timeout_ms: z.number().check(z.int()),
  /** When the gateway has STUN/TURN servers configured (docs/protocol.md §6). */
  ice_servers: z.optional(z.array(iceServerSchema)),
  /** When the TURN credential in ice_servers expires (ms since epoch); null without TURN. */
  ice_servers_expires_at: z.optional(z.nullable(z.number().check(z.int()))),
});
export type RegisteredFrame = z.infer<typeof registeredSchema>;

export const agentInfoSchema = object({
  did: z.string(),
  meta: z.record(z.string(), z.unknown()),
  connected_at: z.string(),
});
export const agentsSchema = looseObject({
  type: z.literal('AGENTS'),
  ref: z.nullable(z.string()),
  agents: z.array(agentInfoSchema),
  /** Present (true) when the listing was cut at the reply's size bound (docs/protocol.md §6). */
  truncated: z.optional(z.literal(true)),
});
export type AgentsFrame = z.infer<typeof agentsSchema>;

export const pongSchema = looseObject({
  type: z.literal('PONG'),
  ref: z.nullable(z.string()),
  ts: z.number().check(z.int()),
});
export type PongFrame = z.infer<typeof pongSchema>;

export const iceServersSchema = looseObject({
  type: z.literal('ICE_SERVERS'),
  ref: z.nullable(z.string()),
  /** Empty when the gateway has none configured. */
  ice_servers: z.array(iceServerSchema),
  expires_at: z.nullable(z.number().check(z.int())),
});
export type IceServersFrame = z.infer<typeof iceServersSchema>;

export const errorSchema = looseObject({
  type: z.literal('ERROR'),
  code: z.string(),
  message: z.string(),
  ref: z.nullable(z.string()),
});
