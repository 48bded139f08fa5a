/**
 * Removes agents idle longer than AGENT_TIMEOUT. The clock is injected so tests can drive it.
 */
import type { AgentRecord, AgentRegistry } from './agent-registry.js';

export interface SweeperOptions {
  registry: AgentRegistry;
  agentTimeoutMs: number;
  now: () => number;
  /** Called for each swept agent after it has been unlisted (closes its socket with 4000). */
  onSwept: (record: AgentRecord) => void;
}

export class Sweeper {
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: SweeperOptions) {}

  /** Unlists every agent idle longer than the timeout; returns them. */
  sweep(): AgentRecord[] {
    const cutoff = this.opts.now() - this.opts.agentTimeoutMs;
    const idle = this.opts.registry.idleSince(cutoff);
    for (const record of idle) {
      if (this.opts.registry.remove(record.did, record.session)) this.opts.onSwept(record);
    }
    return idle;
  }

  /** Sweeps every `intervalMs` on an unref'd timer (it never keeps the process alive). */
  start(intervalMs: number): void {
    this.stop();
    this.timer = setInterval(() => this.sweep(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
