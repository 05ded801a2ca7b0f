// Overload: past the in-flight limit a review is answered 503 at once (counted), instead of
// queueing past the apiserver's time-out; slots come back when answers (or connections) end.
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { PolicyEngine } from '../../src/engine/engine.js';
import { compileMatch } from '../../src/engine/match.js';
import { Readiness, SHUTDOWN_CONDITION } from '../../src/http/readiness.js';
import { buildServer } from '../../src/http/server.js';
import { createLogger } from '../../src/log/logger.js';
import { TollgateMetrics } from '../../src/metrics/metrics.js';

const REVIEW = JSON.stringify({
  apiVersion: 'admission.k8s.io/v1',
  kind: 'AdmissionReview',
  request: { uid: 'u', kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' }, operation: 'CREATE', object: {} },
});

/** A validating policy that holds every review until `release()`. */
function gate() {
  let waiting: Array<() => void> = [];
  let entered = 0;
  const policy = {
    kind: 'validating' as const,
    name: 'gate',
    module: 'gate',
    mode: 'enforce' as const,
    failurePolicy: 'Fail' as const,
    timeoutMs: 10_000,
    matches: compileMatch(undefined),
    instance: {
      validate: () =>
        new Promise<undefined>((resolve) => {
          entered++;
          waiting.push(() => resolve(undefined));
        }),
    },
  };
  return {
    policy,
    entered: () => entered,
    release() {
      for (const resolve of waiting) resolve();
      waiting = [];
    },
  };
}

async function until(condition: () => boolean, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('overload', () => {
  let app: FastifyInstance | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  async function serve(maxInFlightReviews: number, readiness = new Readiness()) {
    const held = gate();
    const metrics = new TollgateMetrics();
    app = await buildServer({ engine: { current: new PolicyEngine([held.policy]) }, logger: createLogger({ level: 'silent' }), metrics, maxInFlightReviews, readiness });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const url = `http://127.0.0.1:${(app.server.address() as net.AddressInfo).port}`;
    const review = (path = '/validate') => fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: REVIEW });
    return { held, metrics, url, review };
  }

  it('answers 503 TG_ERR_OVERLOADED at once past the limit, counts it, and recovers when answers go out', async () => {
    const { held, metrics, review, url } = await serve(2);
    const first = [review(), review()];
    await until(() => held.entered() === 2);

    const started = performance.now();
    const refused = await review();
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    const body = (await refused.json()) as { code: string; message: string };
    expect(body.code).toBe('TG_ERR_OVERLOADED');
    expect(body.message).toMatch(/overloaded \(2 reviews in flight\)/);
    expect((await review('/mutate')).status).toBe(503);
    // Health and metrics are not reviews: they are still answered.
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    const text = (await metrics.scrape()).body;
    expect(text).toMatch(/tollgate_reviews_rejected_overload_total\{endpoint="validate"\} 1/);
    expect(text).toMatch(/tollgate_reviews_rejected_overload_total\{endpoint="mutate"\} 1/);

    held.release();
    for (const response of await Promise.all(first)) expect(response.status).toBe(200);
    const after = [review(), review()];
    await until(() => held.entered() === 4);
    held.release();
    for (const response of await Promise.all(after)) expect(response.status).toBe(200);
  });

  it('gives the slot back when a client goes away before its answer', async () => {
    const { held, review, url } = await serve(1);
    const port = new URL(url).port;
    const socket = net.connect(Number(port), '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(`POST /validate HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: ${REVIEW.length}\r\n\r\n${REVIEW}`);
    await until(() => held.entered() === 1);
    expect((await review()).status).toBe(503);
    socket.destroy();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const next = review();
    await until(() => held.entered() === 2);
    held.release();
    expect((await next).status).toBe(200);
  });

  it('closes the connection of a refusal too once shutdown has begun, so the client moves on', async () => {
    const readiness = new Readiness();
    const { held, review, url } = await serve(1, readiness);
    const first = review();
    await until(() => held.entered() === 1);
    readiness.block(SHUTDOWN_CONDITION, 'shutting down');
    const port = Number(new URL(url).port);
    const head = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () =>
        socket.write(`POST /validate HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: ${REVIEW.length}\r\n\r\n${REVIEW}`),
      );
      let text = '';
      socket.on('data', (chunk) => {
        text += String(chunk);
        if (text.includes('\r\n\r\n')) {
          socket.destroy();
          resolve(text.split('\r\n\r\n')[0] ?? '');
        }
      });
      socket.on('error', reject);
    });
    expect(head).toMatch(/^HTTP\/1\.1 503/);
    expect(head.toLowerCase()).toContain('connection: close');
    held.release();
    expect((await first).status).toBe(200);
  });
});
