/**
 * Micro benchmark of the replay cache (src/identity/replay-cache.ts) against the layout it
 * replaced, measured in the same run: a Map of id strings per sender (expiry as a number), which
 * keeps each frame's id string alive until it expires.
 *
 *   npm run bench:replay                   300,000 entries over 100 and over 10,000 senders
 *   npm run bench:replay -- 1000000 50     entries, senders
 *
 * Reports bytes per entry (JS heap + array buffers, after a full GC), µs per add, and how long a
 * full GC takes with the cache alive: every heap object in the old generation is marked by every
 * full GC, so the cache's object count is what it costs the event loop in GC pauses.
 * Needs --expose-gc (the npm script passes it).
 */
import { ReplayCache } from '../src/identity/replay-cache.js';

interface Cache {
  add(did: string, id: string, expiresAt: number): boolean;
}

/** The previous layout, for the baseline: sender → (id → expiry). Sweeping is left out. */
class MapOfIds implements Cache {
  private readonly senders = new Map<string, Map<string, number>>();
  add(did: string, id: string, expiresAt: number): boolean {
    let ids = this.senders.get(did);
    if (ids === undefined) this.senders.set(did, (ids = new Map()));
    if (ids.has(id)) return false;
    ids.set(id, expiresAt);
    return true;
  }
}

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  process.stderr.write('run with node --expose-gc (npm run bench:replay does)\n');
  process.exit(2);
}

function measure(label: string, make: (now: () => number) => Cache, entries: number, senders: number) {
  const dids = Array.from({ length: senders }, (_, i) => `did:key:z6Mk${String(i).padStart(44, '0')}`);
  const t = Date.now();
  (gc as () => void)();
  const before = process.memoryUsage();
  const cache = make(() => t);
  const started = performance.now();
  // Fresh id strings, as parsed frames bring them.
  for (let i = 0; i < entries; i++) cache.add(dids[i % senders] as string, `L${1_000_000 + i}-${(i * 2654435761) % 1e9}`, t + 30_000);
  const addMs = performance.now() - started;
  (gc as () => void)();
  const after = process.memoryUsage();
  const gcStarted = performance.now();
  (gc as () => void)();
  const gcMs = performance.now() - gcStarted;
  const bytes = after.heapUsed + after.arrayBuffers - before.heapUsed - before.arrayBuffers;
  if (!cache.add(dids[0] as string, 'L1000000-0', t + 30_000)) {
    // (keeps `cache` alive through the measurements above)
  }
  return { label, senders, bytesPerEntry: bytes / entries, addMicros: (addMs * 1000) / entries, fullGcMs: gcMs };
}

const entries = Number(process.argv[2] ?? 300_000);
const senderCounts = process.argv[3] ? [Number(process.argv[3])] : [100, 10_000];
const rows = [];
for (const senders of senderCounts) {
  rows.push(measure('map of id strings (previous)', () => new MapOfIds(), entries, senders));
  rows.push(measure('hashed ids in typed arrays', (now) => new ReplayCache(now), entries, senders));
}
process.stdout.write(`replay cache, ${entries.toLocaleString('en-US')} entries\n`);
for (const r of rows) {
  process.stdout.write(
    `  ${r.label.padEnd(30)} ${String(r.senders).padStart(6)} senders: ${r.bytesPerEntry.toFixed(1).padStart(6)} B/entry, ` +
      `${r.addMicros.toFixed(2)} µs/add, full GC ${r.fullGcMs.toFixed(1)} ms\n`,
  );
}
