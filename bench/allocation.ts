// What a review allocates, as V8's garbage-collection tracer counts it (`--trace-gc-nvp`, in
// servers of this scenario's own, so that no other scenario runs with the tracer on). Unlike CPU
// time it barely moves with what else the machine is doing, and over the wire it tracks the cost:
// every kilobyte a review allocates is memory fresh to the caches.
import { standardBodies } from './lib/bodies.js';
import type { BenchContext } from './lib/context.js';
import { saturate } from './lib/load.js';
import type { ServerProcess } from './lib/processes.js';
import { median } from './lib/report.js';

export const title = 'allocation';

/** Each collection's line: `allocated=` is what was allocated since the one before. */
const ALLOCATED = /\ballocated=(\d+)/g;
const TRACE = ['--trace-gc-nvp'];

/** Bytes allocated, by the collections whose lines are in `text`. */
export function allocatedIn(text: string): number {
  let bytes = 0;
  for (const match of text.matchAll(ALLOCATED)) bytes += Number(match[1]);
  return bytes;
}

export async function run(ctx: BenchContext): Promise<void> {
  const { curveSeconds, curveRounds: rounds, connections } = ctx.settings;
  // Each collection counts what was allocated since the one before, so a run's first one counts a
  // little from before it: runs of twice the curves' length keep that share small.
  const seconds = 2 * curveSeconds;
  const floor = await ctx.startFloor('floor, GC traced', TRACE);
  const tollgate = await ctx.startTollgate('tollgate, GC traced', { nodeOptions: TRACE });
  const baseline = ctx.baselineDist ? await ctx.startTollgate('baseline, GC traced', { dist: ctx.baselineDist, nodeOptions: TRACE }) : undefined;
  const servers: ServerProcess[] = [floor, tollgate, ...(baseline ? [baseline] : [])];
  try {
    for (const body of standardBodies()) {
      for (const endpoint of ['validate', 'mutate'] as const) {
        const point = `/${endpoint}, ${body.name}`;
        ctx.log(`${title}: ${point}`);
        // Warm, so that what is counted is the steady state and not the JIT's first compilations.
        for (const server of servers) await saturate(server, endpoint, body, { connections, seconds: 0.5 });
        const results = await ctx.alternate(servers, rounds, async (server) => {
          const mark = server.logSize();
          const result = await saturate(server, endpoint, body, { connections, seconds });
          return { errors: result.errors, bytesPerReview: allocatedIn(server.logSince(mark)) / Math.max(1, result.completed) };
        });
        const of = (server: ServerProcess | undefined) => (server ? median((results.get(server) ?? []).map((r) => r.bytesPerReview / 1024)) : undefined);
        const [floorKb, tollgateKb, baselineKb] = [of(floor), of(tollgate), of(baseline)];
        ctx.report.add({
          scenario: title,
          point,
          metric: 'allocated per review',
          unit: 'KB',
          tollgate: tollgateKb ?? Number.NaN,
          ...(floorKb === undefined ? {} : { floor: floorKb }),
          ...(baselineKb === undefined ? {} : { baseline: baselineKb }),
        });
      }
    }
  } finally {
    await Promise.all(servers.map((server) => ctx.stop(server)));
  }
}
