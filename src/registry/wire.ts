/**
 * AgentRecord → the JSON an agent is listed as, in one place: the entry of a DISCOVER's AGENTS
 * reply (PROTOCOL.md §5) and the entry of GET /agents (PROTOCOL.md §7), which adds `last_seen`.
 * Times are ISO 8601 strings; field order is the order on the wire.
 */
import type { AgentMeta } from '../protocol/frames.js';
import type { AgentRecord } from './agent-registry.js';

/** One agent in an AGENTS reply. */
export interface AgentEntry {
  did: string;
  meta: AgentMeta;
  connected_at: string;
}

/** One agent in a GET /agents page. */
export interface AgentListing extends AgentEntry {
  last_seen: string;
}

/** The AGENTS entry of `record` (`did`, `meta`, `connected_at`): fixed while the record lives. */
export function agentEntry(record: AgentRecord): AgentEntry {
  return { did: record.did, meta: record.meta, connected_at: new Date(record.connectedAt).toISOString() };
}

/** The GET /agents entry of `record`: its AGENTS entry and `last_seen`. */
export function agentListing(record: AgentRecord): AgentListing {
  return { ...agentEntry(record), last_seen: new Date(record.lastSeen).toISOString() };
}
