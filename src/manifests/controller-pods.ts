// The pod a workload's controller creates from its template. In the cluster the webhook judges it
// when the controller creates it, so `tollgate check` judges it too: a policy that matches only
// Pods would otherwise pass a Deployment whose pods it then denies, one by one, in the cluster.
import type { KubernetesObject, UserInfo } from '../admission/types.js';
import { isRecord, podSpecPathOf } from '../kube/pod-spec.js';
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

const JOB_TRACKING_FINALIZER = 'batch.kubernetes.io/job-tracking';

/**
 * A StatefulSet's first pod, as its controller makes it (newStatefulSetPod): named `<set>-0`, not
 * generated, with the pod-name and pod-index labels, the set's service as its subdomain, and a
 * claim volume per volumeClaimTemplate (`<template>-<set>-0`) in place of a volume of that name.
 * Sets `metadata`'s name and labels; returns the spec.
 */
function asFirstStatefulSetPod(set: KubernetesObject, name: string, metadata: Record<string, unknown>, spec: Record<string, unknown>): Record<string, unknown> {
  const podName = `${name}-0`;
  delete metadata.generateName;
  metadata.name = podName;
  metadata.labels = { ...(isRecord(metadata.labels) ? metadata.labels : {}), 'statefulset.kubernetes.io/pod-name': podName, 'apps.kubernetes.io/pod-index': '0' };
  const setSpec = isRecord(set.spec) ? set.spec : {};
  const claims = (Array.isArray(setSpec.volumeClaimTemplates) ? setSpec.volumeClaimTemplates : [])
    .map((claim: unknown) => (isRecord(claim) && isRecord(claim.metadata) && typeof claim.metadata.name === 'string' ? claim.metadata.name : undefined))
    .filter((claim): claim is string => claim !== undefined);
  const volumes = Array.isArray(spec.volumes) ? spec.volumes : [];
  const podSpec: Record<string, unknown> = {
    ...spec,
    hostname: podName,
    // The controller orders the claim volumes by Go map iteration; sorted here.
    volumes: [
      ...[...new Set(claims)].sort().map((claim) => ({ name: claim, persistentVolumeClaim: { claimName: `${claim}-${name}-0` } })),
      ...volumes.filter((volume) => !(isRecord(volume) && claims.includes(volume.name as string))),
    ],
  };
  if (typeof setSpec.serviceName === 'string' && setSpec.serviceName !== '') podSpec.subdomain = setSpec.serviceName;
  if (podSpec.volumes === undefined || (podSpec.volumes as unknown[]).length === 0) delete podSpec.volumes;
  return podSpec;
}

/**
 * The pod the controller of `workload` (as stored: after the mutating chain) creates from its
 * template, as controller.GetPodFromTemplate makes it: the template's labels, annotations,
 * finalizers and spec, named after the workload, and for a DaemonSet the tolerations its
 * controller adds; undefined for an object no controller makes pods of. What the controllers add
 * besides is left out: labels such as pod-template-hash and controller-revision-hash and the
 * owner reference (not known offline), an indexed Job's index. A StatefulSet's pod is its first
 * (`<set>-0`), and a Job's carries the job-tracking finalizer.
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
  let spec = kind.kind === 'DaemonSet' && isRecord(template.spec) ? withDaemonPodTolerations(template.spec) : template.spec;
  // The Job controller tracks its pods with a finalizer (always, since Kubernetes 1.26).
  if (creator === 'job-controller') metadata.finalizers = [...(Array.isArray(metadata.finalizers) ? metadata.finalizers : []), JOB_TRACKING_FINALIZER];
  if (kind.kind === 'StatefulSet' && typeof name === 'string' && isRecord(template.spec)) spec = asFirstStatefulSetPod(workload, name, metadata, template.spec);
  return {
    pod: { apiVersion: 'v1', kind: 'Pod', metadata, spec },
    userInfo: { username: `system:serviceaccount:kube-system:${creator}`, groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'] },
  };
}
