/**
 * When a session reads and works on its inbound frames. Frames are held, unparsed, while a
 * REGISTER is being verified (what follows it waits for the verdict) or while the connection is
 * congested (its own unsent output is high: a client that does not read its answers cannot make
 * the gateway compute more). The socket is paused while frames wait, so TCP back-pressure, not
 * gateway memory, holds the rest: at most the remainder of one read arrives after a pause.
 */
import { MAX_PENDING_STEPS, RESUME_PENDING_STEPS } from '../constants.js';

/** The socket, as far as reading goes (ws's WebSocket). */
export interface Pausable {
  readonly isPaused: boolean;
  pause(): void;
  resume(): void;
}

export interface IntakeHooks {
  /** Works on one frame now (the session's normal path). */
  handle(data: Buffer, isBinary: boolean): void;
  /** The connection is closed: nothing more is worked on. */
  closed(): boolean;
  /** The connection's unsent output is over the congestion mark. */
  congested(): boolean;
  /** Outcomes waiting in the session's step queue. */
  pendingSteps(): number;
  /** Applies the step queue's ready outcomes. */
  flushSteps(): void;
  /** Congestion began (counted in metrics). */
  congestion(): void;
}

export class Intake {
  /** Frames received while they cannot be worked on; null when none are held. */
  private held: [Buffer, boolean][] | null = null;
  /** True while a REGISTER's signature (and in cluster mode its presence write) is in flight. */
  private registering = false;

  constructor(
    private readonly socket: Pausable,
    private readonly hooks: IntakeHooks,
  ) {}

  /** A frame arrived (and passed the rate limit): held, or handled now. */
  receive(data: Buffer, isBinary: boolean): void {
    if (this.held) {
      this.held.push([data, isBinary]);
      this.update();
      return;
    }
    this.hooks.handle(data, isBinary);
  }

  /** A REGISTER is being verified: what follows it waits for the verdict. */
  holdForRegister(): void {
    this.held ??= [];
    this.registering = true;
  }

  /** The REGISTER's verdict: registered, held frames run as the session's frames; else they go. */
  registerDone(registered: boolean): void {
    this.registering = false;
    if (registered) this.release();
    else this.held = null;
  }

  /** After a write: congestion starts here; from now frames are held and the socket is not read. */
  checkCongestion(): void {
    if (this.hooks.congested() && this.held === null && !this.hooks.closed()) {
      this.held = [];
      this.hooks.congestion();
      this.update();
    }
  }

  /** The step queue stopped: held frames go on once congestion is gone; then read again. */
  afterSteps(): void {
    if (!this.hooks.congested() && this.held !== null && !this.registering) {
      this.release();
      return;
    }
    this.update();
  }

  /**
   * Pauses the socket while frames wait (steps, held frames, congestion) and resumes it once
   * they have drained.
   */
  update(): void {
    if (this.hooks.closed()) return;
    const held = this.held?.length ?? 0;
    const steps = this.hooks.pendingSteps();
    if (this.hooks.congested() || steps >= MAX_PENDING_STEPS || held >= MAX_PENDING_STEPS) {
      if (!this.socket.isPaused) this.socket.pause();
    } else if (this.socket.isPaused && steps <= RESUME_PENDING_STEPS && held <= RESUME_PENDING_STEPS) {
      this.socket.resume();
    }
  }

  /**
   * Hands held frames to the normal path in order. Stops where one of them congests the
   * connection again; the rest stay held, ahead of newer frames.
   */
  private release(): void {
    const held = this.held;
    if (held === null || this.registering || this.hooks.congested()) return;
    this.held = null;
    let i = 0;
    while (i < held.length && !this.hooks.closed() && this.held === null) {
      const [data, isBinary] = held[i++] as [Buffer, boolean];
      this.hooks.handle(data, isBinary);
    }
    if (this.hooks.closed()) return;
    if (i < held.length) this.held = held.slice(i).concat(this.held ?? []);
    this.hooks.flushSteps();
  }
}
