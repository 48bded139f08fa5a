/**
 * Every frame of the wire protocol (docs/protocol.md) as a zod schema; TypeScript types are inferred.
 *
 * Envelopes are strict (unknown top-level fields are a BAD_FRAME); `payload` and `meta` are loose
 * objects that may carry extra fields, which are covered by the signature like everything else.
 */
import { z } from 'zod';
import { isDidKey } from './did-key.js';

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
const DID_SHAPE = /^did:key:z[1-9A-HJ-NP-Za-km-z]{47}$/;

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
  z.string().refine((s) => s.length <= max, `must be at most ${max} characters (UTF-16 code units)`);

const frameId = z.string().regex(ID_PATTERN, 'id must be 1-64 of [A-Za-z0-9._:-]');
const timestamp = z.number().int('ts must be an integer').min(0).max(Number.MAX_SAFE_INTEGER);
const signature = z.string().regex(SIGNATURE_PATTERN, 'sig must be 86 base64url characters (64 bytes)');
/** A syntactically valid did:key whose multicodec is Ed25519 (full decode). */
const agentDid = z.string().refine((s) => DID_SHAPE.test(s) && isDidKey(s), 'not an Ed25519 did:key');
const capability = z.string().regex(CAPABILITY_PATTERN, 'capability must be 1-64 of [a-z0-9._:-]');

export const metaSchema = z
  .looseObject({
    name: maxChars(MAX_META_NAME_CHARS).optional(),
    capabilities: z.array(capability).max(MAX_CAPABILITIES).optional(),
  })
  .refine(
    (m) => utf8.encode(JSON.stringify(m)).length <= MAX_META_JSON_BYTES,
    `meta must be at most ${MAX_META_JSON_BYTES} bytes as JSON`,
  );
export type AgentMeta = z.infer<typeof metaSchema>;

export const registerSchema = z.strictObject({
  type: z.literal('REGISTER'),
  did: z.string(),
  nonce: z.string(),
  aud: z.string(),
  ts: timestamp,
  meta: metaSchema.optional(),
  sig: signature,
});
export type RegisterFrame = z.infer<typeof registerSchema>;

const sdpPayload = z.looseObject({ sdp: maxChars(MAX_SDP_CHARS) });
const icePayload = z.looseObject({
  candidate: z.string(),
  sdpMid: z.string().nullable().optional(),
  sdpMLineIndex: z.number().int().min(0).nullable().optional(),
  usernameFragment: z.string().nullable().optional(),
});
const byePayload = z.looseObject({ reason: maxChars(MAX_BYE_REASON_CHARS).optional() });

const envelope = <T extends SignalingType, P extends z.ZodType>(type: T, payload: P) =>
  z.strictObject({
    type: z.literal(type),
    id: frameId,
    from: z.string().regex(DID_SHAPE, 'from must be a did:key'),
    to: agentDid,
    ts: timestamp,
    payload,
    sig: signature,
  });

export const offerSchema = envelope('OFFER', sdpPayload);
export const answerSchema = envelope('ANSWER', sdpPayload);
export const iceSchema = envelope('ICE', icePayload);
/** BYE's payload is optional: a BYE without one is accepted (documented in docs/protocol.md). */
export const byeSchema = envelope('BYE', byePayload.optional());

export const signalingSchemas = {
  OFFER: offerSchema,
  ANSWER: answerSchema,
  ICE: iceSchema,
  BYE: byeSchema,
} as const;
export type SignalingFrame = z.infer<(typeof signalingSchemas)[SignalingType]>;

export const discoverSchema = z.strictObject({
  type: z.literal('DISCOVER'),
  id: frameId.nullable().optional(),
  capability: capability.optional(),
  limit: z.number().int().min(1).max(DISCOVER_MAX_LIMIT).optional(),
});
export type DiscoverFrame = z.infer<typeof discoverSchema>;

export const pingSchema = z.strictObject({
  type: z.literal('PING'),
  id: frameId.nullable().optional(),
});
export type PingFrame = z.infer<typeof pingSchema>;

/** Asks for fresh ICE servers (a TURN credential about to expire): answered with ICE_SERVERS. */
export const getIceServersSchema = z.strictObject({
  type: z.literal('GET_ICE_SERVERS'),
  id: frameId.nullable().optional(),
});
export type GetIceServersFrame = z.infer<typeof getIceServersSchema>;

// Frames the gateway sends. They are schemas too so docs and client code share one definition.
// Loose objects: a client must tolerate fields a newer gateway adds.

export const challengeSchema = z.looseObject({
  type: z.literal('CHALLENGE'),
  protocol: z.literal(PROTOCOL_VERSION),
  gateway: z.string(),
  nonce: z.string(),
  expires_in_ms: z.number().int(),
});
export type ChallengeFrame = z.infer<typeof challengeSchema>;

/** RTCIceServer-shaped (ready for `new RTCPeerConnection({ iceServers })`). */
export const iceServerSchema = z.looseObject({
  urls: z.array(z.string()),
  username: z.string().optional(),
  credential: z.string().optional(),
});

export const registeredSchema = z.looseObject({
  type: z.literal('REGISTERED'),
  did: z.string(),
  session: z.string(),
  heartbeat_ms: z.number().int(),
  agent_timeout_ms: z.number().int(),
  /** When the gateway has STUN/TURN servers configured (docs/protocol.md §6). */
  ice_servers: z.array(iceServerSchema).optional(),
  /** When the TURN credential in ice_servers expires (ms since epoch); null without TURN. */
  ice_servers_expires_at: z.number().int().nullable().optional(),
});
export type RegisteredFrame = z.infer<typeof registeredSchema>;

export const agentInfoSchema = z.object({
  did: z.string(),
  meta: z.record(z.string(), z.unknown()),
  connected_at: z.string(),
});
export const agentsSchema = z.looseObject({
  type: z.literal('AGENTS'),
  ref: z.string().nullable(),
  agents: z.array(agentInfoSchema),
  /** Present (true) when the listing was cut at the reply's size bound (docs/protocol.md §6). */
  truncated: z.literal(true).optional(),
});
export type AgentsFrame = z.infer<typeof agentsSchema>;

export const pongSchema = z.looseObject({
  type: z.literal('PONG'),
  ref: z.string().nullable(),
  ts: z.number().int(),
});
export type PongFrame = z.infer<typeof pongSchema>;

export const iceServersSchema = z.looseObject({
  type: z.literal('ICE_SERVERS'),
  ref: z.string().nullable(),
  /** Empty when the gateway has none configured. */
  ice_servers: z.array(iceServerSchema),
  expires_at: z.number().int().nullable(),
});
export type IceServersFrame = z.infer<typeof iceServersSchema>;

export const errorSchema = z.looseObject({
  type: z.literal('ERROR'),
  code: z.string(),
  message: z.string(),
  ref: z.string().nullable(),
});
