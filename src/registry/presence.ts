/**
 * Presence: which agents are online anywhere in the deployment, and on which node.
 *
 * The gateway keeps its own agents in a local {@link AgentRegistry} (sweeper, MAX_AGENTS, local
 * routing) and publishes them through a Presence, which answers the cluster-wide questions:
 * DISCOVER, GET /agents, "which node holds this DID?", and "whose session did I replace?".
 * Implementations: {@link MemoryPresence} (one node, the default) and RedisPresence (cluster
 * mode). One contract test suite runs over both (test/contract/presence.test.ts).
 *
 * A Presence is the one writer of its node's local registry: announce() puts the record and
 * withdraw() removes it, synchronously (before any remote write), so the registry and presence
 * never disagree about this node's agents. Everything else only reads the registry.
 */
import type { AgentRecord, ListPage, ListQuery } from './agent-registry.js';

/** A session on another node that a new registration of the same DID replaced. */
export interface Replaced {
  readonly node: string;
  readonly session: string;
}

/** What a refresh found about one local agent. */
export type RefreshResult = 'ok' | 'missing' | 'replaced';

export interface Presence {
  /** This node's id (the owner recorded for agents it announces). */
  readonly nodeId: string;
  /**
   * Lists `record` as online at this node (in the local registry at once), replacing any
   * registration of the same DID.
   * Returns the replaced session when it lived on another node (it must be closed with 4409).
   */
  announce(record: AgentRecord): Promise<Replaced | null>;
  /** Unlists `did` if `session` still owns it (in the local registry at once). */
  withdraw(did: string, session: string): Promise<void>;
  /** The node holding `did`, or null when no live node does. */
  locate(did: string): Promise<string | null>;
  /** One page of online agents across the deployment, ordered by DID. */
  list(query: ListQuery): Promise<ListPage>;
  /** Number of online agents across the deployment. */
  count(): Promise<number>;
  /**
   * Heartbeat: marks this node alive and refreshes each local agent's entry. Reports, per DID,
   * whether the entry was refreshed, had expired (re-announce it), or now belongs to another
   * session (close the local one with 4409).
   */
  refresh(records: readonly AgentRecord[]): Promise<Map<string, RefreshResult>>;
  /** Removes the agents of nodes that stopped refreshing; returns how many were removed. */
  reap(): Promise<number>;
}
