/**
 * What the micro benchmarks (bench/duplicate-keys.ts, bench/signal-check.ts) share: the signed
 * signaling frames they measure on, and timing a function over many calls with the spread of the
 * samples; their command line.
 */
import { intArgument, parseCommandLineWithPositionals, UsageError } from '../../scripts/lib/args.js';

export const DID_A = 'did:key:z6MktwupdmLXVVqTzCw4i46r4uGyosGXRnR3XjN4Zq7oMMsw';
export const DID_B = 'did:key:z6MkiaMbhXHNA4eJVCCj8dbzKzTgYDKf6crKgHVHid1F1WCT';
export const SIG = '9dCBys9TVF5HqcntZ5p3xiK2zLaGNNi3LKYen65Ll1IZK5ffCr6Y_VZ9zrJqez4j8nl294QixdAZHGlC2rJbBQ';
export const TS = 1764028800000;

/** A shortened data-channel offer: the frame around it is ~400 bytes. */
export const SDP_SMALL = 'v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n';

/** A signed ~400-byte OFFER, as an object (JSON.stringify it for the wire). */
export function smallOffer(ts = TS): Record<string, unknown> {
  return { type: 'OFFER', id: 'offer-7f3a9c1e', from: DID_A, to: DID_B, ts, payload: { type: 'offer', sdp: SDP_SMALL }, sig: SIG };
}

/** A signed ICE frame with every payload field. */
export function iceFrame(ts = TS): Record<string, unknown> {
  return {
    type: 'ICE',
    id: 'ice-7f3a9c1e-3',
    from: DID_A,
    to: DID_B,
    ts,
    payload: { candidate: 'candidate:842163049 1 udp 1677729535 203.0.113.7 46154 typ srflx raddr 0.0.0.0 rport 0', sdpMid: '0', sdpMLineIndex: 0, usernameFragment: 'EsAw' },
    sig: SIG,
  };
}

let sink = 0;
function consume(v: unknown): void {
  if (v === null || v === false) sink++;
}
/** Keeps the optimiser from dropping the measured calls (never prints in practice). */
export function flushSink(): void {
  if (sink < 0) process.stdout.write(String(sink));
}

/** ns per call of `run` over `iterations` calls. */
export function nsPerCall(run: () => unknown, iterations: number): number {
  const started = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) consume(run());
  return Number(process.hrtime.bigint() - started) / iterations;
}

/** Calls that take ~sampleMs, after a warm-up that gets `run` optimised. */
export function calibrate(run: () => unknown, sampleMs: number): number {
  nsPerCall(run, 200);
  const ns = nsPerCall(run, 2000);
  return Math.max(20, Math.round((sampleMs * 1e6) / ns));
}

/** The q-quantile of `xs` (linear interpolation between ranks). */
export function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  const at = (s.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return (s[lo] as number) + ((s[hi] as number) - (s[lo] as number)) * (at - lo);
}

export function fmtNs(ns: number): string {
  const a = Math.abs(ns);
  if (a >= 1e6) return `${(ns / 1e6).toFixed(2)} ms`;
  if (a >= 1e4) return `${(ns / 1000).toFixed(1)} µs`;
  if (a >= 1e3) return `${(ns / 1000).toFixed(2)} µs`;
  return `${ns.toFixed(0)} ns`;
}

/** Median, interquartile range, min and max of `xs`. */
export const spread = (xs: number[], f: (x: number) => string) =>
  `${f(quantile(xs, 0.5)).padStart(9)}   IQR ${f(quantile(xs, 0.25))} – ${f(quantile(xs, 0.75))}, min ${f(Math.min(...xs))}, max ${f(Math.max(...xs))}`;

/** `[rounds=15] [ms per sample=40]`, or null for --help; throws a UsageError on bad usage. */
export function parseRoundsAndSampleMs(argv: string[]): { rounds: number; sampleMs: number } | null {
  const { values, positionals } = parseCommandLineWithPositionals({ help: { type: 'boolean' } } as const, argv);
  if (values.help) return null;
  const [rounds = '15', sampleMs = '40', ...extra] = positionals;
  if (extra.length > 0) throw new UsageError(`unexpected argument ${extra[0]}`);
  return { rounds: intArgument('rounds', rounds, 1), sampleMs: intArgument('ms per sample', sampleMs, 1) };
}
