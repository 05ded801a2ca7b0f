// The review endpoints never crash: whatever the body, the answer is a well-formed AdmissionReview
// (echoing the uid, in the version asked) or a 4xx JSON error from the catalogue. Never a 5xx.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { parseConfig } from '../../src/config/load.js';
import { createEngine } from '../../src/engine/create.js';
import { ErrorCodes } from '../../src/errors.js';
import { buildServer } from '../../src/http/server.js';
import { createLogger } from '../../src/log/logger.js';
import { pod, reviewFor } from '../helpers/reviews.js';

const CONFIG = `policies:
  - module: annotation-injection
    config: { annotations: { "tollgate.dev/admitted": "true", "example.com/Key_1": "x" } }
  - module: image-registry-allowlist
    config: { registries: [docker.io/library] }
`;

const validReview = reviewFor(pod(['nginx'], { annotations: { x: 'y' } }), { uid: 'uid-1' });

const PATHS = [
  [], ['apiVersion'], ['kind'], ['request'], ['request', 'uid'], ['request', 'kind'], ['request', 'kind', 'kind'], ['request', 'kind', 'group'],
  ['request', 'resource'], ['request', 'operation'], ['request', 'namespace'], ['request', 'name'], ['request', 'subResource'], ['request', 'dryRun'],
  ['request', 'object'], ['request', 'oldObject'], ['request', 'userInfo'], ['request', 'object', 'metadata'], ['request', 'object', 'metadata', 'annotations'],
  ['request', 'object', 'metadata', 'name'], ['request', 'object', 'spec'], ['request', 'object', 'spec', 'containers'], ['request', 'object', 'spec', 'containers', '0'],
  ['request', 'object', 'spec', 'containers', '0', 'image'], ['request', 'object', 'spec', 'initContainers'],
];

const value = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(null, '', 'CREATE', 'UPDATE', 'DELETE', 'CONNECT', 'admission.k8s.io/v1beta1', 'AdmissionReview', 'evil.io/x', [], {}, 0, -1, true, '\u0000', '\ud800'),
);

type Edit = { path: string[]; remove: boolean; value: unknown };
const edit: fc.Arbitrary<Edit> = fc.record({ path: fc.constantFrom(...PATHS), remove: fc.boolean(), value });

function applyEdits(edits: Edit[]): unknown {
  let root: unknown = structuredClone(validReview);
  for (const { path, remove, value: v } of edits) {
    if (path.length === 0) {
      root = remove ? {} : structuredClone(v);
      continue;
    }
    let node = root;
    for (const key of path.slice(0, -1)) node = typeof node === 'object' && node !== null ? (node as Record<string, unknown>)[key] : undefined;
    if (typeof node !== 'object' || node === null) continue;
    const last = path[path.length - 1]!;
    if (remove) delete (node as Record<string, unknown>)[last];
    else (node as Record<string, unknown>)[last] = structuredClone(v);
  }
  return root;
}

const body = fc.oneof(
  { weight: 6, arbitrary: fc.array(edit, { minLength: 1, maxLength: 4 }).map((edits) => JSON.stringify(applyEdits(edits)) ?? '') },
  { weight: 1, arbitrary: fc.jsonValue().map((v) => JSON.stringify(v)) },
  { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
  { weight: 1, arbitrary: fc.tuple(fc.nat(), fc.string({ maxLength: 3 })).map(([at, s]) => {
    const text = JSON.stringify(validReview);
    const i = at % text.length;
    return text.slice(0, i) + s + text.slice(i + 1);
  }) },
);

/** More runs for a deeper search: FC_RUNS=20000 npx vitest run test/property */
const RUNS = Number(process.env.FC_RUNS ?? 400);

const KNOWN_CODES = new Set<string>(Object.values(ErrorCodes));

function checkAnswer(sent: string, status: number, contentType: string | undefined, text: string): void {
  expect(status, text).toBeLessThan(500);
  expect(contentType).toMatch(/^application\/json/);
  const answer = JSON.parse(text) as Record<string, unknown>;
  if (status !== 200) {
    expect([400, 413, 415]).toContain(status);
    expect(KNOWN_CODES.has(String(answer.code))).toBe(true);
    expect(answer.statusCode).toBe(status);
    expect(typeof answer.message).toBe('string');
    return;
  }
  const request = JSON.parse(sent) as { apiVersion: string; request: { uid: string } };
  expect(answer.apiVersion).toBe(request.apiVersion);
  expect(answer.kind).toBe('AdmissionReview');
  const response = answer.response as Record<string, unknown>;
  expect(response.uid).toBe(request.request.uid);
  expect(typeof response.allowed).toBe('boolean');
  if (response.allowed === false) {
    expect(response.status).toMatchObject({ code: 403, message: expect.any(String) });
    expect(response.patch).toBeUndefined();
  }
  if (response.patch !== undefined) {
    expect(response.patchType).toBe('JSONPatch');
    const patch = JSON.parse(Buffer.from(String(response.patch), 'base64').toString('utf8')) as unknown;
    expect(Array.isArray(patch) && patch.length > 0).toBe(true);
  }
  if (response.warnings !== undefined) expect((response.warnings as unknown[]).every((w) => typeof w === 'string')).toBe(true);
}

describe('review endpoints (property)', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    const logger = createLogger({ level: 'silent' });
    app = await buildServer({ engine: { current: await createEngine(parseConfig(CONFIG, 'test', process.cwd()), logger) }, logger });
  });
  afterAll(async () => {
    await app.close();
  });

  it.each(['/validate', '/mutate'])('%s answers a well-formed AdmissionReview or a 4xx error, never a crash', async (url) => {
    await fc.assert(
      fc.asyncProperty(body, async (sent) => {
        const response = await app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json' }, payload: sent });
        checkAnswer(sent, response.statusCode, response.headers['content-type'] as string | undefined, response.body);
      }),
      { numRuns: RUNS },
    );
    // And it is still serving.
    const healthy = await app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json' }, payload: JSON.stringify(validReview) });
    expect(healthy.statusCode).toBe(200);
  });
});
