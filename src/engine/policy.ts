// The policy-author API: what a policy module is, what it receives and what it answers.
// A module is a plain object, so it can be written in plain JavaScript with no import at all;
// `definePolicy` only gives TypeScript authors the types.
import type { AdmissionRequest, JsonPatchOperation, KubernetesObject } from '../admission/types.js';

export type PolicyKind = 'validating' | 'mutating';

/** One thing wrong with the object, with the field it is about when there is one. */
export interface Violation {
  /** What is wrong, for a person: `image "evil.io/x" is not from an allowed registry`. */
  message: string;
  /** Where: a field path such as `spec.initContainers[0].image`. */
  path?: string;
}

/** What `validate` answers. Returning nothing means allowed. */
export interface ValidationResult {
  allowed: boolean;
  /** Why it is denied, when it is; used when `violations` is absent. */
  message?: string;
  /** Every separate reason for a denial, each with its field path. */
  violations?: Violation[];
  /** Shown to the client (kubectl prints them) whether allowed or not. */
  warnings?: string[];
}

/** What `mutate` may answer; it edits `request.object` in place, on a private copy. */
export interface MutationResult {
  warnings?: string[];
}

/** What `patch` answers: RFC 6902 operations against `request.object` as given. Returning nothing, or no operations, changes nothing. */
export interface PatchResult {
  /** Applied in order; keys in paths escaped as JSON Pointer requires (`/` as `~1`, `~` as `~0`). */
  patch?: JsonPatchOperation[];
  warnings?: string[];
}

/** The minimal structured logger a policy receives (a pino child logger in practice). */
export interface PolicyLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** Given to `create` once, at start. */
export interface PolicyContext {
  /** The policy's name in the config (the module's own name unless renamed). */
  name: string;
  logger: PolicyLogger;
}

type MaybePromise<T> = T | Promise<T>;

export interface ValidatingPolicy<T extends KubernetesObject = KubernetesObject> {
  /**
   * Judges one request. Treat `request` as read-only. Called for every request the policy's
   * `match` lets through, including DELETE and CONNECT, where `request.object` may be null.
   */
  validate(request: AdmissionRequest<T>): MaybePromise<ValidationResult | void>;
}

/**
 * A mutating policy has exactly one of `mutate` and `patch`. Either must be idempotent (running it
 * again on its own output changes nothing) and have no side effects (`request.dryRun` may be true).
 */
export type MutatingPolicy<T extends KubernetesObject = KubernetesObject> = EditingPolicy<T> | PatchingPolicy<T>;

export interface EditingPolicy<T extends KubernetesObject = KubernetesObject> {
  /**
   * Changes `request.object` in place (it is a private copy) or assigns a new object to it. The
   * engine turns the result into a JSONPatch. The way to write most policies.
   */
  mutate(request: AdmissionRequest<T>): MaybePromise<MutationResult | void>;
  patch?: never;
}

export interface PatchingPolicy<T extends KubernetesObject = KubernetesObject> {
  /**
   * Answers the operations that change `request.object`, which is the object itself, not a copy:
   * treat it as read-only. No copy is made and no diff is taken, so a policy that writes a small,
   * well-known change (an annotation, a label) costs next to nothing. The engine applies the
   * operations (to copies of what they touch) before the next policy runs; a patch that does not
   * apply (a `test` that fails, a path into a member that is not there) is the policy's failure.
   */
  patch(request: AdmissionRequest<T>): MaybePromise<PatchResult | void>;
  mutate?: never;
}

interface PolicyModuleBase {
  /** Default name of the policy in the config and in messages: lowercase, digits and `-`. */
  name: string;
  /** One line on what the policy judges or changes. */
  description?: string;
  /** JSON Schema of the module's `config`, validated once at start (defaults are filled in). */
  configSchema?: Record<string, unknown>;
}

export interface ValidatingPolicyModule<C = unknown> extends PolicyModuleBase {
  kind: 'validating';
  /** Called once at start with the validated, frozen config. May be async. */
  create(config: C, context: PolicyContext): MaybePromise<ValidatingPolicy>;
}

export interface MutatingPolicyModule<C = unknown> extends PolicyModuleBase {
  kind: 'mutating';
  /** Called once at start with the validated, frozen config. May be async. */
  create(config: C, context: PolicyContext): MaybePromise<MutatingPolicy>;
}

/** A policy module: the default export of an ES module. */
export type PolicyModule<C = unknown> = ValidatingPolicyModule<C> | MutatingPolicyModule<C>;

/**
 * The typed identity helper for policy modules written in TypeScript:
 * `export default definePolicy<MyConfig>({ name, kind: 'validating', create(config) { ... } })`.
 */
export function definePolicy<C = unknown>(module: ValidatingPolicyModule<C>): ValidatingPolicyModule<C>;
export function definePolicy<C = unknown>(module: MutatingPolicyModule<C>): MutatingPolicyModule<C>;
export function definePolicy<C = unknown>(module: PolicyModule<C>): PolicyModule<C> {
  return module;
}

/**
 * Thrown by `create` when the config passed its schema but is still wrong (an entry that does not
 * parse, say). The start is refused with the config path of the bad field:
 * `throw new PolicyConfigError('registries[2]', 'is not a registry host')`. Plain-JS modules can
 * throw any Error whose `name` is `PolicyConfigError` and that has a `path`.
 */
export class PolicyConfigError extends Error {
  readonly path: string;
  constructor(path: string, message: string) {
    super(message);
    this.name = 'PolicyConfigError';
    this.path = path;
  }
}
