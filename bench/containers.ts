// The cost curve over the size of the pod in containers: 1 to 50, on /validate (the image check
// of every container) and /mutate (copy, annotate, diff); the cost above the floor should be linear,
// and so should tollgate's own review time (./lib/review-times.ts).
import { bodyOf, pod } from './lib/bodies.js';
import type { BenchContext } from './lib/context.js';
import { saturate, warmUp } from './lib/load.js';
import { linearFit, mean, median } from './lib/report.js';
import { REVIEW_TIME, trimmedMean, withReviewDurations } from './lib/review-times.js';

export const title = 'containers';

export async function run(ctx: BenchContext): Promise<void> {
  const { curveSeconds: seconds, curveRounds: rounds, connections } = ctx.settings;
  const counts = ctx.settings.quick ? [1, 50] : [1, 10, 50];
  const above = { validate: [] as Array<[number, number]>, mutate: [] as Array<[number, number]> };
  const own = { validate: [] as Array<[number, number]>, mutate: [] as Array<[number, number]> };
  for (const count of counts) {
    const body = bodyOf(`${count} containers`, pod({ containers: count }));
    for (const endpoint of ['validate', 'mutate'] as const) {
      const point = `/${endpoint}, pod of ${count}`;
      ctx.log(`${title}: ${point}`);
      // The servers sat idle through the scenarios before: untimed load first, on this body.
      for (const server of ctx.compared) await warmUp(server, endpoint, body, connections);
      const results = await ctx.alternate(ctx.compared, rounds, (server) =>
        withReviewDurations(server, () => saturate(server, endpoint, body, { connections, seconds }), !ctx.isFloor(server)),
      );
      const throughput = ctx.values(results, (r) => r.perSecond, median);
      const cpu = ctx.values(results, (r) => r.cpuPerReview * 1e6, median);
      const { floor: _floor, ...reviewTime } = ctx.values(results, (r) => trimmedMean(r.serverMs) * 1000, median);
      ctx.report.add({ scenario: title, point, metric: 'throughput', unit: 'req/s', ...throughput });
      ctx.report.add({ scenario: title, point, metric: 'CPU per review', unit: 'µs', ...cpu });
      ctx.report.add({ scenario: title, point, metric: REVIEW_TIME, unit: 'µs', ...reviewTime });
      above[endpoint].push([count, cpu.tollgate - (cpu.floor ?? 0)]);
      own[endpoint].push([count, reviewTime.tollgate]);
    }
  }
  for (const endpoint of ['validate', 'mutate'] as const) {
    const fit = linearFit(above[endpoint]);
    ctx.report.add({
      scenario: title,
      point: `/${endpoint}, each container (fit, R² ${fit.r2.toFixed(2)}; mean above floor ${mean(above[endpoint].map(([, y]) => y)).toFixed(0)} µs)`,
      metric: 'CPU above floor',
      unit: 'µs',
      tollgate: fit.slope,
    });
    const ownFit = linearFit(own[endpoint]);
    ctx.report.add({ scenario: title, point: `/${endpoint}, each container (fit, R² ${ownFit.r2.toFixed(2)})`, metric: REVIEW_TIME, unit: 'µs', tollgate: ownFit.slope });
  }
}
