/**
 * The one delivery interface the session calls, whatever the deployment: it never branches on
 * local vs remote (as socket.io's ClusterAdapter for its callers).
 *
 * - {@link LocalRouter} (single node): the sessions on this node are the whole deployment.
 * - {@link ClusterRouter} (REDIS_URL): a session on this node first, else the node holding the
 *   target through Redis (src/routing/redis-router.ts).
 *
 * Hot path: when the answer is known at once (a local target; always for LocalRouter) `deliver`
 * returns the plain string, so no promise is allocated per locally routed frame. Callers test
 * `typeof result === 'string'` before awaiting.
 */
import type { LocalBus } from './local-bus.js';

/**
 * What became of a routed frame: `busy` when the local target's queued frames use up its inbound
 * budget (TARGET_BUSY); `not_found` when no live session holds the DID (AGENT_NOT_FOUND);
 * `unavailable` when the node holding it cannot be reached (cluster mode, Redis away: UNAVAILABLE).
 */
export type DeliveryResult = 'delivered' | 'busy' | 'not_found' | 'unavailable';

/** Outcome of a delivery to another node. */
export type RemoteResult = 'delivered' | 'not_found' | 'unavailable';

export interface Router {
  /** Delivers a frame's original bytes to the session holding `to`, wherever it is. */
  deliver(to: string, data: Buffer): DeliveryResult | Promise<DeliveryResult>;
}

/** Delivery to agents on other nodes (the Cluster, over Redis). */
export interface RemoteDelivery {
  deliver(to: string, data: Buffer): Promise<RemoteResult>;
}

/** Single node: local sessions only; always synchronous, never `unavailable`. */
export class LocalRouter implements Router {
  constructor(private readonly local: LocalBus) {}

  deliver(to: string, data: Buffer): 'delivered' | 'busy' | 'not_found' {
    return this.local.deliver(to, data);
  }
}

/**
 * Cluster mode: a target on this node is served synchronously (`busy` stays local: the frame is
 * not tried elsewhere); any other goes to the node holding it (asynchronous, one Redis round trip).
 */
export class ClusterRouter implements Router {
  constructor(
    private readonly local: LocalBus,
    private readonly remote: RemoteDelivery,
  ) {}

  deliver(to: string, data: Buffer): DeliveryResult | Promise<DeliveryResult> {
    const result = this.local.deliver(to, data);
    return result === 'not_found' ? this.remote.deliver(to, data) : result;
  }
}
