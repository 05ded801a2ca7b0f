// GET /metrics: reviews by endpoint/operation/kind/verdict, latency per endpoint and per policy,
// policy errors and time-outs, overload refusals, config reloads and the certificate's expiry.
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import type { AdmissionRequest, KubernetesObject } from '../../src/admission/types.js';
import { PolicyEngine } from '../../src/engine/engine.js';
import { compileMatch } from '../../src/engine/match.js';
import type { LoadedPolicy } from '../../src/engine/loader.js';
import { startServer } from '../../src/http/serve.js';
import { buildServer } from '../../src/http/server.js';
import { createLogger } from '../../src/log/logger.js';
import { MAX_KIND_LABELS, OTHER_KIND, TollgateMetrics } from '../../src/metrics/metrics.js';
import { createServingCertificate } from '../../src/tls/certificates.js';
import { DEV_CERT_FILE } from '../../src/tls/dev-certificate.js';

const logger = createLogger({ level: 'silent' });

function policy(kind: 'validating' | 'mutating', name: string, run: (request: AdmissionRequest) => unknown, timeoutMs = 1000): LoadedPolicy {
  const base = { name, module: name, mode: 'enforce' as const, failurePolicy: 'Fail' as const, timeoutMs, matches: compileMatch(undefined) };
  return kind === 'validating'
    ? { ...base, kind, instance: { validate: run as never } }
    : { ...base, kind, instance: { mutate: run as never } };
}

function review(object: KubernetesObject, kind = { group: '', version: 'v1', kind: 'Pod' }, operation = 'CREATE'): string {
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: { uid: 'u-1', kind, resource: { group: kind.group, version: kind.version, resource: 'pods' }, operation, namespace: 'default', object },
  });
}

const pod = (name: string): KubernetesObject => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name } });

/** The value of one sample line, e.g. `tollgate_reviews_total{endpoint="validate",...}`. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const match = /^[^{ ]+(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) continue;
    const found = Object.fromEntries([...(match[1] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) return Number(match[2]);
  }
  return undefined;
}

describe('metrics', () => {
  let app: FastifyInstance | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  async function serve(policies: LoadedPolicy[], extra: { maxInFlightReviews?: number } = {}) {
    const metrics = new TollgateMetrics();
    app = await buildServer({
      engine: { current: new PolicyEngine(policies) },
      logger,
      metrics,
      onReview: (event) => metrics.observeReview(event),
      ...extra,
    });
    const scrape = async () => {
      const response = await app!.inject({ method: 'GET', url: '/metrics' });
      expect(response.statusCode).toBe(200);
      expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
      return response.body;
    };
    const post = (url: string, body: string) => app!.inject({ method: 'POST', url, headers: { 'content-type': 'application/json' }, payload: body });
    return { metrics, scrape, post };
  }

  it('counts reviews by endpoint, operation, kind and verdict, and times them per endpoint and per policy', async () => {
    const { scrape, post } = await serve([
      policy('validating', 'no-bad', (r) => (r.object?.metadata?.name === 'bad' ? { allowed: false, message: 'bad name' } : undefined)),
      policy('mutating', 'label', (r) => {
        r.object!.metadata = { ...r.object!.metadata, labels: { a: 'b' } };
      }),
    ]);
    for (const name of ['good', 'bad', 'bad']) expect((await post('/validate', review(pod(name)))).statusCode).toBe(200);
    expect((await post('/mutate', review(pod('x')))).statusCode).toBe(200);
    const deployment = { group: 'apps', version: 'v1', kind: 'Deployment' };
    expect((await post('/validate', review({ apiVersion: 'apps/v1', kind: 'Deployment' }, deployment, 'UPDATE'))).statusCode).toBe(200);

    const text = await scrape();
    const reviews = (labels: Record<string, string>) => sample(text, 'tollgate_reviews_total', labels);
    expect(reviews({ endpoint: 'validate', operation: 'CREATE', kind: 'Pod', verdict: 'allowed' })).toBe(1);
    expect(reviews({ endpoint: 'validate', operation: 'CREATE', kind: 'Pod', verdict: 'denied' })).toBe(2);
    expect(reviews({ endpoint: 'mutate', operation: 'CREATE', kind: 'Pod', verdict: 'patched' })).toBe(1);
    expect(reviews({ endpoint: 'validate', operation: 'UPDATE', kind: 'apps/Deployment', verdict: 'allowed' })).toBe(1);
    expect(sample(text, 'tollgate_review_duration_seconds_count', { endpoint: 'validate' })).toBe(4);
    expect(sample(text, 'tollgate_review_duration_seconds_bucket', { endpoint: 'validate', le: '0.0005' })).toBeGreaterThanOrEqual(0);
    expect(sample(text, 'tollgate_policy_duration_seconds_count', { policy: 'no-bad', endpoint: 'validate' })).toBe(4);
    expect(sample(text, 'tollgate_policy_duration_seconds_count', { policy: 'label', endpoint: 'mutate' })).toBe(1);
    // Never the namespace, name or uid of an object as a label.
    expect(text).not.toMatch(/namespace=|name="|uid=/);
  });

  it('counts policy errors by code and time-outs by policy', async () => {
    const { scrape, post } = await serve([
      policy('validating', 'thrower', () => {
        throw new Error('boom');
      }),
      policy('validating', 'sleeper', () => new Promise((resolve) => setTimeout(resolve, 200)), 20),
    ]);
    await post('/validate', review(pod('a')));
    await post('/validate', review(pod('b')));
    const text = await scrape();
    expect(sample(text, 'tollgate_policy_errors_total', { policy: 'thrower', code: 'TG_ERR_POLICY_FAILED' })).toBe(2);
    expect(sample(text, 'tollgate_policy_errors_total', { policy: 'sleeper', code: 'TG_ERR_POLICY_TIMEOUT' })).toBe(2);
    expect(sample(text, 'tollgate_policy_timeouts_total', { policy: 'sleeper' })).toBe(2);
    expect(sample(text, 'tollgate_policy_timeouts_total', { policy: 'thrower' })).toBeUndefined();
  });

  it('keeps the kind label bounded whatever kinds a client sends', async () => {
    const { scrape, post } = await serve([]);
    for (let i = 0; i < MAX_KIND_LABELS + 20; i++) {
      await post('/validate', review(pod('p'), { group: 'evil.io', version: 'v1', kind: `Kind${i}` }));
    }
    const text = await scrape();
    const kinds = new Set([...text.matchAll(/^tollgate_reviews_total\{[^}]*kind="([^"]*)"/gm)].map((m) => m[1]));
    expect(kinds.size).toBe(MAX_KIND_LABELS + 1);
    expect(sample(text, 'tollgate_reviews_total', { kind: OTHER_KIND })).toBe(20);
  });

  it('counts reloads by result and exports the certificate expiry', async () => {
    const { metrics, scrape } = await serve([]);
    metrics.observeReload('success');
    metrics.observeReload('failure');
    metrics.observeReload('failure');
    const { cert } = createServingCertificate('tollgate', { dns: ['tollgate.default.svc'] }, 7);
    metrics.observeCertificate(cert);
    const text = await scrape();
    expect(sample(text, 'tollgate_config_reloads_total', { result: 'success' })).toBe(1);
    expect(sample(text, 'tollgate_config_reloads_total', { result: 'failure' })).toBe(2);
    expect(sample(text, 'tollgate_config_reloads_total', { result: 'unchanged' })).toBe(0);
    const expiry = sample(text, 'tollgate_certificate_expiry_timestamp_seconds');
    expect(expiry).toBe(Math.floor(Date.parse(new X509Certificate(cert).validTo) / 1000));
    expect(expiry! * 1000 - Date.now()).toBeGreaterThan(6 * 86_400_000);
    expect(expiry! * 1000 - Date.now()).toBeLessThan(8 * 86_400_000);
  });

  it('answers 405 to a wrong method on /metrics and exports no process metrics unless asked', async () => {
    const { scrape } = await serve([]);
    expect((await app!.inject({ method: 'POST', url: '/metrics' })).statusCode).toBe(405);
    expect(await scrape()).not.toContain('process_resident_memory_bytes');
    const withProcess = new TollgateMetrics({ processMetrics: true });
    expect((await withProcess.scrape()).body).toContain('process_resident_memory_bytes');
  });

  it('is wired into the running server: the serving certificate expiry, reviews and process metrics', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'tollgate-metrics-'));
    const running = await startServer({ logger, port: 0, host: '127.0.0.1', devCertDir: dir });
    try {
      const cert = await readFile(path.join(dir, DEV_CERT_FILE), 'utf8');
      const answer = await running.app.inject({ method: 'POST', url: '/validate', headers: { 'content-type': 'application/json' }, payload: review(pod('x')) });
      expect(answer.statusCode).toBe(200);
      const text = (await running.app.inject({ method: 'GET', url: '/metrics' })).body;
      expect(sample(text, 'tollgate_certificate_expiry_timestamp_seconds')).toBe(Math.floor(Date.parse(new X509Certificate(cert).validTo) / 1000));
      expect(sample(text, 'tollgate_reviews_total', { endpoint: 'validate', kind: 'Pod' })).toBe(1);
      expect(sample(text, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    } finally {
      await running.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
