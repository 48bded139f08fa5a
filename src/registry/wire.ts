/**
 * AgentRecord → the JSON an agent is listed as, in one place: the entry of a DISCOVER's AGENTS
 * reply (docs/protocol.md §6) and the entry of GET /agents (docs/operations.md), which adds `last_seen`.
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

/** A record's AGENTS entry as JSON text, and its size in UTF-8 bytes. */
export interface EntryText {
  readonly text: string;
  readonly bytes: number;
}

/** `,"last_seen":"<ISO 8601, 24 characters>"`: what a GET /agents entry adds to its AGENTS entry. */
export const LAST_SEEN_BYTES = ',"last_seen":""'.length + 24;

/**
 * Each record's AGENTS entry, serialised once while the record lives (its fields never change
 * while it is registered): DISCOVER replies concatenate it, GET /agents sizes its pages with it.
 */
export class EntryCache {
  private readonly entries = new WeakMap<AgentRecord, EntryText>();

  of(record: AgentRecord): EntryText {
    let entry = this.entries.get(record);
    if (entry === undefined) {
      const text = JSON.stringify(agentEntry(record));
      entry = { text, bytes: Buffer.byteLength(text) };
      this.entries.set(record, entry);
    }
    return entry;
  }
}
