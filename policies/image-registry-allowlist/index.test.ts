import { describe, expect, it } from 'vitest';
import allowlist from './index.js';
import { PolicyEngine } from '../../src/engine/engine.js';
import { loadPolicy } from '../../src/engine/loader.js';
import type { KubernetesObject } from '../../src/admission/types.js';
import { pod, requestFor, workload } from '../../test/helpers/reviews.js';
import type { RequestOptions } from '../../test/helpers/reviews.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };

async function engineWith(config: Record<string, unknown>): Promise<PolicyEngine> {
  const policy = await loadPolicy({ module: 'image-registry-allowlist', config }, 0, { baseDir: process.cwd(), source: 'test', logger: silent });
  return new PolicyEngine([policy]);
}

const config = { registries: ['docker.io/library', 'ghcr.io/acme', 'registry.internal:5000'] };

async function judge(object: KubernetesObject | null, options: RequestOptions = {}, settings = config) {
  return (await (await engineWith(settings)).validate(requestFor(object, options))).verdict;
}

describe('image-registry-allowlist', () => {
  it('is the module the loader finds by its built-in name', () => {
    expect(allowlist.name).toBe('image-registry-allowlist');
    expect(allowlist.kind).toBe('validating');
  });

  it('admits a pod whose every image is allowed', async () => {
    expect((await judge(pod(['nginx:1.27', 'ghcr.io/acme/api:v2', 'registry.internal:5000/tools/x']))).allowed).toBe(true);
  });

  it('names the container, the image and what would be allowed', async () => {
    const verdict = await judge(pod(['registry.io.evil.com/x:1']));
    expect(verdict.allowed).toBe(false);
    expect(verdict.message).toBe(
      '[image-registry-allowlist] spec.containers[0].image: container "c0": image "registry.io.evil.com/x:1" resolves to registry.io.evil.com/x, which is not from an allowed registry (allowed: docker.io/library, ghcr.io/acme, registry.internal:5000)',
    );
  });

  it.each(['initContainers', 'ephemeralContainers'] as const)('judges %s, not only containers', async (list) => {
    const verdict = await judge(pod({ containers: ['nginx'], [list]: ['evil.io/miner'] }));
    expect(verdict.allowed).toBe(false);
    expect(verdict.message).toContain(`spec.${list}[0].image`);
  });

  it('reports every bad image of a pod together', async () => {
    const verdict = await judge(pod({ initContainers: ['evil.io/a'], containers: ['nginx', 'evil.io/b'], ephemeralContainers: ['evil.io/c'] }));
    expect(verdict.message?.split('; ')).toHaveLength(3);
  });

  it.each(['Deployment', 'ReplicaSet', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob', 'ReplicationController', 'PodTemplate'])(
    'judges the pod template of a %s',
    async (kind) => {
      const bad = await judge(workload(kind, ['nginx', 'docker.io/acmeevil/app']));
      expect(bad.allowed).toBe(false);
      expect(bad.message).toContain('docker.io/acmeevil/app');
      expect((await judge(workload(kind, ['nginx']))).allowed).toBe(true);
    },
  );

  describe('image volumes, pulled like images and mountable into any container', () => {
    const withImageVolume = (spec: Record<string, unknown>, reference: unknown, name = 'payload') => {
      spec.volumes = [{ name: 'scratch', emptyDir: {} }, { name, image: { reference, pullPolicy: 'IfNotPresent' } }];
    };
    const templateSpecOf = (object: KubernetesObject, kind = 'Deployment'): Record<string, unknown> => {
      const path = kind === 'CronJob' ? ['spec', 'jobTemplate', 'spec', 'template', 'spec'] : kind === 'PodTemplate' ? ['template', 'spec'] : ['spec', 'template', 'spec'];
      return path.reduce<unknown>((at, key) => (at as Record<string, unknown>)[key], object) as Record<string, unknown>;
    };

    it('denies a Pod that mounts an image from a registry not on the list, and names the field', async () => {
      const object = pod(['nginx']);
      withImageVolume(object.spec as Record<string, unknown>, 'evil.io/x/miner:1.0');
      const verdict = await judge(object);
      expect(verdict.allowed).toBe(false);
      expect(verdict.message).toContain('spec.volumes[1].image.reference: image volume "payload": image "evil.io/x/miner:1.0" resolves to evil.io/x/miner');
    });

    it.each(['Deployment', 'CronJob', 'PodTemplate'])('judges the image volumes of a %s template', async (kind) => {
      const object = workload(kind, ['nginx']);
      const spec = templateSpecOf(object, kind);
      withImageVolume(spec, 'evil.io/x/miner:1.0');
      expect((await judge(object)).allowed).toBe(false);
      withImageVolume(spec, 'ghcr.io/acme/tools:1');
      expect((await judge(object)).allowed).toBe(true);
    });

    it('denies a volume image with no reference, or one that is not a string, and applies requireDigest', async () => {
      for (const reference of [undefined, 42, `sha256:${'4e'.repeat(32)}`]) {
        const object = pod(['nginx']);
        withImageVolume(object.spec as Record<string, unknown>, reference);
        expect((await judge(object)).allowed, String(reference)).toBe(false);
      }
      const notAnObject = pod(['nginx']);
      (notAnObject.spec as Record<string, unknown>).volumes = [{ name: 'v', image: 'evil.io/x' }];
      expect((await judge(notAnObject)).allowed).toBe(false);
      const pinned = pod(['nginx@sha256:' + 'a'.repeat(64)]);
      withImageVolume(pinned.spec as Record<string, unknown>, 'ghcr.io/acme/tools:1');
      const requireDigest = { ...config, requireDigest: true };
      expect((await judge(pinned, {}, requireDigest)).message).toContain('image volume "payload": image "ghcr.io/acme/tools:1" must be pinned by digest');
    });

    it('on UPDATE, judges an image volume the update adds or changes, not one left as it was', async () => {
      const old = workload('Deployment', ['nginx']);
      withImageVolume(templateSpecOf(old), 'evil.io/legacy:1');
      const relabelled = structuredClone(old);
      (relabelled.metadata as Record<string, unknown>).labels = { touched: 'yes' };
      expect((await judge(relabelled, { operation: 'UPDATE', oldObject: old })).allowed).toBe(true);
      const changed = structuredClone(old);
      withImageVolume(templateSpecOf(changed), 'evil.io/other:1');
      expect((await judge(changed, { operation: 'UPDATE', oldObject: old })).allowed).toBe(false);
      const renamed = structuredClone(old);
      withImageVolume(templateSpecOf(renamed), 'evil.io/legacy:1', 'other');
      expect((await judge(renamed, { operation: 'UPDATE', oldObject: old })).allowed).toBe(false);
    });
  });

  it('judges the new object on UPDATE, whatever the old one was', async () => {
    const verdict = await judge(pod(['evil.io/x']), { operation: 'UPDATE', oldObject: pod(['nginx']) });
    expect(verdict.allowed).toBe(false);
  });

  it('on UPDATE, judges only containers the update adds or changes', async () => {
    const legacy = pod(['evil.io/legacy', 'nginx']);
    const relabelled = pod(['evil.io/legacy', 'nginx'], { labels: { touched: 'yes' } });
    expect((await judge(relabelled, { operation: 'UPDATE', oldObject: legacy })).allowed).toBe(true);
    const finalizerRemoved = pod(['evil.io/legacy'], { deletionTimestamp: '2026-01-01T00:00:00Z' });
    expect((await judge(finalizerRemoved, { operation: 'UPDATE', oldObject: pod(['evil.io/legacy']) })).allowed).toBe(true);
    // Same image under another name, or moved to another container list, is new to this pod.
    const renamed = pod(['nginx']);
    (renamed.spec as { containers: Array<{ name: string; image: string }> }).containers.push({ name: 'other', image: 'evil.io/legacy' });
    expect((await judge(renamed, { operation: 'UPDATE', oldObject: legacy })).allowed).toBe(false);
    const moved = pod({ containers: ['nginx'], initContainers: ['evil.io/legacy'] });
    expect((await judge(moved, { operation: 'UPDATE', oldObject: legacy })).allowed).toBe(false);
    const strict = { ...config, recheckUnchanged: true };
    expect((await judge(relabelled, { operation: 'UPDATE', oldObject: legacy }, strict)).allowed).toBe(false);
  });

  it('judges an ephemeral container added through the pods/ephemeralcontainers subresource', async () => {
    const debugged = pod({ containers: ['nginx'], ephemeralContainers: ['evil.io/debug'] });
    const verdict = await judge(debugged, { operation: 'UPDATE', subResource: 'ephemeralcontainers', oldObject: pod(['nginx']) });
    expect(verdict.allowed).toBe(false);
    expect(verdict.message).toContain('spec.ephemeralContainers[0].image');
  });

  it('judges a pod pending deletion like any other', async () => {
    const terminating = pod(['evil.io/x'], { deletionTimestamp: '2026-01-01T00:00:00Z', finalizers: ['example.com/hold'] });
    expect((await judge(terminating, { operation: 'UPDATE', oldObject: pod(['nginx']) })).allowed).toBe(false);
  });

  it('allows DELETE and CONNECT, which carry no pod to judge', async () => {
    expect((await judge(pod(['evil.io/x']), { operation: 'DELETE' })).allowed).toBe(true);
    const exec = { apiVersion: 'v1', kind: 'PodExecOptions', command: ['sh'], container: 'c0' };
    const request = requestFor(exec as KubernetesObject, { operation: 'CONNECT', subResource: 'exec' });
    request.kind = { group: '', version: 'v1', kind: 'PodExecOptions' };
    expect((await (await engineWith(config)).validate(request)).verdict.allowed).toBe(true);
  });

  it('reads the kind from the request, not from the object a client wrote', async () => {
    const request = requestFor({ ...pod(['evil.io/x']), kind: 'ConfigMap' } as KubernetesObject);
    request.kind = { group: '', version: 'v1', kind: 'Pod' };
    expect((await (await engineWith(config)).validate(request)).verdict.allowed).toBe(false);
  });

  it('denies an image that does not parse, and a container with no image', async () => {
    const object = pod(['nginx']);
    (object.spec as { containers: unknown[] }).containers.push({ name: 'noimage' }, { name: 'bad', image: 'Nginx:latest' });
    const verdict = await judge(object);
    expect(verdict.allowed).toBe(false);
    expect(verdict.message).toContain('container "noimage": "undefined" is not a valid image reference');
    expect(verdict.message).toContain('container "bad": "Nginx:latest" is not a valid image reference');
  });

  it('requires a digest when requireDigest is set', async () => {
    const settings = { ...config, requireDigest: true };
    const verdict = await judge(pod(['ghcr.io/acme/api:v2']), {}, settings);
    expect(verdict.message).toContain('must be pinned by digest');
    expect((await judge(pod([`ghcr.io/acme/api@sha256:${'d'.repeat(64)}`]), {}, settings)).allowed).toBe(true);
  });

  it('refuses a bad config at start with the path of the bad field', async () => {
    await expect(engineWith({ registries: 'ghcr.io' })).rejects.toThrow('test: policies[0].config.registries must be array');
    await expect(engineWith({ registries: ['ghcr.io', 'https://quay.io'] })).rejects.toThrow('policies[0].config.registries[1] "https://quay.io": write host[:port][/path] without a scheme');
    await expect(engineWith({ registries: ['ghcr.io'], requireDigest: 'yes' })).rejects.toThrow('policies[0].config.requireDigest must be boolean');
    await expect(engineWith({ registries: [] })).rejects.toThrow('policies[0].config.registries must NOT have fewer than 1 items');
  });

  it('judges an image the same the second time, from its verdict cache, and after the cache has filled', async () => {
    const engine = await engineWith(config);
    const verdictOf = async (images: string[]) => (await engine.validate(requestFor(pod(images)))).verdict;
    for (let round = 0; round < 2; round++) {
      expect((await verdictOf(['nginx:1.27'])).allowed).toBe(true);
      expect((await verdictOf(['registry.io.evil.com/x:1'])).message).toContain('"registry.io.evil.com/x:1" resolves to registry.io.evil.com/x');
    }
    // More distinct references than the cache holds, allowed and denied alternately.
    for (let i = 0; i < 5000; i += 50) {
      const images = Array.from({ length: 50 }, (_, j) => (j % 2 === 0 ? `ghcr.io/acme/app-${i + j}:v1` : `ghcr.io/other/app-${i + j}:v1`));
      const verdict = await verdictOf(images);
      expect(verdict.message?.split('; ')).toHaveLength(25);
    }
    expect((await verdictOf(['nginx:1.27'])).allowed).toBe(true);
    expect((await verdictOf(['registry.io.evil.com/x:1'])).allowed).toBe(false);
    // A reference too long to cache is still judged.
    const long = `registry.io.evil.com/${'a'.repeat(600)}:1`;
    expect((await verdictOf([long])).allowed).toBe(false);
    expect((await verdictOf([long])).allowed).toBe(false);
  });

  it('keeps no verdicts between two configs', async () => {
    expect((await judge(pod(['quay.io/team/app:1']))).allowed).toBe(false);
    expect((await judge(pod(['quay.io/team/app:1']), {}, { registries: ['quay.io/team'] })).allowed).toBe(true);
  });
});
