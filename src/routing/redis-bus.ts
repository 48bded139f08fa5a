/**
 * Point-to-point delivery between gateway nodes over Redis pub/sub.
 *
 * Each node subscribes only to its own channel (`<prefix>ch:<nodeId>`); a frame for an agent on
 * another node is published to that node's channel alone — no broadcast. Publishes from one
 * session are issued one after another on one connection, and Redis delivers a channel's
 * messages in order, so per-pair order holds across nodes.
 *
 * Frames are published by src/routing/redis-router.ts (the ROUTE script), in {@link frameMessage}'s
 * format; this bus receives them and publishes kicks.
 */
import type { Redis } from 'ioredis';

const FRAME = 0x46; // 'F'
const KICK = 0x4b; // 'K'
const NEWLINE = 0x0a;

/** A frame for `to` as published on a node channel: `F<to>\n` then the frame's original bytes. */
export function frameMessage(to: string, data: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`F${to}\n`, 'latin1'), data]);
}

export interface RedisBusOptions {
  /** Command connection (publishes kicks). */
  pub: Redis;
  /** Subscriber connection (the cluster calls {@link RedisBus.subscribe} on each 'ready'). */
  sub: Redis;
  nodeId: string;
  prefix: string;
  /** A frame for a local agent arrived from another node (its original bytes). */
  onFrame: (to: string, data: Buffer) => void;
  /** Another node registered `did`: close the local session `session` with 4409. */
  onKick: (did: string, session: string) => void;
}

export class RedisBus {
  constructor(private readonly opts: RedisBusOptions) {}

  private channel(node: string): string {
    return `${this.opts.prefix}ch:${node}`;
  }

  /** Listens for messages on the subscriber connection (once). */
  listen(): void {
    // Buffers, not strings: a frame's bytes go from the sender's socket to the target's untouched.
    this.opts.sub.on('messageBuffer', (_channel: Buffer, message: Buffer) => this.onMessage(message));
  }

  /** Subscribes to this node's channel: on every (re)connection of the subscriber. */
  async subscribe(): Promise<void> {
    await this.opts.sub.subscribe(this.channel(this.opts.nodeId));
  }

  /** Tells `node` that its session `session` of `did` was replaced. */
  async kick(node: string, did: string, session: string): Promise<void> {
    await this.opts.pub.publish(this.channel(node), `K${did}\n${session}`);
  }

  private onMessage(message: Buffer): void {
    const nl = message.indexOf(NEWLINE);
    if (nl < 0) return;
    const head = message.toString('latin1', 1, nl);
    if (message[0] === FRAME) this.opts.onFrame(head, message.subarray(nl + 1));
    else if (message[0] === KICK) this.opts.onKick(head, message.toString('utf8', nl + 1));
  }
}
