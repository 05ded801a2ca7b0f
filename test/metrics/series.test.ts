// The fast hot-path counters and histograms render exactly what prom-client's own would for the
// same observations, so swapping one for the other changes no scrape.
import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { FastCounter, FastHistogram } from '../../src/metrics/series.js';

const BUCKETS = [0.0005, 0.001, 0.01, 1];

describe('FastHistogram', () => {
  it('renders the same text as a prom-client Histogram fed the same values, bounds included', async () => {
    const fast = new Registry();
    const reference = new Registry();
    const ours = new FastHistogram('t_seconds', 'help text', ['policy', 'endpoint'], BUCKETS, fast);
    const theirs = new Histogram({ name: 't_seconds', help: 'help text', labelNames: ['policy', 'endpoint'], buckets: BUCKETS, registers: [reference] });
    // Exactly on a bound goes into that bucket (le is "less than or equal"); above the last only into +Inf.
    const observations: Array<[number, string, string]> = [
      [0.0005, 'a', 'validate'],
      [0.0004, 'a', 'validate'],
      [0.002, 'a', 'validate'],
      [5, 'a', 'validate'],
      [1, 'b', 'mutate'],
      [0, 'b', 'mutate'],
    ];
    for (const [value, policy, endpoint] of observations) {
      ours.observe(value, policy, endpoint);
      theirs.observe({ policy, endpoint }, value);
    }
    expect(await fast.metrics()).toBe(await reference.metrics());
    expect(await fast.metrics()).toContain('t_seconds_bucket{le="0.0005",policy="a",endpoint="validate"} 2');
  });

  it('ignores a value that is not a finite number rather than poisoning the sum', async () => {
    const registry = new Registry();
    const histogram = new FastHistogram('t_seconds', 'h', ['endpoint'], BUCKETS, registry);
    histogram.observe(Number.NaN, 'validate');
    histogram.observe(0.002, 'validate');
    const text = await registry.metrics();
    expect(text).toContain('t_seconds_count{endpoint="validate"} 1');
    expect(text).toContain('t_seconds_sum{endpoint="validate"} 0.002');
  });
});

describe('FastCounter', () => {
  it('renders the same text as a prom-client Counter, one series per distinct label values', async () => {
    const fast = new Registry();
    const reference = new Registry();
    const ours = new FastCounter('t_total', 'help', ['endpoint', 'verdict'], fast);
    const theirs = new Counter({ name: 't_total', help: 'help', labelNames: ['endpoint', 'verdict'], registers: [reference] });
    for (const [endpoint, verdict] of [['validate', 'allowed'], ['validate', 'allowed'], ['validate', 'denied'], ['mutate', 'patched']] as const) {
      ours.inc(endpoint, verdict);
      theirs.inc({ endpoint, verdict });
    }
    expect(await fast.metrics()).toBe(await reference.metrics());
    expect(await fast.metrics()).toContain('t_total{endpoint="validate",verdict="allowed"} 2');
  });

  it('keeps label values apart that would run together if simply concatenated', async () => {
    const registry = new Registry();
    const counter = new FastCounter('t_total', 'help', ['a', 'b'], registry);
    counter.inc('ab', 'c');
    counter.inc('a', 'bc');
    // Joined with any separator, these two would be one key.
    counter.inc('x\u0000y', 'z');
    counter.inc('x', 'y\u0000z');
    const text = await registry.metrics();
    expect(text).toContain('t_total{a="ab",b="c"} 1');
    expect(text).toContain('t_total{a="a",b="bc"} 1');
    expect(text).toContain('t_total{a="x\u0000y",b="z"} 1');
    expect(text).toContain('t_total{a="x",b="y\u0000z"} 1');
  });

  it('starts again from nothing when the registry is reset', async () => {
    const registry = new Registry();
    const counter = new FastCounter('t_total', 'help', ['a'], registry);
    counter.inc('x');
    registry.resetMetrics();
    counter.inc('y');
    const text = await registry.metrics();
    expect(text).not.toContain('a="x"');
    expect(text).toContain('t_total{a="y"} 1');
  });
});
