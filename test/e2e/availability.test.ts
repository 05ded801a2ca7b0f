// tollgate's availability as the real kube-apiserver meets it: a serving certificate renewed under
// a stream of pod creates, then tollgate gone, with the webhooks failing closed and then open.
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServingCertificate } from '../../src/tls/certificates.js';
import {
  establishedClientPorts,
  scrapeApiserverMetrics,
  servedFingerprint,
  sleep,
  total,
  updateSecretVolume,
  waitFor,
  type E2ECluster,
  startCluster,
} from './harness/index.js';
import { admittedAnnotation, allowedImage, deniedImage, dryRunVerdict, pod, serveTollgate, statusMessage, type ServedTollgate } from './fixture.js';

/** Creates in flight before the swap, and after it: more than before, so the apiserver must open new connections. */
const concurrencyBeforeSwap = 2;
const concurrencyAfterSwap = 8;
const streamAfterSwapMs = 2_000;

interface CreateResult {
  name: string;
  error?: string;
  annotated?: boolean;
}

describe('tollgate availability under a real kube-apiserver', () => {
  let cluster: E2ECluster;
  let served: ServedTollgate;

  beforeAll(async () => {
    cluster = await startCluster();
    served = await serveTollgate(cluster, 'e2e-probe');
  });

  afterAll(async () => {
    await served?.tollgate.stop();
    await cluster?.stop();
  });

  it('renews the serving certificate under a stream of creates: none fails, and the new certificate is served', async () => {
    const namespace = 'e2e-rotation';
    await cluster.kubectl(['create', 'namespace', namespace]);
    const { certs, tollgate } = served;
    const oldFingerprint = new X509Certificate(readFileSync(certs.certFile)).fingerprint256;
    expect(await servedFingerprint(tollgate.url, certs.caPem)).toBe(oldFingerprint);

    const core = cluster.kubeConfig().makeApiClient(CoreV1Api);
    const results: CreateResult[] = [];
    let concurrency = concurrencyBeforeSwap;
    let streaming = true;
    let next = 0;
    const worker = async (id: number) => {
      while (streaming) {
        if (id >= concurrency) {
          await sleep(20);
          continue;
        }
        const name = `rotation-${next++}`;
        try {
          const created = await core.createNamespacedPod({ namespace, body: pod(name, allowedImage) });
          results.push({ name, annotated: created.metadata?.annotations?.[admittedAnnotation] === 'true' });
        } catch (error) {
          results.push({ name, error: statusMessage(error) });
        }
      }
    };
    const stream = Promise.all(Array.from({ length: concurrencyAfterSwap }, (_, id) => worker(id)));
    try {
      await waitFor('creates before the swap', async () => results.length >= 10);
      const caPair = { cert: readFileSync(certs.caFile, 'utf8'), key: readFileSync(`${certs.dir}/ca.key`, 'utf8') };
      const renewed = createServingCertificate(
        'tollgate.tollgate-system.svc',
        { dns: ['tollgate.tollgate-system.svc', 'localhost'], ips: ['127.0.0.1'] },
        30,
        caPair,
      );
      const newFingerprint = new X509Certificate(renewed.cert).fingerprint256;
      const createsBeforeSwap = results.length;
      updateSecretVolume(served.tlsDir, { 'tls.crt': renewed.cert, 'tls.key': renewed.key });
      await waitFor('tollgate to serve the renewed certificate', async () => (await servedFingerprint(tollgate.url, certs.caPem)) === newFingerprint, 10_000);
      const connectionsAtSwap = establishedClientPorts(tollgate.port);
      concurrency = concurrencyAfterSwap;
      await sleep(streamAfterSwapMs);
      const newConnections = [...establishedClientPorts(tollgate.port)].filter((port) => !connectionsAtSwap.has(port));
      streaming = false;
      await stream;

      expect(results.filter((r) => r.error !== undefined)).toEqual([]);
      // The mutating webhook fails open: a failed call would show only as a missing annotation.
      expect(results.filter((r) => !r.annotated).map((r) => r.name)).toEqual([]);
      expect(results.length - createsBeforeSwap).toBeGreaterThanOrEqual(concurrencyAfterSwap);
      // The apiserver dialled tollgate again after the swap, so it verified the new certificate too.
      expect(newConnections.length).toBeGreaterThan(0);
      expect(await servedFingerprint(tollgate.url, certs.caPem)).toBe(newFingerprint);
      const loaded = tollgate.logLines().filter((line) => line['msg'] === 'serving certificate loaded');
      expect(loaded).toHaveLength(2);
      const stored = await core.listNamespacedPod({ namespace });
      expect(stored.items).toHaveLength(results.length);
    } finally {
      streaming = false;
      await stream;
    }
  });

  it('with tollgate stopped, the validating webhook as shipped (failurePolicy: Fail) refuses creates', async () => {
    await served.tollgate.stop();
    // SIGTERM, not the SIGKILL that follows 5 s later: the apiserver's spare connections did not hold the exit up.
    expect(await served.tollgate.process.exited).toBe(0);
    const namespace = 'e2e-stopped';
    await cluster.kubectl(['create', 'namespace', namespace]);
    const result = await cluster.kubectl(['apply', '-n', namespace, '-f', '-'], {
      input: JSON.stringify(pod('while-down', allowedImage)),
      allowFailure: true,
    });
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toContain('failed calling webhook "validate.tollgate.dev"');
    expect(result.stderr).toContain('connection refused');
    const list = await cluster.kubectl(['get', 'pods', '-n', namespace, '-o', 'name']);
    expect(list.stdout.trim()).toBe('');
  });

  it('with failurePolicy: Fail on the mutating webhook too, it is the one that refuses (it is called first)', async () => {
    const namespace = 'e2e-stopped';
    await cluster.kubectl(['patch', 'mutatingwebhookconfiguration', 'tollgate', '--type=json', '-p', failurePolicyPatch('Fail')]);
    await waitFor('the mutating webhook to fail closed', async () => {
      const verdict = await dryRunVerdict(cluster, namespace, allowedImage);
      return !verdict.allowed && verdict.message.includes('failed calling webhook "mutate.tollgate.dev"');
    });
    const core = cluster.kubeConfig().makeApiClient(CoreV1Api);
    const error = await core.createNamespacedPod({ namespace, body: pod('while-down', allowedImage) }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: 500 });
    expect(statusMessage(error)).toContain('failed calling webhook "mutate.tollgate.dev"');
  });

  it('with failurePolicy: Ignore on both, creates pass unjudged and unmutated, and the apiserver counts them as failing open', async () => {
    const namespace = 'e2e-stopped';
    for (const kind of ['mutatingwebhookconfiguration', 'validatingwebhookconfiguration']) {
      await cluster.kubectl(['patch', kind, 'tollgate', '--type=json', '-p', failurePolicyPatch('Ignore')]);
    }
    await waitFor('both webhooks to fail open', async () => (await dryRunVerdict(cluster, namespace, deniedImage)).allowed);
    const before = await scrapeApiserverMetrics(cluster);

    await cluster.kubectl(['apply', '-n', namespace, '-f', '-'], { input: JSON.stringify(pod('while-down', allowedImage)) });
    // What failing open costs: nothing is enforced.
    await cluster.kubectl(['apply', '-n', namespace, '-f', '-'], { input: JSON.stringify(pod('unjudged', deniedImage)) });

    const stored = JSON.parse((await cluster.kubectl(['get', 'pods', '-n', namespace, '-o', 'json'])).stdout) as {
      items: Array<{ metadata: { name: string; annotations?: Record<string, string> } }>;
    };
    expect(stored.items.map((p) => p.metadata.name).sort()).toEqual(['unjudged', 'while-down']);
    expect(stored.items.every((p) => p.metadata.annotations?.[admittedAnnotation] === undefined)).toBe(true);
    const after = await scrapeApiserverMetrics(cluster);
    const failOpen = (name: string) =>
      total(after, 'apiserver_admission_webhook_fail_open_count', { name }) - total(before, 'apiserver_admission_webhook_fail_open_count', { name });
    expect(failOpen('mutate.tollgate.dev')).toBe(2);
    expect(failOpen('validate.tollgate.dev')).toBe(2);
  });
});

function failurePolicyPatch(failurePolicy: 'Fail' | 'Ignore'): string {
  return JSON.stringify([{ op: 'replace', path: '/webhooks/0/failurePolicy', value: failurePolicy }]);
}
