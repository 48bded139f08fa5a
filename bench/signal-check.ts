/**
 * Micro benchmark of the signaling envelope check (src/protocol/signal-check.ts): the zod schema
 * against quickSignalFields, alone and inside prepareSignal (src/identity/checks.ts: schema,
 * sender, freshness, JCS bytes, signature decode), per frame.
 *
 *   npm run bench:signal-check -- [rounds=15] [ms per sample=40]
 *
 * Frames are parsed objects, as the gateway's decodeFrame hands them on: a ~400-byte OFFER, an
 * ICE frame with every payload field, and a BYE. Each variant runs on 256 distinct copies of the
 * frame in turn (distinct strings, as JSON.parse makes them), and every round runs the variants
 * back to back in a rotating order, so the machine's drift falls on all of them alike.
 *
 * Reported: ns per frame, median over the rounds with the interquartile range, min and max, and
 * the paired per-round difference zod − quick.
 */
import { prepareSignal } from '../src/identity/checks.js';
import { signalingSchemas, type SignalingType } from '../src/protocol/frames.js';
import { quickSignalFields } from '../src/protocol/signal-check.js';
import { optionsOrExit } from '../scripts/lib/args.js';
import { calibrate, DID_A, flushSink, fmtNs, iceFrame, nsPerCall, parseRoundsAndSampleMs, smallOffer, spread } from './lib/micro.js';

const USAGE = 'usage: npm run bench:signal-check -- [rounds=15] [ms per sample=40]';
const COPIES = 256;

const now = Date.now();
const bye = { ...smallOffer(now), type: 'BYE', id: 'bye-1', payload: { reason: 'done' } };
const frames: Record<string, { type: SignalingType; text: string }> = {
  'OFFER ~400 B': { type: 'OFFER', text: JSON.stringify(smallOffer(now)) },
  ICE: { type: 'ICE', text: JSON.stringify(iceFrame(now)) },
  BYE: { type: 'BYE', text: JSON.stringify(bye) },
};

type Check = (type: SignalingType, frame: Record<string, unknown>) => unknown;
const ctx = { did: DID_A, now, clockSkewMs: 60_000 };
const variants: { name: string; check: Check }[] = [
  { name: 'zod schema', check: (type, frame) => signalingSchemas[type].safeParse(frame).success },
  { name: 'quickSignalFields', check: quickSignalFields },
  { name: 'prepareSignal', check: (type, frame) => prepareSignal(type, frame, ctx) },
];

function main(): void {
  const { rounds, sampleMs } = optionsOrExit({ program: 'bench:signal-check', usage: USAGE, help: USAGE }, parseRoundsAndSampleMs);
  process.stdout.write(`node ${process.version}, ${rounds} rounds, ~${sampleMs} ms per sample; ns per frame\n`);
  for (const [label, { type, text }] of Object.entries(frames)) {
    const copies = Array.from({ length: COPIES }, () => JSON.parse(text) as Record<string, unknown>);
    if (quickSignalFields(type, copies[0] as Record<string, unknown>) === null) throw new Error(`${label}: the quick check does not pass it`);
    let next = 0;
    const runs = variants.map((v) => () => v.check(type, copies[next++ & (COPIES - 1)] as Record<string, unknown>));
    const iterations = runs.map((run) => calibrate(run, sampleMs));
    const results = variants.map(() => [] as number[]);
    for (let r = 0; r < rounds; r++) {
      for (let k = 0; k < variants.length; k++) {
        const j = (k + r) % variants.length;
        (results[j] as number[]).push(nsPerCall(runs[j] as () => unknown, iterations[j] as number));
      }
    }
    process.stdout.write(`\n${label} (${text.length} bytes)\n`);
    variants.forEach((v, j) => process.stdout.write(`  ${v.name.padEnd(24)} ${spread(results[j] as number[], fmtNs)}\n`));
    const saved = (results[0] as number[]).map((z, i) => z - ((results[1] as number[])[i] as number));
    process.stdout.write(`  ${'zod − quick, paired'.padEnd(24)} ${spread(saved, fmtNs)}\n`);
  }
  flushSink();
}

main();
