/**
 * Finds agents idle longer than AGENT_TIMEOUT and hands each to `onSwept`, which unlists it
 * (the hub closes its session with 4000; the presence removes it). The sweeper only reads the
 * registry. The clock is injected so tests can drive it.
 */
import type { AgentRecord, AgentRegistry } from './agent-registry.js';

export interface SweeperOptions {
  registry: AgentRegistry;
  agentTimeoutMs: number;
  now: () => number;
  /** Called for each agent idle longer than the timeout; must unlist it (through presence). */
  onSwept: (record: AgentRecord) => void;
}

export class Sweeper {
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: SweeperOptions) {}

  /** Hands every agent idle longer than the timeout to onSwept; returns them. */
  sweep(): AgentRecord[] {
    const cutoff = this.opts.now() - this.opts.agentTimeoutMs;
    const idle = this.opts.registry.idleSince(cutoff);
    for (const record of idle) {
      // Still listed: an earlier onSwept in this loop may have unlisted it.
      if (this.opts.registry.get(record.did) === record) this.opts.onSwept(record);
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
