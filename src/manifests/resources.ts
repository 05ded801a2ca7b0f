// What the apiserver knows from discovery and a manifest does not say: the resource (plural) of a
// kind and whether it is namespaced. A table for the built-in kinds, a careful guess for the rest.
import type { GroupVersionKind, KubernetesObject } from '../admission/types.js';

/** `group/Kind` -> resource, where the plural is not the regular one or is worth stating. */
const RESOURCES: ReadonlyMap<string, string> = new Map([
  ['/Endpoints', 'endpoints'],
  ['/ComponentStatus', 'componentstatuses'],
  ['/PodSecurityPolicy', 'podsecuritypolicies'],
  ['policy/PodSecurityPolicy', 'podsecuritypolicies'],
  ['networking.k8s.io/Ingress', 'ingresses'],
  ['extensions/Ingress', 'ingresses'],
  ['networking.k8s.io/NetworkPolicy', 'networkpolicies'],
  ['scheduling.k8s.io/PriorityClass', 'priorityclasses'],
  ['storage.k8s.io/StorageClass', 'storageclasses'],
  ['networking.k8s.io/IngressClass', 'ingressclasses'],
  ['node.k8s.io/RuntimeClass', 'runtimeclasses'],
  ['apiextensions.k8s.io/CustomResourceDefinition', 'customresourcedefinitions'],
  ['admissionregistration.k8s.io/ValidatingAdmissionPolicy', 'validatingadmissionpolicies'],
  ['flowcontrol.apiserver.k8s.io/PriorityLevelConfiguration', 'prioritylevelconfigurations'],
]);

/** Cluster-scoped kinds, as `group/Kind`; every other kind is taken to be namespaced. */
const CLUSTER_SCOPED: ReadonlySet<string> = new Set([
  '/Namespace',
  '/Node',
  '/PersistentVolume',
  '/ComponentStatus',
  'rbac.authorization.k8s.io/ClusterRole',
  'rbac.authorization.k8s.io/ClusterRoleBinding',
  'apiextensions.k8s.io/CustomResourceDefinition',
  'apiregistration.k8s.io/APIService',
  'admissionregistration.k8s.io/MutatingWebhookConfiguration',
  'admissionregistration.k8s.io/ValidatingWebhookConfiguration',
  'admissionregistration.k8s.io/ValidatingAdmissionPolicy',
  'admissionregistration.k8s.io/ValidatingAdmissionPolicyBinding',
  'admissionregistration.k8s.io/MutatingAdmissionPolicy',
  'admissionregistration.k8s.io/MutatingAdmissionPolicyBinding',
  'certificates.k8s.io/CertificateSigningRequest',
  'flowcontrol.apiserver.k8s.io/FlowSchema',
  'flowcontrol.apiserver.k8s.io/PriorityLevelConfiguration',
  'gateway.networking.k8s.io/GatewayClass',
  'networking.k8s.io/IngressClass',
  'networking.k8s.io/IPAddress',
  'networking.k8s.io/ServiceCIDR',
  'node.k8s.io/RuntimeClass',
  'policy/PodSecurityPolicy',
  'scheduling.k8s.io/PriorityClass',
  'storage.k8s.io/CSIDriver',
  'storage.k8s.io/CSINode',
  'storage.k8s.io/StorageClass',
  'storage.k8s.io/VolumeAttachment',
  'storage.k8s.io/VolumeAttributesClass',
  'resource.k8s.io/DeviceClass',
  'resource.k8s.io/ResourceSlice',
]);

/**
 * The lower-case plural the apiserver serves a kind as. Custom resources usually follow English
 * plurals, which this guesses (kubernetes' own guess turns `Gateway` into `gatewaies`).
 */
export function resourceOf(kind: Pick<GroupVersionKind, 'group' | 'kind'>): string {
  const known = RESOURCES.get(`${kind.group}/${kind.kind}`);
  if (known) return known;
  const singular = kind.kind.toLowerCase();
  if (singular === '') return '';
  if (/(?:s|x|z|ch|sh)$/.test(singular)) return `${singular}es`;
  if (/[^aeiou]y$/.test(singular)) return `${singular.slice(0, -1)}ies`;
  return `${singular}s`;
}

/**
 * Whether objects of this kind live in a namespace. Unknown kinds are taken to be namespaced,
 * except the `Cluster*` convention custom resources follow (ClusterIssuer, ClusterPolicy).
 */
export function isNamespaced(kind: Pick<GroupVersionKind, 'group' | 'kind'>): boolean {
  if (CLUSTER_SCOPED.has(`${kind.group}/${kind.kind}`)) return false;
  return isApiserverGroup(kind.group) || !/^Cluster[A-Z]/.test(kind.kind);
}

/**
 * The API groups kube-apiserver serves itself: a CustomResourceDefinition cannot redefine their
 * kinds (the built-in handlers come first), and every kind of another group is defined by a
 * CustomResourceDefinition or an aggregated API, whatever its group's name (external-snapshotter's
 * snapshot.storage.k8s.io, Gateway API's gateway.networking.k8s.io end in .k8s.io).
 */
const APISERVER_GROUPS: ReadonlySet<string> = new Set([
  '',
  'admissionregistration.k8s.io',
  'apiextensions.k8s.io',
  'apiregistration.k8s.io',
  'apps',
  'authentication.k8s.io',
  'authorization.k8s.io',
  'autoscaling',
  'batch',
  'certificates.k8s.io',
  'coordination.k8s.io',
  'discovery.k8s.io',
  'events.k8s.io',
  'extensions',
  'flowcontrol.apiserver.k8s.io',
  'internal.apiserver.k8s.io',
  'networking.k8s.io',
  'node.k8s.io',
  'policy',
  'rbac.authorization.k8s.io',
  'resource.k8s.io',
  'scheduling.k8s.io',
  'storage.k8s.io',
  'storagemigration.k8s.io',
]);

/** Whether kube-apiserver serves the group itself (a dotless group is Kubernetes' own too: a CustomResourceDefinition's group needs a dot). */
function isApiserverGroup(group: string): boolean {
  return APISERVER_GROUPS.has(group) || !group.includes('.');
}

/** A kind's resource (plural) and scope, as discovery serves them. */
export interface KindResource {
  resource: string;
  namespaced: boolean;
}

/**
 * What discovery would say of the custom kinds the manifests define: the plural and scope of each
 * CustomResourceDefinition among them, by `group/Kind`, so that their objects need no guess.
 */
export class CustomResources {
  /** By kind: its definition, or null where the manifests' definitions of it disagree. */
  private readonly byKind = new Map<string, KindResource | null>();

  constructor(objects: Iterable<KubernetesObject>) {
    for (const object of objects) {
      if (object.apiVersion !== 'apiextensions.k8s.io/v1' || object.kind !== 'CustomResourceDefinition') continue;
      const spec = object['spec'] as { group?: unknown; scope?: unknown; names?: { kind?: unknown; plural?: unknown } } | undefined;
      const { group, scope } = spec ?? {};
      const { kind, plural } = spec?.names ?? {};
      if (typeof group !== 'string' || typeof kind !== 'string' || typeof plural !== 'string' || (scope !== 'Namespaced' && scope !== 'Cluster')) continue;
      // What the apiserver refuses (a group without a dot, a name other than plural.group) defines
      // nothing; nor can a definition change a kind the apiserver serves itself.
      if (isApiserverGroup(group) || object.metadata?.name !== `${plural}.${group}`) continue;
      const key = `${group}/${kind}`;
      const defined: KindResource = { resource: plural, namespaced: scope === 'Namespaced' };
      const earlier = this.byKind.get(key);
      // Two definitions of one kind that disagree: the apiserver accepts its names for one of them
      // only, the other's NamesAccepted condition false, and which is not known offline.
      const agrees = earlier === undefined || (earlier !== null && earlier.resource === defined.resource && earlier.namespaced === defined.namespaced);
      this.byKind.set(key, agrees ? defined : null);
    }
  }

  get(kind: Pick<GroupVersionKind, 'group' | 'kind'>): KindResource | undefined {
    return this.byKind.get(`${kind.group}/${kind.kind}`) ?? undefined;
  }

  /** A custom kind none of the manifests' definitions gives (or whose definitions disagree): its resource and scope are guesses. */
  isGuessed(kind: Pick<GroupVersionKind, 'group' | 'kind'>): boolean {
    return !isApiserverGroup(kind.group) && this.get(kind) === undefined;
  }
}
