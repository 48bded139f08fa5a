/**
 * The one write path of a WebSocket connection: every byte the gateway sends an agent (its own
 * replies and the frames routed to it) goes through {@link Outbound}, under one buffer limit and
 * one back-pressure rule.
 *
 * - **Hard limit.** A write that would leave more than MAX_BUFFERED_BYTES unsent on the socket is
 *   not made; the connection is closed with 4413 (slow consumer) instead. Nothing the gateway
 *   queues for one connection can grow past that.
 * - **Inbound budget.** Frames routed from other agents may fill at most half of that
 *   ({@link routedBudget}); past it they are refused (`busy`: the sender gets TARGET_BUSY) and the
 *   target keeps its session. So no one can get another agent disconnected by sending to it.
 * - **Congestion.** Once the socket holds {@link OUTPUT_CONGESTED_BYTES} unsent, the connection is
 *   congested until the socket drains: the session stops reading it and stops working on its
 *   frames, so a client that does not read its answers cannot make the gateway compute (or queue)
 *   more of them.
 */
import type { WebSocket } from 'ws';
import { OUTPUT_CONGESTED_BYTES } from '../constants.js';
import type { Corkable, TurnWrites } from './turn-writes.js';

/** The part of the connection's net.Socket this needs: cork for merged writes, 'drain' for congestion. */
export interface OutboundSocket extends Corkable {
  once(event: 'drain', listener: () => void): unknown;
  removeListener(event: 'drain', listener: () => void): unknown;
}

export interface OutboundHooks {
  /** A write would pass MAX_BUFFERED_BYTES: the owner closes the connection with 4413. */
  onOverflow(buffered: number): void;
  /** The socket went from congested to drained: the owner resumes reading and working. */
  onDrained(): void;
}

/** What became of a routed frame. */
export type RouteResult = 'delivered' | 'busy' | 'closed';

/** ws.send options of every frame: text, whatever the type of its bytes. */
const TEXT = { binary: false } as const;

export class Outbound {
  private congestedNow = false;
  /** Frames routed to this connection may fill this much of its buffer. */
  readonly routedBudget: number;

  constructor(
    private readonly ws: WebSocket,
    private readonly socket: OutboundSocket,
    private readonly maxBufferedBytes: number,
    private readonly writes: TurnWrites,
    private readonly hooks: OutboundHooks,
  ) {
    this.routedBudget = Math.floor(maxBufferedBytes / 2);
  }

  /** Bytes written and not yet taken by the kernel. */
  get buffered(): number {
    return this.ws.bufferedAmount;
  }

  /** True from the write that left OUTPUT_CONGESTED_BYTES unsent until the socket drains. */
  get congested(): boolean {
    return this.congestedNow;
  }

  get open(): boolean {
    return this.ws.readyState === this.ws.OPEN;
  }

  /** The gateway's own frame (CHALLENGE, REGISTERED, AGENTS, PONG, ERROR). False if not sent. */
  reply(text: string): boolean {
    if (!this.open) return false;
    return this.write(text, Buffer.byteLength(text));
  }

  /**
   * A frame routed from another agent, as its original bytes. Refused (`busy`) when it would take
   * the routed bytes queued here past {@link routedBudget}; merged with the other frames of this
   * burst into one socket write (TurnWrites).
   */
  route(data: Buffer | string): RouteResult {
    if (!this.open) return 'closed';
    const size = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
    if (this.ws.bufferedAmount + size > this.routedBudget) return 'busy';
    this.writes.hold(this.socket);
    return this.write(data, size) ? 'delivered' : 'closed';
  }

  /** The heartbeat's WebSocket ping; skipped while congested (a peer that does not read sends no pong anyway). */
  ping(): void {
    if (!this.open || this.congestedNow) return;
    this.ws.ping();
  }

  /** Stops watching for the drain (the connection is closing). */
  dispose(): void {
    if (this.congestedNow) this.socket.removeListener('drain', this.drained);
    this.congestedNow = false;
  }

  private write(data: Buffer | string, size: number): boolean {
    const buffered = this.ws.bufferedAmount;
    if (buffered + size > this.maxBufferedBytes) {
      this.hooks.onOverflow(buffered);
      return false;
    }
    this.ws.send(data, TEXT);
    // Past the socket's high-water mark (16 KiB) its write returned false, so 'drain' will follow
    // once the kernel has taken everything.
    if (!this.congestedNow && this.ws.bufferedAmount >= OUTPUT_CONGESTED_BYTES) {
      this.congestedNow = true;
      this.socket.once('drain', this.drained);
    }
    return true;
  }

  private readonly drained = (): void => {
    if (!this.congestedNow) return;
    this.congestedNow = false;
    this.hooks.onDrained();
  };
}
