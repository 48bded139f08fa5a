/**
 * Cluster mode: this node's Redis connections, presence, bus, remote delivery, and their timers.
 *
 * Client library: ioredis. It reconnects by itself (the node subscribes again on each 'ready'),
 * caches Lua scripts as EVALSHA commands (`defineCommand`), pipelines commands in order on one
 * connection (which keeps per-pair frame order), and is what the Socket.IO Redis adapter and
 * BullMQ run on. Commands fail fast while Redis is away (`enableOfflineQueue: false`) so a frame
 * for another node gets UNAVAILABLE at once instead of waiting in a queue.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { FastifyBaseLogger } from 'fastify';
import {
  AGENT_TTL_HEARTBEATS,
  MIN_AGENT_TTL_MS,
  MIN_CLUSTER_TICK_MS,
  NODE_TTL_HEARTBEATS,
  REDIS_ERROR_LOG_INTERVAL_MS,
  REDIS_RETRY_BASE_MS,
  REDIS_RETRY_MAX_DOUBLINGS,
  REDIS_RETRY_MAX_MS,
} from '../constants.js';
import { RedisPresence } from '../registry/redis-presence.js';
import { RedisBus } from '../routing/redis-bus.js';
import { RedisRouter } from '../routing/redis-router.js';
import type { RemoteDelivery, RemoteResult } from '../routing/router.js';
import type { AgentRecord, AgentRegistry } from '../registry/agent-registry.js';
import type { RefreshResult } from '../registry/presence.js';

export type ClusterStatus = 'connecting' | 'ready' | 'unavailable' | 'closed';

export interface ClusterOptions {
  /** This node's id (see {@link newNodeId}). */
  nodeId: string;
  redisUrl: string;
  prefix: string;
  heartbeatIntervalMs: number;
  log: FastifyBaseLogger;
  /**
   * The node's own agents: written by this cluster's presence (announce, withdraw) and read for
   * heartbeat refreshes and re-announcing after an outage.
   */
  registry: AgentRegistry;
  onFrame: (to: string, data: Buffer) => void;
  onKick: (did: string, session: string) => void;
  /** Heartbeat findings about local agents that are not 'ok'. */
  onRefresh: (record: AgentRecord, result: Exclude<RefreshResult, 'ok'>) => void;
}

/** A unique id for this process: host, pid and randomness (several workers share a host). */
export function newNodeId(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

export class Cluster implements RemoteDelivery {
  readonly nodeId: string;
  readonly presence: RedisPresence;
  readonly bus: RedisBus;
  /** Frames for agents on other nodes (the ROUTE script). */
  readonly remote: RedisRouter;
  status: ClusterStatus = 'connecting';
  private readonly pub: Redis;
  private readonly sub: Redis;
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private lastErrorLog = 0;
  /** Callers of {@link whenReady} still waiting. */
  private readonly readyWaiters = new Set<() => void>();

  constructor(private readonly opts: ClusterOptions) {
    this.nodeId = opts.nodeId;
    const common = {
      lazyConnect: true,
      connectionName: `aiconexus-${this.nodeId}`,
      // Keep retrying forever, at most every 2 s: the gateway keeps serving local agents meanwhile.
      retryStrategy: (times: number) =>
        Math.min(REDIS_RETRY_BASE_MS * 2 ** Math.min(times, REDIS_RETRY_MAX_DOUBLINGS), REDIS_RETRY_MAX_MS),
      maxRetriesPerRequest: 1,
    };
    this.pub = new Redis(opts.redisUrl, { ...common, enableOfflineQueue: false });
    // Re-subscribing is ours (on 'ready', below), not ioredis's: its automatic re-subscription
    // leaves a promise without a handler, which rejects ("Connection is closed") when the
    // connection drops again before Redis answers, an unhandled rejection that would stop
    // the process (ioredis 5.x event_handler.js).
    this.sub = new Redis(opts.redisUrl, { ...common, autoResubscribe: false });
    const hb = opts.heartbeatIntervalMs;
    this.presence = new RedisPresence({
      redis: this.pub,
      local: opts.registry,
      nodeId: this.nodeId,
      prefix: opts.prefix,
      // Ticks come every hb/2: a node that misses ticks for 1.5 hb is dead, and the reaper
      // (also every hb/2) unlists its agents, so they vanish from every view within 2 hb.
      nodeTtlMs: Math.ceil(hb * NODE_TTL_HEARTBEATS),
      agentTtlMs: Math.max(hb * AGENT_TTL_HEARTBEATS, MIN_AGENT_TTL_MS),
      log: opts.log,
    });
    this.remote = new RedisRouter({ redis: this.pub, nodeId: this.nodeId, prefix: opts.prefix });
    this.bus = new RedisBus({
      pub: this.pub,
      sub: this.sub,
      nodeId: this.nodeId,
      prefix: opts.prefix,
      onFrame: opts.onFrame,
      onKick: opts.onKick,
    });
    for (const [name, client] of [['pub', this.pub], ['sub', this.sub]] as const) {
      client.on('error', (err: Error) => this.logError(name, err));
      client.on('ready', () => this.onStatusChange());
      client.on('close', () => this.onStatusChange());
      client.on('end', () => this.onStatusChange());
    }
    this.sub.on('ready', () => this.bus.subscribe().catch((err: Error) => this.logError('subscribe', err)));
  }

  /** Connects (without failing start-up when Redis is down: it keeps retrying) and starts ticking. */
  async start(): Promise<void> {
    // Neither connection is awaited: with Redis down the node starts anyway (not ready) and keeps
    // retrying. The subscriber subscribes each time it is ready.
    this.bus.listen();
    this.sub.connect().catch(() => {});
    this.pub.connect().catch(() => {});
    this.timer = setInterval(() => void this.tick(), Math.max(MIN_CLUSTER_TICK_MS, Math.floor(this.opts.heartbeatIntervalMs / 2)));
    this.timer.unref();
  }

  /** Resolves true once the cluster bus is ready (at once if it is), false if it is not within `ms`. */
  whenReady(ms: number): Promise<boolean> {
    if (this.status === 'ready') return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (ready: boolean) => {
        clearTimeout(timer);
        this.readyWaiters.delete(onReady);
        resolve(ready);
      };
      const onReady = () => done(true);
      const timer = setTimeout(() => done(false), ms);
      timer.unref();
      this.readyWaiters.add(onReady);
    });
  }

  /** Delivers to an agent on another node. */
  deliver(to: string, data: Buffer): Promise<RemoteResult> {
    return this.remote.deliver(to, data);
  }

  get redisStatus(): string {
    return this.pub.status;
  }

  /** Leaves the cluster: this node's agents are unlisted at once, connections closed. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.status = 'closed';
    if (this.pub.status === 'ready') await this.presence.leave().catch(() => {});
    this.pub.disconnect();
    this.sub.disconnect();
  }

  /** Heartbeat: node liveness, agent refresh (re-announce lost entries), reaping dead nodes. */
  async tick(): Promise<void> {
    if (this.ticking || this.pub.status !== 'ready') return;
    this.ticking = true;
    try {
      const local = this.opts.registry.idleSince(Number.POSITIVE_INFINITY);
      const results = await this.presence.refresh(local);
      for (const record of local) {
        const result = results.get(record.did);
        if (result && result !== 'ok') this.opts.onRefresh(record, result);
      }
      await this.presence.reap();
    } catch (err) {
      this.logError('tick', err as Error);
    } finally {
      this.ticking = false;
    }
  }

  private onStatusChange(): void {
    if (this.status === 'closed') return;
    const ready = this.pub.status === 'ready' && this.sub.status === 'ready';
    const next: ClusterStatus = ready ? 'ready' : 'unavailable';
    if (next === this.status) return;
    const previous = this.status;
    this.status = next;
    if (next === 'ready') {
      this.opts.log.info({ previous }, 'cluster bus ready');
      for (const wake of [...this.readyWaiters]) wake();
      // After an outage: re-publish presence of every local agent (refresh re-announces lost ones).
      void this.tick();
    } else if (previous === 'ready') {
      // Not at start-up, where the two connections come up one after the other.
      this.opts.log.warn('cluster bus unavailable: cross-node frames get UNAVAILABLE');
    }
  }

  private logError(source: string, err: Error): void {
    const now = Date.now();
    if (now - this.lastErrorLog < REDIS_ERROR_LOG_INTERVAL_MS) return; // one line per 5 s while Redis is down
    this.lastErrorLog = now;
    this.opts.log.warn({ source, err: err.message }, 'redis error');
  }
}
