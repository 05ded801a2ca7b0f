// Counters and histograms for the per-review hot path. prom-client's own check and hash their label
// object on every call, which cost about 10 µs a review inside the server (measured by turning the
// per-review metrics off under saturation). These look a label set up once, by its values (a map
// per label), and keep it as a few plain numbers; prom-client's registry renders them at scrape.
import type { Metric, Registry } from 'prom-client';

type Labels<L extends string> = Record<L, string>;


interface Family {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  aggregator: 'sum';
}

/** What prom-client's registry reads from a metric when it renders the text format. */
interface RenderedValue {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
}

abstract class SeriesFamily<L extends string, S extends { labels: Labels<L> }> implements Family {
  abstract readonly type: 'counter' | 'histogram';
  readonly aggregator = 'sum';
  /** One map level per label, so that no two label value lists can share a key. */
  private readonly series = new Map<string, unknown>();
  private readonly all: S[] = [];

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly L[],
    registry: Registry,
  ) {
    // The registry renders any object with this shape; prom-client's types only name its own classes.
    registry.registerMetric(this as unknown as Metric);
  }

  /** The series for these label values (in `labelNames` order), made on first use. */
  protected seriesFor(values: readonly string[]): S {
    let level = this.series;
    const last = values.length - 1;
    for (let i = 0; i < last; i++) {
      const value = values[i] ?? '';
      let next = level.get(value) as Map<string, unknown> | undefined;
      if (!next) {
        next = new Map();
        level.set(value, next);
      }
      level = next;
    }
    const key = values[last] ?? '';
    let series = level.get(key) as S | undefined;
    if (!series) {
      const labels = {} as Labels<L>;
      this.labelNames.forEach((name, i) => (labels[name] = values[i] ?? ''));
      series = this.create(labels);
      level.set(key, series);
      this.all.push(series);
    }
    return series;
  }

  protected abstract create(labels: Labels<L>): S;
  protected abstract render(series: S): RenderedValue[];

  get(): Promise<Family & { values: RenderedValue[] }> {
    const values = this.all.flatMap((s) => this.render(s));
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }

  reset(): void {
    this.series.clear();
    this.all.length = 0;
  }
}

interface CounterSeries<L extends string> {
  labels: Labels<L>;
  value: number;
}

export class FastCounter<L extends string> extends SeriesFamily<L, CounterSeries<L>> {
  readonly type = 'counter';

  /** Adds one to the series with these label values, given in `labelNames` order. */
  inc(...values: string[]): void {
    this.seriesFor(values).value++;
  }

  protected create(labels: Labels<L>): CounterSeries<L> {
    return { labels, value: 0 };
  }

  protected render(series: CounterSeries<L>): RenderedValue[] {
    return [{ value: series.value, labels: series.labels }];
  }
}

interface HistogramSeries<L extends string> {
  labels: Labels<L>;
  /** Observations per bucket, not cumulative; the last slot is above the highest bound. */
  counts: Float64Array;
  sum: number;
  count: number;
}

export class FastHistogram<L extends string> extends SeriesFamily<L, HistogramSeries<L>> {
  readonly type = 'histogram';
  private readonly bounds: readonly number[];

  constructor(name: string, help: string, labelNames: readonly L[], buckets: readonly number[], registry: Registry) {
    super(name, help, labelNames, registry);
    this.bounds = [...buckets].sort((a, b) => a - b);
  }

  /** Records `value` in the series with these label values, given in `labelNames` order. */
  observe(value: number, ...values: string[]): void {
    if (!Number.isFinite(value)) return;
    const series = this.seriesFor(values);
    let bucket = 0;
    while (bucket < this.bounds.length && value > (this.bounds[bucket] ?? Infinity)) bucket++;
    series.counts[bucket] = (series.counts[bucket] ?? 0) + 1;
    series.sum += value;
    series.count++;
  }

  protected create(labels: Labels<L>): HistogramSeries<L> {
    return { labels, counts: new Float64Array(this.bounds.length + 1), sum: 0, count: 0 };
  }

  protected render(series: HistogramSeries<L>): RenderedValue[] {
    const bucketName = `${this.name}_bucket`;
    let cumulative = 0;
    const values: RenderedValue[] = this.bounds.map((le, i) => {
      cumulative += series.counts[i] ?? 0;
      return { value: cumulative, metricName: bucketName, labels: { le, ...series.labels } };
    });
    values.push(
      { value: series.count, metricName: bucketName, labels: { le: '+Inf', ...series.labels } },
      { value: series.sum, metricName: `${this.name}_sum`, labels: series.labels },
      { value: series.count, metricName: `${this.name}_count`, labels: series.labels },
    );
    return values;
  }
}
