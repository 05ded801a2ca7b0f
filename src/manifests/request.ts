// Builds the AdmissionRequest the apiserver would send a webhook for a manifest: kind and resource
// from the manifest and discovery's rules, the namespace filled in as the apiserver fills it.
import { randomUUID } from 'node:crypto';
import type {
  AdmissionApiVersion,
  AdmissionRequest,
  AdmissionReview,
  GroupVersionKind,
  KubernetesObject,
  Operation,
  UserInfo,
} from '../admission/types.js';
import { isNamespaced, resourceOf, type CustomResources } from './resources.js';

/** The user `tollgate check` sends requests as. */
export const CI_USER: Readonly<UserInfo> = Object.freeze({ username: 'tollgate:check', groups: ['system:authenticated'] });
/** The namespace of a namespaced object whose manifest names none (kubectl's default too). */
export const DEFAULT_NAMESPACE = 'default';

export interface RequestOptions {
  /** CREATE (the default), UPDATE, DELETE or CONNECT. */
  operation?: Operation;
  /** The object as stored before the request: required for UPDATE; for DELETE it defaults to the manifest. */
  oldObject?: KubernetesObject | null;
  /** A subresource such as `ephemeralcontainers`, `status` or `exec`. */
  subResource?: string;
  /** Namespace of a namespaced object whose manifest names none; default `default`. */
  namespace?: string;
  userInfo?: UserInfo;
  /** Whether the request is a dry run (`kubectl --dry-run=server`); policies must have no side effects either way. */
  dryRun?: boolean;
  /** Request uid; a random UUID by default. */
  uid?: string;
  /** The CustomResourceDefinitions known (those of the manifests), for their kinds' resource and scope; other kinds are looked up or guessed. */
  customResources?: CustomResources;
}

/** The group, version and kind a manifest states in its `apiVersion` and `kind`. */
export function groupVersionKindOf(manifest: KubernetesObject): GroupVersionKind {
  const apiVersion = typeof manifest.apiVersion === 'string' ? manifest.apiVersion : '';
  const slash = apiVersion.indexOf('/');
  return {
    group: slash === -1 ? '' : apiVersion.slice(0, slash),
    version: slash === -1 ? apiVersion : apiVersion.slice(slash + 1),
    kind: typeof manifest.kind === 'string' ? manifest.kind : '',
  };
}

/** The core Namespace kind: cluster-scoped, yet its requests name a namespace (its own). */
function isNamespaceKind(kind: Pick<GroupVersionKind, 'group' | 'kind'>): boolean {
  return kind.group === '' && kind.kind === 'Namespace';
}

/** The namespace an object lives in, from its request: none for a cluster-scoped object, a Namespace included. */
export function objectNamespaceOf(request: AdmissionRequest): string | undefined {
  return isNamespaceKind(request.kind) ? undefined : request.namespace;
}

/** The apiserver's generated names: the prefix, cut to 58 characters, and 5 random ones (names.SimpleNameGenerator). */
export const GENERATED_SUFFIX = 'xxxxx';

/**
 * The request as the validating phase sees a generateName object: the store generates its name
 * before the validating webhooks (AdmissionToValidateObjectFunc passes it on), in the request and
 * the object. The suffix here stands for the random one; undefined when no name is generated.
 */
export function withGeneratedName(request: AdmissionRequest): AdmissionRequest | undefined {
  const metadata = request.object?.metadata;
  const generateName = metadata?.generateName;
  if (request.operation !== 'CREATE' || request.name || typeof generateName !== 'string' || generateName === '' || metadata?.name) return undefined;
  const name = `${generateName.slice(0, 58)}${GENERATED_SUFFIX}`;
  return { ...request, name, object: { ...request.object, metadata: { ...metadata, name } } };
}

const OPTIONS_KIND: Record<Operation, string | undefined> = { CREATE: 'CreateOptions', UPDATE: 'UpdateOptions', DELETE: 'DeleteOptions', CONNECT: undefined };

/**
 * A cluster-scoped object as the apiserver passes it to admission: it clears a namespace the
 * manifest states (EnsureObjectNamespaceMatchesRequestNamespace), and kubectl drops it before.
 */
function withoutNamespace(manifest: KubernetesObject, metadata: KubernetesObject['metadata']): KubernetesObject {
  if (metadata === undefined || !Object.hasOwn(metadata, 'namespace')) return manifest;
  const { namespace: _cleared, ...rest } = metadata;
  return { ...manifest, metadata: rest };
}

/**
 * The AdmissionRequest for `manifest`, as the apiserver would send it (CREATE unless told
 * otherwise). A namespaced object without a namespace gets the default one, in the request and
 * in the object, as the apiserver does before admission; a cluster-scoped object has none.
 * For DELETE the manifest is the object being deleted (`oldObject`) and `object` is null.
 */
export function createRequest(manifest: KubernetesObject, options: RequestOptions = {}): AdmissionRequest {
  const operation = options.operation ?? 'CREATE';
  if (operation === 'UPDATE' && options.oldObject === undefined) throw new TypeError('an UPDATE request needs oldObject: the object as stored before the update');
  const kind = groupVersionKindOf(manifest);
  const defined = options.customResources?.get(kind);
  const resource = { group: kind.group, version: kind.version, resource: defined?.resource ?? resourceOf(kind) };
  const metadata = typeof manifest.metadata === 'object' && manifest.metadata !== null ? manifest.metadata : undefined;
  const stated = typeof metadata?.namespace === 'string' && metadata.namespace !== '' ? metadata.namespace : undefined;
  const namespace = (defined?.namespaced ?? isNamespaced(kind)) ? (stated ?? options.namespace ?? DEFAULT_NAMESPACE) : undefined;
  const object = namespace === undefined ? withoutNamespace(manifest, metadata) : stated === undefined ? { ...manifest, metadata: { ...metadata, namespace } } : manifest;

  const request: AdmissionRequest = {
    uid: options.uid ?? randomUUID(),
    kind,
    resource,
    requestKind: kind,
    requestResource: resource,
    operation,
    userInfo: structuredClone(options.userInfo ?? CI_USER),
    object: operation === 'DELETE' ? null : object,
    oldObject: operation === 'DELETE' ? (options.oldObject ?? object) : (options.oldObject ?? null),
    dryRun: options.dryRun ?? false,
  };
  if (typeof metadata?.name === 'string' && metadata.name !== '') request.name = metadata.name;
  if (namespace !== undefined) request.namespace = namespace;
  // A Namespace's own requests carry its name as their namespace (the create handler sets it, and
  // the URL of the others names it): a policy matching by namespace sees it so in the cluster.
  else if (isNamespaceKind(kind) && request.name !== undefined) request.namespace = request.name;
  if (options.subResource) {
    request.subResource = options.subResource;
    request.requestSubResource = options.subResource;
  }
  const optionsKind = OPTIONS_KIND[operation];
  if (optionsKind) request.options = { apiVersion: 'meta.k8s.io/v1', kind: optionsKind, ...(request.dryRun ? { dryRun: ['All'] } : {}) };
  return request;
}

/** The AdmissionReview envelope the apiserver POSTs, around a request. */
export function reviewFor(request: AdmissionRequest, apiVersion: AdmissionApiVersion = 'admission.k8s.io/v1'): AdmissionReview {
  return { apiVersion, kind: 'AdmissionReview', request };
}
