// The pod a workload's controller creates from its template. In the cluster the webhook judges it
// when the controller creates it, so `tollgate check` judges it too: a policy that matches only
// Pods would otherwise pass a Deployment whose pods it then denies, one by one, in the cluster.
import type { KubernetesObject, UserInfo } from '../admission/types.js';
import { podSpecPathOf } from '../kube/pod-spec.js';
import { groupVersionKindOf } from './request.js';

/** `group/Kind` -> the controller that creates its pods (its service account in kube-system). */
const POD_CREATORS: ReadonlyMap<string, string> = new Map([
  ['/ReplicationController', 'replication-controller'],
  ['apps/Deployment', 'replicaset-controller'],
  ['apps/ReplicaSet', 'replicaset-controller'],
  ['apps/StatefulSet', 'statefulset-controller'],
  ['apps/DaemonSet', 'daemon-set-controller'],
  ['batch/Job', 'job-controller'],
  ['batch/CronJob', 'job-controller'],
  ['extensions/Deployment', 'replicaset-controller'],
  ['extensions/ReplicaSet', 'replicaset-controller'],
  ['extensions/DaemonSet', 'daemon-set-controller'],
]);

export interface ControllerPod {
  pod: KubernetesObject;
  /** Who creates it: the controller's service account. */
  userInfo: UserInfo;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The pod the controller of `workload` (as stored: after the mutating chain) creates from its
 * template, as controller.GetPodFromTemplate makes it: the template's labels, annotations,
 * finalizers and spec, named after the workload; undefined for an object no controller makes
 * pods of. What the controllers add besides (labels such as pod-template-hash, the owner
 * reference) is not known offline and left out.
 */
export function controllerPodOf(workload: KubernetesObject): ControllerPod | undefined {
  const kind = groupVersionKindOf(workload);
  const creator = POD_CREATORS.get(`${kind.group}/${kind.kind}`);
  const specPath = podSpecPathOf(kind);
  if (creator === undefined || specPath === undefined) return undefined;
  let template: unknown = workload;
  for (const key of specPath.slice(0, -1)) template = isRecord(template) ? template[key] : undefined;
  if (!isRecord(template)) return undefined;
  const from = isRecord(template.metadata) ? template.metadata : {};
  const metadata: Record<string, unknown> = {};
  for (const field of ['labels', 'annotations', 'finalizers']) if (from[field] !== undefined) metadata[field] = from[field];
  const name = workload.metadata?.name;
  if (typeof name === 'string' && name !== '') metadata.generateName = `${name}-`;
  const namespace = workload.metadata?.namespace;
  if (typeof namespace === 'string' && namespace !== '') metadata.namespace = namespace;
  return {
    pod: { apiVersion: 'v1', kind: 'Pod', metadata, spec: template.spec },
    userInfo: { username: `system:serviceaccount:kube-system:${creator}`, groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'] },
  };
}
