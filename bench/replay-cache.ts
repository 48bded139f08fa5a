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
 * full GC, so the cache's object count is what it costs the event loop in GC pauses; then the
 * once-a-second sweep: the slowest add() per second once ids expire, at 2,000 and 4,000 frames/s.
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

/**
 * The sweep: the slowest add() per simulated second once ids expire (after CLOCK_SKEW, 30 s), at
 * `rate` frames/s round-robin from 500 senders, over 70 s of a fake clock. Once a second one add()
 * compacts every sender with an expired id, and at a steady rate that is every sender: the frame
 * in that add(), and every frame behind it, waits for all of them (docs/performance.md,
 * "Afternoon of 2026-12-04").
 */
function sweepCost(rate: number, senders: number): { medianMs: number; maxMs: number } {
  let now = 1_700_000_000_000;
  const cache = new ReplayCache(() => now);
  const dids = Array.from({ length: senders }, (_, i) => `did:key:z6Mk${String(i).padStart(44, '0')}`);
  const slowest = new Map<number, number>();
  for (let i = 0; i < 70 * rate; i++) {
    now += 1000 / rate;
    const started = performance.now();
    cache.add(dids[i % senders] as string, `L${i}`, Math.floor(now) + 30_000);
    const ms = performance.now() - started;
    const second = Math.floor(i / rate);
    if (second >= 31) slowest.set(second, Math.max(slowest.get(second) ?? 0, ms));
  }
  const xs = [...slowest.values()].sort((a, b) => a - b);
  return { medianMs: xs[Math.floor(xs.length / 2)] as number, maxMs: xs[xs.length - 1] as number };
}

process.stdout.write('sweep: the slowest add() per second, seconds 31-70 (ids expiring), 500 senders: median / max ms\n');
for (const rate of [2000, 4000]) {
  const { medianMs, maxMs } = sweepCost(rate, 500);
  process.stdout.write(`  ${String(rate).padStart(5)} frames/s: ${medianMs.toFixed(2)} / ${maxMs.toFixed(2)}\n`);
}
