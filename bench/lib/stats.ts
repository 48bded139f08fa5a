/**
 * Small numeric helpers for the benchmark: percentiles over samples and human formatting.
 */

/** Summary of a set of latency samples, in milliseconds. */
export interface LatencySummary {
  count: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

/** Percentiles of `samples` (ms). Sorts a copy; NaN entries (no sample) are ignored. */
export function summarize(samples: ArrayLike<number>): LatencySummary {
  const sorted = Float64Array.from(samples).filter((v) => !Number.isNaN(v)).sort();
  const n = sorted.length;
  if (n === 0) return { count: 0, mean: NaN, p50: NaN, p90: NaN, p99: NaN, p999: NaN, max: NaN };
  let sum = 0;
  for (const v of sorted) sum += v;
  // Nearest-rank percentile: the smallest sample with at least q of the samples at or below it.
  const at = (q: number) => sorted[Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1))] as number;
  return { count: n, mean: sum / n, p50: at(0.5), p90: at(0.9), p99: at(0.99), p999: at(0.999), max: sorted[n - 1] as number };
}

/** The median of `values` (the mean of the two middle ones for an even count); NaN when empty. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length / 2;
  return s.length % 2 === 1 ? (s[Math.floor(mid)] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** 12345.6 → "12,346". */
export function fmtInt(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return 'n/a';
  return Math.round(v).toLocaleString('en-US');
}

/** Milliseconds with two decimals below 10, one above. */
export function fmtMs(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return 'n/a';
  return v < 10 ? v.toFixed(2) : v.toFixed(1);
}

/** A ratio as "1.23×". */
export function fmtRatio(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return 'n/a';
  return `${v.toFixed(2)}×`;
}

/** A share (0..1) as a whole percentage, "50%". */
export function fmtShare(v: number): string {
  return Number.isFinite(v) ? `${(v * 100).toFixed(0)}%` : 'n/a';
}

/** Bytes as MB (10^6) with one decimal. */
export function fmtMB(bytes: number | undefined): string {
  if (bytes === undefined || !Number.isFinite(bytes)) return 'n/a';
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

/** Bytes as KB (10^3) with one decimal. */
export function fmtKB(bytes: number | undefined): string {
  if (bytes === undefined || !Number.isFinite(bytes)) return 'n/a';
  return `${(bytes / 1e3).toFixed(1)} KB`;
}

/** Renders rows as a plain-text table with a header rule. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] as number)).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** Runs `fn` over `items` with at most `limit` calls in flight; results keep the input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
