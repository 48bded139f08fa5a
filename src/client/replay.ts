/**
 * The client's replay memory: the (sender DID, frame id) pairs of the signaling frames it has
 * emitted, each kept until its window has passed, and never dropped earlier.
 *
 * Memory is bounded by refusing, not by forgetting: a sender may hold at most `perSender` ids
 * inside their windows, and all senders together at most `total`. A frame that would need an id
 * beyond either bound is refused (the caller drops it) until older ids of that window expire.
 * Forgetting a live id instead would let whoever can flood the memory (a hostile gateway, with
 * frames signed by DIDs it mints) deliver a frame a second time inside its window.
 *
 * A sender is tracked only while it has a live id, so `total` also bounds the number of senders.
 * Expiry uses a binary min-heap of deadlines: O(log n) per id, no scan of the whole memory.
 */

/** Bounds of a {@link ReplayMemory}. */
export interface ReplayLimits {
  /** Live ids of one sender DID. Default 1000. */
  perSender: number;
  /** Live ids of all senders together (hence also the senders tracked). Default 100000. */
  total: number;
}

export const DEFAULT_REPLAY_LIMITS: Readonly<ReplayLimits> = Object.freeze({ perSender: 1000, total: 100_000 });

/**
 * `new`: not seen, and there is room for it. `replay`: seen and still inside its window.
 * `sender-full`: the sender already holds `perSender` live ids. `full`: `total` live ids are held.
 */
export type ReplayVerdict = 'new' | 'replay' | 'sender-full' | 'full';

interface Deadline {
  expires: number;
  from: string;
  id: string;
}

export class ReplayMemory {
  private readonly senders = new Map<string, Map<string, number>>();
  /** Min-heap on `expires`: one node per live id. */
  private readonly heap: Deadline[] = [];
  private count = 0;

  constructor(readonly limits: Readonly<ReplayLimits> = DEFAULT_REPLAY_LIMITS) {}

  /** Live ids held. */
  get size(): number {
    return this.count;
  }

  /** Senders with a live id. */
  get senderCount(): number {
    return this.senders.size;
  }

  /** Forgets the ids whose window ended before `now`, then says whether (from, id) may be added. */
  check(from: string, id: string, now: number): ReplayVerdict {
    this.expire(now);
    const ids = this.senders.get(from);
    if (ids?.has(id)) return 'replay';
    if (ids && ids.size >= this.limits.perSender) return 'sender-full';
    if (this.count >= this.limits.total) return 'full';
    return 'new';
  }

  /** Remembers (from, id) until `expires`, the last instant its frame could be accepted; call after check() answered 'new'. */
  add(from: string, id: string, expires: number): void {
    let ids = this.senders.get(from);
    if (!ids) this.senders.set(from, (ids = new Map()));
    const previous = ids.get(id);
    if (previous !== undefined) {
      // Not reached after check() === 'new'; keep the later deadline, never shorten one.
      if (previous >= expires) return;
    } else {
      this.count++;
    }
    ids.set(id, expires);
    this.push({ expires, from, id });
  }

  /** Forgets every id whose window ended before `now` (an id is kept while now <= expires). */
  expire(now: number): void {
    const heap = this.heap;
    while (heap.length > 0 && (heap[0] as Deadline).expires < now) {
      const { expires, from, id } = this.pop();
      const ids = this.senders.get(from);
      // A node whose deadline was later extended by add() is stale: the newer node removes the id.
      if (!ids || ids.get(id) !== expires) continue;
      ids.delete(id);
      this.count--;
      if (ids.size === 0) this.senders.delete(from);
    }
  }

  private push(node: Deadline): void {
    const heap = this.heap;
    heap.push(node);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((heap[parent] as Deadline).expires <= node.expires) break;
      heap[i] = heap[parent] as Deadline;
      i = parent;
    }
    heap[i] = node;
  }

  private pop(): Deadline {
    const heap = this.heap;
    const top = heap[0] as Deadline;
    const last = heap.pop() as Deadline;
    if (heap.length === 0) return top;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && (heap[right] as Deadline).expires < (heap[left] as Deadline).expires ? right : left;
      if ((heap[child] as Deadline).expires >= last.expires) break;
      heap[i] = heap[child] as Deadline;
      i = child;
    }
    heap[i] = last;
    return top;
  }
}
