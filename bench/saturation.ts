// Throughput at saturation on the three apiserver-shaped bodies, for /validate and /mutate, with
// the CPU each review costs and the RSS under that load.
import { standardBodies } from './lib/bodies.js';
import type { BenchContext } from './lib/context.js';
import { saturate, type Endpoint, type SaturationResult } from './lib/load.js';
import type { ServerProcess } from './lib/processes.js';

/** The targets: tollgate's share of the floor's throughput, and RSS under load. */
const THROUGHPUT_TARGET: Record<Endpoint, number> = { validate: 0.85, mutate: 0.75 };
const RSS_TARGET_MB = 150;

export const title = 'saturation';

export async function run(ctx: BenchContext): Promise<void> {
  const { seconds, rounds, connections, executions } = ctx.settings;
  const groups = await ctx.startExecutions(executions - 1);
  const extras = [...groups.values()].flatMap((processes) => processes.slice(1));
  // The extra processes are checked and warmed up as run.ts did the first ones.
  for (const body of standardBodies()) {
    for (const endpoint of ['validate', 'mutate'] as const) {
      for (const server of extras) await ctx.checkAndWarmUp(server, endpoint, body);
    }
  }
  const all: Array<Map<ServerProcess, SaturationResult[][]>> = [];
  for (const body of standardBodies()) {
    for (const endpoint of ['validate', 'mutate'] as const) {
      const point = `/${endpoint}, ${body.name}`;
      ctx.log(`${title}: ${point}`);
      const results = await ctx.alternateExecutions(groups, rounds, (server) => saturate(server, endpoint, body, { connections, seconds }));
      all.push(results);
      const perSecond = (r: SaturationResult) => r.perSecond;
      const throughput = ctx.levels(results, perSecond);
      const target = THROUGHPUT_TARGET[endpoint];
      ctx.report.add({ scenario: title, point, metric: 'throughput', unit: 'req/s', ...throughput, ...ctx.intervals(results, perSecond), target: `≥ ${target}`, met: throughput.tollgate / (throughput.floor ?? 0) >= target });
      ctx.report.add({ scenario: title, point, metric: 'CPU per review', unit: 'µs', ...ctx.levels(results, (r) => r.cpuPerReview * 1e6) });
    }
  }
  const merged = new Map<ServerProcess, SaturationResult[]>(ctx.compared.map((s) => [s, all.flatMap((results) => results.get(s)?.flat() ?? [])]));
  const rss = ctx.values(merged, (r) => r.peakRssBytes / 1024 / 1024, (mbs) => Math.max(...mbs));
  ctx.report.add({ scenario: title, point: 'all of the above', metric: 'peak RSS', unit: 'MB', ...rss, target: `< ${RSS_TARGET_MB} MB`, met: rss.tollgate < RSS_TARGET_MB });
  for (const server of extras) await ctx.stop(server);
}
