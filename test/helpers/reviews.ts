// Builders of AdmissionReviews shaped as kube-apiserver sends them, for tests of every layer.
import { randomUUID } from 'node:crypto';
import type { AdmissionRequest, KubernetesObject, Operation } from '../../src/admission/types.js';

const RESOURCES: Record<string, { group: string; version: string; resource: string }> = {
  Pod: { group: '', version: 'v1', resource: 'pods' },
  ReplicationController: { group: '', version: 'v1', resource: 'replicationcontrollers' },
  PodTemplate: { group: '', version: 'v1', resource: 'podtemplates' },
  Deployment: { group: 'apps', version: 'v1', resource: 'deployments' },
  ReplicaSet: { group: 'apps', version: 'v1', resource: 'replicasets' },
  StatefulSet: { group: 'apps', version: 'v1', resource: 'statefulsets' },
  DaemonSet: { group: 'apps', version: 'v1', resource: 'daemonsets' },
  Job: { group: 'batch', version: 'v1', resource: 'jobs' },
  CronJob: { group: 'batch', version: 'v1', resource: 'cronjobs' },
  ConfigMap: { group: '', version: 'v1', resource: 'configmaps' },
  Namespace: { group: '', version: 'v1', resource: 'namespaces' },
};

export interface RequestOptions {
  operation?: Operation;
  oldObject?: KubernetesObject | null;
  subResource?: string;
  namespace?: string;
  dryRun?: boolean;
  uid?: string;
}

/** The AdmissionRequest the apiserver sends for `object` (a manifest with apiVersion and kind). */
export function requestFor(object: KubernetesObject | null, options: RequestOptions = {}): AdmissionRequest {
  const kind = (object?.kind as string | undefined) ?? 'Pod';
  const resource = RESOURCES[kind] ?? { group: '', version: 'v1', resource: `${kind.toLowerCase()}s` };
  const operation = options.operation ?? 'CREATE';
  const request: AdmissionRequest = {
    uid: options.uid ?? randomUUID(),
    kind: { group: resource.group, version: resource.version, kind },
    resource,
    requestKind: { group: resource.group, version: resource.version, kind },
    requestResource: resource,
    name: object?.metadata?.name ?? 'test',
    namespace: options.namespace ?? object?.metadata?.namespace ?? 'default',
    operation,
    userInfo: { username: 'kubernetes-admin', groups: ['system:masters', 'system:authenticated'] },
    object: operation === 'DELETE' ? null : object,
    oldObject: options.oldObject ?? null,
    dryRun: options.dryRun ?? false,
    options: operation === 'CREATE' ? { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions' } : null,
  };
  if (options.subResource) request.subResource = options.subResource;
  return request;
}

export function reviewFor(object: KubernetesObject | null, options: RequestOptions & { apiVersion?: string } = {}): Record<string, unknown> {
  return { apiVersion: options.apiVersion ?? 'admission.k8s.io/v1', kind: 'AdmissionReview', request: requestFor(object, options) };
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
