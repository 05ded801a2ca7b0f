// AdmissionReview bodies shaped as kube-apiserver sends them (defaulted objects, managedFields,
// userInfo, options), generated so that no large fixture lives in the repository.
import type { AdmissionReview, KubernetesObject } from '../../src/admission/types.js';

/** Images every built-in config allows, so that a review is answered with an allow, not a denial. */
const IMAGES = ['registry.k8s.io/pause:3.9', 'nginx:1.27.3', 'registry.k8s.io/coredns/coredns:v1.11.3'];

export interface PodShape {
  containers: number;
  /** Add the managedFields the apiserver records for a server-side apply or a create. */
  managedFields?: boolean;
  /** Environment variables per container, the usual way a pod grows large. */
  envPerContainer?: number;
}

function container(index: number, env: number): Record<string, unknown> {
  return {
    name: `c${index}`,
    image: IMAGES[index % IMAGES.length],
    imagePullPolicy: 'IfNotPresent',
    ports: [{ name: 'http', containerPort: 8080 + index, protocol: 'TCP' }],
    env: Array.from({ length: env }, (_, i) => ({ name: `SETTING_${index}_${i}`, value: `value-${i}-${'x'.repeat(24)}` })),
    resources: { limits: { cpu: '500m', memory: '256Mi' }, requests: { cpu: '100m', memory: '128Mi' } },
    volumeMounts: [{ name: 'kube-api-access-7xk2p', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true }],
    terminationMessagePath: '/dev/termination-log',
    terminationMessagePolicy: 'File',
    securityContext: { allowPrivilegeEscalation: false, runAsNonRoot: true, capabilities: { drop: ['ALL'] } },
  };
}

function fieldsV1ForContainers(count: number): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  for (let i = 0; i < count; i++) {
    fields[`k:{"name":"c${i}"}`] = {
      '.': {},
      'f:env': {},
      'f:image': {},
      'f:imagePullPolicy': {},
      'f:name': {},
      'f:ports': { '.': {}, [`k:{"containerPort":${8080 + i},"protocol":"TCP"}`]: { '.': {}, 'f:containerPort': {}, 'f:name': {}, 'f:protocol': {} } },
      'f:resources': { '.': {}, 'f:limits': { '.': {}, 'f:cpu': {}, 'f:memory': {} }, 'f:requests': { '.': {}, 'f:cpu': {}, 'f:memory': {} } },
      'f:securityContext': { '.': {}, 'f:allowPrivilegeEscalation': {}, 'f:capabilities': { '.': {}, 'f:drop': {} }, 'f:runAsNonRoot': {} },
      'f:terminationMessagePath': {},
      'f:terminationMessagePolicy': {},
    };
  }
  return fields;
}

function podSpec(shape: PodShape): Record<string, unknown> {
  return {
    containers: Array.from({ length: shape.containers }, (_, i) => container(i, shape.envPerContainer ?? 2)),
    dnsPolicy: 'ClusterFirst',
    enableServiceLinks: true,
    preemptionPolicy: 'PreemptLowerPriority',
    priority: 0,
    restartPolicy: 'Always',
    schedulerName: 'default-scheduler',
    securityContext: {},
    serviceAccount: 'default',
    serviceAccountName: 'default',
    terminationGracePeriodSeconds: 30,
    tolerations: [
      { effect: 'NoExecute', key: 'node.kubernetes.io/not-ready', operator: 'Exists', tolerationSeconds: 300 },
      { effect: 'NoExecute', key: 'node.kubernetes.io/unreachable', operator: 'Exists', tolerationSeconds: 300 },
    ],
    volumes: [
      {
        name: 'kube-api-access-7xk2p',
        projected: {
          defaultMode: 420,
          sources: [
            { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
            { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
            { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
          ],
        },
      },
    ],
  };
}

export function pod(shape: PodShape): KubernetesObject {
  const metadata: Record<string, unknown> = {
    generateName: 'web-7d9c6b5f4-',
    namespace: 'shop',
    labels: { app: 'web', 'pod-template-hash': '7d9c6b5f4' },
    ownerReferences: [
      { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7d9c6b5f4', uid: '0b6f4f8e-2f42-4a9e-9d3c-5c1f0f7d8a11', controller: true, blockOwnerDeletion: true },
    ],
  };
  if (shape.managedFields) {
    metadata.managedFields = [
      {
        manager: 'kube-controller-manager',
        operation: 'Update',
        apiVersion: 'v1',
        time: '2026-11-25T10:00:00Z',
        fieldsType: 'FieldsV1',
        fieldsV1: {
          'f:metadata': { 'f:generateName': {}, 'f:labels': { '.': {}, 'f:app': {}, 'f:pod-template-hash': {} }, 'f:ownerReferences': { '.': {} } },
          'f:spec': { 'f:containers': fieldsV1ForContainers(shape.containers), 'f:dnsPolicy': {}, 'f:restartPolicy': {} },
        },
      },
    ];
  }
  return { apiVersion: 'v1', kind: 'Pod', metadata, spec: podSpec(shape), status: { phase: 'Pending', qosClass: 'Burstable' } };
}

export function deployment(): KubernetesObject {
  const template = pod({ containers: 2, envPerContainer: 4 });
  const spec = template.spec as Record<string, unknown>;
  const manifest = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'shop', labels: { app: 'web' } },
    spec: { replicas: 3, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: spec.containers } } },
  };
  return {
    ...manifest,
    metadata: {
      ...manifest.metadata,
      generation: 1,
      annotations: { 'kubectl.kubernetes.io/last-applied-configuration': `${JSON.stringify(manifest)}\n` },
      managedFields: [
        {
          manager: 'kubectl-client-side-apply',
          operation: 'Update',
          apiVersion: 'apps/v1',
          time: '2026-11-25T10:00:00Z',
          fieldsType: 'FieldsV1',
          fieldsV1: {
            'f:metadata': { 'f:annotations': { '.': {}, 'f:kubectl.kubernetes.io/last-applied-configuration': {} }, 'f:labels': { '.': {}, 'f:app': {} } },
            'f:spec': {
              'f:progressDeadlineSeconds': {},
              'f:replicas': {},
              'f:revisionHistoryLimit': {},
              'f:selector': {},
              'f:strategy': { 'f:rollingUpdate': { '.': {}, 'f:maxSurge': {}, 'f:maxUnavailable': {} }, 'f:type': {} },
              'f:template': { 'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } }, 'f:spec': { 'f:containers': fieldsV1ForContainers(2) } },
            },
          },
        },
      ],
    },
    spec: {
      ...manifest.spec,
      progressDeadlineSeconds: 600,
      revisionHistoryLimit: 10,
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } },
      template: { metadata: { labels: { app: 'web' } }, spec: { ...spec, tolerations: undefined, volumes: undefined } },
    },
    status: {},
  };
}

let sequence = 0;

/** The AdmissionReview for a CREATE of `object`, as the apiserver posts it. */
export function reviewOf(object: KubernetesObject): AdmissionReview {
  const isPod = object.kind === 'Pod';
  const kind = isPod ? { group: '', version: 'v1', kind: 'Pod' } : { group: 'apps', version: 'v1', kind: String(object.kind) };
  const resource = isPod ? { group: '', version: 'v1', resource: 'pods' } : { group: 'apps', version: 'v1', resource: `${String(object.kind).toLowerCase()}s` };
  sequence += 1;
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: `5f4d3c2b-1a09-4e8f-b7a6-${sequence.toString(16).padStart(12, '0')}`,
      kind,
      resource,
      requestKind: kind,
      requestResource: resource,
      ...(typeof object.metadata?.name === 'string' ? { name: object.metadata.name } : {}),
      namespace: 'shop',
      operation: 'CREATE',
      userInfo: {
        username: isPod ? 'system:serviceaccount:kube-system:replicaset-controller' : 'jane@example.com',
        uid: '3c1f0a2e-8b7d-4c6e-9f5a-2d1b0c9e8f7a',
        groups: isPod ? ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'] : ['system:authenticated'],
      },
      object,
      oldObject: null,
      dryRun: false,
      options: { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1', ...(isPod ? {} : { fieldManager: 'kubectl-client-side-apply' }) },
    },
  };
}

export interface Body {
  /** Short name for the table. */
  name: string;
  json: string;
  uid: string;
}

export function bodyOf(name: string, object: KubernetesObject): Body {
  const review = reviewOf(object);
  return { name, json: JSON.stringify(review), uid: review.request?.uid ?? '' };
}

/** The three bodies the issue names. */
export function standardBodies(): Body[] {
  return [
    bodyOf('small pod', pod({ containers: 1 })),
    bodyOf('pod, 10 containers + managedFields', pod({ containers: 10, managedFields: true })),
    bodyOf('Deployment', deployment()),
  ];
}

/** A pod of 10 containers grown with env vars to about `bytes` bytes of review. */
export function podOfSize(bytes: number): Body {
  const base = bodyOf('probe', pod({ containers: 10, managedFields: true, envPerContainer: 0 })).json.length;
  const perEnv = JSON.stringify({ name: 'SETTING_0_0000', value: `value-0000-${'x'.repeat(24)}` }).length + 1;
  const envPerContainer = Math.max(1, Math.round((bytes - base) / perEnv / 10));
  return bodyOf(formatBytes(bytes), pod({ containers: 10, managedFields: true, envPerContainer }));
}

export function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(bytes % (1024 * 1024) === 0 ? 0 : 1)} MiB`;
  if (bytes >= 1024) return `${Math.round(bytes / 1024)} KiB`;
  return `${bytes} B`;
}
