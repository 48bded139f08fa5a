/**
 * Single-node {@link Presence}: the local registry is the whole deployment.
 */
import type { AgentRecord, AgentRegistry, ListPage, ListQuery } from './agent-registry.js';
import type { Presence, Replaced, RefreshResult } from './presence.js';

export class MemoryPresence implements Presence {
  /** @param registry the node's local registry, which this presence alone writes. */
  constructor(
    private readonly registry: AgentRegistry,
    readonly nodeId = 'local',
  ) {}

  async announce(record: AgentRecord): Promise<Replaced | null> {
    this.registry.put(record);
    // On one node every replaced session is local, and the hub closes it itself.
    return null;
  }

  async withdraw(did: string, session: string): Promise<void> {
    this.registry.remove(did, session);
  }

  async locate(did: string): Promise<string | null> {
    return this.registry.get(did) ? this.nodeId : null;
  }

  async list(query: ListQuery): Promise<ListPage> {
    return this.registry.list(query);
  }

  async count(): Promise<number> {
    return this.registry.size;
  }

  async refresh(records: readonly AgentRecord[]): Promise<Map<string, RefreshResult>> {
    const result = new Map<string, RefreshResult>();
    for (const r of records) {
      const current = this.registry.get(r.did);
      result.set(r.did, current === undefined ? 'missing' : current.session === r.session ? 'ok' : 'replaced');
    }
    return result;
  }

  async reap(): Promise<number> {
    return 0;
  }
}
