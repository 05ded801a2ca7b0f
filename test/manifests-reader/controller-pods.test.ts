import { describe, expect, it } from 'vitest';
import type { AdmissionRequest, KubernetesObject } from '../../src/admission/types.js';
import { PolicyEngine } from '../../src/engine/engine.js';
import { checkManifests } from '../../src/manifests/check.js';
import { POD_SPEC_KINDS, podSpecPathOf } from '../../src/kube/pod-spec.js';
import { controllerPodOf } from '../../src/manifests/controller-pods.js';
import { mutating, validating } from '../helpers/policies.js';

const template = { metadata: { name: 'ignored', labels: { app: 'api' }, annotations: { note: 'x' }, finalizers: ['f'] }, spec: { containers: [{ name: 'api', image: 'nginx' }] } };

const daemonTolerations = [
  { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' },
  { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' },
  { key: 'node.kubernetes.io/disk-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/memory-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/pid-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' },
];

describe('controllerPodOf', () => {
  it.each([
    ['v1', 'ReplicationController', { template }, 'replication-controller'],
    ['apps/v1', 'Deployment', { template }, 'replicaset-controller'],
    ['apps/v1', 'ReplicaSet', { template }, 'replicaset-controller'],
    ['apps/v1', 'DaemonSet', { template }, 'daemon-set-controller'],
    ['batch/v1', 'Job', { template }, 'job-controller'],
    ['batch/v1', 'CronJob', { jobTemplate: { spec: { template } } }, 'job-controller'],
  ])('makes the pod of a %s %s from its template, as its controller does', (apiVersion, kind, spec, controller) => {
    const made = controllerPodOf({ apiVersion, kind, metadata: { name: 'api', namespace: 'shop', labels: { tier: 'workload' } }, spec });
    expect(made?.pod).toEqual({
      apiVersion: 'v1',
      kind: 'Pod',
      // The template's labels, annotations and finalizers, not its name nor the workload's labels.
      // A Job's pods carry the Job controller's tracking finalizer besides.
      metadata: { labels: { app: 'api' }, annotations: { note: 'x' }, finalizers: controller === 'job-controller' ? ['f', 'batch.kubernetes.io/job-tracking'] : ['f'], generateName: 'api-', namespace: 'shop' },
      spec: kind === 'DaemonSet' ? { ...template.spec, tolerations: daemonTolerations } : template.spec,
    });
    expect(made?.userInfo.username).toBe(`system:serviceaccount:kube-system:${controller}`);
  });

  it('makes a StatefulSet\'s first pod as its controller names it: <set>-0, its hostname, the service as subdomain, a claim volume per template', () => {
    const volumes = [{ name: 'data', emptyDir: {} }, { name: 'config', configMap: { name: 'c' } }];
    const set: KubernetesObject = {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name: 'db', namespace: 'shop' },
      spec: { serviceName: 'db-headless', volumeClaimTemplates: [{ metadata: { name: 'logs' } }, { metadata: { name: 'data' } }], template: { ...template, spec: { ...template.spec, volumes } } },
    };
    const made = controllerPodOf(set);
    expect(made?.pod.metadata).toEqual({
      name: 'db-0',
      namespace: 'shop',
      labels: { app: 'api', 'statefulset.kubernetes.io/pod-name': 'db-0', 'apps.kubernetes.io/pod-index': '0' },
      annotations: { note: 'x' },
      finalizers: ['f'],
    });
    expect(made?.pod.spec).toEqual({
      ...template.spec,
      hostname: 'db-0',
      subdomain: 'db-headless',
      // The claims take the place of a volume of their name (data's emptyDir is gone).
      volumes: [
        { name: 'data', persistentVolumeClaim: { claimName: 'data-db-0' } },
        { name: 'logs', persistentVolumeClaim: { claimName: 'logs-db-0' } },
        { name: 'config', configMap: { name: 'c' } },
      ],
    });
    expect(made?.userInfo.username).toBe('system:serviceaccount:kube-system:statefulset-controller');
  });

  describe('the tolerations the daemon set controller adds (AddOrUpdateDaemonPodTolerations)', () => {
    const podOf = (spec: Record<string, unknown>) => {
      const daemonSet: KubernetesObject = { apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'agent' }, spec: { template: { spec } } };
      const before = structuredClone(daemonSet);
      const pod = controllerPodOf(daemonSet)!.pod;
      expect(daemonSet).toEqual(before);
      return pod.spec as { tolerations: unknown[] };
    };
    const containers = [{ name: 'agent', image: 'agent' }];

    it('appends them after the template\'s own, network-unavailable only on the host network', () => {
      const own = { key: 'dedicated', operator: 'Equal', value: 'infra', effect: 'NoSchedule' };
      expect(podOf({ containers, tolerations: [own] }).tolerations).toEqual([own, ...daemonTolerations]);
      expect(podOf({ containers, hostNetwork: true }).tolerations).toEqual([
        ...daemonTolerations,
        { key: 'node.kubernetes.io/network-unavailable', operator: 'Exists', effect: 'NoSchedule' },
      ]);
    });

    it('keeps one equal to the controller\'s where it is, and replaces one that matches it with tolerationSeconds', () => {
      const tolerations = podOf({
        containers,
        tolerations: [
          { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
          { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' },
        ],
      }).tolerations;
      expect(tolerations).toEqual([
        { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' },
        { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' },
        ...daemonTolerations.slice(2),
      ]);
    });

    it('leaves one that differs in operator or value beside the controller\'s', () => {
      const equal = { key: 'node.kubernetes.io/not-ready', operator: 'Equal', value: '', effect: 'NoExecute' };
      expect(podOf({ containers, tolerations: [equal] }).tolerations).toEqual([equal, ...daemonTolerations]);
    });
  });

  it('makes a pod for every kind the policies read a pod template of, but Pod and PodTemplate (a controller for each)', () => {
    const workloads = POD_SPEC_KINDS.filter((kind) => kind !== '/Pod' && kind !== '/PodTemplate');
    for (const groupKind of workloads) {
      const [group, kind] = groupKind.split('/') as [string, string];
      const specPath = podSpecPathOf({ group, kind })!;
      // The object with the template's spec at the kind's pod spec path.
      const object: Record<string, unknown> = { apiVersion: group ? `${group}/v1` : 'v1', kind, metadata: { name: 'w' } };
      let at = object;
      for (const key of specPath.slice(0, -1)) at = (at[key] = {}) as Record<string, unknown>;
      at.spec = template.spec;
      expect(controllerPodOf(object as KubernetesObject)?.userInfo.username, groupKind).toMatch(/^system:serviceaccount:kube-system:[a-z-]+-controller$/);
    }
    expect(workloads.length).toBeGreaterThanOrEqual(7);
  });

  it.each([
    ['a Pod', { apiVersion: 'v1', kind: 'Pod', spec: template.spec }],
    ['a PodTemplate (no controller makes pods of it)', { apiVersion: 'v1', kind: 'PodTemplate', template }],
    ['a ConfigMap', { apiVersion: 'v1', kind: 'ConfigMap' }],
    ['a Deployment without a template', { apiVersion: 'apps/v1', kind: 'Deployment', spec: {} }],
    ['a Deployment of an unknown group', { apiVersion: 'example.com/v1', kind: 'Deployment', spec: { template } }],
  ])('makes no pod of %s', (_what, object) => {
    expect(controllerPodOf(object as KubernetesObject)).toBeUndefined();
  });
});

describe('checkManifests and the pods of templates', () => {
  const deployment = (image: string): KubernetesObject => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'api' },
    spec: { template: { metadata: { labels: { app: 'api' } }, spec: { containers: [{ name: 'api', image }] } } },
  });
  const document = (object: KubernetesObject) => ({ file: 'x.yaml', document: 1, object });

  it('judges the pod of an admitted workload\'s stored template, as the controller\'s service account, in the workload\'s namespace', async () => {
    const seen: AdmissionRequest[] = [];
    const engine = new PolicyEngine([
      // Mutates the template as stored: the pod is made from the mutated one.
      mutating('pin', (request) => {
        const spec = (request.object as { spec?: { template?: { metadata?: { labels?: Record<string, string> } } } }).spec;
        if (spec?.template?.metadata?.labels) spec.template.metadata.labels.pinned = 'yes';
      }),
      validating('pods only', (request) => {
        seen.push(request);
        const image = (request.object as { spec: { containers: Array<{ image: string }> } }).spec.containers[0]!.image;
        return image.startsWith('nginx') ? { allowed: true } : { allowed: false, message: `no ${image}` };
      }, { match: { kinds: ['Pod'] } }),
    ]);
    const report = await checkManifests(engine, [document(deployment('evil.io/x'))], { namespace: 'shop' });
    expect(report.allowed).toBe(false);
    expect(report.results.map((r) => [r.admission.request.kind.kind, r.admission.allowed, r.podOf])).toEqual([
      ['Deployment', true, undefined],
      ['Pod', false, { kind: 'Deployment', name: 'api' }],
    ]);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ operation: 'CREATE', namespace: 'shop', dryRun: true, userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller' } });
    // With the name the apiserver generates before the validating webhooks.
    expect(seen[0]!.object?.metadata).toEqual({ labels: { app: 'api', pinned: 'yes' }, generateName: 'api-', name: 'api-xxxxx', namespace: 'shop' });

    expect((await checkManifests(engine, [document(deployment('nginx:1.27'))])).allowed).toBe(true);
  });

  it('follows no denied workload: it creates no pods', async () => {
    const engine = new PolicyEngine([validating('no deployments', () => ({ allowed: false, message: 'no' }), { match: { kinds: ['apps/Deployment'] } })]);
    const report = await checkManifests(engine, [document(deployment('nginx'))]);
    expect(report.results).toHaveLength(1);
  });
});
