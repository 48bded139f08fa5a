/**
 * GET /agents: the registered agents, filtered by capability, paginated by an opaque cursor
 * (docs/operations.md "HTTP endpoints"). Guarded by `Authorization: Bearer <ADMIN_TOKEN>` when ADMIN_TOKEN is set.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import { CAPABILITY_PATTERN, DISCOVER_DEFAULT_LIMIT, DISCOVER_MAX_LIMIT } from '../protocol/frames.js';
import { MAX_CURSOR_CHARS, RATE_LIMIT_WINDOW_MS } from '../constants.js';
import { httpErrorTable } from '../errors.js';
import { schemaError } from '../protocol/codec.js';
import { agentListing, LAST_SEEN_BYTES, type AgentListing, type EntryCache } from '../registry/wire.js';
import type { Config } from '../config.js';
import type { Presence } from '../registry/presence.js';
import { errorReply, sendHttpError } from './schemas.js';

const querySchema = z.strictObject({
  capability: z.string().regex(CAPABILITY_PATTERN, 'capability must be 1-64 of [a-z0-9._:-]').optional(),
  limit: z
    .string()
    .regex(/^\d+$/, `limit must be an integer 1-${DISCOVER_MAX_LIMIT}`)
    .transform(Number)
    .pipe(z.number().int().min(1).max(DISCOVER_MAX_LIMIT, `limit must be an integer 1-${DISCOVER_MAX_LIMIT}`))
    .optional(),
  cursor: z.string().max(MAX_CURSOR_CHARS).optional(),
});

/**
 * The query as JSON Schema, for the OpenAPI document only: the route validates with `querySchema`
 * (zod) itself so a bad value keeps its `{error: 'bad_request', message}` 400, and Ajv must not
 * coerce values or strip unknown parameters (an unknown parameter is a 400 too).
 */
const queryDoc = {
  type: 'object',
  properties: {
    capability: { type: 'string', pattern: CAPABILITY_PATTERN.source, description: 'Only agents whose `meta.capabilities` contains this value.' },
    limit: { type: 'integer', minimum: 1, maximum: DISCOVER_MAX_LIMIT, default: DISCOVER_DEFAULT_LIMIT, description: 'Page size.' },
    cursor: { type: 'string', maxLength: MAX_CURSOR_CHARS, description: 'The `next_cursor` of the previous page (opaque).' },
  },
  additionalProperties: false,
} as const;

const agentsBody = {
  type: 'object',
  properties: {
    count: { type: 'integer', description: 'Total number of matching agents (all pages).' },
    agents: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          did: { type: 'string', description: 'did:key of the agent.' },
          meta: { type: 'object', additionalProperties: true, description: 'The `meta` of its REGISTER (`name`, `capabilities`, extra fields).' },
          connected_at: { type: 'string', format: 'date-time' },
          last_seen: { type: 'string', format: 'date-time' },
        },
        required: ['did', 'meta', 'connected_at', 'last_seen'],
        additionalProperties: true,
      },
    },
    next_cursor: { type: ['string', 'null'], description: 'Pass as `cursor` for the next page; null on the last page.' },
  },
  required: ['count', 'agents', 'next_cursor'],
  additionalProperties: true,
} as const;

/** Documentation only: every value passes, `querySchema` in the handler is the validator. */
const describeOnly = () => () => true;

/** The cursor is the last DID of the previous page, base64url-encoded so clients treat it as opaque. */
const encodeCursor = (did: string) => Buffer.from(did, 'utf8').toString('base64url');
function decodeCursor(cursor: string): string | null {
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) return null;
  const did = Buffer.from(cursor, 'base64url').toString('utf8');
  return did.startsWith('did:key:') ? did : null;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** What GET /agents needs: who is online (presence), and its knobs. */
export interface AgentsRoutesOptions {
  presence: Pick<Presence, 'list'>;
  /** Sizes each listed agent from its cached AGENTS entry (no second serialisation). */
  entries: EntryCache;
  config: Pick<Config, 'adminToken' | 'httpRateLimit' | 'maxBufferedBytes'>;
}

export const agentsRoutes: FastifyPluginAsync<AgentsRoutesOptions> = async (app, { presence, entries, config: knobs }) => {
  const token = knobs.adminToken;
  const expected = token === undefined ? undefined : digest(`Bearer ${token}`);

  const schema = {
    summary: 'List the registered agents',
    description: `Filtered by capability, paginated by an opaque cursor (docs/operations.md, "HTTP endpoints"). ${
      expected ? 'Requires `Authorization: Bearer <ADMIN_TOKEN>`.' : 'Open: ADMIN_TOKEN is not set on this gateway.'
    }`,
    tags: ['agents'],
    querystring: queryDoc,
    ...(expected ? { security: [{ bearerAuth: [] }] } : {}),
    response: {
      200: { ...agentsBody, description: 'One page of agents.' },
      [httpErrorTable.bad_request.status]: errorReply('A bad query value (`error: "bad_request"`).'),
      [httpErrorTable.unauthorized.status]: errorReply('Missing or wrong bearer token (`error: "unauthorized"`); only when ADMIN_TOKEN is set.'),
      [httpErrorTable.rate_limited.status]: errorReply('More than HTTP_RATE_LIMIT requests this minute from this address (`error: "rate_limited"`, `Retry-After`).'),
      [httpErrorTable.unavailable.status]: errorReply('Cluster mode only: the cluster-wide presence (Redis) is unreachable (`error: "unavailable"`).'),
    },
  };

  // Per client address (HTTP_RATE_LIMIT per minute): one request may list 1,000 agents.
  const config = { rateLimit: { max: knobs.httpRateLimit, timeWindow: RATE_LIMIT_WINDOW_MS } };
  app.get('/agents', { schema, validatorCompiler: describeOnly, config }, async (req, reply) => {
    if (expected) {
      const given = req.headers.authorization;
      // Compare digests so the comparison is constant-time whatever the header's length.
      if (typeof given !== 'string' || !timingSafeEqual(digest(given), expected)) {
        reply.header('www-authenticate', 'Bearer');
        return sendHttpError(reply, 'unauthorized', 'GET /agents requires Authorization: Bearer <ADMIN_TOKEN>');
      }
    }
    const parsed = querySchema.safeParse(req.query);
    if (!parsed.success) return sendHttpError(reply, 'bad_request', schemaError(parsed.error, 'query'));
    const { capability, limit, cursor } = parsed.data;
    let after: string | undefined;
    if (cursor !== undefined) {
      const decoded = decodeCursor(cursor);
      if (decoded === null) return sendHttpError(reply, 'bad_request', 'cursor is not a cursor this gateway issued');
      after = decoded;
    }
    let page;
    try {
      page = await presence.list({ capability, limit: limit ?? DISCOVER_DEFAULT_LIMIT, after });
    } catch (err) {
      req.log.warn({ err: (err as Error).message }, 'GET /agents: presence unavailable');
      return sendHttpError(reply, 'unavailable', 'cluster presence (Redis) is unavailable; retry later');
    }
    // A page is at most MAX_BUFFERED_BYTES of JSON (1 MiB by default; 1,000 agents with 4 KB of
    // meta would be 4 MB): past it the page ends early and next_cursor goes on from there, so a
    // client that does not read cannot make one request hold megabytes.
    const agents: AgentListing[] = [];
    let bytes = 0;
    let nextAfter = page.nextAfter;
    for (const record of page.agents) {
      bytes += entries.of(record).bytes + LAST_SEEN_BYTES + 1;
      if (bytes > knobs.maxBufferedBytes && agents.length > 0) {
        nextAfter = (agents[agents.length - 1] as AgentListing).did;
        break;
      }
      agents.push(agentListing(record));
    }
    return { count: page.count, agents, next_cursor: nextAfter === null ? null : encodeCursor(nextAfter) };
  });
};
