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
 *
 * Reads are one script too: a listing page is one EVALSHA (LIST) whatever the cluster size.
 * Every script tolerates a corrupt `agent:<did>` (not a hash, fields missing, `caps` not a JSON
 * array): it never makes a script fail. A listing skips a corrupt entry, reports it to the
 * `log` option (warn) and removes it (PURGE) if it is still as read, so the owner's next heartbeat
 * finds it missing and re-announces it from the node's own record.
 */
import type { Redis } from 'ioredis';
import type { AgentMeta } from '../protocol/frames.js';
import type { AgentRecord, AgentRegistry, ListPage, ListQuery } from './agent-registry.js';
import type { Presence, Replaced, RefreshResult } from './presence.js';

/**
 * Lua helpers for entries that may be corrupt: `hmget` answers {} instead of failing when the key
 * is not a hash; `caps_of` yields only the strings of a JSON array and nothing for anything else.
 */
const SAFE_FN = `
local function hmget(key, ...)
  local row = redis.pcall('HMGET', key, ...)
  if row.err then return {} end
  return row
end
local function caps_of(raw)
  local out = {}
  if type(raw) ~= 'string' then return out end
  local ok, v = pcall(cjson.decode, raw)
  if not ok or type(v) ~= 'table' then return out end
  for _, c in ipairs(v) do
    if type(c) == 'string' then out[#out + 1] = c end
  end
  return out
end
`;

const ANNOUNCE = `${SAFE_FN}
local p = ARGV[9]
local old = hmget(KEYS[1], 'node', 'session', 'caps')
for _, c in ipairs(caps_of(old[3])) do redis.call('ZREM', p .. 'cap:' .. c, ARGV[1]) end
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
const REMOVE_FN = `${SAFE_FN}
local function remove(p, key, did, node, caps)
  for _, c in ipairs(caps_of(caps)) do redis.call('ZREM', p .. 'cap:' .. c, did) end
  redis.call('ZREM', p .. 'agents', did)
  if node then redis.pcall('SREM', p .. 'node:' .. node .. ':agents', did) end
  redis.call('DEL', key)
end
`;

const WITHDRAW = `${REMOVE_FN}
local cur = hmget(KEYS[1], 'node', 'session', 'caps')
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
  local cur = hmget(key, 'node', 'caps')
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
local s = redis.pcall('HGET', KEYS[1], 'session')
if type(s) == 'table' then return 0 end -- not a hash: corrupt, re-announcing replaces it
if not s then return 0 end
if s ~= ARGV[1] then return -1 end
redis.call('HSET', KEYS[1], 'last_seen', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`;

/** The node holding a DID, if that node is alive. */
const LOCATE = `
local node = redis.pcall('HGET', KEYS[1], 'node')
if type(node) ~= 'string' then return false end -- missing, or not a hash (corrupt)
if redis.call('EXISTS', ARGV[1] .. 'node:' .. node) == 0 then return false end
return node
`;

/**
 * One listing page in one round trip: the ZRANGEBYLEX page (limit + 1, to know whether more
 * follow), each listed entry (HMGET) and the liveness of each distinct node (EXISTS), then the
 * count. Its work is bounded by the page size (list() asks for at most MAX_SCRIPT_PAGE at a time).
 * Entries whose node is dead are left out (the reaper removes them); entries whose hash has expired
 * are removed from the index (atomically: a concurrent ANNOUNCE cannot be unindexed by mistake).
 * Reply: {count, last DID of the page when more follow | nil, rows}; a row is
 * {did, node, session, meta, connected_at, last_seen}, or {did} when `agent:<did>` is not a hash.
 * The rows are validated by the caller (corrupt ones are not listed).
 */
const LIST = `
local p = ARGV[1]
local limit = tonumber(ARGV[3])
local dids = redis.call('ZRANGEBYLEX', KEYS[1], ARGV[2], '+', 'LIMIT', 0, limit + 1)
local last = false
if #dids > limit then
  dids[limit + 1] = nil
  last = dids[limit] or false
end
local rows, stale, alive = {}, {}, {}
for _, did in ipairs(dids) do
  local key = p .. 'agent:' .. did
  local row = redis.pcall('HMGET', key, 'node', 'session', 'meta', 'connected_at', 'last_seen')
  if row.err then
    rows[#rows + 1] = {did}
  elseif row[1] and row[1] ~= '' then
    local up = alive[row[1]]
    if up == nil then
      up = redis.call('EXISTS', p .. 'node:' .. row[1]) == 1
      alive[row[1]] = up
    end
    if up then
      table.insert(row, 1, did)
      rows[#rows + 1] = row
    end
  elseif row[2] or row[3] or row[4] or row[5] or redis.call('EXISTS', key) == 1 then
    table.insert(row, 1, did) -- a hash without node: corrupt
    rows[#rows + 1] = row
  else
    stale[#stale + 1] = did -- expired entry still indexed
  end
end
if #stale > 0 then redis.call('ZREM', KEYS[1], unpack(stale)) end
return {redis.call('ZCARD', KEYS[1]), last, rows}
`;

/**
 * Removes a corrupt entry a listing met, only if it is still what the listing saw (a concurrent
 * ANNOUNCE or TOUCH may have repaired it). ARGV: did, prefix, index listed, '1' when it was not a
 * hash, then the five fields seen ('' for missing). Returns 1 when the DID left the listed index.
 */
const PURGE = `${REMOVE_FN}
local t = redis.call('TYPE', KEYS[1])['ok']
if t == 'hash' then
  if ARGV[4] == '1' then return 0 end
  local cur = redis.call('HMGET', KEYS[1], 'node', 'session', 'meta', 'connected_at', 'last_seen', 'caps')
  for i = 1, 5 do
    if (cur[i] or '') ~= ARGV[4 + i] then return 0 end
  end
  local n = redis.call('ZREM', ARGV[3], ARGV[1])
  remove(ARGV[2], KEYS[1], ARGV[1], cur[1], cur[6])
  return n
elseif t ~= 'none' then
  if ARGV[4] ~= '1' then return 0 end
  local n = redis.call('ZREM', ARGV[3], ARGV[1])
  redis.call('ZREM', ARGV[2] .. 'agents', ARGV[1])
  redis.call('DEL', KEYS[1])
  return n
end
return redis.call('ZREM', ARGV[3], ARGV[1])
`;

/** Most entries one LIST script reads: a script blocks Redis while it runs. */
const MAX_SCRIPT_PAGE = 1000;

/** A LIST row: [did] (not a hash) or [did, node, session, meta, connected_at, last_seen]. */
type ListRow = (string | null)[];

interface PresenceCommands {
  aicxAnnounce(key: string, ...args: (string | number)[]): Promise<[string, string] | null>;
  aicxWithdraw(key: string, did: string, session: string, prefix: string): Promise<number>;
  aicxReapNode(node: string, prefix: string): Promise<number>;
  aicxTouch(key: string, session: string, lastSeen: number, ttl: number): Promise<number>;
  aicxLocate(key: string, prefix: string): Promise<string | null>;
  aicxList(index: string, prefix: string, start: string, limit: number): Promise<[number, string | null, ListRow[]]>;
  aicxPurge(key: string, ...args: string[]): Promise<number>;
}

/** The part of a pino/Fastify logger RedisPresence uses. */
export interface PresenceLog {
  warn(obj: Record<string, unknown>, msg: string): void;
}

export interface RedisPresenceOptions {
  /** Connected command client (not a subscriber connection). */
  redis: Redis;
  /** This node's own agents: announce() and withdraw() write it first, synchronously. */
  local: AgentRegistry;
  nodeId: string;
  /** Key prefix, e.g. `aiconexus:`; lets several deployments share one Redis. */
  prefix: string;
  /** Liveness TTL of this node's key; a node silent longer is dead. */
  nodeTtlMs: number;
  /** TTL of each agent entry, refreshed by heartbeats. */
  agentTtlMs: number;
  /**
   * Where a listing reports a corrupt entry it skipped (warn `corrupt presence entry skipped`,
   * with `did` truncated and `reason`). Default: nowhere.
   */
  log?: PresenceLog;
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
      redis.defineCommand('aicxList', { numberOfKeys: 1, lua: LIST });
      redis.defineCommand('aicxPurge', { numberOfKeys: 1, lua: PURGE });
    }
    this.redis = redis as Redis & PresenceCommands;
  }

  private agentKey(did: string): string {
    return `${this.p}agent:${did}`;
  }

  async announce(record: AgentRecord): Promise<Replaced | null> {
    this.opts.local.put(record);
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
    this.opts.local.remove(did, session);
    await this.redis.aicxWithdraw(this.agentKey(did), did, session, this.p);
  }

  async locate(did: string): Promise<string | null> {
    return this.redis.aicxLocate(this.agentKey(did), this.p);
  }

  async count(): Promise<number> {
    return this.redis.zcard(`${this.p}agents`);
  }

  /**
   * One page, ordered by DID: one LIST script (one round trip) per MAX_SCRIPT_PAGE entries.
   * Corrupt entries are skipped, reported to `log` and purged (one more round trip, only then), and
   * `count` leaves out those purged from the index, so it matches what paging can return (apart
   * from a dead node's agents until the reaper runs).
   */
  async list(query: ListQuery): Promise<ListPage> {
    const index = query.capability === undefined ? `${this.p}agents` : `${this.p}cap:${query.capability}`;
    const agents: AgentRecord[] = [];
    const corrupt: { row: ListRow; reason: string }[] = [];
    let after = query.after;
    let remaining = query.limit;
    let count: number;
    let nextAfter: string | null;
    do {
      const n = Math.min(remaining, MAX_SCRIPT_PAGE);
      const [total, last, rows] = await this.redis.aicxList(index, this.p, after === undefined ? '-' : `(${after}`, n);
      for (const row of rows) {
        const parsed = parseRow(row);
        if (typeof parsed === 'string') corrupt.push({ row, reason: parsed });
        else agents.push(parsed);
      }
      count = total;
      nextAfter = last;
      remaining -= n;
      after = last ?? undefined;
    } while (remaining > 0 && nextAfter !== null);
    if (corrupt.length > 0) count -= await this.purge(index, corrupt);
    return { count, agents, nextAfter };
  }

  /** Logs and removes corrupt entries a listing met; returns how many left `index`. Never rejects. */
  private async purge(index: string, corrupt: { row: ListRow; reason: string }[]): Promise<number> {
    const pipeline = this.redis.pipeline() as unknown as Pick<PresenceCommands, 'aicxPurge'> & {
      exec(): Promise<[Error | null, unknown][] | null>;
    };
    for (const { row, reason } of corrupt) {
      const did = row[0] ?? '';
      try {
        this.opts.log?.warn({ did: truncate(did), reason }, 'corrupt presence entry skipped');
      } catch {
        // a failing logger must not fail the listing
      }
      const seen = row.length === 1 ? ['1', '', '', '', '', ''] : ['0', ...row.slice(1, 6).map((v) => v ?? '')];
      pipeline.aicxPurge(this.agentKey(did), did, this.p, index, ...seen);
    }
    try {
      const replies = (await pipeline.exec()) ?? [];
      return replies.reduce((n, [err, removed]) => n + (!err && removed === 1 ? 1 : 0), 0);
    } catch {
      return 0; // Redis went away: the next listing meets them again
    }
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

/** A LIST row as a record, or why it is corrupt. */
function parseRow(row: ListRow): AgentRecord | string {
  if (row.length === 1) return 'not a hash';
  const [did, node, session, rawMeta, rawConnectedAt, rawLastSeen] = row;
  if (!did) return 'empty did';
  if (!node) return 'node missing';
  if (!session) return 'session missing';
  const meta = parseMeta(rawMeta);
  if (typeof meta === 'string') return meta;
  const connectedAt = timestamp(rawConnectedAt);
  if (connectedAt === null) return 'connected_at not a timestamp';
  const lastSeen = timestamp(rawLastSeen);
  if (lastSeen === null) return 'last_seen not a timestamp';
  return { did, session, meta, connectedAt, lastSeen };
}

function parseMeta(raw: string | null | undefined): AgentMeta | string {
  if (raw === null || raw === undefined) return 'meta missing';
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return 'meta not JSON';
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'meta not an object';
  return value as AgentMeta;
}

/**
 * ms since the epoch as ANNOUNCE/TOUCH write it (any number a Date can hold: lenient, so that no
 * entry this code writes is ever purged as corrupt), else null.
 */
function timestamp(raw: string | null | undefined): number | null {
  if (raw === null || raw === undefined || raw.trim() === '') return null;
  const n = Number(raw);
  return Number.isFinite(n) && Math.abs(n) <= 8.64e15 ? n : null;
}

function truncate(did: string): string {
  return did.length > 64 ? `${did.slice(0, 64)}…` : did;
}
