/**
 * Delivery to agents connected to this node. A frame is handed over as the exact bytes received,
 * so the target can verify the sender's signature end to end.
 *
 * The sessions deliver through a Router (src/routing/router.ts), which starts here.
 */

/** Something that can receive a routed frame (a registered session). */
export interface DeliveryTarget {
  /**
   * Sends the frame's original bytes as one text frame (a string when it came from another node).
   * `busy` when the frames already queued for the target use up its inbound budget; `closed` when
   * it is closing.
   */
  deliver(data: Buffer | string): 'delivered' | 'busy' | 'closed';
}

/** What became of a frame handed to this node's bus: `not_found` when no open session holds the DID here. */
export type LocalDelivery = 'delivered' | 'busy' | 'not_found';

export class LocalBus {
  private readonly targets = new Map<string, DeliveryTarget>();

  /** Makes `target` the delivery point for `did`; returns the one it replaced, if any. */
  attach(did: string, target: DeliveryTarget): DeliveryTarget | undefined {
    const previous = this.targets.get(did);
    this.targets.set(did, target);
    return previous;
  }

  /** Detaches `did` only if `target` is still its delivery point. */
  detach(did: string, target: DeliveryTarget): boolean {
    if (this.targets.get(did) !== target) return false;
    this.targets.delete(did);
    return true;
  }

  get(did: string): DeliveryTarget | undefined {
    return this.targets.get(did);
  }

  has(did: string): boolean {
    return this.targets.has(did);
  }

  deliver(to: string, data: Buffer | string): LocalDelivery {
    const target = this.targets.get(to);
    if (target === undefined) return 'not_found';
    const result = target.deliver(data);
    return result === 'closed' ? 'not_found' : result;
  }

  get size(): number {
    return this.targets.size;
  }
}
