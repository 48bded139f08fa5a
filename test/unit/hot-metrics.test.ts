/**
 * src/hot-metrics.ts: the per-frame histogram and counter expose exactly what prom-client's own
 * Histogram and Counter expose for the same observations.
 */
import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { CountsByLabel, HotHistogram } from '../../src/hot-metrics.js';

const BUCKETS = [0.0001, 0.00025, 0.001, 0.004, 0.064];
// On a bound, between bounds, above the last one, zero, and not a number (prom-client throws on NaN; HotHistogram skips it).
const VALUES = [0.00005, 0.0001, 0.0002, 0.00025, 0.003, 0.004, 0.05, 0.5, 2, 0, 0.0009];

describe('HotHistogram', () => {
  it('exposes the same text as a prom-client Histogram given the same values', async () => {
    const hot = new Registry();
    const reference = new Registry();
    const h = new HotHistogram('x_seconds', 'help text', BUCKETS, hot);
    const r = new Histogram({ name: 'x_seconds', help: 'help text', buckets: BUCKETS, registers: [reference] });
    expect(await hot.metrics()).toBe(await reference.metrics()); // before any observation
    for (const v of VALUES) {
      h.observe(v);
      r.observe(v);
    }
    h.observe(Number.NaN);
    expect(await hot.metrics()).toBe(await reference.metrics());
    expect(await hot.metrics()).toMatch(/^x_seconds_count 11$/m);
    hot.resetMetrics();
    reference.resetMetrics();
    r.zero({});
    expect(await hot.metrics()).toBe(await reference.metrics());
  });
});

describe('CountsByLabel', () => {
  it('fills a prom-client Counter when scraped, as inc({ label }) would have', async () => {
    const hot = new Registry();
    const reference = new Registry();
    const counts = new CountsByLabel('type');
    new Counter({ name: 'n_total', help: 'h', labelNames: ['type'], registers: [hot], collect() { counts.collect(this); } });
    const r = new Counter({ name: 'n_total', help: 'h', labelNames: ['type'], registers: [reference] });
    for (const type of ['OFFER', 'ICE', 'ICE', 'BYE', 'ICE']) {
      counts.inc(type);
      r.inc({ type });
    }
    expect(await hot.metrics()).toBe(await reference.metrics());
    // Scraped twice: still the totals, not doubled.
    expect(await hot.metrics()).toBe(await reference.metrics());
    expect(await hot.metrics()).toContain('n_total{type="ICE"} 3');
  });
});
