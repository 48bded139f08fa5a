/**
 * Micro benchmark of the duplicate-key check (src/protocol/duplicate-keys.ts, issue 13 §5): what
 * it adds to decodeFrame per frame, and what the alternatives would cost.
 *
 *   npx tsx bench/duplicate-keys.ts [rounds=15] [ms per sample=40]
 *
 * Frames, as Buffers the way the gateway receives them: a signed ~400-byte OFFER, a signed ICE
 * frame, and two ~60 KB OFFERs with the largest SDP allowed (32,768 characters) plus extra
 * payload fields: one long string, or 200 small objects (the scanner's cost grows with the number
 * of strings and keys, not with bytes).
 *
 * Variants, all measured in every round in a rotating order (A/B interleaved: the machine is
 * small and shared, so figures move between minutes more than between variants):
 *
 * - `decode (before)`: decodeFrame as it was before the check (copied below);
 * - `decode (with check)`: decodeFrame from src/protocol/codec.ts;
 * - `scan only`: findDuplicateKey on the decoded text;
 * - `scan: Set per object`: the same scanner with every object's keys in a Set of slices;
 * - `scan: char loop`: the scanner stepping through strings one character at a time instead of
 *   jumping with indexOf;
 * - `count colons vs keys`: colons outside strings against the parsed tree's own keys (tells
 *   whether there is a duplicate, not which);
 * - `JSON.parse + reviver`: the cost of an identity reviver alone. A reviver cannot detect
 *   duplicates (it is called once per key of the already-built object, after the last duplicate
 *   won), so this only shows what that route would cost before doing any work.
 *
 * Reported: ns per frame, median over the rounds with min–max, and the per-round paired
 * difference `with check − before` (median, min–max), which cancels most of the machine's drift.
 */
import { decodeFrame, type ClientType, type Decoded } from '../src/protocol/codec.js';
import { findDuplicateKey } from '../src/protocol/duplicate-keys.js';
import { CLIENT_TYPES, SERVER_TYPES } from '../src/protocol/frames.js';
import { calibrate, DID_A, DID_B, flushSink, fmtNs, iceFrame, nsPerCall, parseRoundsAndSampleMs, quantile, SIG, smallOffer, spread, TS } from './lib/micro.js';
import { optionsOrExit } from '../scripts/lib/args.js';

const USAGE = 'usage: npx tsx bench/duplicate-keys.ts [rounds=15] [ms per sample=40]';

function bigSdp(chars: number): string {
  const lines = [
    'a=candidate:842163049 1 udp 1677729535 203.0.113.7 46154 typ srflx raddr 0.0.0.0 rport 0 generation 0 network-cost 999',
    'a=fingerprint:sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08',
    'a=ice-ufrag:EsAw',
    'a=ice-pwd:bP+XJMM09aR8AiX1jdukzR6Y',
  ];
  let sdp = 'v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n';
  for (let i = 0; sdp.length < chars; i++) sdp += `${lines[i % lines.length] as string}\r\n`;
  return sdp.slice(0, chars);
}

const frames: Record<string, Buffer> = {
  'OFFER ~400 B': Buffer.from(JSON.stringify(smallOffer())),
  ICE: Buffer.from(JSON.stringify(iceFrame())),
  'OFFER ~60 KB, long strings': Buffer.from(
    JSON.stringify({
      type: 'OFFER',
      id: 'offer-big-1',
      from: DID_A,
      to: DID_B,
      ts: TS,
      // The largest SDP allowed (32,768 characters; its \r\n are escaped in the JSON) and an
      // extra payload field (allowed, and signed) to fill the frame.
      payload: { type: 'offer', sdp: bigSdp(32768), note: 'n'.repeat(26_000) },
      sig: SIG,
    }),
  ),
  'OFFER ~60 KB, 200 objects': Buffer.from(
    JSON.stringify({
      type: 'OFFER',
      id: 'offer-big-2',
      from: DID_A,
      to: DID_B,
      ts: TS,
      payload: {
        type: 'offer',
        sdp: bigSdp(32768),
        // Structure instead of one long string: 200 objects of 7 keys each.
        candidates: Array.from({ length: 200 }, (_, i) => ({ foundation: `f${i}`, component: 1, protocol: 'udp', priority: 2122260223 - i, address: `192.0.2.${i % 250}`, port: 50000 + i, type: 'host' })),
      },
      sig: SIG,
    }),
  ),
};

// --- variants ----------------------------------------------------------------------------------

const clientTypes = new Set<string>(CLIENT_TYPES);
const serverTypes = new Set<string>(SERVER_TYPES);

/** decodeFrame before the duplicate-key check (src/protocol/codec.ts at the previous commit). */
function decodeBefore(data: Buffer, isBinary: boolean): Decoded {
  if (isBinary) return { ok: false, code: 'BAD_FRAME', ref: null, message: 'binary' };
  let value: unknown;
  try {
    value = JSON.parse(data.toString('utf8'));
  } catch {
    return { ok: false, code: 'BAD_FRAME', ref: null, message: 'frame is not valid JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, code: 'BAD_FRAME', ref: null, message: 'frame must be a JSON object' };
  }
  const obj = value as Record<string, unknown>;
  const type = obj.type;
  if (typeof type !== 'string') return { ok: false, code: 'BAD_FRAME', ref: null, message: '"type" must be a string' };
  if (clientTypes.has(type)) return { ok: true, type: type as ClientType, value: obj };
  if (serverTypes.has(type)) return { ok: false, code: 'BAD_FRAME', ref: null, message: 'server' };
  return { ok: false, code: 'UNKNOWN_TYPE', ref: null, message: 'unknown' };
}

/** Index of the closing quote of the string starting at `start` (after its opening quote), by indexOf. */
function stringEndIndexOf(text: string, start: number): number {
  let q = text.indexOf('"', start);
  while (q >= 0) {
    let b = q - 1;
    while (b >= start && text.charCodeAt(b) === 0x5c) b--;
    if (((q - 1 - b) & 1) === 0) return q;
    q = text.indexOf('"', q + 1);
  }
  return text.length;
}

/** The same, one character at a time. */
function stringEndLoop(text: string, start: number): number {
  const n = text.length;
  for (let i = start; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) return i;
    if (c === 0x5c) i++;
  }
  return n;
}

const unescape = (raw: string): string => (raw.includes('\\') ? (JSON.parse(`"${raw}"`) as string) : raw);

/** A simpler scanner: a Set of (unescaped) key strings for every object. */
function makeSetScanner(stringEnd: (text: string, start: number) => number) {
  return (text: string): string | null => {
    const stack: Set<string>[] = [];
    let i = 0;
    const n = text.length;
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        const start = i + 1;
        const end = stringEnd(text, start);
        i = end + 1;
        let d = text.charCodeAt(i);
        while (d === 0x20 || d === 0x0a || d === 0x0d || d === 0x09) d = text.charCodeAt(++i);
        if (d !== 0x3a) continue;
        i++;
        const set = stack[stack.length - 1] as Set<string>;
        const key = unescape(text.slice(start, end));
        if (set.has(key)) return key;
        set.add(key);
      } else {
        if (c === 0x7b) stack.push(new Set());
        else if (c === 0x7d) stack.pop();
        i++;
      }
    }
    return null;
  };
}
const setScanIndexOf = makeSetScanner(stringEndIndexOf);
const setScanLoop = makeSetScanner(stringEndLoop);

/** Colons outside strings (one per key occurrence) against own keys of the parsed tree. */
function countCheck(text: string, value: unknown): boolean {
  let colons = 0;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x22) i = stringEndIndexOf(text, i + 1) + 1;
    else {
      if (c === 0x3a) colons++;
      i++;
    }
  }
  let keys = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v !== 'object' || v === null) continue;
    if (Array.isArray(v)) {
      for (const x of v) if (typeof x === 'object' && x !== null) stack.push(x);
    } else {
      for (const k in v) {
        keys++;
        const x = (v as Record<string, unknown>)[k];
        if (typeof x === 'object' && x !== null) stack.push(x);
      }
    }
  }
  return colons !== keys;
}

const identity = (_k: string, v: unknown) => v;

interface Variant {
  name: string;
  run: (data: Buffer, text: string, value: unknown) => unknown;
}

const variants: Variant[] = [
  { name: 'decode (before)', run: (data) => decodeBefore(data, false) },
  { name: 'decode (with check)', run: (data) => decodeFrame(data, false) },
  { name: 'scan only', run: (_d, text) => findDuplicateKey(text) },
  { name: 'scan: Set per object', run: (_d, text) => setScanIndexOf(text) },
  { name: 'scan: char loop', run: (_d, text) => setScanLoop(text) },
  { name: 'count colons vs keys', run: (_d, text, value) => countCheck(text, value) },
  { name: 'JSON.parse (no reviver)', run: (_d, text) => JSON.parse(text) },
  { name: 'JSON.parse + reviver', run: (_d, text) => JSON.parse(text, identity) },
];

// --- measurement -------------------------------------------------------------------------------

function sample(variant: Variant, data: Buffer, text: string, value: unknown, iterations: number): number {
  return nsPerCall(() => variant.run(data, text, value), iterations);
}

const fmt = fmtNs;

function main(): void {
  const { rounds, sampleMs } = optionsOrExit({ program: 'bench:duplicate-keys', usage: USAGE, help: USAGE }, parseRoundsAndSampleMs);
  process.stdout.write(`node ${process.version}, ${rounds} rounds, ~${sampleMs} ms per sample; ns per frame\n`);
  for (const [label, data] of Object.entries(frames)) {
    const text = data.toString('utf8');
    const value: unknown = JSON.parse(text);
    // The variants must agree: no duplicate in any frame, and one found when a key is repeated.
    for (const v of variants.slice(2, 6)) {
      const r = v.run(data, text, value);
      if (r !== null && r !== false) throw new Error(`${v.name}: false positive on ${label}`);
    }
    const dup = text.replace('"payload":{', '"payload":{"x":1,"x":2,');
    if (findDuplicateKey(dup)?.key !== 'x' || !countCheck(dup, JSON.parse(dup)) || setScanIndexOf(dup) !== 'x' || setScanLoop(dup) !== 'x') {
      throw new Error('a variant missed a duplicate');
    }
    if (decodeFrame(data, false).ok !== true || decodeFrame(Buffer.from(dup), false).ok !== false) throw new Error(`${label}: decodeFrame disagrees`);

    // Calibrate iterations per variant to ~sampleMs (after a warm-up that gets them optimised).
    const iterations = variants.map((v) => calibrate(() => v.run(data, text, value), sampleMs));
    const results = variants.map(() => [] as number[]);
    const run = (j: number) => (results[j] as number[]).push(sample(variants[j] as Variant, data, text, value, iterations[j] as number));
    for (let r = 0; r < rounds; r++) {
      // The A/B pair back to back, in alternating order; then the others in a rotating order.
      if (r % 2 === 0) [0, 1].forEach(run);
      else [1, 0].forEach(run);
      const others = variants.length - 2;
      for (let k = 0; k < others; k++) run(2 + ((k + r) % others));
    }
    process.stdout.write(`\n${label} (${data.length} bytes)\n`);
    for (let j = 0; j < variants.length; j++) {
      process.stdout.write(`  ${(variants[j] as Variant).name.padEnd(24)} ${spread(results[j] as number[], fmt)}\n`);
    }
    const before = results[0] as number[];
    const after = results[1] as number[];
    const diff = after.map((a, i) => a - (before[i] as number));
    const rel = after.map((a, i) => (a / (before[i] as number) - 1) * 100);
    process.stdout.write(`  with check − before, paired per round:\n`);
    process.stdout.write(`  ${'  added ns'.padEnd(24)} ${spread(diff, fmt)}\n`);
    process.stdout.write(`  ${'  added %'.padEnd(24)} ${spread(rel, (x) => `${x.toFixed(1)} %`)}\n`);
  }
  worstCases(Math.max(5, Math.round(rounds / 2)));
  flushSink();
}

/**
 * Hostile ~64 KiB texts (no duplicate, so the scan runs to the end): the scanner against
 * JSON.parse of the same text, which the gateway runs first anyway.
 */
function worstCases(rounds: number): void {
  const fill = (one: string, sep = ',') => Array.from({ length: Math.floor(64_000 / (one.length + 1)) }, () => one).join(sep);
  const eight = (keys: string[]) => `{${keys.map((k) => `"${k}":0`).join(',')}}`;
  const cases: Record<string, string> = {
    '8-key objects, keys alike but the last char': `[${fill(eight(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].map((c) => `kkkkkkkkkkkkkkk${c}`)))}]`,
    '8 keys of 8,000 chars, alike but the last': eight(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].map((c) => 'k'.repeat(7999) + c)),
    'one escaped key per object': `[${fill('{"\\u0061":0}')}]`,
    '6,000 keys in one object': `{${Array.from({ length: 6000 }, (_, i) => `"k${i}":0`).join(',')}}`,
    '6,000 escaped keys in one object': `{${Array.from({ length: 6000 }, (_, i) => `"\\u006b${i}":0`).join(',').slice(0, 63_000).replace(/,[^,]*$/, '')}}`,
    '32,000 nested arrays': `${'['.repeat(32_000)}${']'.repeat(32_000)}`,
    '10,900 nested objects': `${'{"a":'.repeat(10_900)}0${'}'.repeat(10_900)}`,
  };
  process.stdout.write(`\nWorst cases (~64 KiB, no duplicate), ${rounds} rounds: findDuplicateKey vs JSON.parse of the same text\n`);
  for (const [label, text] of Object.entries(cases)) {
    let parses = true;
    try {
      JSON.parse(text);
    } catch {
      parses = false; // deeper than JSON.parse goes: the frame is refused before the scan
    }
    if (findDuplicateKey(text) !== null) throw new Error(`${label}: false positive`);
    const scan: Variant = { name: 'scan', run: (_d, t) => findDuplicateKey(t) };
    const parse: Variant = { name: 'parse', run: (_d, t) => JSON.parse(t) };
    const empty = Buffer.alloc(0);
    const xs: number[] = [];
    const ps: number[] = [];
    for (let r = 0; r < rounds + 1; r++) {
      const a = sample(scan, empty, text, null, 20);
      const b = parses ? sample(parse, empty, text, null, 20) : NaN;
      if (r > 0) {
        xs.push(a);
        ps.push(b);
      }
    }
    process.stdout.write(
      `  ${label.padEnd(46)} ${String(text.length).padStart(6)} B   scan ${fmt(quantile(xs, 0.5)).padStart(9)} (${fmt(Math.min(...xs))} – ${fmt(Math.max(...xs))})   ` +
        `JSON.parse ${parses ? fmt(quantile(ps, 0.5)) : 'throws (too deep)'}\n`,
    );
  }
}

main();
