// Where overload begins, and what the in-flight limit does there: bursts of reviews sent at once
// over warm connections (the worst queue a connection pool that size can build), small and large
// objects, with the default limit and with none. `npm run soak:overload`.
//   OVERLOAD_BURSTS=128,256,512,1024
import https from 'node:https';
import os from 'node:os';
import { MAX_IN_FLIGHT_REVIEWS } from '../src/http/server.js';
import { REQUEST_TIMEOUT_MS, percentile, reviewMix, send, startTollgate, warm, type Review, type Tollgate } from './soak.js';

const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : '-');

/** The server gets CPU 1 to itself (when there are two), the client the rest. */
const SERVER_CPU = os.cpus().length > 1 ? 1 : undefined;

/** A review of a pod whose object is `bytes` large (a big annotation, as objects near etcd's 1.5 MiB limit carry). */
function largeReview(uid: string, bytes: number): Review {
  const base = reviewMix()[2]!;
  const review = JSON.parse(base.body.toString('utf8')) as { request: { uid: string; object: { metadata: { annotations: Record<string, string> } } } };
  review.request.uid = uid;
  review.request.object.metadata.annotations = { 'acme.io/blob': 'x'.repeat(bytes) };
  return { endpoint: 'mutate', uid, body: Buffer.from(JSON.stringify(review)) };
}

interface Burst {
  ok: number[];
  shed: number[];
  failed: number;
}

/** `count` reviews sent at once over `count` warm connections: the worst queue a pool that size can build. */
async function burst(tollgate: Tollgate, agent: https.Agent, count: number, review: (i: number) => Review): Promise<Burst> {
  const result: Burst = { ok: [], shed: [], failed: 0 };
  const samples = await Promise.all(Array.from({ length: count }, (_, i) => send(tollgate, agent, review(i))));
  for (const s of samples) {
    if (s.status === 200) result.ok.push(s.ms);
    else if (s.status === 503) result.shed.push(s.ms);
    else result.failed++;
  }
  result.ok.sort((a, b) => a - b);
  result.shed.sort((a, b) => a - b);
  return result;
}

export async function overload(): Promise<void> {
  const sizes = (process.env.OVERLOAD_BURSTS ?? '128,256,512,1024').split(',').map(Number);
  const largest = Math.max(...sizes);
  console.log(`overload: ${os.cpus().length} CPUs, server pinned to CPU ${SERVER_CPU ?? '-'}, Node ${process.version}; bursts sent at once over warm connections; client time-out ${REQUEST_TIMEOUT_MS} ms\n`);
  console.log('| body | in-flight limit | burst | 200 | 503 | failed or > 10 s | p50 ms (200) | p99 ms (200) | last 200 ms | p99 ms (503) |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  const bodies: Array<[string, (i: number) => Review]> = [
    ['pod, 3 KB (mix)', (i) => reviewMix()[i % 4]!],
    ['pod, 1 MiB, /mutate', (i) => largeReview(`large-${i}`, 1024 * 1024)],
  ];
  for (const [name, review] of bodies) {
    for (const limit of [MAX_IN_FLIGHT_REVIEWS, 1_000_000]) {
      const tollgate = await startTollgate(['--log-level', 'info', '--max-in-flight', String(limit)], SERVER_CPU);
      const agent = new https.Agent({ keepAlive: true, maxSockets: largest });
      try {
        await warm(tollgate, agent, largest);
        await burst(tollgate, agent, 64, review);
        for (const size of sizes) {
          const r = await burst(tollgate, agent, size, review);
          const late = r.ok.filter((ms) => ms > REQUEST_TIMEOUT_MS).length;
          console.log(
            `| ${name} | ${limit >= 1_000_000 ? 'none' : limit} | ${size} | ${r.ok.length} | ${r.shed.length} | ${r.failed + late} | ${fmt(percentile(r.ok, 50))} | ${fmt(percentile(r.ok, 99))} | ${fmt(r.ok.at(-1) ?? NaN)} | ${fmt(percentile(r.shed, 99))} |`,
          );
        }
      } finally {
        agent.destroy();
        await tollgate.stop();
      }
    }
  }
}

await overload();
