// tollgate's Prometheus metrics: one prom-client Registry of its own (never the global one), fed
// from the server's per-review event, and served on `GET /metrics`.
import { X509Certificate } from 'node:crypto';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { ReviewEndpoint, ReviewEvent } from '../http/server.js';
import { verdictName } from '../admission/response.js';
import { droppedLogLines } from '../log/logger.js';
import { FastCounter, FastHistogram } from './series.js';

/** Seconds; starts at 0.5 ms because a typical review is answered in well under a millisecond. */
export const LATENCY_BUCKETS_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * Distinct `kind` label values kept before the rest are counted as `other`. The kind comes from the
 * apiserver, but anyone who reaches the endpoint can send any kind: label values must stay bounded.
 */
export const MAX_KIND_LABELS = 100;
export const OTHER_KIND = 'other';

export type ReloadResult = 'success' | 'failure' | 'unchanged';

export interface MetricsOptions {
  /** Also export the process's own metrics (RSS, CPU, event-loop lag, GC): on in the server, off in tests. */
  processMetrics?: boolean;
}

export class TollgateMetrics {
  readonly registry = new Registry();
  // The three a review always touches are the fast kind (./series.ts); the rest are rare.
  private readonly reviews: FastCounter<'endpoint' | 'operation' | 'kind' | 'verdict'>;
  private readonly reviewDuration: FastHistogram<'endpoint'>;
  private readonly policyDuration: FastHistogram<'policy' | 'endpoint'>;
  private readonly policyErrors: Counter<'policy' | 'code'>;
  private readonly policyTimeouts: Counter<'policy'>;
  private readonly shed: Counter<'endpoint'>;
  private readonly reloads: Counter<'result'>;
  private readonly certificateExpiry: Gauge;
  private readonly knownKinds = new Set<string>();

  constructor(options: MetricsOptions = {}) {
    const registers = [this.registry];
    this.reviews = new FastCounter(
      'tollgate_reviews_total',
      'Admission reviews answered, by endpoint, operation, kind (group/Kind) and verdict (allowed, denied, patched).',
      ['endpoint', 'operation', 'kind', 'verdict'],
      this.registry,
    );
    this.reviewDuration = new FastHistogram(
      'tollgate_review_duration_seconds',
      'Time from a decoded review to its encoded answer, by endpoint.',
      ['endpoint'],
      LATENCY_BUCKETS_SECONDS,
      this.registry,
    );
    this.policyDuration = new FastHistogram(
      'tollgate_policy_duration_seconds',
      'Time one policy took on one review, by policy name and endpoint.',
      ['policy', 'endpoint'],
      LATENCY_BUCKETS_SECONDS,
      this.registry,
    );
    this.policyErrors = new Counter({
      name: 'tollgate_policy_errors_total',
      help: 'Policy failures (threw, bad result, time-out, object too deep), by policy name and error code.',
      labelNames: ['policy', 'code'],
      registers,
    });
    this.policyTimeouts = new Counter({
      name: 'tollgate_policy_timeouts_total',
      help: 'Policies that did not answer within their timeoutMs, by policy name.',
      labelNames: ['policy'],
      registers,
    });
    this.shed = new Counter({
      name: 'tollgate_reviews_rejected_overload_total',
      help: 'Reviews answered 503 at once because too many were already in flight, by endpoint.',
      labelNames: ['endpoint'],
      registers,
    });
    this.reloads = new Counter({
      name: 'tollgate_config_reloads_total',
      help: 'Config reload attempts, by result (success, failure: refused and the old config kept, unchanged).',
      labelNames: ['result'],
      registers,
    });
    this.certificateExpiry = new Gauge({
      name: 'tollgate_certificate_expiry_timestamp_seconds',
      help: 'Unix time at which the serving certificate expires (its notAfter); alert well before it.',
      registers,
    });
    let droppedSoFar = 0;
    new Counter({
      name: 'tollgate_log_lines_dropped_total',
      help: 'Log lines dropped because stdout would not take them and 16 MiB were already waiting.',
      registers,
      collect() {
        const dropped = droppedLogLines();
        this.inc(dropped - droppedSoFar);
        droppedSoFar = dropped;
      },
    });
    for (const endpoint of ['mutate', 'validate'] as const) this.shed.inc({ endpoint }, 0);
    for (const result of ['success', 'failure', 'unchanged'] as const) this.reloads.inc({ result }, 0);
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry });
  }

  /** The per-review hook (`buildServer`'s `onReview`): cheap, and every label from a small closed set. */
  observeReview(event: ReviewEvent): void {
    const { endpoint, request, outcome } = event;
    const verdict = verdictName(outcome.verdict);
    this.reviews.inc(endpoint, request.operation, this.kindLabel(request.kind.group, request.kind.kind), verdict);
    this.reviewDuration.observe(event.durationMs / 1000, endpoint);
    for (const policy of outcome.policies) {
      this.policyDuration.observe(policy.durationMs / 1000, policy.policy, endpoint);
      if (policy.result === 'error' && policy.error) {
        this.policyErrors.inc({ policy: policy.policy, code: policy.error.code });
        if (policy.error.code === 'TG_ERR_POLICY_TIMEOUT') this.policyTimeouts.inc({ policy: policy.policy });
      }
    }
  }

  /** A review refused because the server was at its in-flight limit. */
  observeOverload(endpoint: ReviewEndpoint): void {
    this.shed.inc({ endpoint });
  }

  observeReload(result: ReloadResult): void {
    this.reloads.inc({ result });
  }

  /** Sets the expiry gauge from the serving certificate (PEM; the first certificate is the leaf). Call again on rotation. */
  observeCertificate(pem: string | Buffer): void {
    this.observeCertificateExpiry(new Date(new X509Certificate(pem).validTo));
  }

  observeCertificateExpiry(notAfter: Date): void {
    this.certificateExpiry.set(Math.floor(notAfter.getTime() / 1000));
  }

  /** The body of `GET /metrics`, in the Prometheus text format. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  private kindLabel(group: string, kind: string): string {
    const label = group === '' ? kind : `${group}/${kind}`;
    if (this.knownKinds.has(label)) return label;
    if (this.knownKinds.size >= MAX_KIND_LABELS) return OTHER_KIND;
    this.knownKinds.add(label);
    return label;
  }
}
