/**
 * In-memory {@link AgentRegistry}: the default for a single gateway node.
 *
 * Sorted DID lists (all agents, and per capability) keep DISCOVER and GET /agents proportional to
 * the page they return, not to every online agent.
 */
import type { AgentRecord, AgentRegistry, ListPage, ListQuery } from './agent-registry.js';

export class MemoryRegistry implements AgentRegistry {
  private readonly agents = new Map<string, AgentRecord>();
  /**
   * Every DID, and the DIDs of each capability, kept sorted as agents come and go (binary search
   * and splice), so a listing costs its page, not a sort of every agent: sorting 10,000 DIDs per
   * DISCOVER took 2.5-4.5 ms, which 50 DISCOVERs/s from one agent would turn into a fifth of a core.
   */
  private readonly all: string[] = [];
  private readonly byCapability = new Map<string, string[]>();

  get size(): number {
    return this.agents.size;
  }

  put(record: AgentRecord): AgentRecord | undefined {
    const previous = this.agents.get(record.did);
    if (previous) this.unindex(previous);
    else insertSorted(this.all, record.did);
    this.agents.set(record.did, record);
    for (const cap of capabilitiesOf(record)) {
      let dids = this.byCapability.get(cap);
      if (!dids) this.byCapability.set(cap, (dids = []));
      insertSorted(dids, record.did);
    }
    return previous;
  }

  remove(did: string, session: string): boolean {
    const record = this.agents.get(did);
    if (!record || record.session !== session) return false;
    this.agents.delete(did);
    removeSorted(this.all, did);
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
    const dids = query.capability === undefined ? this.all : (this.byCapability.get(query.capability) ?? []);
    // First DID sorting after the cursor (the cursor's own agent may have left meanwhile).
    const start = query.after === undefined ? 0 : firstAfter(dids, query.after);
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
      removeSorted(dids, record.did);
      if (dids.length === 0) this.byCapability.delete(cap);
    }
  }
}

/** Index of the first element of sorted `list` greater than `value`. */
function firstAfter(list: readonly string[], value: string): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((list[mid] as string) <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Index of the first element of sorted `list` not less than `value`. */
function firstAtOrAfter(list: readonly string[], value: string): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((list[mid] as string) < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function insertSorted(list: string[], value: string): void {
  const i = firstAtOrAfter(list, value);
  if (list[i] !== value) list.splice(i, 0, value);
}

function removeSorted(list: string[], value: string): void {
  const i = firstAtOrAfter(list, value);
  if (list[i] === value) list.splice(i, 1);
}

function capabilitiesOf(record: AgentRecord): readonly string[] {
  return record.meta.capabilities ?? [];
}
