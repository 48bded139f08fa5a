/**
 * The unsigned requests of a registered session (docs/protocol.md §6): DISCOVER → AGENTS,
 * PING → PONG and GET_ICE_SERVERS → ICE_SERVERS. Each check runs when the frame arrives (a schema failure is its ERROR at once);
 * the answer is an outcome for the session's step queue, applied in arrival order.
 */
import { ProtocolError } from '../errors.js';
import { refOf, schemaError } from '../protocol/codec.js';
import type { IceServerGrant } from '../ice-servers.js';
import { DISCOVER_DEFAULT_LIMIT, discoverSchema, getIceServersSchema, pingSchema } from '../protocol/frames.js';
import type { Discovery } from './discovery.js';
import type { Outcome } from './step-queue.js';

/** What answering needs from the session. */
export interface RequestContext {
  readonly discovery: Pick<Discovery, 'reply'>;
  now(): number;
  /** Takes rate-limit tokens beyond the one the frame took on arrival. */
  charge(tokens: number): void;
  /** Sends the gateway's own frame (text) through the connection's write path. */
  send(text: string): void;
  /** This agent's ICE servers now (fresh TURN credential). */
  iceServers(): IceServerGrant;
}

/** DISCOVER: the AGENTS reply, priced by its size (docs/protocol.md §6). */
export function discover(frame: Record<string, unknown>, ctx: RequestContext): Outcome {
  const parsed = discoverSchema.safeParse(frame);
  if (!parsed.success) throw new ProtocolError('BAD_FRAME', refOf(frame), schemaError(parsed.error));
  const { id, capability, limit } = parsed.data;
  return async () => {
    let reply;
    try {
      reply = await ctx.discovery.reply(id ?? null, capability, limit ?? DISCOVER_DEFAULT_LIMIT);
    } catch {
      // Cluster mode with Redis away: the cluster-wide list cannot be read.
      throw new ProtocolError('UNAVAILABLE', id ?? null, 'cluster presence unavailable; retry DISCOVER later');
    }
    // The frame took one token on arrival; the reply pays the rest.
    ctx.charge(reply.tokens - 1);
    ctx.send(reply.text);
  };
}

/** PING: a PONG with the gateway's clock. */
export function ping(frame: Record<string, unknown>, ctx: RequestContext): Outcome {
  const parsed = pingSchema.safeParse(frame);
  if (!parsed.success) throw new ProtocolError('BAD_FRAME', refOf(frame), schemaError(parsed.error));
  const ref = parsed.data.id ?? null;
  return () => ctx.send(JSON.stringify({ type: 'PONG', ref, ts: ctx.now() }));
}

/** GET_ICE_SERVERS: ICE_SERVERS with a fresh credential (an empty list when none are configured). */
export function iceServers(frame: Record<string, unknown>, ctx: RequestContext): Outcome {
  const parsed = getIceServersSchema.safeParse(frame);
  if (!parsed.success) throw new ProtocolError('BAD_FRAME', refOf(frame), schemaError(parsed.error));
  const ref = parsed.data.id ?? null;
  return () => {
    const grant = ctx.iceServers();
    ctx.send(JSON.stringify({ type: 'ICE_SERVERS', ref, ice_servers: grant.iceServers, expires_at: grant.expiresAt }));
  };
}
