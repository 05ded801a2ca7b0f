// What tollgate adds to pod creation as Kubernetes sees it: a burst of creates through both webhooks,
// read back from the apiserver's own metrics, beside the same burst with the webhooks removed.
// Prints a report; asserts on outcomes (every create admitted, nothing rejected or failed open), never on timings.
import { availableParallelism, loadavg } from 'node:os';
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  describeBuckets,
  histogram,
  histogramDelta,
  scrapeApiserverMetrics,
  scrapeMetrics,
  startCluster,
  total,
  waitFor,
  type E2ECluster,
  type Histogram,
  type Sample,
} from './harness/index.js';
import { admittedAnnotation, allowedImage, deniedImage, dryRunVerdict, pod, serveTollgate, statusMessage, type ServedTollgate } from './fixture.js';

const burstSize = 300;
const concurrency = 10;
/** Creates before each measured burst, left out of it: connection set-up, caches, JIT. */
const warmUpSize = 20;
const webhookNames = ['mutate.tollgate.dev', 'validate.tollgate.dev'] as const;
const webhookDuration = 'apiserver_admission_webhook_admission_duration_seconds';
const requestDuration = 'apiserver_request_duration_seconds';
const podCreate = { verb: 'POST', resource: 'pods', subresource: '' };
const reviewDuration = 'tollgate_review_duration_seconds';
const endpoints = ['mutate', 'validate'] as const;

interface BurstResult {
  /** Client-side duration of each successful create, ms. */
  durationsMs: number[];
  failures: string[];
  wallMs: number;
}

async function burst(cluster: E2ECluster, namespace: string, prefix: string, size: number): Promise<BurstResult> {
  const core = cluster.kubeConfig().makeApiClient(CoreV1Api);
  const result: BurstResult = { durationsMs: [], failures: [], wallMs: 0 };
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < size) {
        const name = `${prefix}-${next++}`;
        const t0 = performance.now();
        try {
          await core.createNamespacedPod({ namespace, body: pod(name, allowedImage) });
          result.durationsMs.push(performance.now() - t0);
        } catch (error) {
          result.failures.push(`${name}: ${statusMessage(error)}`);
        }
      }
    }),
  );
  result.wallMs = performance.now() - started;
  return result;
}

interface Run {
  client: BurstResult;
  /** The apiserver's own POST pods duration over the burst. */
  server: Histogram;
  webhooks: Record<(typeof webhookNames)[number], Histogram>;
  /** tollgate's own time per review, decoded request to encoded answer (absent once it is not called). */
  inside?: Record<(typeof endpoints)[number], Histogram>;
  /** The load average over the last minute when the burst ended: the machine is shared. */
  load: number;
  rejections: number;
  failOpen: number;
}

async function measuredBurst(cluster: E2ECluster, namespace: string, tollgate?: ServedTollgate): Promise<Run> {
  await cluster.kubectl(['create', 'namespace', namespace]);
  const warmUp = await burst(cluster, namespace, 'warm-up', warmUpSize);
  expect(warmUp.failures).toEqual([]);
  const scrapeTollgate = () => (tollgate ? scrapeMetrics(tollgate.tollgate.url, tollgate.certs.caPem) : Promise.resolve([]));
  const [before, tollgateBefore] = await Promise.all([scrapeApiserverMetrics(cluster), scrapeTollgate()]);
  const client = await burst(cluster, namespace, 'burst', burstSize);
  const [after, tollgateAfter] = await Promise.all([scrapeApiserverMetrics(cluster), scrapeTollgate()]);
  const load = loadavg()[0]!;
  const insideDelta = (endpoint: string) =>
    histogramDelta(histogram(tollgateAfter, reviewDuration, { endpoint }), histogram(tollgateBefore, reviewDuration, { endpoint }));
  const delta = (name: string, labels: Record<string, string>) =>
    histogramDelta(histogram(after, name, labels), histogram(before, name, labels));
  const counted = (samples: Sample[], name: string) =>
    webhookNames.reduce((sum, webhook) => sum + total(samples, name, { name: webhook }), 0);
  return {
    client,
    server: delta(requestDuration, podCreate),
    webhooks: {
      'mutate.tollgate.dev': delta(webhookDuration, { name: 'mutate.tollgate.dev', operation: 'CREATE' }),
      'validate.tollgate.dev': delta(webhookDuration, { name: 'validate.tollgate.dev', operation: 'CREATE' }),
    },
    ...(tollgate ? { inside: { mutate: insideDelta('mutate'), validate: insideDelta('validate') } } : {}),
    load,
    rejections:
      counted(after, 'apiserver_admission_webhook_rejection_count') - counted(before, 'apiserver_admission_webhook_rejection_count'),
    failOpen: counted(after, 'apiserver_admission_webhook_fail_open_count') - counted(before, 'apiserver_admission_webhook_fail_open_count'),
  };
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

function clientSummary(run: BurstResult): string {
  const sorted = [...run.durationsMs].sort((a, b) => a - b);
  const mean = sorted.reduce((a, b) => a + b, 0) / sorted.length;
  const ms = (n: number) => n.toFixed(1).padStart(6);
  const rate = (sorted.length / (run.wallMs / 1000)).toFixed(0);
  return `mean ${ms(mean)}  p50 ${ms(percentile(sorted, 50))}  p95 ${ms(percentile(sorted, 95))}  p99 ${ms(percentile(sorted, 99))}  max ${ms(sorted.at(-1) ?? NaN)}  (${rate} creates/s)`;
}

function histogramSummary(h: Histogram): string {
  const mean = h.count === 0 ? NaN : (h.sum / h.count) * 1000;
  return `count ${h.count}, mean ${mean.toFixed(2)} ms; ${describeBuckets(h)}`;
}

describe('pod-create latency with and without tollgate, as the apiserver measures it', () => {
  let cluster: E2ECluster;
  let served: ServedTollgate;
  let withWebhooks: Run | undefined;
  let withoutWebhooks: Run | undefined;

  beforeAll(async () => {
    cluster = await startCluster();
    served = await serveTollgate(cluster, 'e2e-probe');
  });

  afterAll(async () => {
    await served?.tollgate.stop();
    await cluster?.stop();
    if (withWebhooks) console.log(report(withWebhooks, withoutWebhooks));
  });

  it(`admits a burst of ${burstSize} pod creates through both webhooks: none refused, none failed open`, async () => {
    const namespace = 'e2e-burst-webhooks';
    withWebhooks = await measuredBurst(cluster, namespace, served);
    expect(withWebhooks.client.failures).toEqual([]);
    expect(withWebhooks.rejections).toBe(0);
    expect(withWebhooks.failOpen).toBe(0);
    // Each create called each webhook exactly once, and none was answered with a rejection.
    for (const name of webhookNames) expect(withWebhooks.webhooks[name].count).toBe(burstSize);
    for (const endpoint of endpoints) expect(withWebhooks.inside?.[endpoint].count).toBe(burstSize);
    expect(withWebhooks.server.count).toBe(burstSize);

    const core = cluster.kubeConfig().makeApiClient(CoreV1Api);
    const stored = await core.listNamespacedPod({ namespace });
    expect(stored.items).toHaveLength(warmUpSize + burstSize);
    expect(stored.items.filter((p) => p.metadata?.annotations?.[admittedAnnotation] !== 'true')).toEqual([]);
  });

  it('runs the same burst with the webhook configurations deleted', async () => {
    await cluster.kubectl(['delete', 'mutatingwebhookconfiguration', 'tollgate']);
    await cluster.kubectl(['delete', 'validatingwebhookconfiguration', 'tollgate']);
    await waitFor('the apiserver to stop calling tollgate', async () => {
      const verdict = await dryRunVerdict(cluster, 'e2e-probe', deniedImage);
      return verdict.allowed && verdict.pod.metadata?.annotations?.[admittedAnnotation] === undefined;
    });

    const namespace = 'e2e-burst-plain';
    withoutWebhooks = await measuredBurst(cluster, namespace);
    expect(withoutWebhooks.client.failures).toEqual([]);
    for (const name of webhookNames) expect(withoutWebhooks.webhooks[name].count).toBe(0);
    expect(withoutWebhooks.server.count).toBe(burstSize);
    const core = cluster.kubeConfig().makeApiClient(CoreV1Api);
    expect((await core.listNamespacedPod({ namespace })).items).toHaveLength(warmUpSize + burstSize);
  });
});

const cpus = availableParallelism();

function report(on: Run, off: Run | undefined): string {
  const lines = [
    '',
    `tollgate e2e latency report: ${burstSize} pod creates, ${concurrency} at a time (client-node), after ${warmUpSize} warm-up creates`,
    `  client-side pod create, ms, with webhooks:    ${clientSummary(on.client)}`,
    ...(off ? [`  client-side pod create, ms, without webhooks: ${clientSummary(off.client)}`] : []),
    `  apiserver POST pods (${requestDuration}), with webhooks:    ${histogramSummary(on.server)}`,
    ...(off ? [`  apiserver POST pods (${requestDuration}), without webhooks: ${histogramSummary(off.server)}`] : []),
    ...webhookNames.map((name) => `  ${webhookDuration}{name="${name}"}: ${histogramSummary(on.webhooks[name])}`),
    ...endpoints.map((endpoint) => `  inside tollgate, ${reviewDuration}{endpoint="${endpoint}"}: ${on.inside ? histogramSummary(on.inside[endpoint]) : '-'}`),
    `  apiserver_admission_webhook_rejection_count: +${on.rejections}; apiserver_admission_webhook_fail_open_count: +${on.failOpen}`,
    `  1-minute load average at the end of each burst: ${on.load.toFixed(1)}${off ? ` / ${off.load.toFixed(1)}` : ''} (${cpus} CPUs)`,
    '',
  ];
  return lines.join('\n');
}
