/**
 * DISCOVER → AGENTS: the reply is built from each agent's wire JSON (built once per record and
 * kept while the record lives), bounded in bytes, and priced in rate-limit tokens by its size.
 *
 * A reply is at most AGENTS_REPLY_SHARE of MAX_BUFFERED_BYTES (256 KiB by default): a listing
 * that would be larger ends early and says `"truncated": true`. So one reply always fits the
 * connection's buffer, and what a DISCOVER can make the gateway queue is bounded whatever the
 * agents' `meta`.
 */
import { AGENTS_REPLY_SHARE, REPLY_BYTES_PER_TOKEN } from '../constants.js';
import type { Presence } from '../registry/presence.js';
import type { EntryCache } from '../registry/wire.js';

export interface AgentsReply {
  /** The AGENTS frame as sent. */
  readonly text: string;
  /** Agents listed in it. */
  readonly listed: number;
  /** Rate-limit tokens it costs: one per started REPLY_BYTES_PER_TOKEN bytes (at least one). */
  readonly tokens: number;
}

export class Discovery {
  readonly maxReplyBytes: number;

  constructor(
    private readonly presence: Pick<Presence, 'list'>,
    private readonly entries: EntryCache,
    maxBufferedBytes: number,
  ) {
    this.maxReplyBytes = Math.floor(maxBufferedBytes * AGENTS_REPLY_SHARE);
  }

  /** The AGENTS reply to a DISCOVER (rejects when the cluster-wide presence cannot be read). */
  async reply(ref: string | null, capability: string | undefined, limit: number): Promise<AgentsReply> {
    const page = await this.presence.list({ capability, limit });
    const head = `{"type":"AGENTS","ref":${JSON.stringify(ref)},"agents":[`;
    const truncatedTail = '],"truncated":true}';
    let bytes = Buffer.byteLength(head) + truncatedTail.length;
    const parts: string[] = [];
    let truncated = false;
    for (const record of page.agents) {
      const entry = this.entries.of(record);
      const size = entry.bytes + 1;
      if (bytes + size > this.maxReplyBytes) {
        truncated = true;
        break;
      }
      bytes += size;
      parts.push(entry.text);
    }
    const text = `${head}${parts.join(',')}${truncated ? truncatedTail : ']}'}`;
    return { text, listed: parts.length, tokens: Math.max(1, Math.ceil(bytes / REPLY_BYTES_PER_TOKEN)) };
  }

}
