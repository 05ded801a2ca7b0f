// The benchmark's table: one row per measured quantity, floor beside tollgate, and the ratio of the
// two from the same run. Printed as Markdown so that the README can hold it as printed.
export type Unit = 'req/s' | 'ms' | 'µs' | 'MB' | 'KB' | 'x' | 'MB/s';

export interface Row {
  scenario: string;
  point: string;
  metric: string;
  unit: Unit;
  floor?: number;
  tollgate: number;
  /** The build named by BENCH_BASELINE, when one was given. */
  baseline?: number;
  /** What the issue asks of this row, e.g. `≥ 0.85` (of the ratio) or `< 5 ms`. */
  target?: string;
  /** Whether the target was met, when there is one. */
  met?: boolean;
  /** 95% interval of tollgate/floor (`ratioInterval`), printed beside the ratio. */
  interval?: [number, number];
  /** 95% interval of tollgate/baseline. */
  baselineInterval?: [number, number];
}

function format(value: number | undefined, unit: Unit): string {
  if (value === undefined || Number.isNaN(value)) return '—';
  switch (unit) {
    case 'req/s':
      return value >= 100 ? String(Math.round(value)) : value.toFixed(1);
    case 'ms':
      return value >= 10 ? value.toFixed(1) : value.toFixed(2);
    case 'µs':
      return value >= 100 ? String(Math.round(value)) : value.toFixed(1);
    case 'MB':
    case 'MB/s':
      return value.toFixed(0);
    case 'KB':
      return value.toFixed(1);
    case 'x':
      return value.toFixed(2);
  }
}

function ratio(a: number | undefined, b: number | undefined, interval?: [number, number]): string {
  if (a === undefined || b === undefined || b === 0 || Number.isNaN(a) || Number.isNaN(b)) return '—';
  return (a / b).toFixed(2) + (interval ? ` [${interval[0].toFixed(2)}-${interval[1].toFixed(2)}]` : '');
}

export class Report {
  readonly rows: Row[] = [];
  errors = 0;
  runs = 0;

  constructor(private readonly withBaseline: boolean) {}

  add(row: Row): void {
    this.rows.push(row);
  }

  toMarkdown(): string {
    const header = ['scenario', 'point', 'metric', 'floor', 'tollgate', 'tollgate/floor'];
    if (this.withBaseline) header.push('baseline', 'tollgate/baseline');
    header.push('target');
    const lines = [`| ${header.join(' | ')} |`, `|${header.map((h) => (h === 'scenario' || h === 'point' || h === 'metric' ? '---' : '---:')).join('|')}|`];
    let previous = '';
    for (const row of this.rows) {
      const cells = [
        row.scenario === previous ? '' : row.scenario,
        row.point,
        `${row.metric} (${row.unit})`,
        format(row.floor, row.unit),
        format(row.tollgate, row.unit),
        ratio(row.tollgate, row.floor, row.interval),
      ];
      if (this.withBaseline) cells.push(format(row.baseline, row.unit), ratio(row.tollgate, row.baseline, row.baselineInterval));
      cells.push(row.target === undefined ? '' : `${row.target}${row.met === undefined ? '' : row.met ? ' ✓' : ' ✗'}`);
      previous = row.scenario;
      lines.push(`| ${cells.join(' | ')} |`);
    }
    return lines.join('\n');
  }
}

export function mean(values: readonly number[]): number {
  return values.length === 0 ? Number.NaN : values.reduce((a, b) => a + b, 0) / values.length;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length === 0 ? Number.NaN : sorted.length % 2 ? (sorted[middle] ?? Number.NaN) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

/** Least-squares line through (x, y): the slope, and R² to judge how straight the curve is. */
export function linearFit(points: ReadonlyArray<readonly [number, number]>): { slope: number; intercept: number; r2: number } {
  const n = points.length;
  const mx = mean(points.map(([x]) => x));
  const my = mean(points.map(([, y]) => y));
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (const [x, y] of points) {
    sxy += (x - mx) * (y - my);
    sxx += (x - mx) ** 2;
    syy += (y - my) ** 2;
  }
  const slope = n < 2 || sxx === 0 ? 0 : sxy / sxx;
  return { slope, intercept: my - slope * mx, r2: syy === 0 ? 1 : (sxy * sxy) / (sxx * syy) };
}

/**
 * The level of a side whose runs are spread over several processes: the mean over its processes of
 * each one's median run. On the bench's 2-core VM each process keeps a throughput level of its own
 * for its whole life (up to 15% and more apart, the same code alike), so the processes, not the
 * runs, are the side's independent draws: each is summarised by its median, then they are averaged.
 */
export function sideLevel(runsByProcess: ReadonlyArray<readonly number[]>): number {
  return mean(runsByProcess.filter((runs) => runs.length > 0).map(median));
}

/** A small, seeded generator (mulberry32), so that a run's intervals can be recomputed from its numbers. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

function resample<T>(values: readonly T[], random: () => number): T[] {
  return values.map(() => values[Math.floor(random() * values.length)]!);
}

/**
 * The 95% interval of sideLevel(a) / sideLevel(b), by hierarchical bootstrap (Kalibera and Jones,
 * "Rigorous benchmarking in reasonable time", 2013): each resample draws each side's processes with
 * replacement, then each drawn process's runs with replacement. It shows what one run can resolve:
 * with few processes a side it is wide, and it narrows only with more of them. With three
 * processes a side it is somewhat too narrow (a resample of n draws varies by (n-1)/n as much).
 */
export function ratioInterval(
  a: ReadonlyArray<readonly number[]>,
  b: ReadonlyArray<readonly number[]>,
  options: { resamples?: number; seed?: number } = {},
): [number, number] {
  const random = seededRandom(options.seed ?? 1);
  const draw = (side: ReadonlyArray<readonly number[]>) => sideLevel(resample(side, random).map((runs) => resample(runs, random)));
  const ratios: number[] = [];
  for (let n = 0; n < (options.resamples ?? 2000); n++) ratios.push(draw(a) / draw(b));
  ratios.sort((x, y) => x - y);
  const at = (q: number) => ratios[Math.min(ratios.length - 1, Math.floor(q * ratios.length))] ?? Number.NaN;
  return [at(0.025), at(0.975)];
}
