// What a fresh TLS handshake per request costs, against the same client on kept-alive
// connections: the apiserver reuses connections, but a restart or a new replica starts cold.
import { bodyOf, pod } from './lib/bodies.js';
import type { BenchContext } from './lib/context.js';
import { closedLoop, percentile } from './lib/load.js';
import { median } from './lib/report.js';

export const title = 'TLS handshake';

/** Requests in flight at once; each on its own connection in the fresh-handshake runs. */
const CONCURRENCY = 4;

export async function run(ctx: BenchContext): Promise<void> {
  const { curveSeconds: seconds, curveRounds: rounds } = ctx.settings;
  const body = bodyOf('small pod', pod({ containers: 1 }));
  for (const fresh of [true, false]) {
    const point = `/validate, small pod, ${fresh ? 'new connection per request' : 'kept-alive connections'}`;
    ctx.log(`${title}: ${point}`);
    const results = await ctx.alternate(ctx.compared, rounds, (server) =>
      closedLoop(server, 'validate', body, { concurrency: CONCURRENCY, seconds, ca: ctx.certificate.cert, fresh }),
    );
    ctx.report.add({ scenario: title, point, metric: 'throughput', unit: 'req/s', ...ctx.values(results, (r) => r.perSecond, median) });
    ctx.report.add({ scenario: title, point, metric: 'p50, client', unit: 'ms', ...ctx.values(results, (r) => percentile(r.latenciesMs, 50), median) });
    ctx.report.add({ scenario: title, point, metric: 'CPU per review', unit: 'µs', ...ctx.values(results, (r) => r.cpuPerReview * 1e6, median) });
  }
}
