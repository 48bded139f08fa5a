/** src/registry/wire.ts: AgentRecord → the JSON of an AGENTS entry and of a GET /agents entry. */
import { describe, expect, it } from 'vitest';
import { agentEntry, agentListing, EntryCache, LAST_SEEN_BYTES } from '../../src/registry/wire.js';
import type { AgentRecord } from '../../src/registry/agent-registry.js';
import { DID_A } from '../helpers/vectors.js';

const record: AgentRecord = {
  did: DID_A,
  meta: { name: 'bot', capabilities: ['vision'], extra: 1 },
  session: 's-1',
  connectedAt: Date.UTC(2025, 0, 2, 3, 4, 5, 678),
  lastSeen: Date.UTC(2025, 0, 2, 3, 5, 0, 0),
};

describe('agentEntry (DISCOVER → AGENTS)', () => {
  it('is did, meta and connected_at (ISO 8601), in that order, without session or last_seen', () => {
    expect(JSON.stringify(agentEntry(record))).toBe(
      JSON.stringify({ did: DID_A, meta: record.meta, connected_at: '2025-01-02T03:04:05.678Z' }),
    );
  });
});

describe('agentListing (GET /agents)', () => {
  it('is the AGENTS entry followed by last_seen', () => {
    expect(JSON.stringify(agentListing(record))).toBe(
      JSON.stringify({ did: DID_A, meta: record.meta, connected_at: '2025-01-02T03:04:05.678Z', last_seen: '2025-01-02T03:05:00.000Z' }),
    );
  });
});

describe('EntryCache', () => {
  it('serialises a record once; its bytes plus LAST_SEEN_BYTES are the size of the GET /agents entry', () => {
    const cache = new EntryCache();
    const unicode: AgentRecord = { ...record, meta: { name: 'ключ ✓' } };
    for (const r of [record, unicode]) {
      const entry = cache.of(r);
      expect(cache.of(r)).toBe(entry);
      expect(entry.text).toBe(JSON.stringify(agentEntry(r)));
      expect(entry.bytes).toBe(Buffer.byteLength(entry.text));
      expect(entry.bytes + LAST_SEEN_BYTES).toBe(Buffer.byteLength(JSON.stringify(agentListing(r))));
    }
  });
});
