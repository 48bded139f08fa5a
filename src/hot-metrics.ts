/**
 * Metrics updated once or twice per signaling frame, kept cheaper than prom-client's own.
 *
 * prom-client's `Histogram#observe` builds a closure, a label object and a label hash on every
 * call, and `Counter#inc({ type })` hashes its labels: ~5 µs and ~0.25 KB of garbage per routed
 * frame for the two histograms and the counter (CPU and heap profiles at 2,000 frames/s on the
 * 2-core bench VM, docs/performance.md "Latency tail"). Here an observation is a bucket search
 * over a handful of bounds and three number updates, with nothing allocated; prom-client reads
 * the totals when /metrics is scraped, in the same exposition format.
 */
import type { Counter, Histogram, Registry } from 'prom-client';

/** One prom-client metric value, as `get()` reports it. */
interface Value {
  labels: Record<string, string | number>;
  value: number;
  metricName: string;
}

/** A histogram without labels, registered with a prom-client Registry (same text as prom-client's). */
export class HotHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly counts: Float64Array;
  private sum = 0;
  private count = 0;

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly buckets: readonly number[],
    registry: Registry,
  ) {
    this.counts = new Float64Array(buckets.length);
    // The Registry stores and scrapes any object with a name and get(); its typings list only its own classes.
    registry.registerMetric(this as unknown as Histogram);
  }

  /** Records one value (in the unit of the bounds); values above the last bound count only in +Inf. */
  observe(value: number): void {
    if (!Number.isFinite(value)) return;
    const bounds = this.buckets;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= (bounds[i] as number)) {
        this.counts[i] = (this.counts[i] as number) + 1;
        break;
      }
    }
    this.sum += value;
    this.count++;
  }

  /** What prom-client's Histogram#get reports: cumulative buckets, +Inf, sum and count. */
  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: Value[] }> {
    const values: Value[] = [];
    let cumulative = 0;
    for (let i = 0; i < this.buckets.length; i++) {
      cumulative += this.counts[i] as number;
      values.push({ labels: { le: this.buckets[i] as number }, value: cumulative, metricName: `${this.name}_bucket` });
    }
    values.push(
      { labels: { le: '+Inf' }, value: this.count, metricName: `${this.name}_bucket` },
      { labels: {}, value: this.sum, metricName: `${this.name}_sum` },
      { labels: {}, value: this.count, metricName: `${this.name}_count` },
    );
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /** Registry#resetMetrics calls this. */
  reset(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
  }
}

/**
 * Counts by one label value, copied into a prom-client Counter when it is scraped (pass
 * {@link CountsByLabel.collect} as the Counter's `collect`).
 */
export class CountsByLabel<L extends string> {
  private readonly counts = new Map<string, number>();

  constructor(private readonly label: L) {}

  inc(value: string): void {
    this.counts.set(value, (this.counts.get(value) ?? 0) + 1);
  }

  /** Writes the totals into `counter` (they only grow, so the counter stays monotonic). */
  collect(counter: Counter<L>): void {
    counter.reset();
    for (const [value, n] of this.counts) counter.inc({ [this.label]: value } as Partial<Record<L, string>>, n);
  }
}
