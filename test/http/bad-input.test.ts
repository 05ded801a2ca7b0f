// The catalogue of bad input: each body or header with the answer it gets. A malformed review is a
// 4xx JSON error naming what was wrong; an odd but well-formed one gets a verdict; nothing crashes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import fastJsonPatch from 'fast-json-patch';
import { parseConfig } from '../../src/config/load.js';
import { createEngine } from '../../src/engine/create.js';
import { buildServer, MAX_REVIEW_BODY_BYTES } from '../../src/http/server.js';
import { createLogger } from '../../src/log/logger.js';
import { decodePatch } from '../helpers/policies.js';

const CONFIG = (failurePolicy: 'Fail' | 'Ignore') => `policies:
  - module: annotation-injection
    failurePolicy: ${failurePolicy}
    config: { annotations: { "tollgate.dev/admitted": "true" } }
  - module: image-registry-allowlist
    config: { registries: [docker.io/library, registry.k8s.io] }
`;

const GVK = { group: '', version: 'v1', kind: 'Pod' };
const GVR = { group: '', version: 'v1', resource: 'pods' };
const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default' }, spec: { containers: [{ name: 'c', image: 'nginx' }] } };
const request = (extra: Record<string, unknown> = {}) => ({ uid: 'uid-1', kind: GVK, resource: GVR, operation: 'CREATE', namespace: 'default', object: pod, ...extra });
const review = (extra: Record<string, unknown> = {}, top: Record<string, unknown> = {}) =>
  JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: request(extra), ...top });
const without = (key: string) => {
  const r: Record<string, unknown> = request();
  delete r[key];
  return JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: r });
};

/** An object `depth` levels deep, built as text: JSON.stringify itself would overflow the stack. */
function deepJson(depth: number): string {
  return `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
}
/** A pod review with `depth` levels of nesting in managedFields (as a hostile fieldsV1) or in annotations. */
function deepReview(depth: number, operation = 'CREATE', where: 'managedFields' | 'annotations' = 'managedFields'): string {
  const metadata = where === 'managedFields' ? `{"name":"deep","managedFields":[{"manager":"x","fieldsV1":${deepJson(depth)}}]}` : `{"name":"deep","annotations":{"deep":${deepJson(depth)}}}`;
  return `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"deep","kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},"operation":"${operation}","object":{"apiVersion":"v1","kind":"Pod","metadata":${metadata},"spec":{"containers":[{"name":"c","image":"nginx"}]}}}}`;
}

type Case = [what: string, status: number, code: string | undefined, body: string, headers?: Record<string, string>];

const JSON_TYPE = { 'content-type': 'application/json' };

const catalogue: Case[] = [
  // Not JSON at all
  ['malformed JSON', 400, 'TG_ERR_REVIEW_NOT_JSON', '{"apiVersion": '],
  ['trailing garbage', 400, 'TG_ERR_REVIEW_NOT_JSON', `${review()}x`],
  ['an empty body', 400, 'TG_ERR_REVIEW_NOT_JSON', ''],
  // JSON, but not an AdmissionReview
  ['null', 400, 'TG_ERR_REVIEW_INVALID', 'null'],
  ['an array', 400, 'TG_ERR_REVIEW_INVALID', '[]'],
  ['a string', 400, 'TG_ERR_REVIEW_INVALID', '"AdmissionReview"'],
  ['a number', 400, 'TG_ERR_REVIEW_INVALID', '42'],
  ['an empty object', 400, 'TG_ERR_REVIEW_INVALID', '{}'],
  ['an unknown apiVersion', 400, 'TG_ERR_REVIEW_VERSION', review({}, { apiVersion: 'admission.k8s.io/v2' })],
  ['apiVersion of another group', 400, 'TG_ERR_REVIEW_VERSION', review({}, { apiVersion: 'v1' })],
  ['apiVersion as a number', 400, 'TG_ERR_REVIEW_VERSION', review({}, { apiVersion: 1 })],
  ['no apiVersion', 400, 'TG_ERR_REVIEW_INVALID', JSON.stringify({ kind: 'AdmissionReview', request: request() })],
  ['kind Pod', 400, 'TG_ERR_REVIEW_INVALID', review({}, { kind: 'Pod' })],
  ['no kind', 400, 'TG_ERR_REVIEW_INVALID', JSON.stringify({ apiVersion: 'admission.k8s.io/v1', request: request() })],
  ['no request', 400, 'TG_ERR_REVIEW_INVALID', JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' })],
  ['request null', 400, 'TG_ERR_REVIEW_INVALID', review({}, { request: null })],
  ['request an array', 400, 'TG_ERR_REVIEW_INVALID', review({}, { request: [request()] })],
  ['a response instead of a request', 400, 'TG_ERR_REVIEW_INVALID', review({}, { request: undefined, response: { uid: 'u', allowed: true } })],
  // The request's fields: missing, null, wrong types
  ['no uid', 400, 'TG_ERR_REVIEW_INVALID', without('uid')],
  ['an empty uid', 400, 'TG_ERR_REVIEW_INVALID', review({ uid: '' })],
  ['uid a number', 400, 'TG_ERR_REVIEW_INVALID', review({ uid: 7 })],
  ['uid null', 400, 'TG_ERR_REVIEW_INVALID', review({ uid: null })],
  ['uid of 10,000 characters', 400, 'TG_ERR_REVIEW_INVALID', review({ uid: 'u'.repeat(10_000) })],
  ['no kind in the request', 400, 'TG_ERR_REVIEW_INVALID', without('kind')],
  ['request kind a string', 400, 'TG_ERR_REVIEW_INVALID', review({ kind: 'Pod' })],
  ['request kind without its kind', 400, 'TG_ERR_REVIEW_INVALID', review({ kind: { group: '', version: 'v1' } })],
  ['request kind.kind a number', 400, 'TG_ERR_REVIEW_INVALID', review({ kind: { group: '', version: 'v1', kind: 1 } })],
  ['no resource', 400, 'TG_ERR_REVIEW_INVALID', without('resource')],
  ['resource null', 400, 'TG_ERR_REVIEW_INVALID', review({ resource: null })],
  ['no operation', 400, 'TG_ERR_REVIEW_INVALID', without('operation')],
  ['operation PATCH', 400, 'TG_ERR_REVIEW_INVALID', review({ operation: 'PATCH' })],
  ['operation in lower case', 400, 'TG_ERR_REVIEW_INVALID', review({ operation: 'create' })],
  ['object a string', 400, 'TG_ERR_REVIEW_INVALID', review({ object: '{"kind":"Pod"}' })],
  ['object an array', 400, 'TG_ERR_REVIEW_INVALID', review({ object: [pod] })],
  ['object a number', 400, 'TG_ERR_REVIEW_INVALID', review({ object: 0 })],
  ['oldObject a string', 400, 'TG_ERR_REVIEW_INVALID', review({ oldObject: 'x' })],
  ['namespace a number', 400, 'TG_ERR_REVIEW_INVALID', review({ namespace: 5 })],
  ['name null', 400, 'TG_ERR_REVIEW_INVALID', review({ name: null })],
  ['dryRun the string "true"', 400, 'TG_ERR_REVIEW_INVALID', review({ dryRun: 'true' })],
  ['userInfo a string', 400, 'TG_ERR_REVIEW_INVALID', review({ userInfo: 'admin' })],
  ['subResource a number', 400, 'TG_ERR_REVIEW_INVALID', review({ subResource: 1 })],
  // Prototype keys anywhere are refused before any policy sees them (see SECURITY.md)
  ['__proto__ in the object', 400, 'TG_ERR_REVIEW_NOT_JSON', review({ object: 'PLACEHOLDER' }).replace('"PLACEHOLDER"', '{"metadata":{"__proto__":{"polluted":true}}}')],
  ['__proto__ at the top', 400, 'TG_ERR_REVIEW_NOT_JSON', review().replace('{"apiVersion"', '{"__proto__":{"allowed":true},"apiVersion"')],
  ['constructor.prototype in the object', 400, 'TG_ERR_REVIEW_NOT_JSON', review({ object: 'PLACEHOLDER' }).replace('"PLACEHOLDER"', '{"metadata":{"labels":{"constructor":{"prototype":{"x":"1"}}}}}')],
  ['__proto__ spelled in \\u escapes', 400, 'TG_ERR_REVIEW_NOT_JSON', review({ object: 'PLACEHOLDER' }).replace('"PLACEHOLDER"', '{"metadata":{"\\u005f\\u005fproto\\u005f\\u005f":{"polluted":true}}}')],
  ['constructor spelled in \\u escapes', 400, 'TG_ERR_REVIEW_NOT_JSON', review({ object: 'PLACEHOLDER' }).replace('"PLACEHOLDER"', '{"metadata":{"labels":{"\\u0063onstructor":{"prototype":{"x":"1"}}}}}')],
  ['__proto__ with one letter escaped', 400, 'TG_ERR_REVIEW_NOT_JSON', review({ object: 'PLACEHOLDER' }).replace('"PLACEHOLDER"', '{"metadata":{"_\\u005Fproto__":{"polluted":true}}}')],
  ['constructor with one letter escaped', 400, 'TG_ERR_REVIEW_NOT_JSON', review({ object: 'PLACEHOLDER' }).replace('"PLACEHOLDER"', '{"metadata":{"labels":{"constr\\u0075ctor":{"prototype":{"x":"1"}}}}}')],
  ['a byte order mark before the JSON', 200, undefined, `\uFEFF${review()}`],
  ['"constructor" as a plain label value', 200, undefined, review({ object: 'PLACEHOLDER' }).replace('"PLACEHOLDER"', '{"metadata":{"labels":{"role":"constructor"}}}')],
  // Content types
  ['content type text/plain', 415, 'TG_ERR_REVIEW_CONTENT_TYPE', review(), { 'content-type': 'text/plain' }],
  ['content type application/x-www-form-urlencoded', 415, 'TG_ERR_REVIEW_CONTENT_TYPE', review(), { 'content-type': 'application/x-www-form-urlencoded' }],
  ['content type application/yaml', 415, 'TG_ERR_REVIEW_CONTENT_TYPE', review(), { 'content-type': 'application/yaml' }],
  ['no content type', 415, 'TG_ERR_REVIEW_CONTENT_TYPE', review(), {}],
  ['content type with a charset', 200, undefined, review(), { 'content-type': 'application/json; charset=utf-8' }],
  ['content type in upper case', 200, undefined, review(), { 'content-type': 'Application/JSON' }],
  // Odd but well-formed: a verdict
  ['a UTF-8 byte-order mark before the JSON (fastify strips it)', 200, undefined, `\uFEFF${review()}`],
  ['no object on CREATE (nothing to judge)', 200, undefined, without('object')],
  ['object null on CREATE', 200, undefined, review({ object: null })],
  ['DELETE with object null', 200, undefined, review({ operation: 'DELETE', object: null, oldObject: pod })],
  ['CONNECT with a PodExecOptions object', 200, undefined, review({ operation: 'CONNECT', subResource: 'exec', object: { kind: 'PodExecOptions', apiVersion: 'v1', command: ['sh'] } })],
  ['v1beta1', 200, undefined, review({}, { apiVersion: 'admission.k8s.io/v1beta1' })],
  ['unknown fields in the envelope and request', 200, undefined, review({ futureField: { x: 1 } }, { alsoNew: true })],
  ['a ConfigMap (no pod spec)', 200, undefined, review({ kind: { group: '', version: 'v1', kind: 'ConfigMap' }, resource: { group: '', version: 'v1', resource: 'configmaps' }, object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: { a: 'b' } } })],
  ['a custom resource', 200, undefined, review({ kind: { group: 'acme.io', version: 'v1', kind: 'Widget' }, resource: { group: 'acme.io', version: 'v1', resource: 'widgets' }, object: { apiVersion: 'acme.io/v1', kind: 'Widget', spec: { containers: [{ image: 'evil.io/x' }] } } })],
];

describe('bad input catalogue', () => {
  let app: FastifyInstance;
  let failClosed: FastifyInstance;
  const logger = createLogger({ level: 'silent' });

  beforeAll(async () => {
    app = await buildServer({ engine: { current: await createEngine(parseConfig(CONFIG('Ignore'), 'test', process.cwd()), logger) }, logger });
    failClosed = await buildServer({ engine: { current: await createEngine(parseConfig(CONFIG('Fail'), 'test', process.cwd()), logger) }, logger });
  });
  afterAll(async () => {
    await app.close();
    await failClosed.close();
  });

  const post = (url: string, body: string | Buffer, headers: Record<string, string> = JSON_TYPE, server = app) =>
    server.inject({ method: 'POST', url, headers, payload: body });

  it.each(catalogue)('%s -> %i %s', async (_what, status, code, body, headers = JSON_TYPE) => {
    for (const url of ['/validate', '/mutate']) {
      const response = await post(url, body, headers);
      expect(response.statusCode, `${url}: ${response.body.slice(0, 300)}`).toBe(status);
      expect(response.headers['content-type']).toMatch(/^application\/json/);
      const answer = response.json() as Record<string, unknown>;
      if (code) {
        expect(answer).toMatchObject({ code, statusCode: status });
        expect(String(answer.message).length).toBeGreaterThan(5);
      } else {
        expect(answer).toMatchObject({ kind: 'AdmissionReview', response: { allowed: expect.any(Boolean) } });
        expect(String((answer.response as { uid: string }).uid)).toBe('uid-1');
      }
    }
  });

  it('names the bad field in the message', async () => {
    expect((await post('/validate', review({ operation: 'PATCH' }))).json().message).toMatch(/request\.operation/);
    expect((await post('/validate', without('uid'))).json().message).toMatch(/request\.uid is required/);
    expect((await post('/validate', review({ object: 'x' }))).json().message).toMatch(/request\.object/);
  });

  it('duplicate keys: the last one wins, as in Go and the apiserver (which never sends them)', async () => {
    const body = review().replace('"uid":"uid-1"', '"uid":"first","uid":"second"').replace('"image":"nginx"', '"image":"nginx","image":"evil.io/x"');
    const response = await post('/validate', body);
    expect(response.statusCode).toBe(200);
    const answer = response.json().response;
    expect(answer.uid).toBe('second');
    expect(answer.allowed).toBe(false);
    expect(answer.status.message).toContain('evil.io/x');
  });

  it('refuses a body over the limit with 413, and serves a large real one (5 MiB)', async () => {
    const padding = 'x'.repeat(MAX_REVIEW_BODY_BYTES);
    const huge = await post('/validate', review({ object: { ...pod, metadata: { ...pod.metadata, annotations: { pad: padding } } } }));
    expect(huge.statusCode).toBe(413);
    expect(huge.json().code).toBe('TG_ERR_REVIEW_TOO_LARGE');
    const big = { ...pod, metadata: { ...pod.metadata, annotations: { data: 'y'.repeat(2.5 * 1024 * 1024) } } };
    const large = await post('/mutate', review({ object: big, oldObject: big, operation: 'UPDATE' }));
    expect(large.statusCode).toBe(200);
    expect(decodePatch(large.json().response.patch)).toEqual([{ op: 'add', path: '/metadata/annotations/tollgate.dev~1admitted', value: 'true' }]);
  });

  describe.each([1_000, 10_000, 100_000])('managedFields nested %i levels deep', (depth) => {
    it('gets a verdict on /validate', async () => {
      const response = await post('/validate', deepReview(depth));
      expect(response.statusCode).toBe(200);
      expect(response.json().response).toMatchObject({ uid: 'deep', allowed: true });
    });

    it('gets a verdict on /mutate, fail-open (Ignore) and fail-closed (Fail), and the server keeps serving', async () => {
      const open = await post('/mutate', deepReview(depth));
      expect(open.statusCode).toBe(200);
      const openAnswer = open.json().response;
      expect(openAnswer.uid).toBe('deep');
      expect(openAnswer.allowed).toBe(true);

      const closed = await post('/mutate', deepReview(depth), JSON_TYPE, failClosed);
      expect(closed.statusCode).toBe(200);
      const closedAnswer = closed.json().response;
      if (closedAnswer.allowed) {
        // Shallow enough to copy and diff: patched like any other pod.
        expect(decodePatch(closedAnswer.patch)).toEqual([{ op: 'add', path: '/metadata/annotations', value: { 'tollgate.dev/admitted': 'true' } }]);
      } else {
        expect(closedAnswer.status).toMatchObject({ code: 403 });
        expect(closedAnswer.status.message).toMatch(/annotation-injection.*nested too deeply/);
      }
      expect((await post('/mutate', review())).statusCode).toBe(200);
    });
  });

  it('patches annotations that hold a value nested 10,000 levels deep: the patching annotation policy adds its key and never walks the rest', async () => {
    // (An editing policy that touches such a member fails as too deep to copy: test/engine/engine.test.ts.)
    for (const server of [failClosed, app]) {
      const answer = (await post('/mutate', deepReview(10_000, 'CREATE', 'annotations'), JSON_TYPE, server)).json().response;
      expect(answer.allowed).toBe(true);
      expect(decodePatch(answer.patch)).toEqual([{ op: 'add', path: '/metadata/annotations/tollgate.dev~1admitted', value: 'true' }]);
    }
  });

  it('patches a pod nested 10,000 levels deep in managedFields, which the annotation policy never walks', async () => {
    const closed = (await post('/mutate', deepReview(10_000), JSON_TYPE, failClosed)).json().response;
    expect(closed.allowed).toBe(true);
    expect(decodePatch(closed.patch)).toEqual([{ op: 'add', path: '/metadata/annotations', value: { 'tollgate.dev/admitted': 'true' } }]);
  });

  it('keeps unicode and escapes in names and annotation keys intact, and patches with escaped pointers', async () => {
    const object = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: 'p\u00e9\u{1F600}\u2028\u0000',
        annotations: { 'a/b~c': '\u{1F600}', 'ünïcødé/ключ': 'x\ny', '\\"quoted"': '\t' },
      },
      spec: { containers: [{ name: '\u202Eevil', image: 'nginx' }] },
    };
    const response = await post('/mutate', review({ object }));
    expect(response.statusCode).toBe(200);
    const patch = decodePatch(response.json().response.patch);
    expect(patch).toEqual([{ op: 'add', path: '/metadata/annotations/tollgate.dev~1admitted', value: 'true' }]);
    const patched = fastJsonPatch.applyPatch(structuredClone(object), patch as fastJsonPatch.Operation[]).newDocument;
    expect(patched.metadata.annotations).toEqual({ ...object.metadata.annotations, 'tollgate.dev/admitted': 'true' });

    const bidi = await post('/validate', review({ object: { ...object, spec: { containers: [{ name: 'c', image: 'evil.io/\u202Ex' }] } } }));
    expect(bidi.json().response.allowed).toBe(false);
    // A lone surrogate in the body is still answered with valid JSON.
    const lone = await post('/validate', review().replace('"name":"p"', '"name":"\\ud800"'));
    expect(lone.statusCode).toBe(200);
  });

  it('reads bytes that are not UTF-8 as U+FFFD, as the apiserver never sends them, and answers', async () => {
    const [before, after] = review().split('"name":"p"') as [string, string];
    const body = Buffer.concat([Buffer.from(`${before}"name":"`), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from(`"${after}`)]);
    const response = await post('/validate', body);
    expect(response.statusCode).toBe(200);
    expect(response.json().response).toMatchObject({ uid: 'uid-1', allowed: true });
  });

  it.each([
    ['GET', '/validate', 405],
    ['PUT', '/mutate', 405],
    ['POST', '/validate/', 404],
    ['POST', '//validate', 404],
    ['POST', '/VALIDATE', 404],
    ['POST', '/validate%2f', 404],
    ['GET', '/', 404],
    ['GET', '/healthz/', 404],
  ])('%s %s -> %i, never a redirect', async (method, url, status) => {
    const response = await app.inject({ method: method as 'GET', url, headers: JSON_TYPE, ...(method === 'GET' ? {} : { payload: review() }) });
    expect(response.statusCode).toBe(status);
    expect(response.headers.location).toBeUndefined();
  });
});
