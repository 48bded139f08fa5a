/**
 * Generates docs/asyncapi.yaml (AsyncAPI 3.0.0) from the zod frame schemas (src/protocol/frames.ts)
 * and the error and close-code tables (src/errors.ts), so the published contract cannot drift from
 * the code: test/unit/asyncapi.test.ts regenerates it in memory and compares it byte for byte.
 *
 *   npm run gen:asyncapi              writes docs/asyncapi.yaml
 *   npm run gen:asyncapi -- --check   exits 1 when docs/asyncapi.yaml is stale (for CI)
 *
 * The output is deterministic: every map is built from ordered arrays or from object literals in
 * source order, YAML anchors/aliases are disabled and lines are never folded.
 */
import { readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { z } from 'zod';
import { CloseCode, closeReasons, errorCodes, errorTable } from '../src/errors.js';
import { DID_A, offerVector } from '../test/helpers/vectors.js';
import {
  CLIENT_TYPES,
  DISCOVER_DEFAULT_LIMIT,
  PROTOCOL_VERSION,
  SERVER_TYPES,
  SIGNALING_TYPES,
  agentsSchema,
  answerSchema,
  byeSchema,
  challengeSchema,
  discoverSchema,
  errorSchema,
  getIceServersSchema,
  iceSchema,
  iceServersSchema,
  offerSchema,
  pingSchema,
  pongSchema,
  registerSchema,
  registeredSchema,
} from '../src/protocol/frames.js';

/** Where the generated document lives (committed). */
export const ASYNCAPI_PATH = fileURLToPath(new URL('../docs/asyncapi.yaml', import.meta.url));

type Json = Record<string, unknown>;
type ClientType = (typeof CLIENT_TYPES)[number];
type ServerType = (typeof SERVER_TYPES)[number];
type FrameType = ClientType | ServerType;

/** What the generator adds to a frame schema: words for readers, never constraints. */
interface FrameDoc {
  schema: z.core.$ZodType;
  /** Name under components.schemas. */
  schemaName: string;
  title: string;
  summary: string;
  description?: string;
  /** Descriptions of top-level fields. */
  fields?: Record<string, string>;
  examples?: { name: string; summary: string; payload: Json }[];
}

// The protocol's test vector (docs/protocol.md §13) (its `ts` is old: a live gateway answers STALE).
const OFFER_VECTOR = offerVector();

const SIG_NOTE =
  'Ed25519 signature (RFC 8032), base64url without padding (86 characters), over the UTF-8 bytes of the JCS (RFC 8785) canonical JSON of the frame without `sig`.';
const SIGNED_ENVELOPE_FIELDS: Record<string, string> = {
  id: 'Frame id chosen by the sender; an id is used up once its frame passes the signature check (REPLAY while `ts` + CLOCK_SKEW has not passed). ERROR frames about this frame carry it in `ref`.',
  from: "The sender's own DID; must equal the session's DID (SENDER_MISMATCH otherwise).",
  to: 'DID of the target agent; it must be online (AGENT_NOT_FOUND otherwise).',
  ts: 'Milliseconds since the Unix epoch; |now − ts| must be at most CLOCK_SKEW (STALE otherwise).',
  sig: SIG_NOTE,
};
const SIGNALING_NOTE =
  'Signed, routed frame. The gateway checks rate limit → schema (BAD_FRAME) → `from` (SENDER_MISMATCH) → `ts` (STALE) → `sig` (BAD_SIGNATURE) → `id` (REPLAY) → target online (AGENT_NOT_FOUND), answers the first failure with an ERROR whose `ref` is the frame id, and otherwise delivers the frame to the target byte for byte as received (the target can verify `sig` end to end). Success is silent; delivery is in order per sender→target pair.';

const CLIENT_FRAMES: Record<ClientType, FrameDoc> = {
  REGISTER: {
    schema: registerSchema,
    schemaName: 'RegisterFrame',
    title: 'Register',
    summary: 'Signed answer to CHALLENGE: proves control of the DID and opens the session.',
    description:
      'Must arrive within AUTH_TIMEOUT of the CHALLENGE (close 4408 otherwise). Any failure: ERROR AUTH_FAILED, then close 4401. A new REGISTER for a DID that is online replaces the old session, which is closed with 4409. A second REGISTER on a registered session gets ERROR BAD_FRAME.',
    fields: {
      did: "The agent's id: did:key of an Ed25519 public key (`did:key:z6Mk…`). Validated during registration (AUTH_FAILED), not by the frame schema.",
      nonce: 'The `nonce` of this connection’s CHALLENGE.',
      aud: 'The `gateway` field of the CHALLENGE (the GATEWAY_ID).',
      ts: 'Milliseconds since the Unix epoch; |now − ts| must be at most CLOCK_SKEW.',
      meta: 'Optional self-description returned by DISCOVER and GET /agents; may carry extra fields.',
      sig: SIG_NOTE,
    },
  },
  OFFER: {
    schema: offerSchema,
    schemaName: 'OfferFrame',
    title: 'Offer',
    summary: 'WebRTC SDP offer for another agent.',
    description: SIGNALING_NOTE,
    fields: { ...SIGNED_ENVELOPE_FIELDS, payload: '`sdp` (at most 32768 characters); extra fields allowed.' },
    examples: [{ name: 'test-vector', summary: 'The signed test vector of docs/protocol.md §13 (its ts is old).', payload: OFFER_VECTOR }],
  },
  ANSWER: {
    schema: answerSchema,
    schemaName: 'AnswerFrame',
    title: 'Answer',
    summary: 'WebRTC SDP answer for another agent.',
    description: SIGNALING_NOTE,
    fields: { ...SIGNED_ENVELOPE_FIELDS, payload: '`sdp` (at most 32768 characters); extra fields allowed.' },
  },
  ICE: {
    schema: iceSchema,
    schemaName: 'IceFrame',
    title: 'ICE candidate',
    summary: 'A trickled ICE candidate for another agent.',
    description: SIGNALING_NOTE,
    fields: { ...SIGNED_ENVELOPE_FIELDS, payload: '`candidate` (`""` = end of candidates); extra fields allowed.' },
  },
  BYE: {
    schema: byeSchema,
    schemaName: 'ByeFrame',
    title: 'Bye',
    summary: 'Ends a signaling exchange with another agent.',
    description: `${SIGNALING_NOTE} The payload is optional for BYE.`,
    fields: { ...SIGNED_ENVELOPE_FIELDS, payload: 'Optional; `reason` at most 256 characters; extra fields allowed.' },
  },
  DISCOVER: {
    schema: discoverSchema,
    schemaName: 'DiscoverFrame',
    title: 'Discover',
    summary: 'Lists online agents, optionally by capability; answered with AGENTS.',
    description: 'Unsigned; needs a registered session. The list includes the asking agent when it matches.',
    fields: {
      id: 'Optional; echoed in the AGENTS `ref` (null when absent).',
      capability: 'Only agents whose `meta.capabilities` contains this value.',
      limit: `At most this many agents (default ${DISCOVER_DEFAULT_LIMIT}).`,
    },
    examples: [{ name: 'by-capability', summary: 'Agents that can do vision.', payload: { type: 'DISCOVER', id: 'q1', capability: 'vision', limit: 50 } }],
  },
  PING: {
    schema: pingSchema,
    schemaName: 'PingFrame',
    title: 'Ping',
    summary: 'Application-level ping; answered with PONG.',
    description: 'Unsigned; needs a registered session. (The gateway also sends WebSocket pings every HEARTBEAT_INTERVAL.)',
    fields: { id: 'Optional; echoed in the PONG `ref` (null when absent).' },
    examples: [{ name: 'ping', summary: 'A ping with an id.', payload: { type: 'PING', id: 'p1' } }],
  },
  GET_ICE_SERVERS: {
    schema: getIceServersSchema,
    schemaName: 'GetIceServersFrame',
    title: 'Get ICE servers',
    summary: 'Asks for the ICE servers again, with a fresh TURN credential; answered with ICE_SERVERS.',
    description: 'Unsigned; needs a registered session. Send it before `ice_servers_expires_at` (of REGISTERED) or `expires_at` (of the last ICE_SERVERS).',
    fields: { id: 'Optional; echoed in the ICE_SERVERS `ref` (null when absent).' },
    examples: [{ name: 'refresh', summary: 'A refresh with an id.', payload: { type: 'GET_ICE_SERVERS', id: 'ice1' } }],
  },
};

const SERVER_FRAMES: Record<ServerType, FrameDoc> = {
  CHALLENGE: {
    schema: challengeSchema,
    schemaName: 'ChallengeFrame',
    title: 'Challenge',
    summary: 'First frame on every connection: what REGISTER must sign.',
    fields: {
      gateway: 'The GATEWAY_ID; REGISTER.aud must equal it.',
      nonce: 'base64url of 32 random bytes; REGISTER.nonce must equal it.',
      expires_in_ms: 'AUTH_TIMEOUT: REGISTER must arrive within it (close 4408 otherwise).',
    },
    examples: [
      {
        name: 'challenge',
        summary: 'A challenge with the default GATEWAY_ID and AUTH_TIMEOUT.',
        payload: { type: 'CHALLENGE', protocol: PROTOCOL_VERSION, gateway: 'aiconexus-gateway', nonce: '-ByBux-mUAOam5hY_d1KOhl4AukUPpHXEFePTuzjYXA', expires_in_ms: 10000 },
      },
    ],
  },
  REGISTERED: {
    schema: registeredSchema,
    schemaName: 'RegisteredFrame',
    title: 'Registered',
    summary: 'REGISTER accepted: the session is open.',
    fields: {
      session: 'Opaque session id.',
      heartbeat_ms: 'HEARTBEAT_INTERVAL: how often the gateway sends WebSocket pings.',
      agent_timeout_ms: 'AGENT_TIMEOUT: a session idle this long is closed with 4000.',
      ice_servers: 'Only when the gateway has STUN_URLS or TURN_URLS: RTCIceServer objects for `new RTCPeerConnection({ iceServers })`; the TURN entry carries a `username` (`<expiry unix seconds>:<DID>`) and `credential` valid until `ice_servers_expires_at`.',
      ice_servers_expires_at: 'With ice_servers: when the TURN credential expires, milliseconds since the Unix epoch; null without TURN.',
    },
  },
  AGENTS: {
    schema: agentsSchema,
    schemaName: 'AgentsFrame',
    title: 'Agents',
    summary: 'Answer to DISCOVER.',
    fields: { ref: 'The DISCOVER `id`, or null.', agents: '`connected_at` is an ISO 8601 timestamp.' },
    examples: [
      {
        name: 'one-agent',
        summary: 'One matching agent.',
        payload: { type: 'AGENTS', ref: 'q1', agents: [{ did: DID_A, meta: { name: 'a', capabilities: ['vision'] }, connected_at: '2025-11-25T00:00:00.000Z' }] },
      },
    ],
  },
  PONG: {
    schema: pongSchema,
    schemaName: 'PongFrame',
    title: 'Pong',
    summary: 'Answer to PING.',
    fields: { ref: 'The PING `id`, or null.', ts: 'Server time, milliseconds since the Unix epoch.' },
    examples: [{ name: 'pong', summary: 'Answer to PING p1.', payload: { type: 'PONG', ref: 'p1', ts: 1764028800000 } }],
  },
  ICE_SERVERS: {
    schema: iceServersSchema,
    schemaName: 'IceServersFrame',
    title: 'ICE servers',
    summary: 'Answer to GET_ICE_SERVERS: the ICE servers with a fresh TURN credential.',
    fields: {
      ref: 'The GET_ICE_SERVERS `id`, or null.',
      ice_servers: 'RTCIceServer objects (empty when the gateway has none configured).',
      expires_at: 'When the TURN credential expires, milliseconds since the Unix epoch; null without TURN.',
    },
    examples: [
      {
        name: 'stun-and-turn',
        summary: 'One STUN and one TURN server.',
        payload: {
          type: 'ICE_SERVERS',
          ref: 'ice1',
          ice_servers: [
            { urls: ['stun:stun.example.com:3478'] },
            { urls: ['turn:turn.example.com:3478?transport=udp'], username: `1764032400:${DID_A}`, credential: 'kR1u2SgVtPm0Tl0QkXGk+uYbXZc=' },
          ],
          expires_at: 1764032400000,
        },
      },
    ],
  },
  ERROR: {
    schema: errorSchema,
    schemaName: 'ErrorFrame',
    title: 'Error',
    summary: 'A rejected frame; some codes are followed by a close (see `x-error-codes`).',
    fields: {
      code: 'One of the error codes below (also listed with their close codes in `x-error-codes` of this message).',
      message: 'Human-readable text; the default per code is listed in `x-error-codes`, a more specific text may replace it.',
      ref: 'The `id` of the rejected frame when it had a well-formed one, else null (always null for RATE_LIMITED).',
    },
    examples: [{ name: 'stale', summary: 'A signaling frame whose ts is too old.', payload: { type: 'ERROR', code: 'STALE', message: errorTable.STALE.message, ref: 'offer-1' } }],
  },
};

/** Extra JSON Schema keywords for refine() checks whose rule is known; always a necessary condition. */
const REFINEMENT_KEYWORDS: Record<string, Json> = {
  // Every Ed25519 did:key is `z6Mk` + 44 base58btc characters (0xed 0x01 ‖ 32 bytes).
  'not an Ed25519 did:key': { pattern: '^did:key:z6Mk[1-9A-HJ-NP-Za-km-z]{44}$' },
};
const UTF16_LIMIT = /at most (\d+) characters \(UTF-16 code units\)/;

/** The message given to a refine(), or null. */
function refinementMessage(def: { error?: unknown }): string | null {
  if (typeof def.error !== 'function') return null;
  const out: unknown = (def.error as (issue: unknown) => unknown)({});
  if (typeof out === 'string') return out;
  if (out !== null && typeof out === 'object' && typeof (out as { message?: unknown }).message === 'string') {
    return (out as { message: string }).message;
  }
  return null;
}

function appendDescription(json: Json, text: string): void {
  const current = typeof json.description === 'string' ? json.description : '';
  if (current.includes(text)) return;
  json.description = current === '' ? text : `${current} ${text}`;
}

/**
 * `override` hook of z.toJSONSchema: refine() checks do not export, so each one is written into
 * the description, plus a JSON Schema keyword that is a necessary (weaker) form of it when known.
 */
function annotateRefinements(ctx: { zodSchema: unknown; jsonSchema: Json }): void {
  const def = (ctx.zodSchema as { _zod: { def: { checks?: { _zod: { def: { check: string; error?: unknown } } }[] } } })._zod.def;
  for (const check of def.checks ?? []) {
    if (check._zod.def.check !== 'custom') continue;
    const message = refinementMessage(check._zod.def);
    if (message === null) {
      appendDescription(ctx.jsonSchema, 'The gateway applies a further check that JSON Schema cannot express.');
      continue;
    }
    const limit = UTF16_LIMIT.exec(message);
    if (limit) {
      ctx.jsonSchema.maxLength = Number(limit[1]);
      appendDescription(
        ctx.jsonSchema,
        `Gateway check: ${message}. \`maxLength\` counts code points, so the gateway is stricter for characters outside the Basic Multilingual Plane.`,
      );
      continue;
    }
    Object.assign(ctx.jsonSchema, REFINEMENT_KEYWORDS[message] ?? {});
    appendDescription(ctx.jsonSchema, `Gateway check not expressible in JSON Schema: ${message}.`);
  }
}

/** `additionalProperties: {}` (zod's "anything") reads better as `true`. */
function tidy(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(tidy);
  if (value === null || typeof value !== 'object') return value;
  const out: Json = {};
  for (const [key, v] of Object.entries(value)) {
    if (key === 'additionalProperties' && v !== null && typeof v === 'object' && Object.keys(v).length === 0) out[key] = true;
    else out[key] = tidy(v);
  }
  return out;
}

/** JSON Schema (draft-07, the base of AsyncAPI's default schema format) of one frame. */
function frameSchema(doc: FrameDoc): Json {
  // io: 'input' describes what a sender must write (defaults and transforms would apply after parsing).
  const json = z.toJSONSchema(doc.schema, {
    target: 'draft-07',
    io: 'input',
    unrepresentable: 'throw',
    override: annotateRefinements,
  }) as Json;
  delete json.$schema;
  const props = (json.properties ?? {}) as Record<string, Json>;
  for (const [field, text] of Object.entries(doc.fields ?? {})) {
    const prop = props[field];
    if (!prop) throw new Error(`${doc.schemaName}: documented field "${field}" is not in the schema`);
    // Field notes go first; refinement notes (added by the override) follow.
    prop.description = typeof prop.description === 'string' ? `${text} ${prop.description}` : text;
  }
  return tidy(json) as Json;
}

function errorCodesSchema(errorFrame: Json): void {
  const props = errorFrame.properties as Record<string, Json>;
  const code = props.code;
  if (!code) throw new Error('ErrorFrame has no code property');
  code.enum = [...errorCodes];
}

function markdownTable(head: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

function closeCodeName(code: number): string {
  return Object.entries(CloseCode).find(([, v]) => v === code)?.[0] ?? String(code);
}

/** [name, code] pairs in numeric order (the order JavaScript gives integer-like keys anyway). */
function closeCodesByNumber(): [string, CloseCode][] {
  return (Object.entries(CloseCode) as [string, CloseCode][]).sort((a, b) => a[1] - b[1]);
}

function closeCodesTable(): string {
  const rows = closeCodesByNumber().map(([name, code]) => [String(code), name, closeReasons[code]]);
  return markdownTable(['close code', 'name', 'close reason sent'], rows);
}

function errorCodesTable(): string {
  const rows = errorCodes.map((code) => {
    const { message, close } = errorTable[code];
    return [code, message, close === null ? 'stays open' : `closed with ${close} (${closeCodeName(close)})`];
  });
  return markdownTable(['code', 'default message', 'connection'], rows);
}

function description(): string {
  return [
    `The AIConexus signaling protocol (\`${PROTOCOL_VERSION}\`) between the gateway and agents: one WebSocket per agent, every frame one UTF-8 **text** frame holding one JSON object with a string field \`type\`. The normative text is docs/protocol.md; this document is generated from the zod schemas in \`src/protocol/frames.ts\` and the tables in \`src/errors.ts\` by \`npm run gen:asyncapi\` (do not edit it by hand).`,
    '',
    '## Session',
    '1. On connect the gateway sends CHALLENGE.',
    '2. The agent answers with a signed REGISTER within AUTH_TIMEOUT; the gateway answers REGISTERED.',
    '3. Then the agent sends signed OFFER/ANSWER/ICE/BYE frames to other agents (routed byte for byte), and unsigned DISCOVER and PING.',
    '',
    'Any frame before REGISTERED other than REGISTER gets ERROR AUTH_REQUIRED and close 4401. Frames of a server-only type (CHALLENGE, REGISTERED, AGENTS, PONG, ERROR) sent by an agent get ERROR BAD_FRAME; an unknown `type` gets ERROR UNKNOWN_TYPE; a binary frame or anything that is not a JSON object gets ERROR BAD_FRAME.',
    '',
    '## Signatures',
    'REGISTER, OFFER, ANSWER, ICE and BYE carry `sig`: Ed25519 (RFC 8032, strict verification) over the UTF-8 bytes of the JCS (RFC 8785) canonical JSON of the frame without `sig`, written as 86 base64url characters without padding. An agent id is `did:key:z` + base58btc(0xed 0x01 ‖ 32-byte public key).',
    '',
    '## Limits and checks JSON Schema cannot express',
    '- A frame larger than MAX_FRAME_BYTES (default 65536) closes the connection with 1009.',
    '- Every inbound frame counts toward the per-session rate limit (RATE_LIMIT frames/s, bursts up to RATE_BURST), checked before parsing: ERROR RATE_LIMITED with `ref: null`; close 4429 when abuse goes on.',
    '- String length limits (`meta.name`, `sdp`, BYE `reason`) count UTF-16 code units (JavaScript string length); the schemas give `maxLength`, which counts code points, so the gateway is stricter for characters outside the Basic Multilingual Plane.',
    '- `meta` as JSON is at most 4096 UTF-8 bytes.',
    '- `to` is decoded as a did:key whose multicodec is Ed25519 (the schema gives the shape as a pattern).',
    '- `ts` freshness (CLOCK_SKEW), signatures, replayed ids, `from` = session DID and the REGISTER `nonce`/`aud`/`did` are checked against the session, not by the schema; see the ERROR codes.',
    '- `ts` fields are integers (milliseconds since the Unix epoch).',
    '- Envelopes are strict (unknown top-level fields are BAD_FRAME); `payload` and `meta` objects may carry extra fields (covered by the signature). Frames the gateway sends may gain fields: clients must ignore unknown ones.',
    '- Schemas describe the input side of the zod schemas (what a sender writes).',
    '',
    '## Error codes (ERROR frame `code`)',
    errorCodesTable(),
    '',
    '## Close codes',
    closeCodesTable(),
    '',
    'The `ws` library itself may also close a connection with 1002 (WebSocket protocol error) or 1007 (invalid UTF-8).',
  ].join('\n');
}

/** The AsyncAPI 3.0.0 document as a plain object (key order = output order). */
export function buildAsyncApiDocument(): Json {
  const schemas: Json = {};
  const messages: Json = {};
  const docs: [FrameType, FrameDoc][] = [
    ...CLIENT_TYPES.map((t): [FrameType, FrameDoc] => [t, CLIENT_FRAMES[t]]),
    ...SERVER_TYPES.map((t): [FrameType, FrameDoc] => [t, SERVER_FRAMES[t]]),
  ];
  for (const [type, doc] of docs) {
    const schema = frameSchema(doc);
    if (type === 'ERROR') errorCodesSchema(schema);
    schemas[doc.schemaName] = schema;
    const message: Json = {
      name: type,
      title: doc.title,
      summary: doc.summary,
      ...(doc.description === undefined ? {} : { description: doc.description }),
      contentType: 'application/json',
      payload: { $ref: `#/components/schemas/${doc.schemaName}` },
    };
    if (type === 'ERROR') {
      message['x-error-codes'] = Object.fromEntries(
        errorCodes.map((code) => [code, { message: errorTable[code].message, close: errorTable[code].close }]),
      );
    }
    if (doc.examples) message.examples = doc.examples;
    messages[type] = message;
  }

  const channelMessage = (type: FrameType) => ({ $ref: `#/channels/ws/messages/${type}` });
  const sent: FrameType[] = [...SERVER_TYPES, ...SIGNALING_TYPES];

  return {
    asyncapi: '3.0.0',
    info: {
      title: 'AIConexus Gateway signaling protocol',
      version: PROTOCOL_VERSION,
      description: description(),
      license: { name: 'Apache-2.0', url: 'https://www.apache.org/licenses/LICENSE-2.0' },
    },
    defaultContentType: 'application/json',
    servers: {
      gateway: {
        host: '127.0.0.1:8000',
        protocol: 'ws',
        title: 'Gateway (defaults)',
        description: 'GATEWAY_HOST:GATEWAY_PORT (defaults 127.0.0.1:8000); `wss` behind a TLS-terminating proxy.',
      },
    },
    channels: {
      ws: {
        address: '/ws',
        title: 'Agent connection',
        description: 'One WebSocket per agent. The same OFFER/ANSWER/ICE/BYE messages are received from the sender and sent, unchanged, to the target.',
        servers: [{ $ref: '#/servers/gateway' }],
        messages: Object.fromEntries(docs.map(([type]) => [type, { $ref: `#/components/messages/${type}` }])),
        bindings: { ws: { method: 'GET', bindingVersion: '0.1.0' } },
        'x-close-codes': Object.fromEntries(closeCodesByNumber().map(([name, code]) => [String(code), { name, reason: closeReasons[code] }])),
      },
    },
    operations: {
      receiveFromAgent: {
        action: 'receive',
        channel: { $ref: '#/channels/ws' },
        title: 'Frames an agent sends to the gateway',
        summary: 'REGISTER, the signed signaling frames (OFFER, ANSWER, ICE, BYE) for another agent, DISCOVER and PING.',
        messages: CLIENT_TYPES.map(channelMessage),
      },
      sendToAgent: {
        action: 'send',
        channel: { $ref: '#/channels/ws' },
        title: 'Frames the gateway sends to an agent',
        summary: 'CHALLENGE, REGISTERED, AGENTS, PONG, ERROR, and the signaling frames other agents addressed to it (byte for byte as they sent them).',
        messages: sent.map(channelMessage),
      },
    },
    components: { schemas, messages },
  };
}

/** docs/asyncapi.yaml as it should be, byte for byte. */
export function generateAsyncApi(): string {
  const header = '# Generated by scripts/gen-asyncapi.ts from src/protocol/frames.ts and src/errors.ts.\n# Do not edit: run `npm run gen:asyncapi`.\n';
  return header + stringify(buildAsyncApiDocument(), { lineWidth: 0, aliasDuplicateObjects: false, version: '1.1' });
}

function isMain(): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  const yaml = generateAsyncApi();
  if (process.argv.includes('--check')) {
    let current = '';
    try {
      current = readFileSync(ASYNCAPI_PATH, 'utf8');
    } catch {
      // missing counts as stale
    }
    if (current !== yaml) {
      console.error('docs/asyncapi.yaml is stale: run npm run gen:asyncapi');
      process.exit(1);
    }
    console.log('docs/asyncapi.yaml is up to date');
  } else {
    writeFileSync(ASYNCAPI_PATH, yaml);
    console.log(`wrote ${ASYNCAPI_PATH}`);
  }
}
