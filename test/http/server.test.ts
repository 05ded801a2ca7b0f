import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../../src/http/server.js';
import { Readiness, SHUTDOWN_CONDITION } from '../../src/http/readiness.js';
import { createEngine } from '../../src/engine/create.js';
import { defaultConfig } from '../../src/config/load.js';
import { memoryLogger } from '../helpers/logs.js';
import { decodePatch } from '../helpers/policies.js';
import { pod, reviewFor } from '../helpers/reviews.js';

let app: FastifyInstance;
const logs = memoryLogger();
const readiness = new Readiness();

beforeAll(async () => {
  const engine = await createEngine(defaultConfig(), logs.logger);
  app = await buildServer({ engine: { current: engine }, logger: logs.logger, readiness, bodyLimit: 1024 * 1024 });
});
afterAll(() => app.close());

const post = (url: string, payload: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
  app.inject({ method: 'POST', url, payload: typeof payload === 'string' ? payload : JSON.stringify(payload), headers });

describe('review endpoints', () => {
  it('POST /validate denies a pod from a disallowed registry with status 403 and the reason', async () => {
    const response = await post('/validate?timeout=10s', reviewFor(pod(['evil.io/x']), { uid: 'uid-1' }));
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toContain('application/json');
    const body = response.json();
    expect(body).toMatchObject({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'uid-1', allowed: false, status: { code: 403 } } });
    expect(body.response.status.message).toContain('[image-registry-allowlist] spec.containers[0].image');
  });

  it('POST /mutate answers a v1beta1 review in v1beta1 with a JSONPatch', async () => {
    const response = await post('/mutate', reviewFor(pod(['nginx']), { uid: 'uid-2', apiVersion: 'admission.k8s.io/v1beta1' }));
    const body = response.json();
    expect(body.apiVersion).toBe('admission.k8s.io/v1beta1');
    expect(body.response).toMatchObject({ uid: 'uid-2', allowed: true, patchType: 'JSONPatch' });
    expect(decodePatch(body.response.patch)).toEqual([{ op: 'add', path: '/metadata/annotations', value: { 'tollgate.dev/admitted': 'true' } }]);
  });

  it('runs only the validating chain on /validate and only the mutating chain on /mutate', async () => {
    const validated = (await post('/validate', reviewFor(pod(['nginx'])))).json();
    expect(validated.response).toEqual({ uid: expect.any(String), allowed: true });
    const mutated = (await post('/mutate', reviewFor(pod(['evil.io/x'])))).json();
    expect(mutated.response.allowed).toBe(true);
  });

  it('answers once: no warning from fastify of a reply sent twice, on either endpoint or the health checks', async () => {
    const before = logs.lines().length;
    for (const url of ['/validate', '/mutate']) expect((await post(url, reviewFor(pod(['nginx'])))).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    expect(logs.lines().slice(before).filter((line) => (line.level as number) >= 40)).toEqual([]);
  });

  it('accepts a charset in the content type', async () => {
    expect((await post('/validate', reviewFor(pod(['nginx'])), { 'content-type': 'application/json; charset=utf-8' })).statusCode).toBe(200);
  });

  it('writes one info line per review with uid, kind, namespace/name, operation, verdict and duration, never the object', async () => {
    await post('/validate', reviewFor(pod(['evil.io/secret-image']), { uid: 'uid-log' }));
    // Written at the end of the event loop's turn, after the turn's answers.
    await new Promise((resolve) => setImmediate(resolve));
    const lines = logs.lines().filter((l) => l.uid === 'uid-log');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 30, msg: 'review', endpoint: 'validate', kind: 'v1/Pod', resource: 'default/web', operation: 'CREATE', verdict: 'denied' });
    expect(typeof lines[0]?.durationMs).toBe('number');
    expect(JSON.stringify(lines[0])).not.toContain('"spec"');
  });
});

describe('malformed input gets a 4xx with a reason, and the server keeps serving', () => {
  it.each([
    ['not JSON', '{"apiVersion":', 400, 'TG_ERR_REVIEW_NOT_JSON'],
    ['an empty body', '', 400, 'TG_ERR_REVIEW_NOT_JSON'],
    ['not an AdmissionReview', { hello: 'world' }, 400, 'TG_ERR_REVIEW_INVALID'],
    ['no request', { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }, 400, 'TG_ERR_REVIEW_INVALID'],
    ['an unknown version', { apiVersion: 'admission.k8s.io/v9', kind: 'AdmissionReview', request: {} }, 400, 'TG_ERR_REVIEW_VERSION'],
    ['a __proto__ key', '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"__proto__":{"x":1}}}', 400, 'TG_ERR_REVIEW_NOT_JSON'],
  ])('%s', async (_what, payload, status, code) => {
    const response = await post('/validate', payload);
    expect(response.statusCode).toBe(status);
    expect(response.json()).toMatchObject({ code, statusCode: status, message: expect.any(String) });
    expect((await post('/validate', reviewFor(pod(['nginx'])))).statusCode).toBe(200);
  });

  it('answers 415 to a body that is not application/json', async () => {
    const response = await post('/validate', 'x', { 'content-type': 'text/plain' });
    expect(response.statusCode).toBe(415);
    expect(response.json().code).toBe('TG_ERR_REVIEW_CONTENT_TYPE');
  });

  it('answers 413 to a body over the limit', async () => {
    const huge = JSON.stringify({ ...reviewFor(pod(['nginx'])), padding: 'x'.repeat(2 * 1024 * 1024) });
    const response = await post('/validate', huge);
    expect(response.statusCode).toBe(413);
    expect(response.json().code).toBe('TG_ERR_REVIEW_TOO_LARGE');
  });

  it('answers 404 to unknown paths and 405 (with Allow) to wrong methods', async () => {
    expect((await app.inject({ method: 'GET', url: '/nope' })).statusCode).toBe(404);
    const wrong = await app.inject({ method: 'GET', url: '/validate' });
    expect(wrong.statusCode).toBe(405);
    expect(wrong.headers.allow).toBe('POST');
    expect((await app.inject({ method: 'POST', url: '/healthz' })).statusCode).toBe(405);
    expect((await app.inject({ method: 'PUT', url: '/mutate' })).statusCode).toBe(405);
  });
});

describe('health', () => {
  it('/healthz is ok while /readyz follows readiness conditions', async () => {
    expect((await app.inject({ method: 'GET', url: '/healthz' })).body).toBe('ok');
    expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    readiness.block('certificate', 'not loaded');
    const notReady = await app.inject({ method: 'GET', url: '/readyz' });
    expect(notReady.statusCode).toBe(503);
    expect(notReady.body).toContain('certificate: not loaded');
    readiness.clear('certificate');
    expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
  });
});

describe('during shutdown', () => {
  it('closes the connection after every answer, on every route, and keeps it open before', async () => {
    const requests = [
      () => post('/validate', reviewFor(pod(['nginx']))),
      () => app.inject({ method: 'GET', url: '/healthz' }),
      () => app.inject({ method: 'GET', url: '/validate' }),
      () => app.inject({ method: 'GET', url: '/no-such-route' }),
    ];
    for (const send of requests) expect((await send()).headers.connection).not.toBe('close');
    readiness.block(SHUTDOWN_CONDITION, 'shutting down');
    try {
      const statuses: number[] = [];
      for (const send of requests) {
        const response = await send();
        statuses.push(response.statusCode);
        expect(response.headers.connection).toBe('close');
      }
      expect(statuses).toEqual([200, 200, 405, 404]);
    } finally {
      readiness.clear(SHUTDOWN_CONDITION);
    }
  });
});
