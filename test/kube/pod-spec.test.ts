// Where containers hide: every list of a pod spec, in pods and in workload templates.
import { describe, expect, it } from 'vitest';
import { POD_SPEC_KINDS, containersOf, forEachContainer, podSpecPathOf } from '../../src/kube/pod-spec.js';

const spec = { initContainers: [{ name: 'i', image: 'a' }], containers: [{ name: 'c', image: 'b' }, 'not an object'], ephemeralContainers: [{ name: 'e', image: 'c' }] };

describe('forEachContainer and containersOf', () => {
  it.each([
    [{ group: '', kind: 'Pod' }, { spec }, 'spec'],
    [{ group: 'apps', kind: 'Deployment' }, { spec: { template: { spec } } }, 'spec.template.spec'],
    [{ group: 'batch', kind: 'CronJob' }, { spec: { jobTemplate: { spec: { template: { spec } } } } }, 'spec.jobTemplate.spec.template.spec'],
  ])('visits init, regular and ephemeral containers of a %o, in order, with the pod spec path', (kind, object, prefix) => {
    const visited: unknown[] = [];
    forEachContainer(object, kind, (container, list, index, at) => visited.push([list, index, container.name ?? null, at]));
    expect(visited).toEqual([
      ['initContainers', 0, 'i', prefix],
      ['containers', 0, 'c', prefix],
      ['containers', 1, null, prefix],
      ['ephemeralContainers', 0, 'e', prefix],
    ]);
    expect(containersOf(object, kind).map((ref) => ref.path)).toEqual([`${prefix}.initContainers[0]`, `${prefix}.containers[0]`, `${prefix}.containers[1]`, `${prefix}.ephemeralContainers[0]`]);
    // An entry that is not an object is visited as an empty container, for a policy to deny.
    expect(containersOf(object, kind)[2]?.container).toEqual({});
  });

  it('visits nothing for a kind without a pod spec, whatever the object holds, or an object without a spec', () => {
    const visit = () => {
      throw new Error('visited');
    };
    forEachContainer({ spec }, { group: '', kind: 'ConfigMap' }, visit);
    forEachContainer({ metadata: {} }, { group: '', kind: 'Pod' }, visit);
    forEachContainer(null, { group: '', kind: 'Pod' }, visit);
    expect(containersOf({ spec }, { group: 'example.com', kind: 'Pod' })).toEqual([]);
  });

  it('finds the pod spec path of each kind by its exact group and kind, and of no other', () => {
    for (const groupKind of POD_SPEC_KINDS) {
      const [group, kind] = groupKind.split('/') as [string, string];
      expect(podSpecPathOf({ group, kind })?.at(-1)).toBe('spec');
    }
    expect(podSpecPathOf({ group: 'batch', kind: 'CronJob' })).toEqual(['spec', 'jobTemplate', 'spec', 'template', 'spec']);
    // Group and kind are matched apart: a slash in either cannot make up another pair.
    for (const kind of [{ group: '', kind: 'apps/Deployment' }, { group: 'apps/Deployment', kind: '' }, { group: 'apps', kind: 'deployment' }, { group: 'core', kind: 'Pod' }, { group: '__proto__', kind: 'Pod' }]) {
      expect(podSpecPathOf(kind)).toBeUndefined();
    }
  });
});
