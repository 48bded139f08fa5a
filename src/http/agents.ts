/**
 * GET /agents: the registered agents, filtered by capability, paginated by an opaque cursor
 * (PROTOCOL.md §7). Guarded by `Authorization: Bearer <ADMIN_TOKEN>` when ADMIN_TOKEN is set.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import { CAPABILITY_PATTERN, DISCOVER_DEFAULT_LIMIT, DISCOVER_MAX_LIMIT } from '../protocol/frames.js';
import { schemaError } from '../protocol/codec.js';
import type { Hub } from '../ws/hub.js';

const querySchema = z.strictObject({
  capability: z.string().regex(CAPABILITY_PATTERN, 'capability must be 1-64 of [a-z0-9._:-]').optional(),
  limit: z
    .string()
    .regex(/^\d+$/, `limit must be an integer 1-${DISCOVER_MAX_LIMIT}`)
    .transform(Number)
    .pipe(z.number().int().min(1).max(DISCOVER_MAX_LIMIT, `limit must be an integer 1-${DISCOVER_MAX_LIMIT}`))
    .optional(),
  cursor: z.string().max(200).optional(),
});

/** The cursor is the last DID of the previous page, base64url-encoded so clients treat it as opaque. */
const encodeCursor = (did: string) => Buffer.from(did, 'utf8').toString('base64url');
function decodeCursor(cursor: string): string | null {
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) return null;
  const did = Buffer.from(cursor, 'base64url').toString('utf8');
  return did.startsWith('did:key:') ? did : null;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

export const agentsRoutes: FastifyPluginAsync<{ hub: Hub }> = async (app, { hub }) => {
  const token = hub.config.adminToken;
  const expected = token === undefined ? undefined : digest(`Bearer ${token}`);

  app.get('/agents', async (req, reply) => {
    if (expected) {
      const given = req.headers.authorization;
      // Compare digests so the comparison is constant-time whatever the header's length.
      if (typeof given !== 'string' || !timingSafeEqual(digest(given), expected)) {
        return reply
          .code(401)
          .header('www-authenticate', 'Bearer')
          .send({ error: 'unauthorized', message: 'GET /agents requires Authorization: Bearer <ADMIN_TOKEN>' });
      }
    }
    const parsed = querySchema.safeParse(req.query);
    if (!parsed.success) return reply.code(400).send({ error: 'bad_request', message: schemaError(parsed.error, 'query') });
    const { capability, limit, cursor } = parsed.data;
    let after: string | undefined;
    if (cursor !== undefined) {
      const decoded = decodeCursor(cursor);
      if (decoded === null) return reply.code(400).send({ error: 'bad_request', message: 'cursor is not a cursor this gateway issued' });
      after = decoded;
    }
    const page = await hub.presence.list({ capability, limit: limit ?? DISCOVER_DEFAULT_LIMIT, after });
    return {
      count: page.count,
      agents: page.agents.map((a) => ({
        did: a.did,
        meta: a.meta,
        connected_at: new Date(a.connectedAt).toISOString(),
        last_seen: new Date(a.lastSeen).toISOString(),
      })),
      next_cursor: page.nextAfter === null ? null : encodeCursor(page.nextAfter),
    };
  });
};
