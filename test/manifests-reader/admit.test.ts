// The offline path must give the webhook's verdict: the same request, through `admitRequest` and
// through the server's /mutate then /validate, must come out the same.
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AdmissionRequest, AdmissionResponse, KubernetesObject } from '../../src/admission/types.js';
import { parseConfig } from '../../src/config/load.js';
import { createEngine } from '../../src/engine/create.js';
import type { PolicyEngine } from '../../src/engine/engine.js';
import { PolicyEngine as Engine } from '../../src/engine/engine.js';
import { buildServer } from '../../src/http/server.js';
import { createLogger } from '../../src/log/logger.js';
import { admitRequest, applyAdmissionPatch } from '../../src/manifests/admit.js';
import { parseManifests } from '../../src/manifests/read.js';
import { createRequest, reviewFor } from '../../src/manifests/request.js';
import { mutating, validating } from '../helpers/policies.js';

const CONFIG = `
policies:
  - module: annotation-injection
    config:
      annotations: { tollgate.dev/admitted: "true", example.com/team: platform }
  - module: image-registry-allowlist
    config:
      registries: [docker.io/library, ghcr.io/acme]
`;

const logger = createLogger({ level: 'silent' });
let engine: PolicyEngine;
let app: FastifyInstance;

beforeAll(async () => {
  engine = await createEngine(parseConfig(CONFIG, 'test.yaml', process.cwd()), logger);
  app = await buildServer({ engine: { current: engine }, logger });
});
afterAll(async () => {
  await app.close();
});

async function post(endpoint: 'mutate' | 'validate', request: AdmissionRequest): Promise<{ status: number; response: AdmissionResponse | undefined }> {
  const reply = await app.inject({ method: 'POST', url: `/${endpoint}`, headers: { 'content-type': 'application/json' }, payload: JSON.stringify(reviewFor(request)) });
  return { status: reply.statusCode, response: reply.statusCode === 200 ? (reply.json() as { response: AdmissionResponse }).response : undefined };
}

/** What the apiserver would do with the webhook: call /mutate, apply the patch, call /validate. */
async function viaWebhook(request: AdmissionRequest): Promise<{ allowed: boolean; patched: KubernetesObject | null; message?: string } | { status: number }> {
  const mutation = await post('mutate', request);
  if (!mutation.response) return { status: mutation.status };
  if (!mutation.response.allowed) return { allowed: false, patched: null, ...(mutation.response.status?.message ? { message: mutation.response.status.message } : {}) };
  const patch = mutation.response.patch ? JSON.parse(Buffer.from(mutation.response.patch, 'base64').toString('utf8')) : [];
  const patched = applyAdmissionPatch(request.object, patch);
  const validation = await post('validate', { ...request, object: patched });
  if (!validation.response) return { status: validation.status };
  const allowed = validation.response.allowed;
  return { allowed, patched: allowed ? patched : null, ...(validation.response.status?.message ? { message: validation.response.status.message } : {}) };
}

const MANIFESTS = `
apiVersion: v1
kind: Pod
metadata: {name: ok, namespace: shop}
spec: {containers: [{name: c, image: nginx}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: bad, annotations: {existing: "1"}}
spec:
  template:
    spec:
      initContainers: [{name: i, image: "ghcr.io/acme-evil/x"}]
      containers: [{name: c, image: "ghcr.io/acme/api:1"}]
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: report, namespace: jobs}
spec: {jobTemplate: {spec: {template: {spec: {containers: [{name: r, image: "registry.io.evil.com/r"}]}}}}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg, namespace: shop, annotations: {example.com/team: payments}}
data: {a: b}
`;

describe('admitRequest gives the webhook’s verdict', () => {
  it.each(parseManifests(MANIFESTS, 'm.yaml').map((d) => [`${d.object.kind}/${d.object.metadata?.name}`, d.object] as const))(
    '%s: same verdict, same message, same stored object',
    async (_name, object) => {
      const request = createRequest(object, { dryRun: true });
      const offline = await admitRequest(engine, structuredClone(request));
      const online = await viaWebhook(structuredClone(request));
      expect(online).toEqual({
        allowed: offline.allowed,
        patched: offline.allowed ? offline.patched : null,
        ...(offline.allowed ? {} : { message: offline.verdict.message }),
      });
    },
  );

  it('gives the validating chain the name the apiserver generates from generateName; the mutating chain sees none', async () => {
    const seen: Array<[string, unknown, unknown]> = [];
    const record = (phase: string) => (request: AdmissionRequest) => void seen.push([phase, request.name, request.object?.metadata?.name]);
    const naming = new Engine([mutating('m', record('mutate')), validating('v', (r) => (record('validate')(r), { allowed: true }))]);
    const job = { apiVersion: 'batch/v1', kind: 'Job', metadata: { generateName: 'migrate-', namespace: 'shop' }, spec: {} };
    const result = await admitRequest(naming, createRequest(job));
    expect(seen).toEqual([
      ['mutate', undefined, undefined],
      ['validate', 'migrate-xxxxx', 'migrate-xxxxx'],
    ]);
    // The result is the request as sent, and the object as stored bears no made-up name.
    expect([result.request.name, result.patched?.metadata?.name]).toEqual([undefined, undefined]);
  });

  it('judges a Deployment by its pod template, after the mutation', async () => {
    const [deployment] = parseManifests(MANIFESTS, 'm.yaml').slice(1);
    const result = await admitRequest(engine, createRequest(deployment!.object));
    expect(result.allowed).toBe(false);
    expect(result.violations).toEqual([
      {
        policy: 'image-registry-allowlist',
        path: 'spec.template.spec.initContainers[0].image',
        message: 'container "i": image "ghcr.io/acme-evil/x" resolves to ghcr.io/acme-evil/x, which is not from an allowed registry (allowed: docker.io/library, ghcr.io/acme)',
      },
    ]);
    // The mutating webhook still answered with its patch.
    expect(result.patch).toEqual([
      { op: 'add', path: '/metadata/annotations/tollgate.dev~1admitted', value: 'true' },
      { op: 'add', path: '/metadata/annotations/example.com~1team', value: 'platform' },
    ]);
  });

  it('denies an object with a __proto__ key, where the webhook answers 400', async () => {
    const object = JSON.parse('{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","namespace":"shop","labels":{"__proto__":{"admin":"true"}}}}') as KubernetesObject;
    const request = createRequest(object);
    expect(await viaWebhook(request)).toEqual({ status: 400 });
    const result = await admitRequest(engine, request);
    expect(result.allowed).toBe(false);
    expect(result.violations).toEqual([{ policy: 'tollgate', path: 'metadata.labels.__proto__', message: expect.stringContaining('HTTP 400') }]);
    expect(result.verdict.message).toContain('failurePolicy');
  });

  it('names a fail-closed policy error as a violation, and an ignored one as a warning only', async () => {
    const throwing = () => {
      throw new Error('boom');
    };
    const failing = new Engine([validating('strict', throwing), validating('lenient', throwing, { failurePolicy: 'Ignore' })]);
    const result = await admitRequest(failing, createRequest({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } }));
    expect(result.allowed).toBe(false);
    expect(result.violations).toEqual([{ policy: 'strict', message: 'policy failed: threw: boom' }]);
    expect(result.warnings).toEqual(['[lenient] policy failed: threw: boom (ignored)']);
  });

  it('reports no violation from a warn-mode policy, only its warning', async () => {
    const warnOnly = new Engine([validating('advice', () => ({ allowed: false, message: 'consider a label' }), { mode: 'warn' })]);
    const result = await admitRequest(warnOnly, createRequest({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } }));
    expect(result).toMatchObject({ allowed: true, violations: [], warnings: ['[advice] consider a label'] });
  });

  it('applies the patch to a copy: the request object stays as sent', async () => {
    const chain = new Engine([mutating('label', (r) => void ((r.object!.metadata ??= {}).labels = { a: 'b' }))]);
    const request = createRequest({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } });
    const result = await admitRequest(chain, request);
    expect(result.patched?.metadata?.labels).toEqual({ a: 'b' });
    expect(request.object?.metadata?.labels).toBeUndefined();
  });

  it('gives each result an object of its own, apart from the patch, though the policy answers one frozen constant', async () => {
    const request = () => createRequest({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } });
    const first = await admitRequest(engine, request());
    const second = await admitRequest(engine, request());
    const annotations = first.patched?.metadata?.annotations as Record<string, string>;
    expect(annotations).toEqual({ 'tollgate.dev/admitted': 'true', 'example.com/team': 'platform' });
    expect(Object.isFrozen(annotations)).toBe(false);
    expect(annotations).not.toBe(second.patched?.metadata?.annotations);
    expect(annotations).not.toBe(first.patch[0]?.value);
    annotations.extra = 'edited';
    expect(second.patched?.metadata?.annotations).not.toHaveProperty('extra');
    expect(first.patch[0]?.value).not.toHaveProperty('extra');
  });
});
