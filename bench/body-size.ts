// The cost curve over body size, up to a few MiB (a pod of 10 containers grown with env vars):
// parsing dominates both sides; what tollgate adds is the walk, the copy and the diff.
import { formatBytes, podOfSize } from './lib/bodies.js';
import type { BenchContext } from './lib/context.js';
import { saturate, warmUp } from './lib/load.js';
import { median } from './lib/report.js';

export const title = 'body size';

/** Fewer connections than elsewhere: four 3 MiB bodies in flight are plenty for two cores. */
const CONNECTIONS = 4;
const KiB = 1024;
const MiB = 1024 * KiB;

export async function run(ctx: BenchContext): Promise<void> {
  const { curveSeconds: seconds, curveRounds: rounds } = ctx.settings;
  const sizes = ctx.settings.quick ? [64 * KiB, 1 * MiB] : [16 * KiB, 1 * MiB, 3 * MiB];
  for (const size of sizes) {
    const body = podOfSize(size);
    for (const endpoint of ['validate', 'mutate'] as const) {
      const point = `/${endpoint}, ${formatBytes(body.json.length)} review`;
      ctx.log(`${title}: ${point}`);
      for (const server of ctx.compared) await warmUp(server, endpoint, body, CONNECTIONS);
      const results = await ctx.alternate(ctx.compared, rounds, (server) => saturate(server, endpoint, body, { connections: CONNECTIONS, seconds }));
      ctx.report.add({ scenario: title, point, metric: 'throughput', unit: 'req/s', ...ctx.values(results, (r) => r.perSecond, median) });
      ctx.report.add({ scenario: title, point, metric: 'CPU per review', unit: 'µs', ...ctx.values(results, (r) => r.cpuPerReview * 1e6, median) });
      if (size === sizes.at(-1)) {
        ctx.report.add({ scenario: title, point, metric: 'peak RSS', unit: 'MB', ...ctx.values(results, (r) => r.peakRssBytes / MiB, (v) => Math.max(...v)) });
      }
    }
  }
}
