/**
 * Delivery to an agent on another node, in one Redis round trip: the ROUTE script locates the live
 * node holding the target and publishes the frame on that node's channel (src/routing/redis-bus.ts
 * subscribes to it and decodes the message).
 *
 * The script reads the presence layout of src/registry/redis-presence.ts (`agent:<did>` field
 * `node`, the `node:<id>` liveness key) and tolerates a corrupt entry (not routable: `not_found`).
 */
import type { Redis } from 'ioredis';
import { frameMessage } from './redis-bus.js';
import type { RemoteDelivery, RemoteResult } from './router.js';

/**
 * Locate and publish in one round trip: the frame goes to the channel of the live node holding
 * the DID. Returns the number of receivers (0: that node is gone), -1 when no live node holds it,
 * -2 when it is this node (the agent just left here).
 */
const ROUTE = `
local node = redis.pcall('HGET', KEYS[1], 'node')
if type(node) ~= 'string' then return -1 end -- missing, or not a hash (corrupt)
if redis.call('EXISTS', ARGV[1] .. 'node:' .. node) == 0 then return -1 end
if node == ARGV[2] then return -2 end
return redis.call('PUBLISH', ARGV[1] .. 'ch:' .. node, ARGV[3])
`;

interface RouteCommand {
  aicxRoute(key: string, prefix: string, self: string, message: Buffer): Promise<number>;
}

export interface RedisRouterOptions {
  /** Command connection (not the subscriber); `enableOfflineQueue: false` so an outage fails fast. */
  redis: Redis;
  nodeId: string;
  /** Key prefix shared with presence, e.g. `aiconexus:`. */
  prefix: string;
}

export class RedisRouter implements RemoteDelivery {
  private readonly redis: Redis & RouteCommand;

  constructor(private readonly opts: RedisRouterOptions) {
    const redis = opts.redis as Redis & Partial<RouteCommand>;
    if (!redis.aicxRoute) redis.defineCommand('aicxRoute', { numberOfKeys: 1, lua: ROUTE });
    this.redis = redis as Redis & RouteCommand;
  }

  /**
   * Delivers a frame's original bytes to the node holding `to`. `unavailable` at once while Redis
   * is not ready, or when the command fails.
   */
  async deliver(to: string, data: Buffer): Promise<RemoteResult> {
    if (this.redis.status !== 'ready') return 'unavailable';
    try {
      const receivers = await this.route(to, frameMessage(to, data));
      // -1: no live node holds it; -2: listed here but no longer connected here; 0: node gone.
      return receivers > 0 ? 'delivered' : 'not_found';
    } catch {
      return 'unavailable';
    }
  }

  /**
   * Publishes `message` to the channel of the live node holding `did`, in one round trip.
   * Returns receivers (≥ 0), -1 when no live node holds `did`, -2 when this node does.
   */
  route(did: string, message: Buffer): Promise<number> {
    return this.redis.aicxRoute(`${this.opts.prefix}agent:${did}`, this.opts.prefix, this.opts.nodeId, message);
  }
}
