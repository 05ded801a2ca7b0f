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

/** The daemon set controller's tolerations (AddOrUpdateDaemonPodTolerations), the last only for a pod on the host network. */
const DAEMON_POD_TOLERATIONS: ReadonlyArray<{ key: string; effect: string }> = [
  { key: 'node.kubernetes.io/not-ready', effect: 'NoExecute' },
  { key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' },
  { key: 'node.kubernetes.io/disk-pressure', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/memory-pressure', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/pid-pressure', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/network-unavailable', effect: 'NoSchedule' },
];

/** A Go string field as stored: absent is "". */
function goString(record: Record<string, unknown>, field: string): unknown {
  return record[field] ?? '';
}

/**
 * The spec of a DaemonSet's pod: its controller adds tolerations of the node conditions' taints
 * (AddOrUpdateTolerationInPodSpec: one matching in key, operator, value and effect is replaced by
 * the controller's, unless it already equals it; none matching, the controller's is appended).
 */
function withDaemonPodTolerations(spec: Record<string, unknown>): Record<string, unknown> {
  let tolerations: unknown[] = Array.isArray(spec.tolerations) ? spec.tolerations : [];
  const wanted = spec.hostNetwork === true ? DAEMON_POD_TOLERATIONS : DAEMON_POD_TOLERATIONS.slice(0, -1);
  for (const { key, effect } of wanted) {
    const toleration = { key, operator: 'Exists', effect };
    const matches = (t: unknown): t is Record<string, unknown> =>
      isRecord(t) && goString(t, 'key') === key && goString(t, 'operator') === 'Exists' && goString(t, 'value') === '' && goString(t, 'effect') === effect;
    const matching = tolerations.filter(matches);
    if (matching.some((t) => t.tolerationSeconds === undefined || t.tolerationSeconds === null)) continue;
    tolerations = matching.length === 0 ? [...tolerations, toleration] : tolerations.map((t) => (matches(t) ? toleration : t));
  }
  return { ...spec, tolerations };
}

/**
 * The pod the controller of `workload` (as stored: after the mutating chain) creates from its
 * template, as controller.GetPodFromTemplate makes it: the template's labels, annotations,
 * finalizers and spec, named after the workload, and for a DaemonSet the tolerations its
 * controller adds; undefined for an object no controller makes pods of. What the controllers add
 * besides (labels such as pod-template-hash, the owner reference) is not known offline and left out.
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
  const spec = kind.kind === 'DaemonSet' && isRecord(template.spec) ? withDaemonPodTolerations(template.spec) : template.spec;
  return {
    pod: { apiVersion: 'v1', kind: 'Pod', metadata, spec },
    userInfo: { username: `system:serviceaccount:kube-system:${creator}`, groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'] },
  };
}
