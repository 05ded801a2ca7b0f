// The authoring kit as an author uses it: everything imported from the package's main entry.
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { TollgateError } from '../../src/errors.js';
import { createRequest, definePolicy, loadTestPolicy, runPolicy, type KubernetesObject, type PolicyModule } from '../../src/index.js';

interface Config {
  maxReplicas: number;
  label: string;
}

const limitReplicas = definePolicy<Config>({
  name: 'limit-replicas',
  kind: 'validating',
  configSchema: {
    type: 'object',
    required: ['maxReplicas'],
    additionalProperties: false,
    properties: { maxReplicas: { type: 'integer', minimum: 1 }, label: { type: 'string', default: 'tier' } },
  },
  create(config) {
    return {
      validate(request) {
        const replicas = (request.object?.spec as { replicas?: number } | undefined)?.replicas ?? 1;
        if (replicas <= config.maxReplicas) return { allowed: true, warnings: request.object?.metadata?.labels?.[config.label] ? [] : [`no ${config.label} label`] };
        return { allowed: false, violations: [{ path: 'spec.replicas', message: `${replicas} replicas is more than ${config.maxReplicas}` }] };
      },
    };
  },
});

const deployment = (replicas: number): KubernetesObject => ({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' }, spec: { replicas } });

describe('runPolicy', () => {
  it('runs a module object through the real loader: schema defaults reach create', async () => {
    const result = await runPolicy(limitReplicas, { maxReplicas: 3 }, createRequest(deployment(2)));
    expect(result).toMatchObject({ allowed: true, violations: [], warnings: ['[limit-replicas] no tier label'], patch: [] });
  });

  it('reports violations with policy and path', async () => {
    const result = await runPolicy(limitReplicas, { maxReplicas: 3 }, createRequest(deployment(5)));
    expect(result.allowed).toBe(false);
    expect(result.violations).toEqual([{ policy: 'limit-replicas', path: 'spec.replicas', message: '5 replicas is more than 3' }]);
    expect(result.verdict.message).toBe('[limit-replicas] spec.replicas: 5 replicas is more than 3');
  });

  it('refuses a config its schema refuses, as the server’s start would', async () => {
    const err = await runPolicy(limitReplicas, { maxReplicas: 0 }, createRequest(deployment(1))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TollgateError);
    expect((err as TollgateError).message).toBe('test: policies[0].config.maxReplicas must be >= 1');
  });

  it('refuses a module of the wrong shape', async () => {
    const err = await runPolicy({ name: 'x', kind: 'validating' } as unknown as PolicyModule, {}, createRequest(deployment(1))).catch((e: unknown) => e);
    expect((err as TollgateError).message).toContain('create must be a function');
  });

  it('gives the patch and the patched object of a mutating module, and judges UPDATE requests', async () => {
    const addTier = definePolicy({
      name: 'add-tier',
      kind: 'mutating',
      create: () => ({
        mutate(request) {
          const metadata = request.object!.metadata!;
          metadata.labels = { ...metadata.labels, tier: request.operation === 'UPDATE' ? 'updated' : 'new' };
        },
      }),
    });
    const policy = await loadTestPolicy(addTier);
    const created = await policy.admit(createRequest(deployment(1)));
    expect(created.patch).toEqual([{ op: 'add', path: '/metadata/labels', value: { tier: 'new' } }]);
    expect(created.patched?.metadata).toEqual({ name: 'web', namespace: 'default', labels: { tier: 'new' } });
    const updated = await policy.admit(createRequest(deployment(2), { operation: 'UPDATE', oldObject: deployment(1) }));
    expect(updated.patched?.metadata?.labels).toEqual({ tier: 'updated' });
  });
});

describe('loadTestPolicy by name or path', () => {
  it('loads a built-in policy by name', async () => {
    const policy = await loadTestPolicy('image-registry-allowlist', { registries: ['ghcr.io/acme'] });
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'nginx' }] } };
    expect((await policy.admit(createRequest(pod))).violations[0]?.message).toContain('resolves to docker.io/library/nginx');
  });

  it('loads the example module by path, as the guide does', async () => {
    const policy = await loadTestPolicy('./policies/examples/require-team-label', { teams: ['payments'] });
    expect(policy.name).toBe('require-team-label');
    const unlabelled = await policy.admit(createRequest({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } }));
    expect(unlabelled.violations).toEqual([{ policy: 'require-team-label', path: 'metadata.labels["team"]', message: 'a ConfigMap needs a "team" label naming the team that owns it' }]);
  });

  it('runs the guide’s vitest example as written', async () => {
    // The test from policies/README.md, step 4.
    const { default: policy } = (await import(pathToFileURL(path.resolve('policies/examples/require-team-label/index.js')).href)) as { default: PolicyModule };
    const manifest = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', labels: { team: 'marketing' } } };
    const result = await runPolicy(policy, { teams: ['payments', 'platform'] }, createRequest(manifest));
    expect(result.allowed).toBe(false);
    expect(result.violations[0]?.message).toBe('"marketing" is not a known team (known: payments, platform)');
  });
});
