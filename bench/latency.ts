// Latency at a fixed, moderate rate (open loop), seen from the client as the apiserver sees it,
// and from the server as tollgate's own `durationMs` records it (decode, policies, encode).
import { standardBodies } from './lib/bodies.js';
import type { BenchContext } from './lib/context.js';
import { fixedRate, percentile } from './lib/load.js';
import { median } from './lib/report.js';
import { withReviewDurations } from './lib/review-times.js';

const P99_TARGET_MS = 5;
/**
 * Short runs, several of them, and the median of their percentiles: on a shared two-core machine a
 * single descheduling of the server (or of the client) for tens of milliseconds lands in one run's p99.
 */
const ROUNDS = 3;
const SECONDS = 1.2;

export const title = 'latency';

export async function run(ctx: BenchContext): Promise<void> {
  const { rate, quick } = ctx.settings;
  const rounds = quick ? 1 : ROUNDS;
  const seconds = quick ? ctx.settings.seconds : SECONDS;
  const bodies = ctx.settings.quick ? standardBodies().slice(0, 2) : standardBodies();
  for (const body of bodies) {
    for (const endpoint of ['validate', 'mutate'] as const) {
      const point = `/${endpoint} at ${rate}/s, ${body.name}`;
      ctx.log(`${title}: ${point}`);
      const results = await ctx.alternate(ctx.compared, rounds, (server) =>
        withReviewDurations(server, () => fixedRate(server, endpoint, body, { rate, seconds, ca: ctx.certificate.cert }), !ctx.isFloor(server)),
      );
      const p50 = ctx.values(results, (r) => percentile(r.latenciesMs, 50), median);
      const p99 = ctx.values(results, (r) => percentile(r.latenciesMs, 99), median);
      ctx.report.add({ scenario: title, point, metric: 'p50, client', unit: 'ms', ...p50 });
      ctx.report.add({ scenario: title, point, metric: 'p99, client', unit: 'ms', ...p99, target: `< ${P99_TARGET_MS} ms`, met: p99.tollgate < P99_TARGET_MS });
      // In µs: the log's durationMs has a microsecond's resolution, which two decimals of ms hid.
      const { floor: _floor, ...serverP50 } = ctx.values(results, (r) => percentile(r.serverMs, 50) * 1000, median);
      const { floor: _floor99, ...serverP99 } = ctx.values(results, (r) => percentile(r.serverMs, 99) * 1000, median);
      // At a moderate rate each review mostly runs alone, so it pays for wake-ups a saturated server shares.
      ctx.report.add({ scenario: title, point, metric: 'CPU per review', unit: 'µs', ...ctx.values(results, (r) => r.cpuPerReview * 1e6, median) });
      ctx.report.add({ scenario: title, point, metric: 'p50, server durationMs', unit: 'µs', ...serverP50 });
      ctx.report.add({ scenario: title, point, metric: 'p99, server durationMs', unit: 'µs', ...serverP99 });
    }
  }
}
