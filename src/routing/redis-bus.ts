/**
 * Point-to-point delivery between gateway nodes over Redis pub/sub.
 *
 * Each node subscribes only to its own channel (`<prefix>ch:<nodeId>`); a frame for an agent on
 * another node is published to that node's channel alone — no broadcast. Publishes from one
 * session are issued one after another on one connection, and Redis delivers a channel's
 * messages in order, so per-pair order holds across nodes.
 */
import type { Redis } from 'ioredis';
import type { RedisPresence } from '../registry/redis-presence.js';

/** Outcome of a delivery to another node. */
export type RemoteResult = 'delivered' | 'not_found' | 'unavailable';

const FRAME = 'F';
const KICK = 'K';

export interface RedisBusOptions {
  /** Command connection (publishes; presence look-ups). */
  pub: Redis;
  /** Subscriber connection (ioredis re-subscribes by itself after a reconnect). */
  sub: Redis;
  presence: RedisPresence;
  nodeId: string;
  prefix: string;
  /** A frame for a local agent arrived from another node. */
  onFrame: (to: string, data: string) => void;
  /** Another node registered `did`: close the local session `session` with 4409. */
  onKick: (did: string, session: string) => void;
}

export class RedisBus {
  constructor(private readonly opts: RedisBusOptions) {}

  private channel(node: string): string {
    return `${this.opts.prefix}ch:${node}`;
  }

  /** Subscribes to this node's channel. */
  async start(): Promise<void> {
    this.opts.sub.on('message', (_channel: string, message: string) => this.onMessage(message));
    await this.opts.sub.subscribe(this.channel(this.opts.nodeId));
  }

  /** Delivers a frame's original bytes to the node holding `to`. */
  async deliver(to: string, data: Buffer): Promise<RemoteResult> {
    if (this.opts.pub.status !== 'ready') return 'unavailable';
    let node: string | null;
    try {
      node = await this.opts.presence.locate(to);
    } catch {
      return 'unavailable';
    }
    // Unknown, dead, or listed here but no longer connected here (it just left).
    if (node === null || node === this.opts.nodeId) return 'not_found';
    try {
      const receivers = await this.opts.pub.publish(this.channel(node), `${FRAME}${to}\n${data.toString('utf8')}`);
      return receivers > 0 ? 'delivered' : 'not_found';
    } catch {
      return 'unavailable';
    }
  }

  /** Tells `node` that its session `session` of `did` was replaced. */
  async kick(node: string, did: string, session: string): Promise<void> {
    await this.opts.pub.publish(this.channel(node), `${KICK}${did}\n${session}`);
  }

  private onMessage(message: string): void {
    const nl = message.indexOf('\n');
    if (nl < 0) return;
    const head = message.slice(1, nl);
    const body = message.slice(nl + 1);
    if (message[0] === FRAME) this.opts.onFrame(head, body);
    else if (message[0] === KICK) this.opts.onKick(head, body);
  }
}
