// The apiserver's own metrics (`kubectl get --raw /metrics`), read as Prometheus text: samples,
// histograms by label, and the difference between two scrapes.
import { get } from 'node:https';
import type { E2ECluster } from './cluster.js';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Histogram {
  count: number;
  sum: number;
  /** Cumulative counts by upper bound, ascending; the last bound is Infinity. */
  buckets: Array<{ le: number; count: number }>;
}

export async function scrapeApiserverMetrics(cluster: E2ECluster): Promise<Sample[]> {
  const { stdout } = await cluster.kubectl(['get', '--raw', '/metrics']);
  return parsePrometheusText(stdout);
}

/** `GET <url>/metrics` over TLS verified against `caPem`: tollgate's own metrics. */
export function scrapeMetrics(url: string, caPem: string): Promise<Sample[]> {
  return new Promise((resolve, reject) => {
    const request = get(`${url}/metrics`, { ca: caPem, timeout: 5_000 }, (response) => {
      let body = '';
      response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      response.once('end', () =>
        response.statusCode === 200
          ? resolve(parsePrometheusText(body))
          : reject(new Error(`e2e: GET ${url}/metrics answered ${response.statusCode}`)),
      );
    });
    request.once('error', reject);
    request.once('timeout', () => request.destroy(new Error(`e2e: GET ${url}/metrics timed out`)));
  });
}

const sampleLine = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const labelPair = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parsePrometheusText(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = sampleLine.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const [, key, raw] of (match[2] ?? '').matchAll(labelPair)) {
      labels[key!] = raw!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

function matches(sample: Sample, labels: Record<string, string>): boolean {
  return Object.entries(labels).every(([key, value]) => sample.labels[key] === value);
}

/** The sum of every sample of `name` whose labels include `labels`. */
export function total(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples.filter((s) => s.name === name && matches(s, labels)).reduce((sum, s) => sum + s.value, 0);
}

/** The histogram `name`, summed over every series whose labels include `labels`. */
export function histogram(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): Histogram {
  const byBound = new Map<number, number>();
  for (const s of samples) {
    if (s.name !== `${name}_bucket` || !matches(s, labels)) continue;
    const le = s.labels['le'] === '+Inf' ? Infinity : Number(s.labels['le']);
    byBound.set(le, (byBound.get(le) ?? 0) + s.value);
  }
  return {
    count: total(samples, `${name}_count`, labels),
    sum: total(samples, `${name}_sum`, labels),
    buckets: [...byBound].sort(([a], [b]) => a - b).map(([le, count]) => ({ le, count })),
  };
}

/** `after - before`, bucket by bucket: what happened between two scrapes. */
export function histogramDelta(after: Histogram, before: Histogram): Histogram {
  const earlier = new Map(before.buckets.map((b) => [b.le, b.count]));
  return {
    count: after.count - before.count,
    sum: after.sum - before.sum,
    buckets: after.buckets.map((b) => ({ le: b.le, count: b.count - (earlier.get(b.le) ?? 0) })),
  };
}

/** `≤5ms:280 ≤25ms:18 ≤100ms:2` — per-bucket (not cumulative) counts, empty buckets left out. */
export function describeBuckets(h: Histogram): string {
  let previous = 0;
  const parts: string[] = [];
  for (const { le, count } of h.buckets) {
    const inBucket = count - previous;
    previous = count;
    if (inBucket === 0) continue;
    parts.push(`${le === Infinity ? '>last' : `≤${formatSeconds(le)}`}:${inBucket}`);
  }
  return parts.join(' ') || '(empty)';
}

function formatSeconds(seconds: number): string {
  return seconds < 1 ? `${Number((seconds * 1000).toPrecision(3))}ms` : `${seconds}s`;
}
