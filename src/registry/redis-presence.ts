/**
 * {@link Presence} in Redis, for cluster mode (REDIS_URL set).
 *
 * Layout (all keys under the configurable prefix, default `aiconexus:`):
 * - `agent:<did>`        hash: node, session, meta (JSON), caps (JSON), connected_at, last_seen; TTL agentTtlMs
 * - `agents`             sorted set (all scores 0, so ordered by DID) of online DIDs: cursor pagination by ZRANGEBYLEX
 * - `cap:<capability>`   the same, per capability
 * - `node:<id>`          node liveness key, TTL nodeTtlMs, refreshed every heartbeat
 * - `node:<id>:agents`   set of the DIDs a node announced (what to reap when it dies)
 * - `nodes`              set of node ids
 *
 * Every write that touches several keys is one Lua script, so concurrent registrations of the same
 * DID on two nodes resolve atomically (last writer wins, and learns whose session it replaced).
 * Lua scripts name keys outside KEYS, so this needs standalone Redis (or Sentinel), not Redis Cluster.
 */
import type { Redis } from 'ioredis';
import type { AgentMeta } from '../protocol/frames.js';
import type { AgentRecord, ListPage, ListQuery } from './agent-registry.js';
import type { Presence, Replaced, RefreshResult } from './presence.js';

const ANNOUNCE = `
local p = ARGV[9]
local old = redis.call('HMGET', KEYS[1], 'node', 'session', 'caps')
if old[3] then
  for _, c in ipairs(cjson.decode(old[3])) do redis.call('ZREM', p .. 'cap:' .. c, ARGV[1]) end
end
if old[1] and old[1] ~= ARGV[2] then redis.call('SREM', p .. 'node:' .. old[1] .. ':agents', ARGV[1]) end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'node', ARGV[2], 'session', ARGV[3], 'meta', ARGV[4], 'caps', ARGV[5], 'connected_at', ARGV[6], 'last_seen', ARGV[7])
redis.call('PEXPIRE', KEYS[1], ARGV[8])
redis.call('ZADD', p .. 'agents', 0, ARGV[1])
for _, c in ipairs(cjson.decode(ARGV[5])) do redis.call('ZADD', p .. 'cap:' .. c, 0, ARGV[1]) end
redis.call('SADD', p .. 'node:' .. ARGV[2] .. ':agents', ARGV[1])
redis.call('SADD', p .. 'nodes', ARGV[2])
if old[1] and old[2] then return {old[1], old[2]} end
return false
`;

/** Removes an agent entry and its index entries; shared by WITHDRAW and REAP. */
const REMOVE_FN = `
local function remove(p, key, did, node, caps)
  if caps then
    for _, c in ipairs(cjson.decode(caps)) do redis.call('ZREM', p .. 'cap:' .. c, did) end
  end
  redis.call('ZREM', p .. 'agents', did)
  redis.call('SREM', p .. 'node:' .. node .. ':agents', did)
  redis.call('DEL', key)
end
`;

const WITHDRAW = `${REMOVE_FN}
local cur = redis.call('HMGET', KEYS[1], 'node', 'session', 'caps')
if cur[2] ~= ARGV[2] then return 0 end
remove(ARGV[3], KEYS[1], ARGV[1], cur[1], cur[3])
return 1
`;

/** Reaps one dead node: every DID it announced that it still owns is removed. */
const REAP_NODE = `${REMOVE_FN}
local p = ARGV[2]
if redis.call('EXISTS', p .. 'node:' .. ARGV[1]) == 1 then return 0 end
local set = p .. 'node:' .. ARGV[1] .. ':agents'
local n = 0
for _, did in ipairs(redis.call('SMEMBERS', set)) do
  local key = p .. 'agent:' .. did
  local cur = redis.call('HMGET', key, 'node', 'caps')
  if cur[1] == ARGV[1] then
    remove(p, key, did, cur[1], cur[2])
    n = n + 1
  elseif not cur[1] then
    redis.call('ZREM', p .. 'agents', did)
  end
end
redis.call('DEL', set)
redis.call('SREM', p .. 'nodes', ARGV[1])
return n
`;

/** 1 refreshed · 0 missing (expired: re-announce) · -1 owned by another session. */
const TOUCH = `
local s = redis.call('HGET', KEYS[1], 'session')
if not s then return 0 end
if s ~= ARGV[1] then return -1 end
redis.call('HSET', KEYS[1], 'last_seen', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`;

/** The node holding a DID, if that node is alive. */
const LOCATE = `
local node = redis.call('HGET', KEYS[1], 'node')
if not node then return false end
if redis.call('EXISTS', ARGV[1] .. 'node:' .. node) == 0 then return false end
return node
`;

/**
 * Locate and publish in one round trip: the frame goes to the channel of the live node holding
 * the DID. Returns the number of receivers (0: that node is gone), -1 when no live node holds it,
 * -2 when it is this node (the agent just left here).
 */
const ROUTE = `
local node = redis.call('HGET', KEYS[1], 'node')
if not node then return -1 end
if redis.call('EXISTS', ARGV[1] .. 'node:' .. node) == 0 then return -1 end
if node == ARGV[2] then return -2 end
return redis.call('PUBLISH', ARGV[1] .. 'ch:' .. node, ARGV[3])
`;

interface PresenceCommands {
  aicxAnnounce(key: string, ...args: (string | number)[]): Promise<[string, string] | null>;
  aicxWithdraw(key: string, did: string, session: string, prefix: string): Promise<number>;
  aicxReapNode(node: string, prefix: string): Promise<number>;
  aicxTouch(key: string, session: string, lastSeen: number, ttl: number): Promise<number>;
  aicxLocate(key: string, prefix: string): Promise<string | null>;
  aicxRoute(key: string, prefix: string, self: string, message: Buffer): Promise<number>;
}

export interface RedisPresenceOptions {
  /** Connected command client (not a subscriber connection). */
  redis: Redis;
  nodeId: string;
  /** Key prefix, e.g. `aiconexus:`; lets several deployments share one Redis. */
  prefix: string;
  /** Liveness TTL of this node's key; a node silent longer is dead. */
  nodeTtlMs: number;
  /** TTL of each agent entry, refreshed by heartbeats. */
  agentTtlMs: number;
}

export class RedisPresence implements Presence {
  readonly nodeId: string;
  private readonly redis: Redis & PresenceCommands;
  private readonly p: string;

  constructor(private readonly opts: RedisPresenceOptions) {
    this.nodeId = opts.nodeId;
    this.p = opts.prefix;
    const redis = opts.redis as Redis & Partial<PresenceCommands>;
    if (!redis.aicxAnnounce) {
      redis.defineCommand('aicxAnnounce', { numberOfKeys: 1, lua: ANNOUNCE });
      redis.defineCommand('aicxWithdraw', { numberOfKeys: 1, lua: WITHDRAW });
      redis.defineCommand('aicxReapNode', { numberOfKeys: 0, lua: REAP_NODE });
      redis.defineCommand('aicxTouch', { numberOfKeys: 1, lua: TOUCH });
      redis.defineCommand('aicxLocate', { numberOfKeys: 1, lua: LOCATE });
      redis.defineCommand('aicxRoute', { numberOfKeys: 1, lua: ROUTE });
    }
    this.redis = redis as Redis & PresenceCommands;
  }

  private agentKey(did: string): string {
    return `${this.p}agent:${did}`;
  }

  async announce(record: AgentRecord): Promise<Replaced | null> {
    const caps = JSON.stringify(record.meta.capabilities ?? []);
    const old = await this.redis.aicxAnnounce(
      this.agentKey(record.did),
      record.did,
      this.nodeId,
      record.session,
      JSON.stringify(record.meta),
      caps,
      record.connectedAt,
      record.lastSeen,
      this.opts.agentTtlMs,
      this.p,
    );
    await this.markAlive();
    if (!old) return null;
    const [node, session] = old;
    if (node === this.nodeId) return null; // a local replacement: the hub already closed it
    return { node, session };
  }

  async withdraw(did: string, session: string): Promise<void> {
    await this.redis.aicxWithdraw(this.agentKey(did), did, session, this.p);
  }

  async locate(did: string): Promise<string | null> {
    return this.redis.aicxLocate(this.agentKey(did), this.p);
  }

  /**
   * Publishes `message` to the channel of the live node holding `did`, in one round trip.
   * Returns receivers (≥ 0), -1 when no live node holds `did`, -2 when this node does.
   */
  route(did: string, message: Buffer): Promise<number> {
    return this.redis.aicxRoute(this.agentKey(did), this.p, this.nodeId, message);
  }

  async count(): Promise<number> {
    return this.redis.zcard(`${this.p}agents`);
  }

  async list(query: ListQuery): Promise<ListPage> {
    const index = query.capability === undefined ? `${this.p}agents` : `${this.p}cap:${query.capability}`;
    const start = query.after === undefined ? '-' : `(${query.after}`;
    const [count, dids] = await Promise.all([
      this.redis.zcard(index),
      this.redis.zrangebylex(index, start, '+', 'LIMIT', 0, query.limit + 1),
    ]);
    const more = dids.length > query.limit;
    const page = dids.slice(0, query.limit);
    if (page.length === 0) return { count, agents: [], nextAfter: null };

    const pipeline = this.redis.pipeline();
    for (const did of page) pipeline.hmget(this.agentKey(did), 'node', 'session', 'meta', 'connected_at', 'last_seen');
    const rows = ((await pipeline.exec()) ?? []).map(([err, row]) => (err ? null : (row as (string | null)[])));
    const nodes = [...new Set(rows.flatMap((r) => (r?.[0] ? [r[0]] : [])))];
    const aliveFlags = nodes.length > 0 ? await this.redis.mget(...nodes.map((n) => `${this.p}node:${n}`)) : [];
    const alive = new Set(nodes.filter((_, i) => aliveFlags[i] !== null));

    const agents: AgentRecord[] = [];
    const stale: string[] = [];
    page.forEach((did, i) => {
      const row = rows[i];
      const node = row?.[0];
      if (!row || !node) {
        stale.push(did); // expired entry still indexed: tidy up lazily
        return;
      }
      if (!alive.has(node)) return; // its node is dead; the reaper removes it
      agents.push({
        did,
        session: row[1] ?? '',
        meta: parseMeta(row[2]),
        connectedAt: Number(row[3]),
        lastSeen: Number(row[4]),
      });
    });
    if (stale.length > 0) void this.redis.zrem(index, ...stale).catch(() => {});
    return { count, agents, nextAfter: more ? (page[page.length - 1] ?? null) : null };
  }

  async refresh(records: readonly AgentRecord[]): Promise<Map<string, RefreshResult>> {
    await this.markAlive();
    const result = new Map<string, RefreshResult>();
    if (records.length === 0) return result;
    const pipeline = this.redis.pipeline() as unknown as PresenceCommands & { exec(): Promise<[Error | null, unknown][] | null> };
    for (const r of records) pipeline.aicxTouch(this.agentKey(r.did), r.session, r.lastSeen, this.opts.agentTtlMs);
    const replies = (await pipeline.exec()) ?? [];
    records.forEach((r, i) => {
      const [err, value] = replies[i] ?? [null, 0];
      if (err) throw err;
      result.set(r.did, value === 1 ? 'ok' : value === -1 ? 'replaced' : 'missing');
    });
    return result;
  }

  async reap(): Promise<number> {
    const nodes = await this.redis.smembers(`${this.p}nodes`);
    let removed = 0;
    for (const node of nodes) {
      if (node === this.nodeId) continue;
      removed += await this.redis.aicxReapNode(node, this.p);
    }
    return removed;
  }

  /** Marks this node alive for nodeTtlMs. */
  async markAlive(): Promise<void> {
    await this.redis
      .multi()
      .set(`${this.p}node:${this.nodeId}`, String(Date.now()), 'PX', this.opts.nodeTtlMs)
      .sadd(`${this.p}nodes`, this.nodeId)
      .exec();
  }

  /** On shutdown: this node's key goes at once, and its agents with it. */
  async leave(): Promise<number> {
    await this.redis.del(`${this.p}node:${this.nodeId}`);
    return this.redis.aicxReapNode(this.nodeId, this.p);
  }
}

function parseMeta(raw: string | null | undefined): AgentMeta {
  if (!raw) return {};
  try {
    return JSON.parse(raw) as AgentMeta;
  } catch {
    return {};
  }
}
