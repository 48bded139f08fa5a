/**
 * The agent registry: who is online, with what metadata, since when, last seen when.
 *
 * The gateway talks to it only through this interface so that a shared (Redis) implementation can
 * replace the in-memory default without touching the session code.
 */
import type { AgentMeta } from '../protocol/frames.js';

/** One registered agent. */
export interface AgentRecord {
  readonly did: string;
  readonly meta: AgentMeta;
  /** The session that owns this registration (a replaced session cannot remove its successor). */
  readonly session: string;
  /** ms since epoch. */
  readonly connectedAt: number;
  /** ms since epoch of the last inbound frame or pong. */
  lastSeen: number;
}

/** A page query over registered agents, ordered by DID. */
export interface ListQuery {
  capability?: string | undefined;
  limit: number;
  /** Return agents whose DID sorts after this one (from a previous page's `nextCursor`). */
  after?: string | undefined;
}

export interface ListPage {
  /** Total number of agents matching the query's capability (all pages). */
  readonly count: number;
  readonly agents: readonly AgentRecord[];
  /** DID of the last agent of this page when more follow, else null. */
  readonly nextAfter: string | null;
}

export interface AgentRegistry {
  /** Adds or replaces the registration of `record.did`; returns the record it replaced, if any. */
  put(record: AgentRecord): AgentRecord | undefined;
  /** Removes `did` if it is still owned by `session`; true when something was removed. */
  remove(did: string, session: string): boolean;
  get(did: string): AgentRecord | undefined;
  /** Marks activity (frame or pong) at `now`. */
  touch(did: string, now: number): void;
  list(query: ListQuery): ListPage;
  /** Agents whose last activity is before `cutoff` (ms since epoch). */
  idleSince(cutoff: number): AgentRecord[];
  readonly size: number;
}
