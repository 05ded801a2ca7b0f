import { describe, expect, it } from 'vitest';
import { decodeAdmissionReview } from '../../src/admission/review.js';
import type { KubernetesObject } from '../../src/admission/types.js';
import { findPoisonedKey } from '../../src/manifests/poisoning.js';
import { createRequest, objectNamespaceOf, reviewFor } from '../../src/manifests/request.js';
import { compileMatch } from '../../src/engine/match.js';
import { CustomResources, isNamespaced, resourceOf } from '../../src/manifests/resources.js';

const pod: KubernetesObject = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web' }, spec: { containers: [{ name: 'web', image: 'nginx' }] } };

describe('resourceOf and isNamespaced', () => {
  it.each([
    ['', 'Pod', 'pods', true],
    ['', 'Endpoints', 'endpoints', true],
    ['', 'Namespace', 'namespaces', false],
    ['', 'Node', 'nodes', false],
    ['', 'PersistentVolume', 'persistentvolumes', false],
    ['apps', 'Deployment', 'deployments', true],
    ['batch', 'CronJob', 'cronjobs', true],
    ['networking.k8s.io', 'Ingress', 'ingresses', true],
    ['networking.k8s.io', 'NetworkPolicy', 'networkpolicies', true],
    ['networking.k8s.io', 'IngressClass', 'ingressclasses', false],
    ['rbac.authorization.k8s.io', 'ClusterRole', 'clusterroles', false],
    ['rbac.authorization.k8s.io', 'Role', 'roles', true],
    ['storage.k8s.io', 'StorageClass', 'storageclasses', false],
    ['apiextensions.k8s.io', 'CustomResourceDefinition', 'customresourcedefinitions', false],
    ['admissionregistration.k8s.io', 'ValidatingWebhookConfiguration', 'validatingwebhookconfigurations', false],
    ['policy', 'PodDisruptionBudget', 'poddisruptionbudgets', true],
    ['gateway.networking.k8s.io', 'Gateway', 'gateways', true],
    ['gateway.networking.k8s.io', 'GatewayClass', 'gatewayclasses', false],
    ['cert-manager.io', 'ClusterIssuer', 'clusterissuers', false],
    // A CustomResourceDefinition's group that ends in .k8s.io (network-policy-api): the Cluster* convention holds.
    ['policy.networking.k8s.io', 'ClusterNetworkPolicy', 'clusternetworkpolicies', false],
    ['cert-manager.io', 'Certificate', 'certificates', true],
    ['kyverno.io', 'Policy', 'policies', true],
    ['example.com', 'Box', 'boxes', true],
    ['example.com', 'Mesh', 'meshes', true],
  ])('%s/%s is served as %s (namespaced: %s)', (group, kind, resource, namespaced) => {
    expect(resourceOf({ group, kind })).toBe(resource);
    expect(isNamespaced({ group, kind })).toBe(namespaced);
  });
});

describe('createRequest', () => {
  it("takes a custom kind's resource and scope from its CustomResourceDefinition, where the manifests hold one", () => {
    const crd = (group: string, kind: string, plural: string, scope: string): KubernetesObject => ({
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: `${plural}.${group}` },
      spec: { group, scope, names: { kind, plural } },
    });
    const customResources = new CustomResources([
      crd('templates.gatekeeper.sh', 'ConstraintTemplate', 'constrainttemplates', 'Cluster'),
      crd('chaos-mesh.org', 'PodChaos', 'podchaos', 'Namespaced'),
      // Not a definition the apiserver would take: passed over.
      crd('example.com', 'Box', 'boxen', 'Everywhere'),
    ]);
    const template = createRequest({ apiVersion: 'templates.gatekeeper.sh/v1', kind: 'ConstraintTemplate', metadata: { name: 't', namespace: 'x' } }, { customResources });
    expect([template.resource.resource, template.namespace, template.object?.metadata?.namespace]).toEqual(['constrainttemplates', undefined, undefined]);
    const chaos = createRequest({ apiVersion: 'chaos-mesh.org/v1alpha1', kind: 'PodChaos', metadata: { name: 'c' } }, { customResources });
    expect([chaos.resource.resource, chaos.namespace]).toEqual(['podchaos', 'default']);
    // Without the definitions: guessed (namespaced, an English plural).
    const guessed = createRequest({ apiVersion: 'templates.gatekeeper.sh/v1', kind: 'ConstraintTemplate', metadata: { name: 't' } });
    expect([guessed.resource.resource, guessed.namespace]).toEqual(['constrainttemplates', 'default']);
    expect(customResources.isGuessed({ group: 'example.com', kind: 'Box' })).toBe(true);
    expect(customResources.isGuessed({ group: 'chaos-mesh.org', kind: 'PodChaos' })).toBe(false);
    expect(customResources.isGuessed({ group: 'apps', kind: 'Deployment' })).toBe(false);
  });

  it('takes no definition the apiserver would refuse or could not act on, nor one of two that disagree', () => {
    const crd = (group: string, kind: string, plural: string, scope: string, name = `${plural}.${group}`): KubernetesObject => ({
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name },
      spec: { group, scope, names: { kind, plural } },
    });
    const customResources = new CustomResources([
      // A group without a dot (refused), or one the apiserver serves itself: the built-in kind stays as it is.
      crd('', 'Pod', 'notpods', 'Cluster', 'notpods.example.com'),
      crd('networking.k8s.io', 'Ingress', 'gateways', 'Cluster'),
      // A name other than plural.group is refused.
      crd('example.com', 'Box', 'boxes', 'Cluster', 'boxen.example.com'),
      // Two definitions of one kind that disagree: the apiserver takes one, not known which.
      crd('chaos-mesh.org', 'PodChaos', 'podchaos', 'Namespaced'),
      crd('chaos-mesh.org', 'PodChaos', 'podchaoses', 'Cluster'),
      crd('snapshot.storage.k8s.io', 'VolumeSnapshotClass', 'volumesnapshotclasses', 'Cluster'),
    ]);
    const pod = createRequest({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' } }, { customResources });
    expect([pod.resource.resource, pod.namespace]).toEqual(['pods', 'default']);
    expect(createRequest({ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'i' } }, { customResources }).resource.resource).toBe('ingresses');
    expect(customResources.isGuessed({ group: 'example.com', kind: 'Box' })).toBe(true);
    expect(customResources.get({ group: 'chaos-mesh.org', kind: 'PodChaos' })).toBeUndefined();
    expect(customResources.isGuessed({ group: 'chaos-mesh.org', kind: 'PodChaos' })).toBe(true);
    // A .k8s.io group the apiserver does not serve is a custom one: defined here, guessed without.
    expect(customResources.get({ group: 'snapshot.storage.k8s.io', kind: 'VolumeSnapshotClass' })).toEqual({ resource: 'volumesnapshotclasses', namespaced: false });
    expect(new CustomResources([]).isGuessed({ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute' })).toBe(true);
    expect(new CustomResources([]).isGuessed({ group: 'networking.k8s.io', kind: 'Ingress' })).toBe(false);
  });

  it('builds a CREATE request as the apiserver sends it, filling in the default namespace', () => {
    const request = createRequest(pod, { uid: 'u1' });
    expect(request).toEqual({
      uid: 'u1',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' },
      requestResource: { group: '', version: 'v1', resource: 'pods' },
      name: 'web',
      namespace: 'default',
      operation: 'CREATE',
      userInfo: { username: 'tollgate:check', groups: ['system:authenticated'] },
      object: { ...pod, metadata: { name: 'web', namespace: 'default' } },
      oldObject: null,
      dryRun: false,
      options: { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions' },
    });
    // The caller's manifest is not changed.
    expect(pod.metadata).toEqual({ name: 'web' });
  });

  it('keeps the namespace a manifest names, and uses the given default otherwise', () => {
    expect(createRequest({ ...pod, metadata: { name: 'a', namespace: 'shop' } }, { namespace: 'other' }).namespace).toBe('shop');
    const request = createRequest(pod, { namespace: 'other' });
    expect(request.namespace).toBe('other');
    expect(request.object?.metadata?.namespace).toBe('other');
  });

  it('gives a cluster-scoped object no namespace, even when its manifest states one', () => {
    const request = createRequest({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'r', namespace: 'stray' } });
    expect(request.namespace).toBeUndefined();
    // The apiserver clears it before admission, so no webhook sees it on the object either.
    expect(request.object?.metadata).toEqual({ name: 'r' });
    expect(request.kind).toEqual({ group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'ClusterRole' });
    expect(request.resource.resource).toBe('clusterroles');
  });

  it("gives a Namespace's request its own name as namespace, as the apiserver's create handler does, and the object none", () => {
    const request = createRequest({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a', namespace: 'stray' } });
    expect([request.namespace, request.name, request.object?.metadata]).toEqual(['team-a', 'team-a', { name: 'team-a' }]);
    // A policy matching by namespace takes it, as in the cluster.
    expect(compileMatch({ namespaces: ['team-*'] })(request)).toBe(true);
    expect(compileMatch({ excludeNamespaces: ['team-*'] })(request)).toBe(false);
    expect(objectNamespaceOf(request)).toBeUndefined();
    expect(objectNamespaceOf(createRequest(pod))).toBe('default');
  });

  it('leaves the name out for generateName, as the apiserver does', () => {
    const request = createRequest({ apiVersion: 'batch/v1', kind: 'Job', metadata: { generateName: 'migrate-' } });
    expect(request.name).toBeUndefined();
    expect(request.resource).toEqual({ group: 'batch', version: 'v1', resource: 'jobs' });
  });

  it('marks a dry run in the request and its options', () => {
    const request = createRequest(pod, { dryRun: true });
    expect(request.dryRun).toBe(true);
    expect(request.options).toEqual({ apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions', dryRun: ['All'] });
  });

  it('builds UPDATE with the old object and a subresource', () => {
    const old = { ...pod, metadata: { name: 'web', namespace: 'shop' } };
    const request = createRequest({ ...old, spec: { containers: [], ephemeralContainers: [{ name: 'd', image: 'busybox' }] } }, { operation: 'UPDATE', oldObject: old, subResource: 'ephemeralcontainers' });
    expect(request).toMatchObject({ operation: 'UPDATE', oldObject: old, subResource: 'ephemeralcontainers', requestSubResource: 'ephemeralcontainers' });
    expect(request.options?.kind).toBe('UpdateOptions');
  });

  it('refuses an UPDATE without the old object', () => {
    expect(() => createRequest(pod, { operation: 'UPDATE' })).toThrow(/needs oldObject/);
  });

  it('sends DELETE with no object and the manifest as the old object', () => {
    const request = createRequest(pod, { operation: 'DELETE' });
    expect(request.object).toBeNull();
    expect(request.oldObject?.metadata?.name).toBe('web');
    expect(request.options?.kind).toBe('DeleteOptions');
  });

  it('wraps a request in a review the webhook decodes as it is', () => {
    const request = createRequest(pod);
    const review = reviewFor(request);
    expect(review).toEqual({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request });
    expect(decodeAdmissionReview(JSON.parse(JSON.stringify(review))).request).toEqual(request);
  });
});

describe('findPoisonedKey', () => {
  it.each([
    ['{"a":{"__proto__":{"x":1}}}', 'a.__proto__'],
    ['{"a":[{"b":1},{"constructor":{"prototype":{"x":1}}}]}', 'a[1].constructor.prototype'],
    ['{"metadata":{"labels":{"example.com/x":{"__proto__":1}}}}', 'metadata.labels["example.com/x"].__proto__'],
  ])('finds the key in %s', (json, where) => {
    expect(findPoisonedKey(JSON.parse(json))).toBe(where);
  });

  it('lets a constructor key without a prototype key through, as the webhook’s parser does', () => {
    expect(findPoisonedKey(JSON.parse('{"constructor":{"name":"x"},"b":{"constructor":"y"}}'))).toBeUndefined();
  });

  it('finds a key at any depth without overflowing the stack', () => {
    const deep = JSON.parse(`${'{"a":'.repeat(50_000)}{"__proto__":1}${'}'.repeat(50_000)}`) as unknown;
    expect(findPoisonedKey(deep)).toBe(`${'a.'.repeat(50_000)}__proto__`);
  });
});
