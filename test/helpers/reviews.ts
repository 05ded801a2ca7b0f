// Builders of AdmissionReviews shaped as kube-apiserver sends them, for tests of every layer.
import type { AdmissionApiVersion, AdmissionRequest, KubernetesObject, Operation } from '../../src/admission/types.js';
import { createRequest, reviewFor as createReview } from '../../src/manifests/request.js';

export interface RequestOptions {
  operation?: Operation;
  oldObject?: KubernetesObject | null;
  subResource?: string;
  /** Places the request in this namespace whatever the manifest states (tests of `match`). */
  namespace?: string;
  dryRun?: boolean;
  uid?: string;
}

/**
 * The AdmissionRequest the apiserver sends for `object`, built by the same `createRequest` that
 * `tollgate check` uses. An UPDATE without an old object updates the object to itself; `null`
 * stands for the object of a DELETE, given as `oldObject`.
 */
export function requestFor(object: KubernetesObject | null, options: RequestOptions = {}): AdmissionRequest {
  const operation = options.operation ?? 'CREATE';
  const manifest = object ?? options.oldObject;
  if (!manifest) throw new TypeError('requestFor needs an object, or an oldObject for DELETE');
  const oldObject = options.oldObject !== undefined ? options.oldObject : operation === 'UPDATE' ? manifest : undefined;
  const request = createRequest(manifest, {
    operation,
    ...(oldObject !== undefined ? { oldObject } : {}),
    ...(options.subResource ? { subResource: options.subResource } : {}),
    ...(options.dryRun !== undefined ? { dryRun: options.dryRun } : {}),
    ...(options.uid ? { uid: options.uid } : {}),
  });
  if (options.namespace !== undefined) request.namespace = options.namespace;
  return request;
}

export function reviewFor(object: KubernetesObject | null, options: RequestOptions & { apiVersion?: AdmissionApiVersion } = {}): Record<string, unknown> {
  return { ...createReview(requestFor(object, options), options.apiVersion) };
}

export interface ContainerSpec {
  name?: string;
  image: string;
}

export function pod(images: string[] | { containers?: string[]; initContainers?: string[]; ephemeralContainers?: string[] }, metadata: Record<string, unknown> = {}): KubernetesObject {
  const lists = Array.isArray(images) ? { containers: images } : images;
  const spec: Record<string, unknown> = {};
  for (const [list, refs] of Object.entries(lists)) {
    spec[list] = (refs as string[]).map((image, i) => ({ name: `${list === 'containers' ? 'c' : list.slice(0, 4)}${i}`, image }));
  }
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', namespace: 'default', ...metadata }, spec };
}

/** Wraps a pod spec in a workload of the given kind, the way each kind nests its template. */
export function workload(kind: string, images: string[]): KubernetesObject {
  const template = { metadata: { labels: { app: 'web' } }, spec: pod(images).spec };
  const apiVersion = { Deployment: 'apps/v1', ReplicaSet: 'apps/v1', StatefulSet: 'apps/v1', DaemonSet: 'apps/v1', Job: 'batch/v1', CronJob: 'batch/v1' }[kind] ?? 'v1';
  const metadata = { name: 'web', namespace: 'default' };
  if (kind === 'CronJob') return { apiVersion, kind, metadata, spec: { schedule: '* * * * *', jobTemplate: { spec: { template } } } };
  if (kind === 'PodTemplate') return { apiVersion, kind, metadata, template };
  return { apiVersion, kind, metadata, spec: { selector: { matchLabels: { app: 'web' } }, template } };
}
