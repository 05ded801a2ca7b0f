// Where pods hide inside workload objects, and every container list a pod spec has: the walk that
// a policy on containers must never get wrong (init and ephemeral containers included), and the
// image volumes, the other images a pod pulls.
import type { GroupVersionKind, KubernetesObject } from '../admission/types.js';

/** The three container lists of a PodSpec, in the order the kubelet starts them. */
export const CONTAINER_LISTS = ['initContainers', 'containers', 'ephemeralContainers'] as const;
export type ContainerList = (typeof CONTAINER_LISTS)[number];

const TEMPLATE = ['spec', 'template', 'spec'];

/** `group/Kind` -> the path from the object to its PodSpec. */
const POD_SPEC_PATHS: ReadonlyMap<string, readonly string[]> = new Map([
  ['/Pod', ['spec']],
  ['/PodTemplate', ['template', 'spec']],
  ['/ReplicationController', TEMPLATE],
  ['apps/Deployment', TEMPLATE],
  ['apps/ReplicaSet', TEMPLATE],
  ['apps/StatefulSet', TEMPLATE],
  ['apps/DaemonSet', TEMPLATE],
  ['batch/Job', TEMPLATE],
  ['batch/CronJob', ['spec', 'jobTemplate', 'spec', 'template', 'spec']],
  // Served by no current apiserver, but still found in old manifests.
  ['extensions/Deployment', TEMPLATE],
  ['extensions/ReplicaSet', TEMPLATE],
  ['extensions/DaemonSet', TEMPLATE],
]);

/** The kinds that carry a pod spec, as `group/Kind` (the core group is empty: `/Pod`). */
export const POD_SPEC_KINDS: readonly string[] = [...POD_SPEC_PATHS.keys()];

/** The group and kind of an object from its `apiVersion` and `kind` (as a manifest states them). */
export function groupKindOf(object: KubernetesObject): { group: string; kind: string } {
  const apiVersion = typeof object.apiVersion === 'string' ? object.apiVersion : '';
  const slash = apiVersion.indexOf('/');
  return { group: slash === -1 ? '' : apiVersion.slice(0, slash), kind: typeof object.kind === 'string' ? object.kind : '' };
}

/** POD_SPEC_PATHS by group, then kind: looked up with the request's own strings, no key joined per review. */
const POD_SPEC_PATHS_BY_GROUP: ReadonlyMap<string, ReadonlyMap<string, readonly string[]>> = (() => {
  const byGroup = new Map<string, Map<string, readonly string[]>>();
  for (const [groupKind, path] of POD_SPEC_PATHS) {
    const slash = groupKind.indexOf('/');
    const group = groupKind.slice(0, slash);
    let kinds = byGroup.get(group);
    if (!kinds) byGroup.set(group, (kinds = new Map()));
    kinds.set(groupKind.slice(slash + 1), path);
  }
  return byGroup;
})();

/** The path to the PodSpec of this kind of object, or undefined when it has none. */
export function podSpecPathOf(kind: Pick<GroupVersionKind, 'group' | 'kind'>): readonly string[] | undefined {
  return POD_SPEC_PATHS_BY_GROUP.get(kind.group)?.get(kind.kind);
}

/** A JSON object: not null, not an array. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export interface ContainerRef {
  list: ContainerList;
  index: number;
  /** The container object itself (free-form JSON as received). */
  container: Record<string, unknown>;
  /** Field path of the container, e.g. `spec.template.spec.initContainers[0]`. */
  path: string;
}

/** The pod spec of the object, or undefined when the kind has none (or the object no spec). */
function podSpecOf(object: unknown, specPath: readonly string[] | undefined): Record<string, unknown> | undefined {
  if (!specPath || !isRecord(object)) return undefined;
  let spec: unknown = object;
  for (const key of specPath) {
    spec = isRecord(spec) ? spec[key] : undefined;
  }
  return isRecord(spec) ? spec : undefined;
}

/** `spec.template.spec`, joined once per path. */
const POD_SPEC_PREFIXES: ReadonlyMap<readonly string[], string> = new Map([...new Set(POD_SPEC_PATHS.values())].map((path) => [path, path.join('.')]));

/**
 * Calls `visit` with every container of the object's pod spec (init, regular and ephemeral), in
 * that order, and the field path of the pod spec (`spec.template.spec`); nothing when the kind
 * has no pod spec. containersOf without an object per container: the path of one is
 * `${prefix}.${list}[${index}]`, made only when needed. `kind` comes from the AdmissionRequest,
 * never from the object, which a client controls. Entries that are not objects are visited as
 * empty containers, so that a policy can deny them rather than skip them.
 */
export function forEachContainer(
  object: unknown,
  kind: Pick<GroupVersionKind, 'group' | 'kind'>,
  visit: (container: Record<string, unknown>, list: ContainerList, index: number, prefix: string) => void,
): void {
  const specPath = podSpecPathOf(kind);
  const spec = podSpecOf(object, specPath);
  if (!spec || !specPath) return;
  const prefix = POD_SPEC_PREFIXES.get(specPath) ?? specPath.join('.');
  for (const list of CONTAINER_LISTS) {
    const containers = spec[list];
    if (!Array.isArray(containers)) continue;
    for (let index = 0; index < containers.length; index++) {
      const container: unknown = containers[index];
      visit(isRecord(container) ? container : {}, list, index, prefix);
    }
  }
}

/**
 * Calls `visit` with every image volume of the object's pod spec (`volumes[i].image`: the
 * kubelet pulls its `reference` as it pulls a container's image, and mounts it into containers,
 * on by default since Kubernetes 1.35), its index and the field path of the pod spec; nothing when
 * the kind has no pod spec. A volume's `image` that is not an object is visited as an empty one,
 * so that a policy can deny it rather than skip it.
 */
export function forEachImageVolume(
  object: unknown,
  kind: Pick<GroupVersionKind, 'group' | 'kind'>,
  visit: (source: Record<string, unknown>, volume: Record<string, unknown>, index: number, prefix: string) => void,
): void {
  const specPath = podSpecPathOf(kind);
  const spec = podSpecOf(object, specPath);
  if (!spec || !specPath || !Array.isArray(spec.volumes)) return;
  const prefix = POD_SPEC_PREFIXES.get(specPath) ?? specPath.join('.');
  const volumes: unknown[] = spec.volumes;
  for (let index = 0; index < volumes.length; index++) {
    const volume: unknown = volumes[index];
    if (!isRecord(volume) || volume.image === undefined) continue;
    visit(isRecord(volume.image) ? volume.image : {}, volume, index, prefix);
  }
}

/**
 * Every container of the object's pod spec (init, regular and ephemeral), or none when the kind
 * has no pod spec. `kind` comes from the AdmissionRequest, never from the object, which a client
 * controls. Entries that are not objects are still returned (as empty containers) so that a
 * policy can deny them rather than skip them.
 */
export function containersOf(object: unknown, kind: Pick<GroupVersionKind, 'group' | 'kind'>): ContainerRef[] {
  const found: ContainerRef[] = [];
  forEachContainer(object, kind, (container, list, index, prefix) => found.push({ list, index, container, path: `${prefix}.${list}[${index}]` }));
  return found;
}
