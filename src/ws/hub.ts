/**
 * The node's shared connection state: every open session, the local registry and bus, the
 * presence (cluster-wide view), the replay cache, and the timers that belong to them (heartbeat
 * pings, the idle sweeper, and in cluster mode the Redis heartbeat).
 *
 * One Hub per app: nothing here is module-global, so several gateways can run in one process.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Cluster, ClusterOptions } from '../cluster/cluster.js';
import type { Config } from '../config.js';
import { DRAIN_POLL_MS, HEARTBEAT_TICK_MS, MAX_SWEEP_INTERVAL_MS, MIN_SWEEP_INTERVAL_MS, SWEEPS_PER_AGENT_TIMEOUT } from '../constants.js';
import { CloseCode } from '../errors.js';
import { createMetrics, type GatewayMetrics } from '../metrics.js';
import { ReplayCache } from '../identity/replay-cache.js';
import type { VerifyPool } from '../identity/verify-pool.js';
import { RandomPool } from './random-pool.js';
import { TurnWrites } from './turn-writes.js';
import type { AgentRecord, AgentRegistry } from '../registry/agent-registry.js';
import { MemoryPresence } from '../registry/memory-presence.js';
import type { Presence } from '../registry/presence.js';
import { Sweeper } from '../registry/sweeper.js';
import { LocalBus } from '../routing/local-bus.js';
import { ClusterRouter, LocalRouter, type Router } from '../routing/router.js';
import { EntryCache } from '../registry/wire.js';
import { Discovery } from './discovery.js';
import { HeartbeatSet } from './heartbeat-set.js';
import type { Session } from './session.js';

export interface HubOptions {
  config: Config;
  /** This node's own agents. */
  registry: AgentRegistry;
  /** Collect Node process metrics in this hub's prom-client registry. */
  processMetrics: boolean;
  log: FastifyBaseLogger;
  now: () => number;
  /** Signature verification (the `verifier` service; the app closes it). */
  verifier: VerifyPool;
  /**
   * Cluster mode only (REDIS_URL): builds this node's {@link Cluster}. Passed in by buildApp, which
   * loads the cluster module (and ioredis, ~25 MB of code) only when it is needed.
   */
  cluster?: { create: (opts: ClusterOptions) => Cluster; newNodeId: () => string };
}

export class Hub {
  readonly config: Config;
  readonly registry: AgentRegistry;
  /** Who is online across the deployment: the local registry, or Redis in cluster mode. */
  readonly presence: Presence;
  /** Set in cluster mode (REDIS_URL). */
  readonly cluster: Cluster | undefined;
  readonly metrics: GatewayMetrics;
  readonly log: FastifyBaseLogger;
  readonly now: () => number;
  /** DID → Session on this node (attach, detach, look-up). Frames go through {@link router}. */
  readonly bus = new LocalBus();
  /**
   * Where sessions deliver routed frames: LocalRouter (single node) or ClusterRouter (local
   * sessions first, synchronously; else through Redis).
   */
  readonly router: Router;
  readonly replay: ReplayCache;
  /** Session ids and CHALLENGE nonces. */
  readonly random = new RandomPool();
  /** Merges the frames routed to one connection in one burst into one socket write. */
  readonly writes = new TurnWrites();
  /** Each record's AGENTS entry as JSON, serialised once (DISCOVER and GET /agents). */
  readonly entries = new EntryCache();
  /** DISCOVER replies across the deployment, bounded in bytes and priced by size. */
  readonly discovery: Discovery;
  /** Signature verification off the event loop (VERIFY_THREADS worker threads). */
  readonly verifier: VerifyPool;
  /** Every open connection, registered or not, and the heartbeat that pings them a slice at a time. */
  readonly sessions: HeartbeatSet<Session>;
  /** Bytes of WebSocket messages received (aiconexus_received_bytes_total; the idle collector). */
  readonly inbound = { bytes: 0 };
  /** Per-frame log lines are built only when debug logging is on (hot path). */
  readonly debug: boolean;
  private drainStarted = false;

  private readonly sweeper: Sweeper;
  private heartbeat: NodeJS.Timeout | undefined;

  constructor(opts: HubOptions) {
    this.config = opts.config;
    this.registry = opts.registry;
    this.sessions = new HeartbeatSet(Math.ceil(opts.config.heartbeatIntervalMs / HEARTBEAT_TICK_MS));
    this.metrics = createMetrics({
      agentCount: () => this.registry.size,
      connectionCount: () => this.sessions.size,
      verifyPending: () => this.verifier.pending,
      verifiedCounts: () => this.verifier.counts,
      receivedBytes: () => this.inbound.bytes,
      defaults: opts.processMetrics,
    });
    // In cluster mode every line says which node wrote it (once: the callers' fields never repeat `node`).
    const nodeId = opts.cluster?.newNodeId();
    this.log = nodeId ? opts.log.child({ node: nodeId }) : opts.log;
    this.now = opts.now;
    this.debug = opts.config.logLevel === 'debug' || opts.config.logLevel === 'trace';
    this.replay = new ReplayCache(opts.now);
    this.verifier = opts.verifier;
    this.sweeper = new Sweeper({
      registry: this.registry,
      agentTimeoutMs: this.config.agentTimeoutMs,
      now: this.now,
      onSwept: (record) => this.onSwept(record),
    });
    const redisUrl = this.config.redisUrl;
    if (opts.cluster && nodeId && redisUrl) {
      this.cluster = opts.cluster.create({
        nodeId,
        redisUrl,
        prefix: this.config.redisKeyPrefix,
        heartbeatIntervalMs: this.config.heartbeatIntervalMs,
        log: this.log,
        registry: this.registry,
        onFrame: (to, data) => this.onRemoteFrame(to, data),
        onKick: (did, session) => this.closeIfOwner(did, session),
        onRefresh: (record, result) => {
          if (result === 'replaced') this.closeIfOwner(record.did, record.session);
          // Missing: re-announce, unless the agent left while the refresh was on its way (its
          // withdraw reached Redis first; announcing it again would leave a ghost entry).
          else if (this.registry.get(record.did)?.session === record.session) void this.announce(record);
        },
      });
      this.presence = this.cluster.presence;
      this.router = new ClusterRouter(this.bus, this.cluster);
    } else {
      this.presence = new MemoryPresence(this.registry);
      this.router = new LocalRouter(this.bus);
    }
    this.discovery = new Discovery(this.presence, this.entries, this.config.maxBufferedBytes);
  }

  /** Starts the heartbeat pings, the sweeper (both unref'd) and, in cluster mode, Redis. */
  async start(): Promise<void> {
    this.stop();
    // One slice of the connections per tick: each is pinged once per HEARTBEAT_INTERVAL, and no
    // tick blocks the loop for all of them (heartbeat-set.ts).
    this.heartbeat = setInterval(() => this.sessions.pingNextSlot(), this.config.heartbeatIntervalMs / this.sessions.slots);
    this.heartbeat.unref();
    // Sweep often enough that an idle agent is unlisted within a second of its timeout.
    this.sweeper.start(
      Math.max(MIN_SWEEP_INTERVAL_MS, Math.min(MAX_SWEEP_INTERVAL_MS, Math.floor(this.config.agentTimeoutMs / SWEEPS_PER_AGENT_TIMEOUT))),
    );
    if (this.cluster) {
      await this.cluster.start();
      this.log.info('cluster mode: presence and routing through Redis');
    }
  }

  stop(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    this.sweeper.stop();
  }

  /** Leaves the cluster (unlists this node's agents at once) and closes Redis connections. */
  async shutdown(): Promise<void> {
    this.stop();
    await this.cluster?.stop();
  }

  /**
   * Set once shutdown begins ({@link beginDrain}, also called by {@link drain}): /health and
   * /ready answer 503 and new connections are refused. Never unset.
   */
  get draining(): boolean {
    return this.drainStarted;
  }

  /**
   * Marks the hub as draining (the one place it is set). Called by the process's signal handler
   * before app.close(), so /health and /ready turn 503 at once, and by {@link drain}. Idempotent.
   */
  beginDrain(): void {
    this.drainStarted = true;
  }

  /** Ready for traffic: not draining and, in cluster mode, Redis reachable. */
  get ready(): boolean {
    return !this.draining && (this.cluster === undefined || this.cluster.status === 'ready');
  }

  /** Runs one sweep now (the timer does this periodically). */
  sweep(): AgentRecord[] {
    return this.sweeper.sweep();
  }

  /**
   * True when registering `did` would exceed MAX_AGENTS on this node. Checked at REGISTER rather
   * than at connect so that an agent already online can always replace its own session
   * (reconnect after a half-open connection) even when the gateway is full.
   */
  isFull(did: string): boolean {
    if (this.registry.get(did)) return false;
    return this.registry.size >= this.config.maxAgents;
  }

  /**
   * Lists `session` as the owner of its DID. A previous session of the same DID is closed with
   * 4409: here at once, or on another node through the cluster bus.
   */
  register(session: Session, record: AgentRecord): Promise<void> | undefined {
    const previous = this.bus.attach(record.did, session) as Session | undefined;
    // The old session's withdraw goes first (it removes nothing the new one owns), then the
    // announce, which lists the new record locally at once.
    if (previous && previous !== session) previous.close(CloseCode.REPLACED);
    const announced = this.announce(record);
    // In cluster mode the caller waits for the presence write before answering REGISTERED, so a
    // peer on another node can reach the agent as soon as it knows it is registered.
    return this.cluster ? announced : undefined;
  }

  /** Unlists `session`'s DID if that session still owns it (locally and in presence). */
  unregister(session: Session): void {
    if (session.did === undefined) return;
    this.bus.detach(session.did, session);
    this.presence.withdraw(session.did, session.id).catch((err: Error) => this.logPresenceError('withdraw', err));
  }

  /** Closes every connection with `code` (1001 on shutdown). */
  closeAll(code: CloseCode): void {
    for (const session of this.sessions) session.close(code);
  }

  /**
   * Shutdown: closes every connection with 1001 and waits for the closing handshakes; peers still
   * connected after `graceMs` are terminated, so a silent client cannot hold the process.
   */
  async drain(graceMs: number): Promise<void> {
    this.beginDrain();
    this.closeAll(CloseCode.GOING_AWAY);
    const deadline = Date.now() + graceMs;
    while (this.sessions.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, DRAIN_POLL_MS));
    for (const session of this.sessions) session.terminate();
  }

  /** Publishes `record` in presence and kicks a replaced session on another node. Never rejects. */
  private announce(record: AgentRecord): Promise<void> {
    return this.presence
      .announce(record)
      .then((replaced) => {
        if (!replaced || !this.cluster) return;
        this.log.info({ did: record.did, other_node: replaced.node }, 'session replaced on another node');
        return this.cluster.bus.kick(replaced.node, record.did, replaced.session);
      })
      .catch((err: Error) => this.logPresenceError('announce', err));
  }

  private onRemoteFrame(to: string, data: Buffer): void {
    const result = this.bus.deliver(to, data);
    if (result === 'busy') {
      // The sender's node already answered it (silently, as for every delivered frame).
      this.metrics.errors.inc({ code: 'TARGET_BUSY' });
      this.log.debug({ to }, 'frame from another node refused: target over its inbound budget');
    } else if (result === 'not_found') {
      this.log.debug({ to }, 'frame from another node for an agent no longer here: dropped');
    }
  }

  /** Closes the local session of `did` with 4409 if it is `session` (replaced elsewhere). */
  private closeIfOwner(did: string, session: string): void {
    const local = this.bus.get(did) as Session | undefined;
    if (local && local.id === session) local.close(CloseCode.REPLACED);
  }

  private onSwept(record: AgentRecord): void {
    const session = this.bus.get(record.did) as Session | undefined;
    if (!session || session.id !== record.session) {
      // No session of its own here (should not happen): unlist it all the same.
      this.presence.withdraw(record.did, record.session).catch((err: Error) => this.logPresenceError('withdraw', err));
      return;
    }
    this.log.info({ did: record.did, remote: session.remoteAddress, idle_ms: this.now() - record.lastSeen }, 'agent swept (inactive)');
    session.close(CloseCode.INACTIVE);
  }

  private logPresenceError(op: string, err: Error): void {
    // During a Redis outage the heartbeat re-announces local agents once Redis is back.
    this.log.debug({ op, err: err.message }, 'presence update failed');
  }
}
