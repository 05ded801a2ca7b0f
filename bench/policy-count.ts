// The cost curve over the number of policies: 1, 5 and 20 trivial validating policies (loaded by
// path, as a user's module is), once matching the request and once excluded by their `match`.
import { bodyOf, pod } from './lib/bodies.js';
import { NOOP_POLICY, type BenchContext } from './lib/context.js';
import { saturate, warmUp, type SaturationResult } from './lib/load.js';
import type { ServerProcess } from './lib/processes.js';
import { linearFit, median } from './lib/report.js';
import { REVIEW_TIME, trimmedMean, withReviewDurations } from './lib/review-times.js';

export const title = 'policy count';

/** The bodies are pods in namespace `shop`; `kube-system` is what a non-matching policy limits itself to. */
const MATCHING = { kinds: ['Pod'], operations: ['CREATE', 'UPDATE'] };
const NOT_MATCHING = { namespaces: ['kube-system'] };

function config(count: number, match: object): unknown {
  return { policies: Array.from({ length: count }, (_, i) => ({ module: NOOP_POLICY, name: `noop-${i}`, match })) };
}

export async function run(ctx: BenchContext): Promise<void> {
  const { curveSeconds: seconds, curveRounds: rounds, connections } = ctx.settings;
  const counts = ctx.settings.quick ? [1, 20] : [1, 5, 20];
  const body = bodyOf('small pod', pod({ containers: 1 }));
  const points: Array<{ name: string; count: number; matching: boolean; server: ServerProcess }> = [];
  const zero = await ctx.startTollgate('tollgate, 0 policies', { config: config(0, MATCHING) });
  points.push({ name: '0 policies', count: 0, matching: true, server: zero });
  for (const matching of [true, false]) {
    for (const count of counts) {
      const name = `${count} ${matching ? 'matching' : 'not matching'}`;
      points.push({ name, count, matching, server: await ctx.startTollgate(`tollgate, ${name}`, { config: config(count, matching ? MATCHING : NOT_MATCHING) }) });
    }
  }
  const cpuUs = new Map<string, number>();
  const reviewUs = new Map<string, number>();
  try {
    for (const point of points) {
      ctx.log(`${title}: ${point.name}`);
      await warmUp(point.server, 'validate', body, connections);
      const results = await ctx.alternate([ctx.floor, point.server], rounds, (server) =>
        withReviewDurations(server, () => saturate(server, 'validate', body, { connections, seconds }), !ctx.isFloor(server)),
      );
      const of = (server: ServerProcess, pick: (r: SaturationResult & { serverMs: number[] }) => number) => median((results.get(server) ?? []).map(pick));
      const label = `/validate, ${point.name}`;
      ctx.report.add({ scenario: title, point: label, metric: 'throughput', unit: 'req/s', floor: of(ctx.floor, (r) => r.perSecond), tollgate: of(point.server, (r) => r.perSecond) });
      const floorCpu = of(ctx.floor, (r) => r.cpuPerReview * 1e6);
      const tollgateCpu = of(point.server, (r) => r.cpuPerReview * 1e6);
      ctx.report.add({ scenario: title, point: label, metric: 'CPU per review', unit: 'µs', floor: floorCpu, tollgate: tollgateCpu });
      cpuUs.set(point.name, tollgateCpu - floorCpu);
      const reviewTime = of(point.server, (r) => trimmedMean(r.serverMs) * 1000);
      ctx.report.add({ scenario: title, point: label, metric: REVIEW_TIME, unit: 'µs', tollgate: reviewTime });
      reviewUs.set(point.name, reviewTime);
    }
  } finally {
    await Promise.all(points.map((p) => ctx.stop(p.server)));
  }
  for (const matching of [true, false]) {
    const pointName = (count: number) => (count === 0 ? '0 policies' : `${count} ${matching ? 'matching' : 'not matching'}`);
    for (const [metric, values] of [['CPU above floor', cpuUs], [REVIEW_TIME, reviewUs]] as const) {
      const fit = linearFit([0, ...counts].map((count) => [count, values.get(pointName(count)) ?? Number.NaN] as const));
      ctx.report.add({
        scenario: title,
        point: `each ${matching ? 'matching' : 'non-matching'} policy (fit over 0-${counts.at(-1)}, R² ${fit.r2.toFixed(2)})`,
        metric,
        unit: 'µs',
        tollgate: fit.slope,
      });
    }
  }
}
