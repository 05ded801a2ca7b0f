// tollgate's public API for policy authors and embedders.
export { definePolicy, PolicyConfigError } from './engine/policy.js';
export { deepFreeze } from './frozen.js';
export type {
  EditingPolicy,
  MutatingPolicy,
  MutatingPolicyModule,
  MutationResult,
  PatchingPolicy,
  PatchResult,
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
export { CONTAINER_LISTS, POD_SPEC_KINDS, containersOf, forEachContainer, forEachImageVolume, podSpecPathOf, type ContainerRef, type ContainerList } from './kube/pod-spec.js';
export { PolicyEngine, type MutatingOptions, type PolicyOutcome, type ReviewOutcome } from './engine/engine.js';
export type { Verdict } from './admission/response.js';
export type { TollgateConfig, PolicyEntry, MatchSpec } from './config/schema.js';

// The authoring kit: build the requests the apiserver sends, run a module through the real loader
// and engine, and run fixture suites (what `tollgate test` does).
export { createRequest, reviewFor, groupVersionKindOf, CI_USER, type RequestOptions } from './manifests/request.js';
export { loadTestPolicy, runPolicy, type TestPolicy, type TestPolicyOptions } from './testing/policy.js';
export { admitRequest, applyAdmissionPatch, type AdmissionResult, type PolicyViolation } from './manifests/admit.js';
export {
  SUITE_FILE,
  findFixtureSuites,
  loadFixtureSuite,
  runFixtureCase,
  runFixtureSuite,
  type CaseResult,
  type Expectation,
  type FixtureCase,
  type FixtureSuite,
  type SuiteResult,
} from './testing/fixtures.js';
// Offline checks of manifests (what `tollgate check` does).
export { parseManifests, readManifests, type ManifestDocument } from './manifests/read.js';
export { checkManifests, checkReportToJSON, type CheckReport, type CheckReportJSON, type CheckResult } from './manifests/check.js';
