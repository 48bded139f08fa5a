/**
 * The node's shared connection state: every open session, the registry, the local bus, the replay
 * cache, and the timers that belong to them (heartbeat pings, the idle sweeper).
 *
 * One Hub per app: nothing here is module-global, so several gateways can run in one process.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Config } from '../config.js';
import { CloseCode } from '../errors.js';
import { createMetrics, type GatewayMetrics } from '../metrics.js';
import type { AgentsFrame } from '../protocol/frames.js';
import { ReplayCache } from '../identity/replay-cache.js';
import type { AgentRecord, AgentRegistry } from '../registry/agent-registry.js';
import { Sweeper } from '../registry/sweeper.js';
import { LocalBus } from '../routing/local-bus.js';
import type { Session } from './session.js';

export interface HubOptions {
  config: Config;
  registry: AgentRegistry;
  /** Collect Node process metrics in this hub's prom-client registry. */
  processMetrics: boolean;
  log: FastifyBaseLogger;
  now: () => number;
}

export class Hub {
  readonly config: Config;
  readonly registry: AgentRegistry;
  readonly metrics: GatewayMetrics;
  readonly log: FastifyBaseLogger;
  readonly now: () => number;
  readonly bus = new LocalBus();
  readonly replay: ReplayCache;
  /** Every open connection, registered or not. */
  readonly sessions = new Set<Session>();
  /** Per-frame log lines are built only when debug logging is on (hot path). */
  readonly debug: boolean;
  /** Set when shutdown begins: /health and /ready answer 503 and new connections are refused. */
  draining = false;

  private readonly sweeper: Sweeper;
  private heartbeat: NodeJS.Timeout | undefined;

  constructor(opts: HubOptions) {
    this.config = opts.config;
    this.registry = opts.registry;
    this.metrics = createMetrics({
      agentCount: () => this.registry.size,
      connectionCount: () => this.sessions.size,
      defaults: opts.processMetrics,
    });
    this.log = opts.log;
    this.now = opts.now;
    this.debug = opts.config.logLevel === 'debug' || opts.config.logLevel === 'trace';
    this.replay = new ReplayCache(opts.now);
    this.sweeper = new Sweeper({
      registry: this.registry,
      agentTimeoutMs: this.config.agentTimeoutMs,
      now: this.now,
      onSwept: (record) => this.onSwept(record),
    });
  }

  /** Starts the heartbeat pings and the sweeper (both unref'd). */
  start(): void {
    this.stop();
    this.heartbeat = setInterval(() => {
      for (const session of this.sessions) session.ping();
    }, this.config.heartbeatIntervalMs);
    this.heartbeat.unref();
    // Sweep often enough that an idle agent is unlisted within a second of its timeout.
    this.sweeper.start(Math.max(50, Math.min(1000, Math.floor(this.config.agentTimeoutMs / 4))));
  }

  stop(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    this.sweeper.stop();
  }

  /** Runs one sweep now (the timer does this periodically). */
  sweep(): AgentRecord[] {
    return this.sweeper.sweep();
  }

  /**
   * True when registering `did` would exceed MAX_AGENTS. Checked at REGISTER rather than at
   * connect so that an agent already online can always replace its own session (reconnect after a
   * half-open connection) even when the gateway is full.
   */
  isFull(did: string): boolean {
    if (this.registry.get(did)) return false;
    return this.registry.size >= this.config.maxAgents;
  }

  /**
   * Lists `session` as the owner of its DID. A previous session of the same DID is detached and
   * closed with 4409 (one session per DID).
   */
  register(session: Session, record: AgentRecord): void {
    const previous = this.bus.attach(record.did, session) as Session | undefined;
    this.registry.put(record);
    if (previous && previous !== session) previous.close(CloseCode.REPLACED);
  }

  /** Unlists `session`'s DID if that session still owns it. */
  unregister(session: Session): void {
    if (session.did === undefined) return;
    this.bus.detach(session.did, session);
    this.registry.remove(session.did, session.id);
  }

  /** DISCOVER: agents with the capability (all when undefined), ordered by DID. */
  discover(capability: string | undefined, limit: number): AgentsFrame['agents'] {
    return this.registry.list({ capability, limit }).agents.map((a) => ({
      did: a.did,
      meta: a.meta,
      connected_at: new Date(a.connectedAt).toISOString(),
    }));
  }

  /** Closes every connection with `code` (1001 on shutdown). */
  closeAll(code: CloseCode): void {
    for (const session of this.sessions) session.close(code);
  }

  private onSwept(record: AgentRecord): void {
    const session = this.bus.get(record.did) as Session | undefined;
    if (!session || session.id !== record.session) return;
    this.bus.detach(record.did, session);
    this.log.info({ did: record.did, remote: session.remoteAddress, idle_ms: this.now() - record.lastSeen }, 'agent swept (inactive)');
    session.close(CloseCode.INACTIVE);
  }
}
