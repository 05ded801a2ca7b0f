// tollgate's public API for policy authors and embedders.
export { definePolicy, PolicyConfigError } from './engine/policy.js';
export type {
  MutatingPolicy,
  MutatingPolicyModule,
  MutationResult,
  PolicyContext,
  PolicyKind,
  PolicyLogger,
  PolicyModule,
  ValidatingPolicy,
  ValidatingPolicyModule,
  ValidationResult,
  Violation,
} from './engine/policy.js';
export type {
  AdmissionRequest,
  AdmissionResponse,
  AdmissionReview,
  GroupVersionKind,
  GroupVersionResource,
  JsonPatchOperation,
  KubernetesObject,
  ObjectMeta,
  Operation,
  UserInfo,
} from './admission/types.js';
export { CONTAINER_LISTS, POD_SPEC_KINDS, containersOf, podSpecPathOf, type ContainerRef, type ContainerList } from './kube/pod-spec.js';
export { PolicyEngine, type PolicyOutcome, type ReviewOutcome } from './engine/engine.js';
export type { Verdict } from './admission/response.js';
export type { TollgateConfig, PolicyEntry, MatchSpec } from './config/schema.js';
