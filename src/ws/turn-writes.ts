/**
 * Merges the frames routed to one connection during one callback into one socket write.
 *
 * Routing happens in bursts: the verdicts of a batch of signatures come back from a worker in one
 * message (or are computed inline in one turn), and a sender with several frames in flight puts
 * them all in the same burst, for the same target. `ws` writes every frame as soon as it is sent,
 * one syscall each, and on the 2-core bench VM a write syscall cost ~28 µs of event loop per
 * delivered frame (18 % of the loop's busy time at saturation, the largest single item in the
 * profile). Corking the target's socket at its first delivery of the burst and uncorking it in a
 * microtask, once the burst's synchronous code has run, turns the burst into one `writev`.
 *
 * No frame waits for a later event: the microtask runs before the event loop moves on, so a lone
 * frame leaves as before. Order is kept (a corked socket only buffers), and `bufferedAmount`
 * still counts corked bytes, so the slow-consumer limit sees them.
 */

/** The part of a net.Socket this needs. */
export interface Corkable {
  readonly writableCorked: number;
  cork(): void;
  uncork(): void;
}

export class TurnWrites {
  private held: Corkable[] = [];
  private readonly release = (): void => {
    const held = this.held;
    this.held = [];
    for (const socket of held) socket.uncork();
  };

  /**
   * Holds `socket`'s writes until the current callback's microtasks run. Call it before writing.
   * A socket corked by someone else is left to them: their uncork sends what is written now.
   */
  hold(socket: Corkable): void {
    if (socket.writableCorked !== 0) return;
    socket.cork();
    if (this.held.push(socket) === 1) queueMicrotask(this.release);
  }

  /** Sockets held right now (for tests). */
  get size(): number {
    return this.held.length;
  }
}
