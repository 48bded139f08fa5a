/**
 * In-memory {@link AgentRegistry}: the default for a single gateway node.
 *
 * A capability index keeps DISCOVER and GET /agents?capability=… proportional to the matches,
 * not to every online agent.
 */
import type { AgentRecord, AgentRegistry, ListPage, ListQuery } from './agent-registry.js';

export class MemoryRegistry implements AgentRegistry {
  private readonly agents = new Map<string, AgentRecord>();
  private readonly byCapability = new Map<string, Set<string>>();

  get size(): number {
    return this.agents.size;
  }

  put(record: AgentRecord): AgentRecord | undefined {
    const previous = this.agents.get(record.did);
    if (previous) this.unindex(previous);
    this.agents.set(record.did, record);
    for (const cap of capabilitiesOf(record)) {
      let dids = this.byCapability.get(cap);
      if (!dids) this.byCapability.set(cap, (dids = new Set()));
      dids.add(record.did);
    }
    return previous;
  }

  remove(did: string, session: string): boolean {
    const record = this.agents.get(did);
    if (!record || record.session !== session) return false;
    this.agents.delete(did);
    this.unindex(record);
    return true;
  }

  get(did: string): AgentRecord | undefined {
    return this.agents.get(did);
  }

  touch(did: string, now: number): void {
    const record = this.agents.get(did);
    if (record) record.lastSeen = now;
  }

  list(query: ListQuery): ListPage {
    const dids =
      query.capability === undefined ? [...this.agents.keys()] : [...(this.byCapability.get(query.capability) ?? [])];
    dids.sort();
    let start = 0;
    if (query.after !== undefined) {
      const after = query.after;
      // First DID sorting after the cursor (the cursor's own agent may have left meanwhile).
      let lo = 0;
      let hi = dids.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if ((dids[mid] as string) <= after) lo = mid + 1;
        else hi = mid;
      }
      start = lo;
    }
    const page = dids.slice(start, start + query.limit);
    const agents = page.map((did) => this.agents.get(did) as AgentRecord);
    const more = start + query.limit < dids.length;
    return { count: dids.length, agents, nextAfter: more ? (page[page.length - 1] ?? null) : null };
  }

  idleSince(cutoff: number): AgentRecord[] {
    const idle: AgentRecord[] = [];
    for (const record of this.agents.values()) if (record.lastSeen < cutoff) idle.push(record);
    return idle;
  }

  private unindex(record: AgentRecord): void {
    for (const cap of capabilitiesOf(record)) {
      const dids = this.byCapability.get(cap);
      if (!dids) continue;
      dids.delete(record.did);
      if (dids.size === 0) this.byCapability.delete(cap);
    }
  }
}

function capabilitiesOf(record: AgentRecord): readonly string[] {
  return record.meta.capabilities ?? [];
}
