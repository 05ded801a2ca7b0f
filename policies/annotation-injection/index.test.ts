import { describe, expect, it } from 'vitest';
import fastJsonPatch from 'fast-json-patch';
import { PolicyEngine } from '../../src/engine/engine.js';
import { loadPolicy } from '../../src/engine/loader.js';
import type { KubernetesObject } from '../../src/admission/types.js';
import { pod, requestFor, workload, type RequestOptions } from '../../test/helpers/reviews.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };

async function mutate(object: KubernetesObject, config: Record<string, unknown>, options: RequestOptions = {}) {
  const policy = await loadPolicy({ module: 'annotation-injection', config }, 0, { baseDir: process.cwd(), source: 'test', logger: silent });
  const request = requestFor(object, options);
  const { verdict } = await new PolicyEngine([policy]).mutate(request);
  const patched = verdict.patch ? (fastJsonPatch.applyPatch(structuredClone(object), verdict.patch as never).newDocument as KubernetesObject) : object;
  return { verdict, patch: verdict.patch ?? [], patched };
}

describe('annotation-injection', () => {
  it('creates the annotations map when the object has none', async () => {
    const { patch, patched } = await mutate(pod(['nginx']), { annotations: { 'tollgate.dev/team': 'platform' } });
    expect(patch).toEqual([{ op: 'add', path: '/metadata/annotations', value: { 'tollgate.dev/team': 'platform' } }]);
    expect(patched.metadata?.annotations).toEqual({ 'tollgate.dev/team': 'platform' });
  });

  it('adds to an existing map with keys escaped as JSON Pointer requires', async () => {
    const object = pod(['nginx'], { annotations: { existing: 'yes' } });
    const { patch, patched } = await mutate(object, { annotations: { 'example.com/owner': 'a', 'x.io/b': 'c' } });
    expect(patch).toEqual([
      { op: 'add', path: '/metadata/annotations/example.com~1owner', value: 'a' },
      { op: 'add', path: '/metadata/annotations/x.io~1b', value: 'c' },
    ]);
    expect(patched.metadata?.annotations).toEqual({ existing: 'yes', 'example.com/owner': 'a', 'x.io/b': 'c' });
  });

  it('escapes ~ in existing keys it has to replace', async () => {
    // '~' cannot appear in a valid annotation key, but a replace next to one must still apply.
    const object = pod(['nginx'], { annotations: { 'a~b': '1', 'example.com/owner': 'old' } });
    const { patch, patched } = await mutate(object, { annotations: { 'example.com/owner': 'new' }, overwrite: true });
    expect(patch).toEqual([{ op: 'replace', path: '/metadata/annotations/example.com~1owner', value: 'new' }]);
    expect(patched.metadata?.annotations).toEqual({ 'a~b': '1', 'example.com/owner': 'new' });
  });

  it('leaves existing values alone unless overwrite is set', async () => {
    const object = pod(['nginx'], { annotations: { 'example.com/owner': 'team-a' } });
    expect((await mutate(object, { annotations: { 'example.com/owner': 'team-b' } })).patch).toEqual([]);
    expect((await mutate(object, { annotations: { 'example.com/owner': 'team-b' }, overwrite: true })).patched.metadata?.annotations).toEqual({
      'example.com/owner': 'team-b',
    });
  });

  it('patches nothing when there is nothing to change, and is idempotent on re-invocation', async () => {
    const config = { annotations: { 'example.com/owner': 'a' } };
    const first = await mutate(pod(['nginx']), config);
    const again = await mutate(first.patched, config);
    expect(first.patch).toHaveLength(1);
    expect(again.verdict.patch).toBeUndefined();
    expect((await mutate(pod(['nginx']), { annotations: {} })).verdict.patch).toBeUndefined();
  });

  it('never mutates a mirror pod', async () => {
    const mirror = pod(['nginx'], { annotations: { 'kubernetes.io/config.mirror': 'abc123' } });
    expect((await mutate(mirror, { annotations: { 'example.com/owner': 'a' } })).verdict.patch).toBeUndefined();
  });

  it('annotates the object it is given, whatever its kind', async () => {
    const { patched } = await mutate(workload('Deployment', ['nginx']), { annotations: { 'example.com/owner': 'a' } });
    expect(patched.metadata?.annotations).toEqual({ 'example.com/owner': 'a' });
  });

  it('refuses invalid annotation keys and non-string values at start, naming the field', async () => {
    const load = (config: unknown) => loadPolicy({ module: 'annotation-injection', config }, 2, { baseDir: process.cwd(), source: 'cfg.yaml', logger: silent });
    await expect(load({ annotations: { __proto__x: 'a', '-bad': 'b' } })).rejects.toThrow('cfg.yaml: policies[2].config.annotations');
    await expect(load({ annotations: { '-bad': 'b' } })).rejects.toThrow('policies[2].config.annotations has key "-bad", which does not match pattern');
    await expect(load({ annotations: { ok: 3 } })).rejects.toThrow('cfg.yaml: policies[2].config.annotations.ok must be string');
    await expect(load({ annotations: JSON.parse('{"__proto__": "x"}') })).rejects.toThrow('policies[2].config.annotations');
    await expect(load({})).rejects.toThrow('policies[2].config.annotations is required');
  });
});
