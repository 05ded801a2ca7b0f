// One process against two (replicas on separate ports, the load split between them), for the
// floor and for tollgate: what a second replica buys on the same machine.
import { standardBodies } from './lib/bodies.js';
import type { BenchContext } from './lib/context.js';
import { saturate } from './lib/load.js';
import type { ServerProcess } from './lib/processes.js';
import { median } from './lib/report.js';

export const title = 'scale-out';

export async function run(ctx: BenchContext): Promise<void> {
  const { curveSeconds: seconds, curveRounds: rounds, connections } = ctx.settings;
  const body = standardBodies()[1];
  if (!body) return;
  const floor2 = await ctx.startFloor('floor #2');
  const tollgate2 = await ctx.startTollgate('tollgate #2');
  try {
    const pairs = new Map<ServerProcess, ServerProcess>([
      [ctx.floor, floor2],
      [ctx.tollgate, tollgate2],
    ]);
    for (const second of pairs.values()) await saturate(second, 'validate', body, { connections, seconds: 1 }); // warm-up
    for (const replicas of [1, 2]) {
      const point = `/validate, ${body.name}, ${replicas} process${replicas > 1 ? 'es' : ''}`;
      ctx.log(`${title}: ${point}`);
      const results = await ctx.alternate([ctx.floor, ctx.tollgate], rounds, async (server) => {
        const second = pairs.get(server);
        if (replicas === 1 || !second) return saturate(server, 'validate', body, { connections, seconds });
        const split = Math.ceil(connections / 2);
        const both = await Promise.all([server, second].map((s) => saturate(s, 'validate', body, { connections: split, seconds })));
        return {
          perSecond: both.reduce((sum, r) => sum + r.perSecond, 0),
          errors: both.reduce((sum, r) => sum + r.errors, 0),
          peakRssBytes: both.reduce((sum, r) => sum + r.peakRssBytes, 0),
        };
      });
      ctx.report.add({ scenario: title, point, metric: 'throughput', unit: 'req/s', ...ctx.values(results, (r) => r.perSecond, median) });
      ctx.report.add({ scenario: title, point, metric: 'RSS, all processes', unit: 'MB', ...ctx.values(results, (r) => r.peakRssBytes / 1024 / 1024, (v) => Math.max(...v)) });
    }
  } finally {
    await Promise.all([ctx.stop(floor2), ctx.stop(tollgate2)]);
  }
}
