/**
 * A connection's inbound frames' outcomes, applied in arrival order.
 *
 * A signaling frame's outcome (deliver it, or an ERROR) is known only once its signature has been
 * checked, in a worker thread; a PONG or an ERROR for the next frame is known at once. Each frame
 * takes a slot when it arrives, and slots are applied strictly in order, so replies and deliveries
 * keep the order the frames came in. An outcome may be asynchronous (a cross-node delivery, a
 * cluster listing): the slots behind it wait until it settles.
 *
 * The owner decides when nothing may be applied (`blocked`: the connection is congested) and is
 * told after each outcome and whenever the queue stops, to apply back-pressure (pause the socket
 * while many slots wait) and to notice congestion.
 */

/** One outcome: may return a promise, which the later outcomes wait for. */
export type Outcome = () => void | Promise<void>;

/**
 * A slot: applied (`run()`) once it is `ready` and every earlier slot has been applied. A frame
 * whose outcome comes later owns its slot object ({@link StepQueue.enqueue}): it sets `ready`
 * and calls flush() when it can run.
 */
export interface Step {
  ready: boolean;
  run(): void | Promise<void>;
}

export interface StepQueueHooks {
  /** While true, nothing is applied (the owner calls flush() again when it turns false). */
  blocked(): boolean;
  /** After each applied outcome (synchronous part), e.g. to notice that it congested the socket. */
  applied(): void;
  /** An outcome threw or rejected: nothing escapes the queue. */
  failed(err: unknown): void;
  /** The queue stopped: empty, waiting for a slot, an asynchronous outcome, or blocked. */
  settled(): void;
}

const noop: Outcome = () => {};

export class StepQueue {
  private readonly slots: Step[] = [];
  /** True while an asynchronous outcome runs. */
  private running = false;

  constructor(private readonly hooks: StepQueueHooks) {}

  /** Slots not yet applied (ready or not). */
  get length(): number {
    return this.slots.length;
  }

  /** Queues an outcome known now; call flush() to apply what is ready. */
  push(run: Outcome): void {
    this.slots.push({ ready: true, run });
  }

  /** Queues a slot its owner makes ready later (then calls flush()). */
  enqueue(step: Step): void {
    this.slots.push(step);
  }

  /**
   * Takes a slot for an outcome known later; returns the function that fills it and applies what
   * has become ready.
   */
  reserve(): (run: Outcome) => void {
    const slot: Step = { ready: false, run: noop };
    this.slots.push(slot);
    return (run) => {
      slot.run = run;
      slot.ready = true;
      this.flush();
    };
  }

  /** Applies ready outcomes in order, until one is not ready, one is asynchronous, or blocked(). */
  flush(): void {
    while (!this.running && this.slots.length > 0 && (this.slots[0] as Step).ready && !this.hooks.blocked()) {
      const pending = this.apply(this.slots.shift() as Step);
      this.hooks.applied();
      if (pending) {
        this.running = true;
        void pending.then(() => {
          this.running = false;
          this.hooks.applied();
          this.flush();
        });
      }
    }
    this.hooks.settled();
  }

  private apply(step: Step): Promise<void> | undefined {
    try {
      const result = step.run();
      if (result) return result.catch((err: unknown) => this.hooks.failed(err));
    } catch (err) {
      this.hooks.failed(err);
    }
    return undefined;
  }
}
